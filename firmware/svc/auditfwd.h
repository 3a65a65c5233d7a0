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

struct tls_key;

#define AUDIT_FWD_SETTLE_MS 1000   /* a record is delivered once its connection lasted this */
#define AUDIT_FWD_BACKOFF_MIN_MS 200
#define AUDIT_FWD_BACKOFF_MAX_MS 3200

struct audit_fwd;

/* Where the records go and who the sender says it is: the console's setting (store meta
 * SVC_META_AUDIT_REMOTE) or [audit] remote* of coffred.conf (svc.c decides). The sender copies
 * every field (and takes its own reference to key). */
struct audit_fwd_dest {
	char remote[CONFIG_REMOTE_MAX + 8];   /* "HOST:PORT" as written; "" = off */
	char host[CONFIG_REMOTE_MAX + 1];
	uint16_t port;
	char name[CONFIG_REMOTE_MAX + 1];     /* the collector certificate's name; "" = host */
	const char *ca_file;                  /* PEM CA bundle file, or */
	const char *ca_pem;                   /* ... the bundle itself (pasted at the console) */
	const char *cert_file;                /* our certificate (chain): [audit] remote_cert or
	                                         [tls] cert */
	struct tls_key *key;                  /* its key (NULL: no usable key, said as an error) */
	const char *source;                   /* "console" | "coffred.conf" */
};

struct audit_fwd_opts {
	const struct config *cfg;     /* queue_max, on_queue_full (kept: must outlive the
	                                 sender) */
	const struct audit_fwd_dest *dest; /* copied by audit_fwd_start */
	const char *store_path;       /* the sender opens its own connection */
	int64_t (*now)(void *arg);    /* record times of its own audit records */
	void *now_arg;
	_Atomic bool *hold;           /* set while the backlog is full under policy stop */
};

struct audit_fwd_status {
	char collector[CONFIG_REMOTE_MAX + 8];  /* HOST:PORT */
	char name[CONFIG_REMOTE_MAX + 1];       /* the name its certificate must carry */
	char source[16];                        /* "console" | "coffred.conf" */
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

/* Start the sender for o->dest (CF_OK and *out = NULL when its remote is ""). The
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

/* ---- the console's setting (pure helpers; tests/unit/firmware/test_auditfwd.c) ------------
 *
 * `audit remote set` keeps one meta row: "off", or "HOST:PORT NAME\n" followed by the
 * collector's CA bundle (PEM). One row, so a half-written setting cannot exist. */
#define AUDIT_CA_PEM_MAX 16384   /* a pasted CA bundle */
#define AUDIT_CA_CERTS_MAX 8
#define AUDIT_REMOTE_SAVED_MAX (AUDIT_CA_PEM_MAX + 2 * CONFIG_REMOTE_MAX + 32)

struct audit_ca_info {
	unsigned n;                  /* certificates in the bundle */
	char subject[256];           /* of the first one (RFC 2253, truncated) */
	char fp[2 * 32 + 1];         /* its SHA-256 fingerprint, lower-case hex */
	bool expired;                /* some certificate is outside its validity period now */
};

/* Check a pasted CA bundle: 1..AUDIT_CA_CERTS_MAX PEM certificates and nothing else (any
 * other PEM block, a private key above all, is refused), each usable as a CA (basic
 * constraints CA:TRUE, keyCertSign when key usage is present, or a v1 self-signed root).
 * CF_OK and *info, or CF_E_BAD_VALUE (CF_E_TOO_LARGE) and *why, a short text for the
 * console. */
MUST_USE cf_err audit_ca_check(const char *pem, size_t n, struct audit_ca_info *info,
			       const char **why);

struct audit_remote_saved {
	bool off;
	char remote[CONFIG_REMOTE_MAX + 8];
	char host[CONFIG_REMOTE_MAX + 1];
	uint16_t port;
	char name[CONFIG_REMOTE_MAX + 1];    /* never "" (the host by default) */
	const char *ca_pem;                  /* points into the parsed text */
};

/* The meta value for a destination (malloc'd into *out; remote NULL = "off"). CF_E_BAD_VALUE
 * for a malformed HOST:PORT or NAME. */
MUST_USE cf_err audit_remote_format(const char *remote, const char *name, const char *ca_pem,
				    char **out);
/* Parse a meta value (text stays referenced by out->ca_pem). CF_E_BAD_VALUE when malformed. */
MUST_USE cf_err audit_remote_parse(const char *text, struct audit_remote_saved *out);
/* A collector certificate name as the console takes it: 1..CONFIG_REMOTE_MAX printable
 * characters, no blank. */
bool audit_remote_name_ok(const char *name);

#endif
