/* The object store: SQLite (WAL, synchronous=FULL) holding wrapped key blobs, attributes,
 * clients, the audit chain and appliance metadata. Schema and durability rules: docs/store.md.
 *
 * One struct store per connection and per thread (each KMIP worker owns one); a struct store
 * is never shared between threads. Only firmware/store/ runs SQL: store.c for objects,
 * attributes, meta and audit rows, the store_*.c files for the rows of one area each
 * (store_admin.c, store_clients.c, store_users.c, store_backup.c), all through store_int.h.
 * Callers outside firmware/store/ use the typed API.
 * No plaintext key material ever reaches the store: `wrapped` is the blob hsm/ produced.
 *
 * Durability contract: every mutating function returns only after its COMMIT returned, unless
 * it runs inside a caller's store_tx_begin()..store_tx_commit(); then the caller must not
 * acknowledge anything before store_tx_commit() returns CF_OK. */
#ifndef COFFRE_FIRMWARE_STORE_H
#define COFFRE_FIRMWARE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

struct store;

/* Bounds (text lengths exclude the NUL). */
#define STORE_UID_MAX 64          /* KMIP Unique Identifier we accept (ours are 36-char UUIDs) */
#define STORE_UUID_LEN 36
#define STORE_TENANT_MAX 64
#define STORE_OWNER_MAX 128       /* client fingerprint ("sha256:" + 64 hex) or console user */
#define STORE_NAME_MAX 128        /* attribute name */
#define STORE_TEXT_MAX 65536      /* attribute text value, revocation message */
#define STORE_BLOB_MAX 65536      /* attribute byte value, wrapped blob */
#define STORE_LOCATE_MAX_MATCH 16 /* custom attribute filters in one Locate */
#define STORE_ATTR_ALL UINT32_MAX /* store_attr_delete: every instance */

/* Managed object states: the KMIP State enumeration values (KMIP 1.4 9.1.3.2.17). */
enum store_state {
	STORE_STATE_PRE_ACTIVE = 1,
	STORE_STATE_ACTIVE = 2,
	STORE_STATE_DEACTIVATED = 3,
	STORE_STATE_COMPROMISED = 4,
	STORE_STATE_DESTROYED = 5,
	STORE_STATE_DESTROYED_COMPROMISED = 6,
};

/* Options for store_open; zero-initialised = defaults. */
struct store_opts {
	unsigned busy_timeout_ms; /* 0 = 5000: wait for another connection's write lock */
	bool audit_syslog;        /* audit_append also sends each committed record to syslog */
	bool group_commit;        /* synchronous=NORMAL plus one shared fdatasync per group of
	                             commits (docs/store.md "Group commit"); store_tx_commit still
	                             returns only once durable */
};

/* A managed object row. Object type, algorithm, usage mask and revocation reason carry the
 * KMIP enumeration / mask values unchanged. Dates are seconds since the epoch; 0 = absent. */
struct store_object {
	char uid[STORE_UID_MAX + 1];
	uint32_t object_type;      /* KMIP Object Type */
	uint32_t state;            /* enum store_state */
	char tenant[STORE_TENANT_MAX + 1];
	char owner[STORE_OWNER_MAX + 1];
	uint32_t kek_version;      /* KEK version the blob is wrapped under (0 = none) */
	uint8_t *wrapped;          /* wrapped DEK blob from hsm/; NULL once destroyed */
	size_t wrapped_len;
	uint32_t crypto_alg;       /* KMIP Cryptographic Algorithm, 0 = none */
	int32_t crypto_len;        /* Cryptographic Length in bits, 0 = none */
	uint32_t usage_mask;       /* KMIP Cryptographic Usage Mask */
	int64_t created;           /* Initial Date */
	int64_t activation;        /* Activation Date */
	int64_t deactivation;      /* Deactivation Date */
	int64_t destroyed;         /* Destroy Date */
	int64_t compromise;        /* Compromise Date */
	int64_t compromise_occurrence; /* Compromise Occurrence Date */
	int64_t last_change;       /* Last Change Date */
	uint32_t revocation_reason;    /* KMIP Revocation Reason Code, 0 = none */
	char *revocation_message;      /* NULL = none */
	uint32_t srv_flags;        /* STORE_SF_* (an insert adds STORE_SF_FRESH) */
	bool has_digest;           /* digest holds the KMIP Digest Value (SHA-256) */
	uint8_t digest[32];        /* of the key material as made (docs/kmip-server.md) */
};

#define STORE_SF_FRESH 1u      /* KMIP Fresh: the key material was never returned yet */
#define STORE_SF_GENERATED 2u  /* the key material came from the HSM's generator (Create) */
/* KMIP Archive (1.4 section 4.22): the object is in archival storage, not on-line, until a
 * Recover; the row stays where it is (store_object_archive, docs/store.md) */
#define STORE_SF_ARCHIVED 4u
/* bits 8-15: the Key Format Type the Digest was taken over when it is not the object type's
 * default (a registered key's format, KMIP 1.4 section 3.17); 0 = the default */
#define STORE_SF_DIGEST_FMT_SHIFT 8
#define STORE_SF_DIGEST_FMT_MASK 0xff00u

/* Release what store_object_get allocated (wrapped, revocation_message) and zero *o. */
void store_object_free(struct store_object *o);

/* A typed attribute value. value_type is the caller's type tag (the TTLV item type), kept
 * verbatim. Any combination of the three value columns may be set: the KMIP layer stores a
 * primitive in the matching column and a structure as its TTLV encoding in v_blob, with its
 * searchable part (e.g. Name Value) in v_text / v_int. Locate compares v_text and v_int. */
struct store_attr {
	const char *name;
	uint32_t index;            /* Attribute Index; set by the store on add and on read */
	uint32_t value_type;
	bool has_int;
	int64_t v_int;
	const char *v_text;        /* NULL = none */
	const uint8_t *v_blob;     /* NULL = none */
	size_t v_blob_len;
};

/* Attributes returned by the store: every pointer is owned by the list. */
struct store_attr_list {
	struct store_attr *a;
	size_t n;
};
void store_attr_list_free(struct store_attr_list *l);

/* A list of strings owned by the list (attribute names, unique identifiers). */
struct store_str_list {
	char **s;
	size_t n;
};
void store_str_list_free(struct store_str_list *l);

/* Random source for UID generation: fill all n bytes or fail (the service passes the HSM RNG). */
typedef cf_err (*store_rng_fn)(void *arg, void *buf, size_t n);

/* ---- connection ------------------------------------------------------------------------ */

/* Open (creating if absent) the store at path. A new file is created 0600 with O_NOFOLLOW|
 * O_EXCL and its directory fsynced; an existing one must be a regular file owned by us and
 * not accessible to group or others (CF_E_PERM_FILE). Sets WAL, synchronous=FULL,
 * foreign_keys=ON, secure_delete=ON, the busy timeout, and creates / migrates the schema.
 * opts may be NULL (defaults). */
MUST_USE cf_err store_open(const char *path, const struct store_opts *opts, struct store **out);
/* Finalize the cached statements and close; rolls back an open transaction. NULL is a no-op. */
void store_close(struct store *st);
/* PRAGMA quick_check: CF_OK when it answers "ok", CF_E_STORE otherwise. Called at boot. */
MUST_USE cf_err store_check(struct store *st);
/* Move the WAL into the database and truncate the WAL file to zero bytes. CF_E_AGAIN when a
 * reader on another connection prevents a complete checkpoint (try again later). */
MUST_USE cf_err store_checkpoint(struct store *st);
/* Schema version of this build (PRAGMA user_version once opened). */
int store_schema_version(void);

/* ---- transactions ---------------------------------------------------------------------- */

/* Begin a transaction. The outermost level is BEGIN IMMEDIATE (takes the write lock, waiting
 * up to the busy timeout); nested levels are SAVEPOINTs, so one failed batch item can be
 * rolled back without losing the others. Every store_* write inside joins it. */
MUST_USE cf_err store_tx_begin(struct store *st);
/* Commit the innermost level. For the outermost level this returns only after SQLite's
 * COMMIT returned (durable: WAL fsynced, synchronous=FULL): only then acknowledge. */
MUST_USE cf_err store_tx_commit(struct store *st);
/* Roll back the innermost level. Safe to call on error paths; NULL or no transaction: no-op. */
void store_tx_rollback(struct store *st);
/* Group commit (opts.group_commit; docs/store.md): commit the outermost level without waiting
 * for its fsync. *ticket receives the transaction's ticket: nothing it changed may be
 * acknowledged before store_ticket_state says it is durable (or store_ticket_wait returns
 * CF_OK). Without group commit (or for an inner level) this is store_tx_commit and *ticket = 0
 * (already durable). */
MUST_USE cf_err store_tx_commit_nowait(struct store *st, uint64_t *ticket);
/* 1 = durable, 0 = not yet, -1 = never (*err: why; nothing of it may be acknowledged). */
int store_ticket_state(struct store *st, uint64_t ticket, cf_err *err);
MUST_USE cf_err store_ticket_wait(struct store *st, uint64_t ticket);
/* store_ticket_state, but when the ticket is not durable and no sync is running, the fsync is
 * done now on the caller's thread (lower latency when the server is not busy). */
int store_ticket_sync(struct store *st, uint64_t ticket, cf_err *err);
/* fd (an eventfd, non-blocking) gets a write after every group sync: a wake-up for an event
 * loop holding responses. One fd per store; -1 unregisters. */
MUST_USE cf_err store_sync_notify(struct store *st, int fd);
/* A read snapshot as the outermost level (BEGIN DEFERRED, without the write lock), ended by
 * store_read_tx_end. store_tx_begin inside it opens savepoints; nothing may write in it
 * (store_read_tx_end rolls back and fails with CF_E_INTERNAL if something did). */
MUST_USE cf_err store_read_tx_begin(struct store *st);
MUST_USE cf_err store_read_tx_end(struct store *st);
/* Current nesting depth (0 = no transaction open). */
unsigned store_tx_depth(const struct store *st);
/* Queue a line for syslog(LOG_AUTHPRIV|LOG_NOTICE) when the outermost transaction commits;
 * dropped if the level it was queued in rolls back. A no-op unless opts.audit_syslog was set.
 * Used by audit_append. Requires an open transaction. */
MUST_USE cf_err store_tx_syslog_on_commit(struct store *st, const char *line);

/* ---- unique identifiers ---------------------------------------------------------------- */

/* A random (version 4, RFC 9562) UUID in lower-case text form, 36 chars + NUL. */
MUST_USE cf_err store_uid_new(store_rng_fn rng, void *rng_arg, char out[static STORE_UUID_LEN + 1]);

/* ---- objects --------------------------------------------------------------------------- */

/* Insert an object with its initial attributes in one transaction (indices assigned per
 * name from 0). CF_E_EXISTS if the uid is taken. Returns after COMMIT (see the contract). */
MUST_USE cf_err store_object_insert(struct store *st, const struct store_object *o,
				    const struct store_attr *attrs, size_t n_attrs);
/* Read the object uid if it belongs to tenant; another tenant's object is CF_E_NOT_FOUND.
 * *out is zeroed first; release it with store_object_free. */
MUST_USE cf_err store_object_get(struct store *st, const char *tenant, const char *uid,
				 struct store_object *out);
/* Set state and the dates/revocation fields of o (all of them, as in o) for o->uid in
 * o->tenant; the blob, owner, type and crypto fields are not touched. Destroyed states are
 * refused (use store_object_destroy): CF_E_STATE, except Destroyed -> Destroyed Compromised
 * (a Revoke for a compromise of a destroyed object). */
MUST_USE cf_err store_object_update_state(struct store *st, const struct store_object *o);
/* Destroy: state Destroyed (Destroyed Compromised if it was Compromised), Destroy Date =
 * when, the wrapped blob removed from the row (zeroed by secure_delete, then a checkpoint
 * truncates the WAL copy when no reader prevents it). Refused for an Active object
 * (CF_E_STATE). Destroying a destroyed object is CF_E_STATE. */
/* KMIP Fresh ends: the object's key material was returned (a Get). One UPDATE, a no-op when
 * already done; uid is the objects' primary key. Run inside the caller's write transaction. */
MUST_USE cf_err store_object_stale(struct store *st, const char *uid);
MUST_USE cf_err store_object_destroy(struct store *st, const char *tenant, const char *uid,
				     int64_t when);
/* KMIP Archive / Recover: set or clear the tenant's object's STORE_SF_ARCHIVED flag (one
 * UPDATE; setting it twice is a no-op). CF_E_NOT_FOUND when the tenant has no such object. */
MUST_USE cf_err store_object_archive(struct store *st, const char *tenant, const char *uid,
				     bool archived);

/* ---- attributes ------------------------------------------------------------------------ */

/* Add an instance of a->name (a->index ignored) and return its index: highest + 1, or 0. */
MUST_USE cf_err store_attr_add(struct store *st, const char *tenant, const char *uid,
			       const struct store_attr *a, uint32_t *index_out);
/* Replace the value of instance (name, index). CF_E_NOT_FOUND if it does not exist. */
MUST_USE cf_err store_attr_modify(struct store *st, const char *tenant, const char *uid,
				  const char *name, uint32_t index, const struct store_attr *a);
/* Delete instance (name, index), or every instance with index STORE_ATTR_ALL. The other
 * instances keep their indices. CF_E_NOT_FOUND if nothing matched. */
MUST_USE cf_err store_attr_delete(struct store *st, const char *tenant, const char *uid,
				  const char *name, uint32_t index);
/* The instances of the given names (n_names == 0: every attribute), ordered by name, index.
 * A name without instances is simply absent from the list (not an error). */
MUST_USE cf_err store_attr_get(struct store *st, const char *tenant, const char *uid,
			       const char *const *names, size_t n_names, struct store_attr_list *out);
/* Distinct attribute names of the object, sorted. */
MUST_USE cf_err store_attr_names(struct store *st, const char *tenant, const char *uid,
				 struct store_str_list *out);

/* ---- Locate ---------------------------------------------------------------------------- */

/* A custom attribute filter: name = v_text (is_int false) or name = v_int (is_int true). */
struct store_match {
	const char *name;
	bool is_int;
	int64_t v_int;
	const char *v_text;
};

/* The object row's date columns Locate filters on (KMIP 1.4 section 4.9: one instance of a
 * date attribute = that date, two = an inclusive range). */
enum store_date {
	STORE_DATE_INITIAL,        /* created */
	STORE_DATE_ACTIVATION,
	STORE_DATE_DEACTIVATION,
	STORE_DATE_DESTROY,
	STORE_DATE_COMPROMISE,
	STORE_DATE_COMPROMISE_OCCURRENCE,
	STORE_DATE_LAST_CHANGE,
	STORE_DATE_N
};
struct store_date_range {
	bool set;                  /* false = any */
	int64_t lo, hi;            /* lo <= date <= hi (an object without the date never matches) */
};

#define STORE_STORAGE_ONLINE 1u   /* objects not archived (STORE_SF_ARCHIVED clear) */
#define STORE_STORAGE_ARCHIVAL 2u /* archived objects */
struct store_locate {
	const char *tenant;        /* required: always applied */
	const char *uid;           /* Unique Identifier; NULL = any */
	uint32_t object_type;      /* 0 = any */
	uint32_t state;            /* 0 = any */
	bool not_destroyed;        /* with state 0: leave out Destroyed (Compromised) objects */
	uint32_t crypto_alg;       /* 0 = any */
	int32_t crypto_len;        /* 0 = any */
	const char *name;          /* "Name" attribute text value; NULL = any */
	const char *object_group;  /* "Object Group" attribute text value; NULL = any */
	const struct store_match *match;
	size_t n_match;            /* <= STORE_LOCATE_MAX_MATCH */
	struct store_date_range date[STORE_DATE_N]; /* by enum store_date */
	uint32_t storage;          /* STORE_STORAGE_* bits (KMIP Storage Status Mask); without
				    * ONLINE nor ARCHIVAL: on-line objects only */
	uint32_t max_items;        /* Maximum Items; 0 = no limit */
	uint32_t offset;           /* Offset Items: skip this many matches */
};

/* Unique identifiers of the tenant's objects matching every filter, oldest first. */
MUST_USE cf_err store_locate_run(struct store *st, const struct store_locate *q,
				 struct store_str_list *out);

/* ---- clients --------------------------------------------------------------------------- */

#define STORE_CLIENT_ALLOW_MAX 832 /* CIDR_LIST_TEXT_MAX (board/cidr.h) */

struct store_client {
	char fingerprint[STORE_OWNER_MAX + 1]; /* "sha256:" + 64 lower-case hex */
	char subject[1024];
	char issuer[1024];
	char tenant[STORE_TENANT_MAX + 1];
	char role[32];
	int64_t created;
	char name[64];             /* console name ("" for rows written before names existed) */
	char kind[16];             /* "issued", "signed" (CSR), "trusted" (pinned), "" */
	int64_t not_after;         /* certificate expiry, 0 = unknown */
	/* source allow-list (board/cidr.h text, "" = any; store_client_set_allow) */
	char allow[STORE_CLIENT_ALLOW_MAX];
};

/* Insert or replace the client with this fingerprint. */
MUST_USE cf_err store_client_put(struct store *st, const struct store_client *c);
MUST_USE cf_err store_client_get(struct store *st, const char *fingerprint, struct store_client *out);
/* Look up by subject and issuer (certificate rotation keeps the mapping). */
MUST_USE cf_err store_client_find(struct store *st, const char *subject, const char *issuer,
				  struct store_client *out);
MUST_USE cf_err store_client_delete(struct store *st, const char *fingerprint);

/* ---- meta ------------------------------------------------------------------------------ */

MUST_USE cf_err store_meta_set(struct store *st, const char *key, const char *value);
/* Copy the value into out (outsz bytes); CF_E_NOT_FOUND if absent, CF_E_NO_SPACE if longer. */
MUST_USE cf_err store_meta_get(struct store *st, const char *key, char *out, size_t outsz);

/* ---- audit rows (used by audit.c; the hash chain logic lives there) ------------------- */

#define STORE_HASH_LEN 32

struct store_audit_row {
	uint64_t seq;
	int64_t time;
	const char *actor;
	const char *source;
	const char *operation;
	const char *uid;           /* "" = none */
	int64_t result;
	const char *detail;
	uint8_t prev_hash[STORE_HASH_LEN];
	uint8_t hash[STORE_HASH_LEN];
};

/* Last row's seq and hash inside the current write transaction (seq 0, zero hash if empty). */
MUST_USE cf_err store_audit_head(struct store *st, uint64_t *seq, uint8_t hash[static STORE_HASH_LEN]);
/* The recorded chain head (meta), for truncation detection: seq 0 if none recorded. */
MUST_USE cf_err store_audit_anchor(struct store *st, uint64_t *seq, uint8_t hash[static STORE_HASH_LEN]);
/* Insert a row and move the recorded head to it; requires an open transaction. */
MUST_USE cf_err store_audit_insert(struct store *st, const struct store_audit_row *r);
/* Call fn on every row in seq order (strings valid during the call only), and return the
 * recorded head read in the same snapshot. fn returning non-CF_OK stops the walk and is
 * returned. */
typedef cf_err (*store_audit_fn)(void *arg, const struct store_audit_row *r);
MUST_USE cf_err store_audit_walk(struct store *st, store_audit_fn fn, void *arg,
				 uint64_t *anchor_seq, uint8_t anchor_hash[static STORE_HASH_LEN]);

#endif
