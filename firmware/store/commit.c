/* Group commit for the store (commit.h, docs/store.md "Group commit"). */
#include "firmware/store/commit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "board/log.h"

#define COMMIT_NOTIFY_MAX 128

struct commit_line {
	uint64_t ticket;
	char *line;
};

struct commit_group {
	struct commit_group *next; /* commit_proc.groups */
	dev_t dev;
	ino_t ino;
	unsigned refs;             /* under commit_proc.mu */
	char wal[PATH_MAX];

	pthread_mutex_t wlock;     /* the write lock */

	pthread_mutex_t mu;        /* everything below */
	pthread_cond_t cv_work;    /* committer: a ticket to sync, or stop */
	pthread_cond_t cv_done;    /* waiters: synced moved */
	uint64_t committed;        /* last ticket handed out */
	uint64_t synced;           /* every ticket <= synced is durable */
	cf_err failed;             /* sticky: a failed fsync makes every later ticket fail */
	bool thread_on, stop;
	bool syncing;              /* a sync_round is running (committer or a waiter) */
	pthread_t th;
	int walfd;                 /* committer only */
	uint64_t n_syncs;
	struct commit_line *lines;
	size_t n_lines, cap_lines;
	int notify[COMMIT_NOTIFY_MAX];
	size_t n_notify;

	/* syslog of the group's audit lines (commit_syslog_line): whether /dev/log existed at
	 * the last check, and when that was (CLOCK_MONOTONIC ms) */
	_Atomic int64_t devlog_checked_ms;
	_Atomic int devlog_present;
};

/* The groups of the process, and the syslog gate. The one process-wide object of the store,
 * and it has to be: a group stands for a database FILE, and every connection of the process
 * on that file must find the same one (its write lock orders them, its tickets follow their
 * commits in the WAL), whoever opened it: the KMIP workers, the console, the KEK job and the
 * main thread open their connections independently from a path (store_open), and the file's
 * identity (device, inode) is the only thing they share. The gate goes with openlog(3), whose
 * connection is per process too (audit_syslog_open sets both). */
static struct {
	pthread_mutex_t mu;
	struct commit_group *groups;  /* under mu */
	_Atomic bool syslog_gate;
} commit_proc = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- syslog ---------------------------------------------------------------------------- */

#define DEVLOG_NEVER (-1000000) /* devlog_checked_ms: check on the next line */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void commit_syslog_gate(bool on)
{
	pthread_mutex_lock(&commit_proc.mu);
	atomic_store(&commit_proc.syslog_gate, on);
	for (struct commit_group *g = commit_proc.groups; g != NULL; g = g->next)
		atomic_store(&g->devlog_checked_ms, DEVLOG_NEVER);
	pthread_mutex_unlock(&commit_proc.mu);
}

void commit_syslog_line(struct commit_group *g, const char *line)
{
	if (!atomic_load_explicit(&commit_proc.syslog_gate, memory_order_relaxed)) {
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", line);
		return;
	}
	int64_t now = mono_ms();
	if (now - atomic_load_explicit(&g->devlog_checked_ms, memory_order_relaxed) >= 1000) {
		struct stat sb;
		atomic_store(&g->devlog_present, stat("/dev/log", &sb) == 0 && S_ISSOCK(sb.st_mode));
		atomic_store(&g->devlog_checked_ms, now);
	}
	if (atomic_load_explicit(&g->devlog_present, memory_order_relaxed))
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", line);
}

/* ---- committer ------------------------------------------------------------------------- */

/* fdatasync the WAL. A WAL that does not exist holds nothing un-checkpointed (SQLite deletes
 * it only after a complete checkpoint, which synced the database file). A WAL replaced since
 * we opened it (unlinked: nlink 0) is reopened and synced again. */
static cf_err wal_sync(struct commit_group *g)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (g->walfd < 0) {
			g->walfd = open(g->wal, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (g->walfd < 0) {
				if (errno == ENOENT)
					return CF_OK;
				log_err("store: group commit: open %s: %s", g->wal, strerror(errno));
				return CF_E_IO;
			}
		}
		if (fdatasync(g->walfd) != 0) {
			log_err("store: group commit: fdatasync %s: %s", g->wal, strerror(errno));
			return CF_E_IO;
		}
		struct stat sb;
		if (fstat(g->walfd, &sb) == 0 && sb.st_nlink > 0)
			return CF_OK;
		close(g->walfd);
		g->walfd = -1;
	}
	return CF_OK;
}

/* One sync of every ticket taken so far, by whichever thread found none running: the
 * committer, or a waiter that would otherwise only hand the work over to it and sleep
 * (commit_sync_inline: one thread switch less on a lightly loaded server). With g->mu held;
 * returns with it held. */
static void sync_round(struct commit_group *g)
{
	uint64_t target = g->committed;
	g->syncing = true;
	pthread_mutex_unlock(&g->mu);

	cf_err rc = wal_sync(g);

	pthread_mutex_lock(&g->mu);
	g->syncing = false;
	g->n_syncs++;
	if (rc == CF_OK)
		g->synced = target;
	else
		g->failed = rc;
	pthread_cond_broadcast(&g->cv_done);
	pthread_cond_signal(&g->cv_work); /* tickets taken during the sync: the committer's */
	/* lines of durable tickets (in ticket order), emitted without the lock */
	size_t k = 0;
	while (k < g->n_lines && (rc != CF_OK || g->lines[k].ticket <= target))
		k++;
	struct commit_line *out = NULL;
	if (k > 0 && (out = malloc(k * sizeof *out)) != NULL) {
		memcpy(out, g->lines, k * sizeof *out);
		memmove(g->lines, g->lines + k, (g->n_lines - k) * sizeof *g->lines);
		g->n_lines -= k;
	}
	/* under the lock: commit_notify_del returns only once its fd is no longer used */
	for (size_t i = 0; i < g->n_notify; i++) {
		uint64_t one = 1;
		ssize_t w = write(g->notify[i], &one, sizeof one);
		(void)w; /* EAGAIN: the counter is already non-zero, the loop will look */
	}
	if (out == NULL)
		return;
	pthread_mutex_unlock(&g->mu);
	for (size_t i = 0; i < k; i++) {
		if (rc == CF_OK)
			commit_syslog_line(g, out[i].line);
		free(out[i].line);
	}
	free(out);
	pthread_mutex_lock(&g->mu);
}

static void *committer_main(void *arg)
{
	struct commit_group *g = arg;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (!g->stop &&
		       (g->committed == g->synced || g->failed != CF_OK || g->syncing))
			pthread_cond_wait(&g->cv_work, &g->mu);
		if (g->syncing) { /* stopping while a waiter syncs: let it finish */
			pthread_cond_wait(&g->cv_work, &g->mu);
			continue;
		}
		if (g->committed == g->synced || g->failed != CF_OK)
			break; /* stopping with nothing left to sync */
		sync_round(g);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

void commit_sync_inline(struct commit_group *g, uint64_t ticket)
{
	pthread_mutex_lock(&g->mu);
	if (ticket > g->synced && !g->syncing && g->failed == CF_OK)
		sync_round(g);
	pthread_mutex_unlock(&g->mu);
}

/* With g->mu held. */
static cf_err committer_start(struct commit_group *g)
{
	if (g->thread_on)
		return CF_OK;
	sigset_t all, old;
	sigfillset(&all);
	sigdelset(&all, SIGSYS); /* the sandbox's trap: its handler names the call */
	pthread_sigmask(SIG_BLOCK, &all, &old); /* signals go to the main thread */
	int e = pthread_create(&g->th, NULL, committer_main, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		log_err("store: cannot start the group commit thread: %s", strerror(e));
		return CF_E_NOMEM;
	}
	g->thread_on = true;
	return CF_OK;
}

/* ---- the process's groups ---------------------------------------------------------------- */

cf_err commit_group_get(const char *path, struct commit_group **out)
{
	struct stat sb;
	*out = NULL;
	if (stat(path, &sb) != 0)
		return CF_E_IO;
	pthread_mutex_lock(&commit_proc.mu);
	for (struct commit_group *g = commit_proc.groups; g != NULL; g = g->next) {
		if (g->dev == sb.st_dev && g->ino == sb.st_ino) {
			g->refs++;
			pthread_mutex_unlock(&commit_proc.mu);
			*out = g;
			return CF_OK;
		}
	}
	struct commit_group *g = calloc(1, sizeof *g);
	if (g == NULL) {
		pthread_mutex_unlock(&commit_proc.mu);
		return CF_E_NOMEM;
	}
	int n = snprintf(g->wal, sizeof g->wal, "%s-wal", path);
	if (n < 0 || (size_t)n >= sizeof g->wal) {
		pthread_mutex_unlock(&commit_proc.mu);
		free(g);
		return CF_E_INVALID_ARG;
	}
	g->dev = sb.st_dev;
	g->ino = sb.st_ino;
	g->refs = 1;
	g->walfd = -1;
	g->failed = CF_OK;
	pthread_mutex_init(&g->wlock, NULL);
	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv_work, &ca);
	pthread_cond_init(&g->cv_done, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&g->devlog_checked_ms, DEVLOG_NEVER);
	atomic_init(&g->devlog_present, 0);
	g->next = commit_proc.groups;
	commit_proc.groups = g;
	pthread_mutex_unlock(&commit_proc.mu);
	*out = g;
	return CF_OK;
}

void commit_group_put(struct commit_group *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&commit_proc.mu);
	if (--g->refs > 0) {
		pthread_mutex_unlock(&commit_proc.mu);
		return;
	}
	for (struct commit_group **pp = &commit_proc.groups; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	}
	pthread_mutex_unlock(&commit_proc.mu);
	pthread_mutex_lock(&g->mu);
	g->stop = true;
	pthread_cond_broadcast(&g->cv_work);
	bool joined = g->thread_on;
	pthread_mutex_unlock(&g->mu);
	if (joined)
		pthread_join(g->th, NULL); /* it syncs what is pending first */
	for (size_t i = 0; i < g->n_lines; i++)
		free(g->lines[i].line);
	free(g->lines);
	if (g->walfd >= 0)
		close(g->walfd);
	pthread_cond_destroy(&g->cv_work);
	pthread_cond_destroy(&g->cv_done);
	pthread_mutex_destroy(&g->mu);
	pthread_mutex_destroy(&g->wlock);
	free(g);
}

/* ---- write lock ------------------------------------------------------------------------ */

cf_err commit_wlock(struct commit_group *g, unsigned timeout_ms)
{
	if (pthread_mutex_trylock(&g->wlock) == 0)
		return CF_OK;
	struct timespec d;
	clock_gettime(CLOCK_MONOTONIC, &d);
	d.tv_sec += (time_t)(timeout_ms / 1000u);
	d.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
	if (d.tv_nsec >= 1000000000L) {
		d.tv_sec++;
		d.tv_nsec -= 1000000000L;
	}
	int e = pthread_mutex_clocklock(&g->wlock, CLOCK_MONOTONIC, &d);
	if (e == 0)
		return CF_OK;
	if (e == ETIMEDOUT) {
		log_warn("store: write lock: busy for %u ms", timeout_ms);
		return CF_E_AGAIN;
	}
	return CF_E_INTERNAL;
}

void commit_wunlock(struct commit_group *g)
{
	pthread_mutex_unlock(&g->wlock);
}

/* ---- tickets --------------------------------------------------------------------------- */

cf_err commit_note(struct commit_group *g, char **lines, size_t n, uint64_t *ticket)
{
	cf_err rc = CF_OK;
	pthread_mutex_lock(&g->mu);
	uint64_t t = ++g->committed;
	*ticket = t;
	if (n > 0 && g->n_lines + n > g->cap_lines) {
		size_t cap = g->cap_lines ? g->cap_lines : 64;
		while (cap < g->n_lines + n)
			cap *= 2;
		struct commit_line *nl = realloc(g->lines, cap * sizeof *nl);
		if (nl == NULL)
			rc = CF_E_NOMEM;
		else {
			g->lines = nl;
			g->cap_lines = cap;
		}
	}
	if (rc == CF_OK) {
		for (size_t i = 0; i < n; i++) {
			g->lines[g->n_lines].ticket = t;
			g->lines[g->n_lines].line = lines[i];
			g->n_lines++;
			lines[i] = NULL;
		}
	}
	cf_err src = committer_start(g);
	if (src == CF_OK)
		pthread_cond_signal(&g->cv_work);
	else if (g->failed == CF_OK)
		g->failed = src;
	pthread_mutex_unlock(&g->mu);
	return rc;
}

int commit_state(struct commit_group *g, uint64_t ticket, cf_err *err)
{
	int r;
	pthread_mutex_lock(&g->mu);
	if (ticket <= g->synced)
		r = 1;
	else if (g->failed != CF_OK) {
		r = -1;
		if (err != NULL)
			*err = g->failed;
	} else
		r = 0;
	pthread_mutex_unlock(&g->mu);
	return r;
}

cf_err commit_wait(struct commit_group *g, uint64_t ticket)
{
	cf_err rc = CF_OK;
	pthread_mutex_lock(&g->mu);
	while (ticket > g->synced && g->failed == CF_OK) {
		if (!g->syncing)
			sync_round(g); /* nobody is syncing: do it rather than wait for the thread */
		else
			pthread_cond_wait(&g->cv_done, &g->mu);
	}
	if (ticket > g->synced)
		rc = g->failed;
	pthread_mutex_unlock(&g->mu);
	return rc;
}

cf_err commit_notify_add(struct commit_group *g, int fd)
{
	cf_err rc = CF_E_TOO_MANY;
	pthread_mutex_lock(&g->mu);
	if (g->n_notify < COMMIT_NOTIFY_MAX) {
		g->notify[g->n_notify++] = fd;
		rc = CF_OK;
	}
	pthread_mutex_unlock(&g->mu);
	return rc;
}

void commit_notify_del(struct commit_group *g, int fd)
{
	pthread_mutex_lock(&g->mu);
	for (size_t i = 0; i < g->n_notify; i++) {
		if (g->notify[i] == fd) {
			g->notify[i] = g->notify[--g->n_notify];
			break;
		}
	}
	pthread_mutex_unlock(&g->mu);
}

void commit_stats(struct commit_group *g, uint64_t *syncs, uint64_t *durable)
{
	pthread_mutex_lock(&g->mu);
	if (syncs != NULL)
		*syncs = g->n_syncs;
	if (durable != NULL)
		*durable = g->synced;
	pthread_mutex_unlock(&g->mu);
}
