/* Internals of the store module shared by its files (store.c and the store_*.c files that
 * add typed functions for one area: console accounts, administration, backup). Nothing outside
 * firmware/store*.c includes this: callers use firmware/store/store.h. Every value still reaches
 * SQLite as a bound parameter. */
#ifndef COFFRE_FIRMWARE_STORE_INT_H
#define COFFRE_FIRMWARE_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>

#include "firmware/store/store.h"

/* Cached statements, prepared on first use with SQLITE_PREPARE_PERSISTENT. */
enum stmt_id {
	S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
	S_OBJ_INSERT, S_OBJ_GET, S_OBJ_STATE_GET, S_OBJ_STATE_SET, S_OBJ_STALE, S_OBJ_DESTROY,
	S_OBJ_ARCHIVE,
	S_ATTR_MAXIDX, S_ATTR_INSERT, S_ATTR_UPDATE, S_ATTR_DEL_ONE, S_ATTR_DEL_ALL,
	S_ATTR_GET_ALL, S_ATTR_GET_NAME, S_ATTR_NAMES,
	S_CLIENT_PUT, S_CLIENT_GET, S_CLIENT_FIND, S_CLIENT_DEL,
	S_META_SET, S_META_GET,
	S_AUDIT_HEAD, S_AUDIT_INSERT, S_AUDIT_WALK,
	S_BEGIN_READ,
	S_COUNT
};

struct pending_line {
	char *line;
	unsigned depth; /* transaction level that queued it */
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	unsigned tx_depth;
	bool want_checkpoint;      /* a destroy committed: truncate the WAL after the outer commit */
	struct store_opts opts;
	struct pending_line *pend;
	size_t n_pend, cap_pend;
	struct commit_group *cg;   /* firmware/store/commit.h: write lock and group commit */
	bool wlocked;              /* holds cg's write lock (outermost write transaction) */
	bool tx_read;              /* the outermost level is a read snapshot (store_read_tx_begin) */
	uint64_t last_ticket;      /* group commit: ticket of our last COMMIT */
	int notify_fd;             /* registered with store_sync_notify, -1 = none */
};

/* SQLite result -> cf_err (logs the message; st may be NULL). BUSY/LOCKED = CF_E_AGAIN,
 * PRIMARY KEY / UNIQUE = CF_E_EXISTS. */
MUST_USE cf_err st_map_sqlite(struct store *st, int rc, const char *what);
/* Reset and clear bindings (NULL is a no-op). */
void st_stmt_done(sqlite3_stmt *s);
/* Step a statement that returns no row, then st_stmt_done. */
MUST_USE cf_err st_stmt_run(struct store *st, sqlite3_stmt *s, const char *what);
/* Non-empty and at most max bytes / NULL or at most max bytes. */
bool st_text_ok(const char *s, size_t max);
bool st_text_opt_ok(const char *s, size_t max);
/* Bind text (NULL binds NULL) / a date (0 binds NULL). SQLITE_STATIC: keep v alive until done. */
int st_bind_text(sqlite3_stmt *s, int i, const char *v);
int st_bind_date(sqlite3_stmt *s, int i, int64_t v);
/* Column readers: copy into out[outsz] (longer = CF_E_STORE), malloc'd copies. */
MUST_USE cf_err st_col_text_copy(sqlite3_stmt *s, int col, char *out, size_t outsz);
MUST_USE cf_err st_col_text_dup(sqlite3_stmt *s, int col, char **out);
MUST_USE cf_err st_col_blob_dup(sqlite3_stmt *s, int col, uint8_t **out, size_t *n_out);
/* Decode an objects row selected in OBJ_COLS order (store.c) into *out. Column 6 is the
 * wrapped blob (copied into out->wrapped), or, when has_blob is not NULL, "wrapped IS NOT
 * NULL" (the blob itself is not read). The caller frees *out with store_object_free on error
 * too. */
MUST_USE cf_err st_object_row(sqlite3_stmt *s, struct store_object *out, bool *has_blob);
/* sqlite3_exec of constant SQL (no parameters). */
MUST_USE cf_err st_pragma_set(struct store *st, const char *sql);
/* A read snapshot for multi-statement reads when no transaction is open. */
MUST_USE cf_err st_read_begin(struct store *st, bool *opened);
void st_read_end(struct store *st, bool opened);
/* Prepare constant SQL for one use (not cached): finalize with sqlite3_finalize. For the
 * non-hot-path files (console, administration, backup). */
MUST_USE cf_err st_prepare(struct store *st, const char *sql, sqlite3_stmt **out);
/* A meta value that is a decimal count: CF_E_NOT_FOUND when absent (*out = 0), CF_E_STORE when
 * it is not a number. */
MUST_USE cf_err st_meta_u64(struct store *st, const char *key, uint64_t *out);

#endif
