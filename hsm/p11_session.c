/* The session pool and the public entry points over it: hsm_session_acquire / release (a pool
 * slot, made ready by the recovery path of recover.c), hsm_recover (probe the login session
 * and the idle pool sessions, repair what is broken) and hsm_stats_get. */
#include <errno.h>
#include <string.h>

#include "board/log.h"
#include "hsm/hsm_int.h"

cf_err hsm_session_acquire(hsm *h, unsigned wait_ms, hsm_sess **out)
{
	if (out == NULL)
		return CF_E_INVALID_ARG;
	*out = NULL;
	if (h == NULL)
		return CF_E_INVALID_ARG;
	struct timespec wait_dl;
	hsm_deadline(&wait_dl, wait_ms);
	struct hsm_sess *s = NULL;
	pthread_mutex_lock(&h->lock);
	for (;;) {
		if (!h->logged_in) {
			pthread_mutex_unlock(&h->lock);
			return CF_E_HSM_NOT_INIT;
		}
		for (unsigned i = 0; i < h->pool_n; i++) {
			if (!h->pool[i].in_use) {
				s = &h->pool[i];
				break;
			}
		}
		if (s != NULL)
			break;
		if (wait_ms == 0 ||
		    pthread_cond_clockwait(&h->pool_cv, &h->lock, CLOCK_MONOTONIC, &wait_dl) ==
			    ETIMEDOUT) {
			/* one last look before giving up */
			for (unsigned i = 0; i < h->pool_n && s == NULL; i++)
				if (!h->pool[i].in_use)
					s = &h->pool[i];
			if (s != NULL)
				break;
			pthread_mutex_unlock(&h->lock);
			return CF_E_HSM_BUSY;
		}
	}
	s->in_use = true;
	pthread_mutex_unlock(&h->lock);
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(h));
	cf_err rc = hsm_sess_ready(s, &dl);
	if (rc != CF_OK) {
		hsm_session_release(s);
		return rc;
	}
	*out = s;
	return CF_OK;
}

void hsm_session_release(hsm_sess *s)
{
	if (s == NULL)
		return;
	struct hsm *h = s->h;
	hsm_cs_cache_drop(s); /* no key object stays in a session no worker sweeps */
	pthread_mutex_lock(&h->lock);
	s->in_use = false;
	pthread_cond_signal(&h->pool_cv);
	pthread_mutex_unlock(&h->lock);
}

cf_err hsm_recover(hsm *h)
{
	if (h == NULL)
		return CF_E_INVALID_ARG;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(h));
	pthread_mutex_lock(&h->lock);
	bool logged = h->logged_in;
	pthread_mutex_unlock(&h->lock);
	if (!logged)
		return CF_E_HSM_NOT_INIT;
	/* the login session tells whether the module and the token are still there */
	cf_err rc = hsm_ctl_run(h, hsm_job_session_info, 0, &dl);
	if (rc != CF_OK) {
		pthread_mutex_lock(&h->lock);
		h->need_reinit = true;
		pthread_mutex_unlock(&h->lock);
	}
	pthread_mutex_lock(&h->lock);
	bool reinit = h->need_reinit;
	pthread_mutex_unlock(&h->lock);
	if (reinit)
		TRY(hsm_module_reinit(h, &dl));
	/* probe the idle sessions; broken ones are reopened */
	for (unsigned i = 0; i < h->pool_n; i++) {
		struct hsm_sess *s = &h->pool[i];
		pthread_mutex_lock(&h->lock);
		bool mine = !s->in_use;
		if (mine)
			s->in_use = true;
		pthread_mutex_unlock(&h->lock);
		if (!mine)
			continue;
		if (s->x != NULL && s->x->sh_open && !s->x->broken) {
			cf_err prc = hsm_exec_run(&s->x, hsm_job_session_info, &dl);
			hsm_sess_note_fault(s, prc);
			if (prc != CF_OK && s->x != NULL)
				s->x->broken = true;
		}
		cf_err src = s->x != NULL ? hsm_sess_ready(s, &dl) : CF_OK;
		hsm_session_release(s);
		if (src != CF_OK)
			return src;
	}
	return CF_OK;
}

void hsm_stats_get(hsm *h, struct hsm_stats *out)
{
	memset(out, 0, sizeof *out);
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < h->pool_n; i++)
		if (h->pool[i].up)
			out->sessions_open++;
	out->sessions_quarantined = h->quarantined;
	out->reinits = h->reinits;
	out->reopens = h->reopens;
	out->timeouts = h->timeouts;
	out->kek_count = h->kek_n;
	out->kek_current = h->kek_current;
	pthread_mutex_unlock(&h->lock);
}

#ifdef COFFRE_TEST_HOOKS
cf_err hsm_test_raw(hsm_sess *s, CK_FUNCTION_LIST **f, CK_SESSION_HANDLE *sh)
{
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	TRY(hsm_sess_ready(s, &dl));
	*f = s->h->f;
	*sh = s->x->sh;
	return CF_OK;
}
#endif
