/* The store's tables in a backup body (firmware/backup/backup.h): the store hands out and takes
 * typed rows (firmware/store/store_backup.h); this file encodes them as BK_REC_TABLE records
 * and decodes them back, so that the format stays in firmware/backup/ and the SQL in
 * firmware/store/. */
#include <stdio.h>
#include <string.h>

#include "firmware/backup/backup.h"
#include "firmware/store/store_backup.h"

#define DIAG(d, ...) do { if ((d) != NULL) snprintf((d)->msg, sizeof (d)->msg, __VA_ARGS__); } while (0)

/* ---- dump: rows -> records ------------------------------------------------------------------ */

struct enc {
	struct bk_buf *b;
	size_t at;                   /* the record's length field */
	size_t rows_at;              /* the table's row count */
};

static cf_err enc_table(void *arg, const char *name, unsigned ncols, const char *const *cols)
{
	struct enc *e = arg;
	if (ncols == 0 || ncols > BK_COLS_MAX)
		return CF_E_STORE;
	e->at = bk_rec_begin(e->b, BK_REC_TABLE);
	bk_buf_str(e->b, name);
	bk_buf_u16(e->b, (uint16_t)ncols);
	for (unsigned i = 0; i < ncols; i++)
		bk_buf_str(e->b, cols[i]);
	e->rows_at = e->b->n;
	bk_buf_u32(e->b, 0);
	return e->b->oom ? CF_E_NOMEM : CF_OK;
}

static cf_err enc_row(void *arg, const struct store_val *v, unsigned ncols)
{
	struct enc *e = arg;
	for (unsigned i = 0; i < ncols; i++) {
		switch (v[i].type) {
		case STORE_V_NULL:
			bk_buf_u8(e->b, BK_V_NULL);
			break;
		case STORE_V_INT:
			bk_buf_u8(e->b, BK_V_INT);
			bk_buf_u64(e->b, (uint64_t)v[i].i);
			break;
		case STORE_V_TEXT:
			bk_buf_u8(e->b, BK_V_TEXT);
			bk_buf_bytes(e->b, v[i].p, v[i].n);
			break;
		default:
			bk_buf_u8(e->b, BK_V_BLOB);
			bk_buf_bytes(e->b, v[i].p, v[i].n);
			break;
		}
	}
	return e->b->oom ? CF_E_NOMEM : CF_OK;
}

static cf_err enc_table_end(void *arg, uint32_t rows)
{
	struct enc *e = arg;
	if (e->b->oom)
		return CF_E_NOMEM;
	uint8_t *p = e->b->p + e->rows_at;
	p[0] = (uint8_t)(rows >> 24);
	p[1] = (uint8_t)(rows >> 16);
	p[2] = (uint8_t)(rows >> 8);
	p[3] = (uint8_t)rows;
	bk_rec_end(e->b, e->at);
	return CF_OK;
}

cf_err bk_tables_dump(struct store *st, struct bk_buf *b)
{
	static const struct store_bk_rows rx = { enc_table, enc_row, enc_table_end };
	struct enc e = { .b = b };
	return store_backup_dump(st, &rx, &e);
}

/* ---- load: records -> rows ------------------------------------------------------------------ */

struct dec {
	struct store_bk_load *l;
	struct bk_counts loaded;
	struct bk_diag *d;
};

static cf_err dec_table(void *arg, const struct bk_table *t)
{
	struct dec *x = arg;
	const char *cols[BK_COLS_MAX];
	unsigned bad = 0;
	for (unsigned i = 0; i < t->ncols; i++)
		cols[i] = t->cols[i];
	cf_err rc = store_backup_load_table(x->l, t->name, t->ncols, cols, &bad);
	if (rc == CF_E_NOT_FOUND) {
		DIAG(x->d, "backup holds an unknown table \"%s\"", t->name);
		return CF_E_BAD_MESSAGE;
	}
	if (rc == CF_E_BAD_VERSION)
		DIAG(x->d, "backup column %s.%s does not exist here: the backup comes from newer "
			   "firmware", t->name, t->cols[bad < t->ncols ? bad : 0]);
	return rc;
}

static cf_err dec_row(void *arg, const struct bk_table *t, const struct bk_val *v)
{
	struct dec *x = arg;
	struct store_val sv[BK_COLS_MAX];
	bool inserted = false;
	for (unsigned i = 0; i < t->ncols; i++) {
		sv[i].type = v[i].type;  /* enum bk_vtype and enum store_vtype have the same values */
		sv[i].i = v[i].i;
		sv[i].p = v[i].p;
		sv[i].n = v[i].n;
	}
	cf_err rc = store_backup_load_row(x->l, sv, t->ncols, &inserted);
	if (rc != CF_OK) {
		DIAG(x->d, "restoring table %s failed (%s)", t->name,
		     rc == CF_E_EXISTS ? "a row exists already" : "store error");
		return rc;
	}
	if (!inserted)
		return CF_OK;
	if (strcmp(t->name, "objects") == 0)
		x->loaded.objects++;
	else if (strcmp(t->name, "attributes") == 0)
		x->loaded.attributes++;
	else if (strcmp(t->name, "clients") == 0)
		x->loaded.clients++;
	else if (strcmp(t->name, "users") == 0)
		x->loaded.users++;
	else
		x->loaded.meta++;
	return CF_OK;
}

cf_err bk_tables_load(struct store *st, const uint8_t *body, size_t n, bool merge,
		      struct bk_counts *loaded, struct bk_diag *d)
{
	struct dec x = { .d = d };
	struct bk_body_cb cb = { .table = dec_table, .row = dec_row };
	struct bk_counts seen;
	uint32_t schema = 0;
	memset(loaded, 0, sizeof *loaded);
	TRY(store_backup_load_begin(st, merge, &x.l));
	cf_err rc = bk_body_walk(body, n, &cb, &x, &seen, &schema, d);
	if (rc == CF_OK && schema > (uint32_t)store_schema_version()) {
		DIAG(d, "backup store schema %u is newer than this firmware's %d", schema,
		     store_schema_version());
		rc = CF_E_BAD_VERSION;
	}
	cf_err end = store_backup_load_end(x.l, rc == CF_OK);
	if (rc != CF_OK)
		return rc;
	if (end == CF_OK)
		*loaded = x.loaded;
	return end;
}
