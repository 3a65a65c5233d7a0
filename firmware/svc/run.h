/* The service's life, driven by firmware/main.c (docs/architecture.md "Process shape"):
 *
 *   svc_open -> svc_set_notify -> svc_boot -> (serving; control calls from the console,
 *   svc.h) -> svc_stop -> svc_close
 *
 * Signals, the console thread and the restart after a zeroize are main.c's: the service
 * never calls the console, it announces its state changes through the notify hook. */
#ifndef COFFRE_FIRMWARE_SVC_RUN_H
#define COFFRE_FIRMWARE_SVC_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "board/err.h"
#include "firmware/core/context.h"

struct svc_run_opts {
	const char *config_path;          /* -c FILE, required */
	bool port_override;               /* --port N (0 = any free port) */
	uint16_t port;
	bool restart;                     /* a zeroize sets svc->restarting (main.c restarts the
	                                     program); else the service stays UNINITIALIZED */
};

/* Load the config and set the board up ([service] data_dir). What fails is printed on stderr
 * ("coffred: ..."); nothing is left to release then. */
MUST_USE cf_err svc_open(const struct svc_run_opts *o, struct svc **out);

/* One line announcing a state change ("coffre: state READY", "coffre: state ERROR: why"...),
 * no newline. Called with the service's control lock held: it must not call back into svc.h. */
typedef void svc_notify_fn(void *arg, const char *line);
/* Where the service announces its state changes from now on (fn NULL: nowhere). */
void svc_set_notify(struct svc *s, svc_notify_fn *fn, void *arg);

/* The boot from hsm_open (svc/svc.c): the state it decides is READY ("coffred: ready
 * kmip=ADDR:PORT" on stderr), SEALED, UNINITIALIZED or ERROR (latched with its reason). Then
 * then(arg), with the control lock still held: no control call (svc.h) starts before it
 * returns, so what it starts sees every later state change. Returns then's result (CF_OK
 * without then); a failed boot is a state, not an error. */
MUST_USE cf_err svc_boot(struct svc *s, cf_err (*then)(void *arg), void *arg);

/* Once a second from the main loop, which kicks the watchdog only when this returns true
 * (docs/appliance.md "Watchdog"): false once a KMIP worker has made no progress for
 * SVC_STALL_S seconds (a thread stuck in a call: only a restart recovers it). Also announces
 * on the notify hook when the data disk becomes full and when it has space again. Never
 * waits: when a control call holds the service, it answers its last verdict. */
bool svc_health_tick(struct svc *s);
#ifdef COFFRE_IMAGE_TEST_HOOKS
#define SVC_STALL_S 10  /* the test build: the image test waits for it */
#else
#define SVC_STALL_S 60  /* > the HSM call deadline and the store's busy timeout */
#endif

/* Stop serving: the KEK job, then the KMIP workers (joined); audit "state:STOPPED" if KMIP was
 * served. The console must be stopped first (no control call may run any more). */
void svc_stop(struct svc *s);

/* Release everything: store, TLS context, HSM, board, config. NULL no-op. */
void svc_close(struct svc *s);

#endif
