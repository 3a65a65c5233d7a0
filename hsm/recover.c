/* Recovery: the one path that brings the module, the login and the KEK table back, and the
 * pool sessions onto it.
 *   job_login_scan  C_Login on the login session (p11_slot.c) + hsm_kek_scan (kek_scan.c):
 *                   run by hsm_login and by every re-init, so both find the same KEK table
 *   job_reinit      C_Finalize + C_Initialize + token selection + job_login_scan, as one
 *                   exclusive control job (hsm_module_reinit)
 *   hsm_sess_ready  a pool session of the current generation: re-init if needed, reopen
 *   hsm_sess_run    a job on a pool session, retried once after a repaired fault
 * This file sits above the executor (p11_exec.c), the slot jobs (p11_slot.c) and the KEK scan
 * (kek_scan.c), and below everything that runs jobs on pool sessions. */
#include <string.h>

#include "board/log.h"
#include "board/sec.h"
#include "hsm/hsm_int.h"

/* log in (the PIN is in io->pin, HSM_CTL_PIN), then find the KEKs */
static MUST_USE cf_err job_login_scan(struct hsm_exec *x)
{
	TRY(hsm_job_login(x));
	return hsm_kek_scan(x);
}

/* The whole re-initialisation, as ONE exclusive control job: its executor holds mod_lock for
 * writing from before C_Finalize until the login is done, even if its caller gives up
 * (hsm_ctl_run, HSM_CTL_EXCL), so no other call is ever in the module while C_Finalize /
 * C_Initialize run, and the state it publishes (generation, slot, KEK table, need_reinit) is
 * the module's even when it finishes late. The PIN is in io->pin (HSM_CTL_PIN). */
static cf_err reinit_steps(struct hsm_exec *x)
{
	struct hsm *h = x->h;
	pthread_mutex_lock(&h->lock);
	bool need = h->need_reinit;
	pthread_mutex_unlock(&h->lock);
	if (!need)
		return CF_OK; /* another thread re-initialised it meanwhile */
	log_warn("hsm: re-initialising the module (C_Finalize + C_Initialize)");
	(void)h->f->C_Finalize(NULL); /* every session and handle of the old generation dies */
	x->sh_open = false;
	pthread_mutex_lock(&h->lock);
	h->gen++;
	h->kek_n = 0; /* handles of the old generation are void: found again below */
	pthread_mutex_unlock(&h->lock);
	TRY(hsm_job_initialize(x));
	TRY(hsm_job_select(x));
	pthread_mutex_lock(&h->lock);
	h->slot = x->io->slot;
	h->reinits++;
	pthread_mutex_unlock(&h->lock);
	TRY(job_login_scan(x));
	pthread_mutex_lock(&h->lock);
	h->need_reinit = false;
	unsigned n = h->kek_n;
	pthread_mutex_unlock(&h->lock);
	log_info("hsm: module re-initialised, logged in, %u KEK(s) found", n);
	return CF_OK;
}

static cf_err job_reinit(struct hsm_exec *x)
{
	cf_err rc = reinit_steps(x);
	sec_wipe(x->io->pin, sizeof x->io->pin);
	x->io->pin_n = 0;
	return rc;
}

cf_err hsm_module_reinit(struct hsm *h, const struct timespec *deadline)
{
	cf_err rc = hsm_ctl_run(h, job_reinit, HSM_CTL_EXCL | HSM_CTL_PIN, deadline);
	if (rc != CF_OK)
		log_err_r(rc, "hsm: module re-initialisation failed");
	return rc;
}

cf_err hsm_login(hsm *h, const uint8_t *pin, size_t n)
{
	if (h == NULL || pin == NULL || n == 0 || n > HSM_PIN_MAX)
		return CF_E_INVALID_ARG;
	void *p = NULL;
	TRY(sec_alloc(HSM_PIN_MAX, &p));
	memcpy(p, pin, n);
	pthread_mutex_lock(&h->lock);
	hsm_pin_wipe(h); /* replacement wipes the old copy */
	h->pin = p;
	h->pin_n = n;
	pthread_mutex_unlock(&h->lock);
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(h));
	cf_err rc = hsm_ctl_run(h, job_login_scan, HSM_CTL_PIN, &dl);
	pthread_mutex_lock(&h->lock);
	if (rc == CF_OK) {
		atomic_fetch_add(&h->cs_gen, 1); /* objects cached before a logout are void */
		h->logged_in = true;
		if (h->kek_current == 0 && h->kek_n > 0)
			h->kek_current = h->keks[h->kek_n - 1].version;
	} else {
		hsm_pin_wipe(h);
		h->logged_in = false;
	}
	pthread_mutex_unlock(&h->lock);
	if (rc != CF_OK)
		log_err_r(rc, "hsm: login failed");
	return rc;
}

/* ---- pool sessions ------------------------------------------------------------- */

void hsm_sess_note_fault(struct hsm_sess *s, cf_err rc)
{
	struct hsm_exec *x = s->x;
	if (x == NULL || rc == CF_OK || x->fault == HSM_FAULT_NONE)
		return;
	x->broken = true;
	pthread_mutex_lock(&s->h->lock);
	s->up = false;
	if (x->fault == HSM_FAULT_MODULE)
		s->h->need_reinit = true;
	pthread_mutex_unlock(&s->h->lock);
	log_warn_r(rc, "hsm: session %u fault (%s), will be repaired", s->idx,
		   p11_rv_name(x->last_rv));
}

cf_err hsm_sess_ready(struct hsm_sess *s, const struct timespec *deadline)
{
	struct hsm *h = s->h;
	cf_err rc = CF_E_INTERNAL;
	pthread_mutex_lock(&h->lock);
	/* an abandoned re-init still owns the module: wait for it here (bounded) rather than
	 * post a job that would queue behind it and be quarantined */
	if (!hsm_mod_wait_free(h, deadline)) {
		pthread_mutex_unlock(&h->lock);
		return CF_E_HSM_TIMEOUT;
	}
	bool logged = h->logged_in, reinit = h->need_reinit;
	unsigned long gen = h->gen;
	pthread_mutex_unlock(&h->lock);
	if (!logged)
		return CF_E_HSM_NOT_INIT;
	if (reinit) {
		TRY(hsm_module_reinit(h, deadline));
		pthread_mutex_lock(&h->lock);
		gen = h->gen;
		pthread_mutex_unlock(&h->lock);
	}
	if (s->x == NULL)
		TRY(hsm_exec_new(h, false, &s->x));
	struct hsm_exec *x = s->x;
	if (x->sh_open && !x->broken && x->gen == gen)
		return CF_OK;
	for (int attempt = 0; attempt < 2; attempt++) {
		rc = hsm_exec_run(&s->x, hsm_job_open_session, deadline);
		hsm_cs_cache_forget(s->x); /* the old session (closed) took its objects along */
		if (rc == CF_OK) {
			s->x->broken = false;
			pthread_mutex_lock(&h->lock);
			h->reopens++;
			s->up = true;
			pthread_mutex_unlock(&h->lock);
			return CF_OK;
		}
		if (s->x == NULL || s->x->fault == HSM_FAULT_NONE || attempt == 1)
			break;
		/* reopening failed with a device / module fault: re-initialise, then retry */
		log_warn_r(rc, "hsm: reopen failed (%s); re-initialising the module",
			   p11_rv_name(s->x->last_rv));
		pthread_mutex_lock(&h->lock);
		h->need_reinit = true;
		pthread_mutex_unlock(&h->lock);
		if ((rc = hsm_module_reinit(h, deadline)) != CF_OK)
			break;
	}
	if (s->x != NULL)
		s->x->broken = true;
	return rc;
}

/* Transparent recovery. A job that fails with a recoverable fault (session invalid or
 * closed, login lost, device error, module finalised / token gone: see p11_rv_fault) is
 * retried ONCE after the repair (reopen the session; re-initialise the module, log in again
 * and find the KEKs again by label), within the caller's deadline. Not retried: a timeout
 * (the deadline is spent and the executor quarantined), and any failure that is not a fault
 * (bad tag, policy, not found...). The job's arguments survive the repair: they live in the
 * executor's io, and a repair reuses the same executor. Jobs look up object handles inside
 * the job (handles of an older module generation are void), and non-idempotent jobs use
 * io->step to find, on the retry, what the first attempt may already have created (kek.c,
 * keypair.c). If the repair fails, the caller gets the first attempt's clean error (or
 * CF_E_HSM_TIMEOUT when the repair ran out of time). */
cf_err hsm_sess_run(struct hsm_sess *s, hsm_job_fn job, const struct timespec *deadline)
{
	cf_err rc = CF_E_INTERNAL;
	TRY(hsm_sess_ready(s, deadline));
	s->x->io->step = 0;
	for (unsigned attempt = 0;; attempt++) {
		s->x->io->attempt = attempt;
		rc = hsm_exec_run(&s->x, job, deadline);
		if (rc == CF_E_HSM_TIMEOUT && s->x == NULL) {
			pthread_mutex_lock(&s->h->lock);
			s->up = false;
			pthread_mutex_unlock(&s->h->lock);
			return rc;
		}
		if (rc == CF_OK || s->x == NULL || s->x->fault == HSM_FAULT_NONE)
			return rc;
		hsm_sess_note_fault(s, rc);
		if (attempt > 0 || hsm_deadline_passed(deadline))
			return rc;
		cf_err rrc = hsm_sess_ready(s, deadline);
		if (rrc != CF_OK) {
			log_err_r(rrc, "hsm: recovery failed; operation not retried");
			return rrc == CF_E_HSM_TIMEOUT ? rrc : rc;
		}
		log_info("hsm: session %u recovered; retrying the operation once", s->idx);
	}
}

