/* coffred's entry points: the service (svc.c) and QA provisioning (provision.c), called from
 * firmware/main.c. Exit statuses are those of the process. */
#ifndef COFFRE_FIRMWARE_COFFRED_H
#define COFFRE_FIRMWARE_COFFRED_H

#include <stdbool.h>
#include <stdint.h>

#include "board/board.h"
#include "firmware/svc/svc.h"
#include "hsm/hsm.h"

#define COFFRED_EXIT_OK 0
#define COFFRED_EXIT_FAIL 1     /* could not start: config, HSM, store, TLS */
#define COFFRED_EXIT_USAGE 64
#define COFFRED_EXIT_ERROR_STATE 3 /* stopped while latched in ERROR */

#define COFFRED_VENDOR "Coffre KMIP appliance"

struct svc_run_opts {
	const char *config_path;          /* -c FILE, required */
	bool console;                     /* --console given */
	enum board_console_kind console_kind;
	const char *console_path;         /* for BOARD_CONSOLE_PATH */
	bool port_override;               /* --port N (0 = any free port) */
	uint16_t port;
	char *const *argv;                /* main's argv: a zeroize restarts the program with it */
};

/* Boot (board -> hardening -> config -> HSM -> login -> self-tests -> store -> KEK), serve
 * KMIP while READY, stop cleanly on SIGTERM/SIGINT. Prints "coffred: ready kmip=ADDR:PORT" on
 * stderr once it serves. Returns the exit status. */
int svc_run(const struct svc_run_opts *o);

/* `coffred provision --qa DIR [--port PORT] [--clients N] [--server-key ec|rsa]` and
 * `coffred provision --fresh DIR [--port PORT]`; argv[0] is "provision". Returns the exit
 * status. */
int provision_main(int argc, char **argv);

/* ---- the appliance's key material (provision.c; used by provisioning and by `init`) ---- */

#define PROV_CA_LABEL "coffre-ca"        /* CA key pair on the token (CKA_LABEL) */
#define PROV_CA_ID 0xca, 0x01            /* its CKA_ID */
#define PROV_SERVER_LABEL "tls-server"   /* TLS server key pair */
#define PROV_SERVER_ID 0x5e, 0x01
#define PROV_FRESH_TOKEN "coffre"        /* token label of `provision --fresh` appliances */
#define PROV_APPLIANCE_CA_CN "Coffre Appliance CA"
#define PROV_CA_DAYS 3650u
#define PROV_CERT_DAYS 825u

struct x509_st;

struct prov_keys {
	bool rsa;                     /* RSA-2048 server key (else EC P-256) */
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
 * key pair and the server key pair (PROV_*_LABEL / _ID), the self-signed CA certificate and
 * the server certificate it signs (825 days), written atomically (temporary file + rename,
 * directories created) to k->ca_path and k->cert_path. Errors are also printed on stderr. */
MUST_USE cf_err prov_appliance_keys(hsm *h, hsm_sess *s, struct prov_keys *k);

#endif
