/* Loading a PKCS#11 module and choosing its token ([p11] p11_load.c).
 * dlopen -> C_GetFunctionList -> version check -> C_Initialize(CKF_OS_LOCKING_OK).
 * Token selection: a plain label, or an RFC 7512 URI ("pkcs11:token=...;serial=...").
 * Everything the module returns (slot counts, info fields) is untrusted. */
#include <dlfcn.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "board/hex.h"
#include "board/log.h"
#include "hsm/hsm_int.h"

cf_err p11_module_load(const char *path, void **dl, CK_FUNCTION_LIST **f)
{
	*dl = NULL;
	*f = NULL;
	if (path == NULL || path[0] == '\0')
		return CF_E_INVALID_ARG;
	void *d = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (d == NULL) {
		log_err("dlopen %s failed: %s", path, dlerror());
		return CF_E_HSM_LOAD;
	}
	CK_C_GetFunctionList gfl;
	*(void **)&gfl = dlsym(d, "C_GetFunctionList");
	CK_FUNCTION_LIST *fl = NULL;
	if (gfl == NULL || gfl(&fl) != CKR_OK || fl == NULL) {
		log_err("%s: no usable C_GetFunctionList", path);
		dlclose(d);
		return CF_E_HSM_LOAD;
	}
	/* we use the 2.x function list layout: major 2 (or 3, whose list starts the same) */
	if (fl->version.major != 2 && fl->version.major != 3) {
		log_err("%s: function list version %u.%u unsupported", path, fl->version.major,
			fl->version.minor);
		dlclose(d);
		return CF_E_HSM_LOAD;
	}
	/* a module that leaves any function we call NULL is refused up front */
	if (fl->C_Initialize == NULL || fl->C_Finalize == NULL || fl->C_GetSlotList == NULL ||
	    fl->C_GetTokenInfo == NULL || fl->C_OpenSession == NULL || fl->C_CloseSession == NULL ||
	    fl->C_Login == NULL || fl->C_Logout == NULL || fl->C_GetSessionInfo == NULL ||
	    fl->C_FindObjectsInit == NULL || fl->C_FindObjects == NULL ||
	    fl->C_FindObjectsFinal == NULL || fl->C_GetAttributeValue == NULL ||
	    fl->C_GenerateKey == NULL || fl->C_GenerateKeyPair == NULL ||
	    fl->C_DestroyObject == NULL || fl->C_CreateObject == NULL ||
	    fl->C_EncryptInit == NULL || fl->C_Encrypt == NULL || fl->C_DecryptInit == NULL ||
	    fl->C_Decrypt == NULL || fl->C_DigestInit == NULL || fl->C_Digest == NULL ||
	    fl->C_SignInit == NULL || fl->C_Sign == NULL || fl->C_VerifyInit == NULL ||
	    fl->C_Verify == NULL || fl->C_GenerateRandom == NULL || fl->C_InitToken == NULL ||
	    fl->C_InitPIN == NULL || fl->C_WrapKey == NULL) {
		log_err("%s: function list incomplete", path);
		dlclose(d);
		return CF_E_HSM_LOAD;
	}
	*dl = d;
	*f = fl;
	return CF_OK;
}

void p11_module_unload(void *dl)
{
	if (dl != NULL)
		dlclose(dl);
}

CK_RV p11_module_initialize(CK_FUNCTION_LIST *f)
{
	CK_C_INITIALIZE_ARGS ia;
	memset(&ia, 0, sizeof ia);
	ia.flags = CKF_OS_LOCKING_OK;
	CK_RV rv = f->C_Initialize(&ia);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
		rv = CKR_OK;
	return rv;
}

void p11_field_trim(const unsigned char *fld, size_t n, char *out, size_t cap)
{
	size_t len = n;
	while (len > 0 && (fld[len - 1] == ' ' || fld[len - 1] == '\0'))
		len--;
	if (cap == 0)
		return;
	if (len > cap - 1)
		len = cap - 1;
	for (size_t i = 0; i < len; i++)
		out[i] = (fld[i] >= 0x20 && fld[i] < 0x7f) || fld[i] >= 0x80 ? (char)fld[i] : '?';
	out[len] = '\0';
}

/* percent-decode p[n] into out[cap] (NUL-terminated); no NUL bytes allowed */
static cf_err pct_decode(const char *p, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];
		if (c == '%') {
			if (n - i < 3)
				return CF_E_CONFIG;
			int hi = hex_digit((unsigned char)p[i + 1]);
			int lo = hex_digit((unsigned char)p[i + 2]);
			if (hi < 0 || lo < 0)
				return CF_E_CONFIG;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0)
			return CF_E_CONFIG;
		if (cap - o < 2)
			return CF_E_CONFIG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return CF_OK;
}

cf_err p11_tok_sel_parse(const char *s, struct hsm_tok_sel *sel)
{
	memset(sel, 0, sizeof *sel);
	if (s == NULL || s[0] == '\0')
		return CF_E_INVALID_ARG;
	if (strncmp(s, "pkcs11:", 7) != 0) {
		if (strlen(s) > 32)
			return CF_E_CONFIG;
		strcpy(sel->token, s);
		sel->has_token = true;
		return CF_OK;
	}
	const char *p = s + 7;
	const char *end = strchr(p, '?'); /* query attributes (pin-source, module-path): ignored */
	if (end == NULL)
		end = p + strlen(p);
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *aend = semi ? semi : end;
		const char *eq = memchr(p, '=', (size_t)(aend - p));
		if (eq == NULL)
			return CF_E_CONFIG;
		size_t kn = (size_t)(eq - p), vn = (size_t)(aend - eq - 1);
		const char *v = eq + 1;
		cf_err rc = CF_OK;
#define KEY(k) (kn == sizeof(k) - 1 && memcmp(p, k, kn) == 0)
		if (KEY("token")) {
			rc = pct_decode(v, vn, sel->token, sizeof sel->token);
			sel->has_token = true;
		} else if (KEY("manufacturer")) {
			rc = pct_decode(v, vn, sel->manufacturer, sizeof sel->manufacturer);
			sel->has_manufacturer = true;
		} else if (KEY("serial")) {
			rc = pct_decode(v, vn, sel->serial, sizeof sel->serial);
			sel->has_serial = true;
		} else if (KEY("model")) {
			rc = pct_decode(v, vn, sel->model, sizeof sel->model);
			sel->has_model = true;
		} else if (KEY("slot-id")) {
			char num[24];
			rc = pct_decode(v, vn, num, sizeof num);
			if (rc == CF_OK) {
				char *e = NULL;
				unsigned long long id = strtoull(num, &e, 10);
				if (num[0] == '\0' || *e != '\0')
					rc = CF_E_CONFIG;
				sel->slot_id = (CK_SLOT_ID)id;
				sel->has_slot_id = true;
			}
		} else if (KEY("object") || KEY("id") || KEY("type") || KEY("library-manufacturer") ||
			   KEY("library-description") || KEY("library-version") ||
			   KEY("slot-description") || KEY("slot-manufacturer")) {
			/* object attributes name an object, not a token; library/slot text ignored */
		} else {
			/* RFC 7512 3.3: an unknown path attribute makes the URI match nothing */
			log_err("pkcs11 URI: unsupported attribute");
			return CF_E_CONFIG;
		}
#undef KEY
		if (rc != CF_OK)
			return rc;
		p = semi ? semi + 1 : end;
	}
	if (!sel->has_token && !sel->has_serial && !sel->has_slot_id && !sel->has_model &&
	    !sel->has_manufacturer)
		return CF_E_CONFIG;
	return CF_OK;
}

#define SLOT_MAX 256u

cf_err p11_slot_find(struct hsm_exec *x, const struct hsm_tok_sel *sel, CK_SLOT_ID *slot,
		     char label[33])
{
	CK_FUNCTION_LIST *f = x->h->f;
	CK_SLOT_ID slots[SLOT_MAX];
	CK_ULONG n = 0;
	CK_RV rv = f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (n > SLOT_MAX)
		return CF_E_HSM_OUTPUT;
	CK_ULONG cap = SLOT_MAX;
	rv = f->C_GetSlotList(CK_TRUE, slots, &cap);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (cap > SLOT_MAX) /* untrusted count */
		return CF_E_HSM_OUTPUT;
	CK_RV fault_rv = CKR_OK; /* a slot we could not look into because of a fault */
	for (CK_ULONG i = 0; i < cap; i++) {
		CK_TOKEN_INFO ti;
		memset(&ti, 0, sizeof ti);
		if (sel->has_slot_id && slots[i] != sel->slot_id)
			continue;
		rv = f->C_GetTokenInfo(slots[i], &ti);
		if (rv != CKR_OK) {
			if (p11_rv_fault(rv) == HSM_FAULT_MODULE && rv == CKR_CRYPTOKI_NOT_INITIALIZED)
				return p11_fail(x, rv);
			if (p11_rv_fault(rv) != HSM_FAULT_NONE && fault_rv == CKR_OK)
				fault_rv = rv;
			continue;
		}
		if (!(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		char lab[33], man[33], ser[17], mod[17];
		p11_field_trim(ti.label, sizeof ti.label, lab, sizeof lab);
		p11_field_trim(ti.manufacturerID, sizeof ti.manufacturerID, man, sizeof man);
		p11_field_trim(ti.serialNumber, sizeof ti.serialNumber, ser, sizeof ser);
		p11_field_trim(ti.model, sizeof ti.model, mod, sizeof mod);
		if (sel->has_token && strcmp(lab, sel->token) != 0)
			continue;
		if (sel->has_manufacturer && strcmp(man, sel->manufacturer) != 0)
			continue;
		if (sel->has_serial && strcmp(ser, sel->serial) != 0)
			continue;
		if (sel->has_model && strcmp(mod, sel->model) != 0)
			continue;
		*slot = slots[i];
		if (label != NULL)
			memcpy(label, lab, sizeof lab);
		return CF_OK;
	}
	/* not found, but a slot failed with a fault: that is the answer (the token may be the one
	 * behind it), not "no such token", so that recovery treats it as a fault */
	if (fault_rv != CKR_OK)
		return p11_fail(x, fault_rv);
	return CF_E_HSM_NO_TOKEN;
}

cf_err p11_uri_pct(const uint8_t *p, size_t n, bool all, char *out, size_t cap, size_t *off)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		bool plain = !all && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				      (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
				      c == '~');
		size_t need = plain ? 1 : 3;
		if (cap - *off <= need)
			return CF_E_NO_SPACE;
		if (plain) {
			out[(*off)++] = (char)c;
		} else {
			out[(*off)++] = '%';
			TRY(hex_encode(&c, 1, HEX_UPPER, out + *off, cap - *off));
			*off += 2;
		}
	}
	out[*off] = '\0';
	return CF_OK;
}
