/* The KEK table: hsm_kek_scan finds the token's KEKs ("coffre-kek-<version>", see kek.c)
 * that pass the key policy and publishes them in h->keks; hsm_kek_handle looks one up. The
 * scan is a step inside a job on an executor: it is run by the login / re-init path
 * (recover.c) and by the KEK jobs of kek.c and backup.c, and calls nothing above the object
 * helpers (p11_object.c). */
#include <stdlib.h>
#include <string.h>

#include "board/log.h"
#include "hsm/hsm_int.h"

#define KEK_PREFIX_N (sizeof(HSM_KEK_LABEL_PREFIX) - 1)

static MUST_USE cf_err kek_policy(struct hsm_exec *x, CK_OBJECT_HANDLE o, bool backup);

/* "coffre-kek-<n>": n decimal, 1..UINT32_MAX, no leading zero */
static bool kek_label_parse(const uint8_t *p, size_t n, uint32_t *v)
{
	if (n <= KEK_PREFIX_N || n > KEK_PREFIX_N + 10 ||
	    memcmp(p, HSM_KEK_LABEL_PREFIX, KEK_PREFIX_N) != 0)
		return false;
	uint64_t acc = 0;
	if (p[KEK_PREFIX_N] == '0')
		return false;
	for (size_t i = KEK_PREFIX_N; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		acc = acc * 10u + (uint64_t)(p[i] - '0');
	}
	if (acc == 0 || acc > UINT32_MAX)
		return false;
	*v = (uint32_t)acc;
	return true;
}

static int kek_cmp(const void *a, const void *b)
{
	const struct hsm_kek *x = a, *y = b;
	return x->version < y->version ? -1 : x->version > y->version;
}

/* An object's label into lab[cap] (two-call convention). *ours = false when the object
 * cannot be one of our KEKs: no readable label, or a label longer than cap (the module says
 * CKR_BUFFER_TOO_SMALL when asked for cap bytes). A size answer that the second call
 * contradicts is a lie: CF_E_HSM_OUTPUT, never "not ours" (that would drop a KEK). */
static cf_err kek_label_read(struct hsm_exec *x, CK_OBJECT_HANDLE o, uint8_t *lab, size_t cap,
			     size_t *n, bool *ours)
{
	CK_FUNCTION_LIST *f = x->h->f;
	*n = 0;
	*ours = false;
	CK_ATTRIBUTE a = { CKA_LABEL, NULL, 0 };
	CK_RV rv = f->C_GetAttributeValue(x->sh, o, &a, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE)
		return CF_OK;
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return CF_E_HSM_OUTPUT;
	if (a.ulValueLen > cap) {
		/* too long to be ours, or a lying size: ask for cap bytes to tell which */
		a = (CK_ATTRIBUTE){ CKA_LABEL, lab, (CK_ULONG)cap };
		rv = f->C_GetAttributeValue(x->sh, o, &a, 1);
		if (rv == CKR_BUFFER_TOO_SMALL)
			return CF_OK;
		return rv != CKR_OK ? p11_fail(x, rv) : CF_E_HSM_OUTPUT;
	}
	CK_ULONG want = a.ulValueLen;
	a = (CK_ATTRIBUTE){ CKA_LABEL, lab, want };
	rv = f->C_GetAttributeValue(x->sh, o, &a, 1);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (a.ulValueLen > want) /* the second answer must not grow */
		return CF_E_HSM_OUTPUT;
	*n = a.ulValueLen;
	*ours = true;
	return CF_OK;
}

/* The scan is all or nothing. Only a COMPLETE scan is published: an object is left out only
 * when it is not a KEK of ours (label, or the policy says so: CF_E_HSM_POLICY); any other
 * failure while reading it (a fault, a lying length, a timeout) fails the scan and leaves the
 * table and the current KEK as they were, so a transient fault never makes the layer forget a
 * KEK that exists (the caller's retry / the next recovery scans again). The current KEK is
 * dropped only when a complete scan, on a session that is still logged in (private objects
 * are invisible otherwise), does not find it. */
cf_err hsm_kek_scan(struct hsm_exec *x)
{
	struct hsm *h = x->h;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &t, sizeof t },
	};
	TRY(p11_find(x, tmpl, 3));
	struct hsm_kek found[HSM_KEK_MAX];
	memset(found, 0, sizeof found);
	size_t nf = 0;
	for (size_t i = 0; i < x->io->objs_n; i++) {
		uint8_t lab[64];
		size_t ln = 0;
		uint32_t v = 0;
		bool ours = false;
		CK_OBJECT_HANDLE o = x->io->objs[i];
		TRY(kek_label_read(x, o, lab, sizeof lab, &ln, &ours));
		if (!ours || !kek_label_parse(lab, ln, &v))
			continue;
		cf_err prc = kek_policy(x, o, h->cfg.backup_enabled);
		if (prc == CF_E_HSM_POLICY)
			continue; /* logged; never used */
		if (prc != CF_OK) {
			log_warn_r(prc, "hsm: KEK scan incomplete (%s); KEK table kept",
				   p11_rv_name(x->last_rv));
			return prc;
		}
		bool dup = false;
		for (size_t j = 0; j < nf; j++) {
			if (found[j].version == v) {
				/* two keys claim one version: ambiguous, use neither */
				log_err("hsm: two KEK objects claim version %u; refusing it", v);
				found[j] = found[--nf];
				dup = true;
				break;
			}
		}
		if (dup)
			continue;
		if (nf == HSM_KEK_MAX)
			return CF_E_TOO_MANY;
		found[nf].version = v;
		found[nf].handle = o;
		nf++;
	}
	qsort(found, nf, sizeof found[0], kek_cmp);
	pthread_mutex_lock(&h->lock);
	uint32_t cur = h->kek_current;
	pthread_mutex_unlock(&h->lock);
	bool cur_ok = cur == 0;
	for (size_t j = 0; j < nf; j++)
		if (found[j].version == cur)
			cur_ok = true;
	if (!cur_ok) {
		/* before forgetting the current KEK: was the session able to see it at all? */
		CK_SESSION_INFO si;
		memset(&si, 0, sizeof si);
		CK_RV rv = h->f->C_GetSessionInfo(x->sh, &si);
		if (rv != CKR_OK)
			return p11_fail(x, rv);
		if (si.state != CKS_RW_USER_FUNCTIONS && si.state != CKS_RO_USER_FUNCTIONS)
			return p11_fail(x, CKR_USER_NOT_LOGGED_IN);
	}
	pthread_mutex_lock(&h->lock);
	memcpy(h->keks, found, nf * sizeof found[0]);
	h->kek_n = (unsigned)nf;
	cur_ok = h->kek_current == 0;
	for (size_t j = 0; j < nf; j++)
		if (found[j].version == h->kek_current)
			cur_ok = true;
	if (!cur_ok && h->kek_current == cur) { /* only the one the login check was made for */
		log_err("hsm: current KEK %u is gone from the token", h->kek_current);
		h->kek_current = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return CF_OK;
}

CK_OBJECT_HANDLE hsm_kek_handle(struct hsm *h, uint32_t v)
{
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < h->kek_n; i++)
		if (h->keks[i].version == v)
			o = h->keks[i].handle;
	pthread_mutex_unlock(&h->lock);
	return o;
}

/* A KEK restored from a backup (hsm/backup.c) was created by C_UnwrapKey: the module then
 * reports CKA_LOCAL, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE false (it was outside this
 * HSM once, inside the backup ceremony's wrapping), and SoftHSMv2 2.6 leaves CKA_VALUE_LEN at
 * 0 (and refuses it in the unwrap template). Such a key is accepted when everything else of
 * the policy holds; a key generated here must pass the full check. */
static cf_err kek_policy(struct hsm_exec *x, CK_OBJECT_HANDLE o, bool backup)
{
	CK_BBOOL asens = CK_TRUE, local = CK_TRUE;
	CK_ATTRIBUTE a[] = { { CKA_ALWAYS_SENSITIVE, &asens, 1 }, { CKA_LOCAL, &local, 1 } };
	CK_RV rv = x->h->f->C_GetAttributeValue(x->sh, o, a, 2);
	if (rv != CKR_OK || a[0].ulValueLen != 1 || a[1].ulValueLen != 1 || asens == CK_TRUE ||
	    local == CK_TRUE)
		return p11_kek_policy_check(x, o, backup); /* generated here: the full policy */
	bool sens, ext, priv, tok, wrap, unwrap, enc, dec, wwt = false;
	CK_ULONG len = 0, kt = 0, cls = 0;
	TRY(p11_get_ulong(x, o, CKA_CLASS, &cls));
	TRY(p11_get_ulong(x, o, CKA_KEY_TYPE, &kt));
	TRY(p11_get_ulong(x, o, CKA_VALUE_LEN, &len));
	TRY(p11_get_bool(x, o, CKA_SENSITIVE, &sens));
	TRY(p11_get_bool(x, o, CKA_EXTRACTABLE, &ext));
	TRY(p11_get_bool(x, o, CKA_PRIVATE, &priv));
	TRY(p11_get_bool(x, o, CKA_TOKEN, &tok));
	TRY(p11_get_bool(x, o, CKA_WRAP, &wrap));
	TRY(p11_get_bool(x, o, CKA_UNWRAP, &unwrap));
	TRY(p11_get_bool(x, o, CKA_ENCRYPT, &enc));
	TRY(p11_get_bool(x, o, CKA_DECRYPT, &dec));
	if (ext)
		TRY(p11_get_bool(x, o, CKA_WRAP_WITH_TRUSTED, &wwt));
	bool ok = cls == CKO_SECRET_KEY && kt == CKK_AES && (len == 32 || len == 0) && sens &&
		  priv && tok && !wrap && !unwrap && enc && dec && (!ext || (backup && wwt));
	if (!ok) {
		log_err("hsm: a restored KEK violates the key policy");
		return CF_E_HSM_POLICY;
	}
	return CF_OK;
}

