/* The pure helpers behind `audit remote set` (firmware/svc/auditfwd.h):
 *   - audit_ca_check: a pasted CA bundle is 1..8 CA certificates and nothing else (a leaf, a
 *     private key, garbage, an empty or oversized paste are refused, with a reason);
 *   - audit_remote_format / audit_remote_parse: the one meta row round-trips, "off" too, and a
 *     malformed row is refused;
 *   - audit_remote_name_ok. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "firmware/svc/auditfwd.h"

/* A string of the n bytes at p (a memory BIO's data is not NUL-terminated: strndup would read
 * one byte past it to look for the NUL). */
static char *dup_n(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* A PEM certificate (malloc'd): a CA (CA:TRUE, keyCertSign) or a leaf, self-signed. */
static char *mk_cert(const char *cn, bool ca, char **key_pem)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *out;
	long n;

	assert_non_null(k);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
						 ca ? "critical,CA:TRUE" : "CA:FALSE");
	X509_EXTENSION *ku = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
						 ca ? "keyCertSign,cRLSign" : "digitalSignature");
	X509_add_ext(x, bc, -1);
	X509_add_ext(x, ku, -1);
	X509_EXTENSION_free(bc);
	X509_EXTENSION_free(ku);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	n = BIO_get_mem_data(b, &p);
	out = dup_n(p, (size_t)n);
	if (key_pem != NULL) {
		BIO *kb = BIO_new(BIO_s_mem());
		assert_int_equal(PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL), 1);
		n = BIO_get_mem_data(kb, &p);
		*key_pem = dup_n(p, (size_t)n);
		BIO_free(kb);
	}
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
	return out;
}

static char *cat(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *p = malloc(n);
	snprintf(p, n, "%s%s", a, b);
	return p;
}

static void t_ca_check(void **s)
{
	(void)s;
	char *key = NULL;
	char *ca = mk_cert("colca", true, NULL), *ca2 = mk_cert("colca2", true, NULL);
	char *leaf = mk_cert("col", false, &key);
	struct audit_ca_info ci;
	const char *why = NULL;

	assert_int_equal(audit_ca_check(ca, strlen(ca), &ci, &why), CF_OK);
	assert_int_equal(ci.n, 1);
	assert_string_equal(ci.subject, "/CN=colca");
	assert_int_equal(strlen(ci.fp), 64);
	assert_false(ci.expired);
	char *both = cat(ca, ca2);
	assert_int_equal(audit_ca_check(both, strlen(both), &ci, &why), CF_OK);
	assert_int_equal(ci.n, 2);
	assert_string_equal(ci.subject, "/CN=colca");
	/* text around the blocks (a pasted `openssl x509 -text`) is ignored */
	char *noisy = cat("Certificate:\n  Subject: CN=colca\n", ca);
	assert_int_equal(audit_ca_check(noisy, strlen(noisy), &ci, &why), CF_OK);

	assert_int_equal(audit_ca_check(leaf, strlen(leaf), &ci, &why), CF_E_BAD_VALUE);
	assert_non_null(strstr(why, "not a CA certificate"));
	char *withkey = cat(ca, key);
	assert_int_equal(audit_ca_check(withkey, strlen(withkey), &ci, &why), CF_E_BAD_VALUE);
	assert_non_null(strstr(why, "not a certificate"));
	assert_int_equal(ci.n, 0);
	static const char garbage[] = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n"
				      "-----END CERTIFICATE-----\n";
	assert_int_equal(audit_ca_check(garbage, strlen(garbage), &ci, &why), CF_E_BAD_VALUE);
	assert_non_null(strstr(why, "does not parse"));
	/* a cut paste: the BEGIN line without its body */
	assert_int_equal(audit_ca_check(ca, 40, &ci, &why), CF_E_BAD_VALUE);
	assert_int_equal(audit_ca_check("hello\n", 6, &ci, &why), CF_E_BAD_VALUE);
	assert_non_null(strstr(why, "no PEM certificate"));
	assert_int_equal(audit_ca_check("", 0, &ci, &why), CF_E_BAD_VALUE);
	assert_int_equal(audit_ca_check(ca, strlen(ca) + 1, &ci, &why), CF_E_BAD_VALUE); /* NUL */
	char *big = malloc(AUDIT_CA_PEM_MAX + 2);
	memset(big, 'A', AUDIT_CA_PEM_MAX + 1);
	big[AUDIT_CA_PEM_MAX + 1] = '\0';
	assert_int_equal(audit_ca_check(big, AUDIT_CA_PEM_MAX + 1, &ci, &why), CF_E_TOO_LARGE);
	char *nine = strdup("");
	for (int i = 0; i < 9; i++) {
		char *t = cat(nine, ca);
		free(nine);
		nine = t;
	}
	assert_int_equal(audit_ca_check(nine, strlen(nine), &ci, &why), CF_E_BAD_VALUE);
	assert_non_null(strstr(why, "too many"));
	free(nine);
	free(big);
	free(noisy);
	free(withkey);
	free(both);
	free(ca);
	free(ca2);
	free(leaf);
	free(key);
}

static void t_saved(void **s)
{
	(void)s;
	struct audit_remote_saved sv;
	char *v = NULL;

	assert_int_equal(audit_remote_format("collector.example:6514", "syslog.example",
					     "-----BEGIN CERTIFICATE-----\nAA\n", &v), CF_OK);
	assert_int_equal(audit_remote_parse(v, &sv), CF_OK);
	assert_false(sv.off);
	assert_string_equal(sv.remote, "collector.example:6514");
	assert_string_equal(sv.host, "collector.example");
	assert_int_equal(sv.port, 6514);
	assert_string_equal(sv.name, "syslog.example");
	assert_string_equal(sv.ca_pem, "-----BEGIN CERTIFICATE-----\nAA\n");
	free(v);
	assert_int_equal(audit_remote_format("[2001:db8::7]:514", "2001:db8::7", "X", &v), CF_OK);
	assert_int_equal(audit_remote_parse(v, &sv), CF_OK);
	assert_string_equal(sv.host, "2001:db8::7");
	free(v);
	assert_int_equal(audit_remote_format(NULL, NULL, NULL, &v), CF_OK);
	assert_string_equal(v, "off");
	assert_int_equal(audit_remote_parse(v, &sv), CF_OK);
	assert_true(sv.off);
	free(v);
	assert_int_equal(audit_remote_format("nohost", "n", "X", &v), CF_E_BAD_VALUE);
	assert_null(v);
	assert_int_equal(audit_remote_format("h:1", "two words", "X", &v), CF_E_BAD_VALUE);
	assert_int_equal(audit_remote_format("h:1", "", "X", &v), CF_E_BAD_VALUE);
	static const char *const bad[] = { "", "of", "h:1 n", "h:1 n\n", "h:1\nX", "h n\nX",
					   "h:0 n\nX", "h:1  n\nX" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(audit_remote_parse(bad[i], &sv), CF_E_BAD_VALUE);
	assert_true(audit_remote_name_ok("collector.example"));
	assert_false(audit_remote_name_ok("a\tb"));
	assert_false(audit_remote_name_ok(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_ca_check),
		cmocka_unit_test(t_saved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
