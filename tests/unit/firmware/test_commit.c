/* firmware/store/commit.c (group commit) through the store API: real SQLite files in a mkdtemp
 * directory.
 *   - N writer threads on their own connections: every ticket becomes durable, the data is
 *     there, and one fsync served several commits (the point of the mechanism);
 *   - store_tx_commit keeps its contract with group commit (durable when it returns), and
 *     synchronous=NORMAL is what a group-commit connection runs;
 *   - the write lock: a writer of this process waits for another's transaction instead of
 *     failing, and gives up with CF_E_AGAIN after its busy timeout;
 *   - the sync notification fd is written after a sync;
 *   - a read snapshot refuses to commit a write;
 *   - kill -9 in the middle of batches: every insert acknowledged after its ticket became
 *     durable is there after a restart, and the file passes quick_check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "firmware/store/commit.h"
#include "firmware/store/store.h"
#include "firmware/store/store_int.h"

static char tmpdir[64];
static unsigned db_counter;

static int group_setup(void **s)
{
	(void)s;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/coffre-commit-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **s)
{
	(void)s;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void db_path(char *out, size_t n)
{
	snprintf(out, n, "%s/c%u.db", tmpdir, ++db_counter);
}

static const struct store_opts gc_opts = { .group_commit = true };

static void obj_init(struct store_object *o, const char *uid)
{
	static const uint8_t blob[40] = { 0xa6, 0x59, 0x59, 0xa6, 1, 2, 3, 4 };
	memset(o, 0, sizeof *o);
	snprintf(o->uid, sizeof o->uid, "%s", uid);
	o->object_type = 2;
	o->state = STORE_STATE_ACTIVE;
	snprintf(o->tenant, sizeof o->tenant, "t");
	snprintf(o->owner, sizeof o->owner, "o");
	o->kek_version = 1;
	o->wrapped = (uint8_t *)blob;
	o->wrapped_len = sizeof blob;
	o->created = 1;
}

/* insert uid in its own transaction, committed without waiting; *ticket = its ticket */
static cf_err insert_nowait(struct store *st, const char *uid, uint64_t *ticket)
{
	struct store_object o;
	obj_init(&o, uid);
	TRY(store_tx_begin(st));
	cf_err rc = store_object_insert(st, &o, NULL, 0);
	if (rc != CF_OK) {
		store_tx_rollback(st);
		return rc;
	}
	return store_tx_commit_nowait(st, ticket);
}

static void t_pragmas_and_blocking_commit(void **s)
{
	(void)s;
	char path[128];
	struct store *st = NULL;
	db_path(path, sizeof path);
	assert_int_equal(store_open(path, &gc_opts, &st), CF_OK);
	sqlite3_stmt *q = NULL;
	assert_int_equal(sqlite3_prepare_v2(st->db, "PRAGMA synchronous", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 1); /* NORMAL: the group syncs */
	sqlite3_finalize(q);

	/* the plain insert (its own transaction) returns only once durable */
	struct store_object o;
	obj_init(&o, "blocking-1");
	assert_int_equal(store_object_insert(st, &o, NULL, 0), CF_OK);
	uint64_t syncs = 0, durable = 0;
	commit_stats(st->cg, &syncs, &durable);
	assert_true(syncs >= 1);
	assert_int_equal(durable, st->last_ticket);
	assert_true(st->last_ticket >= 1);

	/* nowait: a ticket, durable after the wait */
	uint64_t t = 0;
	assert_int_equal(insert_nowait(st, "nowait-1", &t), CF_OK);
	assert_true(t > durable);
	assert_int_equal(store_ticket_wait(st, t), CF_OK);
	assert_int_equal(store_ticket_state(st, t, NULL), 1);
	assert_int_equal(store_ticket_state(st, 0, NULL), 1);
	/* a ticket never handed out is not durable */
	assert_int_equal(store_ticket_state(st, t + 1000, NULL), 0);
	store_close(st);

	/* a store without group commit: FULL, and tickets are 0 (durable at COMMIT) */
	assert_int_equal(store_open(path, NULL, &st), CF_OK);
	assert_int_equal(insert_nowait(st, "full-1", &t), CF_OK);
	assert_int_equal(t, 0);
	struct store_object g;
	assert_int_equal(store_object_get(st, "t", "nowait-1", &g), CF_OK);
	store_object_free(&g);
	store_close(st);
}

struct writer {
	const char *path;
	unsigned idx, n;
	unsigned acked;
	cf_err rc;
};

static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	struct store *st = NULL;
	wr->rc = store_open(wr->path, &gc_opts, &st);
	for (unsigned i = 0; i < wr->n && wr->rc == CF_OK; i++) {
		char uid[64];
		uint64_t t = 0;
		snprintf(uid, sizeof uid, "w%u-%u", wr->idx, i);
		wr->rc = insert_nowait(st, uid, &t);
		if (wr->rc == CF_OK)
			wr->rc = store_ticket_wait(st, t);
		if (wr->rc == CF_OK)
			wr->acked++;
	}
	store_close(st);
	return NULL;
}

static void t_concurrent_writers(void **s)
{
	(void)s;
	enum { NW = 8, PER = 150 };
	char path[128];
	struct store *st = NULL;
	db_path(path, sizeof path);
	assert_int_equal(store_open(path, &gc_opts, &st), CF_OK); /* keeps the group alive */
	uint64_t syncs0 = 0, dur0 = 0;
	commit_stats(st->cg, &syncs0, &dur0);

	pthread_t th[NW];
	struct writer wr[NW];
	for (unsigned i = 0; i < NW; i++) {
		wr[i] = (struct writer){ .path = path, .idx = i, .n = PER };
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &wr[i]), 0);
	}
	for (unsigned i = 0; i < NW; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(wr[i].rc, CF_OK);
		assert_int_equal(wr[i].acked, PER);
	}
	uint64_t syncs = 0, dur = 0;
	commit_stats(st->cg, &syncs, &dur);
	print_message("group commit: %u commits, %llu fsyncs\n", NW * PER,
		      (unsigned long long)(syncs - syncs0));
	assert_true(dur - dur0 == NW * PER);        /* every ticket durable */
	assert_true(syncs - syncs0 < (uint64_t)NW * PER); /* and some shared an fsync */
	for (unsigned i = 0; i < NW; i++) {
		for (unsigned k = 0; k < PER; k++) {
			char uid[64];
			struct store_object g;
			snprintf(uid, sizeof uid, "w%u-%u", i, k);
			assert_int_equal(store_object_get(st, "t", uid, &g), CF_OK);
			store_object_free(&g);
		}
	}
	store_close(st);
}

struct holder {
	const char *path;
	int started;   /* pipe: the holder has its transaction */
	int release;   /* pipe: end it */
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;
	struct store *st = NULL;
	char c = 0;
	if (store_open(h->path, &gc_opts, &st) != CF_OK || store_tx_begin(st) != CF_OK)
		c = 'E';
	else
		c = 'S';
	assert_int_equal(write(h->started, &c, 1), 1);
	assert_int_equal(read(h->release, &c, 1), 1);
	uint64_t t = 0;
	struct store_object o;
	obj_init(&o, "holder-1");
	if (store_object_insert(st, &o, NULL, 0) == CF_OK &&
	    store_tx_commit_nowait(st, &t) == CF_OK) {
		cf_err rc = store_ticket_wait(st, t);
		assert_int_equal(rc, CF_OK);
	} else
		store_tx_rollback(st);
	store_close(st);
	return NULL;
}

static void t_write_lock(void **s)
{
	(void)s;
	char path[128];
	struct store *st = NULL;
	db_path(path, sizeof path);
	struct store_opts o = gc_opts;
	o.busy_timeout_ms = 150;
	assert_int_equal(store_open(path, &o, &st), CF_OK);
	int p1[2], p2[2];
	assert_int_equal(pipe(p1), 0);
	assert_int_equal(pipe(p2), 0);
	struct holder h = { .path = path, .started = p1[1], .release = p2[0] };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, holder_main, &h), 0);
	char c = 0;
	assert_int_equal(read(p1[0], &c, 1), 1);
	assert_int_equal(c, 'S');
	/* held by the other connection: we time out cleanly */
	assert_int_equal(store_tx_begin(st), CF_E_AGAIN);
	assert_int_equal(store_tx_depth(st), 0);
	/* released while we wait: we get it */
	c = 'R';
	assert_int_equal(write(p2[1], &c, 1), 1);
	struct store_opts o2 = gc_opts;
	o2.busy_timeout_ms = 5000;
	struct store *st2 = NULL;
	assert_int_equal(store_open(path, &o2, &st2), CF_OK);
	assert_int_equal(store_tx_begin(st2), CF_OK);
	store_tx_rollback(st2);
	pthread_join(th, NULL);
	struct store_object g;
	assert_int_equal(store_object_get(st2, "t", "holder-1", &g), CF_OK);
	store_object_free(&g);
	store_close(st2);
	store_close(st);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
}

static void t_notify_and_read_snapshot(void **s)
{
	(void)s;
	char path[128];
	struct store *st = NULL;
	db_path(path, sizeof path);
	assert_int_equal(store_open(path, &gc_opts, &st), CF_OK);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(efd >= 0);
	assert_int_equal(store_sync_notify(st, efd), CF_OK);
	uint64_t t = 0, v = 0;
	assert_int_equal(insert_nowait(st, "n-1", &t), CF_OK);
	struct pollfd pf = { .fd = efd, .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 5000), 1); /* the committer woke us */
	assert_int_equal(read(efd, &v, sizeof v), (ssize_t)sizeof v);
	assert_int_equal(store_ticket_state(st, t, NULL), 1);

	/* a read snapshot: reads fine, nested savepoints fine, a write is refused at the end */
	struct store_object g;
	assert_int_equal(store_read_tx_begin(st), CF_OK);
	assert_int_equal(store_tx_begin(st), CF_OK); /* a savepoint */
	assert_int_equal(store_object_get(st, "t", "n-1", &g), CF_OK);
	store_object_free(&g);
	assert_int_equal(store_tx_commit(st), CF_OK);
	assert_int_equal(store_read_tx_end(st), CF_OK);
	assert_int_equal(store_tx_depth(st), 0);

	assert_int_equal(store_read_tx_begin(st), CF_OK);
	struct store_object o;
	obj_init(&o, "sneaky-1");
	cf_err rc = store_object_insert(st, &o, NULL, 0);
	if (rc == CF_OK)
		assert_int_equal(store_read_tx_end(st), CF_E_INTERNAL);
	else
		store_tx_rollback(st);
	assert_int_equal(store_tx_depth(st), 0);
	assert_int_equal(store_object_get(st, "t", "sneaky-1", &g), CF_E_NOT_FOUND);
	/* and the write lock is free afterwards */
	assert_int_equal(store_tx_begin(st), CF_OK);
	store_tx_rollback(st);
	assert_int_equal(store_sync_notify(st, -1), CF_OK);
	close(efd);
	store_close(st);
}

/* Child: K threads insert with group commit and write each uid to the pipe once its ticket is
 * durable (the acknowledgement). Runs until the parent kills it. */
struct cw {
	const char *path;
	int out;
	unsigned idx;
};

static void *cw_main(void *arg)
{
	struct cw *c = arg;
	struct store *st = NULL;
	if (store_open(c->path, &gc_opts, &st) != CF_OK)
		_exit(2);
	for (unsigned i = 0;; i++) {
		char uid[64];
		uint64_t t = 0;
		int n = snprintf(uid, sizeof uid, "k%u-%u-%u", (unsigned)getpid(), c->idx, i);
		if (insert_nowait(st, uid, &t) != CF_OK || store_ticket_wait(st, t) != CF_OK)
			_exit(3);
		uid[n] = '\n';
		if (write(c->out, uid, (size_t)n + 1) != n + 1) /* < PIPE_BUF: atomic */
			_exit(4);
	}
	return NULL;
}

static void child_writers(const char *path, int out)
{
	enum { K = 4 };
	struct cw cw[K];
	pthread_t th[K];
	for (unsigned i = 0; i < K; i++) {
		cw[i] = (struct cw){ .path = path, .out = out, .idx = i };
		if (pthread_create(&th[i], NULL, cw_main, &cw[i]) != 0)
			_exit(5);
	}
	for (;;)
		pause();
}

static void t_kill_mid_batch(void **s)
{
	(void)s;
	char path[128];
	struct store *st = NULL;
	db_path(path, sizeof path);
	assert_int_equal(store_open(path, NULL, &st), CF_OK);
	store_close(st);
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	print_message("kill seed %u\n", seed);
	size_t total = 0;
	for (int it = 0; it < 10; it++) {
		int pfd[2];
		assert_int_equal(pipe(pfd), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			child_writers(path, pfd[1]);
		}
		close(pfd[1]);
		struct timespec ts = { 0, (long)(20 + rand_r(&seed) % 80) * 1000000L };
		nanosleep(&ts, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		int status = 0;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		/* the acknowledged uids: whole lines only */
		size_t cap = 1 << 16, len = 0;
		char *acked = malloc(cap + 1);
		assert_non_null(acked);
		ssize_t r;
		while ((r = read(pfd[0], acked + len, cap - len)) > 0) {
			len += (size_t)r;
			if (len == cap) {
				cap *= 2;
				acked = realloc(acked, cap + 1);
				assert_non_null(acked);
			}
		}
		close(pfd[0]);
		acked[len] = '\0';
		assert_int_equal(store_open(path, &gc_opts, &st), CF_OK);
		assert_int_equal(store_check(st), CF_OK);
		size_t n = 0;
		for (char *line = acked, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
			*nl = '\0';
			struct store_object g;
			cf_err rc = store_object_get(st, "t", line, &g);
			if (rc != CF_OK)
				fail_msg("acknowledged uid %s lost after kill %d (%s)", line, it,
					 cf_err_name(rc));
			store_object_free(&g);
			n++;
		}
		store_close(st);
		free(acked);
		total += n;
	}
	print_message("kill mid-batch: %zu acknowledged inserts over 10 kills, none lost\n", total);
	assert_true(total > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_pragmas_and_blocking_commit),
		cmocka_unit_test(t_concurrent_writers),
		cmocka_unit_test(t_write_lock),
		cmocka_unit_test(t_notify_and_read_snapshot),
		cmocka_unit_test(t_kill_mid_batch),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
