/* The service's state changes (unseal, init, zeroize, self-tests), called by the console; its
 * life from open to close, driven by main.c, is svc/run.h. The context they act on, struct
 * svc, is firmware/core/context.h. */
#ifndef COFFRE_FIRMWARE_SVC_H
#define COFFRE_FIRMWARE_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"
#include "firmware/core/config.h"
#include "firmware/core/context.h"
#include "hsm/hsm.h"


/* ---- control from the console thread (firmware/console; implemented in svc.c) ---------
 * Each call serialises with the other state changes; the console is their only caller. */

/* SEALED -> READY: log in with the user PIN, run the power-up self-tests, open the store,
 * start KMIP. A wrong PIN leaves it SEALED (CF_E_HSM_PIN); other failures latch ERROR. */
MUST_USE cf_err svc_unseal(struct svc *s, const char *pin, size_t n);
/* After `init` set the token up (KEK, CA, server key and certificate written where the
 * config names them): log in with the PIN just chosen and continue the boot to READY. */
MUST_USE cf_err svc_start_serving(struct svc *s, const char *pin, size_t n);
/* Stop KMIP and the KEK job, destroy every object on the token (KEKs, CA and server keys)
 * and the store (objects, clients, accounts; the audit chain restarts with one record of
 * the zeroize, made by actor, e.g. "console:alice"), and return to UNINITIALIZED. With
 * svc_run_opts.restart, then set s->restarting: main.c starts the program again. */
MUST_USE cf_err svc_zeroize_as(struct svc *s, const char *actor);

/* ---- `init` (con_sys.c) --------------------------------------------------------------- */

/* Does the configured token exist and is it initialised (then `init` must ask for its
 * current SO PIN and re-initialise it)? UNINITIALIZED only (CF_E_STATE otherwise). */
MUST_USE cf_err svc_token_probe(struct svc *s, bool *initialised);

/* What `init` collected. PINs are the caller's sec_alloc buffers (not kept). */
struct svc_init_req {
	const uint8_t *so_pin;        /* the new SO PIN */
	size_t so_n;
	const uint8_t *cur_so_pin;    /* NULL: fresh token; else its current SO PIN (forced
	                                 re-initialisation, e.g. after a zeroize) */
	size_t cur_so_n;
	const uint8_t *user_pin;      /* the new user PIN */
	size_t user_n;
	const char *server_names;     /* the server certificate's names as [tls] server_names
	                                 writes them; NULL = [tls] server_names */
};
struct svc_init_result {
	uint32_t kek;                 /* the KEK version created (1) */
	char server_fp[3 * 32];       /* SHA-256 of the server certificate, "AB:CD:..." */
	char ca_fp[3 * 32];           /* SHA-256 of the CA certificate */
	char sans[512];               /* the names in the server certificate, for the operator */
};
/* UNINITIALIZED only: (re-)initialise the token with the new PINs, create KEK 1, the CA key
 * pair and the TLS server key pair on it, issue the CA and server certificates for
 * [tls] server_names and write them (atomically) where [tls] ca / cert name them, and open
 * the store. The state stays UNINITIALIZED (an administrator is created next, then
 * svc_start_serving). Errors: CF_E_HSM_PIN (current SO PIN wrong), CF_E_STATE, others. */
MUST_USE cf_err svc_init_token(struct svc *s, const struct svc_init_req *r,
			       struct svc_init_result *out);

/* The token part of svc_init_token alone, for `backup import` (which restores KEKs and keys
 * instead of creating them): UNINITIALIZED only; meta appliance.state = uninitialized, the
 * token (re-)initialised, s->hsm opened and logged in with the new user PIN. The caller takes
 * sessions from s->hsm, makes the restored KEK current, then calls svc_start_serving (on
 * failure the next svc_token_init / svc_init_token starts from the token again). */
MUST_USE cf_err svc_token_init(struct svc *s, const struct svc_init_req *r);
/* The token label `init` gives the token: [hsm] token, or the token= part of a pkcs11: URI
 * (percent-decoded). CF_E_CONFIG when there is none or it is longer than a label. */
MUST_USE cf_err svc_token_label(const struct config *cfg, char out[HSM_LABEL_MAX + 1]);

/* Run the power-up self-tests now on a pooled session (READY or ERROR with the HSM logged
 * in). *failed = the first test that failed (tests run in enum order; later ones did not
 * run). Recorded in s->selftest_*. */
MUST_USE cf_err svc_selftest(struct svc *s, enum hsm_selftest_id *failed);

struct svc_stats {
	unsigned connections;      /* open KMIP connections */
	uint64_t requests;         /* KMIP requests served since start */
	uint64_t refused_source;   /* connections closed at accept: outside [kmip] allow */
	uint64_t handshakes_ok;       /* KMIP TLS handshakes completed */
	uint64_t handshakes_failed;   /* ... failed or timed out (their log lines: bounded rate) */
	uint64_t refused_busy_source; /* ... max_conns_per_source open from that source */
	uint64_t refused_rate;     /* ... over handshake_rate_per_source */
	uint64_t refused_handshaking; /* ... max_handshaking in handshake */
	int64_t started;           /* when the service started */
	uint16_t port;             /* KMIP port listened on (0 = not serving) */
};
void svc_stats_get(struct svc *s, struct svc_stats *out);

/* The KMIP listener's source allow-list as set at the console (`kmip allow`): kept in the
 * store's meta table under this key ("any" or a canonical CIDR list), it replaces [kmip]
 * allow from the next start on. */
#define SVC_META_KMIP_ALLOW "kmip.allow"
/* The listener's list in force now; false when the listener is not running. */
bool svc_kmip_allow_get(struct svc *s, struct cidr_list *out);
/* The remote audit destination set at the console (`audit remote set` / `off`): one meta row,
 * "off" or "HOST:PORT NAME\n" + the collector's CA bundle (auditfwd.h audit_remote_format).
 * It replaces [audit] remote, remote_name and remote_ca of coffred.conf. */
#define SVC_META_AUDIT_REMOTE "audit.remote"
/* Stop the remote audit sender and start it again from the setting in effect (the caller
 * saved it): true when the service is READY (the sender runs if a destination is set), false
 * otherwise (it reads the setting when READY is reached). */
bool svc_audit_remote_restart(struct svc *s);
/* Put l in force for new connections at once (the caller saved it); false when the listener
 * is not running (it reads the saved list when it starts). */
bool svc_kmip_allow_apply(struct svc *s, const struct cidr_list *l);

#endif
