/* The appliance CA (the internal CA): a self-signed CA certificate and the
 * certificates it issues (server, client, CSR signing), every signature made by a key pair
 * that lives in the HSM.
 *
 * How a certificate is signed (no engine, no provider): the TBSCertificate is built with
 * OpenSSL's X509 API (subject, issuer, validity, public key, extensions, the signature
 * AlgorithmIdentifier), encoded with i2d_re_X509_tbs, hashed in software (SHA-256 for P-256
 * and RSA, SHA-384 for P-384), and the digest is signed with hsm_sign on the CA key (ECDSA
 * r||s converted to DER with hsm_ecdsa_sig_to_der, or RSA PKCS#1 v1.5). The Certificate
 * SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING } is assembled here and parsed back with
 * d2i_X509; the result is verified against the CA public key before it is returned. The
 * libp11 engine is therefore only used by the TLS layer (server key), never by the CA.
 *
 * The CA key pair is found on the token by its label (hsm_keypair_find). Client keys made by
 * ca_client_key_new are SOFTWARE keys: they are the QA client's keys, written to files for
 * the client, never the appliance's. */
#ifndef COFFRE_FIRMWARE_CA_H
#define COFFRE_FIRMWARE_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"
#include "hsm/hsm.h"

struct x509_st;     /* OpenSSL X509 */
struct evp_pkey_st; /* OpenSSL EVP_PKEY */

#define CA_SAN_MAX 8
#define CA_CN_MAX 64
#define CA_KEY_LABEL "coffre-ca" /* the appliance CA key pair on the token (provision, init) */

enum ca_profile {
	CA_PROFILE_ROOT = 1,   /* CA:TRUE, keyCertSign + cRLSign */
	CA_PROFILE_SERVER = 2, /* CA:FALSE, digitalSignature (+keyEncipherment for RSA),
	                          EKU serverAuth + clientAuth, SANs */
	CA_PROFILE_CLIENT = 3, /* CA:FALSE, digitalSignature (+keyEncipherment for RSA),
	                          EKU clientAuth + serverAuth (what vCenter
	                          expects of its client certificate) */
};

/* The CA: its key pair in the HSM (by CKA_LABEL) and, once it exists, its certificate. */
struct ca_signer {
	hsm_sess *sess;
	const char *key_label;
	struct x509_st *cert;      /* borrowed; NULL only while creating the root */
};

/* What to put in an issued certificate. */
struct ca_issue {
	enum ca_profile profile;
	const char *cn;                    /* subject CN, 1..CA_CN_MAX bytes */
	const char *org;                   /* subject O; NULL = none */
	struct evp_pkey_st *pub;           /* subject public key (borrowed) */
	const char *dns[CA_SAN_MAX];       /* subjectAltName DNS names */
	size_t n_dns;
	const char *ip[CA_SAN_MAX];        /* subjectAltName IP addresses (numeric) */
	size_t n_ip;
	unsigned days;                     /* validity from now - 5 min; 1..36500 */
};

/* The public key of the HSM key pair labelled `label`, as an EVP_PKEY (from its SPKI). */
MUST_USE cf_err ca_hsm_pubkey(hsm_sess *s, const char *label, struct evp_pkey_st **out);

/* Create the self-signed root certificate for the CA key pair s/key_label, subject CN=cn
 * (and O=org when not NULL). *out = new X509 (X509_free). */
MUST_USE cf_err ca_root_create(hsm_sess *s, const char *key_label, const char *cn,
			       const char *org, unsigned days, struct x509_st **out);

/* Issue a certificate signed by ca (ca->cert required). *out = new X509. */
MUST_USE cf_err ca_cert_issue(const struct ca_signer *ca, const struct ca_issue *req,
			      struct x509_st **out);

/* The KMIP Certify CA (firmware/ops/ops_certify.c): a key pair of its own on the token, never
 * the appliance CA's, whose certificate no TLS trust store holds (docs/security.md "Certify"). */
#define CA_CERTIFY_LABEL "coffre-certify-ca"
#define CA_CERTIFY_ID 0xce, 0x01
#define CA_CERTIFY_CN "Coffre KMIP Certify CA"
#define CA_CERTIFY_DAYS 3650u

struct X509_name_st; /* OpenSSL X509_NAME */

/* Issue a certificate for pub with the subject as given (copied), valid from not_before to
 * not_after (seconds since the epoch), signed by ca (ca->cert required): CA:FALSE, keyUsage
 * digitalSignature (+ keyEncipherment for RSA), no extended key usage, subject / authority
 * key identifiers. What the KMIP Certify operation issues. *out = new X509. */
MUST_USE cf_err ca_cert_issue_name(const struct ca_signer *ca, const struct X509_name_st *subject,
				   struct evp_pkey_st *pub, int64_t not_before, int64_t not_after,
				   struct x509_st **out);

/* Sign a PKCS#10 request (PEM, pem[n]): its self-signature must verify; the subject CN
 * (required) becomes the certificate's CN; nothing else is copied from the request (no
 * extensions are honoured: the profile decides). CF_E_BAD_VALUE for a malformed request or a
 * bad signature. */
MUST_USE cf_err ca_csr_sign(const struct ca_signer *ca, const char *pem, size_t n,
			    enum ca_profile profile, unsigned days, struct x509_st **out);

/* Check a PKCS#10 request (PEM, pem[n]) without signing it, for a clear console message:
 *   CF_OK            parses, its self-signature verifies, its subject has a CN (copied to
 *                    cn when not NULL)
 *   CF_E_BAD_MESSAGE not a PEM certificate request (garbage, truncated, wrong PEM type)
 *   CF_E_BAD_VALUE   the self-signature does not verify (altered request)
 *   CF_E_MISSING     no subject CN, or one longer than CA_CN_MAX */
MUST_USE cf_err ca_csr_check(const char *pem, size_t n, char cn[static CA_CN_MAX + 1]);

/* The first certificate of a PEM text (pem[n]). CF_E_BAD_MESSAGE when there is none. */
MUST_USE cf_err ca_cert_from_pem(const char *pem, size_t n, struct x509_st **out);
/* x as PEM in a malloc'd NUL-terminated string (*out, free()). */
MUST_USE cf_err ca_cert_to_pem(struct x509_st *x, char **out);
/* k as unencrypted PKCS#8 PEM in sec_alloc memory: *out, *cap (the size to pass to
 * sec_free; the text is NUL-terminated). The caller wipes it with sec_free after use. */
MUST_USE cf_err ca_key_to_pem(struct evp_pkey_st *k, char **out, size_t *cap);

/* A fresh software EC P-256 key pair for a client (QA). */
MUST_USE cf_err ca_client_key_new(bool p384, struct evp_pkey_st **out);

/* Write a certificate as PEM to path (created 0644, must not exist). */
MUST_USE cf_err ca_cert_write(const char *path, struct x509_st *x);
/* Write a private key as unencrypted PKCS#8 PEM to path (created 0600, O_EXCL|O_NOFOLLOW). */
MUST_USE cf_err ca_key_write(const char *path, struct evp_pkey_st *k);
/* Read the first certificate of a PEM file. */
MUST_USE cf_err ca_cert_read(const char *path, struct x509_st **out);

#endif
