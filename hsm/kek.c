/* KEKs: AES-256 token keys labelled "coffre-kek-<version>" (ARCHITECTURE "Terms").
 * Created CKA_SENSITIVE, not extractable (or, with backups enabled, extractable only under a
 * CKA_TRUSTED wrapping key: CKA_WRAP_WITH_TRUSTED), CKA_PRIVATE, usable only for
 * encrypt/decrypt (the GCM blob wrap, see wrap.c); never CKA_WRAP/CKA_UNWRAP, so the KEK
 * cannot be used to export other keys. The attributes are read back after creation and a key
 * that violates the policy is destroyed. Found again by label after every re-init. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board/log.h"
#include "hsm/hsm_int.h"

#define KEK_PREFIX_N (sizeof(HSM_KEK_LABEL_PREFIX) - 1)

static cf_err kek_policy(struct hsm_exec *x, CK_OBJECT_HANDLE o, bool backup);

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

static cf_err job_scan(struct hsm_exec *x)
{
	return hsm_kek_scan(x);
}

/* the KEK template: the one place its attributes are decided */
static CK_ULONG kek_template(CK_ATTRIBUTE *a, CK_ULONG cap, bool backup, const char *label,
			     const uint8_t id[4])
{
	static const CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	static const CK_KEY_TYPE kt = CKK_AES;
	static const CK_ULONG len = 32;
	static const CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
	CK_ULONG n = 0;
#define A(typ, ptr, sz) do { if (n < cap) a[n++] = (CK_ATTRIBUTE){ typ, (void *)(ptr), sz }; } while (0)
	A(CKA_CLASS, &cls, sizeof cls);
	A(CKA_KEY_TYPE, &kt, sizeof kt);
	A(CKA_VALUE_LEN, &len, sizeof len);
	A(CKA_TOKEN, &t, 1);
	A(CKA_PRIVATE, &t, 1);
	A(CKA_SENSITIVE, &t, 1);
	A(CKA_EXTRACTABLE, backup ? &t : &fl, 1);
	if (backup)
		A(CKA_WRAP_WITH_TRUSTED, &t, 1);
	A(CKA_ENCRYPT, &t, 1);
	A(CKA_DECRYPT, &t, 1);
	A(CKA_WRAP, &fl, 1);
	A(CKA_UNWRAP, &fl, 1);
	A(CKA_SIGN, &fl, 1);
	A(CKA_VERIFY, &fl, 1);
	A(CKA_DERIVE, &fl, 1);
	A(CKA_LABEL, label, strlen(label));
	A(CKA_ID, id, 4);
#undef A
	return n;
}

/* the secret keys labelled "coffre-kek-<v>", whatever their policy: into io->objs */
static cf_err kek_find_label(struct hsm_exec *x, uint32_t v)
{
	char label[HSM_LABEL_MAX + 1];
	snprintf(label, sizeof label, HSM_KEK_LABEL_PREFIX "%u", v);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_LABEL, label, strlen(label) },
	};
	return p11_find(x, tmpl, 2);
}

/* Create KEK max+1. Not idempotent, so:
 *  - creators are serialised by h->kek_lock (hsm_kek_create), and the version is re-checked
 *    by label on the token just before C_GenerateKey: a key with that label that failed the
 *    policy (so is not in h->keks) or that another client made meanwhile is never shadowed;
 *  - io->step = 1 is set before C_GenerateKey (a module may create the object and still
 *    report a device error); on the retry after a recovered fault we look for that label first
 *    and adopt the key the first attempt made instead of creating a second version. */
static cf_err job_kek_create(struct hsm_exec *x)
{
	struct hsm *h = x->h;
	struct hsm_io *io = x->io;
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	uint32_t v = 1;
	cf_err rc = CF_E_INTERNAL;
	if (io->attempt > 0 && io->step >= 1) {
		v = (uint32_t)io->ul[1];
		TRY(kek_find_label(x, v));
		if (io->objs_n > 1)
			return CF_E_EXISTS; /* ambiguous: hsm_kek_scan refuses this version anyway */
		if (io->objs_n == 1) {
			o = io->objs[0];
			log_warn("hsm: KEK %u was created before the fault; adopting it", v);
			goto check;
		}
		/* not there: the first attempt never created it; start over */
	}
	io->step = 0;
	TRY(hsm_kek_scan(x));
	pthread_mutex_lock(&h->lock);
	if (h->kek_n > 0)
		v = h->keks[h->kek_n - 1].version + 1u;
	pthread_mutex_unlock(&h->lock);
	for (unsigned tries = 0;; tries++) {
		if (v == 0 || v > HSM_KEK_MAX * 1000000u || tries == HSM_KEK_MAX)
			return CF_E_TOO_MANY;
		TRY(kek_find_label(x, v));
		if (io->objs_n == 0)
			break;
		log_warn("hsm: label %s%u already taken on the token; skipping it",
			 HSM_KEK_LABEL_PREFIX, v);
		v++;
	}
	char label[HSM_LABEL_MAX + 1];
	snprintf(label, sizeof label, HSM_KEK_LABEL_PREFIX "%u", v);
	uint8_t id[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	CK_ATTRIBUTE tmpl[20];
	CK_ULONG tn = kek_template(tmpl, 20, h->cfg.backup_enabled, label, id);
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
	io->ul[1] = v;
	io->step = 1;
	CK_RV rv = h->f->C_GenerateKey(x->sh, &m, tmpl, tn, &o);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	io->step = 2;
	if (hsm_test_fault_take(h, HSM_TF_KEK_AFTER_CREATE))
		(void)h->f->C_CloseSession(x->sh); /* the session dies right after the create */
check:
	rc = p11_kek_policy_check(x, o, h->cfg.backup_enabled);
	if (rc != CF_OK) {
		/* ours, and it violates the policy; after a fault or a lying length nothing is
		 * known about it: leave it (a retry adopts it, a scan checks it again) */
		if (rc == CF_E_HSM_POLICY)
			(void)h->f->C_DestroyObject(x->sh, o);
		return rc;
	}
	io->ul[0] = v;
	return hsm_kek_scan(x);
}

cf_err hsm_kek_create(hsm_sess *s, uint32_t *version)
{
	cf_err rc = CF_E_INTERNAL;
	if (s == NULL || version == NULL)
		return CF_E_INVALID_ARG;
	*version = 0;
	struct hsm *h = s->h;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(h));
	if (pthread_mutex_clocklock(&h->kek_lock, CLOCK_MONOTONIC, &dl) != 0)
		return CF_E_HSM_TIMEOUT;
	if ((rc = hsm_sess_run(s, job_kek_create, &dl)) != CF_OK)
		goto out;
	uint32_t v = (uint32_t)s->x->io->ul[0];
	if (hsm_kek_handle(h, v) == CK_INVALID_HANDLE) {
		rc = CF_E_HSM_NOT_FOUND;
		goto out;
	}
	pthread_mutex_lock(&h->lock);
	if (h->kek_current == 0)
		h->kek_current = v; /* the first KEK of a new appliance */
	pthread_mutex_unlock(&h->lock);
	*version = v;
	log_info("hsm: KEK %u created", v);
	rc = CF_OK;
out:
	pthread_mutex_unlock(&h->kek_lock);
	return rc;
}

cf_err hsm_kek_find(hsm_sess *s, uint32_t version)
{
	if (s == NULL || version == 0)
		return CF_E_INVALID_ARG;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	TRY(hsm_sess_run(s, job_scan, &dl));
	return hsm_kek_handle(s->h, version) != CK_INVALID_HANDLE ? CF_OK : CF_E_HSM_NOT_FOUND;
}

cf_err hsm_kek_make_current(hsm *h, uint32_t version)
{
	if (h == NULL || version == 0)
		return CF_E_INVALID_ARG;
	cf_err rc = CF_E_HSM_NOT_FOUND;
	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < h->kek_n; i++) {
		if (h->keks[i].version == version) {
			h->kek_current = version;
			rc = CF_OK;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

uint32_t hsm_kek_current(hsm *h)
{
	if (h == NULL)
		return 0;
	pthread_mutex_lock(&h->lock);
	uint32_t v = h->kek_current;
	pthread_mutex_unlock(&h->lock);
	return v;
}

cf_err hsm_kek_list(hsm_sess *s, uint32_t *out, size_t cap, size_t *n)
{
	if (s == NULL || n == NULL || (out == NULL && cap > 0))
		return CF_E_INVALID_ARG;
	*n = 0;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	TRY(hsm_sess_run(s, job_scan, &dl));
	struct hsm *h = s->h;
	pthread_mutex_lock(&h->lock);
	size_t k = h->kek_n;
	for (size_t i = 0; i < k && i < cap; i++)
		out[i] = h->keks[i].version;
	pthread_mutex_unlock(&h->lock);
	*n = k;
	return k > cap ? CF_E_NO_SPACE : CF_OK;
}

/* io->ul[0] = version. The handle is looked up inside the job (a re-init voids handles); on
 * the retry after a fault, a KEK that is gone was destroyed by the first attempt. */
static cf_err job_destroy(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	if (io->attempt > 0)
		TRY(hsm_kek_scan(x)); /* the table may still hold what the first attempt destroyed */
	CK_OBJECT_HANDLE o = hsm_kek_handle(x->h, (uint32_t)io->ul[0]);
	if (o == CK_INVALID_HANDLE)
		return io->attempt > 0 && io->step >= 1 ? CF_OK : CF_E_HSM_NOT_FOUND;
	io->step = 1;
	CK_RV rv = x->h->f->C_DestroyObject(x->sh, o);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	return hsm_kek_scan(x);
}

cf_err hsm_kek_destroy(hsm_sess *s, uint32_t version)
{
	if (s == NULL || version == 0)
		return CF_E_INVALID_ARG;
	struct hsm *h = s->h;
	if (hsm_kek_current(h) == version)
		return CF_E_STATE;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(h));
	TRY(hsm_sess_ready(s, &dl));
	s->x->io->ul[0] = version;
	TRY(hsm_sess_run(s, job_destroy, &dl));
	log_info("hsm: KEK %u destroyed", version);
	return CF_OK;
}
