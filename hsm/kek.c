/* KEKs: AES-256 token keys labelled "coffre-kek-<version>" (docs/architecture.md "Terms").
 * Created CKA_SENSITIVE, not extractable (or, with backups enabled, extractable only under a
 * CKA_TRUSTED wrapping key: CKA_WRAP_WITH_TRUSTED), CKA_PRIVATE, usable only for
 * encrypt/decrypt (the GCM blob wrap, see wrap.c); never CKA_WRAP/CKA_UNWRAP, so the KEK
 * cannot be used to export other keys. The attributes are read back after creation and a key
 * that violates the policy is destroyed. Found again by label after every re-init (the scan,
 * kek_scan.c). */
#include <stdio.h>
#include <string.h>

#include "board/log.h"
#include "hsm/hsm_int.h"

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
			if (h->kek_current != version) /* a rotation: the key object caches go */
				atomic_fetch_add(&h->cs_gen, 1);
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
	atomic_fetch_add(&h->cs_gen, 1); /* nothing opened from a blob under it stays cached */
	log_info("hsm: KEK %u destroyed", version);
	return CF_OK;
}
