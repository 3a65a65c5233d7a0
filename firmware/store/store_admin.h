/* Store functions for administration (the console's `keys`, `kek`, `audit` and `status`
 * commands, and the KEK re-wrap job: firmware/svc/kekjob.c). Unlike the KMIP-facing API in
 * store.h these look across tenants: only the console (a logged-in administrator) and the
 * service's own jobs call them. No function here returns a wrapped blob to the console:
 * only the re-wrap job reads blobs (store_admin_stale_batch), and it hands them to the HSM.
 *
 * Same rules as store.h: one struct store per thread, every value a bound parameter, the
 * SQL lives in firmware/store/store_admin.c (through firmware/store/store_int.h). */
#ifndef COFFRE_FIRMWARE_STORE_ADMIN_H
#define COFFRE_FIRMWARE_STORE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"
#include "firmware/store/store.h"

/* ---- listing objects ------------------------------------------------------------------- */

/* Filters for store_admin_list; zero = none. attr_name / attr_value: objects with an
 * instance of attribute attr_name whose text value is attr_value (or, when attr_value is a
 * decimal integer, whose integer value equals it), found through the attributes index. */
struct store_admin_filter {
	uint32_t state;            /* enum store_state, 0 = any */
	const char *tenant;        /* NULL = any */
	const char *attr_name;     /* NULL = no attribute filter */
	const char *attr_value;    /* required with attr_name */
	uint32_t limit;            /* rows returned at most (0 = cap) */
	uint32_t offset;           /* skip this many matches */
};

/* One line of `keys list`. */
struct store_admin_row {
	char uid[STORE_UID_MAX + 1];
	char tenant[STORE_TENANT_MAX + 1];
	uint32_t object_type;
	uint32_t state;
	uint32_t crypto_alg;
	int32_t crypto_len;
	uint32_t kek_version;
	int64_t created;
	char name[STORE_NAME_MAX + 1]; /* first "x-Name", else first "Name" value; "" = none
	                                  (longer values are cut: display only) */
};

/* Objects matching f, oldest first (created, then uid), at most min(f->limit, cap) rows into
 * rows[]; *n = rows written, *total = how many match in all (same snapshot). */
MUST_USE cf_err store_admin_list(struct store *st, const struct store_admin_filter *f,
				 struct store_admin_row *rows, size_t cap, size_t *n, uint64_t *total);

/* Object counts: counts[0] = every object, counts[s] = objects in enum store_state s. */
MUST_USE cf_err store_admin_counts(struct store *st, uint64_t counts[7]);

/* An object by uid whatever its tenant (the console). wrapped is never read: out->wrapped is
 * NULL and out->wrapped_len 0 (the caller learns only whether a blob exists: *has_blob, may
 * be NULL). CF_E_NOT_FOUND. Release with store_object_free. */
MUST_USE cf_err store_admin_object_get(struct store *st, const char *uid, struct store_object *out,
				       bool *has_blob);

/* ---- KEK versions ---------------------------------------------------------------------- */

struct store_admin_kek_use {
	uint32_t version;
	uint64_t objects;          /* rows with a blob wrapped under this version */
};
/* Rows with a blob per kek_version, ascending: *n = versions in use (may be > cap:
 * CF_E_NO_SPACE, the first cap are written). */
MUST_USE cf_err store_admin_kek_usage(struct store *st, struct store_admin_kek_use *out, size_t cap,
				      size_t *n);
/* Rows with a blob wrapped under version v. */
MUST_USE cf_err store_admin_kek_count(struct store *st, uint32_t v, uint64_t *n);
/* Rows with a blob wrapped under a version older than current (0 < kek_version < current). */
MUST_USE cf_err store_admin_stale_count(struct store *st, uint32_t current, uint64_t *n);

/* One row to re-wrap. blob is malloc'd (not secret: it is the wrapped form). */
struct store_admin_stale {
	char uid[STORE_UID_MAX + 1];
	uint32_t object_type;
	uint32_t kek_version;
	uint8_t *blob;
	size_t blob_len;
};
/* Up to cap rows with 0 < kek_version < current and a blob, uid > after (after = "" from
 * the start), in uid order: a pass over the table resumes where the last batch ended.
 * Free with store_admin_stale_free(rows, *n). */
MUST_USE cf_err store_admin_stale_batch(struct store *st, uint32_t current, const char *after,
					struct store_admin_stale *rows, size_t cap, size_t *n);
void store_admin_stale_free(struct store_admin_stale *rows, size_t n);
/* Replace uid's blob and kek_version only if the row still has kek_version old_version and
 * a blob (it was not destroyed, nor re-wrapped by someone else, since it was read).
 * *updated = whether the row changed. Joins the caller's transaction (the job commits one
 * batch at a time); else commits before returning. */
MUST_USE cf_err store_admin_rewrap_set(struct store *st, const char *uid, uint32_t old_version,
				       const uint8_t *blob, size_t n, uint32_t new_version,
				       bool *updated);

/* ---- audit ----------------------------------------------------------------------------- */

/* The last n rows (n >= 1), in seq order, to fn (strings valid during the call only).
 * fn returning non-CF_OK stops the walk and is returned. */
MUST_USE cf_err store_admin_audit_tail(struct store *st, uint32_t n, store_audit_fn fn, void *arg);

#endif
