/* The audit log: a SHA-256 hash chain of records kept in the store
 * (docs/store.md "audit"). Every KMIP operation and console command appends one record,
 * inside the same transaction as the state change it records when one is open.
 *
 * A record has no field that could hold key material: identities, addresses, names, ids and
 * result codes only. Callers must not put secrets in `detail` either. */
#ifndef COFFRE_FIRMWARE_AUDIT_H
#define COFFRE_FIRMWARE_AUDIT_H

#include <stdint.h>

#include "board/err.h"
#include "firmware/store/store.h"

/* Field limits: longer values are truncated (at a UTF-8 character boundary), never refused,
 * so that auditing a hostile request cannot fail because of its size. */
#define AUDIT_ACTOR_MAX 256
#define AUDIT_SOURCE_MAX 128
#define AUDIT_OP_MAX 64
#define AUDIT_UID_MAX STORE_UID_MAX
#define AUDIT_DETAIL_MAX 1024

struct audit_record {
	int64_t time;          /* seconds since the epoch */
	const char *actor;     /* client certificate fingerprint, or "console:<user>" */
	const char *source;    /* peer "address:port", or "console" */
	const char *operation; /* "Create", "Get", "console:zeroize", ... */
	const char *uid;       /* object unique identifier; NULL or "" = none */
	int64_t result;        /* 0 = success, otherwise the cf_err (or KMIP Result Reason) */
	const char *detail;    /* short free text; NULL = "" */
};

/* Append one record: seq = previous + 1, prev_hash = previous hash (32 zero bytes for the
 * first), hash = SHA-256(canonical encoding, docs/store.md). Joins the caller's transaction
 * when one is open (then the record commits or rolls back with the change it records);
 * otherwise commits it before returning. With opts.audit_syslog the record also goes to
 * syslog (LOG_AUTHPRIV) once committed. *seq_out (may be NULL) receives the new seq. */
MUST_USE cf_err audit_append(struct store *st, const struct audit_record *r, uint64_t *seq_out);

/* Recompute the whole chain. CF_OK when intact (*first_bad_seq = 0). When a row was edited,
 * deleted, inserted, reordered, or the tail was cut: CF_E_STORE with *first_bad_seq = the
 * first seq that does not verify (for a deleted row, its seq). Other errors: as returned by
 * the store, with *first_bad_seq = 0. */
MUST_USE cf_err audit_verify(struct store *st, uint64_t *first_bad_seq);

/* openlog("coffred", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV): call once at start-up when
 * [audit] syslog is on. From then on, records go to syslog only while /dev/log exists
 * (checked at most once a second). */
void audit_syslog_open(void);

/* The record hash (exposed for tests and tools): SHA-256 over the canonical encoding of row
 * (every field but row->hash). */
MUST_USE cf_err audit_hash(const struct store_audit_row *row, uint8_t out[static STORE_HASH_LEN]);

/* ---- the remote copy (firmware/svc/auditfwd.c, docs/security.md "Remote audit") -------
 * The audit table is the queue: the sender reads records after its cursor and moves the cursor
 * (meta audit_remote_sent) once the collector has them. Nothing is ever deleted for it. */

/* The last seq the collector is known to hold (0 = none yet). */
MUST_USE cf_err audit_sent_get(struct store *st, uint64_t *seq);
/* Move that cursor (its own committed transaction: call it at most every second or so). */
MUST_USE cf_err audit_sent_set(struct store *st, uint64_t seq);
/* Call fn on the rows with seq > after, in seq order, at most max of them, in one statement
 * (strings valid during the call only). *n_out (may be NULL) = rows passed to fn. */
MUST_USE cf_err audit_read_after(struct store *st, uint64_t after, unsigned max,
				 store_audit_fn fn, void *arg, unsigned *n_out);

#endif
