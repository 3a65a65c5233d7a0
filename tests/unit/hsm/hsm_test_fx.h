/* Shared by the hsm tests that work with managed keys (blobs) on a pool session: the fixture
 * (an hsm logged in, one session acquired, a current KEK), hex helpers, managed keys made with
 * hsm_dek_wrap, and the count of session objects left in the pool session. Needs hsm_int.h
 * (hsm_test_raw: link hsm_th) and cmocka included first.
 *   fx_open(module, pool, timeout_ms)  hsm_open(module) + login + acquire + KEK (module:
 *                         SOFTHSM_PATH, or the fault shim's path; timeout_ms 0 = default)
 *   fx_close(f)
 *   mk_make / mk_make_raw  a managed key of a KMIP object type from hex / bytes
 *   fx_session_objects(f)  CKA_TOKEN false objects visible in the pool session */
#ifndef COFFRE_TESTS_HSM_TEST_FX_H
#define COFFRE_TESTS_HSM_TEST_FX_H

#include "board/hex.h"
#include "hsm/hsm_int.h"
#include "tests/unit/hsm/hsm_test_util.h"

struct fx {
	hsm *h;
	hsm_sess *s;
};

static inline struct fx *fx_open(const char *module, unsigned pool, unsigned timeout_ms)
{
	struct fx *f = calloc(1, sizeof *f);
	struct hsm_config cfg = { .module_path = module, .token = TEST_TOKEN, .pool_size = pool,
				  .timeout_ms = timeout_ms };
	uint32_t v = 0;
	if (f == NULL)
		return NULL;
	if (hsm_open(&cfg, &f->h) != CF_OK) {
		free(f);
		return NULL;
	}
	if (hsm_login(f->h, (const uint8_t *)TEST_PIN, strlen(TEST_PIN)) != CF_OK ||
	    hsm_session_acquire(f->h, 1000, &f->s) != CF_OK ||
	    (hsm_kek_current(f->h) == 0 &&
	     (hsm_kek_create(f->s, &v) != CF_OK || hsm_kek_make_current(f->h, v) != CF_OK))) {
		hsm_session_release(f->s);
		hsm_close(f->h);
		free(f);
		return NULL;
	}
	return f;
}

static inline void fx_close(struct fx *f)
{
	if (f == NULL)
		return;
	hsm_session_release(f->s);
	hsm_close(f->h);
	free(f);
}

static inline size_t fx_unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;
	assert_true(n <= cap);
	assert_int_equal(hex_decode(s, strlen(s), out, n), CF_OK);
	return n;
}

/* a managed key: material sealed under the current KEK, bound to (uid, obj_type) */
struct mk {
	uint8_t blob[HSM_DEK_MAX + HSM_BLOB_OVERHEAD];
	char uid[32];
	struct hsm_kw_key k;
};

static inline void mk_make_raw(struct fx *f, struct mk *m, const char *uid, uint32_t obj_type,
			       const uint8_t *v, size_t n)
{
	size_t bn = 0;
	snprintf(m->uid, sizeof m->uid, "%s", uid);
	struct hsm_bind b = { (const uint8_t *)m->uid, strlen(m->uid), obj_type };
	assert_int_equal(hsm_dek_wrap(f->s, v, n, &b, m->blob, sizeof m->blob, &bn), CF_OK);
	m->k = (struct hsm_kw_key){ m->blob, bn, b };
}

static inline void mk_make(struct fx *f, struct mk *m, const char *uid, uint32_t obj_type,
			   const char *hex)
{
	uint8_t v[256];
	size_t n = fx_unhex(hex, v, sizeof v);
	mk_make_raw(f, m, uid, obj_type, v, n);
}

/* session objects (CKA_TOKEN false, warm KEK copies aside) of this application (those of every session: PKCS#11
 * makes them visible to all), counted through a session of our own so that an operation a
 * fault left active in the pool session does not get in the way */
static inline CK_ULONG fx_session_objects(struct fx *f)
{
	CK_FUNCTION_LIST *fl = NULL;
	CK_SESSION_HANDLE sh = 0, own = 0;
	CK_SESSION_INFO si;
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE q = { CKA_TOKEN, &no, sizeof no };
	CK_OBJECT_HANDLE o[64];
	CK_ULONG got = 0;
	assert_int_equal(hsm_test_raw(f->s, &fl, &sh), CF_OK);
	assert_int_equal(fl->C_GetSessionInfo(sh, &si), CKR_OK);
	assert_int_equal(fl->C_OpenSession(si.slotID, CKF_SERIAL_SESSION, NULL, NULL, &own), CKR_OK);
	assert_int_equal(fl->C_FindObjectsInit(own, &q, 1), CKR_OK);
	assert_int_equal(fl->C_FindObjects(own, o, 64, &got), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(own), CKR_OK);
	CK_ULONG n = 0;
	for (CK_ULONG i = 0; i < got; i++) { /* warm KEK copies (wrap.c) come and go with */
		char lab[64] = { 0 };          /* the pool session: not counted */
		CK_ATTRIBUTE a = { CKA_LABEL, lab, sizeof lab - 1 };
		if (fl->C_GetAttributeValue(own, o[i], &a, 1) == CKR_OK &&
		    a.ulValueLen != CK_UNAVAILABLE_INFORMATION &&
		    strncmp(lab, HSM_KEK_LABEL_PREFIX, strlen(HSM_KEK_LABEL_PREFIX)) == 0)
			continue;
		n++;
	}
	assert_int_equal(fl->C_CloseSession(own), CKR_OK);
	return n;
}

#endif
