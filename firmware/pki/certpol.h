/* What the KMIP Certify CA accepts (firmware/ops/ops_certify.c): pure helpers over OpenSSL
 * objects, no HSM, no store (unit-tested in tests/unit/firmware/test_certpol.c).
 *   - key policy: RSA 2048..4096 bits, EC P-256 / P-384; nothing else is certified;
 *   - certificate requests: PKCS#10 as DER (Certificate Request Type PKCS#10) or as PEM text
 *     (Certificate Request Type PEM), whose self-signature must verify;
 *   - a subject Distinguished Name given as text ("CN=a, O=b, C=FR", the 1.x Certificate
 *     Subject attribute). */
#ifndef COFFRE_FIRMWARE_PKI_CERTPOL_H
#define COFFRE_FIRMWARE_PKI_CERTPOL_H

#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

struct evp_pkey_st;  /* OpenSSL EVP_PKEY */
struct X509_req_st;  /* OpenSSL X509_REQ */
struct X509_name_st; /* OpenSSL X509_NAME */

#define CERTPOL_RSA_MIN 2048
#define CERTPOL_RSA_MAX 4096
#define CERTPOL_REQ_MAX 16384u /* largest certificate request accepted (bytes, DER or PEM) */
#define CERTPOL_DN_MAX 1024u   /* largest subject DN text */

enum certpol_key {
	CERTPOL_KEY_OK = 0,
	CERTPOL_KEY_RSA_SMALL,   /* RSA below CERTPOL_RSA_MIN bits */
	CERTPOL_KEY_RSA_LARGE,   /* RSA above CERTPOL_RSA_MAX bits */
	CERTPOL_KEY_CURVE,       /* EC on a curve other than P-256 / P-384 */
	CERTPOL_KEY_TYPE,        /* another algorithm (DSA, Ed25519, ...) */
};

/* May a certificate be issued for k? */
enum certpol_key certpol_key_check(const struct evp_pkey_st *k);
/* The refusal's text (static, no key material). */
const char *certpol_key_why(enum certpol_key v);

/* Certificate request formats (the KMIP Certificate Request Type values we take). */
enum certpol_req_fmt {
	CERTPOL_REQ_DER = 1, /* PKCS#10 CertificationRequest, DER */
	CERTPOL_REQ_PEM = 2, /* the same, PEM ("-----BEGIN CERTIFICATE REQUEST-----") */
};
/* Parse req[n] in fmt and verify its self-signature. *out = new X509_REQ (X509_REQ_free).
 * CF_E_BAD_MESSAGE: not a certificate request in that format (garbage, trailing bytes, too
 * large); CF_E_BAD_VALUE: the signature does not verify (altered request). */
MUST_USE cf_err certpol_req_parse(enum certpol_req_fmt fmt, const uint8_t *req, size_t n,
				  struct X509_req_st **out);

/* "CN=a, O=b" -> *out (new X509_NAME). Attributes are OpenSSL short or long names (CN, O, OU,
 * C, L, ST, emailAddress, ...), separated by ',' (spaces around ignored); a ',' '+' '\\' '"'
 * inside a value, an empty value or an unknown attribute is CF_E_BAD_VALUE. */
MUST_USE cf_err certpol_dn_parse(const char *s, size_t n, struct X509_name_st **out);

#endif
