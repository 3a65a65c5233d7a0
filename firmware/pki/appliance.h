/* The appliance's key material on its token: the KEK, the CA key pair and the TLS server key
 * pair, the self-signed CA certificate and the server certificate it signs. Made once, by
 * `coffred provision --qa` (firmware/provision) and by the console's `init` (firmware/svc). */
#ifndef COFFRE_FIRMWARE_PKI_APPLIANCE_H
#define COFFRE_FIRMWARE_PKI_APPLIANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"
#include "firmware/pki/ca.h"
#include "hsm/hsm.h"

#define APPLIANCE_CA_LABEL CA_KEY_LABEL      /* CA key pair on the token (CKA_LABEL) */
#define APPLIANCE_CA_ID 0xca, 0x01           /* its CKA_ID */
#define APPLIANCE_SERVER_LABEL "tls-server"  /* TLS server key pair */
#define APPLIANCE_SERVER_ID 0x5e, 0x01
#define APPLIANCE_CA_CN "Coffre Appliance CA" /* the CA subject CN `init` gives */
#define APPLIANCE_CA_DAYS 3650u
#define APPLIANCE_CERT_DAYS 825u

struct appliance_keys {
	bool rsa;                     /* RSA-2048 server key (else EC P-256) */
	bool p384;                    /* EC P-384 CA and server keys (Suite B minLOS_192) */
	const char *ca_cn;            /* CA subject CN */
	const char *server_names;     /* [tls] server_names; "" / NULL = localhost, this host's
	                                 name, 127.0.0.1, ::1 */
	const char *ca_path;          /* where the CA certificate goes ([tls] ca) */
	const char *cert_path;        /* where the server certificate goes ([tls] cert) */
	char *server_uri;             /* out: the server key's PKCS#11 URI */
	size_t uri_cap;
	struct x509_st **ca_out;      /* optional out: the CA certificate (X509_free) */
	uint32_t kek;                 /* out: the KEK version created and made current */
	uint8_t ca_fp[32];            /* out: SHA-256 of the CA certificate (DER) */
	uint8_t server_fp[32];        /* out: SHA-256 of the server certificate (DER) */
	char sans[512];               /* out: the server certificate's names, ", "-separated */
};

/* On a logged-in token with no appliance keys yet: create a KEK and make it current, the CA
 * key pair and the server key pair (APPLIANCE_*_LABEL / _ID), the self-signed CA certificate
 * and the server certificate it signs (APPLIANCE_CERT_DAYS), written atomically (temporary
 * file + rename, directories created) to k->ca_path and k->cert_path. Errors are also printed
 * on stderr. */
MUST_USE cf_err appliance_keys_create(hsm *h, hsm_sess *s, struct appliance_keys *k);

#endif
