/* The audit leaves the box: every audit record, as RFC 5424 syslog over mutually
 * authenticated TLS (RFC 5425 framing), to the collector [audit] remote names
 * (docs/security.md "Remote audit", docs/config.md [audit]).
 *
 * The queue is the audit table itself: one sender thread, with its own store connection, reads
 * the records after its cursor (meta audit_remote_sent, firmware/store/audit.h) and sends them
 * in seq order. RFC 5425 has no acknowledgement, so a record counts as delivered once the
 * connection it was written on stayed up for AUDIT_FWD_SETTLE_MS after it (no error, no EOF);
 * only then does the cursor move. After a break, sending starts again from the cursor: at
 * least once, never a gap, the collector tells the few repeats by their seq.
 *
 * Records not yet delivered (head - cursor) are the backlog. When it reaches [audit] queue_max
 * the sender says so (audit_fwd_full, announced once on the console by svc_health_tick, and an
 * `audit:remote-full` record) and, with on_queue_full = stop, sets svc->audit_hold: KMIP
 * requests answer Operation Failed until the backlog is down to half the bound
 * (`audit:remote-drained`). With continue they are served; nothing is dropped either way,
 * since the table is never pruned for the sender.
 *
 * The sender never takes a lock a KMIP worker waits on, except SQLite's (reads in WAL mode,
 * and the cursor's meta write about once a second). */
#ifndef COFFRE_FIRMWARE_AUDITFWD_H
#define COFFRE_FIRMWARE_AUDITFWD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "board/err.h"
#include "firmware/core/config.h"

#define AUDIT_FWD_SETTLE_MS 1000   /* a record is delivered once its connection lasted this */
#define AUDIT_FWD_BACKOFF_MIN_MS 200
#define AUDIT_FWD_BACKOFF_MAX_MS 3200

struct audit_fwd;

struct audit_fwd_opts {
	const struct config *cfg;     /* [audit] remote*, queue_max, on_queue_full (kept: must
	                                 outlive the sender) */
	const char *store_path;       /* the sender opens its own connection */
	int64_t (*now)(void *arg);    /* record times of its own audit records */
	void *now_arg;
	_Atomic bool *hold;           /* set while the backlog is full under policy stop */
};

struct audit_fwd_status {
	char collector[CONFIG_REMOTE_MAX + 8];  /* HOST:PORT */
	bool connected;
	int64_t since;               /* wall-clock seconds: connected since, or down since */
	char last_error[160];        /* "" = none */
	int64_t last_error_at;
	uint64_t delivered;          /* the cursor: last seq the collector is known to hold */
	uint64_t written;            /* last seq written on the current connection */
	uint64_t head;               /* last seq in the store */
	uint64_t queued;             /* head - delivered */
	unsigned queue_max;
	bool stop_policy;
	bool full;
};

/* Start the sender for cfg->audit.remote (CF_OK and *out = NULL when remote is off). The
 * collector's address is resolved here once (retried by the thread if it fails); certificate
 * or connection errors do not fail the start: they show in the status and the log, and the
 * thread retries with backoff. */
MUST_USE cf_err audit_fwd_start(const struct audit_fwd_opts *o, struct audit_fwd **out);
/* Stop the thread (at most one TLS write timeout), close, free. NULL is a no-op. Clears *hold. */
void audit_fwd_stop(struct audit_fwd *f);
/* A snapshot for the console (all zero, "" collector when f is NULL). */
void audit_fwd_status_get(struct audit_fwd *f, struct audit_fwd_status *out);
/* The backlog reached queue_max and has not drained yet (false for NULL). */
bool audit_fwd_full(struct audit_fwd *f);

#endif
