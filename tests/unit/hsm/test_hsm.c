/* hsm/ against a real SoftHSMv2 token in a throw-away directory . */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

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
	/* with the key's SHA-256 (a created key's Digest): the digest of what unwrap gives back */
	uint8_t md[HSM_SHA256_LEN], want[32];
	unsigned int wn = 0;
	assert_int_equal(hsm_dek_make(f->s, NULL, 32, HSM_DEK_DIGEST, &bind_a, b1, sizeof b1, &n1, md),
			 CF_OK);
	assert_int_equal(hsm_dek_unwrap(f->s, b1, n1, &bind_a, k1, 32, &o1), CF_OK);
	assert_int_equal(EVP_Digest(k1, 32, want, &wn, EVP_sha256(), NULL), 1);
	assert_memory_equal(md, want, 32);
	assert_int_equal(hsm_dek_make(f->s, NULL, 32, HSM_DEK_DIGEST, &bind_a, b1, sizeof b1, &n1,
				      NULL), CF_E_INVALID_ARG);
	/* a wrap (Register) digests the caller's bytes the same way */
	assert_int_equal(hsm_dek_make(f->s, k1, 32, HSM_DEK_DIGEST, &bind_a, b2, sizeof b2, &n2, md),
			 CF_OK);
	assert_memory_equal(md, want, 32);
	/* DES parity: odd parity in every byte of the generated key */
	assert_int_equal(hsm_dek_make(f->s, NULL, 24, HSM_DEK_DES_PARITY, &bind_a, b1, sizeof b1,
				      &n1, NULL), CF_OK);
	assert_int_equal(hsm_dek_unwrap(f->s, b1, n1, &bind_a, k1, 32, &o1), CF_OK);
	assert_int_equal(o1, 24);
	for (size_t i = 0; i < 24; i++)
		assert_int_equal(__builtin_popcount(k1[i]) & 1, 1);
	assert_int_equal(hsm_dek_make(f->s, k1, 24, HSM_DEK_DES_PARITY, &bind_a, b1, sizeof b1, &n1,
				      NULL), CF_E_INVALID_ARG);
	/* large: an RSA-4096 PKCS#8 is about 2.4 KB; the maximum round-trips through wrap */
	uint8_t *mx = sbuf(HSM_DEK_MAX), *back = sbuf(HSM_DEK_MAX);
	for (size_t i = 0; i < HSM_DEK_MAX; i++)
		mx[i] = (uint8_t)(i * 7u + 1u);
	assert_int_equal(hsm_dek_wrap(f->s, mx, HSM_DEK_MAX, &bind_a, big, sizeof big, &n1), CF_OK);
	assert_int_equal(hsm_dek_unwrap(f->s, big, n1, &bind_a, back, HSM_DEK_MAX, &o1), CF_OK);
	assert_int_equal(o1, HSM_DEK_MAX);
	assert_memory_equal(mx, back, HSM_DEK_MAX);
	sec_free(mx, HSM_DEK_MAX);
	sec_free(back, HSM_DEK_MAX);
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
	/* a "module call" that hangs for 3 s: the caller must be back at the 200 ms deadline,
	 * long before the call returns (the bound leaves room for a loaded machine, where the
	 * caller's thread may run late: a tighter one failed under CI-like load) */
	s->x->io->ul[0] = 3000;
	double t0 = now_ms();
	assert_int_equal(hsm_sess_run(s, job_sleep, &dl), CF_E_HSM_TIMEOUT);
	double dt = now_ms() - t0;
	if (!(dt >= 190 && dt < 2000))
		fail_msg("back after %.0f ms (deadline 200 ms, hung call 3000 ms)", dt);
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
	for (int i = 0; i < 100; i++) {
		hsm_stats_get(h, &stt);
		if (stt.sessions_quarantined == 0)
			break;
		usleep(50000);
	}
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
	/* close the session behind the layer's back: CKR_SESSION_HANDLE_INVALID; the operation
	 * that hits it reopens the session and retries once, transparently */
	CK_FUNCTION_LIST *fl = NULL;
	CK_SESSION_HANDLE sh = 0;
	assert_int_equal(hsm_test_raw(f->s, &fl, &sh), CF_OK);
	assert_int_equal(fl->C_CloseSession(sh), CKR_OK);
	struct hsm_stats s0, s1;
	hsm_stats_get(f->h, &s0);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, k, 32, &on), CF_OK);
	assert_int_equal(on, 32);
	hsm_stats_get(f->h, &s1);
	assert_int_equal(s1.reopens, s0.reopens + 1);
	assert_int_equal(s1.reinits, s0.reinits);
	/* the same for generate+wrap, random and the self-tests */
	assert_int_equal(hsm_test_raw(f->s, &fl, &sh), CF_OK);
	assert_int_equal(fl->C_CloseSession(sh), CKR_OK);
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, blob, sizeof blob, &bn), CF_OK);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, k, 32, &on), CF_OK);
	assert_int_equal(hsm_test_raw(f->s, &fl, &sh), CF_OK);
	assert_int_equal(fl->C_CloseSession(sh), CKR_OK);
	uint8_t r[64];
	assert_int_equal(hsm_random(f->s, r, sizeof r), CF_OK);
	assert_int_equal(hsm_test_raw(f->s, &fl, &sh), CF_OK);
	assert_int_equal(fl->C_CloseSession(sh), CKR_OK);
	enum hsm_selftest_id failed;
	assert_int_equal(hsm_selftest_run(f->s, &failed), CF_OK);
	/* a failure that is not a fault is not retried: no reopen for a bad tag */
	hsm_stats_get(f->h, &s0);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_b, k, 32, &on), CF_E_HSM_UNWRAP);
	hsm_stats_get(f->h, &s1);
	assert_int_equal(s1.reopens, s0.reopens);
	sec_free(k, 32);
}

static void t_module_reinit_recovers(void **st)
{
	struct fx *f = *st;
	uint8_t blob[128];
	size_t bn = 0, on = 0;
	uint8_t *k = sbuf(32);
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, blob, sizeof blob, &bn), CF_OK);
	/* finalize the module behind the layer's back: CKR_CRYPTOKI_NOT_INITIALIZED; the
	 * operation re-initialises, logs in, finds the KEKs by label, reopens and retries */
	struct hsm_stats s0, s1;
	hsm_stats_get(f->h, &s0);
	assert_int_equal(f->h->f->C_Finalize(NULL), CKR_OK);
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
	/* generate+wrap and KEK list after a finalize */
	assert_int_equal(f->h->f->C_Finalize(NULL), CKR_OK);
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, blob, sizeof blob, &bn), CF_OK);
	assert_int_equal(f->h->f->C_Finalize(NULL), CKR_OK);
	uint32_t vs[HSM_KEK_MAX];
	size_t n = 0;
	assert_int_equal(hsm_kek_list(f->s, vs, HSM_KEK_MAX, &n), CF_OK);
	assert_true(n >= 1);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, k, 32, &on), CF_OK);
	/* hsm_recover on a healthy module is a no-op */
	hsm_stats_get(f->h, &s0);
	assert_int_equal(hsm_recover(f->h), CF_OK);
	hsm_stats_get(f->h, &s1);
	assert_int_equal(s0.reinits, s1.reinits);
	/* hsm_recover repairs a finalized module without an operation failing first */
	assert_int_equal(f->h->f->C_Finalize(NULL), CKR_OK);
	assert_int_equal(hsm_recover(f->h), CF_OK);
	hsm_stats_get(f->h, &s0);
	assert_int_equal(s0.reinits, s1.reinits + 1);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, k, 32, &on), CF_OK);
	sec_free(k, 32);
}

/* recovery that cannot succeed (the token is gone) gives the clean error, on time; when the
 * token is back the next operation recovers */
static void t_recovery_fails_clean(void **st)
{
	struct fx *f = *st;
	uint8_t blob[128];
	size_t bn = 0, on = 0;
	uint8_t *k = sbuf(32);
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, blob, sizeof blob, &bn), CF_OK);
	/* point SoftHSMv2 at an empty token directory: after the re-init our token is missing */
	char empty[160], conf[200];
	snprintf(empty, sizeof empty, "%s/empty", env.dir);
	assert_int_equal(mkdir(empty, 0700), 0);
	snprintf(conf, sizeof conf, "%s/empty.conf", env.dir);
	FILE *cf = fopen(conf, "w");
	assert_non_null(cf);
	fprintf(cf, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
		empty);
	fclose(cf);
	setenv("SOFTHSM2_CONF", conf, 1);
	assert_int_equal(f->h->f->C_Finalize(NULL), CKR_OK);
	double t0 = now_ms();
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, k, 32, &on), CF_E_HSM_NOT_INIT);
	assert_int_equal(on, 0);
	assert_true(now_ms() - t0 < HSM_DEFAULT_TIMEOUT_MS);
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, blob, sizeof blob, &bn) != CF_OK, 1);
	/* the token comes back */
	setenv("SOFTHSM2_CONF", env.conf, 1);
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, blob, sizeof blob, &bn), CF_OK);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, k, 32, &on), CF_OK);
	sec_free(k, 32);
}

/* count the token objects labelled `label` (any class) */
static CK_ULONG count_label(hsm_sess *s, const char *label)
{
	CK_FUNCTION_LIST *fl = NULL;
	CK_SESSION_HANDLE sh = 0;
	assert_int_equal(hsm_test_raw(s, &fl, &sh), CF_OK);
	CK_ATTRIBUTE q[] = { { CKA_LABEL, (void *)label, strlen(label) } };
	CK_OBJECT_HANDLE o[8];
	CK_ULONG cnt = 0;
	assert_int_equal(fl->C_FindObjectsInit(sh, q, 1), CKR_OK);
	assert_int_equal(fl->C_FindObjects(sh, o, 8, &cnt), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(sh), CKR_OK);
	return cnt;
}

static CK_ULONG count_kek(hsm_sess *s, uint32_t v)
{
	char label[32];
	snprintf(label, sizeof label, HSM_KEK_LABEL_PREFIX "%u", v);
	return count_label(s, label);
}

/* KEK create is not idempotent: a fault right after C_GenerateKey must not make the retry
 * create a second version; a session closed before the create is just retried */
static void t_kek_create_fault(void **st)
{
	struct fx *f = *st;
	uint32_t vs[HSM_KEK_MAX];
	size_t n0 = 0, n1 = 0;
	assert_int_equal(hsm_kek_list(f->s, vs, HSM_KEK_MAX, &n0), CF_OK);
	uint32_t top = vs[n0 - 1], v = 0;
	hsm_test_fault_set(f->h, HSM_TF_KEK_AFTER_CREATE);
	struct hsm_stats s0, s1;
	hsm_stats_get(f->h, &s0);
	assert_int_equal(hsm_kek_create(f->s, &v), CF_OK);
	hsm_stats_get(f->h, &s1);
	assert_int_equal(s1.reopens, s0.reopens + 1); /* the fault did happen */
	assert_int_equal(v, top + 1);
	assert_int_equal(hsm_kek_list(f->s, vs, HSM_KEK_MAX, &n1), CF_OK);
	assert_int_equal(n1, n0 + 1);
	assert_int_equal(vs[n1 - 1], v);
	assert_int_equal(count_kek(f->s, v), 1);
	assert_int_equal(count_kek(f->s, v + 1), 0);
	assert_int_equal(hsm_kek_find(f->s, v), CF_OK);
	/* session closed before the create: retried, one new version */
	CK_FUNCTION_LIST *fl = NULL;
	CK_SESSION_HANDLE sh = 0;
	assert_int_equal(hsm_test_raw(f->s, &fl, &sh), CF_OK);
	assert_int_equal(fl->C_CloseSession(sh), CKR_OK);
	uint32_t v2 = 0;
	assert_int_equal(hsm_kek_create(f->s, &v2), CF_OK);
	assert_int_equal(v2, v + 1);
	assert_int_equal(count_kek(f->s, v2), 1);
	/* module finalised: retried after a re-init, one new version */
	assert_int_equal(f->h->f->C_Finalize(NULL), CKR_OK);
	uint32_t v3 = 0;
	assert_int_equal(hsm_kek_create(f->s, &v3), CF_OK);
	assert_int_equal(v3, v2 + 1);
	assert_int_equal(count_kek(f->s, v3), 1);
	assert_int_equal(count_kek(f->s, v3 + 1), 0);
	/* destroy after a closed session: retried; then gone */
	assert_int_equal(hsm_test_raw(f->s, &fl, &sh), CF_OK);
	assert_int_equal(fl->C_CloseSession(sh), CKR_OK);
	assert_int_equal(hsm_kek_destroy(f->s, v3), CF_OK);
	assert_int_equal(count_kek(f->s, v3), 0);
	assert_int_equal(hsm_kek_destroy(f->s, v3), CF_E_HSM_NOT_FOUND);
	assert_int_equal(hsm_kek_destroy(f->s, v2), CF_OK);
	assert_int_equal(hsm_kek_destroy(f->s, v), CF_OK);
}

/* a label already on the token (e.g. a KEK that failed the policy, so not in the table) is
 * never shadowed: create skips to the next free version */
static void t_kek_create_skips_taken_label(void **st)
{
	struct fx *f = *st;
	uint32_t vs[HSM_KEK_MAX];
	size_t n = 0;
	assert_int_equal(hsm_kek_list(f->s, vs, HSM_KEK_MAX, &n), CF_OK);
	uint32_t next = vs[n - 1] + 1;
	/* a squatter: an extractable, non-sensitive AES key labelled coffre-kek-<next> */
	CK_FUNCTION_LIST *fl = NULL;
	CK_SESSION_HANDLE sh = 0;
	assert_int_equal(hsm_test_raw(f->s, &fl, &sh), CF_OK);
	char label[32];
	snprintf(label, sizeof label, HSM_KEK_LABEL_PREFIX "%u", next);
	CK_MECHANISM gm = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ULONG len = 32;
	CK_BBOOL t = CK_TRUE, fa = CK_FALSE;
	CK_ATTRIBUTE a[] = { { CKA_VALUE_LEN, &len, sizeof len }, { CKA_TOKEN, &t, 1 },
			     { CKA_PRIVATE, &t, 1 }, { CKA_SENSITIVE, &fa, 1 },
			     { CKA_LABEL, label, strlen(label) } };
	CK_OBJECT_HANDLE sq = 0;
	assert_int_equal(fl->C_GenerateKey(sh, &gm, a, 5, &sq), CKR_OK);
	assert_int_equal(hsm_kek_find(f->s, next), CF_E_HSM_NOT_FOUND); /* policy refuses it */
	uint32_t v = 0;
	assert_int_equal(hsm_kek_create(f->s, &v), CF_OK);
	assert_int_equal(v, next + 1);
	assert_int_equal(count_kek(f->s, next), 1);
	assert_int_equal(count_kek(f->s, v), 1);
	assert_int_equal(fl->C_DestroyObject(sh, sq), CKR_OK);
	assert_int_equal(hsm_kek_destroy(f->s, v), CF_OK);
}

struct kek_creator {
	hsm *h;
	uint32_t got[4];
	int ok;
};

static void *kek_creator_main(void *arg)
{
	struct kek_creator *c = arg;
	hsm_sess *s = NULL;
	if (hsm_session_acquire(c->h, 2000, &s) != CF_OK)
		return NULL;
	for (int i = 0; i < 4; i++) {
		if (hsm_kek_create(s, &c->got[i]) != CF_OK)
			break;
		c->ok++;
	}
	hsm_session_release(s);
	return NULL;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void t_kek_concurrent_create(void **st)
{
	struct fx *f = *st;
	uint32_t vs[HSM_KEK_MAX];
	size_t n0 = 0, n1 = 0;
	assert_int_equal(hsm_kek_list(f->s, vs, HSM_KEK_MAX, &n0), CF_OK);
	uint32_t top = vs[n0 - 1];
	struct kek_creator c[2];
	memset(c, 0, sizeof c);
	pthread_t th[2];
	for (int i = 0; i < 2; i++) {
		c[i].h = f->h;
		assert_int_equal(pthread_create(&th[i], NULL, kek_creator_main, &c[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(c[0].ok, 4);
	assert_int_equal(c[1].ok, 4);
	/* each call made exactly one new version: 8 distinct, consecutive after the old top */
	uint32_t all[8];
	memcpy(all, c[0].got, sizeof c[0].got);
	memcpy(all + 4, c[1].got, sizeof c[1].got);
	qsort(all, 8, sizeof all[0], u32_cmp);
	for (int i = 0; i < 8; i++)
		assert_int_equal(all[i], top + 1 + (uint32_t)i);
	assert_int_equal(hsm_kek_list(f->s, vs, HSM_KEK_MAX, &n1), CF_OK);
	assert_int_equal(n1, n0 + 8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(count_kek(f->s, all[i]), 1); /* no duplicate labels */
		assert_int_equal(hsm_kek_destroy(f->s, all[i]), CF_OK);
	}
	assert_int_equal(count_kek(f->s, top + 9), 0);
}

/* key pair generation is not idempotent either: a fault right after C_GenerateKeyPair is
 * retried without leaving a second pair (or half a pair) behind */
static void t_keypair_fault(void **st)
{
	struct fx *f = *st;
	char uri[HSM_URI_MAX];
	const uint8_t id[] = { 0xfa, 0x01 };
	hsm_test_fault_set(f->h, HSM_TF_KP_AFTER_CREATE);
	struct hsm_stats s0, s1;
	hsm_stats_get(f->h, &s0);
	assert_int_equal(hsm_keypair_generate(f->s, HSM_KP_EC_P256, "fault-kp", id, 2, uri,
					      sizeof uri), CF_OK);
	hsm_stats_get(f->h, &s1);
	assert_int_equal(s1.reopens, s0.reopens + 1);
	assert_int_equal(count_label(f->s, "fault-kp"), 2); /* one public + one private */
	struct hsm_kp_info info;
	assert_int_equal(hsm_keypair_find(f->s, "fault-kp", &info, NULL, 0, NULL), CF_OK);
	assert_int_equal(info.type, HSM_KP_EC_P256);
	assert_int_equal(hsm_keypair_destroy(f->s, id, 2), CF_OK);
	assert_int_equal(count_label(f->s, "fault-kp"), 0);
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

/* ---- provisioning: slot choice and the force guard ------------------------------------ */

static cf_err tinit(const char *label, bool has_slot, unsigned long slot, bool force,
		    const char *so, unsigned long *out)
{
	struct hsm_token_init_cfg c = {
		.module_path = SOFTHSM_PATH, .label = label,
		.so_pin = (const uint8_t *)so, .so_n = strlen(so),
		.user_pin = (const uint8_t *)TEST_PIN, .user_n = strlen(TEST_PIN),
		.has_slot = has_slot, .slot_id = slot, .force = force,
	};
	return hsm_token_init_ex(&c, out);
}

/* the slot ids: of the token labelled `label`, and of the first uninitialised token */
static void slots_probe(const char *label, CK_SLOT_ID *lab_slot, CK_SLOT_ID *free_slot)
{
	void *dl = NULL;
	CK_FUNCTION_LIST *fl = NULL;
	assert_int_equal(p11_module_load(SOFTHSM_PATH, &dl, &fl), CF_OK);
	assert_int_equal(p11_module_initialize(fl), CKR_OK);
	CK_SLOT_ID sl[32];
	CK_ULONG n = 32;
	assert_int_equal(fl->C_GetSlotList(CK_TRUE, sl, &n), CKR_OK);
	bool got_free = false;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		assert_int_equal(fl->C_GetTokenInfo(sl[i], &ti), CKR_OK);
		char lab[33];
		p11_field_trim(ti.label, sizeof ti.label, lab, sizeof lab);
		if ((ti.flags & CKF_TOKEN_INITIALIZED) && label != NULL && strcmp(lab, label) == 0)
			*lab_slot = sl[i];
		if (!(ti.flags & CKF_TOKEN_INITIALIZED) && !got_free) {
			*free_slot = sl[i];
			got_free = true;
		}
	}
	assert_true(got_free);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	p11_module_unload(dl);
}

static void t_token_init_ex(void **st)
{
	(void)st;
	CK_SLOT_ID live = (CK_SLOT_ID)-1, free1 = 0;
	slots_probe(TEST_TOKEN, &live, &free1);
	assert_true(live != (CK_SLOT_ID)-1);
	unsigned long out = 99;
	/* the live token is never re-initialised without force: by label or by slot */
	assert_int_equal(tinit(TEST_TOKEN, false, 0, false, TEST_SO_PIN, &out), CF_E_EXISTS);
	assert_int_equal(out, 0);
	assert_int_equal(tinit(TEST_TOKEN, true, live, false, TEST_SO_PIN, &out), CF_E_EXISTS);
	assert_int_equal(tinit("other-label", true, live, false, TEST_SO_PIN, &out), CF_E_EXISTS);
	/* a label another token has cannot be given to a second one */
	assert_int_equal(tinit(TEST_TOKEN, true, free1, false, TEST_SO_PIN, &out), CF_E_EXISTS);
	/* no such slot */
	assert_int_equal(tinit("t2", true, 0x7fff1234ul, false, TEST_SO_PIN, &out),
			 CF_E_HSM_NO_TOKEN);
	/* the free slot, chosen explicitly */
	assert_int_equal(tinit("coffre-t2", true, free1, false, TEST_SO_PIN, &out), CF_OK);
	assert_int_equal(out, free1);
	/* SoftHSMv2 renumbers it at the next C_Initialize: look it up again by label */
	CK_SLOT_ID t2 = (CK_SLOT_ID)-1, free2 = 0;
	slots_probe("coffre-t2", &t2, &free2);
	assert_true(t2 != (CK_SLOT_ID)-1);
	/* the first free slot, chosen automatically */
	assert_int_equal(tinit("coffre-t3", false, 0, false, TEST_SO_PIN, &out), CF_OK);
	/* put a KEK on t2, then: refuse without force, wrong SO PIN with force, wipe with force */
	hsm *h = NULL;
	hsm_sess *s = NULL;
	uint32_t v = 0;
	assert_int_equal(tok_env_open("coffre-t2", false, 1, 0, &h), CF_OK);
	assert_int_equal(hsm_session_acquire(h, 1000, &s), CF_OK);
	assert_int_equal(hsm_kek_create(s, &v), CF_OK);
	assert_int_equal(v, 1);
	hsm_session_release(s);
	hsm_close(h);
	assert_int_equal(tinit("coffre-t2", true, t2, false, TEST_SO_PIN, &out), CF_E_EXISTS);
	assert_int_equal(tinit("coffre-t2", true, t2, true, "wrong-so-pin", &out), CF_E_HSM_PIN);
	assert_int_equal(tok_env_open("coffre-t2", false, 1, 0, &h), CF_OK);
	assert_int_equal(hsm_kek_current(h), 1); /* still there */
	hsm_close(h);
	assert_int_equal(tinit("coffre-t2", false, 0, true, TEST_SO_PIN, &out), CF_OK);
	assert_int_equal(tok_env_open("coffre-t2", false, 1, 0, &h), CF_OK);
	assert_int_equal(hsm_kek_current(h), 0); /* wiped */
	hsm_close(h);
	/* forced re-init by slot id, under a new label */
	slots_probe("coffre-t2", &t2, &free2);
	assert_int_equal(tinit("coffre-t2b", true, t2, true, TEST_SO_PIN, &out), CF_OK);
	assert_int_equal(tok_env_open("coffre-t2", false, 1, 0, &h), CF_E_HSM_NO_TOKEN);
	assert_int_equal(tok_env_open("coffre-t2b", false, 1, 0, &h), CF_OK);
	hsm_close(h);
	/* arguments */
	assert_int_equal(hsm_token_init_ex(NULL, &out), CF_E_INVALID_ARG);
	assert_int_equal(tinit("", false, 0, false, TEST_SO_PIN, &out), CF_E_INVALID_ARG);
	assert_int_equal(tinit("012345678901234567890123456789012", false, 0, false, TEST_SO_PIN,
			       &out), CF_E_INVALID_ARG);
}

/* ---- key pairs for the CA / TLS: public key DER, signing, verified with OpenSSL -------- */

static EVP_PKEY *spki_load(const uint8_t *der, size_t n)
{
	const unsigned char *p = der;
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)n);
	assert_non_null(pk);
	assert_ptr_equal(p, der + n);
	/* canonical DER: OpenSSL re-encodes it byte for byte */
	unsigned char *re = NULL;
	int rn = i2d_PUBKEY(pk, &re);
	assert_int_equal(rn, (int)n);
	assert_memory_equal(re, der, n);
	OPENSSL_free(re);
	return pk;
}

enum vpad { V_EC, V_PKCS1, V_PSS };

static int ossl_verify(EVP_PKEY *pk, enum vpad pad, const EVP_MD *md, const uint8_t *dg,
		       size_t dn, const uint8_t *sig, size_t sn)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_verify_init(c), 1);
	if (pad != V_EC) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, pad == V_PSS ? RSA_PKCS1_PSS_PADDING
								       : RSA_PKCS1_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_signature_md(c, md), 1);
		if (pad == V_PSS) {
			assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(c, md), 1);
			assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(c, EVP_MD_get_size(md)), 1);
		}
	}
	int r = EVP_PKEY_verify(c, sig, sn, dg, dn);
	EVP_PKEY_CTX_free(c);
	return r;
}

static void digest(const EVP_MD *md, const char *msg, uint8_t *out, size_t *n)
{
	unsigned int dn = 0;
	assert_int_equal(EVP_Digest(msg, strlen(msg), out, &dn, md, NULL), 1);
	*n = dn;
}

/* sign with the HSM (two-call), verify with OpenSSL; a changed digest must not verify */
static void sign_check(hsm_sess *s, const struct hsm_kp_ref *ref, EVP_PKEY *pk,
		       enum hsm_sig_mech mech, enum vpad pad, const EVP_MD *md, size_t want)
{
	uint8_t dg[64], sig[HSM_SIG_MAX], der[HSM_ECDSA_DER_MAX];
	size_t dn = 0, sn = 0, gn = 0;
	digest(md, "to be signed by the coffre CA", dg, &dn);
	assert_int_equal(hsm_sign(s, ref, mech, dg, dn, NULL, 0, &sn), CF_OK);
	assert_int_equal(sn, want);
	assert_int_equal(hsm_sign(s, ref, mech, dg, dn, sig, want - 1, &sn), CF_E_NO_SPACE);
	assert_int_equal(sn, want);
	assert_int_equal(hsm_sign(s, ref, mech, dg, dn, sig, sizeof sig, &sn), CF_OK);
	assert_int_equal(sn, want);
	const uint8_t *vs = sig;
	size_t vn = sn;
	if (pad == V_EC) {
		assert_int_equal(hsm_ecdsa_sig_to_der(sig, sn, NULL, 0, &gn), CF_OK);
		size_t need = gn;
		assert_int_equal(hsm_ecdsa_sig_to_der(sig, sn, der, sizeof der, &gn), CF_OK);
		assert_int_equal(gn, need);
		vs = der;
		vn = gn;
	}
	assert_int_equal(ossl_verify(pk, pad, md, dg, dn, vs, vn), 1);
	dg[0] ^= 1;
	assert_int_not_equal(ossl_verify(pk, pad, md, dg, dn, vs, vn), 1);
}

static void t_pubkey_sign_openssl(void **st)
{
	struct fx *f = *st;
	char uri[HSM_URI_MAX];
	const uint8_t id256[] = { 0xca, 0x01 }, id384[] = { 0xca, 0x02 }, idrsa[] = { 0xca, 0x03 };
	assert_int_equal(hsm_keypair_generate(f->s, HSM_KP_EC_P256, "ca-p256", id256, 2, uri,
					      sizeof uri), CF_OK);
	assert_int_equal(hsm_keypair_generate(f->s, HSM_KP_EC_P384, "ca-p384", id384, 2, uri,
					      sizeof uri), CF_OK);
	assert_int_equal(hsm_keypair_generate(f->s, HSM_KP_RSA_2048, "tls-rsa", idrsa, 2, uri,
					      sizeof uri), CF_OK);
	struct {
		const char *label;
		const uint8_t *id;
		enum hsm_kp_type type;
		unsigned bits;
		int ossl_id;
	} kp[] = {
		{ "ca-p256", id256, HSM_KP_EC_P256, 256, EVP_PKEY_EC },
		{ "ca-p384", id384, HSM_KP_EC_P384, 384, EVP_PKEY_EC },
		{ "tls-rsa", idrsa, HSM_KP_RSA_2048, 2048, EVP_PKEY_RSA },
	};
	EVP_PKEY *pk[3];
	for (int i = 0; i < 3; i++) {
		/* find by label: id, type, URI and the public key */
		struct hsm_kp_info info;
		uint8_t spki[HSM_SPKI_MAX], spki2[HSM_SPKI_MAX];
		size_t n = 0, n2 = 0, need = 0;
		assert_int_equal(hsm_keypair_find(f->s, kp[i].label, &info, NULL, 0, &need), CF_OK);
		assert_true(need > 0);
		assert_int_equal(hsm_keypair_find(f->s, kp[i].label, &info, spki, need - 1, &n),
				 CF_E_NO_SPACE);
		assert_int_equal(n, need);
		assert_int_equal(hsm_keypair_find(f->s, kp[i].label, &info, spki, sizeof spki, &n),
				 CF_OK);
		assert_int_equal(n, need);
		assert_int_equal(info.type, kp[i].type);
		assert_int_equal(info.bits, kp[i].bits);
		assert_int_equal(info.id_n, 2);
		assert_memory_equal(info.id, kp[i].id, 2);
		char want_uri[128];
		snprintf(want_uri, sizeof want_uri,
			 "pkcs11:token=coffre-test;object=%s;id=%%CA%%0%d;type=private", kp[i].label,
			 i + 1);
		assert_string_equal(info.uri, want_uri);
		/* pubkey by id, by label, by both: the same DER */
		struct hsm_kp_ref by_id = { NULL, kp[i].id, 2 }, by_label = { kp[i].label, NULL, 0 },
				  both = { kp[i].label, kp[i].id, 2 };
		assert_int_equal(hsm_pubkey_der(f->s, &by_id, spki2, sizeof spki2, &n2), CF_OK);
		assert_int_equal(n2, n);
		assert_memory_equal(spki2, spki, n);
		assert_int_equal(hsm_pubkey_der(f->s, &by_label, spki2, sizeof spki2, &n2), CF_OK);
		assert_memory_equal(spki2, spki, n);
		assert_int_equal(hsm_pubkey_der(f->s, &both, NULL, 0, &n2), CF_OK);
		assert_int_equal(n2, n);
		pk[i] = spki_load(spki, n);
		assert_int_equal(EVP_PKEY_get_base_id(pk[i]), kp[i].ossl_id);
		assert_int_equal(EVP_PKEY_get_bits(pk[i]), (int)kp[i].bits);
	}
	struct hsm_kp_ref r256 = { NULL, id256, 2 }, r384 = { "ca-p384", NULL, 0 },
			  rrsa = { "tls-rsa", idrsa, 2 };
	sign_check(f->s, &r256, pk[0], HSM_SIG_ECDSA, V_EC, EVP_sha256(), 64);
	sign_check(f->s, &r384, pk[1], HSM_SIG_ECDSA, V_EC, EVP_sha384(), 96);
	sign_check(f->s, &r384, pk[1], HSM_SIG_ECDSA, V_EC, EVP_sha256(), 96);
	sign_check(f->s, &rrsa, pk[2], HSM_SIG_RSA_PKCS1_SHA256, V_PKCS1, EVP_sha256(), 256);
	sign_check(f->s, &rrsa, pk[2], HSM_SIG_RSA_PKCS1_SHA384, V_PKCS1, EVP_sha384(), 256);
	sign_check(f->s, &rrsa, pk[2], HSM_SIG_RSA_PSS_SHA256, V_PSS, EVP_sha256(), 256);
	sign_check(f->s, &rrsa, pk[2], HSM_SIG_RSA_PSS_SHA512, V_PSS, EVP_sha512(), 256);
	/* errors */
	uint8_t dg[32] = { 1 }, sig[HSM_SIG_MAX];
	size_t sn = 7;
	assert_int_equal(hsm_sign(f->s, &r256, HSM_SIG_RSA_PKCS1_SHA256, dg, 32, sig, sizeof sig,
				  &sn), CF_E_HSM_MECH);
	assert_int_equal(sn, 0);
	assert_int_equal(hsm_sign(f->s, &rrsa, HSM_SIG_ECDSA, dg, 32, sig, sizeof sig, &sn),
			 CF_E_HSM_MECH);
	assert_int_equal(hsm_sign(f->s, &rrsa, HSM_SIG_RSA_PKCS1_SHA256, dg, 31, sig, sizeof sig,
				  &sn), CF_E_INVALID_ARG);
	assert_int_equal(hsm_sign(f->s, &r256, HSM_SIG_ECDSA, dg, 0, sig, sizeof sig, &sn),
			 CF_E_INVALID_ARG);
	assert_int_equal(hsm_sign(f->s, &r256, (enum hsm_sig_mech)99, dg, 32, sig, sizeof sig, &sn),
			 CF_E_INVALID_ARG);
	struct hsm_kp_ref none = { "no-such-key", NULL, 0 }, empty = { NULL, NULL, 0 },
			  mixed = { "ca-p256", id384, 2 };
	assert_int_equal(hsm_sign(f->s, &none, HSM_SIG_ECDSA, dg, 32, sig, sizeof sig, &sn),
			 CF_E_HSM_NOT_FOUND);
	assert_int_equal(hsm_sign(f->s, &mixed, HSM_SIG_ECDSA, dg, 32, sig, sizeof sig, &sn),
			 CF_E_HSM_NOT_FOUND);
	assert_int_equal(hsm_sign(f->s, &empty, HSM_SIG_ECDSA, dg, 32, sig, sizeof sig, &sn),
			 CF_E_INVALID_ARG);
	struct hsm_kp_info info;
	size_t n = 0;
	assert_int_equal(hsm_keypair_find(f->s, "no-such-key", &info, NULL, 0, &n),
			 CF_E_HSM_NOT_FOUND);
	assert_int_equal(hsm_pubkey_der(f->s, &none, sig, sizeof sig, &n), CF_E_HSM_NOT_FOUND);
	/* ambiguity is refused: two pairs under one label */
	const uint8_t idx[] = { 0xca, 0x09 };
	CK_FUNCTION_LIST *fl = NULL;
	CK_SESSION_HANDLE sh = 0;
	assert_int_equal(hsm_test_raw(f->s, &fl, &sh), CF_OK);
	{
		CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
		static const uint8_t p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
		CK_BBOOL t = CK_TRUE;
		CK_ATTRIBUTE pu[] = { { CKA_TOKEN, &t, 1 }, { CKA_EC_PARAMS, (void *)p256, sizeof p256 },
				      { CKA_LABEL, "ca-p256", 7 }, { CKA_ID, (void *)idx, 2 } };
		CK_ATTRIBUTE pv[] = { { CKA_TOKEN, &t, 1 }, { CKA_SIGN, &t, 1 },
				      { CKA_LABEL, "ca-p256", 7 }, { CKA_ID, (void *)idx, 2 } };
		CK_OBJECT_HANDLE a = 0, b = 0;
		assert_int_equal(fl->C_GenerateKeyPair(sh, &m, pu, 4, pv, 4, &a, &b), CKR_OK);
	}
	struct hsm_kp_ref amb = { "ca-p256", NULL, 0 };
	assert_int_equal(hsm_sign(f->s, &amb, HSM_SIG_ECDSA, dg, 32, sig, sizeof sig, &sn),
			 CF_E_TOO_MANY);
	assert_int_equal(hsm_keypair_find(f->s, "ca-p256", &info, NULL, 0, &n), CF_E_TOO_MANY);
	assert_int_equal(hsm_pubkey_der(f->s, &r256, NULL, 0, &n), CF_OK); /* by id: one */
	/* signing survives a closed session (transparent recovery) */
	assert_int_equal(fl->C_CloseSession(sh), CKR_OK);
	assert_int_equal(hsm_sign(f->s, &r256, HSM_SIG_ECDSA, dg, 32, sig, sizeof sig, &sn), CF_OK);
	assert_int_equal(sn, 64);
	assert_int_equal(hsm_keypair_destroy(f->s, idx, 2), CF_OK);
	assert_int_equal(hsm_keypair_destroy(f->s, id256, 2), CF_OK);
	assert_int_equal(hsm_keypair_destroy(f->s, id384, 2), CF_OK);
	assert_int_equal(hsm_keypair_destroy(f->s, idrsa, 2), CF_OK);
	for (int i = 0; i < 3; i++)
		EVP_PKEY_free(pk[i]);
}

/* the raw -> DER ECDSA conversion against OpenSSL's decoder and encoder */
static void ecdsa_der_check(const uint8_t *rs, size_t n)
{
	uint8_t der[HSM_ECDSA_DER_MAX];
	size_t dn = 0, need = 0;
	assert_int_equal(hsm_ecdsa_sig_to_der(rs, n, NULL, 0, &need), CF_OK);
	assert_int_equal(hsm_ecdsa_sig_to_der(rs, n, der, need - 1, &dn), CF_E_NO_SPACE);
	assert_int_equal(hsm_ecdsa_sig_to_der(rs, n, der, need, &dn), CF_OK);
	assert_int_equal(dn, need);
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dn);
	assert_non_null(sig);
	assert_ptr_equal(p, der + dn);
	const BIGNUM *r = NULL, *s = NULL;
	ECDSA_SIG_get0(sig, &r, &s);
	uint8_t back[132];
	assert_int_equal(BN_bn2binpad(r, back, (int)(n / 2)), (int)(n / 2));
	assert_int_equal(BN_bn2binpad(s, back + n / 2, (int)(n / 2)), (int)(n / 2));
	assert_memory_equal(back, rs, n);
	unsigned char *re = NULL;
	int rn = i2d_ECDSA_SIG(sig, &re);
	assert_int_equal(rn, (int)dn);
	assert_memory_equal(re, der, dn);
	OPENSSL_free(re);
	ECDSA_SIG_free(sig);
}

static void t_ecdsa_der(void **st)
{
	(void)st;
	uint8_t rs[132];
	/* P-256 shapes: high bit set (0x00 pad), leading zero bytes (stripped), small values */
	for (size_t i = 0; i < 64; i++)
		rs[i] = (uint8_t)(0x80 + i);
	ecdsa_der_check(rs, 64);
	memset(rs, 0, 64);
	rs[31] = 1;
	rs[63] = 0x7f;
	ecdsa_der_check(rs, 64);
	memset(rs, 0, 64);
	rs[5] = 0x90;
	rs[32] = 0x01;
	rs[40] = 0xff;
	ecdsa_der_check(rs, 64);
	/* P-384 and P-521 sizes (long-form SEQUENCE length) */
	memset(rs, 0xff, 96);
	ecdsa_der_check(rs, 96);
	memset(rs, 0xff, 132);
	rs[0] = 0x01;
	rs[66] = 0x01;
	ecdsa_der_check(rs, 132);
	size_t n = 5;
	uint8_t der[HSM_ECDSA_DER_MAX];
	assert_int_equal(hsm_ecdsa_sig_to_der(rs, 63, der, sizeof der, &n), CF_E_INVALID_ARG);
	assert_int_equal(n, 0);
	assert_int_equal(hsm_ecdsa_sig_to_der(rs, 0, der, sizeof der, &n), CF_E_INVALID_ARG);
	assert_int_equal(hsm_ecdsa_sig_to_der(rs, 134, der, sizeof der, &n), CF_E_INVALID_ARG);
	assert_int_equal(hsm_ecdsa_sig_to_der(NULL, 64, der, sizeof der, &n), CF_E_INVALID_ARG);
	assert_int_equal(hsm_ecdsa_sig_to_der(rs, 64, der, sizeof der, NULL), CF_E_INVALID_ARG);
	/* all-zero r and s: still well-formed DER (INTEGER 0) */
	memset(rs, 0, 64);
	assert_int_equal(hsm_ecdsa_sig_to_der(rs, 64, der, sizeof der, &n), CF_OK);
	const uint8_t zero[] = { 0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00 };
	assert_int_equal(n, sizeof zero);
	assert_memory_equal(der, zero, sizeof zero);
}

/* CKA_EC_POINT / modulus as untrusted input: the DER builders' checks */
static void t_der_untrusted(void **st)
{
	(void)st;
	static const uint8_t p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	static const uint8_t p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
	assert_int_equal(der_ec_field_bytes(p256, sizeof p256), 32);
	assert_int_equal(der_ec_field_bytes(p384, sizeof p384), 48);
	assert_int_equal(der_ec_field_bytes(p256, sizeof p256 - 1), 0);
	uint8_t pt[2 + 65 + 4];
	const uint8_t *q = NULL;
	pt[0] = 0x04;
	pt[1] = 65;
	pt[2] = 0x04;
	memset(pt + 3, 0x11, 64);
	assert_int_equal(der_ec_point_unwrap(pt, 67, 32, &q), CF_OK);      /* OCTET STRING */
	assert_ptr_equal(q, pt + 2);
	assert_int_equal(der_ec_point_unwrap(pt + 2, 65, 32, &q), CF_OK);  /* bare point */
	assert_ptr_equal(q, pt + 2);
	assert_int_equal(der_ec_point_unwrap(pt, 66, 32, &q), CF_E_HSM_OUTPUT); /* short */
	assert_null(q);
	assert_int_equal(der_ec_point_unwrap(pt, 68, 32, &q), CF_E_HSM_OUTPUT); /* long */
	assert_int_equal(der_ec_point_unwrap(pt, 67, 48, &q), CF_E_HSM_OUTPUT); /* wrong curve */
	pt[1] = 64;
	assert_int_equal(der_ec_point_unwrap(pt, 67, 32, &q), CF_E_HSM_OUTPUT); /* inner length */
	pt[1] = 65;
	pt[0] = 0x03;
	assert_int_equal(der_ec_point_unwrap(pt, 67, 32, &q), CF_E_HSM_OUTPUT); /* not OCTET STR */
	pt[0] = 0x04;
	pt[2] = 0x02;
	assert_int_equal(der_ec_point_unwrap(pt, 67, 32, &q), CF_E_HSM_OUTPUT); /* compressed */
	assert_int_equal(der_ec_point_unwrap(pt, 0, 32, &q), CF_E_HSM_OUTPUT);
	pt[2] = 0x04;
	size_t n = 0;
	uint8_t out[HSM_SPKI_MAX];
	assert_int_equal(der_spki_ec(p256, sizeof p256, pt, 67, out, sizeof out, &n), CF_OK);
	assert_int_equal(n, 91); /* the P-256 SubjectPublicKeyInfo size */
	assert_int_equal(der_spki_ec(p256, sizeof p256, pt, 67, out, 90, &n), CF_E_NO_SPACE);
	assert_int_equal(n, 91);
	static const uint8_t brainpool[] = { 0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01,
					     0x01, 0x07 };
	assert_int_equal(der_spki_ec(brainpool, sizeof brainpool, pt, 67, out, sizeof out, &n),
			 CF_E_HSM_MECH);
	/* RSA: modulus size and parity, exponent */
	uint8_t mod[513], e3[] = { 0x03 }, e65537[] = { 0x01, 0x00, 0x01 }, even[] = { 0x02 };
	memset(mod, 0xc5, sizeof mod);
	mod[0] = 0; /* a leading zero byte is stripped */
	assert_int_equal(der_spki_rsa(mod, 257, e65537, 3, out, sizeof out, &n), CF_OK);
	assert_int_equal(n, 294); /* the RSA-2048 SubjectPublicKeyInfo size */
	EVP_PKEY *pk = spki_load(out, n);
	assert_int_equal(EVP_PKEY_get_bits(pk), 2048);
	EVP_PKEY_free(pk);
	assert_int_equal(der_spki_rsa(mod, 513, e3, 1, out, sizeof out, &n), CF_OK); /* 4096 */
	assert_int_equal(der_spki_rsa(mod, 129, e65537, 3, out, sizeof out, &n), CF_E_HSM_OUTPUT);
	assert_int_equal(der_spki_rsa(mod, 257, even, 1, out, sizeof out, &n), CF_E_HSM_OUTPUT);
	uint8_t one[] = { 0x01 }, big_e[9];
	memset(big_e, 0x01, sizeof big_e);
	assert_int_equal(der_spki_rsa(mod, 257, one, 1, out, sizeof out, &n), CF_E_HSM_OUTPUT);
	assert_int_equal(der_spki_rsa(mod, 257, big_e, 9, out, sizeof out, &n), CF_E_HSM_OUTPUT);
	mod[256] = 0xc4; /* even modulus */
	assert_int_equal(der_spki_rsa(mod, 257, e65537, 3, out, sizeof out, &n), CF_E_HSM_OUTPUT);
	assert_int_equal(der_spki_rsa(mod, 0, e65537, 3, out, sizeof out, &n), CF_E_HSM_OUTPUT);
}

/* ---- malformed blobs: the exact error for each --------------------------------------------- */

enum blob_mut { M_TRUNC, M_LEN, M_APPEND, M_XOR, M_SET, M_BE32, M_ZERO, M_REPLACE_ALL };

struct blob_case {
	const char *what;
	enum blob_mut mut;
	size_t off;      /* byte offset (M_XOR, M_SET, M_BE32, M_ZERO start) */
	uint32_t val;    /* xor mask / value / new length / zero count */
	cf_err want;
};

#define NONCE_OFF 16u
#define CT_OFF 28u
#define TAG_OFF (28u + 32u)

static const struct blob_case blob_cases[] = {
	{ "empty", M_LEN, 0, 0, CF_E_HSM_BLOB },
	{ "one byte", M_LEN, 0, 1, CF_E_HSM_BLOB },
	{ "header only", M_LEN, 0, 16, CF_E_HSM_BLOB },
	{ "header + nonce", M_LEN, 0, 28, CF_E_HSM_BLOB },
	{ "header + nonce + tag, no ciphertext", M_LEN, 0, 44, CF_E_HSM_BLOB },
	{ "one byte short", M_TRUNC, 0, 1, CF_E_HSM_BLOB },
	{ "tag missing", M_TRUNC, 0, 16, CF_E_HSM_BLOB },
	{ "one byte appended", M_APPEND, 0, 1, CF_E_HSM_BLOB },
	{ "a block appended", M_APPEND, 0, 16, CF_E_HSM_BLOB },
	{ "magic byte 0", M_XOR, 0, 0x20, CF_E_HSM_BLOB },
	{ "magic byte 3", M_XOR, 3, 0x01, CF_E_HSM_BLOB },
	{ "magic lower case", M_SET, 1, 'f', CF_E_HSM_BLOB },
	{ "format 0", M_SET, 4, 0, CF_E_HSM_BLOB },
	{ "format 2", M_SET, 4, 2, CF_E_HSM_BLOB },
	{ "format 255", M_SET, 4, 255, CF_E_HSM_BLOB },
	{ "mechanism 0", M_SET, 5, 0, CF_E_HSM_BLOB },
	/* a GCM blob relabelled KWP-then-GCM: the header is in the AAD */
	{ "mechanism 2 (KWP then GCM) on a GCM blob", M_SET, 5, 2, CF_E_HSM_UNWRAP },
	{ "mechanism 3 (unknown)", M_SET, 5, 3, CF_E_HSM_BLOB },
	{ "reserved byte 6", M_SET, 6, 1, CF_E_HSM_BLOB },
	{ "reserved byte 7", M_SET, 7, 0x80, CF_E_HSM_BLOB },
	{ "KEK version 0", M_BE32, 8, 0, CF_E_HSM_BLOB },
	{ "KEK version unknown (1000)", M_BE32, 8, 1000, CF_E_HSM_WRONG_KEK },
	{ "KEK version 0x7fffffff", M_BE32, 8, 0x7fffffffu, CF_E_HSM_WRONG_KEK },
	{ "KEK version 0xffffffff", M_BE32, 8, 0xffffffffu, CF_E_HSM_WRONG_KEK },
	{ "dek_len 0", M_BE32, 12, 0, CF_E_HSM_BLOB },
	{ "dek_len 31 (short of the blob)", M_BE32, 12, 31, CF_E_HSM_BLOB },
	{ "dek_len 33 (past the blob)", M_BE32, 12, 33, CF_E_HSM_BLOB },
	{ "dek_len HSM_DEK_MAX + 1", M_BE32, 12, HSM_DEK_MAX + 1, CF_E_HSM_BLOB },
	{ "dek_len 0xffffffff (wrap)", M_BE32, 12, 0xffffffffu, CF_E_HSM_BLOB },
	{ "dek_len 0xffffffd4 (wraps to n)", M_BE32, 12, 0xffffffd4u, CF_E_HSM_BLOB },
	{ "nonce byte 0", M_XOR, NONCE_OFF, 0x01, CF_E_HSM_UNWRAP },
	{ "nonce byte 11", M_XOR, NONCE_OFF + 11, 0x80, CF_E_HSM_UNWRAP },
	{ "nonce zeroed", M_ZERO, NONCE_OFF, 12, CF_E_HSM_UNWRAP },
	{ "ciphertext first byte", M_XOR, CT_OFF, 0x01, CF_E_HSM_UNWRAP },
	{ "ciphertext last byte", M_XOR, CT_OFF + 31, 0x40, CF_E_HSM_UNWRAP },
	{ "ciphertext zeroed", M_ZERO, CT_OFF, 32, CF_E_HSM_UNWRAP },
	{ "tag first byte", M_XOR, TAG_OFF, 0x01, CF_E_HSM_UNWRAP },
	{ "tag last byte", M_XOR, TAG_OFF + 15, 0x01, CF_E_HSM_UNWRAP },
	{ "tag zeroed", M_ZERO, TAG_OFF, 16, CF_E_HSM_UNWRAP },
	{ "all zero, right length", M_REPLACE_ALL, 0, 0, CF_E_HSM_BLOB },
};

static void be32_set(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void t_blob_malformed(void **st)
{
	struct fx *f = *st;
	uint8_t blob[128];
	size_t bn = 0, on = 77;
	assert_int_equal(hsm_dek_generate(f->s, 32, &bind_a, blob, sizeof blob, &bn), CF_OK);
	assert_int_equal(bn, 76);
	uint8_t *out = sbuf(64);
	size_t ncase = sizeof blob_cases / sizeof blob_cases[0];
	assert_true(ncase >= 30);
	for (size_t i = 0; i < ncase; i++) {
		const struct blob_case *c = &blob_cases[i];
		uint8_t m[128 + 32];
		size_t mn = bn;
		memcpy(m, blob, bn);
		switch (c->mut) {
		case M_TRUNC: mn = bn - c->val; break;
		case M_LEN: mn = c->val; break;
		case M_APPEND: memset(m + bn, 0, c->val); mn = bn + c->val; break;
		case M_XOR: m[c->off] ^= (uint8_t)c->val; break;
		case M_SET: m[c->off] = (uint8_t)c->val; break;
		case M_BE32: be32_set(m + c->off, c->val); break;
		case M_ZERO: memset(m + c->off, 0, c->val); break;
		case M_REPLACE_ALL: memset(m, 0, bn); break;
		}
		/* an exact-size heap copy, so ASan sees any over-read */
		uint8_t *h = malloc(mn ? mn : 1);
		assert_non_null(h);
		memcpy(h, m, mn);
		memset(out, 0xee, 64);
		on = 77;
		cf_err rc = hsm_dek_unwrap(f->s, h, mn, &bind_a, out, 64, &on);
		if (rc != c->want)
			fail_msg("blob case \"%s\": got %s, want %s", c->what, cf_err_name(rc),
				 cf_err_name(c->want));
		assert_int_equal(on, 0);
		for (unsigned j = 0; j < 64; j++)
			assert_int_equal(out[j], 0);
		/* the parser alone agrees for the header / length cases */
		struct hsm_blob_hdr hd;
		cf_err prc = hsm_blob_parse(h, mn, &hd);
		if (c->want == CF_E_HSM_BLOB)
			assert_int_equal(prc, CF_E_HSM_BLOB);
		else
			assert_int_equal(prc, CF_OK);
		/* rewrap reports the same */
		uint8_t nb[128];
		size_t nn = 9;
		assert_int_equal(hsm_dek_rewrap(f->s, h, mn, &bind_a, nb, sizeof nb, &nn), c->want);
		assert_int_equal(nn, 0);
		free(h);
	}
	/* binding cases */
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_b, out, 64, &on), CF_E_HSM_UNWRAP);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a_type, out, 64, &on),
			 CF_E_HSM_UNWRAP);
	/* a header edited to name another KEK that exists: authentication fails */
	uint32_t v2 = 0;
	assert_int_equal(hsm_kek_create(f->s, &v2), CF_OK);
	uint8_t m[128];
	memcpy(m, blob, bn);
	be32_set(m + 8, v2);
	assert_int_equal(hsm_dek_unwrap(f->s, m, bn, &bind_a, out, 64, &on), CF_E_HSM_UNWRAP);
	/* a consistent shorter blob (header dek_len 16, 16 bytes cut): authentication fails */
	memcpy(m, blob, bn);
	be32_set(m + 12, 16);
	memmove(m + CT_OFF + 16, m + TAG_OFF, 16);
	assert_int_equal(hsm_dek_unwrap(f->s, m, bn - 16, &bind_a, out, 64, &on), CF_E_HSM_UNWRAP);
	/* and the original still unwraps */
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &bind_a, out, 64, &on), CF_OK);
	assert_int_equal(hsm_kek_destroy(f->s, v2), CF_OK);
	sec_free(out, 64);
}

/* the pure parser: every prefix fails, the header round-trips */
static void t_blob_parse_pure(void **st)
{
	(void)st;
	uint8_t b[16 + 12 + 40 + 16];
	struct hsm_blob_hdr in = { HSM_BLOB_FORMAT, HSM_BLOB_MECH_AES_GCM, 0, 7, 40 }, out;
	memset(b, 0xab, sizeof b);
	hsm_blob_hdr_write(&in, b);
	assert_int_equal(hsm_blob_parse(b, sizeof b, &out), CF_OK);
	assert_int_equal(out.kek_version, 7);
	assert_int_equal(out.dek_len, 40);
	uint8_t re[HSM_BLOB_HDR_LEN];
	hsm_blob_hdr_write(&out, re);
	assert_memory_equal(re, b, HSM_BLOB_HDR_LEN);
	for (size_t n = 0; n < sizeof b; n++) {
		uint8_t *h = malloc(n ? n : 1);
		assert_non_null(h);
		memcpy(h, b, n);
		assert_int_equal(hsm_blob_parse(h, n, &out), CF_E_HSM_BLOB);
		assert_int_equal(out.kek_version, 0); /* zeroed on error */
		free(h);
	}
	/* every single-bit flip in the header: rejected, or (kek_version bits) parsed as such */
	for (size_t i = 0; i < HSM_BLOB_HDR_LEN * 8; i++) {
		uint8_t m[sizeof b];
		memcpy(m, b, sizeof b);
		m[i / 8] ^= (uint8_t)(1u << (i % 8));
		cf_err rc = hsm_blob_parse(m, sizeof m, &out);
		if (i / 8 >= 8 && i / 8 < 12)
			assert_int_equal(rc, CF_OK);
		else
			assert_int_equal(rc, CF_E_HSM_BLOB);
	}
	assert_int_equal(hsm_blob_parse(b, sizeof b, NULL), CF_E_INVALID_ARG);
	assert_int_equal(hsm_blob_parse(NULL, 5, &out), CF_E_HSM_BLOB);
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
		cmocka_unit_test_setup_teardown(t_recovery_fails_clean, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_kek_create_fault, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_kek_create_skips_taken_label, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_kek_concurrent_create, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_keypair_fault, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_pubkey_sign_openssl, fx_setup, fx_teardown),
		cmocka_unit_test(t_ecdsa_der),
		cmocka_unit_test(t_der_untrusted),
		cmocka_unit_test(t_blob_parse_pure),
		cmocka_unit_test_setup_teardown(t_blob_malformed, fx_setup, fx_teardown),
		cmocka_unit_test(t_token_init_ex),
	};
	return cmocka_run_group_tests_name("hsm", tests, group_setup, group_teardown);
}
