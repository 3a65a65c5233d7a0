/* The store's part of a backup: the backed-up tables handed out and taken back as typed rows
 * (firmware/store/store_backup.c). The file format that carries them is firmware/backup/'s. */
#ifndef COFFRE_FIRMWARE_STORE_BACKUP_H
#define COFFRE_FIRMWARE_STORE_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"
#include "firmware/store/store.h"

#define STORE_BK_COLS_MAX 32u        /* columns of a backed-up table */

/* One column value of a row, as SQLite stores it (no REAL column exists in the schema). */
enum store_vtype { STORE_V_NULL = 0, STORE_V_INT = 1, STORE_V_TEXT = 2, STORE_V_BLOB = 3 };
struct store_val {
	uint8_t type;                /* enum store_vtype */
	int64_t i;
	const uint8_t *p;            /* TEXT (not terminated) / BLOB; valid during the call */
	size_t n;
};

/* The receiver of store_backup_dump. A non-CF_OK return stops the dump. */
struct store_bk_rows {
	/* a table begins: its name and its ncols column names */
	cf_err (*table)(void *arg, const char *name, unsigned ncols, const char *const *cols);
	cf_err (*row)(void *arg, const struct store_val *v, unsigned ncols);
	cf_err (*table_end)(void *arg, uint32_t rows);
};

/* Every row of the backed-up tables (objects, attributes, clients, users, meta without the
 * audit anchor and backup.* keys), table by table, from one read snapshot. */
MUST_USE cf_err store_backup_dump(struct store *st, const struct store_bk_rows *rx, void *arg);
/* true when the store holds no object, client or account (a full restore needs that). */
MUST_USE cf_err store_backup_empty(struct store *st, bool *empty);

/* Loading, in one transaction (all or nothing):
 *   store_backup_load_begin    opens the transaction. merge: a row whose key exists is kept
 *                              (the new one skipped); else a row that exists fails the load
 *                              (CF_E_EXISTS), settings (meta) excepted, which are replaced.
 *   store_backup_load_table    the next rows' table and columns. CF_E_NOT_FOUND: not a
 *                              backed-up table; CF_E_BAD_VERSION: column cols[*bad] does not
 *                              exist in this schema.
 *   store_backup_load_row      one row of ncols values; *inserted false when merge kept the
 *                              row that was there.
 *   store_backup_load_end      commit (commit = true) or roll back; frees l, always. */
struct store_bk_load;
MUST_USE cf_err store_backup_load_begin(struct store *st, bool merge, struct store_bk_load **out);
MUST_USE cf_err store_backup_load_table(struct store_bk_load *l, const char *name, unsigned ncols,
					const char *const *cols, unsigned *bad);
MUST_USE cf_err store_backup_load_row(struct store_bk_load *l, const struct store_val *v,
				      unsigned ncols, bool *inserted);
MUST_USE cf_err store_backup_load_end(struct store_bk_load *l, bool commit);

#endif
