/* hsm_kp_generate_wrapped and the KWP-then-GCM blob against a real SoftHSMv2 token: the
 * private blob opens to PKCS#8 whose public part is the SPKI returned, the blob is bound to
 * (uid, type), rotation re-wraps it inside the HSM, and nothing stays in the HSM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "board/sec.h"
#include "hsm/hsm_int.h"
#include "tests/unit/hsm/hsm_test_fx.h"

static struct tok_env env;

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

static int fx_setup(void **st)
{
	struct fx *f = fx_open(SOFTHSM_PATH, 4, 0);
	if (f == NULL)
		return -1;
	*st = f;
	return 0;
}

static int fx_teardown(void **st)
{
	fx_close(*st);
	return 0;
}

#define OT_PRIVATE 4u /* KMIP Object Type Private Key */
static const struct hsm_bind b_priv = { (const uint8_t *)"kp-uid-1", 8, OT_PRIVATE };
static const struct hsm_bind b_other = { (const uint8_t *)"kp-uid-2", 8, OT_PRIVATE };
static const struct hsm_bind b_type = { (const uint8_t *)"kp-uid-1", 8, 3 };

/* session objects of class cls visible to the session (pairs, KEK copies that can wrap) */
static CK_ULONG count_session(hsm_sess *s, CK_OBJECT_CLASS cls, bool wrap_only)
{
	CK_FUNCTION_LIST *fl = NULL;
	CK_SESSION_HANDLE sh = 0;
	assert_int_equal(hsm_test_raw(s, &fl, &sh), CF_OK);
	CK_BBOOL f = CK_FALSE, t = CK_TRUE;
	CK_ATTRIBUTE q[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_TOKEN, &f, 1 },
			     { CKA_WRAP, &t, 1 } };
	CK_OBJECT_HANDLE o[16];
	CK_ULONG cnt = 0;
	assert_int_equal(fl->C_FindObjectsInit(sh, q, wrap_only ? 3 : 2), CKR_OK);
	assert_int_equal(fl->C_FindObjects(sh, o, 16, &cnt), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(sh), CKR_OK);
	return cnt;
}

/* The private blob opens to PKCS#8 whose public key's DER is exactly spki; returns the key
 * bits; *der / *der_n = a malloc'd copy of the PKCS#8 (for comparisons). */
static int check_pair(hsm_sess *s, const uint8_t *blob, size_t bn, const uint8_t *spki,
		      size_t sn, int want_id, uint8_t **der, size_t *der_n)
{
	uint8_t *out = NULL;
	size_t on = 0;
	assert_int_equal(sec_alloc(HSM_DEK_MAX, (void **)&out), CF_OK);
	assert_int_equal(hsm_dek_unwrap(s, blob, bn, &b_priv, out, HSM_DEK_MAX, &on), CF_OK);
	assert_true(on > 0);
	const unsigned char *p = out;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)on);
	assert_non_null(p8);
	assert_true(p == out + on); /* exactly one PrivateKeyInfo, nothing after it */
	EVP_PKEY *k = EVP_PKCS82PKEY(p8);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_get_base_id(k), want_id);
	unsigned char *pub = NULL;
	int pn = i2d_PUBKEY(k, &pub);
	assert_true(pn > 0);
	assert_int_equal((size_t)pn, sn);
	assert_memory_equal(pub, spki, sn);
	int bits = EVP_PKEY_get_bits(k);
	/* the private key never shows in the blob */
	assert_null(memmem(blob, bn, out, on));
	*der = malloc(on);
	assert_non_null(*der);
	memcpy(*der, out, on);
	*der_n = on;
	OPENSSL_free(pub);
	EVP_PKEY_free(k);
	PKCS8_PRIV_KEY_INFO_free(p8);
	sec_free(out, HSM_DEK_MAX);
	return bits;
}

static void gen_check(struct fx *f, enum hsm_kp_type type, int want_id, int want_bits)
{
	uint8_t blob[HSM_KP_BLOB_MAX], spki[HSM_SPKI_MAX];
	size_t bn = 0, sn = 0, dn = 0;
	uint8_t *der = NULL;
	assert_int_equal(hsm_kp_generate_wrapped(f->s, type, &b_priv, blob, sizeof blob, &bn, spki,
						 sizeof spki, &sn), CF_OK);
	struct hsm_blob_info bi;
	assert_int_equal(hsm_blob_info_get(blob, bn, &bi), CF_OK);
	assert_int_equal(bi.mech, HSM_BLOB_MECH_KWP_GCM);
	assert_int_equal(bi.kek_version, hsm_kek_current(f->h));
	assert_int_equal(bi.dek_len % 8, 0);
	assert_int_equal(check_pair(f->s, blob, bn, spki, sn, want_id, &der, &dn), want_bits);
	free(der);
	/* nothing left in the HSM: no session pair, no KEK copy allowed to wrap */
	assert_int_equal(count_session(f->s, CKO_PRIVATE_KEY, false), 0);
	assert_int_equal(count_session(f->s, CKO_PUBLIC_KEY, false), 0);
	assert_int_equal(count_session(f->s, CKO_SECRET_KEY, true), 0);
}

static void t_rsa2048(void **st)
{
	gen_check(*st, HSM_KP_RSA_2048, EVP_PKEY_RSA, 2048);
}

static void t_rsa3072_4096(void **st)
{
	gen_check(*st, HSM_KP_RSA_3072, EVP_PKEY_RSA, 3072);
	gen_check(*st, HSM_KP_RSA_4096, EVP_PKEY_RSA, 4096);
}

static void t_ec(void **st)
{
	gen_check(*st, HSM_KP_EC_P256, EVP_PKEY_EC, 256);
	gen_check(*st, HSM_KP_EC_P384, EVP_PKEY_EC, 384);
}

/* bound to (uid, type); tampering anywhere fails closed */
static void t_binding(void **st)
{
	struct fx *f = *st;
	uint8_t blob[HSM_KP_BLOB_MAX], mod[HSM_KP_BLOB_MAX], spki[HSM_SPKI_MAX], out[HSM_DEK_MAX];
	size_t bn = 0, sn = 0, on = 7;
	assert_int_equal(hsm_kp_generate_wrapped(f->s, HSM_KP_EC_P256, &b_priv, blob, sizeof blob,
						 &bn, spki, sizeof spki, &sn), CF_OK);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &b_other, out, sizeof out, &on),
			 CF_E_HSM_UNWRAP);
	assert_int_equal(on, 0);
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &b_type, out, sizeof out, &on),
			 CF_E_HSM_UNWRAP);
	/* relabelled as a plain GCM blob: the header is authenticated */
	memcpy(mod, blob, bn);
	mod[5] = HSM_BLOB_MECH_AES_GCM;
	assert_int_equal(hsm_dek_unwrap(f->s, mod, bn, &b_priv, out, sizeof out, &on),
			 CF_E_HSM_UNWRAP);
	/* a flipped bit of the sealed KWP ciphertext */
	memcpy(mod, blob, bn);
	mod[HSM_BLOB_HDR_LEN + 12 + 3] ^= 0x10;
	assert_int_equal(hsm_dek_unwrap(f->s, mod, bn, &b_priv, out, sizeof out, &on),
			 CF_E_HSM_UNWRAP);
	/* a KWP length that is not whole blocks is malformed */
	memcpy(mod, blob, bn);
	struct hsm_blob_hdr h;
	assert_int_equal(hsm_blob_parse(mod, bn, &h), CF_OK);
	h.dek_len -= 4;
	hsm_blob_hdr_write(&h, mod);
	assert_int_equal(hsm_dek_unwrap(f->s, mod, bn - 4, &b_priv, out, sizeof out, &on),
			 CF_E_HSM_BLOB);
	/* too small an output buffer */
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &b_priv, out, 8, &on), CF_E_NO_SPACE);
	/* bad arguments */
	size_t mn = 0;
	assert_int_equal(hsm_kp_generate_wrapped(f->s, (enum hsm_kp_type)9, &b_priv, mod,
						 sizeof mod, &mn, spki, sizeof spki, &sn),
			 CF_E_INVALID_ARG);
	assert_int_equal(hsm_kp_generate_wrapped(f->s, HSM_KP_EC_P256, &b_priv, mod, 40, &mn,
						 spki, sizeof spki, &sn), CF_E_NO_SPACE);
	assert_int_equal(sn, 0);
	assert_int_equal(mn, 0);
	assert_int_equal(hsm_kp_generate_wrapped(f->s, HSM_KP_EC_P256, &b_priv, mod, sizeof mod,
						 &mn, spki, 10, &sn), CF_E_NO_SPACE);
	/* still works */
	assert_int_equal(hsm_dek_unwrap(f->s, blob, bn, &b_priv, out, sizeof out, &on), CF_OK);
	sec_wipe(out, sizeof out);
}

/* KEK rotation: re-wrapped inside the HSM under the new KEK, same private key */
static void t_rotation(void **st)
{
	struct fx *f = *st;
	uint8_t blob[HSM_KP_BLOB_MAX], blob2[HSM_KP_BLOB_MAX], spki[HSM_SPKI_MAX];
	size_t bn = 0, bn2 = 0, sn = 0, d1n = 0, d2n = 0;
	uint8_t *d1 = NULL, *d2 = NULL;
	uint32_t old = hsm_kek_current(f->h), nv = 0;
	assert_int_equal(hsm_kp_generate_wrapped(f->s, HSM_KP_RSA_2048, &b_priv, blob, sizeof blob,
						 &bn, spki, sizeof spki, &sn), CF_OK);
	check_pair(f->s, blob, bn, spki, sn, EVP_PKEY_RSA, &d1, &d1n);
	assert_int_equal(hsm_kek_create(f->s, &nv), CF_OK);
	assert_int_equal(hsm_kek_make_current(f->h, nv), CF_OK);
	assert_int_equal(hsm_dek_rewrap(f->s, blob, bn, &b_priv, blob2, sizeof blob2, &bn2), CF_OK);
	struct hsm_blob_info bi;
	assert_int_equal(hsm_blob_info_get(blob2, bn2, &bi), CF_OK);
	assert_int_equal(bi.kek_version, nv);
	assert_int_equal(bi.mech, HSM_BLOB_MECH_KWP_GCM);
	check_pair(f->s, blob2, bn2, spki, sn, EVP_PKEY_RSA, &d2, &d2n);
	assert_int_equal(d1n, d2n);
	assert_memory_equal(d1, d2, d1n);
	/* bound to the same row after the re-wrap */
	assert_int_equal(hsm_dek_rewrap(f->s, blob, bn, &b_other, blob2, sizeof blob2, &bn2),
			 CF_E_HSM_UNWRAP);
	/* the old KEK gone: the old blob cannot be opened, the new one can */
	assert_int_equal(hsm_kek_destroy(f->s, old), CF_OK);
	assert_int_equal(hsm_dek_rewrap(f->s, blob, bn, &b_priv, blob2, sizeof blob2, &bn2),
			 CF_E_HSM_WRONG_KEK);
	assert_int_equal(count_session(f->s, CKO_SECRET_KEY, true), 0);
	free(d1);
	free(d2);
}

/* The session dies right after C_GenerateKeyPair (the pair went with it): the operation
 * recovers the session and makes a new pair from the start; nothing is left behind. */
static void t_fault_after_generate(void **st)
{
	struct fx *f = *st;
	uint8_t blob[HSM_KP_BLOB_MAX], spki[HSM_SPKI_MAX];
	size_t bn = 0, sn = 0, dn = 0;
	uint8_t *der = NULL;
	struct hsm_stats s0, s1;
	hsm_stats_get(f->h, &s0);
	hsm_test_fault_set(f->h, HSM_TF_KP_AFTER_CREATE);
	assert_int_equal(hsm_kp_generate_wrapped(f->s, HSM_KP_EC_P256, &b_priv, blob, sizeof blob,
						 &bn, spki, sizeof spki, &sn), CF_OK);
	hsm_stats_get(f->h, &s1);
	assert_int_equal(s1.reopens, s0.reopens + 1);
	assert_int_equal(check_pair(f->s, blob, bn, spki, sn, EVP_PKEY_EC, &der, &dn), 256);
	free(der);
	assert_int_equal(count_session(f->s, CKO_PRIVATE_KEY, false), 0);
	assert_int_equal(count_session(f->s, CKO_SECRET_KEY, true), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_rsa2048, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_ec, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_binding, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_rotation, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_fault_after_generate, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_rsa3072_4096, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
