/* The service context (STYLE 2.7): one struct svc, created in main() and passed explicitly.
 * Per-worker state lives in struct ops_worker (firmware/ops.h); per-connection state in the
 * net layer's connection; per-request state in an arena. */
#ifndef COFFRE_FIRMWARE_SVC_H
#define COFFRE_FIRMWARE_SVC_H

#include <stdatomic.h>
#include <stdint.h>

#include "board/board.h"
#include "board/err.h"
#include "firmware/config.h"
#include "hsm/hsm.h"
#include "kmip/ttlv.h"

/* ARCHITECTURE "Process shape": the appliance states. */
enum svc_state {
	SVC_UNINITIALIZED = 0, /* fresh appliance: console only, KMIP refused */
	SVC_SEALED = 1,        /* initialised, HSM PIN not available: KMIP refused */
	SVC_READY = 2,         /* serving KMIP */
	SVC_ERROR = 3,         /* self-test failed or HSM lost: KMIP answers Operation Failed */
};

struct svc {
	struct config *cfg;         /* loaded config (firmware/config.h), owned */
	struct board board;
	hsm *hsm;                   /* NULL until opened */
	char store_path[512];       /* DIR/store.db: every worker opens its own connection */
	_Atomic int state;          /* enum svc_state */
	char error[256];            /* why ERROR, for the console and logs (no secrets) */
	struct kmip_limits limits;  /* from the config */
	const char *vendor_id;      /* Query: Vendor Identification */
	int64_t (*now)(void *arg);  /* clock, seconds since the epoch (tests may fake it) */
	void *now_arg;
	struct kek_job *kekjob;     /* firmware/kekjob.h: running while READY; NULL otherwise */
};

const char *svc_state_name(enum svc_state s);

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
 * the zeroize), and return to UNINITIALIZED. */
MUST_USE cf_err svc_zeroize(struct svc *s);

struct svc_stats {
	unsigned connections;      /* open KMIP connections */
	uint64_t requests;         /* KMIP requests served since start */
	int64_t started;           /* when the service started */
};
void svc_stats_get(struct svc *s, struct svc_stats *out);

#endif
