/* firmware/audit: the hash chain. Appends (own transaction, or joined to the caller's),
 * verification, and tamper detection with the exact seq: every field of every row edited,
 * rows deleted (first, middle, last), reordered, forged; syslog lines only after commit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "firmware/store/audit.h"
#include "firmware/store/store.h"

static char tmpdir[64];
static unsigned db_counter;

/* syslog capture: the test binary's definitions take precedence over libc's. */
static char sys_lines[64][2048];
static int sys_prio[64];
static size_t n_sys;

static void capture(int prio, const char *fmt, va_list ap)
{
	if (n_sys < 64) {
		vsnprintf(sys_lines[n_sys], sizeof sys_lines[0], fmt, ap);
		sys_prio[n_sys] = prio;
		n_sys++;
	}
}

void syslog(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	capture(prio, fmt, ap);
	va_end(ap);
}

void __syslog_chk(int prio, int flag, const char *fmt, ...);
void __syslog_chk(int prio, int flag, const char *fmt, ...)
{
	(void)flag;
	va_list ap;
	va_start(ap, fmt);
	capture(prio, fmt, ap);
	va_end(ap);
}

static int group_setup(void **s)
{
	(void)s;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/coffre-audit-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **s)
{
	(void)s;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct store *open_new(char *path, size_t n, bool syslog_on)
{
	struct store *st = NULL;
	struct store_opts o = { .audit_syslog = syslog_on };
	snprintf(path, n, "%s/a%u.db", tmpdir, ++db_counter);
	assert_int_equal(store_open(path, &o, &st), CF_OK);
	return st;
}

static void append_n(struct store *st, unsigned n)
{
	for (unsigned i = 1; i <= n; i++) {
		char uid[32], detail[32];
		snprintf(uid, sizeof uid, "uid-%u", i);
		snprintf(detail, sizeof detail, "item %u", i);
		struct audit_record r = {
			.time = 1700000000 + i,
			.actor = "sha256:00aa",
			.source = "10.0.0.1:40000",
			.operation = i % 2 ? "Create" : "Get",
			.uid = uid,
			.result = i == 5 ? CF_E_NOT_FOUND : 0,
			.detail = detail,
		};
		uint64_t seq = 0;
		assert_int_equal(audit_append(st, &r, &seq), CF_OK);
		assert_int_equal(seq, i);
	}
}

/* A raw connection for tampering, with the append-only triggers dropped. */
static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA synchronous=OFF;"
					  "DROP TRIGGER IF EXISTS audit_no_update;"
					  "DROP TRIGGER IF EXISTS audit_no_delete;",
				      NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

static void expect_bad(struct store *st, uint64_t seq)
{
	uint64_t bad = 12345;
	assert_int_equal(audit_verify(st, &bad), CF_E_STORE);
	assert_int_equal(bad, seq);
}

static void expect_ok(struct store *st)
{
	uint64_t bad = 12345;
	assert_int_equal(audit_verify(st, &bad), CF_OK);
	assert_int_equal(bad, 0);
}

static void t_append_verify(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path, false);
	expect_ok(st); /* empty chain */
	append_n(st, 10);
	expect_ok(st);
	/* the first row chains from 32 zero bytes; each prev_hash is the previous hash */
	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq,prev_hash,hash FROM audit ORDER BY seq",
					    -1, &q, NULL), SQLITE_OK);
	uint8_t prev[32] = { 0 };
	int rows = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		assert_int_equal(sqlite3_column_bytes(q, 1), 32);
		assert_memory_equal(sqlite3_column_blob(q, 1), prev, 32);
		memcpy(prev, sqlite3_column_blob(q, 2), 32);
		rows++;
	}
	assert_int_equal(rows, 10);
	sqlite3_finalize(q);
	/* the service's own connection cannot rewrite history (append-only triggers) */
	assert_int_not_equal(sqlite3_exec(db, "UPDATE audit SET actor='x' WHERE seq=1", NULL, NULL, NULL),
			     SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit WHERE seq=10", NULL, NULL, NULL),
			     SQLITE_OK);
	sqlite3_close(db);
	expect_ok(st);
	/* the hash is deterministic and covers the encoding */
	struct store_audit_row r = { .seq = 1, .time = 2, .actor = "a", .source = "b",
				     .operation = "c", .uid = "", .result = 0, .detail = "" };
	uint8_t h1[32], h2[32];
	assert_int_equal(audit_hash(&r, h1), CF_OK);
	assert_int_equal(audit_hash(&r, h2), CF_OK);
	assert_memory_equal(h1, h2, 32);
	/* length prefixes: moving a byte between adjacent fields changes the hash */
	r.actor = "ab";
	r.source = "";
	assert_int_equal(audit_hash(&r, h2), CF_OK);
	assert_memory_not_equal(h1, h2, 32);
	store_close(st);
}

/* Edit each field of each row in turn: the exact seq is reported, and restoring the value
 * makes the chain verify again. */
static void t_tamper_every_field(void **s)
{
	(void)s;
	static const char *const cols[] = { "time", "actor", "source", "operation", "uid",
					     "result", "detail", "prev_hash", "hash" };
	char path[128], sql[256];
	struct store *st = open_new(path, sizeof path, false);
	append_n(st, 10);
	sqlite3 *db = raw_open(path);
	for (unsigned seq = 1; seq <= 10; seq++) {
		for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
			sqlite3_stmt *q;
			snprintf(sql, sizeof sql, "SELECT %s FROM audit WHERE seq=%u", cols[c], seq);
			assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
			assert_int_equal(sqlite3_step(q), SQLITE_ROW);
			sqlite3_value *orig = sqlite3_value_dup(sqlite3_column_value(q, 0));
			sqlite3_finalize(q);
			/* a minimal edit of the right type */
			char set[64];
			if (strcmp(cols[c], "time") == 0 || strcmp(cols[c], "result") == 0)
				snprintf(set, sizeof set, "%s=%s+1", cols[c], cols[c]);
			else if (strcmp(cols[c], "prev_hash") == 0 || strcmp(cols[c], "hash") == 0)
				snprintf(set, sizeof set, "%s=zeroblob(32)", cols[c]);
			else
				snprintf(set, sizeof set, "%s=%s||'.'", cols[c], cols[c]);
			snprintf(sql, sizeof sql, "UPDATE audit SET %s WHERE seq=%u", set, seq);
			raw_exec(db, sql);
			if (seq == 1 && strcmp(cols[c], "prev_hash") == 0) {
				/* row 1's prev_hash is already zero: use another value */
				raw_exec(db, "UPDATE audit SET prev_hash=randomblob(32) WHERE seq=1");
			}
			expect_bad(st, seq);
			snprintf(sql, sizeof sql, "UPDATE audit SET %s=?1 WHERE seq=%u", cols[c], seq);
			assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
			assert_int_equal(sqlite3_bind_value(q, 1, orig), SQLITE_OK);
			assert_int_equal(sqlite3_step(q), SQLITE_DONE);
			sqlite3_finalize(q);
			sqlite3_value_free(orig);
			expect_ok(st);
		}
	}
	sqlite3_close(db);
	store_close(st);
}

static void t_tamper_delete_reorder_forge(void **s)
{
	(void)s;
	char path[128];
	struct store *st;
	sqlite3 *db;

	/* delete a middle row */
	st = open_new(path, sizeof path, false);
	append_n(st, 10);
	db = raw_open(path);
	raw_exec(db, "DELETE FROM audit WHERE seq=4");
	expect_bad(st, 4);
	sqlite3_close(db);
	store_close(st);

	/* delete the first row */
	st = open_new(path, sizeof path, false);
	append_n(st, 10);
	db = raw_open(path);
	raw_exec(db, "DELETE FROM audit WHERE seq=1");
	expect_bad(st, 1);
	sqlite3_close(db);
	store_close(st);

	/* cut the tail: the recorded head catches it */
	st = open_new(path, sizeof path, false);
	append_n(st, 10);
	db = raw_open(path);
	raw_exec(db, "DELETE FROM audit WHERE seq>=9");
	expect_bad(st, 9);
	sqlite3_close(db);
	store_close(st);

	/* reorder: rows 3 and 6 swap places (their seq values are exchanged) */
	st = open_new(path, sizeof path, false);
	append_n(st, 10);
	db = raw_open(path);
	raw_exec(db, "UPDATE audit SET seq=1000 WHERE seq=3;"
		     "UPDATE audit SET seq=3 WHERE seq=6;"
		     "UPDATE audit SET seq=6 WHERE seq=1000;");
	expect_bad(st, 3);
	sqlite3_close(db);
	store_close(st);

	/* reorder: contents of rows 7 and 8 swapped, seq kept */
	st = open_new(path, sizeof path, false);
	append_n(st, 10);
	db = raw_open(path);
	raw_exec(db, "CREATE TEMP TABLE t AS SELECT * FROM audit WHERE seq IN (7,8);"
		     "UPDATE audit SET (time,actor,source,operation,uid,result,detail,prev_hash,hash)="
		     "(SELECT time,actor,source,operation,uid,result,detail,prev_hash,hash FROM t "
		     "WHERE t.seq = 15 - audit.seq) WHERE seq IN (7,8);");
	expect_bad(st, 7);
	sqlite3_close(db);
	store_close(st);

	/* a forged row appended with a correctly computed hash, head not moved */
	st = open_new(path, sizeof path, false);
	append_n(st, 10);
	{
		struct store_audit_row r = { .seq = 11, .time = 1, .actor = "evil", .source = "x",
					     .operation = "Destroy", .uid = "", .result = 0, .detail = "" };
		sqlite3_stmt *q;
		db = raw_open(path);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT hash FROM audit WHERE seq=10", -1, &q, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		memcpy(r.prev_hash, sqlite3_column_blob(q, 0), 32);
		sqlite3_finalize(q);
		assert_int_equal(audit_hash(&r, r.hash), CF_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO audit VALUES(11,1,'evil','x','Destroy','',0,'',?1,?2)",
						    -1, &q, NULL), SQLITE_OK);
		sqlite3_bind_blob(q, 1, r.prev_hash, 32, SQLITE_STATIC);
		sqlite3_bind_blob(q, 2, r.hash, 32, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(q), SQLITE_DONE);
		sqlite3_finalize(q);
		expect_bad(st, 11);
		sqlite3_close(db);
	}
	store_close(st);
}

static void t_joins_caller_transaction(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path, true);
	n_sys = 0;
	struct audit_record r = { .time = 1, .actor = "console:admin", .source = "console",
				  .operation = "console:login", .result = 0 };
	uint64_t seq = 0;
	assert_int_equal(audit_append(st, &r, &seq), CF_OK);
	assert_int_equal(seq, 1);
	assert_int_equal(n_sys, 1);
	assert_true(strstr(sys_lines[0], "seq=1 ") != NULL);
	assert_true(strstr(sys_lines[0], "op=\"console:login\"") != NULL);
	assert_int_equal(sys_prio[0], LOG_AUTHPRIV | LOG_NOTICE);

	/* rolled back with the change it records: no row, no syslog line, no gap */
	assert_int_equal(store_tx_begin(st), CF_OK);
	r.operation = "Create";
	r.uid = "k-rolled-back";
	assert_int_equal(audit_append(st, &r, &seq), CF_OK);
	assert_int_equal(seq, 2);
	assert_int_equal(n_sys, 1); /* not before commit */
	store_tx_rollback(st);
	assert_int_equal(n_sys, 1);
	/* committed with it: one row, one line, after the commit */
	assert_int_equal(store_tx_begin(st), CF_OK);
	r.uid = "k-committed";
	assert_int_equal(audit_append(st, &r, &seq), CF_OK);
	assert_int_equal(seq, 2);
	/* a nested item that fails drops only its own record */
	assert_int_equal(store_tx_begin(st), CF_OK);
	r.uid = "k-nested-failed";
	assert_int_equal(audit_append(st, &r, &seq), CF_OK);
	store_tx_rollback(st);
	assert_int_equal(n_sys, 1);
	assert_int_equal(store_tx_commit(st), CF_OK);
	assert_int_equal(n_sys, 2);
	assert_true(strstr(sys_lines[1], "uid=\"k-committed\"") != NULL);
	expect_ok(st);
	r.uid = "k3";
	assert_int_equal(audit_append(st, &r, &seq), CF_OK);
	assert_int_equal(seq, 3);
	expect_ok(st);

	/* hostile text cannot forge syslog lines or fields */
	r.uid = "x\" result=0\nforged";
	r.detail = "a\tb\x7f";
	assert_int_equal(audit_append(st, &r, &seq), CF_OK);
	assert_int_equal(n_sys, 4);
	assert_null(strchr(sys_lines[3], '\n'));
	assert_true(strstr(sys_lines[3], "uid=\"x? result=0?forged\"") != NULL);
	assert_true(strstr(sys_lines[3], "detail=\"a?b?\"") != NULL);
	/* the row keeps the original text */
	expect_ok(st);
	store_close(st);
}

struct writer_arg {
	const char *path;
	int id;
	cf_err rc;
};

static void *writer(void *p)
{
	struct writer_arg *w = p;
	struct store *st = NULL;
	w->rc = store_open(w->path, NULL, &st);
	for (int i = 0; i < 50 && w->rc == CF_OK; i++) {
		char uid[32];
		snprintf(uid, sizeof uid, "w%d-%d", w->id, i);
		struct audit_record r = { .time = i, .actor = "t", .source = "s",
					  .operation = "Create", .uid = uid };
		w->rc = audit_append(st, &r, NULL);
	}
	store_close(st);
	return NULL;
}

/* Workers append from their own connections at the same time: one gapless chain. */
static void t_concurrent_writers(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path, false);
	struct store *st2 = NULL;
	assert_int_equal(store_open(path, NULL, &st2), CF_OK);
	struct audit_record r = { .time = 1, .actor = "a", .source = "s", .operation = "Get" };
	uint64_t seq;
	for (uint64_t i = 1; i <= 6; i++) {
		assert_int_equal(audit_append(i % 2 ? st : st2, &r, &seq), CF_OK);
		assert_int_equal(seq, i);
	}
	store_close(st2);
	pthread_t th[3];
	struct writer_arg wa[3];
	for (int i = 0; i < 3; i++) {
		wa[i] = (struct writer_arg){ .path = path, .id = i, .rc = CF_E_INTERNAL };
		assert_int_equal(pthread_create(&th[i], NULL, writer, &wa[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(wa[i].rc, CF_OK);
	}
	expect_ok(st);
	assert_int_equal(audit_append(st, &r, &seq), CF_OK);
	assert_int_equal(seq, 6 + 150 + 1);
	store_close(st);
}

/* The remote sender's reader and cursor: rows after a seq, in order, bounded; the cursor in
 * meta survives a reopen. */
struct collect {
	uint64_t seqs[16];
	uint8_t hash[16][STORE_HASH_LEN];
	unsigned n;
};

static cf_err collect_row(void *arg, const struct store_audit_row *r)
{
	struct collect *c = arg;
	if (c->n >= 16)
		return CF_E_TOO_MANY;
	c->seqs[c->n] = r->seq;
	assert_int_equal(audit_hash(r, c->hash[c->n]), CF_OK);
	assert_memory_equal(c->hash[c->n], r->hash, STORE_HASH_LEN);
	c->n++;
	return CF_OK;
}

static void t_read_after_cursor(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path, false);
	struct collect c = { 0 };
	unsigned n = 99;
	uint64_t cur = 99;

	append_n(st, 10);
	assert_int_equal(audit_read_after(st, 3, 4, collect_row, &c, &n), CF_OK);
	assert_int_equal(n, 4);
	assert_int_equal(c.seqs[0], 4);
	assert_int_equal(c.seqs[3], 7);
	memset(&c, 0, sizeof c);
	assert_int_equal(audit_read_after(st, 8, 16, collect_row, &c, &n), CF_OK);
	assert_int_equal(n, 2);
	assert_int_equal(c.seqs[1], 10);
	assert_int_equal(audit_read_after(st, 10, 16, collect_row, &c, &n), CF_OK);
	assert_int_equal(n, 0);
	assert_int_equal(audit_read_after(st, 0, 0, collect_row, &c, &n), CF_E_INVALID_ARG);
	assert_int_equal(audit_sent_get(st, &cur), CF_OK);
	assert_int_equal(cur, 0);
	assert_int_equal(audit_sent_set(st, 7), CF_OK);
	store_close(st);
	st = NULL;
	struct store_opts o = { 0 };
	assert_int_equal(store_open(path, &o, &st), CF_OK);
	assert_int_equal(audit_sent_get(st, &cur), CF_OK);
	assert_int_equal(cur, 7);
	expect_ok(st); /* the cursor is meta: the chain is untouched */
	store_close(st);
}

static void t_field_limits(void **s)
{
	(void)s;
	char path[128];
	struct store *st = open_new(path, sizeof path, false);
	char big[3000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	/* a 2-byte UTF-8 character straddling the actor limit is dropped whole */
	big[AUDIT_ACTOR_MAX - 1] = (char)0xc3;
	big[AUDIT_ACTOR_MAX] = (char)0xa9;
	struct audit_record r = { .time = 1, .actor = big, .source = big, .operation = big,
				  .uid = big, .result = 0, .detail = big };
	assert_int_equal(audit_append(st, &r, NULL), CF_OK);
	expect_ok(st);
	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT length(CAST(actor AS BLOB)),length(source),"
					    "length(operation),length(uid),length(CAST(detail AS BLOB)) FROM audit",
					    -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), AUDIT_ACTOR_MAX - 1);
	assert_int_equal(sqlite3_column_int(q, 1), AUDIT_SOURCE_MAX);
	assert_int_equal(sqlite3_column_int(q, 2), AUDIT_OP_MAX);
	assert_int_equal(sqlite3_column_int(q, 3), AUDIT_UID_MAX);
	assert_int_equal(sqlite3_column_int(q, 4), AUDIT_DETAIL_MAX);
	sqlite3_finalize(q);
	sqlite3_close(db);
	/* NULL optional fields become "" ; a missing operation is refused */
	struct audit_record m = { .time = 2, .operation = "Query" };
	assert_int_equal(audit_append(st, &m, NULL), CF_OK);
	m.operation = NULL;
	assert_int_equal(audit_append(st, &m, NULL), CF_E_INVALID_ARG);
	expect_ok(st);
	uint64_t bad;
	assert_int_equal(audit_verify(st, NULL), CF_E_INVALID_ARG);
	assert_int_equal(audit_verify(NULL, &bad), CF_E_INVALID_ARG);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_append_verify),
		cmocka_unit_test(t_tamper_every_field),
		cmocka_unit_test(t_tamper_delete_reorder_forge),
		cmocka_unit_test(t_joins_caller_transaction),
		cmocka_unit_test(t_concurrent_writers),
		cmocka_unit_test(t_field_limits),
		cmocka_unit_test(t_read_after_cursor),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
