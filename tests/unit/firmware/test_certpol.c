/* The KMIP Certify CA's acceptance rules (firmware/pki/certpol.c): which keys are certified,
 * how a certificate request is parsed and its signature checked, subject DN text. Keys and
 * requests are made here with OpenSSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "firmware/pki/certpol.h"

static EVP_PKEY *ec(const char *curve)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	assert_non_null(k);
	return k;
}

static EVP_PKEY *rsa(unsigned bits)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	assert_non_null(k);
	return k;
}

static void test_key_policy(void **state)
{
	struct {
		EVP_PKEY *k;
		enum certpol_key want;
	} cases[] = {
		{ rsa(1024), CERTPOL_KEY_RSA_SMALL },  { rsa(2048), CERTPOL_KEY_OK },
		{ ec("P-256"), CERTPOL_KEY_OK },       { ec("P-384"), CERTPOL_KEY_OK },
		{ ec("P-521"), CERTPOL_KEY_CURVE },    { ec("secp256k1"), CERTPOL_KEY_CURVE },
		{ EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), CERTPOL_KEY_TYPE },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_non_null(cases[i].k);
		assert_int_equal(certpol_key_check(cases[i].k), cases[i].want);
		assert_non_null(certpol_key_why(cases[i].want));
		EVP_PKEY_free(cases[i].k);
	}
	assert_int_equal(certpol_key_check(NULL), CERTPOL_KEY_TYPE);
	assert_non_null(strstr(certpol_key_why(CERTPOL_KEY_RSA_SMALL), "2048"));
}

/* A PKCS#10 request for k, subject CN=cn, self-signed; DER in der[*n]. */
static void make_req(EVP_PKEY *k, const char *cn, uint8_t *der, size_t cap, size_t *n)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *nm = X509_NAME_new();
	unsigned char *p = der;
	int len;

	assert_non_null(r);
	assert_int_equal(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
						    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_REQ_set_subject_name(r, nm), 1);
	assert_int_equal(X509_REQ_set_pubkey(r, k), 1);
	assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	len = i2d_X509_REQ(r, NULL);
	assert_true(len > 0 && (size_t)len <= cap);
	assert_int_equal(i2d_X509_REQ(r, &p), len);
	*n = (size_t)len;
	X509_NAME_free(nm);
	X509_REQ_free(r);
}

static void test_req_parse(void **state)
{
	static uint8_t der[4096], bad[4097], pem[8192];
	EVP_PKEY *k = ec("P-256");
	X509_REQ *x = NULL;
	size_t n, pn;
	BIO *b;
	char *pp;
	(void)state;

	make_req(k, "req.example", der, sizeof der, &n);
	assert_int_equal(certpol_req_parse(CERTPOL_REQ_DER, der, n, &x), CF_OK);
	assert_non_null(x);
	assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(x), k), 1);
	X509_REQ_free(x);

	/* PEM of the same request */
	b = BIO_new(BIO_s_mem());
	{
		const unsigned char *p = der;
		X509_REQ *r = d2i_X509_REQ(NULL, &p, (long)n);
		assert_int_equal(PEM_write_bio_X509_REQ(b, r), 1);
		X509_REQ_free(r);
	}
	pn = (size_t)BIO_get_mem_data(b, &pp);
	assert_true(pn < sizeof pem);
	memcpy(pem, pp, pn);
	BIO_free(b);
	assert_int_equal(certpol_req_parse(CERTPOL_REQ_PEM, pem, pn, &x), CF_OK);
	X509_REQ_free(x);
	/* the wrong format for the bytes */
	assert_int_equal(certpol_req_parse(CERTPOL_REQ_DER, pem, pn, &x), CF_E_BAD_MESSAGE);
	assert_int_equal(certpol_req_parse(CERTPOL_REQ_PEM, der, n, &x), CF_E_BAD_MESSAGE);
	assert_null(x);
	/* a trailing byte, truncation, emptiness, too large */
	memcpy(bad, der, n);
	bad[n] = 0;
	assert_int_equal(certpol_req_parse(CERTPOL_REQ_DER, bad, n + 1, &x), CF_E_BAD_MESSAGE);
	assert_int_equal(certpol_req_parse(CERTPOL_REQ_DER, der, n - 1, &x), CF_E_BAD_MESSAGE);
	assert_int_equal(certpol_req_parse(CERTPOL_REQ_DER, der, 0, &x), CF_E_BAD_MESSAGE);
	assert_int_equal(certpol_req_parse(CERTPOL_REQ_DER, NULL, 10, &x), CF_E_BAD_MESSAGE);
	assert_int_equal(certpol_req_parse(CERTPOL_REQ_DER, der, CERTPOL_REQ_MAX + 1, &x),
			 CF_E_BAD_MESSAGE);
	assert_int_equal(certpol_req_parse((enum certpol_req_fmt)9, der, n, &x), CF_E_BAD_MESSAGE);
	/* an altered signature: parses, does not verify */
	memcpy(bad, der, n);
	bad[n - 3] ^= 0x01;
	assert_int_equal(certpol_req_parse(CERTPOL_REQ_DER, bad, n, &x), CF_E_BAD_VALUE);
	assert_null(x);
	/* an altered subject: the signature no longer covers it */
	memcpy(bad, der, n);
	{
		uint8_t *hit = memmem(bad, n, "req.example", 11);
		assert_non_null(hit);
		hit[0] = 'R';
	}
	assert_int_equal(certpol_req_parse(CERTPOL_REQ_DER, bad, n, &x), CF_E_BAD_VALUE);
	EVP_PKEY_free(k);
}

static void test_dn_parse(void **state)
{
	X509_NAME *nm = NULL;
	char buf[256];
	const char *bad[] = { "", "CN", "CN=", "=x", "XX=y", "CN=a+b", "CN=a\\,b", "CN=a,",
			      "CN=\"q\"", ",CN=a" };
	(void)state;

	assert_int_equal(certpol_dn_parse("CN=host.example, O=Coffre QA ,C=FR", 34, &nm), CF_OK);
	assert_int_equal(X509_NAME_entry_count(nm), 3);
	assert_int_equal(X509_NAME_get_text_by_NID(nm, NID_commonName, buf, sizeof buf), 12);
	assert_string_equal(buf, "host.example");
	assert_true(X509_NAME_get_text_by_NID(nm, NID_organizationName, buf, sizeof buf) > 0);
	assert_string_equal(buf, "Coffre QA");
	X509_NAME_free(nm);
	assert_int_equal(certpol_dn_parse("commonName=x,emailAddress=a@b.example", 37, &nm), CF_OK);
	assert_int_equal(X509_NAME_entry_count(nm), 2);
	X509_NAME_free(nm);
	/* the length is honoured, not the NUL */
	assert_int_equal(certpol_dn_parse("CN=ab,O=zzz", 5, &nm), CF_OK);
	assert_int_equal(X509_NAME_entry_count(nm), 1);
	X509_NAME_free(nm);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		nm = (X509_NAME *)1;
		assert_int_equal(certpol_dn_parse(bad[i], strlen(bad[i]), &nm), CF_E_BAD_VALUE);
		assert_null(nm);
	}
	assert_int_equal(certpol_dn_parse(NULL, 3, &nm), CF_E_BAD_VALUE);
	{
		static char big[CERTPOL_DN_MAX + 8];
		memset(big, 'a', sizeof big);
		memcpy(big, "CN=", 3);
		assert_int_equal(certpol_dn_parse(big, CERTPOL_DN_MAX + 1, &nm), CF_E_BAD_VALUE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_policy),
		cmocka_unit_test(test_req_parse),
		cmocka_unit_test(test_dn_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
