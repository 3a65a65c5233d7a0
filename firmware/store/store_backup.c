/* The store's part of a backup (firmware/store/store_backup.h): every managed object exactly as
 * stored (wrapped blob, attributes, state, tenant), clients, console accounts and settings,
 * handed out generically by column name from one read snapshot, and loaded back in one
 * transaction. Not copied: the audit chain (the replacement starts its own, whose first
 * records say it was restored) and the audit anchor / backup bookkeeping in meta. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board/log.h"
#include "firmware/store/store_backup.h"
#include "firmware/store/store_int.h"

static const char *const bk_tables[] = { "objects", "attributes", "clients", "users", "meta" };
#define BK_NTABLES (sizeof bk_tables / sizeof bk_tables[0])

/* The current row's column i as a typed value (valid until the next step). */
static void col_val(sqlite3_stmt *s, int i, struct store_val *v)
{
	memset(v, 0, sizeof *v);
	switch (sqlite3_column_type(s, i)) {
	case SQLITE_NULL:
		v->type = STORE_V_NULL;
		break;
	case SQLITE_INTEGER:
		v->type = STORE_V_INT;
		v->i = sqlite3_column_int64(s, i);
		break;
	case SQLITE_TEXT:
		v->type = STORE_V_TEXT;
		v->p = sqlite3_column_text(s, i);
		v->n = (size_t)sqlite3_column_bytes(s, i);
		break;
	default: /* BLOB (no REAL column exists in the schema) */
		v->type = STORE_V_BLOB;
		v->p = sqlite3_column_blob(s, i);
		v->n = (size_t)sqlite3_column_bytes(s, i);
		break;
	}
}

static cf_err dump_table(struct store *st, const struct store_bk_rows *rx, void *arg,
			 const char *name)
{
	char sql[256];
	const char *cols[STORE_BK_COLS_MAX];
	struct store_val v[STORE_BK_COLS_MAX];
	if (strcmp(name, "meta") == 0)
		snprintf(sql, sizeof sql, "SELECT * FROM meta WHERE key NOT LIKE 'audit%%' "
					  "AND key NOT LIKE 'backup.%%' ORDER BY key");
	else
		snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1", name);
	sqlite3_stmt *s = NULL;
	TRY(st_prepare(st, sql, &s));
	int nc = sqlite3_column_count(s);
	if (nc <= 0 || nc > (int)STORE_BK_COLS_MAX) {
		sqlite3_finalize(s);
		return CF_E_STORE;
	}
	for (int i = 0; i < nc; i++)
		cols[i] = sqlite3_column_name(s, i);
	cf_err rc = rx->table(arg, name, (unsigned)nc, cols);
	uint32_t rows = 0;
	int src = SQLITE_DONE;
	while (rc == CF_OK && (src = sqlite3_step(s)) == SQLITE_ROW) {
		for (int i = 0; i < nc; i++)
			col_val(s, i, &v[i]);
		rc = rx->row(arg, v, (unsigned)nc);
		rows++;
	}
	sqlite3_finalize(s);
	if (rc != CF_OK)
		return rc;
	if (src != SQLITE_DONE)
		return st_map_sqlite(st, src, "backup dump");
	return rx->table_end(arg, rows);
}

cf_err store_backup_dump(struct store *st, const struct store_bk_rows *rx, void *arg)
{
	bool opened = false;
	TRY(st_read_begin(st, &opened));
	cf_err rc = CF_OK;
	for (size_t i = 0; i < BK_NTABLES && rc == CF_OK; i++)
		rc = dump_table(st, rx, arg, bk_tables[i]);
	st_read_end(st, opened);
	return rc;
}

cf_err store_backup_empty(struct store *st, bool *empty)
{
	sqlite3_stmt *s = NULL;
	*empty = false;
	TRY(st_prepare(st, "SELECT (SELECT count(*) FROM objects) + (SELECT count(*) FROM clients) "
			   "+ (SELECT count(*) FROM users)", &s));
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*empty = sqlite3_column_int64(s, 0) == 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? CF_OK : st_map_sqlite(st, rc, "backup empty check");
}

/* ---- load ------------------------------------------------------------------------------------ */

struct store_bk_load {
	struct store *st;
	bool merge;
	sqlite3_stmt *ins;           /* the current table's INSERT */
};

static cf_err col_exists(struct store *st, const char *table, const char *col, bool *yes)
{
	sqlite3_stmt *s = NULL;
	*yes = false;
	TRY(st_prepare(st, "SELECT 1 FROM pragma_table_info(?1) WHERE name=?2", &s));
	sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, col, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	*yes = rc == SQLITE_ROW;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? CF_OK : st_map_sqlite(st, rc, "table_info");
}

cf_err store_backup_load_begin(struct store *st, bool merge, struct store_bk_load **out)
{
	struct store_bk_load *l = calloc(1, sizeof *l);
	*out = NULL;
	if (l == NULL)
		return CF_E_NOMEM;
	cf_err rc = store_tx_begin(st);
	if (rc != CF_OK) {
		free(l);
		return rc;
	}
	l->st = st;
	l->merge = merge;
	*out = l;
	return CF_OK;
}

cf_err store_backup_load_table(struct store_bk_load *l, const char *name, unsigned ncols,
			       const char *const *cols, unsigned *bad)
{
	bool known = false;
	*bad = 0;
	if (l->ins != NULL) {
		sqlite3_finalize(l->ins);
		l->ins = NULL;
	}
	for (size_t i = 0; i < BK_NTABLES; i++)
		known = known || strcmp(name, bk_tables[i]) == 0;
	if (!known)
		return CF_E_NOT_FOUND;
	if (ncols == 0 || ncols > STORE_BK_COLS_MAX)
		return CF_E_INVALID_ARG;
	char sql[4096];
	/* merge: rows that exist are kept; a full restore goes into an empty store, where a row
	 * that exists is an error (settings are replaced) */
	bool meta = strcmp(name, "meta") == 0;
	const char *verb = l->merge ? "INSERT OR IGNORE" : meta ? "INSERT OR REPLACE" : "INSERT";
	size_t o = (size_t)snprintf(sql, sizeof sql, "%s INTO %s(", verb, name);
	for (unsigned i = 0; i < ncols; i++) {
		bool yes = false;
		TRY(col_exists(l->st, name, cols[i], &yes));
		if (!yes) {
			*bad = i;
			return CF_E_BAD_VERSION;
		}
		if (strlen(cols[i]) > 64 || strchr(cols[i], '"') != NULL)
			return CF_E_INVALID_ARG;
		o += (size_t)snprintf(sql + o, sizeof sql - o, "%s\"%s\"", i ? "," : "", cols[i]);
	}
	o += (size_t)snprintf(sql + o, sizeof sql - o, ") VALUES(");
	for (unsigned i = 0; i < ncols; i++)
		o += (size_t)snprintf(sql + o, sizeof sql - o, "%s?%u", i ? "," : "", i + 1);
	snprintf(sql + o, sizeof sql - o, ")");
	return st_prepare(l->st, sql, &l->ins);
}

static void bind_val(sqlite3_stmt *s, int c, const struct store_val *v)
{
	switch (v->type) {
	case STORE_V_NULL:
		sqlite3_bind_null(s, c);
		break;
	case STORE_V_INT:
		sqlite3_bind_int64(s, c, v->i);
		break;
	case STORE_V_TEXT:
		sqlite3_bind_text(s, c, (const char *)v->p, (int)v->n, SQLITE_STATIC);
		break;
	default:
		sqlite3_bind_blob(s, c, v->p, (int)v->n, SQLITE_STATIC);
		break;
	}
}

cf_err store_backup_load_row(struct store_bk_load *l, const struct store_val *v, unsigned ncols,
			     bool *inserted)
{
	*inserted = false;
	if (l->ins == NULL || ncols != (unsigned)sqlite3_bind_parameter_count(l->ins))
		return CF_E_INTERNAL;
	sqlite3_reset(l->ins);
	sqlite3_clear_bindings(l->ins);
	for (unsigned i = 0; i < ncols; i++) {
		if (v[i].n > INT32_MAX)
			return CF_E_TOO_LARGE;
		bind_val(l->ins, (int)i + 1, &v[i]);
	}
	int rc = sqlite3_step(l->ins);
	if (rc != SQLITE_DONE)
		return st_map_sqlite(l->st, rc, "backup load");
	*inserted = sqlite3_changes(sqlite3_db_handle(l->ins)) > 0;
	return CF_OK;
}

cf_err store_backup_load_end(struct store_bk_load *l, bool commit)
{
	cf_err rc = CF_OK;
	if (l == NULL)
		return CF_E_INVALID_ARG;
	if (l->ins != NULL)
		sqlite3_finalize(l->ins);
	if (commit)
		rc = store_tx_commit(l->st);
	else
		store_tx_rollback(l->st);
	free(l);
	return rc;
}
