/* A KMIP client's identity: taken from the certificate the TLS layer verified.
 *
 * Text forms match what an administrator copies from OpenSSL's command line:
 *   subject/issuer  `openssl x509 -noout -subject -nameopt RFC2253 -in c.crt` (after "subject=")
 *   fingerprint     `openssl x509 -noout -fingerprint -sha256 -in c.crt`, as lower-case hex
 *                   without colons (rules accept colons, any case and a "sha256:" prefix)
 *
 * chain_ok says the certificate chained to the appliance CA bundle; when false it was
 * accepted only because its fingerprint is pinned (tls.h). A pinned self-signed certificate
 * can carry ANY subject and issuer, so DN rules never match when chain_ok is false: a pinned
 * certificate is identified by its fingerprint only. */
#ifndef COFFRE_FIRMWARE_IDENTITY_H
#define COFFRE_FIRMWARE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

struct x509_st; /* OpenSSL X509 */
struct ssl_st;  /* OpenSSL SSL */

#define IDENTITY_DN_MAX 1023
#define IDENTITY_CN_MAX 255
#define IDENTITY_FP_LEN 32

struct identity {
	char subject[IDENTITY_DN_MAX + 1];   /* RFC 2253 */
	char issuer[IDENTITY_DN_MAX + 1];    /* RFC 2253 */
	char cn[IDENTITY_CN_MAX + 1];        /* first CN, UTF-8 with control bytes as '?'; "" if none */
	char fp_hex[2 * IDENTITY_FP_LEN + 1];/* SHA-256 of the DER certificate, lower-case hex */
	uint8_t fp[IDENTITY_FP_LEN];
	bool chain_ok;                       /* verified against the CA bundle (not only pinned) */
};

/* Fill *id from a certificate. CF_E_TOO_LARGE when a DN does not fit, CF_E_BAD_VALUE when the
 * certificate cannot be encoded, CF_E_INVALID_ARG for NULLs. *id is zeroed first. */
MUST_USE cf_err identity_from_cert(struct x509_st *cert, bool chain_ok, struct identity *id);

/* The verified peer of a completed server handshake. CF_E_AUTH when there is no peer
 * certificate (cannot happen with tls.c's SSL_VERIFY_FAIL_IF_NO_PEER_CERT). chain_ok is
 * SSL_get_verify_result() == X509_V_OK. */
MUST_USE cf_err identity_from_ssl(struct ssl_st *ssl, struct identity *id);

/* Match a mapping rule (the client table of the config):
 *   "sha256:<hex>"                  the fingerprint (64 hex digits, ':' allowed, any case)
 *   "subject:<dn>"                  exact RFC 2253 subject           } only when chain_ok;
 *   "issuer:<dn>"                   exact RFC 2253 issuer            } parts joined by an
 *   "subject:<dn>;issuer:<dn>"      both (any order)                 } unescaped ';'
 * A malformed rule matches nothing. Inside a DN, RFC 2253 escapes ';' as "\;". */
bool identity_match(const struct identity *id, const char *rule);

#endif
