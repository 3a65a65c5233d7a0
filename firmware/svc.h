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
};

const char *svc_state_name(enum svc_state s);

#endif
