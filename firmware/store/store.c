/* The object store on SQLite (schema and durability rules in docs/store.md).
 * The only file with SQL in the firmware. Every value reaches SQLite as a bound parameter. */
#include "firmware/store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board/hex.h"
#include "board/log.h"
#include "firmware/store/commit.h"
#include "firmware/store/store_int.h"

#define STORE_SCHEMA_VERSION 5
#define STORE_BUSY_DEFAULT_MS 5000u
/* journal_size_limit of the group-commit connections: above the ~4 MiB (1000 pages) the WAL
 * reaches between automatic checkpoints, so a reset keeps the file's size */
#define STORE_WAL_KEEP_BYTES "8388608"


#define OBJ_COLS "uid,object_type,state,tenant,owner,kek_version,wrapped,crypto_alg,crypto_len," \
	"usage_mask,created,activation,deactivation,destroyed,compromise,compromise_occurrence," \
	"last_change,revocation_reason,revocation_message,srv_flags,digest"
#define ATTR_COLS "name,attr_index,value_type,v_int,v_text,v_blob"
#define CLIENT_COLS "fingerprint,subject,issuer,tenant,role,created,name,kind,not_after"
#define CLIENT_READ_COLS CLIENT_COLS ",allow" /* allow: store_client_set_allow only */
#define AUDIT_COLS "seq,time,actor,source,operation,uid,result,detail,prev_hash,hash"

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT sp",
	[S_RELEASE] = "RELEASE sp",
	[S_ROLLBACK_TO] = "ROLLBACK TO sp",
	[S_OBJ_INSERT] = "INSERT INTO objects(" OBJ_COLS ") VALUES"
			 "(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21)",
	[S_OBJ_GET] = "SELECT " OBJ_COLS " FROM objects WHERE uid=?1 AND tenant=?2",
	[S_OBJ_STATE_GET] = "SELECT state FROM objects WHERE uid=?1 AND tenant=?2",
	[S_OBJ_STATE_SET] = "UPDATE objects SET state=?3,activation=?4,deactivation=?5,compromise=?6,"
			    "compromise_occurrence=?7,last_change=?8,revocation_reason=?9,"
			    "revocation_message=?10 WHERE uid=?1 AND tenant=?2",
	[S_OBJ_STALE] = "UPDATE objects SET srv_flags=srv_flags&~1 WHERE uid=?1 AND srv_flags&1",
	[S_OBJ_ARCHIVE] = "UPDATE objects SET srv_flags=(srv_flags&~4)|?3 WHERE uid=?1 AND tenant=?2",
	[S_OBJ_DESTROY] = "UPDATE objects SET state=?3,destroyed=?4,last_change=?4,wrapped=NULL "
			  "WHERE uid=?1 AND tenant=?2",
	[S_ATTR_MAXIDX] = "SELECT max(attr_index) FROM attributes WHERE uid=?1 AND name=?2",
	[S_ATTR_INSERT] = "INSERT INTO attributes(uid," ATTR_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7)",
	[S_ATTR_UPDATE] = "UPDATE attributes SET value_type=?4,v_int=?5,v_text=?6,v_blob=?7 "
			  "WHERE uid=?1 AND name=?2 AND attr_index=?3",
	[S_ATTR_DEL_ONE] = "DELETE FROM attributes WHERE uid=?1 AND name=?2 AND attr_index=?3",
	[S_ATTR_DEL_ALL] = "DELETE FROM attributes WHERE uid=?1 AND name=?2",
	[S_ATTR_GET_ALL] = "SELECT " ATTR_COLS " FROM attributes WHERE uid=?1 ORDER BY name,attr_index",
	[S_ATTR_GET_NAME] = "SELECT " ATTR_COLS " FROM attributes WHERE uid=?1 AND name=?2 "
			    "ORDER BY attr_index",
	[S_ATTR_NAMES] = "SELECT DISTINCT name FROM attributes WHERE uid=?1 ORDER BY name",
	[S_CLIENT_PUT] = "INSERT INTO clients(" CLIENT_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9) "
			 "ON CONFLICT(fingerprint) DO UPDATE SET subject=excluded.subject,"
			 "issuer=excluded.issuer,tenant=excluded.tenant,role=excluded.role,"
			 "name=excluded.name,kind=excluded.kind,not_after=excluded.not_after",
	[S_CLIENT_GET] = "SELECT " CLIENT_READ_COLS " FROM clients WHERE fingerprint=?1",
	[S_CLIENT_FIND] = "SELECT " CLIENT_READ_COLS " FROM clients WHERE subject=?1 AND issuer=?2 "
			  "ORDER BY created DESC LIMIT 1",
	[S_CLIENT_DEL] = "DELETE FROM clients WHERE fingerprint=?1",
	[S_META_SET] = "INSERT INTO meta(key,value) VALUES(?1,?2) "
		       "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
	[S_META_GET] = "SELECT value FROM meta WHERE key=?1",
	[S_AUDIT_HEAD] = "SELECT seq,hash FROM audit ORDER BY seq DESC LIMIT 1",
	[S_AUDIT_INSERT] = "INSERT INTO audit(" AUDIT_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
	[S_AUDIT_WALK] = "SELECT " AUDIT_COLS " FROM audit ORDER BY seq",
	[S_BEGIN_READ] = "BEGIN",
};

/* Schema version 1 (docs/store.md). Executed once, inside the creating transaction. */
static const char schema_v1[] =
	"CREATE TABLE meta("
	" key TEXT PRIMARY KEY NOT NULL,"
	" value TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE objects("
	" uid TEXT PRIMARY KEY NOT NULL,"
	" object_type INTEGER NOT NULL,"
	" state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 6),"
	" tenant TEXT NOT NULL,"
	" owner TEXT NOT NULL,"
	" kek_version INTEGER NOT NULL,"
	" wrapped BLOB,"
	" crypto_alg INTEGER,"
	" crypto_len INTEGER,"
	" usage_mask INTEGER,"
	" created INTEGER NOT NULL,"
	" activation INTEGER,"
	" deactivation INTEGER,"
	" destroyed INTEGER,"
	" compromise INTEGER,"
	" compromise_occurrence INTEGER,"
	" last_change INTEGER,"
	" revocation_reason INTEGER,"
	" revocation_message TEXT,"
	" CHECK (wrapped IS NULL OR state NOT IN (5, 6)));"
	"CREATE INDEX objects_tenant ON objects(tenant, object_type, state);"
	"CREATE TABLE attributes("
	" uid TEXT NOT NULL REFERENCES objects(uid) ON DELETE CASCADE,"
	" name TEXT NOT NULL,"
	" attr_index INTEGER NOT NULL CHECK (attr_index >= 0),"
	" value_type INTEGER NOT NULL,"
	" v_int INTEGER,"
	" v_text TEXT,"
	" v_blob BLOB,"
	" PRIMARY KEY (uid, name, attr_index)) WITHOUT ROWID;"
	"CREATE INDEX attributes_text ON attributes(name, v_text) WHERE v_text IS NOT NULL;"
	"CREATE INDEX attributes_int ON attributes(name, v_int) WHERE v_int IS NOT NULL;"
	"CREATE TABLE clients("
	" fingerprint TEXT PRIMARY KEY NOT NULL,"
	" subject TEXT NOT NULL,"
	" issuer TEXT NOT NULL,"
	" tenant TEXT NOT NULL,"
	" role TEXT NOT NULL,"
	" created INTEGER NOT NULL);"
	"CREATE INDEX clients_identity ON clients(subject, issuer);"
	"CREATE TABLE audit("
	" seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
	" time INTEGER NOT NULL,"
	" actor TEXT NOT NULL,"
	" source TEXT NOT NULL,"
	" operation TEXT NOT NULL,"
	" uid TEXT NOT NULL,"
	" result INTEGER NOT NULL,"
	" detail TEXT NOT NULL,"
	" prev_hash BLOB NOT NULL,"
	" hash BLOB NOT NULL);"
	/* append-only for the service itself (a bug cannot rewrite history; an attacker with the
	 * file can, which is what audit_verify and the syslog copy are for) */
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;";

/* Migrations: migrations[v] upgrades schema version v to v + 1 (none yet: v1 is the first). */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
	[0] = NULL, /* 0 -> 1 is schema_v1 itself */
	/* 1 -> 2: console administrators (firmware/console, docs/console.md). pw_hash is an
	 * Argon2id encoded string; totp is the TOTP secret sealed as the console code describes
	 * (never plaintext); failed/locked_until drive the lockout. */
	[1] = "CREATE TABLE users("
	      " name TEXT PRIMARY KEY NOT NULL,"
	      " role TEXT NOT NULL,"
	      " pw_hash TEXT NOT NULL,"
	      " totp BLOB,"
	      " must_change INTEGER NOT NULL DEFAULT 0,"
	      " created INTEGER NOT NULL,"
	      " disabled INTEGER NOT NULL DEFAULT 0,"
	      " failed INTEGER NOT NULL DEFAULT 0,"
	      " locked_until INTEGER NOT NULL DEFAULT 0);"
	      /* clients managed from the console: a name, how the certificate came to be
	       * trusted, and when it expires */
	      "ALTER TABLE clients ADD COLUMN name TEXT NOT NULL DEFAULT '';"
	      "ALTER TABLE clients ADD COLUMN kind TEXT NOT NULL DEFAULT '';"
	      "ALTER TABLE clients ADD COLUMN not_after INTEGER NOT NULL DEFAULT 0;"
	      "CREATE INDEX clients_name ON clients(name);",
	/* 2 -> 3: server-kept KMIP 1.4 attributes (docs/kmip-server.md "Server attributes"):
	 * srv_flags (STORE_SF_*: Fresh until the key material is first returned, generated by
	 * the server; rows from before: 0, unknown) and Digest (the SHA-256 of the key material
	 * computed when it was made, NULL if none). A v2 store kept a Digest as an attribute row
	 * (Hashing Algorithm, then Digest Value 0x420035 of 32 bytes at offset 24 of v_blob): its
	 * value moves to the column, so that one source answers for every object. */
	[2] = "ALTER TABLE objects ADD COLUMN srv_flags INTEGER NOT NULL DEFAULT 0;"
	      "ALTER TABLE objects ADD COLUMN digest BLOB;"
	      "UPDATE objects SET digest=(SELECT substr(a.v_blob,25,32) FROM attributes a"
	      " WHERE a.uid=objects.uid AND a.name='Digest' AND length(a.v_blob)>=56"
	      " AND substr(a.v_blob,17,8)=X'4200350800000020' ORDER BY a.attr_index LIMIT 1);"
	      "DELETE FROM attributes WHERE name='Digest';",
	/* 3 -> 4: Locate by an Initial Date (range) within a tenant, through an index
	 * (store_locate_run; docs/store.md "Locate") */
	[3] = "CREATE INDEX IF NOT EXISTS objects_tenant_created ON objects(tenant, created);",
	/* 4 -> 5: per-client source-address allow-list (`client allow`, docs/security.md
	 * "Source-address allow-lists"): space-separated CIDRs, '' = any */
	[4] = "ALTER TABLE clients ADD COLUMN allow TEXT NOT NULL DEFAULT '';",
};


/* ---- helpers --------------------------------------------------------------------------- */

cf_err st_map_sqlite(struct store *st, int rc, const char *what)
{
	int prim = rc & 0xff;
	switch (prim) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return CF_OK;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
			return CF_E_EXISTS;
		log_err("store: %s: %s", what, st ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		return CF_E_STORE;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		log_warn("store: %s: database busy", what);
		return CF_E_AGAIN;
	case SQLITE_NOMEM:
		return CF_E_NOMEM;
	case SQLITE_FULL:
		log_err("store: %s: the data disk is full", what);
		return CF_E_STORE_FULL;
	default:
		log_err("store: %s: %s (%d)", what, st ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc), rc);
		return CF_E_STORE;
	}
}

static cf_err stmt_get(struct store *st, enum stmt_id id, sqlite3_stmt **out)
{
	*out = NULL;
	if (st->stmt[id] == NULL) {
		int rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					    &st->stmt[id], NULL);
		if (rc != SQLITE_OK)
			return st_map_sqlite(st, rc, "prepare");
	}
	*out = st->stmt[id];
	return CF_OK;
}

void st_stmt_done(sqlite3_stmt *s)
{
	if (s == NULL)
		return;
	(void)sqlite3_reset(s);
	(void)sqlite3_clear_bindings(s);
}

/* Step a statement that returns no row. */
cf_err st_stmt_run(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	cf_err e = rc == SQLITE_DONE ? CF_OK : st_map_sqlite(st, rc == SQLITE_ROW ? SQLITE_MISUSE : rc, what);
	st_stmt_done(s);
	return e;
}

static cf_err exec_id(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s;
	TRY(stmt_get(st, id, &s));
	return st_stmt_run(st, s, stmt_sql[id]);
}

bool st_text_ok(const char *s, size_t max)
{
	if (s == NULL || s[0] == '\0')
		return false;
	return strnlen(s, max + 1) <= max;
}

bool st_text_opt_ok(const char *s, size_t max)
{
	return s == NULL || strnlen(s, max + 1) <= max;
}

int st_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

int st_bind_date(sqlite3_stmt *s, int i, int64_t v)
{
	return v == 0 ? sqlite3_bind_null(s, i) : sqlite3_bind_int64(s, i, v);
}

static int bind_u32_opt(sqlite3_stmt *s, int i, int64_t v)
{
	return v == 0 ? sqlite3_bind_null(s, i) : sqlite3_bind_int64(s, i, v);
}

/* Copy a text column into a fixed array; longer than the array = corrupt row. */
cf_err st_col_text_copy(sqlite3_stmt *s, int col, char *out, size_t outsz)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	int n = sqlite3_column_bytes(s, col);
	out[0] = '\0';
	if (t == NULL)
		return CF_OK;
	if (n < 0 || (size_t)n >= outsz)
		return CF_E_STORE;
	memcpy(out, t, (size_t)n);
	out[n] = '\0';
	return CF_OK;
}

cf_err st_col_text_dup(sqlite3_stmt *s, int col, char **out)
{
	*out = NULL;
	const unsigned char *t = sqlite3_column_text(s, col);
	if (t == NULL)
		return CF_OK;
	int n = sqlite3_column_bytes(s, col);
	if (n < 0)
		return CF_E_STORE;
	char *c = malloc((size_t)n + 1);
	if (c == NULL)
		return CF_E_NOMEM;
	memcpy(c, t, (size_t)n);
	c[n] = '\0';
	*out = c;
	return CF_OK;
}

cf_err st_col_blob_dup(sqlite3_stmt *s, int col, uint8_t **out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return CF_OK;
	const void *b = sqlite3_column_blob(s, col);
	int n = sqlite3_column_bytes(s, col);
	if (n < 0)
		return CF_E_STORE;
	uint8_t *c = malloc(n > 0 ? (size_t)n : 1);
	if (c == NULL)
		return CF_E_NOMEM;
	if (n > 0)
		memcpy(c, b, (size_t)n);
	*out = c;
	*n_out = (size_t)n;
	return CF_OK;
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (slash == NULL) {
		dir[0] = '.';
		dir[1] = '\0';
	} else if (slash == path) {
		dir[0] = '/';
		dir[1] = '\0';
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof dir)
			return -1;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* The file must be ours, regular, and closed to group and others. */
/* -wal / -shm companions, when present, must pass the same test (no symlink games). */
static cf_err check_companion(const char *path, const char *suffix)
{
	char p[PATH_MAX];
	int n = snprintf(p, sizeof p, "%s%s", path, suffix);
	if (n < 0 || (size_t)n >= sizeof p)
		return CF_E_INVALID_ARG;
	struct stat sb;
	if (lstat(p, &sb) != 0)
		return errno == ENOENT ? CF_OK : CF_E_IO;
	if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid() || (sb.st_mode & 077) != 0)
		return CF_E_PERM_FILE;
	return CF_OK;
}

/* Create the database file 0600 (O_EXCL|O_NOFOLLOW) or check the existing one. */
static cf_err file_prepare(const char *path, bool *created)
{
	*created = false;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		cf_err rc = CF_OK;
		if (fchmod(fd, 0600) != 0 || fsync(fd) != 0)
			rc = CF_E_IO;
		close(fd);
		if (rc != CF_OK)
			return rc;
		if (fsync_dir_of(path) != 0)
			return CF_E_IO;
		*created = true;
		return CF_OK;
	}
	if (errno != EEXIST) {
		log_err("store: cannot create %s: %s", path, strerror(errno));
		return errno == ELOOP ? CF_E_PERM_FILE : CF_E_IO;
	}
	/* An existing file is checked with lstat, never opened here: closing any descriptor of
	 * the database file drops every POSIX lock this process holds on it (fcntl semantics),
	 * which would let another process think our open connections are gone and delete the
	 * -wal and -shm files under them. SQLite opens it with SQLITE_OPEN_NOFOLLOW. */
	struct stat sb;
	if (lstat(path, &sb) != 0) {
		log_err("store: cannot stat %s: %s", path, strerror(errno));
		return CF_E_IO;
	}
	cf_err rc = (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid() || (sb.st_mode & 077) != 0)
			    ? CF_E_PERM_FILE : CF_OK;
	if (rc == CF_E_PERM_FILE)
		log_err("store: %s must be a regular file owned by us, mode 0600", path);
	return rc;
}

cf_err st_pragma_set(struct store *st, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK) {
		log_err("store: %s: %s", sql, err ? err : sqlite3_errstr(rc));
		sqlite3_free(err);
		return st_map_sqlite(NULL, rc, sql);
	}
	return CF_OK;
}

/* Run a PRAGMA that answers one row and compare its first column to want (case-insensitive). */
static cf_err pragma_expect(struct store *st, const char *sql, const char *want)
{
	sqlite3_stmt *s = NULL;
	cf_err rc = CF_E_STORE;
	int r = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (r != SQLITE_OK) {
		rc = st_map_sqlite(st, r, sql);
		goto out;
	}
	r = sqlite3_step(s);
	if (r != SQLITE_ROW) {
		rc = st_map_sqlite(st, r == SQLITE_DONE ? SQLITE_ERROR : r, sql);
		goto out;
	}
	const char *v = (const char *)sqlite3_column_text(s, 0);
	if (v == NULL || strcasecmp(v, want) != 0) {
		log_err("store: %s answered '%s', expected '%s'", sql, v ? v : "(null)", want);
		rc = CF_E_STORE;
		goto out;
	}
	rc = CF_OK;
out:
	sqlite3_finalize(s);
	return rc;
}

/* A read snapshot for multi-statement reads: BEGIN when no transaction is open (a caller's
 * transaction already gives one). st_read_end commits only what st_read_begin opened. */
cf_err st_read_begin(struct store *st, bool *opened)
{
	*opened = false;
	if (!sqlite3_get_autocommit(st->db))
		return CF_OK;
	TRY(st_pragma_set(st, "BEGIN"));
	*opened = true;
	return CF_OK;
}

void st_read_end(struct store *st, bool opened)
{
	if (opened && !sqlite3_get_autocommit(st->db))
		(void)sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
}

static cf_err user_version_get(struct store *st, int *v)
{
	sqlite3_stmt *s = NULL;
	cf_err rc = CF_E_STORE;
	*v = -1;
	int r = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
	if (r != SQLITE_OK || (r = sqlite3_step(s)) != SQLITE_ROW) {
		rc = st_map_sqlite(st, r == SQLITE_DONE ? SQLITE_ERROR : r, "user_version");
		goto out;
	}
	*v = sqlite3_column_int(s, 0);
	rc = CF_OK;
out:
	sqlite3_finalize(s);
	return rc;
}

static cf_err schema_apply(struct store *st)
{
	cf_err rc = CF_E_INTERNAL;
	int v;
	char sql[64];
	if ((rc = store_tx_begin(st)) != CF_OK)
		return rc;
	/* re-read under the write lock: another connection may have created it meanwhile */
	if ((rc = user_version_get(st, &v)) != CF_OK)
		goto out;
	if (v > STORE_SCHEMA_VERSION) {
		log_err("store: schema version %d is newer than this firmware (%d)", v,
			STORE_SCHEMA_VERSION);
		rc = CF_E_STORE;
		goto out;
	}
	if (v == 0) {
		if ((rc = st_pragma_set(st, schema_v1)) != CF_OK)
			goto out;
		v = 1;
	}
	for (; v < STORE_SCHEMA_VERSION; v++) {
		if (migrations[v] == NULL) {
			rc = CF_E_INTERNAL;
			goto out;
		}
		if ((rc = st_pragma_set(st, migrations[v])) != CF_OK)
			goto out;
	}
	snprintf(sql, sizeof sql, "PRAGMA user_version=%d", STORE_SCHEMA_VERSION);
	if ((rc = st_pragma_set(st, sql)) != CF_OK)
		goto out;
	return store_tx_commit(st);
out:
	store_tx_rollback(st);
	return rc;
}

/* ---- connection ------------------------------------------------------------------------ */

int store_schema_version(void)
{
	return STORE_SCHEMA_VERSION;
}

cf_err store_open(const char *path, const struct store_opts *opts, struct store **out)
{
	cf_err rc = CF_E_INTERNAL;
	struct store *st = NULL;
	bool created = false;
	int v = 0;

	if (out == NULL)
		return CF_E_INVALID_ARG;
	*out = NULL;
	if (path == NULL || path[0] == '\0' || strnlen(path, PATH_MAX - 8) >= PATH_MAX - 8)
		return CF_E_INVALID_ARG;
	if ((rc = file_prepare(path, &created)) != CF_OK)
		return rc;
	if ((rc = check_companion(path, "-wal")) != CF_OK ||
	    (rc = check_companion(path, "-shm")) != CF_OK) {
		log_err("store: %s-wal/-shm must be regular files owned by us, mode 0600", path);
		return rc;
	}
	st = calloc(1, sizeof *st);
	if (st == NULL)
		return CF_E_NOMEM;
	st->notify_fd = -1;
	if (opts != NULL)
		st->opts = *opts;
	if (st->opts.busy_timeout_ms == 0)
		st->opts.busy_timeout_ms = STORE_BUSY_DEFAULT_MS;
	if ((rc = commit_group_get(path, &st->cg)) != CF_OK)
		goto out;

	int r = sqlite3_open_v2(path, &st->db,
				SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX |
					SQLITE_OPEN_EXRESCODE,
				NULL);
	if (r != SQLITE_OK) {
		log_err("store: open %s: %s", path, st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(r));
		rc = r == SQLITE_CANTOPEN ? CF_E_IO : CF_E_STORE;
		goto out;
	}
	(void)sqlite3_extended_result_codes(st->db, 1);
	if (sqlite3_busy_timeout(st->db, (int)(st->opts.busy_timeout_ms > INT_MAX ? INT_MAX
							: st->opts.busy_timeout_ms)) != SQLITE_OK) {
		rc = CF_E_STORE;
		goto out;
	}
	/* WAL + FULL: a COMMIT that returned is on disk, even through power loss. With group
	 * commit, NORMAL: the COMMIT writes the WAL and the group's fdatasync makes it durable
	 * before anyone is told (commit.h); the WAL header and checkpoints are still synced. */
	if ((rc = pragma_expect(st, "PRAGMA journal_mode=WAL", "wal")) != CF_OK)
		goto out;
	if ((rc = st_pragma_set(st, st->opts.group_commit ? "PRAGMA synchronous=NORMAL"
							  : "PRAGMA synchronous=FULL")) != CF_OK)
		goto out;
	/* the KMIP workers' connections: an 8 MiB page cache (default 2 MiB) keeps the hot index
	 * pages of a large store in memory instead of a pread per page (profile) */
	if (st->opts.group_commit && (rc = st_pragma_set(st, "PRAGMA cache_size=-8192")) != CF_OK)
		goto out;
	/* secure_delete: SQLite overwrites deleted content and freed pages with zeros, so a
	 * destroyed key's wrapped blob does not linger in free space of the file. */
	if ((rc = st_pragma_set(st, "PRAGMA foreign_keys=ON;"
				 "PRAGMA secure_delete=ON;"
				 "PRAGMA journal_size_limit=0;"
				 "PRAGMA trusted_schema=OFF;")) != CF_OK)
		goto out;
	/* The KMIP workers' connections keep the WAL file's size when it is reset after a
	 * checkpoint: its frames are then rewritten in place, and the group fdatasync need not
	 * also write the inode of a file that grows again after every reset (fsyncs ~20-35%
	 * shorter under Get load, docs/store.md). Frames left in the file's tail hold nothing a
	 * destroy leaves behind: a destroy runs its own TRUNCATE checkpoint ("WAL truncation"). */
	if (st->opts.group_commit &&
	    (rc = st_pragma_set(st, "PRAGMA journal_size_limit=" STORE_WAL_KEEP_BYTES ";")) != CF_OK)
		goto out;
	if ((rc = pragma_expect(st, "PRAGMA synchronous", st->opts.group_commit ? "1" : "2")) !=
		    CF_OK ||
	    (rc = pragma_expect(st, "PRAGMA foreign_keys", "1")) != CF_OK ||
	    (rc = pragma_expect(st, "PRAGMA secure_delete", "1")) != CF_OK)
		goto out;
	if ((rc = user_version_get(st, &v)) != CF_OK)
		goto out;
	if (v != STORE_SCHEMA_VERSION && (rc = schema_apply(st)) != CF_OK)
		goto out;
	/* the WAL and shm files exist now: make their directory entries durable too */
	if (created && fsync_dir_of(path) != 0) {
		rc = CF_E_IO;
		goto out;
	}
	*out = st;
	st = NULL;
	rc = CF_OK;
out:
	store_close(st);
	return rc;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->db != NULL && !sqlite3_get_autocommit(st->db))
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	if (st->wlocked)
		commit_wunlock(st->cg);
	st->wlocked = false;
	if (st->cg != NULL) {
		/* what we committed is durable before the connection goes */
		if (st->last_ticket != 0 && commit_wait(st->cg, st->last_ticket) != CF_OK)
			log_err("store: close: the last commit could not be made durable");
		if (st->notify_fd >= 0)
			commit_notify_del(st->cg, st->notify_fd);
	}
	for (size_t i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	for (size_t i = 0; i < st->n_pend; i++)
		free(st->pend[i].line);
	free(st->pend);
	if (st->db != NULL && sqlite3_close(st->db) != SQLITE_OK)
		log_err("store: close: %s", sqlite3_errmsg(st->db));
	commit_group_put(st->cg);
	memset(st, 0, sizeof *st);
	free(st);
}

cf_err store_check(struct store *st)
{
	if (st == NULL)
		return CF_E_INVALID_ARG;
	cf_err rc = pragma_expect(st, "PRAGMA quick_check", "ok");
	if (rc != CF_OK)
		log_err("store: quick_check failed");
	return rc == CF_OK ? CF_OK : CF_E_STORE;
}

static cf_err checkpoint(struct store *st, bool wait)
{
	int log_frames = 0, ckpt = 0;
	if (!wait)
		(void)sqlite3_busy_timeout(st->db, 0);
	int r = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log_frames, &ckpt);
	if (!wait)
		(void)sqlite3_busy_timeout(st->db, (int)(st->opts.busy_timeout_ms > INT_MAX
							     ? INT_MAX : st->opts.busy_timeout_ms));
	if ((r & 0xff) == SQLITE_BUSY)
		return CF_E_AGAIN;
	if (r != SQLITE_OK)
		return st_map_sqlite(st, r, "checkpoint");
	return CF_OK;
}

cf_err store_checkpoint(struct store *st)
{
	if (st == NULL || st->tx_depth != 0)
		return CF_E_INVALID_ARG;
	cf_err rc = checkpoint(st, true);
	if (rc == CF_OK)
		st->want_checkpoint = false;
	return rc;
}

/* ---- transactions ---------------------------------------------------------------------- */

unsigned store_tx_depth(const struct store *st)
{
	return st ? st->tx_depth : 0;
}

static void pending_drop_from(struct store *st, unsigned depth)
{
	size_t keep = 0;
	for (size_t i = 0; i < st->n_pend; i++) {
		if (st->pend[i].depth >= depth)
			free(st->pend[i].line);
		else
			st->pend[keep++] = st->pend[i];
	}
	st->n_pend = keep;
}

static void pending_emit(struct store *st)
{
	for (size_t i = 0; i < st->n_pend; i++) {
		commit_syslog_line(st->cg, st->pend[i].line);
		free(st->pend[i].line);
	}
	st->n_pend = 0;
}

/* The outermost level has ended (committed, rolled back, or undone by SQLite). */
static void tx_outer_done(struct store *st)
{
	st->tx_depth = 0;
	st->tx_read = false;
	if (st->wlocked) {
		st->wlocked = false;
		commit_wunlock(st->cg);
	}
}

/* One level fewer; the outermost one releases the write lock. */
static void tx_depth_down(struct store *st)
{
	if (st->tx_depth <= 1)
		tx_outer_done(st);
	else
		st->tx_depth--;
}

cf_err store_tx_begin(struct store *st)
{
	if (st == NULL)
		return CF_E_INVALID_ARG;
	if (st->tx_depth >= 32)
		return CF_E_DEPTH;
	if (st->tx_depth > 0 && sqlite3_get_autocommit(st->db))
		return CF_E_STORE; /* SQLite already rolled the outer transaction back */
	if (st->tx_depth > 0) {
		TRY(exec_id(st, S_SAVEPOINT));
		st->tx_depth++;
		return CF_OK;
	}
	/* our process's writers queue on the group's lock; SQLite's busy timeout then only
	 * covers other processes */
	TRY(commit_wlock(st->cg, st->opts.busy_timeout_ms));
	cf_err rc = exec_id(st, S_BEGIN);
	if (rc != CF_OK) {
		commit_wunlock(st->cg);
		return rc;
	}
	st->wlocked = true;
	st->tx_read = false;
	st->tx_depth = 1;
	return CF_OK;
}

cf_err store_read_tx_begin(struct store *st)
{
	if (st == NULL || st->tx_depth != 0)
		return CF_E_INVALID_ARG;
	TRY(exec_id(st, S_BEGIN_READ));
	st->tx_read = true;
	st->tx_depth = 1;
	return CF_OK;
}

cf_err store_read_tx_end(struct store *st)
{
	if (st == NULL || st->tx_depth == 0 || !st->tx_read)
		return CF_E_INVALID_ARG;
	cf_err rc = CF_OK;
	if (!sqlite3_get_autocommit(st->db)) {
		if (sqlite3_txn_state(st->db, "main") == SQLITE_TXN_WRITE) {
			/* a write inside a read snapshot would commit without the write lock and
			 * without a ticket: a bug, never committed */
			log_err("store: a read snapshot wrote: rolled back");
			(void)exec_id(st, S_ROLLBACK);
			rc = CF_E_INTERNAL;
		} else {
			rc = exec_id(st, S_COMMIT);
			if (rc != CF_OK && !sqlite3_get_autocommit(st->db))
				(void)exec_id(st, S_ROLLBACK);
		}
	}
	pending_drop_from(st, 1);
	tx_outer_done(st);
	return rc;
}

/* Commit the innermost level; the outermost one with group commit yields a ticket instead of
 * an fsync (*ticket = 0: durable already). */
static cf_err tx_commit(struct store *st, uint64_t *ticket)
{
	*ticket = 0;
	if (st == NULL || st->tx_depth == 0)
		return CF_E_INVALID_ARG;
	cf_err rc = CF_E_INTERNAL;
	if (sqlite3_get_autocommit(st->db)) {
		/* an error made SQLite roll the whole transaction back: nothing to commit */
		log_err("store: commit: transaction was rolled back by an earlier error");
		pending_drop_from(st, st->tx_depth);
		tx_depth_down(st);
		return CF_E_STORE;
	}
	if (st->tx_depth > 1) {
		rc = exec_id(st, S_RELEASE);
		if (rc != CF_OK) {
			store_tx_rollback(st);
			return rc;
		}
		for (size_t i = 0; i < st->n_pend; i++)
			if (st->pend[i].depth == st->tx_depth)
				st->pend[i].depth--;
		st->tx_depth--;
		return CF_OK;
	}
	if (st->tx_read)
		return store_read_tx_end(st);
	/* synchronous=FULL: returns after the WAL fsync; NORMAL (group commit): after the write */
	rc = exec_id(st, S_COMMIT);
	if (rc != CF_OK) {
		if (!sqlite3_get_autocommit(st->db))
			(void)exec_id(st, S_ROLLBACK);
		pending_drop_from(st, 1);
		tx_outer_done(st);
		return rc;
	}
	if (st->opts.group_commit) {
		/* the ticket is taken under the write lock: ticket order = WAL order */
		char **lines = NULL;
		size_t n = st->n_pend;
		if (n > 0 && (lines = malloc(n * sizeof *lines)) == NULL)
			n = 0;
		for (size_t i = 0; i < st->n_pend; i++) {
			if (lines != NULL)
				lines[i] = st->pend[i].line;
			else
				free(st->pend[i].line);
		}
		if (st->n_pend > 0 && lines == NULL)
			log_warn("store: syslog copies of a commit dropped (no memory)");
		st->n_pend = 0;
		cf_err nrc = commit_note(st->cg, lines, n, ticket);
		for (size_t i = 0; i < n; i++)
			free(lines[i]); /* those not taken over (NULL otherwise) */
		free(lines);
		if (nrc != CF_OK)
			log_warn_r(nrc, "store: syslog copies of a commit dropped");
		st->last_ticket = *ticket;
		tx_outer_done(st);
	} else {
		tx_outer_done(st);
		pending_emit(st);
	}
	if (st->want_checkpoint && checkpoint(st, false) == CF_OK)
		st->want_checkpoint = false;
	return CF_OK;
}

cf_err store_tx_commit(struct store *st)
{
	uint64_t t = 0;
	TRY(tx_commit(st, &t));
	if (t != 0) {
		cf_err rc = commit_wait(st->cg, t);
		if (rc != CF_OK) {
			log_err_r(rc, "store: commit could not be made durable");
			return rc;
		}
	}
	return CF_OK;
}

cf_err store_tx_commit_nowait(struct store *st, uint64_t *ticket)
{
	if (ticket == NULL)
		return CF_E_INVALID_ARG;
	return tx_commit(st, ticket);
}

int store_ticket_state(struct store *st, uint64_t ticket, cf_err *err)
{
	if (ticket == 0)
		return 1;
	if (st == NULL || st->cg == NULL) {
		if (err != NULL)
			*err = CF_E_INVALID_ARG;
		return -1;
	}
	return commit_state(st->cg, ticket, err);
}

int store_ticket_sync(struct store *st, uint64_t ticket, cf_err *err)
{
	int r = store_ticket_state(st, ticket, err);
	if (r != 0)
		return r;
	commit_sync_inline(st->cg, ticket);
	return store_ticket_state(st, ticket, err);
}

cf_err store_ticket_wait(struct store *st, uint64_t ticket)
{
	if (ticket == 0)
		return CF_OK;
	if (st == NULL || st->cg == NULL)
		return CF_E_INVALID_ARG;
	return commit_wait(st->cg, ticket);
}

cf_err store_sync_notify(struct store *st, int fd)
{
	if (st == NULL || st->cg == NULL)
		return CF_E_INVALID_ARG;
	if (st->notify_fd >= 0)
		commit_notify_del(st->cg, st->notify_fd);
	st->notify_fd = -1;
	if (fd < 0)
		return CF_OK;
	TRY(commit_notify_add(st->cg, fd));
	st->notify_fd = fd;
	return CF_OK;
}

void store_tx_rollback(struct store *st)
{
	if (st == NULL || st->tx_depth == 0)
		return;
	pending_drop_from(st, st->tx_depth);
	if (sqlite3_get_autocommit(st->db)) {
		/* already rolled back by SQLite: only unwind our count */
		tx_depth_down(st);
		return;
	}
	if (st->tx_depth > 1) {
		if (exec_id(st, S_ROLLBACK_TO) != CF_OK || exec_id(st, S_RELEASE) != CF_OK) {
			log_err("store: rollback to savepoint failed");
		}
	} else if (exec_id(st, S_ROLLBACK) != CF_OK) {
		log_err("store: rollback failed");
	}
	tx_depth_down(st);
}

cf_err store_tx_syslog_on_commit(struct store *st, const char *line)
{
	if (st == NULL || line == NULL || st->tx_depth == 0)
		return CF_E_INVALID_ARG;
	if (!st->opts.audit_syslog)
		return CF_OK;
	if (st->n_pend == st->cap_pend) {
		size_t ncap = st->cap_pend ? st->cap_pend * 2 : 8;
		struct pending_line *np = realloc(st->pend, ncap * sizeof *np);
		if (np == NULL)
			return CF_E_NOMEM;
		st->pend = np;
		st->cap_pend = ncap;
	}
	char *c = strdup(line);
	if (c == NULL)
		return CF_E_NOMEM;
	st->pend[st->n_pend].line = c;
	st->pend[st->n_pend].depth = st->tx_depth;
	st->n_pend++;
	return CF_OK;
}

/* ---- unique identifiers ---------------------------------------------------------------- */

cf_err store_uid_new(store_rng_fn rng, void *rng_arg, char out[static STORE_UUID_LEN + 1])
{
	uint8_t b[16];
	char h[2 * sizeof b + 1];
	out[0] = '\0';
	if (rng == NULL)
		return CF_E_INVALID_ARG;
	TRY(rng(rng_arg, b, sizeof b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
	TRY(hex_encode(b, sizeof b, HEX_LOWER, h, sizeof h));
	/* 8-4-4-4-12 digits */
	snprintf(out, STORE_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16,
		 h + 20);
	return CF_OK;
}

/* ---- objects --------------------------------------------------------------------------- */

void store_object_free(struct store_object *o)
{
	if (o == NULL)
		return;
	free(o->wrapped);
	free(o->revocation_message);
	memset(o, 0, sizeof *o);
}

static bool attr_ok(const struct store_attr *a)
{
	if (a == NULL || !st_text_ok(a->name, STORE_NAME_MAX))
		return false;
	if (!st_text_opt_ok(a->v_text, STORE_TEXT_MAX))
		return false;
	if (a->v_blob == NULL ? a->v_blob_len != 0 : a->v_blob_len > STORE_BLOB_MAX)
		return false;
	return true;
}

static int bind_attr_value(sqlite3_stmt *s, const struct store_attr *a)
{
	int r = sqlite3_bind_int64(s, 4, a->value_type);
	if (r == SQLITE_OK)
		r = a->has_int ? sqlite3_bind_int64(s, 5, a->v_int) : sqlite3_bind_null(s, 5);
	if (r == SQLITE_OK)
		r = st_bind_text(s, 6, a->v_text);
	if (r == SQLITE_OK)
		r = a->v_blob ? sqlite3_bind_blob(s, 7, a->v_blob, (int)a->v_blob_len, SQLITE_STATIC)
			      : sqlite3_bind_null(s, 7);
	return r;
}

static cf_err attr_insert_locked(struct store *st, const char *uid, const struct store_attr *a,
				 uint32_t *index_out)
{
	sqlite3_stmt *s;
	int64_t next = 0;
	TRY(stmt_get(st, S_ATTR_MAXIDX, &s));
	int r = st_bind_text(s, 1, uid);
	if (r == SQLITE_OK)
		r = st_bind_text(s, 2, a->name);
	if (r == SQLITE_OK) {
		r = sqlite3_step(s);
		if (r == SQLITE_ROW) {
			if (sqlite3_column_type(s, 0) != SQLITE_NULL)
				next = sqlite3_column_int64(s, 0) + 1;
			r = SQLITE_OK;
		}
	}
	st_stmt_done(s);
	if (r != SQLITE_OK)
		return st_map_sqlite(st, r, "attribute index");
	if (next < 0 || next > (int64_t)UINT32_MAX - 1)
		return CF_E_TOO_MANY;
	TRY(stmt_get(st, S_ATTR_INSERT, &s));
	r = st_bind_text(s, 1, uid);
	if (r == SQLITE_OK)
		r = st_bind_text(s, 2, a->name);
	if (r == SQLITE_OK)
		r = sqlite3_bind_int64(s, 3, next);
	if (r == SQLITE_OK)
		r = bind_attr_value(s, a);
	if (r != SQLITE_OK) {
		st_stmt_done(s);
		return st_map_sqlite(st, r, "bind attribute");
	}
	TRY(st_stmt_run(st, s, "insert attribute"));
	if (index_out != NULL)
		*index_out = (uint32_t)next;
	return CF_OK;
}

cf_err store_object_insert(struct store *st, const struct store_object *o,
			   const struct store_attr *attrs, size_t n_attrs)
{
	cf_err rc = CF_E_INTERNAL;
	sqlite3_stmt *s = NULL;
	if (st == NULL || o == NULL || (attrs == NULL && n_attrs != 0))
		return CF_E_INVALID_ARG;
	if (!st_text_ok(o->uid, STORE_UID_MAX) || !st_text_ok(o->tenant, STORE_TENANT_MAX) ||
	    !st_text_opt_ok(o->owner, STORE_OWNER_MAX) ||
	    !st_text_opt_ok(o->revocation_message, STORE_TEXT_MAX) ||
	    o->state < STORE_STATE_PRE_ACTIVE || o->state > STORE_STATE_COMPROMISED ||
	    (o->wrapped == NULL ? o->wrapped_len != 0 : o->wrapped_len > STORE_BLOB_MAX) ||
	    o->created == 0)
		return CF_E_INVALID_ARG;
	for (size_t i = 0; i < n_attrs; i++)
		if (!attr_ok(&attrs[i]))
			return CF_E_INVALID_ARG;

	TRY(store_tx_begin(st));
	if ((rc = stmt_get(st, S_OBJ_INSERT, &s)) != CF_OK)
		goto out;
	int r = st_bind_text(s, 1, o->uid);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 2, o->object_type);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 3, o->state);
	if (r == SQLITE_OK) r = st_bind_text(s, 4, o->tenant);
	if (r == SQLITE_OK) r = st_bind_text(s, 5, o->owner);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 6, o->kek_version);
	if (r == SQLITE_OK)
		r = o->wrapped ? sqlite3_bind_blob(s, 7, o->wrapped, (int)o->wrapped_len, SQLITE_STATIC)
			       : sqlite3_bind_null(s, 7);
	if (r == SQLITE_OK) r = bind_u32_opt(s, 8, o->crypto_alg);
	if (r == SQLITE_OK) r = bind_u32_opt(s, 9, o->crypto_len);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 10, o->usage_mask);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 11, o->created);
	if (r == SQLITE_OK) r = st_bind_date(s, 12, o->activation);
	if (r == SQLITE_OK) r = st_bind_date(s, 13, o->deactivation);
	if (r == SQLITE_OK) r = st_bind_date(s, 14, o->destroyed);
	if (r == SQLITE_OK) r = st_bind_date(s, 15, o->compromise);
	if (r == SQLITE_OK) r = st_bind_date(s, 16, o->compromise_occurrence);
	if (r == SQLITE_OK) r = st_bind_date(s, 17, o->last_change);
	if (r == SQLITE_OK) r = bind_u32_opt(s, 18, o->revocation_reason);
	if (r == SQLITE_OK) r = st_bind_text(s, 19, o->revocation_message);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 20, o->srv_flags | STORE_SF_FRESH);
	if (r == SQLITE_OK)
		r = o->has_digest ? sqlite3_bind_blob(s, 21, o->digest, (int)sizeof o->digest,
						      SQLITE_STATIC)
				  : sqlite3_bind_null(s, 21);
	if (r != SQLITE_OK) {
		st_stmt_done(s);
		rc = st_map_sqlite(st, r, "bind object");
		goto out;
	}
	if ((rc = st_stmt_run(st, s, "insert object")) != CF_OK)
		goto out;
	for (size_t i = 0; i < n_attrs; i++)
		if ((rc = attr_insert_locked(st, o->uid, &attrs[i], NULL)) != CF_OK)
			goto out;
	return store_tx_commit(st);
out:
	store_tx_rollback(st);
	return rc;
}

cf_err st_object_row(sqlite3_stmt *s, struct store_object *out, bool *has_blob)
{
	cf_err rc;

	if ((rc = st_col_text_copy(s, 0, out->uid, sizeof out->uid)) != CF_OK)
		return rc;
	out->object_type = (uint32_t)sqlite3_column_int64(s, 1);
	out->state = (uint32_t)sqlite3_column_int64(s, 2);
	if ((rc = st_col_text_copy(s, 3, out->tenant, sizeof out->tenant)) != CF_OK ||
	    (rc = st_col_text_copy(s, 4, out->owner, sizeof out->owner)) != CF_OK)
		return rc;
	out->kek_version = (uint32_t)sqlite3_column_int64(s, 5);
	if (has_blob != NULL)
		*has_blob = sqlite3_column_int64(s, 6) != 0;
	else if ((rc = st_col_blob_dup(s, 6, &out->wrapped, &out->wrapped_len)) != CF_OK)
		return rc;
	out->crypto_alg = (uint32_t)sqlite3_column_int64(s, 7);
	out->crypto_len = (int32_t)sqlite3_column_int64(s, 8);
	out->usage_mask = (uint32_t)sqlite3_column_int64(s, 9);
	out->created = sqlite3_column_int64(s, 10);
	out->activation = sqlite3_column_int64(s, 11);
	out->deactivation = sqlite3_column_int64(s, 12);
	out->destroyed = sqlite3_column_int64(s, 13);
	out->compromise = sqlite3_column_int64(s, 14);
	out->compromise_occurrence = sqlite3_column_int64(s, 15);
	out->last_change = sqlite3_column_int64(s, 16);
	out->revocation_reason = (uint32_t)sqlite3_column_int64(s, 17);
	if (sqlite3_column_count(s) > 20) { /* OBJ_COLS (other selects stop at 19) */
		out->srv_flags = (uint32_t)sqlite3_column_int64(s, 19);
		if (sqlite3_column_bytes(s, 20) == (int)sizeof out->digest) {
			memcpy(out->digest, sqlite3_column_blob(s, 20), sizeof out->digest);
			out->has_digest = true;
		}
	}
	return st_col_text_dup(s, 18, &out->revocation_message);
}

cf_err store_object_get(struct store *st, const char *tenant, const char *uid,
			struct store_object *out)
{
	cf_err rc = CF_E_INTERNAL;
	sqlite3_stmt *s = NULL;
	if (out == NULL)
		return CF_E_INVALID_ARG;
	memset(out, 0, sizeof *out);
	if (st == NULL || !st_text_ok(tenant, STORE_TENANT_MAX) || uid == NULL)
		return CF_E_INVALID_ARG;
	if (!st_text_ok(uid, STORE_UID_MAX))
		return CF_E_NOT_FOUND;
	TRY(stmt_get(st, S_OBJ_GET, &s));
	int r = st_bind_text(s, 1, uid);
	if (r == SQLITE_OK)
		r = st_bind_text(s, 2, tenant);
	if (r != SQLITE_OK) {
		rc = st_map_sqlite(st, r, "bind");
		goto out;
	}
	r = sqlite3_step(s);
	if (r == SQLITE_DONE) {
		rc = CF_E_NOT_FOUND;
		goto out;
	}
	if (r != SQLITE_ROW) {
		rc = st_map_sqlite(st, r, "get object");
		goto out;
	}
	if ((rc = st_object_row(s, out, NULL)) != CF_OK)
		goto out;
	rc = CF_OK;
out:
	st_stmt_done(s);
	if (rc != CF_OK)
		store_object_free(out);
	return rc;
}

/* The object's state if uid exists in tenant; CF_E_NOT_FOUND otherwise. */
static cf_err object_state(struct store *st, const char *tenant, const char *uid, uint32_t *state)
{
	sqlite3_stmt *s;
	*state = 0;
	if (!st_text_ok(tenant, STORE_TENANT_MAX) || uid == NULL)
		return CF_E_INVALID_ARG;
	if (!st_text_ok(uid, STORE_UID_MAX))
		return CF_E_NOT_FOUND;
	TRY(stmt_get(st, S_OBJ_STATE_GET, &s));
	int r = st_bind_text(s, 1, uid);
	if (r == SQLITE_OK)
		r = st_bind_text(s, 2, tenant);
	if (r == SQLITE_OK)
		r = sqlite3_step(s);
	cf_err rc;
	if (r == SQLITE_ROW) {
		*state = (uint32_t)sqlite3_column_int64(s, 0);
		rc = CF_OK;
	} else if (r == SQLITE_DONE) {
		rc = CF_E_NOT_FOUND;
	} else {
		rc = st_map_sqlite(st, r, "object state");
	}
	st_stmt_done(s);
	return rc;
}

cf_err store_object_update_state(struct store *st, const struct store_object *o)
{
	cf_err rc = CF_E_INTERNAL;
	sqlite3_stmt *s;
	uint32_t cur;
	if (st == NULL || o == NULL || !st_text_opt_ok(o->revocation_message, STORE_TEXT_MAX))
		return CF_E_INVALID_ARG;
	/* the one change of a destroyed object: Destroyed -> Destroyed Compromised (KMIP 1.4
	 * 3.22 transition 10, a Revoke for a compromise) */
	bool to_dc = o->state == STORE_STATE_DESTROYED_COMPROMISED;
	if (!to_dc && (o->state < STORE_STATE_PRE_ACTIVE || o->state > STORE_STATE_COMPROMISED))
		return o->state == STORE_STATE_DESTROYED ? CF_E_STATE : CF_E_INVALID_ARG;
	TRY(store_tx_begin(st));
	if ((rc = object_state(st, o->tenant, o->uid, &cur)) != CF_OK)
		goto out;
	if (to_dc ? cur != STORE_STATE_DESTROYED
		  : (cur == STORE_STATE_DESTROYED || cur == STORE_STATE_DESTROYED_COMPROMISED)) {
		rc = CF_E_STATE;
		goto out;
	}
	if ((rc = stmt_get(st, S_OBJ_STATE_SET, &s)) != CF_OK)
		goto out;
	int r = st_bind_text(s, 1, o->uid);
	if (r == SQLITE_OK) r = st_bind_text(s, 2, o->tenant);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 3, o->state);
	if (r == SQLITE_OK) r = st_bind_date(s, 4, o->activation);
	if (r == SQLITE_OK) r = st_bind_date(s, 5, o->deactivation);
	if (r == SQLITE_OK) r = st_bind_date(s, 6, o->compromise);
	if (r == SQLITE_OK) r = st_bind_date(s, 7, o->compromise_occurrence);
	if (r == SQLITE_OK) r = st_bind_date(s, 8, o->last_change);
	if (r == SQLITE_OK) r = bind_u32_opt(s, 9, o->revocation_reason);
	if (r == SQLITE_OK) r = st_bind_text(s, 10, o->revocation_message);
	if (r != SQLITE_OK) {
		st_stmt_done(s);
		rc = st_map_sqlite(st, r, "bind state");
		goto out;
	}
	if ((rc = st_stmt_run(st, s, "set state")) != CF_OK)
		goto out;
	return store_tx_commit(st);
out:
	store_tx_rollback(st);
	return rc;
}

cf_err store_object_stale(struct store *st, const char *uid)
{
	sqlite3_stmt *s;
	if (st == NULL || !st_text_ok(uid, STORE_UID_MAX))
		return CF_E_INVALID_ARG;
	TRY(stmt_get(st, S_OBJ_STALE, &s));
	int r = st_bind_text(s, 1, uid);
	if (r != SQLITE_OK) {
		st_stmt_done(s);
		return st_map_sqlite(st, r, "bind stale");
	}
	return st_stmt_run(st, s, "stale");
}

cf_err store_object_archive(struct store *st, const char *tenant, const char *uid, bool archived)
{
	sqlite3_stmt *s;
	cf_err rc;
	if (st == NULL || !st_text_ok(tenant, STORE_TENANT_MAX) || !st_text_ok(uid, STORE_UID_MAX))
		return CF_E_INVALID_ARG;
	TRY(stmt_get(st, S_OBJ_ARCHIVE, &s));
	int r = st_bind_text(s, 1, uid);
	if (r == SQLITE_OK) r = st_bind_text(s, 2, tenant);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 3, archived ? STORE_SF_ARCHIVED : 0);
	if (r != SQLITE_OK) {
		st_stmt_done(s);
		return st_map_sqlite(st, r, "bind archive");
	}
	if ((rc = st_stmt_run(st, s, "archive")) != CF_OK)
		return rc;
	return sqlite3_changes(st->db) == 0 ? CF_E_NOT_FOUND : CF_OK;
}

cf_err store_object_destroy(struct store *st, const char *tenant, const char *uid, int64_t when)
{
	cf_err rc = CF_E_INTERNAL;
	sqlite3_stmt *s;
	uint32_t cur, next;
	if (st == NULL || when == 0)
		return CF_E_INVALID_ARG;
	TRY(store_tx_begin(st));
	if ((rc = object_state(st, tenant, uid, &cur)) != CF_OK)
		goto out;
	switch (cur) {
	case STORE_STATE_PRE_ACTIVE:
	case STORE_STATE_DEACTIVATED:
		next = STORE_STATE_DESTROYED;
		break;
	case STORE_STATE_COMPROMISED:
		next = STORE_STATE_DESTROYED_COMPROMISED;
		break;
	default: /* Active (KMIP: revoke first), or already destroyed */
		rc = CF_E_STATE;
		goto out;
	}
	if ((rc = stmt_get(st, S_OBJ_DESTROY, &s)) != CF_OK)
		goto out;
	int r = st_bind_text(s, 1, uid);
	if (r == SQLITE_OK) r = st_bind_text(s, 2, tenant);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 3, next);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 4, when);
	if (r != SQLITE_OK) {
		st_stmt_done(s);
		rc = st_map_sqlite(st, r, "bind destroy");
		goto out;
	}
	if ((rc = st_stmt_run(st, s, "destroy")) != CF_OK)
		goto out;
	st->want_checkpoint = true;
	return store_tx_commit(st);
out:
	store_tx_rollback(st);
	return rc;
}

/* ---- attributes ------------------------------------------------------------------------ */

void store_attr_list_free(struct store_attr_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free((void *)l->a[i].name);
		free((void *)l->a[i].v_text);
		free((void *)l->a[i].v_blob);
	}
	free(l->a);
	l->a = NULL;
	l->n = 0;
}

void store_str_list_free(struct store_str_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->s[i]);
	free(l->s);
	l->s = NULL;
	l->n = 0;
}

/* Append column col of the current row (text first, then its byte count). */
static cf_err str_list_push(struct store_str_list *l, size_t *cap, sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	int n = sqlite3_column_bytes(s, col);
	if (t == NULL || n < 0)
		return CF_E_STORE;
	if (l->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		char **ns = realloc(l->s, ncap * sizeof *ns);
		if (ns == NULL)
			return CF_E_NOMEM;
		l->s = ns;
		*cap = ncap;
	}
	char *c = malloc((size_t)n + 1);
	if (c == NULL)
		return CF_E_NOMEM;
	memcpy(c, t, (size_t)n);
	c[n] = '\0';
	l->s[l->n++] = c;
	return CF_OK;
}

cf_err store_attr_add(struct store *st, const char *tenant, const char *uid,
		      const struct store_attr *a, uint32_t *index_out)
{
	cf_err rc = CF_E_INTERNAL;
	uint32_t cur;
	if (index_out != NULL)
		*index_out = 0;
	if (st == NULL || !attr_ok(a))
		return CF_E_INVALID_ARG;
	TRY(store_tx_begin(st));
	if ((rc = object_state(st, tenant, uid, &cur)) != CF_OK)
		goto out;
	if ((rc = attr_insert_locked(st, uid, a, index_out)) != CF_OK)
		goto out;
	return store_tx_commit(st);
out:
	store_tx_rollback(st);
	return rc;
}

cf_err store_attr_modify(struct store *st, const char *tenant, const char *uid, const char *name,
			 uint32_t index, const struct store_attr *a)
{
	cf_err rc = CF_E_INTERNAL;
	sqlite3_stmt *s;
	uint32_t cur;
	if (st == NULL || !attr_ok(a) || !st_text_ok(name, STORE_NAME_MAX) || index == STORE_ATTR_ALL)
		return CF_E_INVALID_ARG;
	TRY(store_tx_begin(st));
	if ((rc = object_state(st, tenant, uid, &cur)) != CF_OK)
		goto out;
	if ((rc = stmt_get(st, S_ATTR_UPDATE, &s)) != CF_OK)
		goto out;
	int r = st_bind_text(s, 1, uid);
	if (r == SQLITE_OK) r = st_bind_text(s, 2, name);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 3, index);
	if (r == SQLITE_OK) r = bind_attr_value(s, a);
	if (r != SQLITE_OK) {
		st_stmt_done(s);
		rc = st_map_sqlite(st, r, "bind attribute");
		goto out;
	}
	if ((rc = st_stmt_run(st, s, "modify attribute")) != CF_OK)
		goto out;
	if (sqlite3_changes(st->db) == 0) {
		rc = CF_E_NOT_FOUND;
		goto out;
	}
	return store_tx_commit(st);
out:
	store_tx_rollback(st);
	return rc;
}

cf_err store_attr_delete(struct store *st, const char *tenant, const char *uid, const char *name,
			 uint32_t index)
{
	cf_err rc = CF_E_INTERNAL;
	sqlite3_stmt *s;
	uint32_t cur;
	if (st == NULL || !st_text_ok(name, STORE_NAME_MAX))
		return CF_E_INVALID_ARG;
	TRY(store_tx_begin(st));
	if ((rc = object_state(st, tenant, uid, &cur)) != CF_OK)
		goto out;
	if ((rc = stmt_get(st, index == STORE_ATTR_ALL ? S_ATTR_DEL_ALL : S_ATTR_DEL_ONE, &s)) != CF_OK)
		goto out;
	int r = st_bind_text(s, 1, uid);
	if (r == SQLITE_OK) r = st_bind_text(s, 2, name);
	if (r == SQLITE_OK && index != STORE_ATTR_ALL) r = sqlite3_bind_int64(s, 3, index);
	if (r != SQLITE_OK) {
		st_stmt_done(s);
		rc = st_map_sqlite(st, r, "bind attribute");
		goto out;
	}
	if ((rc = st_stmt_run(st, s, "delete attribute")) != CF_OK)
		goto out;
	if (sqlite3_changes(st->db) == 0) {
		rc = CF_E_NOT_FOUND;
		goto out;
	}
	return store_tx_commit(st);
out:
	store_tx_rollback(st);
	return rc;
}

static cf_err attr_rows_collect(struct store *st, sqlite3_stmt *s, struct store_attr_list *l,
				size_t *cap)
{
	int r;
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		if (l->n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 16;
			struct store_attr *na = realloc(l->a, ncap * sizeof *na);
			if (na == NULL)
				return CF_E_NOMEM;
			l->a = na;
			*cap = ncap;
		}
		struct store_attr *a = &l->a[l->n];
		memset(a, 0, sizeof *a);
		char *name = NULL, *text = NULL;
		uint8_t *blob = NULL;
		size_t blen = 0;
		cf_err rc = st_col_text_dup(s, 0, &name);
		if (rc == CF_OK)
			rc = st_col_text_dup(s, 4, &text);
		if (rc == CF_OK)
			rc = st_col_blob_dup(s, 5, &blob, &blen);
		if (rc != CF_OK || name == NULL) {
			free(name);
			free(text);
			free(blob);
			return rc != CF_OK ? rc : CF_E_STORE;
		}
		a->name = name;
		a->index = (uint32_t)sqlite3_column_int64(s, 1);
		a->value_type = (uint32_t)sqlite3_column_int64(s, 2);
		a->has_int = sqlite3_column_type(s, 3) != SQLITE_NULL;
		a->v_int = sqlite3_column_int64(s, 3);
		a->v_text = text;
		a->v_blob = blob;
		a->v_blob_len = blen;
		l->n++;
	}
	return r == SQLITE_DONE ? CF_OK : st_map_sqlite(st, r, "read attributes");
}

cf_err store_attr_get(struct store *st, const char *tenant, const char *uid,
		      const char *const *names, size_t n_names, struct store_attr_list *out)
{
	cf_err rc = CF_E_INTERNAL;
	uint32_t cur;
	size_t cap = 0;
	bool opened = false;
	sqlite3_stmt *s = NULL;
	if (out == NULL)
		return CF_E_INVALID_ARG;
	out->a = NULL;
	out->n = 0;
	if (st == NULL || (names == NULL && n_names != 0))
		return CF_E_INVALID_ARG;
	for (size_t i = 0; i < n_names; i++)
		if (!st_text_ok(names[i], STORE_NAME_MAX))
			return CF_E_INVALID_ARG;
	/* one read snapshot: the object check and the rows agree */
	if ((rc = st_read_begin(st, &opened)) != CF_OK)
		return rc;
	if ((rc = object_state(st, tenant, uid, &cur)) != CF_OK)
		goto out;
	if (n_names == 0) {
		if ((rc = stmt_get(st, S_ATTR_GET_ALL, &s)) != CF_OK)
			goto out;
		if (st_bind_text(s, 1, uid) != SQLITE_OK) {
			rc = CF_E_STORE;
			goto out;
		}
		rc = attr_rows_collect(st, s, out, &cap);
		st_stmt_done(s);
		s = NULL;
		if (rc != CF_OK)
			goto out;
	}
	for (size_t i = 0; i < n_names; i++) {
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(names[i], names[j]) == 0;
		if (dup)
			continue;
		if ((rc = stmt_get(st, S_ATTR_GET_NAME, &s)) != CF_OK)
			goto out;
		if (st_bind_text(s, 1, uid) != SQLITE_OK || st_bind_text(s, 2, names[i]) != SQLITE_OK) {
			rc = CF_E_STORE;
			goto out;
		}
		rc = attr_rows_collect(st, s, out, &cap);
		st_stmt_done(s);
		s = NULL;
		if (rc != CF_OK)
			goto out;
	}
	rc = CF_OK;
out:
	st_stmt_done(s);
	st_read_end(st, opened);
	if (rc != CF_OK)
		store_attr_list_free(out);
	return rc;
}

cf_err store_attr_names(struct store *st, const char *tenant, const char *uid,
			struct store_str_list *out)
{
	cf_err rc = CF_E_INTERNAL;
	uint32_t cur;
	size_t cap = 0;
	bool opened = false;
	sqlite3_stmt *s = NULL;
	if (out == NULL)
		return CF_E_INVALID_ARG;
	out->s = NULL;
	out->n = 0;
	if (st == NULL)
		return CF_E_INVALID_ARG;
	if ((rc = st_read_begin(st, &opened)) != CF_OK)
		return rc;
	if ((rc = object_state(st, tenant, uid, &cur)) != CF_OK)
		goto out;
	if ((rc = stmt_get(st, S_ATTR_NAMES, &s)) != CF_OK)
		goto out;
	if (st_bind_text(s, 1, uid) != SQLITE_OK) {
		rc = CF_E_STORE;
		goto out;
	}
	int r;
	while ((r = sqlite3_step(s)) == SQLITE_ROW)
		if ((rc = str_list_push(out, &cap, s, 0)) != CF_OK)
			goto out;
	rc = r == SQLITE_DONE ? CF_OK : st_map_sqlite(st, r, "attribute names");
out:
	st_stmt_done(s);
	st_read_end(st, opened);
	if (rc != CF_OK)
		store_str_list_free(out);
	return rc;
}

/* ---- Locate ---------------------------------------------------------------------------- */

/* Append to a fixed SQL buffer; false on overflow. */
static bool sql_cat(char *buf, size_t cap, size_t *len, const char *s)
{
	size_t n = strlen(s);
	if (n >= cap - *len)
		return false;
	memcpy(buf + *len, s, n + 1);
	*len += n;
	return true;
}

/* The filters' texts and counts within their bounds. */
static cf_err locate_args(const struct store_locate *q)
{
	if (!st_text_ok(q->tenant, STORE_TENANT_MAX) || (q->match == NULL && q->n_match != 0) ||
	    !st_text_opt_ok(q->name, STORE_TEXT_MAX) || !st_text_opt_ok(q->uid, STORE_UID_MAX) ||
	    !st_text_opt_ok(q->object_group, STORE_TEXT_MAX))
		return CF_E_INVALID_ARG;
	if (q->n_match > STORE_LOCATE_MAX_MATCH)
		return CF_E_TOO_MANY;
	for (size_t i = 0; i < STORE_DATE_N; i++)
		if (q->date[i].set && q->date[i].lo > q->date[i].hi)
			return CF_E_INVALID_ARG;
	for (size_t i = 0; i < q->n_match; i++)
		if (!st_text_ok(q->match[i].name, STORE_NAME_MAX) ||
		    (!q->match[i].is_int && !st_text_opt_ok(q->match[i].v_text, STORE_TEXT_MAX)) ||
		    (!q->match[i].is_int && q->match[i].v_text == NULL))
			return CF_E_INVALID_ARG;
	return CF_OK;
}

/* " AND o.<column> BETWEEN ? AND ?" per date filter, by enum store_date. */
static const char *const locate_date_sql[STORE_DATE_N] = {
	[STORE_DATE_INITIAL] = " AND o.created BETWEEN ? AND ?",
	[STORE_DATE_ACTIVATION] = " AND o.activation BETWEEN ? AND ?",
	[STORE_DATE_DEACTIVATION] = " AND o.deactivation BETWEEN ? AND ?",
	[STORE_DATE_DESTROY] = " AND o.destroyed BETWEEN ? AND ?",
	[STORE_DATE_COMPROMISE] = " AND o.compromise BETWEEN ? AND ?",
	[STORE_DATE_COMPROMISE_OCCURRENCE] = " AND o.compromise_occurrence BETWEEN ? AND ?",
	[STORE_DATE_LAST_CHANGE] = " AND o.last_change BETWEEN ? AND ?",
};

/* The SQL of q into sql[cap]: a fixed shape per filter combination; values are always bound
 * (locate_bind, in the same order). */
static bool locate_sql(const struct store_locate *q, char *sql, size_t cap)
{
	static const char attr_text[] =
		" AND o.uid IN (SELECT uid FROM attributes WHERE name=? AND v_text=?)";
	static const char attr_int[] =
		" AND o.uid IN (SELECT uid FROM attributes WHERE name=? AND v_int=?)";
	size_t len = 0;
	/* With an attribute filter, the tenant term is written "+o.tenant=?": the unary plus
	 * keeps the term (checked on every row, same value and collation) but stops SQLite
	 * from driving the query by objects_tenant, which would scan the whole tenant (its
	 * planner has no statistics: no ANALYZE). The query is then driven by the attribute
	 * index (attributes_text / attributes_int) and the objects primary key; without one,
	 * objects_tenant stays the best index, or objects_tenant_created for an Initial Date
	 * filter (docs/store.md "Locate"). A date filter never drives a query across tenants. */
	bool by_attr = q->name != NULL || q->object_group != NULL || q->n_match != 0 ||
		       q->uid != NULL; /* a uid: driven by the primary key */
	bool ok = sql_cat(sql, cap, &len,
			  by_attr ? "SELECT o.uid FROM objects o WHERE +o.tenant=?"
				  : "SELECT o.uid FROM objects o WHERE o.tenant=?");
	if (q->uid)
		ok = ok && sql_cat(sql, cap, &len, " AND o.uid=?");
	if (q->object_type)
		ok = ok && sql_cat(sql, cap, &len, " AND o.object_type=?");
	if ((q->storage & (STORE_STORAGE_ONLINE | STORE_STORAGE_ARCHIVAL)) ==
	    STORE_STORAGE_ARCHIVAL)
		ok = ok && sql_cat(sql, cap, &len, " AND (o.srv_flags&4)<>0");
	else if ((q->storage & STORE_STORAGE_ARCHIVAL) == 0)
		ok = ok && sql_cat(sql, cap, &len, " AND (o.srv_flags&4)=0");
	if (q->state)
		ok = ok && sql_cat(sql, cap, &len, " AND o.state=?");
	else if (q->not_destroyed)
		ok = ok && sql_cat(sql, cap, &len, " AND o.state NOT IN (5, 6)");
	if (q->crypto_alg)
		ok = ok && sql_cat(sql, cap, &len, " AND o.crypto_alg=?");
	if (q->crypto_len)
		ok = ok && sql_cat(sql, cap, &len, " AND o.crypto_len=?");
	for (size_t i = 0; i < STORE_DATE_N; i++)
		if (q->date[i].set)
			ok = ok && sql_cat(sql, cap, &len, locate_date_sql[i]);
	if (q->name)
		ok = ok && sql_cat(sql, cap, &len, attr_text);
	if (q->object_group)
		ok = ok && sql_cat(sql, cap, &len, attr_text);
	for (size_t i = 0; i < q->n_match; i++)
		ok = ok && sql_cat(sql, cap, &len, q->match[i].is_int ? attr_int : attr_text);
	return ok && sql_cat(sql, cap, &len, " ORDER BY o.rowid LIMIT ? OFFSET ?");
}

/* Bind q's values to s, in locate_sql's order. */
static int locate_bind(sqlite3_stmt *s, const struct store_locate *q)
{
	int p = 1;
	int r = st_bind_text(s, p++, q->tenant);
	if (r == SQLITE_OK && q->uid) r = st_bind_text(s, p++, q->uid);
	if (r == SQLITE_OK && q->object_type) r = sqlite3_bind_int64(s, p++, q->object_type);
	if (r == SQLITE_OK && q->state) r = sqlite3_bind_int64(s, p++, q->state);
	if (r == SQLITE_OK && q->crypto_alg) r = sqlite3_bind_int64(s, p++, q->crypto_alg);
	if (r == SQLITE_OK && q->crypto_len) r = sqlite3_bind_int64(s, p++, q->crypto_len);
	for (size_t i = 0; r == SQLITE_OK && i < STORE_DATE_N; i++) {
		if (!q->date[i].set)
			continue;
		r = sqlite3_bind_int64(s, p++, q->date[i].lo);
		if (r == SQLITE_OK) r = sqlite3_bind_int64(s, p++, q->date[i].hi);
	}
	if (r == SQLITE_OK && q->name) {
		r = st_bind_text(s, p++, "Name");
		if (r == SQLITE_OK) r = st_bind_text(s, p++, q->name);
	}
	if (r == SQLITE_OK && q->object_group) {
		r = st_bind_text(s, p++, "Object Group");
		if (r == SQLITE_OK) r = st_bind_text(s, p++, q->object_group);
	}
	for (size_t i = 0; r == SQLITE_OK && i < q->n_match; i++) {
		r = st_bind_text(s, p++, q->match[i].name);
		if (r == SQLITE_OK)
			r = q->match[i].is_int ? sqlite3_bind_int64(s, p++, q->match[i].v_int)
					       : st_bind_text(s, p++, q->match[i].v_text);
	}
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, p++, q->max_items ? (int64_t)q->max_items : -1);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, p++, q->offset);
	return r;
}

cf_err store_locate_run(struct store *st, const struct store_locate *q, struct store_str_list *out)
{
	cf_err rc = CF_E_INTERNAL;
	sqlite3_stmt *s = NULL;
	char sql[2048];
	size_t cap = 0;
	int r;

	if (out == NULL)
		return CF_E_INVALID_ARG;
	out->s = NULL;
	out->n = 0;
	if (st == NULL || q == NULL)
		return CF_E_INVALID_ARG;
	TRY(locate_args(q));
	if (!locate_sql(q, sql, sizeof sql))
		return CF_E_INTERNAL;

	r = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (r != SQLITE_OK) {
		rc = st_map_sqlite(st, r, "prepare locate");
		goto out;
	}
	r = locate_bind(s, q);
	if (r != SQLITE_OK) {
		rc = st_map_sqlite(st, r, "bind locate");
		goto out;
	}
	while ((r = sqlite3_step(s)) == SQLITE_ROW)
		if ((rc = str_list_push(out, &cap, s, 0)) != CF_OK)
			goto out;
	rc = r == SQLITE_DONE ? CF_OK : st_map_sqlite(st, r, "locate");
out:
	sqlite3_finalize(s);
	if (rc != CF_OK)
		store_str_list_free(out);
	return rc;
}

/* ---- clients --------------------------------------------------------------------------- */

static bool client_ok(const struct store_client *c)
{
	return c != NULL && st_text_ok(c->fingerprint, sizeof c->fingerprint - 1) &&
	       st_text_opt_ok(c->subject, sizeof c->subject - 1) &&
	       st_text_opt_ok(c->issuer, sizeof c->issuer - 1) &&
	       st_text_ok(c->tenant, sizeof c->tenant - 1) && st_text_ok(c->role, sizeof c->role - 1) &&
	       strnlen(c->name, sizeof c->name) < sizeof c->name &&
	       strnlen(c->kind, sizeof c->kind) < sizeof c->kind;
}

cf_err store_client_put(struct store *st, const struct store_client *c)
{
	cf_err rc = CF_E_INTERNAL;
	sqlite3_stmt *s;
	if (st == NULL || !client_ok(c))
		return CF_E_INVALID_ARG;
	TRY(store_tx_begin(st));
	if ((rc = stmt_get(st, S_CLIENT_PUT, &s)) != CF_OK)
		goto out;
	int r = st_bind_text(s, 1, c->fingerprint);
	if (r == SQLITE_OK) r = st_bind_text(s, 2, c->subject);
	if (r == SQLITE_OK) r = st_bind_text(s, 3, c->issuer);
	if (r == SQLITE_OK) r = st_bind_text(s, 4, c->tenant);
	if (r == SQLITE_OK) r = st_bind_text(s, 5, c->role);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 6, c->created);
	if (r == SQLITE_OK) r = sqlite3_bind_text(s, 7, c->name, -1, SQLITE_STATIC);
	if (r == SQLITE_OK) r = sqlite3_bind_text(s, 8, c->kind, -1, SQLITE_STATIC);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 9, c->not_after);
	if (r != SQLITE_OK) {
		st_stmt_done(s);
		rc = st_map_sqlite(st, r, "bind client");
		goto out;
	}
	if ((rc = st_stmt_run(st, s, "put client")) != CF_OK)
		goto out;
	return store_tx_commit(st);
out:
	store_tx_rollback(st);
	return rc;
}

static cf_err client_read(struct store *st, sqlite3_stmt *s, struct store_client *out)
{
	cf_err rc;
	int r = sqlite3_step(s);
	if (r == SQLITE_DONE)
		rc = CF_E_NOT_FOUND;
	else if (r != SQLITE_ROW)
		rc = st_map_sqlite(st, r, "read client");
	else if ((rc = st_col_text_copy(s, 0, out->fingerprint, sizeof out->fingerprint)) == CF_OK &&
		 (rc = st_col_text_copy(s, 1, out->subject, sizeof out->subject)) == CF_OK &&
		 (rc = st_col_text_copy(s, 2, out->issuer, sizeof out->issuer)) == CF_OK &&
		 (rc = st_col_text_copy(s, 3, out->tenant, sizeof out->tenant)) == CF_OK &&
		 (rc = st_col_text_copy(s, 4, out->role, sizeof out->role)) == CF_OK &&
		 (rc = st_col_text_copy(s, 6, out->name, sizeof out->name)) == CF_OK &&
		 (rc = st_col_text_copy(s, 7, out->kind, sizeof out->kind)) == CF_OK &&
		 (rc = st_col_text_copy(s, 9, out->allow, sizeof out->allow)) == CF_OK) {
		out->created = sqlite3_column_int64(s, 5);
		out->not_after = sqlite3_column_int64(s, 8);
	}
	st_stmt_done(s);
	if (rc != CF_OK)
		memset(out, 0, sizeof *out);
	return rc;
}

cf_err store_client_get(struct store *st, const char *fingerprint, struct store_client *out)
{
	sqlite3_stmt *s;
	if (out == NULL)
		return CF_E_INVALID_ARG;
	memset(out, 0, sizeof *out);
	if (st == NULL || !st_text_ok(fingerprint, STORE_OWNER_MAX))
		return CF_E_INVALID_ARG;
	TRY(stmt_get(st, S_CLIENT_GET, &s));
	if (st_bind_text(s, 1, fingerprint) != SQLITE_OK) {
		st_stmt_done(s);
		return CF_E_STORE;
	}
	return client_read(st, s, out);
}

cf_err store_client_find(struct store *st, const char *subject, const char *issuer,
			 struct store_client *out)
{
	sqlite3_stmt *s;
	if (out == NULL)
		return CF_E_INVALID_ARG;
	memset(out, 0, sizeof *out);
	if (st == NULL || !st_text_ok(subject, sizeof out->subject - 1) ||
	    !st_text_ok(issuer, sizeof out->issuer - 1))
		return CF_E_INVALID_ARG;
	TRY(stmt_get(st, S_CLIENT_FIND, &s));
	if (st_bind_text(s, 1, subject) != SQLITE_OK || st_bind_text(s, 2, issuer) != SQLITE_OK) {
		st_stmt_done(s);
		return CF_E_STORE;
	}
	return client_read(st, s, out);
}

cf_err store_client_delete(struct store *st, const char *fingerprint)
{
	cf_err rc = CF_E_INTERNAL;
	sqlite3_stmt *s;
	if (st == NULL || !st_text_ok(fingerprint, STORE_OWNER_MAX))
		return CF_E_INVALID_ARG;
	TRY(store_tx_begin(st));
	if ((rc = stmt_get(st, S_CLIENT_DEL, &s)) != CF_OK)
		goto out;
	if (st_bind_text(s, 1, fingerprint) != SQLITE_OK) {
		st_stmt_done(s);
		rc = CF_E_STORE;
		goto out;
	}
	if ((rc = st_stmt_run(st, s, "delete client")) != CF_OK)
		goto out;
	if (sqlite3_changes(st->db) == 0) {
		rc = CF_E_NOT_FOUND;
		goto out;
	}
	return store_tx_commit(st);
out:
	store_tx_rollback(st);
	return rc;
}

/* ---- meta ------------------------------------------------------------------------------ */

static cf_err meta_set_locked(struct store *st, const char *key, const char *value)
{
	sqlite3_stmt *s;
	TRY(stmt_get(st, S_META_SET, &s));
	int r = st_bind_text(s, 1, key);
	if (r == SQLITE_OK)
		r = st_bind_text(s, 2, value);
	if (r != SQLITE_OK) {
		st_stmt_done(s);
		return st_map_sqlite(st, r, "bind meta");
	}
	return st_stmt_run(st, s, "set meta");
}

cf_err store_meta_set(struct store *st, const char *key, const char *value)
{
	cf_err rc = CF_E_INTERNAL;
	if (st == NULL || !st_text_ok(key, STORE_NAME_MAX) || value == NULL ||
	    !st_text_opt_ok(value, STORE_TEXT_MAX))
		return CF_E_INVALID_ARG;
	TRY(store_tx_begin(st));
	if ((rc = meta_set_locked(st, key, value)) != CF_OK)
		goto out;
	return store_tx_commit(st);
out:
	store_tx_rollback(st);
	return rc;
}

cf_err store_meta_get(struct store *st, const char *key, char *out, size_t outsz)
{
	sqlite3_stmt *s;
	cf_err rc;
	if (out == NULL || outsz == 0)
		return CF_E_INVALID_ARG;
	out[0] = '\0';
	if (st == NULL || !st_text_ok(key, STORE_NAME_MAX))
		return CF_E_INVALID_ARG;
	TRY(stmt_get(st, S_META_GET, &s));
	int r = st_bind_text(s, 1, key);
	if (r == SQLITE_OK)
		r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		rc = st_col_text_copy(s, 0, out, outsz);
		if (rc == CF_E_STORE)
			rc = CF_E_NO_SPACE;
	} else if (r == SQLITE_DONE) {
		rc = CF_E_NOT_FOUND;
	} else {
		rc = st_map_sqlite(st, r, "get meta");
	}
	st_stmt_done(s);
	return rc;
}

/* ---- audit rows ------------------------------------------------------------------------ */

cf_err store_audit_head(struct store *st, uint64_t *seq, uint8_t hash[static STORE_HASH_LEN])
{
	sqlite3_stmt *s;
	cf_err rc;
	*seq = 0;
	memset(hash, 0, STORE_HASH_LEN);
	if (st == NULL)
		return CF_E_INVALID_ARG;
	TRY(stmt_get(st, S_AUDIT_HEAD, &s));
	int r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		int64_t v = sqlite3_column_int64(s, 0);
		const void *h = sqlite3_column_blob(s, 1);
		if (v < 1 || h == NULL || sqlite3_column_bytes(s, 1) != STORE_HASH_LEN) {
			rc = CF_E_STORE;
		} else {
			*seq = (uint64_t)v;
			memcpy(hash, h, STORE_HASH_LEN);
			rc = CF_OK;
		}
	} else {
		rc = r == SQLITE_DONE ? CF_OK : st_map_sqlite(st, r, "audit head");
	}
	st_stmt_done(s);
	return rc;
}

cf_err st_meta_u64(struct store *st, const char *key, uint64_t *out)
{
	char v[32];
	char *end = NULL;

	*out = 0;
	TRY(store_meta_get(st, key, v, sizeof v));
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0')
		return CF_E_STORE;
	*out = n;
	return CF_OK;
}

cf_err store_audit_anchor(struct store *st, uint64_t *seq, uint8_t hash[static STORE_HASH_LEN])
{
	char v[2 * STORE_HASH_LEN + 1];
	uint64_t n = 0;
	*seq = 0;
	memset(hash, 0, STORE_HASH_LEN);
	cf_err rc = st_meta_u64(st, "audit_head_seq", &n);
	if (rc == CF_E_NOT_FOUND)
		return CF_OK;
	if (rc != CF_OK)
		return rc;
	if ((rc = store_meta_get(st, "audit_head_hash", v, sizeof v)) != CF_OK)
		return rc == CF_E_NOT_FOUND ? CF_E_STORE : rc;
	if (hex_decode(v, strlen(v), hash, STORE_HASH_LEN) != CF_OK)
		return CF_E_STORE;
	*seq = n;
	return CF_OK;
}

cf_err store_audit_insert(struct store *st, const struct store_audit_row *row)
{
	sqlite3_stmt *s;
	char num[24], hx[2 * STORE_HASH_LEN + 1];
	if (st == NULL || row == NULL || st->tx_depth == 0 || row->seq == 0 ||
	    row->seq > (uint64_t)INT64_MAX || row->actor == NULL || row->source == NULL ||
	    row->operation == NULL || row->uid == NULL || row->detail == NULL)
		return CF_E_INVALID_ARG;
	TRY(stmt_get(st, S_AUDIT_INSERT, &s));
	int r = sqlite3_bind_int64(s, 1, (int64_t)row->seq);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 2, row->time);
	if (r == SQLITE_OK) r = st_bind_text(s, 3, row->actor);
	if (r == SQLITE_OK) r = st_bind_text(s, 4, row->source);
	if (r == SQLITE_OK) r = st_bind_text(s, 5, row->operation);
	if (r == SQLITE_OK) r = st_bind_text(s, 6, row->uid);
	if (r == SQLITE_OK) r = sqlite3_bind_int64(s, 7, row->result);
	if (r == SQLITE_OK) r = st_bind_text(s, 8, row->detail);
	if (r == SQLITE_OK) r = sqlite3_bind_blob(s, 9, row->prev_hash, STORE_HASH_LEN, SQLITE_STATIC);
	if (r == SQLITE_OK) r = sqlite3_bind_blob(s, 10, row->hash, STORE_HASH_LEN, SQLITE_STATIC);
	if (r != SQLITE_OK) {
		st_stmt_done(s);
		return st_map_sqlite(st, r, "bind audit");
	}
	TRY(st_stmt_run(st, s, "insert audit"));
	snprintf(num, sizeof num, "%" PRIu64, row->seq);
	TRY(hex_encode(row->hash, STORE_HASH_LEN, HEX_LOWER, hx, sizeof hx));
	TRY(meta_set_locked(st, "audit_head_seq", num));
	return meta_set_locked(st, "audit_head_hash", hx);
}

cf_err store_audit_walk(struct store *st, store_audit_fn fn, void *arg, uint64_t *anchor_seq,
			uint8_t anchor_hash[static STORE_HASH_LEN])
{
	sqlite3_stmt *s = NULL;
	cf_err rc = CF_E_INTERNAL;
	bool opened = false;
	int r;
	*anchor_seq = 0;
	memset(anchor_hash, 0, STORE_HASH_LEN);
	if (st == NULL || fn == NULL)
		return CF_E_INVALID_ARG;
	/* one snapshot: the rows and the recorded head agree even while others append */
	if ((rc = st_read_begin(st, &opened)) != CF_OK)
		return rc;
	if ((rc = store_audit_anchor(st, anchor_seq, anchor_hash)) != CF_OK)
		goto out;
	if ((rc = stmt_get(st, S_AUDIT_WALK, &s)) != CF_OK)
		goto out;
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
		const void *ph = sqlite3_column_blob(s, 8);
		int phn = sqlite3_column_bytes(s, 8);
		const void *h = sqlite3_column_blob(s, 9);
		int hn = sqlite3_column_bytes(s, 9);
		/* a malformed hash column stays all-zero, which never verifies */
		if (ph != NULL && phn == STORE_HASH_LEN)
			memcpy(row.prev_hash, ph, STORE_HASH_LEN);
		if (h != NULL && hn == STORE_HASH_LEN)
			memcpy(row.hash, h, STORE_HASH_LEN);
		if (row.actor == NULL) row.actor = "";
		if (row.source == NULL) row.source = "";
		if (row.operation == NULL) row.operation = "";
		if (row.uid == NULL) row.uid = "";
		if (row.detail == NULL) row.detail = "";
		if ((rc = fn(arg, &row)) != CF_OK)
			goto out;
	}
	rc = r == SQLITE_DONE ? CF_OK : st_map_sqlite(st, r, "audit walk");
out:
	st_stmt_done(s);
	st_read_end(st, opened);
	return rc;
}

cf_err st_prepare(struct store *st, const char *sql, sqlite3_stmt **out)
{
	int rc;

	*out = NULL;
	rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(*out);
		*out = NULL;
		return st_map_sqlite(st, rc, "prepare");
	}
	return CF_OK;
}
