/* Executors and deadlines: every module call has a bounded wait, and a call that hangs ends
 * in a clear error (CF_E_HSM_TIMEOUT) within the configured timeout.
 *
 * Why executors. A PKCS#11 call that hangs cannot be interrupted safely (longjmp out of a
 * module that holds its own locks would wedge it), so the only way to give the caller an
 * answer on time is to make the call on another thread. Each pool slot has one executor
 * thread that owns the slot's PKCS#11 session; the caller posts a job (a short sequence of
 * module calls, e.g. C_DecryptInit + C_Decrypt), then waits for it with the deadline. Past the
 * deadline the caller marks the job ABANDONED and returns CF_E_HSM_TIMEOUT; the executor is
 * quarantined: it is never given work again, and when (if) the call returns it closes its
 * session and frees itself. The slot gets a fresh executor and session at its next use.
 * Jobs touch only executor-owned locked memory (x->io), so a late job cannot write into a
 * caller buffer.
 *
 * Hand-off cost. Posting and collecting a job is one atomic store each way; a waiter spins
 * briefly (pause, sched_yield every 8 turns) and then sleeps on a futex. It spins only while
 * the spinners and running jobs fit the cores (h->running <= ncpu, re-checked while spinning)
 * and only while every caller/executor pair can have a core of its own (2 * callers <= ncpu);
 * an executor whose caller was asleep does not spin for the next job (that caller first needs
 * the core). `make bench-hsm`, 2-core VM shared with other builds, SoftHSMv2 (~35-40 us per
 * operation), medians of 5 alternating runs, layer / raw rate:
 *   1 worker:  generate+wrap 0.91-0.94, unwrap 0.91-0.93
 *   2 workers: generate+wrap 0.74-0.78, unwrap 0.74-0.84   (4 threads on 2 cores: each
 *              operation needs two thread switches; spinning there only steals the core the
 *              executor needs). cfg.direct_calls: ~0.9-1.0 of raw, without the timeout.
 * Against a network HSM (calls of 1-10 ms) the hand-off is noise.
 *
 * Locks: h->lock (pool, flags, KEK table; never held across a module call), h->mod_lock
 * (executors hold it for reading during a job; the control executor holds it for writing
 * during a re-init job). The re-init executor takes and releases the write lock itself, so a
 * re-init whose C_Finalize hangs past its caller's deadline keeps every other module call out
 * until it returns: its caller gets CF_E_HSM_TIMEOUT, h->mod_hung counts the abandoned job, and
 * other callers wait for it (bounded by their deadline) instead of posting jobs that would
 * only queue behind it. PKCS#11 2.40 5.4: nothing may run in the module during C_Finalize. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "board/log.h"
#include "board/sec.h"
#include "hsm/hsm_int.h"

/* spin iterations before sleeping; each iteration is one pause instruction (~10-40 ns) */
#define HSM_SPIN_CALLER 4000u
#define HSM_SPIN_EXEC 2000u
#define HSM_SPIN_RETRY 64u /* executor waits without spinning before it tries spinning again */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static long futex_wait_abs(_Atomic uint32_t *w, uint32_t val, const struct timespec *abs)
{
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time (NULL = forever) */
	return syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, abs,
		       NULL, FUTEX_BITSET_MATCH_ANY);
}

static void futex_wake_all(_Atomic uint32_t *w)
{
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT_MAX, NULL, NULL, 0);
}

bool hsm_deadline_passed(const struct timespec *d)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > d->tv_sec || (now.tv_sec == d->tv_sec && now.tv_nsec >= d->tv_nsec);
}

void hsm_deadline(struct timespec *d, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, d);
	d->tv_sec += (time_t)(ms / 1000u);
	d->tv_nsec += (long)(ms % 1000u) * 1000000L;
	if (d->tv_nsec >= 1000000000L) {
		d->tv_sec++;
		d->tv_nsec -= 1000000000L;
	}
}

unsigned hsm_timeout_ms(const struct hsm *h)
{
	return h->cfg.timeout_ms ? h->cfg.timeout_ms : HSM_DEFAULT_TIMEOUT_MS;
}

/* Wait until *w != from. Dekker-style flag: the waker stores the state then reads `waiting`;
 * the waiter stores `waiting` then re-reads the state (both seq_cst), so no wake is lost.
 * Returns false on deadline. */
static bool wait_change(struct hsm *h, _Atomic uint32_t *w, uint32_t from,
			_Atomic uint32_t *waiting, const struct timespec *deadline, unsigned spin,
			bool *spun)
{
	if (spun != NULL)
		*spun = false;
	/* spin only when a core is free for it: with more runnable threads than cores a spinning
	 * waiter delays the very executor it waits for (measured: 2 workers on 2 cores lost half
	 * their throughput), so then it sleeps on the futex at once */
	if (atomic_fetch_add(&h->running, 1) >= h->ncpu)
		spin = 0;
	/* a caller and its executor both spinning need a core each: with more pairs than that,
	 * sleeping at once is cheaper (measured: 2 workers on 2 cores) */
	if (2 * atomic_load_explicit(&h->callers, memory_order_relaxed) > h->ncpu)
		spin = 0;
	for (unsigned i = 0; i < spin; i++) {
		if (atomic_load_explicit(w, memory_order_acquire) != from) {
			atomic_fetch_sub(&h->running, 1);
			if (spun != NULL)
				*spun = true;
			return true;
		}
		/* yield, not pause: when the peer thread shares this core, a busy spin would steal
		 * its time slice (measured: the layer ran at half the raw rate); and stop spinning
		 * as soon as more threads want a core than there are (an executor started a job) */
		if (i % 8u == 7u) {
			if (atomic_load_explicit(&h->running, memory_order_relaxed) > h->ncpu)
				break;
			sched_yield();
		} else {
			cpu_relax();
		}
	}
	atomic_fetch_sub(&h->running, 1);
	for (;;) {
		atomic_store(waiting, 1);
		if (atomic_load(w) != from) {
			atomic_store(waiting, 0);
			return true;
		}
		long r = futex_wait_abs(w, from, deadline);
		int e = errno;
		atomic_store(waiting, 0);
		if (atomic_load(w) != from)
			return true;
		if (r == -1 && e == ETIMEDOUT)
			return false;
		if (deadline != NULL && hsm_deadline_passed(deadline))
			return false;
	}
}

static void exec_close_session(struct hsm_exec *x, bool have_rd)
{
	struct hsm *h = x->h;
	if (!x->sh_open)
		return;
	if (!have_rd)
		pthread_rwlock_rdlock(&h->mod_lock);
	/* a handle from an older module generation may since have been reissued: leave it */
	if (x->gen == h->gen)
		(void)h->f->C_CloseSession(x->sh);
	if (!have_rd)
		pthread_rwlock_unlock(&h->mod_lock);
	x->sh_open = false;
	x->kcopy_n = 0; /* session objects die with the session */
}

static void exec_destroy(struct hsm_exec *x)
{
	struct hsm *h = x->h;
	sec_free(x->io, sizeof *x->io);
	sec_freezero(x->cs_buf, x->cs_cap);
	hsm_cs_cache_forget(x); /* (its session, and so its objects, closed before) */
	free(x);
	pthread_mutex_lock(&h->lock);
	if (h->reap_n < HSM_REAP_MAX)
		h->reap[h->reap_n++] = pthread_self(); /* joined by hsm_exec_reap */
	else
		pthread_detach(pthread_self()); /* cannot happen within the pool bounds */
	h->exec_live--;
	pthread_cond_broadcast(&h->quar_cv);
	pthread_mutex_unlock(&h->lock);
}

/* take mod_lock for a job: exclusive jobs for writing, bounded by the caller's deadline */
static bool exec_lock(struct hsm_exec *x)
{
	struct hsm *h = x->h;
	if (!x->excl)
		return pthread_rwlock_rdlock(&h->mod_lock) == 0;
	return pthread_rwlock_clockwrlock(&h->mod_lock, CLOCK_MONOTONIC, &x->deadline) == 0;
}

/* Run the posted job, mod_lock held. A session of an older module generation died with it,
 * and its handle may since have been given to another session: it is never used again (a
 * job posted before a re-init that ran first would otherwise work on someone else's session). */
static cf_err exec_job(struct hsm_exec *x)
{
	if (x->sh_open && x->gen != x->h->gen) {
		x->sh_open = false;
		x->kcopy_n = 0;
		if (!x->ctl && x->job != hsm_job_open_session)
			return p11_fail(x, CKR_SESSION_HANDLE_INVALID);
	}
	return x->job(x);
}

static void *exec_main(void *arg)
{
	struct hsm_exec *x = arg;
	struct hsm *h = x->h;
	unsigned spin = HSM_SPIN_EXEC;
	/* Spinning for the next job pays only when jobs come back to back (bench-hsm). A KMIP
	 * worker does TLS and SQL between two jobs, far longer than the spin: there the spin only
	 * burnt a core the worker and the clients needed (a profile of Create showed 40% of its
	 * CPU in sched_yield). So after a spin that ended asleep anyway, the next waits do not spin,
	 * and one in HSM_SPIN_RETRY tries again. */
	bool spin_pays = true;
	unsigned since_try = 0;
	for (;;) {
		uint32_t st;
		while ((st = atomic_load(&x->state)) == HSM_EX_IDLE || st == HSM_EX_DONE) {
			bool spun = false;
			unsigned s = spin_pays || ++since_try >= HSM_SPIN_RETRY ? spin : 0;
			(void)wait_change(h, &x->state, st, &x->exec_waiting, NULL, s, &spun);
			if (s > 0) {
				spin_pays = spun;
				since_try = 0;
			}
		}
		if (st == HSM_EX_EXIT) {
			exec_close_session(x, false);
			exec_destroy(x);
			return NULL;
		}
		/* POSTED */
		bool excl = x->excl;
		x->last_rv = CKR_OK;
		x->fault = HSM_FAULT_NONE;
		cf_err rc = CF_E_HSM_TIMEOUT;
		bool locked = exec_lock(x);
		if (locked) {
			atomic_fetch_add(&h->running, 1);
			rc = exec_job(x);
			atomic_fetch_sub(&h->running, 1);
		} else {
			log_err("hsm: re-init: module calls still in flight (hung?)");
		}
		x->job_rc = rc;
		uint32_t exp = HSM_EX_POSTED;
		if (atomic_compare_exchange_strong(&x->state, &exp, HSM_EX_DONE)) {
			if (locked)
				pthread_rwlock_unlock(&h->mod_lock);
			/* a caller asleep on the futex must first be scheduled before it can post the
			 * next job: spinning for that job would only keep it off the core (measured:
			 * 2 workers on 2 cores). Spin only after a caller that was itself spinning. */
			spin = HSM_SPIN_EXEC;
			if (atomic_load(&x->caller_waiting)) {
				futex_wake_all(&x->state);
				spin = 0;
			}
			continue;
		}
		/* ABANDONED: the caller timed out and forgot us. The caller counted us (quarantined,
		 * mod_hung) under h->lock in the same critical section as its CAS, so the counts
		 * below never run ahead of it. An exclusive job still holds the write lock here:
		 * nothing entered the module while its hung call was in it. */
		sec_wipe(x->io, sizeof *x->io);
		if (locked) {
			exec_close_session(x, true);
			pthread_rwlock_unlock(&h->mod_lock);
		}
		pthread_mutex_lock(&h->lock);
		if (h->quarantined > 0)
			h->quarantined--;
		if (excl && h->mod_hung > 0)
			h->mod_hung--;
		pthread_cond_broadcast(&h->quar_cv);
		pthread_mutex_unlock(&h->lock);
		if (!locked)
			exec_close_session(x, false); /* (an exclusive job that never got the lock) */
		log_warn("hsm: a hung module call returned; quarantined executor released%s",
			 excl ? " (module unlocked)" : "");
		exec_destroy(x);
		return NULL;
	}
}

void hsm_exec_reap(struct hsm *h)
{
	pthread_t t[HSM_REAP_MAX];
	unsigned n = 0;
	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < h->reap_n; i++) {
		if (pthread_equal(h->reap[i], pthread_self()))
			h->reap[n++] = h->reap[i]; /* never join ourselves; keep it for later */
		else
			t[i - n] = h->reap[i];
	}
	unsigned joinable = h->reap_n - n;
	h->reap_n = n;
	pthread_mutex_unlock(&h->lock);
	/* each thread has left exec_destroy: the join waits only for its exit path */
	for (unsigned i = 0; i < joinable; i++)
		(void)pthread_join(t[i], NULL);
}

cf_err hsm_exec_new(struct hsm *h, bool ctl, struct hsm_exec **out)
{
	hsm_exec_reap(h);
	cf_err rc = CF_E_INTERNAL;
	*out = NULL;
	struct hsm_exec *x = calloc(1, sizeof *x);
	if (x == NULL)
		return CF_E_NOMEM;
	x->h = h;
	x->ctl = ctl;
	atomic_init(&x->state, HSM_EX_IDLE);
	atomic_init(&x->exec_waiting, 0);
	atomic_init(&x->caller_waiting, 0);
	void *io = NULL;
	if ((rc = sec_alloc(sizeof *x->io, &io)) != CF_OK)
		goto out;
	x->io = io;
	pthread_attr_t at;
	if (pthread_attr_init(&at) != 0) {
		rc = CF_E_NOMEM;
		goto out;
	}
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_JOINABLE);
	pthread_attr_setstacksize(&at, 256u * 1024u);
	pthread_mutex_lock(&h->lock);
	h->exec_live++;
	pthread_mutex_unlock(&h->lock);
	int e = pthread_create(&x->thr, &at, exec_main, x);
	pthread_attr_destroy(&at);
	if (e != 0) {
		pthread_mutex_lock(&h->lock);
		h->exec_live--;
		pthread_mutex_unlock(&h->lock);
		rc = CF_E_NOMEM;
		goto out;
	}
	*out = x;
	x = NULL;
	rc = CF_OK;
out:
	if (x != NULL) {
		sec_free(x->io, sizeof *x->io);
		free(x);
	}
	return rc;
}

void hsm_exec_free(struct hsm_exec *x)
{
	if (x == NULL)
		return;
	/* the executor is idle (or done): it closes its session and frees itself */
	atomic_store(&x->state, HSM_EX_EXIT);
	futex_wake_all(&x->state);
}

cf_err hsm_exec_run(struct hsm_exec **xp, hsm_job_fn job, const struct timespec *deadline)
{
	struct hsm_exec *x = *xp;
	struct hsm *h = x->h;
	x->job = job;
	x->deadline = *deadline;
	if (h->cfg.direct_calls) {
		/* opt-in: no deadline for the calls, the caller's thread makes them */
		x->last_rv = CKR_OK;
		x->fault = HSM_FAULT_NONE;
		if (!exec_lock(x))
			return x->job_rc = CF_E_HSM_TIMEOUT;
		x->job_rc = exec_job(x);
		pthread_rwlock_unlock(&h->mod_lock);
		return x->job_rc;
	}
	atomic_fetch_add(&h->callers, 1);
	atomic_store(&x->state, HSM_EX_POSTED);
	if (atomic_load(&x->exec_waiting))
		futex_wake_all(&x->state);
	bool done = wait_change(h, &x->state, HSM_EX_POSTED, &x->caller_waiting, deadline,
				HSM_SPIN_CALLER, NULL);
	atomic_fetch_sub(&h->callers, 1);
	if (done)
		return x->job_rc;
	/* abandon it, and count it in the same critical section (see exec_main) */
	bool excl = x->excl;
	uint32_t exp = HSM_EX_POSTED;
	pthread_mutex_lock(&h->lock);
	if (!atomic_compare_exchange_strong(&x->state, &exp, HSM_EX_ABANDONED)) {
		pthread_mutex_unlock(&h->lock);
		return x->job_rc; /* finished at the last moment */
	}
	h->quarantined++;
	h->timeouts++;
	if (excl)
		h->mod_hung++; /* it keeps mod_lock until it returns: module users wait */
	pthread_mutex_unlock(&h->lock);
	*xp = NULL;
	if (excl)
		log_err("hsm: re-init exceeded the deadline; the module stays locked until it returns");
	else
		log_err("hsm: module call exceeded the deadline; session quarantined");
	return CF_E_HSM_TIMEOUT;
}

/* ---- session jobs: the executor's own session ------------------------------------ */

cf_err hsm_job_open_session(struct hsm_exec *x)
{
	struct hsm *h = x->h;
	CK_FUNCTION_LIST *f = h->f;
	if (x->sh_open && x->gen == h->gen)
		(void)f->C_CloseSession(x->sh); /* best effort: it is broken anyway */
	x->sh_open = false;
	x->kcopy_n = 0;
	CK_SESSION_HANDLE sh = CK_INVALID_HANDLE;
	CK_RV rv = f->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &sh);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	x->sh = sh;
	x->sh_open = true;
	x->gen = h->gen;
	CK_SESSION_INFO si;
	memset(&si, 0, sizeof si);
	rv = f->C_GetSessionInfo(sh, &si);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (si.state != CKS_RW_USER_FUNCTIONS && si.state != CKS_RO_USER_FUNCTIONS) {
		/* login state lost (module restarted under us): a re-init logs in again */
		return p11_fail(x, CKR_USER_NOT_LOGGED_IN);
	}
	return CF_OK;
}

cf_err hsm_job_session_info(struct hsm_exec *x)
{
	if (!x->sh_open)
		return p11_fail(x, CKR_SESSION_HANDLE_INVALID);
	CK_SESSION_INFO si;
	memset(&si, 0, sizeof si);
	CK_RV rv = x->h->f->C_GetSessionInfo(x->sh, &si);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (si.slotID != x->h->slot)
		return CF_E_HSM_OUTPUT;
	if (si.state != CKS_RW_USER_FUNCTIONS && si.state != CKS_RO_USER_FUNCTIONS)
		return p11_fail(x, CKR_USER_NOT_LOGGED_IN);
	return CF_OK;
}

/* ---- control executor -------------------------------------------------------------- */

bool hsm_mod_wait_free(struct hsm *h, const struct timespec *deadline)
{
	while (h->mod_hung > 0) {
		if (pthread_cond_clockwait(&h->quar_cv, &h->lock, CLOCK_MONOTONIC, deadline) ==
			    ETIMEDOUT &&
		    h->mod_hung > 0) {
			h->timeouts++;
			return false;
		}
	}
	return true;
}

/* copy the held PIN into the control executor's locked scratch (h->ctl_lock held) */
static cf_err ctl_pin_stage(struct hsm *h)
{
	cf_err rc = CF_E_HSM_NOT_INIT;
	pthread_mutex_lock(&h->lock);
	if (h->pin != NULL && h->pin_n <= sizeof h->ctl->io->pin) {
		memcpy(h->ctl->io->pin, h->pin, h->pin_n);
		h->ctl->io->pin_n = h->pin_n;
		rc = CF_OK;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

cf_err hsm_ctl_run(struct hsm *h, hsm_job_fn job, unsigned flags, const struct timespec *deadline)
{
	cf_err rc = CF_E_INTERNAL;
	if (pthread_mutex_clocklock(&h->ctl_lock, CLOCK_MONOTONIC, deadline) != 0)
		return CF_E_HSM_TIMEOUT;
	pthread_mutex_lock(&h->lock);
	bool free_ = hsm_mod_wait_free(h, deadline);
	pthread_mutex_unlock(&h->lock);
	if (!free_) {
		rc = CF_E_HSM_TIMEOUT;
		goto out;
	}
	if (h->ctl == NULL && (rc = hsm_exec_new(h, true, &h->ctl)) != CF_OK)
		goto out;
	if ((flags & HSM_CTL_PIN) && (rc = ctl_pin_stage(h)) != CF_OK)
		goto out;
	h->ctl->excl = (flags & HSM_CTL_EXCL) != 0;
	rc = hsm_exec_run(&h->ctl, job, deadline);
	if (h->ctl != NULL) {
		h->ctl->excl = false;
		sec_wipe(h->ctl->io->pin, sizeof h->ctl->io->pin);
		h->ctl->io->pin_n = 0;
	}
	if (rc != CF_OK && h->ctl != NULL && h->ctl->fault != HSM_FAULT_NONE) {
		pthread_mutex_lock(&h->lock);
		if (h->ctl->fault == HSM_FAULT_MODULE || h->ctl->fault == HSM_FAULT_DEVICE)
			h->need_reinit = true;
		pthread_mutex_unlock(&h->lock);
		h->ctl->broken = true;
	}
out:
	pthread_mutex_unlock(&h->ctl_lock);
	return rc;
}

bool hsm_test_fault_take(struct hsm *h, enum hsm_test_fault f)
{
	int exp = (int)f;
	return f != HSM_TF_NONE && atomic_compare_exchange_strong(&h->test_fault, &exp, HSM_TF_NONE);
}

#ifdef COFFRE_TEST_HOOKS
void hsm_test_fault_set(hsm *h, enum hsm_test_fault f)
{
	if (h != NULL)
		atomic_store(&h->test_fault, (int)f);
}
#endif
