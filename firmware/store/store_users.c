/* Console administrators: the typed SQL for the `users` table (firmware/store/store_users.h).
 * Not a hot path: statements are prepared for each call (st_prepare) rather than cached. */
#include "firmware/store/store_users.h"

#include <stdlib.h>
#include <string.h>

#include "board/sec.h"
#include "firmware/store/store_int.h"

#define USER_COLS "name,role,pw_hash,totp,must_change,created,disabled,failed,locked_until"

void store_user_free(struct store_user *u)
{
	if (u == NULL)
		return;
	/* the blob is sealed, but it is still nobody else's business */
	sec_freezero(u->totp, u->totp_len);
	sec_wipe(u, sizeof *u);
}

void store_user_list_free(struct store_user *u, size_t n)
{
	if (u == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		store_user_free(&u[i]);
	free(u);
}

static bool name_ok(const char *name)
{
	return st_text_ok(name, STORE_USER_NAME_MAX);
}

static bool user_ok(const struct store_user *u)
{
	return u != NULL && name_ok(u->name) && st_text_ok(u->role, sizeof u->role - 1) &&
	       st_text_ok(u->pw_hash, STORE_USER_HASH_MAX) &&
	       (u->totp == NULL || (u->totp_len > 0 && u->totp_len <= STORE_USER_TOTP_MAX));
}

/* Bind a blob, NULL for none. */
static int bind_blob_opt(sqlite3_stmt *s, int i, const uint8_t *b, size_t n)
{
	if (b == NULL || n == 0)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_blob(s, i, b, (int)n, SQLITE_STATIC);
}

static cf_err user_write(struct store *st, const char *sql, const struct store_user *u,
			 const char *what)
{
	sqlite3_stmt *s = NULL;
	cf_err rc;
	if (st == NULL || !user_ok(u))
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, sql, &s));
	int r = st_bind_text(s, 1, u->name);
	if (r == SQLITE_OK) r = st_bind_text(s, 2, u->role);
	if (r == SQLITE_OK) r = st_bind_text(s, 3, u->pw_hash);
	if (r == SQLITE_OK) r = bind_blob_opt(s, 4, u->totp, u->totp_len);
	if (r == SQLITE_OK) r = sqlite3_bind_int(s, 5, u->must_change ? 1 : 0);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 6, u->created);
	if (r == SQLITE_OK) r = sqlite3_bind_int(s, 7, u->disabled ? 1 : 0);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 8, u->failed);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 9, u->locked_until);
	if (r != SQLITE_OK)
		rc = st_map_sqlite(st, r, what);
	else
		rc = st_stmt_run(st, s, what);
	sqlite3_finalize(s);
	return rc;
}

cf_err store_user_insert(struct store *st, const struct store_user *u)
{
	return user_write(st, "INSERT INTO users(" USER_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
			  u, "insert user");
}

cf_err store_user_put(struct store *st, const struct store_user *u)
{
	return user_write(st, "INSERT OR REPLACE INTO users(" USER_COLS ") "
			  "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)", u, "put user");
}

static cf_err user_row(sqlite3_stmt *s, struct store_user *out)
{
	cf_err rc;
	memset(out, 0, sizeof *out);
	if ((rc = st_col_text_copy(s, 0, out->name, sizeof out->name)) != CF_OK ||
	    (rc = st_col_text_copy(s, 1, out->role, sizeof out->role)) != CF_OK ||
	    (rc = st_col_text_copy(s, 2, out->pw_hash, sizeof out->pw_hash)) != CF_OK ||
	    (rc = st_col_blob_dup(s, 3, &out->totp, &out->totp_len)) != CF_OK)
		goto fail;
	if (out->totp != NULL && out->totp_len == 0) {
		free(out->totp);
		out->totp = NULL;
	}
	out->must_change = sqlite3_column_int(s, 4) != 0;
	out->created = sqlite3_column_int64(s, 5);
	out->disabled = sqlite3_column_int(s, 6) != 0;
	int64_t f = sqlite3_column_int64(s, 7);
	out->failed = f < 0 ? 0 : f > UINT32_MAX ? UINT32_MAX : (uint32_t)f;
	out->locked_until = sqlite3_column_int64(s, 8);
	return CF_OK;
fail:
	store_user_free(out);
	return rc;
}

cf_err store_user_get(struct store *st, const char *name, struct store_user *out)
{
	sqlite3_stmt *s = NULL;
	cf_err rc;
	memset(out, 0, sizeof *out);
	if (st == NULL || !name_ok(name))
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, "SELECT " USER_COLS " FROM users WHERE name=?1", &s));
	int r = st_bind_text(s, 1, name);
	if (r != SQLITE_OK) {
		rc = st_map_sqlite(st, r, "bind user");
	} else {
		r = sqlite3_step(s);
		if (r == SQLITE_ROW)
			rc = user_row(s, out);
		else if (r == SQLITE_DONE)
			rc = CF_E_NOT_FOUND;
		else
			rc = st_map_sqlite(st, r, "read user");
	}
	sqlite3_finalize(s);
	return rc;
}

cf_err store_user_list(struct store *st, struct store_user **out, size_t *n)
{
	sqlite3_stmt *s = NULL;
	struct store_user *v = NULL;
	size_t cnt = 0, cap = 0;
	cf_err rc = CF_OK;
	int r;
	*out = NULL;
	*n = 0;
	if (st == NULL)
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, "SELECT " USER_COLS " FROM users ORDER BY name", &s));
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct store_user *nv = realloc(v, ncap * sizeof *nv);
			if (nv == NULL) {
				rc = CF_E_NOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		if ((rc = user_row(s, &v[cnt])) != CF_OK)
			break;
		cnt++;
	}
	if (rc == CF_OK && r != SQLITE_DONE)
		rc = st_map_sqlite(st, r, "list users");
	sqlite3_finalize(s);
	if (rc != CF_OK) {
		store_user_list_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return CF_OK;
}

cf_err store_user_count(struct store *st, size_t *n)
{
	sqlite3_stmt *s = NULL;
	cf_err rc;
	*n = 0;
	if (st == NULL)
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, "SELECT count(*) FROM users", &s));
	int r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		*n = (size_t)sqlite3_column_int64(s, 0);
		rc = CF_OK;
	} else {
		rc = st_map_sqlite(st, r, "count users");
	}
	sqlite3_finalize(s);
	return rc;
}

/* Run an UPDATE whose ?1 is the name: CF_E_NOT_FOUND when no row changed. */
static cf_err update_done(struct store *st, sqlite3_stmt *s, int r, const char *what)
{
	cf_err rc;
	if (r != SQLITE_OK)
		rc = st_map_sqlite(st, r, what);
	else if ((rc = st_stmt_run(st, s, what)) == CF_OK && sqlite3_changes(st->db) == 0)
		rc = CF_E_NOT_FOUND;
	sqlite3_finalize(s);
	return rc;
}

cf_err store_user_set_credentials(struct store *st, const char *name, const char *pw_hash,
				  const uint8_t *totp, size_t totp_len, bool must_change)
{
	sqlite3_stmt *s = NULL;
	if (st == NULL || !name_ok(name) || !st_text_ok(pw_hash, STORE_USER_HASH_MAX) ||
	    (totp != NULL && (totp_len == 0 || totp_len > STORE_USER_TOTP_MAX)))
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, "UPDATE users SET pw_hash=?2,totp=?3,must_change=?4,failed=0,"
		       "locked_until=0 WHERE name=?1", &s));
	int r = st_bind_text(s, 1, name);
	if (r == SQLITE_OK) r = st_bind_text(s, 2, pw_hash);
	if (r == SQLITE_OK) r = bind_blob_opt(s, 3, totp, totp_len);
	if (r == SQLITE_OK) r = sqlite3_bind_int(s, 4, must_change ? 1 : 0);
	return update_done(st, s, r, "set user credentials");
}

cf_err store_user_set_totp(struct store *st, const char *name, const uint8_t *totp,
			   size_t totp_len)
{
	sqlite3_stmt *s = NULL;
	if (st == NULL || !name_ok(name) ||
	    (totp != NULL && (totp_len == 0 || totp_len > STORE_USER_TOTP_MAX)))
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, "UPDATE users SET totp=?2 WHERE name=?1", &s));
	int r = st_bind_text(s, 1, name);
	if (r == SQLITE_OK) r = bind_blob_opt(s, 2, totp, totp_len);
	return update_done(st, s, r, "set user totp");
}

cf_err store_user_set_lockout(struct store *st, const char *name, uint32_t failed,
			      int64_t locked_until)
{
	sqlite3_stmt *s = NULL;
	if (st == NULL || !name_ok(name))
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, "UPDATE users SET failed=?2,locked_until=?3 WHERE name=?1", &s));
	int r = st_bind_text(s, 1, name);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 2, failed);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 3, locked_until);
	return update_done(st, s, r, "set user lockout");
}
