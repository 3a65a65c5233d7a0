/* Console-side typed SQL over the clients table (store_clients.h). Not a hot path: each
 * statement is prepared for one use (st_prepare). */
#include "firmware/store/store_clients.h"

#include <stdlib.h>
#include <string.h>

#include "firmware/store/store_int.h"

#define CLIENT_COLS "fingerprint,subject,issuer,tenant,role,created,name,kind,not_after,allow"

/* Copy the current row of s (columns CLIENT_COLS) into *out. */
static cf_err row_read(sqlite3_stmt *s, struct store_client *out)
{
	cf_err rc;

	memset(out, 0, sizeof *out);
	if ((rc = st_col_text_copy(s, 0, out->fingerprint, sizeof out->fingerprint)) != CF_OK ||
	    (rc = st_col_text_copy(s, 1, out->subject, sizeof out->subject)) != CF_OK ||
	    (rc = st_col_text_copy(s, 2, out->issuer, sizeof out->issuer)) != CF_OK ||
	    (rc = st_col_text_copy(s, 3, out->tenant, sizeof out->tenant)) != CF_OK ||
	    (rc = st_col_text_copy(s, 4, out->role, sizeof out->role)) != CF_OK ||
	    (rc = st_col_text_copy(s, 6, out->name, sizeof out->name)) != CF_OK ||
	    (rc = st_col_text_copy(s, 7, out->kind, sizeof out->kind)) != CF_OK ||
	    (rc = st_col_text_copy(s, 9, out->allow, sizeof out->allow)) != CF_OK) {
		memset(out, 0, sizeof *out);
		return rc;
	}
	out->created = sqlite3_column_int64(s, 5);
	out->not_after = sqlite3_column_int64(s, 8);
	return CF_OK;
}

/* Step a one-row query: CF_OK with *out, CF_E_NOT_FOUND, or an error. Finalizes s. */
static cf_err one_row(struct store *st, sqlite3_stmt *s, struct store_client *out, const char *what)
{
	cf_err rc;
	int r = sqlite3_step(s);

	if (r == SQLITE_ROW)
		rc = row_read(s, out);
	else if (r == SQLITE_DONE)
		rc = CF_E_NOT_FOUND;
	else
		rc = st_map_sqlite(st, r, what);
	sqlite3_finalize(s);
	return rc;
}

cf_err store_client_list(struct store *st, struct store_client_list *out)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	cf_err rc;
	int r;

	if (out == NULL)
		return CF_E_INVALID_ARG;
	out->v = NULL;
	out->n = 0;
	if (st == NULL)
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, "SELECT " CLIENT_COLS " FROM clients ORDER BY name, created, fingerprint",
		       &s));
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		if (out->n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct store_client *v = realloc(out->v, ncap * sizeof *v);
			if (v == NULL) {
				rc = CF_E_NOMEM;
				goto out;
			}
			out->v = v;
			cap = ncap;
		}
		if ((rc = row_read(s, &out->v[out->n])) != CF_OK)
			goto out;
		out->n++;
	}
	rc = r == SQLITE_DONE ? CF_OK : st_map_sqlite(st, r, "list clients");
out:
	sqlite3_finalize(s);
	if (rc != CF_OK)
		store_client_list_free(out);
	return rc;
}

void store_client_list_free(struct store_client_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

cf_err store_client_by_name(struct store *st, const char *name, struct store_client *out)
{
	sqlite3_stmt *s = NULL;

	if (out == NULL)
		return CF_E_INVALID_ARG;
	memset(out, 0, sizeof *out);
	if (st == NULL || !st_text_ok(name, sizeof out->name - 1))
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, "SELECT " CLIENT_COLS " FROM clients WHERE name=?1 AND role<>'"
			   STORE_CLIENT_ROLE_REVOKED "' ORDER BY created DESC LIMIT 1", &s));
	if (st_bind_text(s, 1, name) != SQLITE_OK) {
		sqlite3_finalize(s);
		return CF_E_STORE;
	}
	return one_row(st, s, out, "client by name");
}

cf_err store_client_find_active(struct store *st, const char *subject, const char *issuer,
				struct store_client *out)
{
	sqlite3_stmt *s = NULL;

	if (out == NULL)
		return CF_E_INVALID_ARG;
	memset(out, 0, sizeof *out);
	if (st == NULL || !st_text_ok(subject, sizeof out->subject - 1) ||
	    !st_text_ok(issuer, sizeof out->issuer - 1))
		return CF_E_INVALID_ARG;
	TRY(st_prepare(st, "SELECT " CLIENT_COLS " FROM clients WHERE subject=?1 AND issuer=?2 "
			   "AND role<>'" STORE_CLIENT_ROLE_REVOKED "' AND kind IN ('"
			   STORE_CLIENT_KIND_SIGNED "','" STORE_CLIENT_KIND_ISSUED "','') "
			   "ORDER BY created DESC LIMIT 1", &s));
	if (st_bind_text(s, 1, subject) != SQLITE_OK || st_bind_text(s, 2, issuer) != SQLITE_OK) {
		sqlite3_finalize(s);
		return CF_E_STORE;
	}
	return one_row(st, s, out, "client by subject");
}

/* Run a one-use change statement with one text parameter (?1), and a second (?2) when v2 is not
 * NULL, inside a transaction;
 * CF_E_NOT_FOUND when it changed no row. */
static cf_err change2(struct store *st, const char *sql, const char *v, const char *v2,
		       const char *what)
{
	sqlite3_stmt *s = NULL;
	cf_err rc;

	TRY(store_tx_begin(st));
	if ((rc = st_prepare(st, sql, &s)) != CF_OK)
		goto out;
	if (st_bind_text(s, 1, v) != SQLITE_OK ||
	    (v2 != NULL && sqlite3_bind_text(s, 2, v2, -1, SQLITE_STATIC) != SQLITE_OK)) {
		rc = CF_E_STORE;
		goto out;
	}
	if ((rc = st_stmt_run(st, s, what)) != CF_OK)
		goto out;
	if (sqlite3_changes(st->db) == 0) {
		rc = CF_E_NOT_FOUND;
		goto out;
	}
	sqlite3_finalize(s);
	return store_tx_commit(st);
out:
	sqlite3_finalize(s);
	store_tx_rollback(st);
	return rc;
}

static cf_err change1(struct store *st, const char *sql, const char *v, const char *what)
{
	return change2(st, sql, v, NULL, what);
}

cf_err store_client_revoke(struct store *st, const char *fingerprint)
{
	if (st == NULL || !st_text_ok(fingerprint, STORE_OWNER_MAX))
		return CF_E_INVALID_ARG;
	return change1(st, "UPDATE clients SET role='" STORE_CLIENT_ROLE_REVOKED "' "
			   "WHERE fingerprint=?1 AND role<>'" STORE_CLIENT_ROLE_REVOKED "'",
		       fingerprint, "revoke client");
}

cf_err store_client_delete_name(struct store *st, const char *name)
{
	if (st == NULL || !st_text_ok(name, 63))
		return CF_E_INVALID_ARG;
	return change1(st, "DELETE FROM clients WHERE name=?1", name, "delete clients by name");
}

cf_err store_client_set_allow(struct store *st, const char *fingerprint, const char *allow)
{
	if (st == NULL || !st_text_ok(fingerprint, STORE_OWNER_MAX) || allow == NULL ||
	    strlen(allow) >= STORE_CLIENT_ALLOW_MAX)
		return CF_E_INVALID_ARG;
	return change2(st, "UPDATE clients SET allow=?2 WHERE fingerprint=?1 AND role<>'"
			   STORE_CLIENT_ROLE_REVOKED "'", fingerprint, allow, "set client allow");
}
