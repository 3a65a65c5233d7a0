/* Administration queries over the store (firmware/store/store_admin.h): cross-tenant listing and
 * counts for the console, KEK usage, and the re-wrap job's batches. Not a hot path: the
 * statements are prepared per call (st_prepare) from constant SQL; every value is bound. */
#include "firmware/store/store_admin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board/log.h"
#include "firmware/store/store_int.h"

#define ADMIN_LIST_CAP 10000u  /* rows one list call returns at most */

/* ---- listing --------------------------------------------------------------------------- */

/* The WHERE clause is assembled from constant fragments only; the values are bound by number:
 * ?1 state, ?2 tenant, ?3 attribute name, ?4 text value, ?5 integer value. With an attribute
 * filter the candidate uids come from the attributes_text / attributes_int indexes. */
#define LIST_WHERE_BASE " FROM objects o WHERE (?1 IS NULL OR o.state=?1) AND (?2 IS NULL OR o.tenant=?2)"
#define LIST_WHERE_ATTR_TEXT " AND o.uid IN (SELECT uid FROM attributes WHERE name=?3 AND v_text=?4)"
#define LIST_WHERE_ATTR_BOTH " AND o.uid IN (SELECT uid FROM attributes WHERE name=?3 AND v_text=?4" \
	" UNION SELECT uid FROM attributes WHERE name=?3 AND v_int=?5)"
#define LIST_COLS "SELECT o.uid,o.tenant,o.object_type,o.state,o.crypto_alg,o.crypto_len," \
	"o.kek_version,o.created," \
	"coalesce((SELECT v_text FROM attributes a WHERE a.uid=o.uid AND a.name='x-Name' " \
	"AND v_text IS NOT NULL ORDER BY attr_index LIMIT 1)," \
	"(SELECT v_text FROM attributes a WHERE a.uid=o.uid AND a.name='Name' " \
	"AND v_text IS NOT NULL ORDER BY attr_index LIMIT 1))"
#define LIST_ORDER " ORDER BY o.created,o.uid LIMIT ?6 OFFSET ?7"

static bool parse_i64(const char *s, int64_t *v)
{
	char *end;
	if (s == NULL || s[0] == '\0')
		return false;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*v = x;
	return true;
}

static cf_err list_bind(struct store *st, sqlite3_stmt *s, const struct store_admin_filter *f,
			bool has_int, int64_t iv)
{
	int r = f->state != 0 ? sqlite3_bind_int64(s, 1, f->state) : sqlite3_bind_null(s, 1);
	if (r == SQLITE_OK) r = st_bind_text(s, 2, f->tenant);
	if (r == SQLITE_OK && f->attr_name != NULL) {
		r = st_bind_text(s, 3, f->attr_name);
		if (r == SQLITE_OK) r = st_bind_text(s, 4, f->attr_value);
		if (r == SQLITE_OK && has_int) r = sqlite3_bind_int64(s, 5, iv);
	}
	return r == SQLITE_OK ? CF_OK : st_map_sqlite(st, r, "bind list");
}

cf_err store_admin_list(struct store *st, const struct store_admin_filter *f,
			struct store_admin_row *rows, size_t cap, size_t *n, uint64_t *total)
{
	sqlite3_stmt *s = NULL;
	cf_err rc = CF_E_INTERNAL;
	bool opened = false, has_int = false;
	int64_t iv = 0;
	char sql[1024];
	const char *attr = "";
	int r;

	if (n != NULL)
		*n = 0;
	if (total != NULL)
		*total = 0;
	if (st == NULL || f == NULL || n == NULL || total == NULL || (cap > 0 && rows == NULL))
		return CF_E_INVALID_ARG;
	if (f->attr_name != NULL && (!st_text_ok(f->attr_name, STORE_NAME_MAX) ||
				     !st_text_opt_ok(f->attr_value, STORE_TEXT_MAX) || f->attr_value == NULL))
		return CF_E_INVALID_ARG;
	if (!st_text_opt_ok(f->tenant, STORE_TENANT_MAX))
		return CF_E_INVALID_ARG;
	if (f->attr_name != NULL) {
		has_int = parse_i64(f->attr_value, &iv);
		attr = has_int ? LIST_WHERE_ATTR_BOTH : LIST_WHERE_ATTR_TEXT;
	}
	size_t lim = f->limit == 0 ? ADMIN_LIST_CAP : f->limit;
	if (lim > cap)
		lim = cap;

	TRY(st_read_begin(st, &opened));
	/* the total */
	snprintf(sql, sizeof sql, "SELECT count(*)%s%s", LIST_WHERE_BASE, attr);
	if ((rc = st_prepare(st, sql, &s)) != CF_OK)
		goto out;
	if ((rc = list_bind(st, s, f, has_int, iv)) != CF_OK)
		goto out;
	if ((r = sqlite3_step(s)) != SQLITE_ROW) {
		rc = st_map_sqlite(st, r, "count objects");
		goto out;
	}
	int64_t t = sqlite3_column_int64(s, 0);
	*total = t > 0 ? (uint64_t)t : 0;
	sqlite3_finalize(s);
	s = NULL;
	if (lim == 0) {
		rc = CF_OK;
		goto out;
	}
	/* the rows */
	snprintf(sql, sizeof sql, "%s%s%s%s", LIST_COLS, LIST_WHERE_BASE, attr, LIST_ORDER);
	if ((rc = st_prepare(st, sql, &s)) != CF_OK)
		goto out;
	if ((rc = list_bind(st, s, f, has_int, iv)) != CF_OK)
		goto out;
	r = sqlite3_bind_int64(s, 6, (sqlite3_int64)lim);
	if (r == SQLITE_OK)
		r = sqlite3_bind_int64(s, 7, f->offset);
	if (r != SQLITE_OK) {
		rc = st_map_sqlite(st, r, "bind list");
		goto out;
	}
	while (*n < lim && (r = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_admin_row *w = &rows[*n];
		memset(w, 0, sizeof *w);
		if ((rc = st_col_text_copy(s, 0, w->uid, sizeof w->uid)) != CF_OK ||
		    (rc = st_col_text_copy(s, 1, w->tenant, sizeof w->tenant)) != CF_OK)
			goto out;
		w->object_type = (uint32_t)sqlite3_column_int64(s, 2);
		w->state = (uint32_t)sqlite3_column_int64(s, 3);
		w->crypto_alg = (uint32_t)sqlite3_column_int64(s, 4);
		w->crypto_len = (int32_t)sqlite3_column_int64(s, 5);
		w->kek_version = (uint32_t)sqlite3_column_int64(s, 6);
		w->created = sqlite3_column_int64(s, 7);
		const unsigned char *nm = sqlite3_column_text(s, 8);
		if (nm != NULL)
			snprintf(w->name, sizeof w->name, "%s", (const char *)nm); /* display: cut */
		(*n)++;
	}
	if (*n < lim && r != SQLITE_DONE) {
		rc = st_map_sqlite(st, r, "list objects");
		goto out;
	}
	rc = CF_OK;
out:
	sqlite3_finalize(s);
	st_read_end(st, opened);
	if (rc != CF_OK)
		*n = 0;
	return rc;
}

cf_err store_admin_counts(struct store *st, uint64_t counts[7])
{
	sqlite3_stmt *s = NULL;
	cf_err rc;
	int r;

	if (counts != NULL)
		memset(counts, 0, 7 * sizeof counts[0]);
	if (st == NULL || counts == NULL)
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, "SELECT state,count(*) FROM objects GROUP BY state", &s));
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t state = sqlite3_column_int64(s, 0), c = sqlite3_column_int64(s, 1);
		if (c < 0)
			c = 0;
		counts[0] += (uint64_t)c;
		if (state >= 1 && state <= 6)
			counts[state] += (uint64_t)c;
	}
	rc = r == SQLITE_DONE ? CF_OK : st_map_sqlite(st, r, "count by state");
	sqlite3_finalize(s);
	if (rc != CF_OK)
		memset(counts, 0, 7 * sizeof counts[0]);
	return rc;
}

/* Every column but wrapped; column 5 tells whether a blob exists. */
#define ADMIN_OBJ_SQL "SELECT uid,object_type,state,tenant,owner,kek_version,wrapped IS NOT NULL," \
	"crypto_alg,crypto_len,usage_mask,created,activation,deactivation,destroyed,compromise," \
	"compromise_occurrence,last_change,revocation_reason,revocation_message " \
	"FROM objects WHERE uid=?1"

cf_err store_admin_object_get(struct store *st, const char *uid, struct store_object *out,
			      bool *has_blob)
{
	sqlite3_stmt *s = NULL;
	cf_err rc;
	int r;

	if (has_blob != NULL)
		*has_blob = false;
	if (out == NULL)
		return CF_E_INVALID_ARG;
	memset(out, 0, sizeof *out);
	if (st == NULL || uid == NULL)
		return CF_E_INVALID_ARG;
	if (!st_text_ok(uid, STORE_UID_MAX))
		return CF_E_NOT_FOUND;
	TRY(st_prepare(st, ADMIN_OBJ_SQL, &s));
	r = st_bind_text(s, 1, uid);
	if (r == SQLITE_OK)
		r = sqlite3_step(s);
	if (r == SQLITE_DONE) {
		rc = CF_E_NOT_FOUND;
		goto out;
	}
	if (r != SQLITE_ROW) {
		rc = st_map_sqlite(st, r, "get object");
		goto out;
	}
	{
		bool blob = false;

		rc = st_object_row(s, out, &blob);
		if (has_blob != NULL)
			*has_blob = blob;
	}
out:
	sqlite3_finalize(s);
	if (rc != CF_OK)
		store_object_free(out);
	return rc;
}

/* ---- KEK versions ---------------------------------------------------------------------- */

cf_err store_admin_kek_usage(struct store *st, struct store_admin_kek_use *out, size_t cap,
			     size_t *n)
{
	sqlite3_stmt *s = NULL;
	cf_err rc;
	int r;

	if (n != NULL)
		*n = 0;
	if (st == NULL || n == NULL || (cap > 0 && out == NULL))
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, "SELECT kek_version,count(*) FROM objects WHERE wrapped IS NOT NULL "
			   "AND kek_version>0 GROUP BY kek_version ORDER BY kek_version", &s));
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n < cap) {
			int64_t c = sqlite3_column_int64(s, 1);
			out[*n].version = (uint32_t)sqlite3_column_int64(s, 0);
			out[*n].objects = c > 0 ? (uint64_t)c : 0;
		}
		(*n)++;
	}
	rc = r == SQLITE_DONE ? CF_OK : st_map_sqlite(st, r, "kek usage");
	sqlite3_finalize(s);
	if (rc == CF_OK && *n > cap)
		rc = CF_E_NO_SPACE;
	return rc;
}

static cf_err count_u32(struct store *st, const char *sql, uint32_t v, uint64_t *n)
{
	sqlite3_stmt *s = NULL;
	cf_err rc;
	int r;

	if (n != NULL)
		*n = 0;
	if (st == NULL || n == NULL)
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, sql, &s));
	r = sqlite3_bind_int64(s, 1, v);
	if (r == SQLITE_OK)
		r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		int64_t c = sqlite3_column_int64(s, 0);
		*n = c > 0 ? (uint64_t)c : 0;
		rc = CF_OK;
	} else {
		rc = st_map_sqlite(st, r, "count");
	}
	sqlite3_finalize(s);
	return rc;
}

cf_err store_admin_kek_count(struct store *st, uint32_t v, uint64_t *n)
{
	return count_u32(st, "SELECT count(*) FROM objects WHERE kek_version=?1 AND wrapped IS NOT NULL",
			 v, n);
}

cf_err store_admin_stale_count(struct store *st, uint32_t current, uint64_t *n)
{
	return count_u32(st, "SELECT count(*) FROM objects WHERE kek_version>0 AND kek_version<?1 "
			     "AND wrapped IS NOT NULL", current, n);
}

void store_admin_stale_free(struct store_admin_stale *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rows[i].blob);
		rows[i].blob = NULL;
		rows[i].blob_len = 0;
	}
}

cf_err store_admin_stale_batch(struct store *st, uint32_t current, const char *after,
			       struct store_admin_stale *rows, size_t cap, size_t *n)
{
	sqlite3_stmt *s = NULL;
	cf_err rc = CF_OK;
	int r;

	if (n != NULL)
		*n = 0;
	if (st == NULL || rows == NULL || n == NULL || cap == 0 || after == NULL ||
	    !st_text_opt_ok(after, STORE_UID_MAX))
		return CF_E_INVALID_ARG;
	/* uid order walks the primary key index; the kek_version filter is applied on the way */
	TRY(st_prepare(st, "SELECT uid,object_type,kek_version,wrapped FROM objects "
			   "WHERE uid>?2 AND kek_version>0 AND kek_version<?1 AND wrapped IS NOT NULL "
			   "ORDER BY uid LIMIT ?3", &s));
	r = sqlite3_bind_int64(s, 1, current);
	if (r == SQLITE_OK) r = sqlite3_bind_text(s, 2, after, -1, SQLITE_STATIC);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 3, (sqlite3_int64)cap);
	if (r != SQLITE_OK) {
		rc = st_map_sqlite(st, r, "bind stale");
		goto out;
	}
	while (*n < cap && (r = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_admin_stale *w = &rows[*n];
		memset(w, 0, sizeof *w);
		if ((rc = st_col_text_copy(s, 0, w->uid, sizeof w->uid)) != CF_OK)
			goto out;
		w->object_type = (uint32_t)sqlite3_column_int64(s, 1);
		w->kek_version = (uint32_t)sqlite3_column_int64(s, 2);
		if ((rc = st_col_blob_dup(s, 3, &w->blob, &w->blob_len)) != CF_OK)
			goto out;
		(*n)++;
	}
	if (*n < cap && r != SQLITE_DONE)
		rc = st_map_sqlite(st, r, "stale rows");
out:
	sqlite3_finalize(s);
	if (rc != CF_OK) {
		store_admin_stale_free(rows, *n);
		*n = 0;
	}
	return rc;
}

cf_err store_admin_rewrap_set(struct store *st, const char *uid, uint32_t old_version,
			      const uint8_t *blob, size_t n, uint32_t new_version, bool *updated)
{
	sqlite3_stmt *s = NULL;
	cf_err rc;
	int r;

	if (updated != NULL)
		*updated = false;
	if (st == NULL || updated == NULL || !st_text_ok(uid, STORE_UID_MAX) || blob == NULL ||
	    n == 0 || n > STORE_BLOB_MAX || new_version == 0)
		return CF_E_INVALID_ARG;
	TRY(store_tx_begin(st));
	if ((rc = st_prepare(st, "UPDATE objects SET wrapped=?3,kek_version=?4 "
				 "WHERE uid=?1 AND kek_version=?2 AND wrapped IS NOT NULL", &s)) != CF_OK)
		goto fail;
	r = st_bind_text(s, 1, uid);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 2, old_version);
	if (r == SQLITE_OK) r = sqlite3_bind_blob(s, 3, blob, (int)n, SQLITE_STATIC);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 4, new_version);
	if (r == SQLITE_OK) r = sqlite3_step(s);
	if (r != SQLITE_DONE) {
		rc = st_map_sqlite(st, r, "rewrap");
		goto fail;
	}
	*updated = sqlite3_changes(st->db) == 1;
	sqlite3_finalize(s);
	return store_tx_commit(st);
fail:
	sqlite3_finalize(s);
	store_tx_rollback(st);
	return rc;
}

/* ---- audit ----------------------------------------------------------------------------- */

cf_err store_admin_audit_tail(struct store *st, uint32_t n, store_audit_fn fn, void *arg)
{
	sqlite3_stmt *s = NULL;
	cf_err rc = CF_OK;
	int r;

	if (st == NULL || fn == NULL || n == 0)
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, "SELECT seq,time,actor,source,operation,uid,result,detail FROM "
			   "(SELECT * FROM audit ORDER BY seq DESC LIMIT ?1) ORDER BY seq", &s));
	r = sqlite3_bind_int64(s, 1, n);
	if (r != SQLITE_OK) {
		rc = st_map_sqlite(st, r, "bind tail");
		goto out;
	}
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_audit_row row;
		memset(&row, 0, sizeof row);
		int64_t seq = sqlite3_column_int64(s, 0);
		row.seq = seq > 0 ? (uint64_t)seq : 0;
		row.time = sqlite3_column_int64(s, 1);
		row.actor = (const char *)sqlite3_column_text(s, 2);
		row.source = (const char *)sqlite3_column_text(s, 3);
		row.operation = (const char *)sqlite3_column_text(s, 4);
		row.uid = (const char *)sqlite3_column_text(s, 5);
		row.result = sqlite3_column_int64(s, 6);
		row.detail = (const char *)sqlite3_column_text(s, 7);
		if (row.actor == NULL) row.actor = "";
		if (row.source == NULL) row.source = "";
		if (row.operation == NULL) row.operation = "";
		if (row.uid == NULL) row.uid = "";
		if (row.detail == NULL) row.detail = "";
		if ((rc = fn(arg, &row)) != CF_OK)
			goto out;
	}
	if (r != SQLITE_DONE)
		rc = st_map_sqlite(st, r, "audit tail");
out:
	sqlite3_finalize(s);
	return rc;
}
