/* The store's part of a backup (firmware/backup/backup.h): every managed object exactly as stored
 * (wrapped blob, attributes, state, tenant), clients, console accounts and settings, dumped
 * generically by column name from one read snapshot, and loaded back in one transaction.
 * Not copied: the audit chain (the replacement starts its own, whose first records say it was
 * restored) and the audit anchor / backup bookkeeping in meta. */
#include <stdio.h>
#include <string.h>

#include "board/log.h"
#include "firmware/backup/backup.h"
#include "firmware/store/store_backup.h"
#include "firmware/store/store_int.h"

static const char *const bk_tables[] = { "objects", "attributes", "clients", "users", "meta" };
#define BK_NTABLES (sizeof bk_tables / sizeof bk_tables[0])

static cf_err dump_table(struct store *st, struct bk_buf *b, const char *name)
{
	char sql[256];
	if (strcmp(name, "meta") == 0)
		snprintf(sql, sizeof sql, "SELECT * FROM meta WHERE key NOT LIKE 'audit%%' "
					  "AND key NOT LIKE 'backup.%%' ORDER BY key");
	else
		snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1", name);
	sqlite3_stmt *s = NULL;
	TRY(st_prepare(st, sql, &s));
	int nc = sqlite3_column_count(s);
	if (nc <= 0 || nc > (int)BK_COLS_MAX) {
		sqlite3_finalize(s);
		return CF_E_STORE;
	}
	size_t at = bk_rec_begin(b, BK_REC_TABLE);
	bk_buf_str(b, name);
	bk_buf_u16(b, (uint16_t)nc);
	for (int i = 0; i < nc; i++)
		bk_buf_str(b, sqlite3_column_name(s, i));
	size_t rows_at = b->n;
	bk_buf_u32(b, 0);
	uint32_t rows = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		for (int i = 0; i < nc; i++) {
			switch (sqlite3_column_type(s, i)) {
			case SQLITE_NULL:
				bk_buf_u8(b, BK_V_NULL);
				break;
			case SQLITE_INTEGER:
				bk_buf_u8(b, BK_V_INT);
				bk_buf_u64(b, (uint64_t)sqlite3_column_int64(s, i));
				break;
			case SQLITE_TEXT:
				bk_buf_u8(b, BK_V_TEXT);
				bk_buf_bytes(b, sqlite3_column_text(s, i), (size_t)sqlite3_column_bytes(s, i));
				break;
			default: /* BLOB (no REAL column exists in the schema) */
				bk_buf_u8(b, BK_V_BLOB);
				bk_buf_bytes(b, sqlite3_column_blob(s, i), (size_t)sqlite3_column_bytes(s, i));
				break;
			}
		}
		rows++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return st_map_sqlite(st, rc, "backup dump");
	if (b->oom)
		return CF_E_NOMEM;
	b->p[rows_at] = (uint8_t)(rows >> 24);
	b->p[rows_at + 1] = (uint8_t)(rows >> 16);
	b->p[rows_at + 2] = (uint8_t)(rows >> 8);
	b->p[rows_at + 3] = (uint8_t)rows;
	bk_rec_end(b, at);
	return CF_OK;
}

cf_err store_backup_dump(struct store *st, struct bk_buf *b)
{
	bool opened = false;
	TRY(st_read_begin(st, &opened));
	cf_err rc = CF_OK;
	for (size_t i = 0; i < BK_NTABLES && rc == CF_OK; i++)
		rc = dump_table(st, b, bk_tables[i]);
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

struct loader {
	struct store *st;
	bool merge;
	sqlite3_stmt *ins;
	struct bk_counts loaded;
	struct bk_diag *d;
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

static cf_err ld_table(void *arg, const struct bk_table *t)
{
	struct loader *l = arg;
	if (l->ins != NULL) {
		sqlite3_finalize(l->ins);
		l->ins = NULL;
	}
	bool known = false;
	for (size_t i = 0; i < BK_NTABLES; i++)
		known = known || strcmp(t->name, bk_tables[i]) == 0;
	if (!known) {
		snprintf(l->d->msg, sizeof l->d->msg, "backup holds an unknown table \"%s\"", t->name);
		return CF_E_BAD_MESSAGE;
	}
	char sql[4096];
	/* merge: rows that exist are kept (and not counted); a full restore goes into an empty
	 * store, where a row that exists is an error (settings are replaced) */
	bool meta = strcmp(t->name, "meta") == 0;
	const char *verb = l->merge ? "INSERT OR IGNORE" : meta ? "INSERT OR REPLACE" : "INSERT";
	size_t o = (size_t)snprintf(sql, sizeof sql, "%s INTO %s(", verb, t->name);
	for (unsigned i = 0; i < t->ncols; i++) {
		bool yes = false;
		TRY(col_exists(l->st, t->name, t->cols[i], &yes));
		if (!yes) {
			snprintf(l->d->msg, sizeof l->d->msg,
				 "backup column %s.%s does not exist here: the backup comes from newer "
				 "firmware", t->name, t->cols[i]);
			return CF_E_BAD_VERSION;
		}
		o += (size_t)snprintf(sql + o, sizeof sql - o, "%s\"%s\"", i ? "," : "", t->cols[i]);
	}
	o += (size_t)snprintf(sql + o, sizeof sql - o, ") VALUES(");
	for (unsigned i = 0; i < t->ncols; i++)
		o += (size_t)snprintf(sql + o, sizeof sql - o, "%s?%u", i ? "," : "", i + 1);
	snprintf(sql + o, sizeof sql - o, ")");
	return st_prepare(l->st, sql, &l->ins);
}

static cf_err ld_row(void *arg, const struct bk_table *t, const struct bk_val *v)
{
	struct loader *l = arg;
	if (l->ins == NULL)
		return CF_E_INTERNAL;
	sqlite3_reset(l->ins);
	sqlite3_clear_bindings(l->ins);
	for (unsigned i = 0; i < t->ncols; i++) {
		int c = (int)i + 1;
		switch (v[i].type) {
		case BK_V_NULL:
			sqlite3_bind_null(l->ins, c);
			break;
		case BK_V_INT:
			sqlite3_bind_int64(l->ins, c, v[i].i);
			break;
		case BK_V_TEXT:
			sqlite3_bind_text(l->ins, c, (const char *)v[i].p, (int)v[i].n, SQLITE_STATIC);
			break;
		default:
			sqlite3_bind_blob(l->ins, c, v[i].p, (int)v[i].n, SQLITE_STATIC);
			break;
		}
	}
	int rc = sqlite3_step(l->ins);
	if (rc != SQLITE_DONE) {
		cf_err e = st_map_sqlite(l->st, rc, "backup load");
		snprintf(l->d->msg, sizeof l->d->msg, "restoring table %s failed (%s)", t->name,
			 e == CF_E_EXISTS ? "a row exists already" : "store error");
		return e;
	}
	if (sqlite3_changes(sqlite3_db_handle(l->ins)) > 0) {
		if (strcmp(t->name, "objects") == 0)
			l->loaded.objects++;
		else if (strcmp(t->name, "attributes") == 0)
			l->loaded.attributes++;
		else if (strcmp(t->name, "clients") == 0)
			l->loaded.clients++;
		else if (strcmp(t->name, "users") == 0)
			l->loaded.users++;
		else
			l->loaded.meta++;
	}
	return CF_OK;
}

cf_err store_backup_load(struct store *st, const uint8_t *body, size_t n, bool merge,
			 struct bk_counts *loaded, struct bk_diag *d)
{
	struct loader l = { .st = st, .merge = merge, .d = d };
	struct bk_body_cb cb = { .table = ld_table, .row = ld_row };
	struct bk_counts seen;
	uint32_t schema = 0;
	memset(loaded, 0, sizeof *loaded);
	TRY(store_tx_begin(st));
	cf_err rc = bk_body_walk(body, n, &cb, &l, &seen, &schema, d);
	if (l.ins != NULL)
		sqlite3_finalize(l.ins);
	if (rc == CF_OK && schema > (uint32_t)store_schema_version()) {
		snprintf(d->msg, sizeof d->msg, "backup store schema %u is newer than this firmware's %d",
			 schema, store_schema_version());
		rc = CF_E_BAD_VERSION;
	}
	if (rc != CF_OK) {
		store_tx_rollback(st);
		return rc;
	}
	rc = store_tx_commit(st);
	if (rc == CF_OK)
		*loaded = l.loaded;
	return rc;
}
