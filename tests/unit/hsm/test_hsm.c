/* hsm/ against a real SoftHSMv2 token in a throw-away directory (issue 3 "Tests"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>

#include "board/sec.h"
#include "hsm/hsm_int.h"
#include "tests/unit/hsm/hsm_test_util.h"

static struct tok_env env;

struct fx {
	hsm *h;
	hsm_sess *s;
	uint32_t kek1;
};

static int group_setup(void **st)
{
	(void)st;
	return tok_env_setup(&env);
}

static int group_teardown(void **st)
{
	(void)st;
	tok_env_teardown(&env);
	return 0;
}

/* per test: open by label, log in, take a session, make sure a KEK exists */
static int fx_setup(void **st)
{
	struct fx *f = calloc(1, sizeof *f);
	if (f == NULL || tok_env_open(TEST_TOKEN, false, 4, 0, &f->h) != CF_OK)
		return -1;
	if (hsm_session_acquire(f->h, 1000, &f->s) != CF_OK)
		return -1;
	if (hsm_kek_current(f->h) == 0 && hsm_kek_create(f->s, &f->kek1) != CF_OK)
		return -1;
	f->kek1 = hsm_kek_current(f->h);
	*st = f;
	return 0;
}

static int fx_teardown(void **st)
{
	struct fx *f = *st;
	hsm_session_release(f->s);
	hsm_close(f->h);
	free(f);
	return 0;
}

static const struct hsm_bind bind_a = { (const uint8_t *)"uid-aaaa", 8, 2 };
static const struct hsm_bind bind_b = { (const uint8_t *)"uid-bbbb", 8, 2 };
static const struct hsm_bind bind_a_type = { (const uint8_t *)"uid-aaaa", 8, 7 };

static uint8_t *sbuf(size_t n)
{
	void *p = NULL;
	assert_int_equal(sec_alloc(n, &p), CF_OK);
	return p;
}

/* ---- wrap / unwrap ------------------------------------------------------------------ */

static void t_wrap_unwrap_roundtrip(void **st)
{
	struct fx *f = *st;
	uint8_t dek[32], blob[128];
	for (unsigned i = 0; i < 32; i++)
		dek[i] = (uint8_t)(i * 7 + 1);
	size_t bn = 0, on = 0;
	assert_int_equal(hsm_dek_wrap(f->s, dek, 32, &bind_a, blob, sizeof blob, &bn), CF_OK);
	assert_int_equal(bn, hsm_blob_size(32));
	assert_int_equal(bn, 32 + HSM_BLOB_OVERHEAD);
	struct hsm_blob_info bi;
	assert_int_equal(hsm_blob_info_get(blob, bn, &bi), CF_OK);
	assert_int_equal(bi.kek_version, f->kek1);
	assert_int_equal(bi.dek_len, 32);
	assert_int_equal(bi.mech, HSM_BLOB_MECH_AES_GCM);
	uint8_t *out = sbuf(64);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, out, 64, &on), CF_OK);
	assert_int_equal(on, 32);
	assert_memory_equal(out, dek, 32);
	/* the ciphertext does not contain the key */
	assert_memory_not_equal(blob + 28, dek, 32);
	/* too small an output buffer */
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, out, 31, &on), CF_E_NO_SPACE);
	assert_int_equal(on, 0);
	sec_free(out, 64);
}

static void t_generate_unwrap(void **st)
{
	struct fx *f = *st;
	uint8_t b1[128], b2[128];
	size_t n1 = 0, n2 = 0, o1 = 0, o2 = 0;
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, b1, sizeof b1, &n1), CF_OK);
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, b2, sizeof b2, &n2), CF_OK);
	uint8_t *k1 = sbuf(32), *k2 = sbuf(32);
	assert_int_equal(hsm_dek_unwrap(f->s, b1, n1, &bind_a, k1, 32, &o1), CF_OK);
	assert_int_equal(hsm_dek_unwrap(f->s, b2, n2, &bind_a, k2, 32, &o2), CF_OK);
	assert_int_equal(o1, 32);
	assert_memory_not_equal(k1, k2, 32); /* fresh key material each time */
	assert_memory_not_equal(b1 + 16, b2 + 16, 12); /* fresh nonce */
	/* sizes: 1 byte and the maximum */
	uint8_t big[HSM_DEK_MAX + HSM_BLOB_OVERHEAD];
	assert_int_equal(hsm_dek_generate(f->s, 1, &bind_a, big, sizeof big, &n1), CF_OK);
	assert_int_equal(n1, 1 + HSM_BLOB_OVERHEAD);
	assert_int_equal(hsm_dek_generate(f->s, HSM_DEK_MAX, &bind_a, big, sizeof big, &n1), CF_OK);
	assert_int_equal(hsm_dek_generate(f->s, HSM_DEK_MAX + 1, &bind_a, big, sizeof big, &n1),
			 CF_E_INVALID_ARG);
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, big, 32 + HSM_BLOB_OVERHEAD - 1, &n1),
			 CF_E_NO_SPACE);
	sec_free(k1, 32);
	sec_free(k2, 32);
}

static void t_blob_binding(void **st)
{
	struct fx *f = *st;
	uint8_t blob[128], mod[128];
	size_t bn = 0, on = 99;
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, blob, sizeof blob, &bn), CF_OK);
	uint8_t *out = sbuf(64);
	memset(out, 0xee, 64);
	/* swapped to another uid */
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_b, out, 64, &on), CF_E_HSM_UNWRAP);
	assert_int_equal(on, 0);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(out[i], 0); /* wiped on failure */
	/* another object type */
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a_type, out, 64, &on), CF_E_HSM_UNWRAP);
	/* every byte after the header flipped: tampered */
	for (size_t i = HSM_BLOB_HDR; i < bn; i++) {
		memcpy(mod, blob, bn);
		mod[i] ^= 0x01;
		assert_int_equal(hsm_dek_unwrap(f->s, mod, bn, &bind_a, out, 64, &on), CF_E_HSM_UNWRAP);
	}
	/* header: bad magic, format, mechanism, reserved, lengths -> malformed */
	const size_t hdr_bytes[] = { 0, 3, 4, 5, 6, 7, 12, 15 };
	for (size_t k = 0; k < sizeof hdr_bytes / sizeof hdr_bytes[0]; k++) {
		memcpy(mod, blob, bn);
		mod[hdr_bytes[k]] ^= 0x01;
		assert_int_equal(hsm_dek_unwrap(f->s, mod, bn, &bind_a, out, 64, &on), CF_E_HSM_BLOB);
	}
	/* header naming a KEK version we do not have */
	memcpy(mod, blob, bn);
	mod[8] = 0x7f;
	assert_int_equal(hsm_dek_unwrap(f->s, mod, bn, &bind_a, out, 64, &on), CF_E_HSM_WRONG_KEK);
	/* every truncation is malformed */
	for (size_t n = 0; n < bn; n++)
		assert_int_equal(hsm_dek_unwrap(f->s, blob, n, &bind_a, out, 64, &on), CF_E_HSM_BLOB);
	/* and the real one still works */
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, out, 64, &on), CF_OK);
	sec_free(out, 64);
}

static void t_rotation(void **st)
{
	struct fx *f = *st;
	uint8_t blob[128], nb[128];
	size_t bn = 0, nn = 0, on = 0;
	uint8_t *k_old = sbuf(32), *k_new = sbuf(32);
	uint32_t v1 = hsm_kek_current(f->h);
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, blob, sizeof blob, &bn), CF_OK);
	uint32_t v2 = 0;
	assert_int_equal(hsm_kek_create(f->s, &v2), CF_OK);
	assert_int_equal(v2, v1 + 1);
	assert_int_equal(hsm_kek_current(f->h), v1); /* create does not switch */
	assert_int_equal(hsm_kek_make_current(f->h, v2), CF_OK);
	assert_int_equal(hsm_kek_make_current(f->h, 999), CF_E_HSM_NOT_FOUND);
	/* the old blob still unwraps */
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, k_old, 32, &on), CF_OK);
	/* re-wrap moves it to KEK v2, same key */
	assert_int_equal(hsm_dek_rewrap(f->s, blob, bn, &bind_a, nb, sizeof nb, &nn), CF_OK);
	struct hsm_blob_info bi;
	assert_int_equal(hsm_blob_info_get(nb, nn, &bi), CF_OK);
	assert_int_equal(bi.kek_version, v2);
	assert_int_equal(hsm_dek_unwrap(f->s, nb, nn, &bind_a, k_new, 32, &on), CF_OK);
	assert_memory_equal(k_old, k_new, 32);
	/* re-wrap keeps the binding: the new blob is still tied to uid a */
	assert_int_equal(hsm_dek_unwrap(f->s, nb, nn, &bind_b, k_new, 32, &on), CF_E_HSM_UNWRAP);
	uint8_t nb2[128];
	size_t nn2 = 1;
	assert_int_equal(hsm_dek_rewrap(f->s, blob, bn, &bind_b, nb2, sizeof nb2, &nn2),
			 CF_E_HSM_UNWRAP);
	assert_int_equal(nn2, 0);
	/* list, destroy: the current one is refused, the old one goes */
	uint32_t vs[8];
	size_t n = 0;
	assert_int_equal(hsm_kek_list(f->s, vs, 8, &n), CF_OK);
	assert_true(n >= 2);
	assert_int_equal(vs[n - 1], v2);
	assert_int_equal(hsm_kek_list(f->s, vs, 1, &n), CF_E_NO_SPACE);
	assert_int_equal(hsm_kek_destroy(f->s, v2), CF_E_STATE);
	assert_int_equal(hsm_kek_destroy(f->s, v1), CF_OK);
	assert_int_equal(hsm_kek_find(f->s, v1), CF_E_HSM_NOT_FOUND);
	assert_int_equal(hsm_kek_find(f->s, v2), CF_OK);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, k_new, 32, &on), CF_E_HSM_WRONG_KEK);
	/* after a fresh login the KEKs are found again by label */
	hsm_session_release(f->s);
	f->s = NULL;
	hsm_close(f->h);
	assert_int_equal(tok_env_open(TEST_TOKEN, false, 4, 0, &f->h), CF_OK);
	assert_int_equal(hsm_session_acquire(f->h, 1000, &f->s), CF_OK);
	assert_int_equal(hsm_kek_current(f->h), v2);
	assert_int_equal(hsm_dek_unwrap(f->s, nb, nn, &bind_a, k_new, 32, &on), CF_OK);
	assert_memory_equal(k_old, k_new, 32);
	sec_free(k_old, 32);
	sec_free(k_new, 32);
}

/* ---- KEK protection --------------------------------------------------------------------- */

static void check_kek_protected(hsm *h, hsm_sess *s, bool backup)
{
	CK_FUNCTION_LIST *fl = NULL;
	CK_SESSION_HANDLE sh = 0;
	assert_int_equal(hsm_test_raw(s, &fl, &sh), CF_OK);
	CK_OBJECT_HANDLE kek = hsm_kek_handle(h, hsm_kek_current(h));
	assert_true(kek != CK_INVALID_HANDLE);
	/* CKA_VALUE cannot be read */
	uint8_t val[64];
	CK_ATTRIBUTE a = { CKA_VALUE, val, sizeof val };
	assert_int_equal(fl->C_GetAttributeValue(sh, kek, &a, 1), CKR_ATTRIBUTE_SENSITIVE);
	assert_true(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);
	/* attributes as the policy says */
	CK_BBOOL sens = 0, ext = 1, wwt = 0, priv = 0, wrap = 1;
	CK_ATTRIBUTE q[] = { { CKA_SENSITIVE, &sens, 1 }, { CKA_EXTRACTABLE, &ext, 1 },
			     { CKA_PRIVATE, &priv, 1 }, { CKA_WRAP, &wrap, 1 },
			     { CKA_WRAP_WITH_TRUSTED, &wwt, 1 } };
	assert_int_equal(fl->C_GetAttributeValue(sh, kek, q, 5), CKR_OK);
	assert_true(sens && priv && !wrap);
	assert_int_equal(ext, backup ? CK_TRUE : CK_FALSE);
	if (backup)
		assert_true(wwt);
	/* an untrusted wrapping key cannot export it */
	CK_MECHANISM gm = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ULONG len = 32;
	CK_BBOOL t = CK_TRUE, fa = CK_FALSE;
	CK_ATTRIBUTE wt[] = { { CKA_VALUE_LEN, &len, sizeof len }, { CKA_TOKEN, &fa, 1 },
			      { CKA_WRAP, &t, 1 }, { CKA_UNWRAP, &t, 1 } };
	CK_OBJECT_HANDLE wk = 0;
	assert_int_equal(fl->C_GenerateKey(sh, &gm, wt, 4, &wk), CKR_OK);
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	uint8_t out[128];
	CK_ULONG on = sizeof out;
	CK_RV rv = fl->C_WrapKey(sh, &kw, wk, kek, out, &on);
	assert_true(rv == CKR_KEY_UNEXTRACTABLE || rv == CKR_KEY_NOT_WRAPPABLE);
	on = sizeof out;
	CK_MECHANISM kw2 = { CKM_AES_KEY_WRAP, NULL, 0 };
	rv = fl->C_WrapKey(sh, &kw2, wk, kek, out, &on);
	assert_true(rv == CKR_KEY_UNEXTRACTABLE || rv == CKR_KEY_NOT_WRAPPABLE);
	assert_int_equal(fl->C_DestroyObject(sh, wk), CKR_OK);
	/* and the KEK cannot wrap other keys out either (CKA_WRAP false) */
	CK_ATTRIBUTE xt[] = { { CKA_VALUE_LEN, &len, sizeof len }, { CKA_TOKEN, &fa, 1 },
			      { CKA_EXTRACTABLE, &t, 1 }, { CKA_SENSITIVE, &fa, 1 } };
	CK_OBJECT_HANDLE xk = 0;
	assert_int_equal(fl->C_GenerateKey(sh, &gm, xt, 4, &xk), CKR_OK);
	on = sizeof out;
	assert_int_not_equal(fl->C_WrapKey(sh, &kw, kek, xk, out, &on), CKR_OK);
	assert_int_equal(fl->C_DestroyObject(sh, xk), CKR_OK);
}

static void t_kek_protected(void **st)
{
	struct fx *f = *st;
	check_kek_protected(f->h, f->s, false);
}

static void t_kek_backup_enabled(void **st)
{
	(void)st;
	hsm *h = NULL;
	hsm_sess *s = NULL;
	assert_int_equal(tok_env_open(TEST_TOKEN, true, 2, 0, &h), CF_OK);
	assert_int_equal(hsm_session_acquire(h, 1000, &s), CF_OK);
	/* the non-extractable KEKs made so far still pass; a new one is extractable-if-trusted */
	uint32_t v = 0;
	assert_int_equal(hsm_kek_create(s, &v), CF_OK);
	assert_int_equal(hsm_kek_make_current(h, v), CF_OK);
	check_kek_protected(h, s, true);
	/* back without backups: the extractable KEK is refused by the policy check */
	hsm_session_release(s);
	hsm_close(h);
	assert_int_equal(tok_env_open(TEST_TOKEN, false, 2, 0, &h), CF_OK);
	assert_int_equal(hsm_session_acquire(h, 1000, &s), CF_OK);
	assert_int_equal(hsm_kek_find(s, v), CF_E_HSM_NOT_FOUND);
	hsm_session_release(s);
	/* clean up so later tests see a non-backup KEK as newest */
	hsm_close(h);
	assert_int_equal(tok_env_open(TEST_TOKEN, true, 2, 0, &h), CF_OK);
	assert_int_equal(hsm_session_acquire(h, 1000, &s), CF_OK);
	uint32_t vs[16];
	size_t n = 0;
	assert_int_equal(hsm_kek_list(s, vs, 16, &n), CF_OK);
	assert_int_equal(hsm_kek_make_current(h, vs[0]), CF_OK);
	assert_int_equal(hsm_kek_destroy(s, v), CF_OK);
	hsm_session_release(s);
	hsm_close(h);
}

/* ---- token selection, login -------------------------------------------------------------- */

static void t_token_by_label_and_uri(void **st)
{
	(void)st;
	hsm *h = NULL;
	assert_int_equal(tok_env_open(TEST_TOKEN, false, 1, 0, &h), CF_OK);
	hsm_close(h);
	assert_int_equal(tok_env_open("pkcs11:token=coffre-test", false, 1, 0, &h), CF_OK);
	hsm_close(h);
	assert_int_equal(tok_env_open("pkcs11:model=SoftHSM%20v2;token=coffre%2dtest;object=x?pin-value=1",
				      false, 1, 0, &h), CF_OK);
	hsm_close(h);
	assert_int_equal(tok_env_open("no-such-token", false, 1, 0, &h), CF_E_HSM_NO_TOKEN);
	assert_null(h);
	assert_int_equal(tok_env_open("pkcs11:token=coffre-test;serial=nope", false, 1, 0, &h),
			 CF_E_HSM_NO_TOKEN);
	assert_int_equal(tok_env_open("pkcs11:bogus=1", false, 1, 0, &h), CF_E_CONFIG);
	assert_int_equal(tok_env_open("pkcs11:token=%zz", false, 1, 0, &h), CF_E_CONFIG);
	struct hsm_config cfg = { .module_path = "/nonexistent/lib.so", .token = TEST_TOKEN };
	assert_int_equal(hsm_open(&cfg, &h), CF_E_HSM_LOAD);
}

static void t_uri_parse(void **st)
{
	(void)st;
	struct hsm_tok_sel s;
	assert_int_equal(p11_tok_sel_parse("pkcs11:token=A%20B;serial=123;slot-id=7", &s), CF_OK);
	assert_string_equal(s.token, "A B");
	assert_string_equal(s.serial, "123");
	assert_true(s.has_slot_id && s.slot_id == 7);
	assert_int_equal(p11_tok_sel_parse("pkcs11:", &s), CF_E_CONFIG);
	assert_int_equal(p11_tok_sel_parse("pkcs11:token", &s), CF_E_CONFIG);
	assert_int_equal(p11_tok_sel_parse("pkcs11:token=%4", &s), CF_E_CONFIG);
	assert_int_equal(p11_tok_sel_parse("pkcs11:token=%00", &s), CF_E_CONFIG);
	assert_int_equal(p11_tok_sel_parse("pkcs11:slot-id=x", &s), CF_E_CONFIG);
	assert_int_equal(p11_tok_sel_parse("pkcs11:token=0123456789012345678901234567890123", &s),
			 CF_E_CONFIG);
	assert_int_equal(p11_tok_sel_parse("0123456789012345678901234567890123", &s), CF_E_CONFIG);
	assert_int_equal(p11_tok_sel_parse("", &s), CF_E_INVALID_ARG);
}

static void t_wrong_pin(void **st)
{
	(void)st;
	struct hsm_config cfg = { .module_path = SOFTHSM_PATH, .token = TEST_TOKEN, .pool_size = 1 };
	hsm *h = NULL;
	assert_int_equal(hsm_open(&cfg, &h), CF_OK);
	assert_false(hsm_pin_held(h));
	size_t before = sec_in_use();
	assert_int_equal(hsm_login(h, (const uint8_t *)"00000000", 8), CF_E_HSM_PIN);
	assert_false(hsm_pin_held(h));
	assert_int_equal(sec_in_use(), before); /* the copy was wiped and released */
	hsm_sess *s = NULL;
	assert_int_equal(hsm_session_acquire(h, 0, &s), CF_E_HSM_NOT_INIT);
	assert_int_equal(hsm_login(h, (const uint8_t *)"x", 0), CF_E_INVALID_ARG);
	assert_int_equal(hsm_login(h, (const uint8_t *)TEST_PIN, strlen(TEST_PIN)), CF_OK);
	assert_true(hsm_pin_held(h));
	/* replacement: a second login replaces (and wipes) the first copy */
	assert_int_equal(hsm_login(h, (const uint8_t *)TEST_PIN, strlen(TEST_PIN)), CF_OK);
	assert_true(hsm_pin_held(h));
	hsm_logout(h);
	assert_false(hsm_pin_held(h));
	assert_int_equal(hsm_session_acquire(h, 0, &s), CF_E_HSM_NOT_INIT);
	hsm_close(h);
	/* token_init refuses an existing label */
	assert_int_equal(hsm_token_init(SOFTHSM_PATH, TEST_TOKEN, (const uint8_t *)"1", 1,
					(const uint8_t *)"2", 1), CF_E_EXISTS);
}

/* ---- pool ------------------------------------------------------------------------------------ */

static void t_pool_bounded_wait(void **st)
{
	(void)st;
	hsm *h = NULL;
	assert_int_equal(tok_env_open(TEST_TOKEN, false, 2, 0, &h), CF_OK);
	hsm_sess *a = NULL, *b = NULL, *c = NULL;
	assert_int_equal(hsm_session_acquire(h, 0, &a), CF_OK);
	assert_int_equal(hsm_session_acquire(h, 0, &b), CF_OK);
	assert_ptr_not_equal(a, b);
	assert_int_equal(hsm_session_acquire(h, 0, &c), CF_E_HSM_BUSY);
	assert_null(c);
	double t0 = now_ms();
	assert_int_equal(hsm_session_acquire(h, 150, &c), CF_E_HSM_BUSY);
	double dt = now_ms() - t0;
	assert_true(dt >= 140 && dt < 1000);
	struct hsm_stats stt;
	hsm_stats_get(h, &stt);
	assert_int_equal(stt.sessions_open, 2);
	hsm_session_release(b);
	assert_int_equal(hsm_session_acquire(h, 0, &c), CF_OK);
	assert_ptr_equal(c, b);
	hsm_session_release(a);
	hsm_session_release(c);
	hsm_close(h);
}

struct waiter {
	hsm *h;
	cf_err rc;
	hsm_sess *s;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	w->rc = hsm_session_acquire(w->h, 3000, &w->s);
	return NULL;
}

static void t_pool_wait_wakes(void **st)
{
	(void)st;
	hsm *h = NULL;
	assert_int_equal(tok_env_open(TEST_TOKEN, false, 1, 0, &h), CF_OK);
	hsm_sess *a = NULL;
	assert_int_equal(hsm_session_acquire(h, 0, &a), CF_OK);
	struct waiter w = { h, CF_E_INTERNAL, NULL };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
	usleep(50000);
	double t0 = now_ms();
	hsm_session_release(a);
	pthread_join(th, NULL);
	assert_int_equal(w.rc, CF_OK);
	assert_true(now_ms() - t0 < 1000);
	hsm_session_release(w.s);
	hsm_close(h);
}

/* ---- key pairs ---------------------------------------------------------------------------- */

static void t_keypairs(void **st)
{
	struct fx *f = *st;
	char uri[HSM_URI_MAX];
	const uint8_t id1[] = { 0xc0, 0xff, 0x01 }, id2[] = { 0xc0, 0xff, 0x02 },
		      id3[] = { 0xc0, 0xff, 0x03 };
	assert_int_equal(hsm_keypair_generate(f->s, HSM_KP_RSA_2048, "tls server", id1, 3, uri,
					      sizeof uri), CF_OK);
	assert_string_equal(uri,
			    "pkcs11:token=coffre-test;object=tls%20server;id=%C0%FF%01;type=private");
	assert_int_equal(hsm_keypair_generate(f->s, HSM_KP_EC_P256, "ca-p256", id2, 3, uri,
					      sizeof uri), CF_OK);
	assert_string_equal(uri, "pkcs11:token=coffre-test;object=ca-p256;id=%C0%FF%02;type=private");
	assert_int_equal(hsm_keypair_generate(f->s, HSM_KP_EC_P384, "ca-p384", id3, 3, uri,
					      sizeof uri), CF_OK);
	/* label or id in use */
	assert_int_equal(hsm_keypair_generate(f->s, HSM_KP_EC_P256, "ca-p256", (const uint8_t *)"z",
					      1, uri, sizeof uri), CF_E_EXISTS);
	assert_string_equal(uri, "");
	assert_int_equal(hsm_keypair_generate(f->s, HSM_KP_EC_P256, "other", id1, 3, uri,
					      sizeof uri), CF_E_EXISTS);
	/* URI buffer too small */
	assert_int_equal(hsm_keypair_generate(f->s, HSM_KP_EC_P256, "small", (const uint8_t *)"s", 1,
					      uri, 20), CF_E_NO_SPACE);
	/* private halves are sensitive + not extractable */
	CK_FUNCTION_LIST *fl = NULL;
	CK_SESSION_HANDLE sh = 0;
	assert_int_equal(hsm_test_raw(f->s, &fl, &sh), CF_OK);
	CK_OBJECT_CLASS pc = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE q[] = { { CKA_CLASS, &pc, sizeof pc }, { CKA_ID, (void *)id2, 3 } };
	CK_OBJECT_HANDLE o = 0;
	CK_ULONG cnt = 0;
	assert_int_equal(fl->C_FindObjectsInit(sh, q, 2), CKR_OK);
	assert_int_equal(fl->C_FindObjects(sh, &o, 1, &cnt), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(sh), CKR_OK);
	assert_int_equal(cnt, 1);
	uint8_t v[256];
	CK_ATTRIBUTE a = { CKA_VALUE, v, sizeof v };
	assert_int_equal(fl->C_GetAttributeValue(sh, o, &a, 1), CKR_ATTRIBUTE_SENSITIVE);
	/* destroy; then the id is free again */
	assert_int_equal(hsm_keypair_destroy(f->s, id1, 3), CF_OK);
	assert_int_equal(hsm_keypair_destroy(f->s, id1, 3), CF_E_HSM_NOT_FOUND);
	assert_int_equal(hsm_keypair_destroy(f->s, id2, 3), CF_OK);
	assert_int_equal(hsm_keypair_destroy(f->s, id3, 3), CF_OK);
	/* KEKs untouched */
	assert_int_equal(hsm_kek_find(f->s, hsm_kek_current(f->h)), CF_OK);
}

/* ---- random, self-tests --------------------------------------------------------------- */

static void t_random(void **st)
{
	struct fx *f = *st;
	uint8_t a[3000], b[3000], z[3000];
	memset(z, 0, sizeof z);
	assert_int_equal(hsm_random(f->s, a, sizeof a), CF_OK);
	assert_int_equal(hsm_random(f->s, b, sizeof b), CF_OK);
	assert_memory_not_equal(a, b, sizeof a);
	assert_memory_not_equal(a, z, sizeof a);
	assert_int_equal(hsm_random(f->s, a, 1), CF_OK);
	assert_int_equal(hsm_random(f->s, a, 0), CF_OK);
	assert_int_equal(hsm_random(f->s, NULL, 5), CF_E_INVALID_ARG);
}

static void t_selftest(void **st)
{
	struct fx *f = *st;
	enum hsm_selftest_id failed = HSM_ST_COUNT_;
	assert_int_equal(hsm_selftest_run(f->s, &failed), CF_OK);
	assert_int_equal(failed, HSM_ST_NONE);
	for (int id = 1; id < HSM_ST_COUNT_; id++) {
		hsm_test_selftest_corrupt(f->h, (enum hsm_selftest_id)id);
		assert_int_equal(hsm_selftest_run(f->s, &failed), CF_E_HSM_SELFTEST);
		assert_int_equal(failed, id);
		assert_string_not_equal(hsm_selftest_name(failed), "unknown");
	}
	hsm_test_selftest_corrupt(f->h, HSM_ST_NONE);
	assert_int_equal(hsm_selftest_run(f->s, &failed), CF_OK);
	assert_string_equal(hsm_selftest_name(HSM_ST_WRAP_KAT), "wrap-kat");
	/* no session objects left behind: a token search for session keys finds none */
}

/* ---- concurrency ------------------------------------------------------------------------- */

struct worker {
	hsm *h;
	int id;
	int ok;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	hsm_sess *s = NULL;
	if (hsm_session_acquire(w->h, 2000, &s) != CF_OK)
		return NULL;
	uint8_t *k = NULL;
	void *p = NULL;
	if (sec_alloc(32, &p) != CF_OK) {
		hsm_session_release(s);
		return NULL;
	}
	k = p;
	char uid[32];
	for (int i = 0; i < 400; i++) {
		snprintf(uid, sizeof uid, "w%d-%d", w->id, i);
		struct hsm_bind b = { (const uint8_t *)uid, strlen(uid), 2 };
		uint8_t dek[32], blob[128];
		for (int j = 0; j < 32; j++)
			dek[j] = (uint8_t)(i + j + w->id);
		size_t bn = 0, kn = 0;
		if (hsm_dek_wrap(s, dek, 32, &b, blob, sizeof blob, &bn) != CF_OK)
			break;
		if (hsm_dek_unwrap(s, blob, bn, &b, k, 32, &kn) != CF_OK || kn != 32 ||
		    memcmp(k, dek, 32) != 0)
			break;
		w->ok++;
	}
	sec_free(k, 32);
	hsm_session_release(s);
	return NULL;
}

static void t_two_threads(void **st)
{
	struct fx *f = *st;
	struct worker w[2] = { { f->h, 1, 0 }, { f->h, 2, 0 } };
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(w[0].ok, 400);
	assert_int_equal(w[1].ok, 400);
}

/* ---- faults with the real module ------------------------------------------------------------ */

static cf_err job_sleep(struct hsm_exec *x)
{
	usleep((useconds_t)x->io->ul[0] * 1000u);
	return CF_OK;
}

static void t_timeout_quarantine(void **st)
{
	(void)st;
	hsm *h = NULL;
	assert_int_equal(tok_env_open(TEST_TOKEN, false, 1, 200, &h), CF_OK);
	hsm_sess *s = NULL;
	assert_int_equal(hsm_session_acquire(h, 0, &s), CF_OK);
	struct timespec dl;
	hsm_deadline(&dl, 200);
	s->x->io->ul[0] = 800; /* a "module call" that hangs for 800 ms */
	double t0 = now_ms();
	assert_int_equal(hsm_sess_run(s, job_sleep, &dl), CF_E_HSM_TIMEOUT);
	double dt = now_ms() - t0;
	assert_true(dt >= 190 && dt < 400);
	assert_null(s->x); /* quarantined, detached from the slot */
	struct hsm_stats stt;
	hsm_stats_get(h, &stt);
	assert_int_equal(stt.sessions_quarantined, 1);
	assert_int_equal(stt.timeouts, 1);
	/* the slot works again at once, on a fresh session */
	uint8_t blob[128];
	size_t bn = 0, on = 0;
	uint8_t *k = sbuf(32);
	assert_int_equal(hsm_dek_generate(s, 32, &bind_a, blob, sizeof blob, &bn), CF_OK);
	assert_int_equal(hsm_dek_unwrap(s, blob, bn, &bind_a, k, 32, &on), CF_OK);
	/* the hung call returns later; its executor cleans up */
	usleep(800000);
	hsm_stats_get(h, &stt);
	assert_int_equal(stt.sessions_quarantined, 0);
	sec_free(k, 32);
	hsm_session_release(s);
	hsm_close(h);
}

static void t_session_invalid_recovers(void **st)
{
	struct fx *f = *st;
	uint8_t blob[128];
	size_t bn = 0, on = 0;
	uint8_t *k = sbuf(32);
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, blob, sizeof blob, &bn), CF_OK);
	/* close the session behind the layer's back: CKR_SESSION_HANDLE_INVALID */
	CK_FUNCTION_LIST *fl = NULL;
	CK_SESSION_HANDLE sh = 0;
	assert_int_equal(hsm_test_raw(f->s, &fl, &sh), CF_OK);
	assert_int_equal(fl->C_CloseSession(sh), CKR_OK);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, k, 32, &on), CF_E_HSM_SESSION);
	struct hsm_stats s0, s1;
	hsm_stats_get(f->h, &s0);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, k, 32, &on), CF_OK);
	hsm_stats_get(f->h, &s1);
	assert_int_equal(s1.reopens, s0.reopens + 1);
	sec_free(k, 32);
}

static void t_module_reinit_recovers(void **st)
{
	struct fx *f = *st;
	uint8_t blob[128];
	size_t bn = 0, on = 0;
	uint8_t *k = sbuf(32);
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, blob, sizeof blob, &bn), CF_OK);
	/* finalize the module behind the layer's back: CKR_CRYPTOKI_NOT_INITIALIZED */
	assert_int_equal(f->h->f->C_Finalize(NULL), CKR_OK);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, k, 32, &on), CF_E_HSM_NOT_INIT);
	struct hsm_stats s0, s1;
	hsm_stats_get(f->h, &s0);
	/* next call: re-init, login, KEKs found again, session reopened */
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, k, 32, &on), CF_OK);
	hsm_stats_get(f->h, &s1);
	assert_int_equal(s1.reinits, s0.reinits + 1);
	assert_true(s1.kek_count >= 1);
	assert_int_equal(s1.kek_current, s0.kek_current);
	/* and other pool sessions follow the new generation */
	hsm_sess *s2 = NULL;
	assert_int_equal(hsm_session_acquire(f->h, 0, &s2), CF_OK);
	assert_int_equal(hsm_dek_unwrap(s2, blob, bn, &bind_a, k, 32, &on), CF_OK);
	hsm_session_release(s2);
	/* hsm_recover on a healthy module is a no-op */
	assert_int_equal(hsm_recover(f->h), CF_OK);
	hsm_stats_get(f->h, &s0);
	assert_int_equal(s0.reinits, s1.reinits);
	/* hsm_recover repairs a finalized module without an operation failing first */
	assert_int_equal(f->h->f->C_Finalize(NULL), CKR_OK);
	assert_int_equal(hsm_recover(f->h), CF_OK);
	hsm_stats_get(f->h, &s1);
	assert_int_equal(s1.reinits, s0.reinits + 1);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, k, 32, &on), CF_OK);
	sec_free(k, 32);
}

static void t_direct_calls(void **st)
{
	(void)st;
	struct hsm_config cfg = { .module_path = SOFTHSM_PATH, .token = TEST_TOKEN,
				  .pool_size = 1, .direct_calls = true };
	hsm *h = NULL;
	hsm_sess *s = NULL;
	assert_int_equal(hsm_open(&cfg, &h), CF_OK);
	assert_int_equal(hsm_login(h, (const uint8_t *)TEST_PIN, strlen(TEST_PIN)), CF_OK);
	assert_int_equal(hsm_session_acquire(h, 0, &s), CF_OK);
	uint8_t blob[128];
	size_t bn = 0, on = 0;
	uint8_t *k = sbuf(32);
	assert_int_equal(hsm_dek_generate(s, 32, &bind_a, blob, sizeof blob, &bn), CF_OK);
	assert_int_equal(hsm_dek_unwrap(s, blob, bn, &bind_a, k, 32, &on), CF_OK);
	assert_int_equal(hsm_dek_unwrap(s, blob, bn, &bind_b, k, 32, &on), CF_E_HSM_UNWRAP);
	enum hsm_selftest_id failed;
	assert_int_equal(hsm_selftest_run(s, &failed), CF_OK);
	sec_free(k, 32);
	hsm_session_release(s);
	hsm_close(h);
}

static void t_blob_info(void **st)
{
	(void)st;
	struct hsm_blob_info bi;
	uint8_t b[64];
	memset(b, 0, sizeof b);
	assert_int_equal(hsm_blob_info_get(b, sizeof b, &bi), CF_E_HSM_BLOB);
	assert_int_equal(hsm_blob_info_get(NULL, 0, &bi), CF_E_HSM_BLOB);
	hsm_blob_header(b, 3, 20);
	assert_int_equal(hsm_blob_info_get(b, 20 + HSM_BLOB_OVERHEAD, &bi), CF_OK);
	assert_int_equal(bi.kek_version, 3);
	assert_int_equal(hsm_blob_info_get(b, 21 + HSM_BLOB_OVERHEAD, &bi), CF_E_HSM_BLOB);
	hsm_blob_header(b, 0, 20);
	assert_int_equal(hsm_blob_info_get(b, 20 + HSM_BLOB_OVERHEAD, &bi), CF_E_HSM_BLOB);
	hsm_blob_header(b, 1, HSM_DEK_MAX + 1);
	assert_int_equal(hsm_blob_info_get(b, sizeof b, &bi), CF_E_HSM_BLOB);
	hsm_blob_header(b, 1, 0xffffffffu); /* no wrap in the length arithmetic */
	assert_int_equal(hsm_blob_info_get(b, 0xffffffffu - 2, &bi), CF_E_HSM_BLOB);
}

static void t_err_map(void **st)
{
	(void)st;
	assert_int_equal(p11_rv_to_err(CKR_OK), CF_OK);
	assert_int_equal(p11_rv_to_err(CKR_PIN_INCORRECT), CF_E_HSM_PIN);
	assert_int_equal(p11_rv_to_err(CKR_PIN_LOCKED), CF_E_HSM_LOCKED);
	assert_int_equal(p11_rv_to_err(CKR_DEVICE_REMOVED), CF_E_HSM_DEVICE);
	assert_int_equal(p11_rv_to_err(CKR_TOKEN_NOT_PRESENT), CF_E_HSM_DEVICE);
	assert_int_equal(p11_rv_to_err(CKR_SESSION_HANDLE_INVALID), CF_E_HSM_SESSION);
	assert_int_equal(p11_rv_to_err(CKR_CRYPTOKI_NOT_INITIALIZED), CF_E_HSM_NOT_INIT);
	assert_int_equal(p11_rv_to_err(0x80001234UL), CF_E_HSM);
	assert_int_equal(p11_rv_fault(CKR_DEVICE_REMOVED), HSM_FAULT_MODULE);
	assert_int_equal(p11_rv_fault(CKR_DEVICE_ERROR), HSM_FAULT_DEVICE);
	assert_int_equal(p11_rv_fault(CKR_SESSION_HANDLE_INVALID), HSM_FAULT_SESSION);
	assert_int_equal(p11_rv_fault(CKR_ENCRYPTED_DATA_INVALID), HSM_FAULT_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_uri_parse),
		cmocka_unit_test(t_blob_info),
		cmocka_unit_test(t_err_map),
		cmocka_unit_test(t_token_by_label_and_uri),
		cmocka_unit_test(t_wrong_pin),
		cmocka_unit_test_setup_teardown(t_wrap_unwrap_roundtrip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_generate_unwrap, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_blob_binding, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_kek_protected, fx_setup, fx_teardown),
		cmocka_unit_test(t_kek_backup_enabled),
		cmocka_unit_test_setup_teardown(t_rotation, fx_setup, fx_teardown),
		cmocka_unit_test(t_pool_bounded_wait),
		cmocka_unit_test(t_pool_wait_wakes),
		cmocka_unit_test_setup_teardown(t_keypairs, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_random, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_selftest, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_two_threads, fx_setup, fx_teardown),
		cmocka_unit_test(t_timeout_quarantine),
		cmocka_unit_test(t_direct_calls),
		cmocka_unit_test_setup_teardown(t_session_invalid_recovers, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_module_reinit_recovers, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests_name("hsm", tests, group_setup, group_teardown);
}
