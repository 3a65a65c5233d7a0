/* Object search and attribute reads, with every module-returned length and count checked
 * (HSM output is untrusted input; OpenSC GHSA-c758-vvqj-x96q). */
#include <string.h>

#include "board/log.h"
#include "hsm/hsm_int.h"

#define OBJS_CAP (sizeof(((struct hsm_io *)0)->objs) / sizeof(CK_OBJECT_HANDLE))

cf_err p11_find(struct hsm_exec *x, CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	CK_FUNCTION_LIST *f = x->h->f;
	struct hsm_io *io = x->io;
	io->objs_n = 0;
	CK_RV rv = f->C_FindObjectsInit(x->sh, tmpl, n);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	cf_err rc = CF_OK;
	for (;;) {
		CK_OBJECT_HANDLE batch[16];
		CK_ULONG got = 0;
		rv = f->C_FindObjects(x->sh, batch, 16, &got);
		if (rv != CKR_OK) {
			rc = p11_fail(x, rv);
			break;
		}
		if (got > 16) { /* untrusted count */
			rc = CF_E_HSM_OUTPUT;
			break;
		}
		if (got == 0)
			break;
		if (got > OBJS_CAP - io->objs_n) {
			rc = CF_E_TOO_MANY;
			break;
		}
		memcpy(&io->objs[io->objs_n], batch, got * sizeof batch[0]);
		io->objs_n += got;
	}
	rv = f->C_FindObjectsFinal(x->sh);
	if (rc == CF_OK && rv != CKR_OK)
		rc = p11_fail(x, rv);
	return rc;
}

cf_err p11_get_bool(struct hsm_exec *x, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, bool *v)
{
	CK_BBOOL b = CK_FALSE;
	CK_ATTRIBUTE a = { t, &b, sizeof b };
	*v = false;
	CK_RV rv = x->h->f->C_GetAttributeValue(x->sh, o, &a, 1);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (a.ulValueLen != sizeof b || (b != CK_TRUE && b != CK_FALSE))
		return CF_E_HSM_OUTPUT;
	*v = b == CK_TRUE;
	return CF_OK;
}

cf_err p11_get_ulong(struct hsm_exec *x, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, CK_ULONG *v)
{
	CK_ULONG u = 0;
	CK_ATTRIBUTE a = { t, &u, sizeof u };
	*v = 0;
	CK_RV rv = x->h->f->C_GetAttributeValue(x->sh, o, &a, 1);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (a.ulValueLen != sizeof u)
		return CF_E_HSM_OUTPUT;
	*v = u;
	return CF_OK;
}

cf_err p11_get_bytes(struct hsm_exec *x, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, uint8_t *buf,
		     size_t cap, size_t *n)
{
	*n = 0;
	CK_ATTRIBUTE a = { t, NULL, 0 };
	CK_RV rv = x->h->f->C_GetAttributeValue(x->sh, o, &a, 1);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > cap)
		return CF_E_HSM_OUTPUT;
	CK_ULONG want = a.ulValueLen;
	a.pValue = buf;
	rv = x->h->f->C_GetAttributeValue(x->sh, o, &a, 1);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (a.ulValueLen > want) /* the second answer must not grow */
		return CF_E_HSM_OUTPUT;
	*n = a.ulValueLen;
	return CF_OK;
}

/* Policy reads: a missing or sensitive attribute means "not a KEK of ours" (the object fails
 * the policy: CF_E_HSM_POLICY); any other failure (a fault, a lying length) is passed on, so
 * that the KEK scan reports it instead of quietly dropping a KEK it could not read. */
static cf_err pol_read(struct hsm_exec *x, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, void *v,
		       CK_ULONG n)
{
	CK_ATTRIBUTE a = { t, v, n };
	CK_RV rv = x->h->f->C_GetAttributeValue(x->sh, o, &a, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE)
		return CF_E_HSM_POLICY;
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	return a.ulValueLen == n ? CF_OK : CF_E_HSM_OUTPUT; /* untrusted length */
}

static cf_err pol_ulong(struct hsm_exec *x, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, CK_ULONG *v)
{
	*v = 0;
	return pol_read(x, o, t, v, sizeof *v);
}

static cf_err pol_bool(struct hsm_exec *x, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, bool *v)
{
	CK_BBOOL b = CK_FALSE;
	*v = false;
	TRY(pol_read(x, o, t, &b, sizeof b));
	if (b != CK_TRUE && b != CK_FALSE)
		return CF_E_HSM_OUTPUT;
	*v = b == CK_TRUE;
	return CF_OK;
}

cf_err p11_kek_policy_check(struct hsm_exec *x, CK_OBJECT_HANDLE o, bool backup)
{
	bool sens, ext, priv, tok, asens, nex, wwt = false, wrap, unwrap;
	CK_ULONG len, kt, cls;
	TRY(pol_ulong(x, o, CKA_CLASS, &cls));
	TRY(pol_ulong(x, o, CKA_KEY_TYPE, &kt));
	TRY(pol_ulong(x, o, CKA_VALUE_LEN, &len));
	TRY(pol_bool(x, o, CKA_SENSITIVE, &sens));
	TRY(pol_bool(x, o, CKA_EXTRACTABLE, &ext));
	TRY(pol_bool(x, o, CKA_PRIVATE, &priv));
	TRY(pol_bool(x, o, CKA_TOKEN, &tok));
	TRY(pol_bool(x, o, CKA_ALWAYS_SENSITIVE, &asens));
	TRY(pol_bool(x, o, CKA_NEVER_EXTRACTABLE, &nex));
	TRY(pol_bool(x, o, CKA_WRAP, &wrap));
	TRY(pol_bool(x, o, CKA_UNWRAP, &unwrap));
	if (ext)
		TRY(pol_bool(x, o, CKA_WRAP_WITH_TRUSTED, &wwt));
	bool ok = cls == CKO_SECRET_KEY && kt == CKK_AES && len == 32 && sens && asens && priv &&
		  tok && !wrap && !unwrap;
	if (ext)
		ok = ok && backup && wwt; /* extractable only under a trusted key, only if allowed */
	else
		ok = ok && nex;
	if (!ok) {
		log_err("hsm: a KEK violates the key policy (sensitive/extractable/private/token)");
		return CF_E_HSM_POLICY;
	}
	return CF_OK;
}
