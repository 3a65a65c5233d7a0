/* The service context: one struct svc, created in main() and passed explicitly.
 * Per-worker state lives in struct ops_worker (firmware/ops/ops.h); per-connection state in the
 * net layer's connection; per-request state in an arena. */
#ifndef COFFRE_FIRMWARE_CORE_CONTEXT_H
#define COFFRE_FIRMWARE_CORE_CONTEXT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/board.h"
#include "board/err.h"
#include "firmware/core/config.h"
#include "hsm/hsm.h"
#include "kmip/ttlv.h"

/* docs/architecture.md "Process shape": the appliance states. */
enum svc_state {
	SVC_UNINITIALIZED = 0, /* fresh appliance: console only, KMIP refused */
	SVC_SEALED = 1,        /* initialised, HSM PIN not available: KMIP refused */
	SVC_READY = 2,         /* serving KMIP */
	SVC_ERROR = 3,         /* self-test failed or HSM lost: KMIP answers Operation Failed */
};

struct svc {
	struct config *cfg;         /* loaded config (firmware/core/config.h), owned */
	struct board board;
	hsm *hsm;                   /* NULL until opened */
	char store_path[512];       /* DIR/store.db: every worker opens its own connection */
	_Atomic int state;          /* enum svc_state */
	char error[256];            /* why ERROR, for the console and logs (no secrets) */
	struct kmip_limits limits;  /* from the config */
	const char *vendor_id;      /* Query: Vendor Identification */
	int64_t (*now)(void *arg);  /* clock, seconds since the epoch (tests may fake it) */
	void *now_arg;
	struct kek_job *kekjob;     /* firmware/svc/kekjob.h: running while READY; NULL otherwise */
	struct audit_fwd *auditfwd; /* firmware/svc/auditfwd.h: the remote audit sender, running
	                               while READY with [audit] remote set; NULL otherwise */
	/* the remote audit backlog reached [audit] queue_max under on_queue_full = stop: KMIP
	 * requests answer Operation Failed until it drains (set by the sender) */
	_Atomic bool audit_hold;
	struct authz *authz;        /* firmware/ops/authz.h: principal cache and TLS run-time
	                               trust, for the life of the service (NULL in tests that
	                               need neither) */
	uint16_t kmip_port;         /* the port KMIP will listen on ([kmip] port or --port; 0 =
	                               any free port) */
	/* the last power-up self-test run (boot, unseal, `selftest`); written under the control
	 * lock, read by `status` */
	_Atomic int64_t selftest_time;  /* 0 = never run */
	_Atomic int selftest_failed;    /* enum hsm_selftest_id; HSM_ST_NONE = all passed */
	_Atomic int selftest_rc;        /* cf_err of that run */
	/* a write failed because the data disk is full, and none has succeeded since (set and
	 * cleared by the KMIP workers, announced on the console by main.c's loop, shown by
	 * `status`; docs/appliance.md "A full data disk") */
	_Atomic bool disk_full;
	/* a zeroize asked the program to start again: from then on the console shows no prompt
	 * of this program (the next prompt on the TTY is the new program's) */
	_Atomic bool restarting;
#ifdef COFFRE_IMAGE_TEST_HOOKS
	/* the console's `test hang` (test builds only): the next KMIP request stops its worker,
	 * as a call that never returns would (svc_health_tick notices) */
	_Atomic bool test_hang;
#endif
};

const char *svc_state_name(enum svc_state s);

/* The service clock: s->now when set, else time(2). */
int64_t svc_now(const struct svc *s);

#endif
