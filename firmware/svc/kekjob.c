/* The KEK re-wrap job (firmware/svc/kekjob.h).
 *
 * One thread, its own store connection, one HSM session per batch (released between
 * batches, so the KMIP workers keep the pool). A pass walks the objects in uid order from
 * the start, taking rows with 0 < kek_version < current: each batch is read without a
 * transaction, re-wrapped inside the HSM (hsm_dek_rewrap: the plaintext DEK exists only in
 * the session's locked scratch memory), then written in one transaction with a conditional
 * UPDATE per row (still the same kek_version and still a blob). Nothing else is kept: after
 * a restart the next pass finds whatever still uses an old KEK.
 *
 * Errors: a row whose blob cannot be unwrapped (tampered, its KEK gone) is skipped and
 * counted (status "failed"), the pass goes on; anything else (HSM busy or lost, store busy)
 * fails the batch, which is retried after a back-off of 1 s doubling to 60 s. */
#include "firmware/svc/kekjob.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "board/log.h"
#include "firmware/store/store.h"
#include "firmware/store/store_admin.h"
#include "firmware/svc/svc.h"
#include "hsm/hsm.h"

#define JOB_BATCH_DEFAULT 64u
#define JOB_BATCH_MAX 1024u
#define JOB_PAUSE_DEFAULT_MS 5u
#define JOB_RECHECK_DEFAULT_S 60u
#define JOB_BACKOFF_MIN_MS 1000u
#define JOB_BACKOFF_MAX_MS 60000u
#define JOB_SESSION_WAIT_MS 2000u

struct kek_job {
	hsm *h;
	char store_path[512];
	struct kek_job_opts o;

	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* CLOCK_MONOTONIC */
	bool stop, kicked;
	struct kek_job_status st;  /* under mu */

	/* the thread's own */
	struct store *store;
	struct store_admin_stale *rows;
	uint8_t (*out)[HSM_DEK_MAX + HSM_BLOB_OVERHEAD];
	size_t *out_n;
	bool *ok;
};

/* Wait up to ms (0 = until kicked or stopped). Returns false when asked to stop. Called with
 * mu held. */
static bool wait_locked(struct kek_job *j, unsigned ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += ms / 1000u;
	dl.tv_nsec += (long)(ms % 1000u) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	while (!j->stop && !j->kicked) {
		int r = ms == 0 ? pthread_cond_wait(&j->cv, &j->mu)
				: pthread_cond_timedwait(&j->cv, &j->mu, &dl);
		if (r == ETIMEDOUT)
			break;
	}
	j->kicked = false;
	return !j->stop;
}

static bool job_wait(struct kek_job *j, unsigned ms)
{
	pthread_mutex_lock(&j->mu);
	bool go = wait_locked(j, ms);
	pthread_mutex_unlock(&j->mu);
	return go;
}

/* A pause that only stop interrupts (a kick must not shorten the throttle). */
static bool job_pause(struct kek_job *j, unsigned ms)
{
	struct timespec dl;
	bool go;
	if (ms == 0) {
		pthread_mutex_lock(&j->mu);
		go = !j->stop;
		pthread_mutex_unlock(&j->mu);
		return go;
	}
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += ms / 1000u;
	dl.tv_nsec += (long)(ms % 1000u) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->mu);
	while (!j->stop && pthread_cond_timedwait(&j->cv, &j->mu, &dl) != ETIMEDOUT)
		;
	go = !j->stop;
	pthread_mutex_unlock(&j->mu);
	return go;
}

static void set_error(struct kek_job *j, cf_err rc)
{
	pthread_mutex_lock(&j->mu);
	j->st.last_error = rc;
	j->st.last_error_at = rc != CF_OK ? (int64_t)time(NULL) : 0;
	pthread_mutex_unlock(&j->mu);
}

/* Per-row failures that retrying cannot cure: skip the row, keep going. */
static bool row_permanent(cf_err rc)
{
	return rc == CF_E_HSM_UNWRAP || rc == CF_E_HSM_BLOB || rc == CF_E_HSM_WRONG_KEK ||
	       rc == CF_E_NO_SPACE || rc == CF_E_INVALID_ARG;
}

/* One batch of the pass that resumes after `after`. *end = the pass is over. *done and
 * *failed count this batch's rows. On CF_OK `after` moves past the batch. */
static cf_err batch(struct kek_job *j, uint32_t cur, char after[static STORE_UID_MAX + 1],
		    bool *end, uint64_t *done, uint64_t *failed)
{
	size_t n = 0;
	hsm_sess *s = NULL;
	cf_err rc;

	*end = false;
	*done = *failed = 0;
	TRY(store_admin_stale_batch(j->store, cur, after, j->rows, j->o.batch, &n));
	if (n == 0) {
		*end = true;
		return CF_OK;
	}
	if ((rc = hsm_session_acquire(j->h, JOB_SESSION_WAIT_MS, &s)) != CF_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct store_admin_stale *w = &j->rows[i];
		struct hsm_bind b = { (const uint8_t *)w->uid, strlen(w->uid), w->object_type };
		j->ok[i] = false;
		rc = hsm_dek_rewrap(s, w->blob, w->blob_len, &b, j->out[i], sizeof j->out[i],
				    &j->out_n[i]);
		if (rc == CF_OK) {
			j->ok[i] = true;
		} else if (row_permanent(rc)) {
			log_warn_r(rc, "kekjob: object %s (KEK %u) cannot be re-wrapped; left as it is",
				   w->uid, w->kek_version);
			(*failed)++;
		} else {
			goto out; /* the HSM itself: retry the batch later */
		}
	}
	hsm_session_release(s);
	s = NULL;
	if ((rc = store_tx_begin(j->store)) != CF_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct hsm_blob_info bi;
		bool updated = false;
		if (!j->ok[i])
			continue;
		/* the version the HSM actually used (a second rotation may have happened) */
		if ((rc = hsm_blob_info_get(j->out[i], j->out_n[i], &bi)) != CF_OK ||
		    (rc = store_admin_rewrap_set(j->store, j->rows[i].uid, j->rows[i].kek_version,
						 j->out[i], j->out_n[i], bi.kek_version, &updated)) != CF_OK) {
			store_tx_rollback(j->store);
			goto out;
		}
		if (updated)
			(*done)++;
	}
	if ((rc = store_tx_commit(j->store)) != CF_OK)
		goto out;
	memcpy(after, j->rows[n - 1].uid, strlen(j->rows[n - 1].uid) + 1);
	*end = n < j->o.batch;
	rc = CF_OK;
out:
	hsm_session_release(s);
	store_admin_stale_free(j->rows, n);
	if (rc != CF_OK)
		*done = *failed = 0;
	return rc;
}

/* The loop's own state between iterations. */
struct job_pass {
	char after[STORE_UID_MAX + 1]; /* the pass resumes after this uid */
	unsigned backoff;              /* ms to wait before the next try (0 = none) */
	uint64_t failed;               /* rows of this pass that could not be re-wrapped */
	bool on;                       /* a pass is under way */
};

/* What an iteration leaves the loop to do. */
enum job_next { JOB_GO, JOB_AGAIN, JOB_STOP };

static unsigned backoff_next(unsigned ms)
{
	if (ms == 0)
		return JOB_BACKOFF_MIN_MS;
	return ms * 2 > JOB_BACKOFF_MAX_MS ? JOB_BACKOFF_MAX_MS : ms * 2;
}

static bool job_stopped(struct kek_job *j)
{
	pthread_mutex_lock(&j->mu);
	bool stop = j->stop;
	pthread_mutex_unlock(&j->mu);
	return stop;
}

/* Between passes: count the rows under an old KEK. None: wait for a kick or the recheck
 * period (JOB_AGAIN / JOB_STOP); some: start a pass (JOB_GO). */
static enum job_next pass_begin(struct kek_job *j, struct job_pass *p, uint32_t cur)
{
	uint64_t rem = 0;
	cf_err rc = cur == 0 ? CF_OK : store_admin_stale_count(j->store, cur, &rem);

	if (rc != CF_OK) {
		set_error(j, rc);
		p->backoff = backoff_next(p->backoff);
		return JOB_AGAIN;
	}
	pthread_mutex_lock(&j->mu);
	j->st.current = cur;
	j->st.remaining = rem;
	j->st.running = rem > 0;
	if (rem == 0) {
		j->st.failed = 0;
		p->backoff = 0;
		bool go = wait_locked(j, j->o.recheck_s * 1000u);
		pthread_mutex_unlock(&j->mu);
		return go ? JOB_AGAIN : JOB_STOP;
	}
	pthread_mutex_unlock(&j->mu);
	log_info("kekjob: re-wrapping %llu objects under KEK %u", (unsigned long long)rem, cur);
	hsm_cs_cache_invalidate(j->h); /* a rotation: no key object opened from an old blob */
	p->on = true;
	p->after[0] = '\0';
	p->failed = 0;
	return JOB_GO;
}

/* A batch went through: count it; at the end of the pass record it, else pause a moment. */
static enum job_next batch_done(struct kek_job *j, struct job_pass *p, uint32_t cur, bool end,
				uint64_t done, uint64_t failed)
{
	p->failed += failed;
	pthread_mutex_lock(&j->mu);
	j->st.done += done;
	j->st.remaining = j->st.remaining > done ? j->st.remaining - done : 0;
	if (p->failed == 0) { /* recovered from a transient error, if there was one */
		j->st.last_error = CF_OK;
		j->st.last_error_at = 0;
	} else if (failed > 0) {
		j->st.last_error = CF_E_HSM_UNWRAP;
		j->st.last_error_at = (int64_t)time(NULL);
	}
	if (end)
		j->st.failed = p->failed;
	pthread_mutex_unlock(&j->mu);
	p->backoff = 0;
	if (end) {
		p->on = false;
		if (p->failed == 0) {
			log_info("kekjob: pass over, KEK %u", cur);
			return JOB_AGAIN;
		}
		log_warn("kekjob: pass over: %llu objects could not be re-wrapped",
			 (unsigned long long)p->failed);
		/* no point in rereading them at once: the next pass after a pause */
		return job_wait(j, JOB_BACKOFF_MAX_MS) ? JOB_AGAIN : JOB_STOP;
	}
	/* leave the write lock to the KMIP workers for a moment */
	unsigned pause = j->o.pause_ms;
#ifdef COFFRE_TEST_HOOKS
	const char *d = getenv("COFFRE_TEST_REWRAP_DELAY_MS");
	if (d != NULL && *d != '\0')
		pause = (unsigned)strtoul(d, NULL, 10);
#endif
	return job_pause(j, pause) ? JOB_AGAIN : JOB_STOP;
}

static void *job_main(void *arg)
{
	struct kek_job *j = arg;
	struct job_pass p = { .backoff = 0 };
	enum job_next next;
	cf_err rc;

	while (!job_stopped(j)) {
		if (p.backoff != 0 && !job_wait(j, p.backoff))
			break;
		if (j->store == NULL && (rc = store_open(j->store_path, &(struct store_opts){ 0 },
							 &j->store)) != CF_OK) {
			log_warn_r(rc, "kekjob: cannot open the store; retrying");
			set_error(j, rc);
			p.backoff = backoff_next(p.backoff);
			continue;
		}
		uint32_t cur = hsm_kek_current(j->h);
		if (!p.on && (next = pass_begin(j, &p, cur)) != JOB_GO) {
			if (next == JOB_STOP)
				break;
			continue;
		}
		bool end = false;
		uint64_t done = 0, failed = 0;
		if ((rc = batch(j, cur, p.after, &end, &done, &failed)) != CF_OK) {
			log_warn_r(rc, "kekjob: batch failed; retrying");
			set_error(j, rc);
			p.backoff = backoff_next(p.backoff);
			continue;
		}
		if (batch_done(j, &p, cur, end, done, failed) == JOB_STOP)
			break;
	}
	store_close(j->store);
	j->store = NULL;
	pthread_mutex_lock(&j->mu);
	j->st.running = false;
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

static void job_free(struct kek_job *j)
{
	if (j == NULL)
		return;
	free(j->rows);
	free(j->out);
	free(j->out_n);
	free(j->ok);
	free(j);
}

cf_err kek_job_start_opts(struct svc *svc, const struct kek_job_opts *opts, struct kek_job **out)
{
	struct kek_job *j;
	pthread_condattr_t ca;

	if (out == NULL)
		return CF_E_INVALID_ARG;
	*out = NULL;
	if (svc == NULL || svc->hsm == NULL || svc->store_path[0] == '\0')
		return CF_E_INVALID_ARG;
	j = calloc(1, sizeof *j);
	if (j == NULL)
		return CF_E_NOMEM;
	j->h = svc->hsm;
	memcpy(j->store_path, svc->store_path, sizeof j->store_path);
	j->store_path[sizeof j->store_path - 1] = '\0';
	if (opts != NULL)
		j->o = *opts;
	if (j->o.batch == 0)
		j->o.batch = JOB_BATCH_DEFAULT;
	if (j->o.batch > JOB_BATCH_MAX)
		j->o.batch = JOB_BATCH_MAX;
	if (opts == NULL || opts->pause_ms == 0)
		j->o.pause_ms = JOB_PAUSE_DEFAULT_MS;
	if (j->o.recheck_s == 0)
		j->o.recheck_s = JOB_RECHECK_DEFAULT_S;
	j->rows = calloc(j->o.batch, sizeof *j->rows);
	j->out = calloc(j->o.batch, sizeof *j->out);
	j->out_n = calloc(j->o.batch, sizeof *j->out_n);
	j->ok = calloc(j->o.batch, sizeof *j->ok);
	if (j->rows == NULL || j->out == NULL || j->out_n == NULL || j->ok == NULL) {
		job_free(j);
		return CF_E_NOMEM;
	}
	j->st.current = hsm_kek_current(j->h);
	j->st.running = true; /* until the first count says otherwise */
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&j->th, NULL, job_main, j) != 0) {
		pthread_cond_destroy(&j->cv);
		pthread_mutex_destroy(&j->mu);
		job_free(j);
		return CF_E_NOMEM;
	}
	*out = j;
	return CF_OK;
}

cf_err kek_job_start(struct svc *svc, struct kek_job **out)
{
	return kek_job_start_opts(svc, NULL, out);
}

void kek_job_kick(struct kek_job *j)
{
	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	j->kicked = true;
	j->st.running = true; /* a rotation just happened: do not report idle before the count */
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

void kek_job_status(struct kek_job *j, struct kek_job_status *out)
{
	if (out == NULL)
		return;
	memset(out, 0, sizeof *out);
	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	*out = j->st;
	pthread_mutex_unlock(&j->mu);
}

void kek_job_stop(struct kek_job *j)
{
	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	j->stop = true;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->th, NULL);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	job_free(j);
}
