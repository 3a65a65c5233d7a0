/* The worker: its lifetime and store connection, the audit records (queued for a read-only
 * request), the group commit of a loop turn (ops_flush) and the hold of an answer until what
 * it answers for is durable (docs/kmip-server.md "Durability and group commit"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "board/log.h"
#include "board/sec.h"
#include "firmware/store/audit.h"
#include "firmware/ops/ops_int.h"

cf_err ops_worker_new(struct svc *svc, unsigned index, struct ops_worker **out)
{
	struct ops_worker *w = NULL;
	void *kb = NULL;
	cf_err rc = CF_E_NOMEM;

	*out = NULL;
	if (svc == NULL)
		return CF_E_INVALID_ARG;
	w = calloc(1, sizeof *w);
	if (w == NULL)
		goto out;
	w->svc = svc;
	w->index = index;
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0) {
		rc = CF_E_IO;
		goto out;
	}
	if ((w->aq = calloc(OPS_AQ_MAX, sizeof *w->aq)) == NULL)
		goto out;
	w->aq_cap = OPS_AQ_MAX;
	w->arena_buf = malloc(OPS_ARENA_SIZE);
	if (w->arena_buf == NULL)
		goto out;
	kmip_arena_init(&w->arena, w->arena_buf, OPS_ARENA_SIZE);
	if ((rc = sec_alloc(OPS_KEYBUF_SIZE, &kb)) != CF_OK)
		goto out;
	w->keybuf = kb;
	*out = w;
	w = NULL;
	rc = CF_OK;
out:
	ops_worker_free(w);
	return rc;
}

void ops_worker_tick(struct ops_worker *w)
{
	/* cached key objects of a revoked / destroyed / changed key go within a tick */
	if (w->sess != NULL && w->hsm_of_sess == w->svc->hsm)
		hsm_cs_cache_sweep(w->sess);
}

void ops_worker_free(struct ops_worker *w)
{
	if (w == NULL)
		return;
	hsm_session_release(w->sess);
	if (w->st != NULL && (w->aq_n > 0 || w->batch_open)) {
		/* records of reads that were never answered: keep them anyway */
		uint64_t t = 0;
		if (ops_flush(w, &t) != CF_OK || store_ticket_wait(w->st, t) != CF_OK)
			log_err("kmip: worker %u: queued audit records lost at shutdown", w->index);
	}
	for (size_t i = 0; w->aq != NULL && i < w->aq_n; i++)
		free(w->aq[i].detail);
	free(w->aq);
	if (w->prep != NULL)
		sec_freezero(w->prep, OPS_PREP_MAX * sizeof *w->prep);
	store_close(w->st); /* unregisters wake_fd */
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	if (w->arena_buf != NULL) {
		sec_wipe(w->arena_buf, OPS_ARENA_SIZE);
		free(w->arena_buf);
	}
	sec_free(w->keybuf, OPS_KEYBUF_SIZE);
	memset(w, 0, sizeof *w);
	free(w);
}

cf_err ops_worker_store(struct ops_worker *w)
{
	struct store_opts o = { 0 };

	if (w->st != NULL)
		return CF_OK;
	if (w->svc->store_path[0] == '\0')
		return CF_E_STATE;
	if (w->svc->cfg != NULL) {
		o.busy_timeout_ms = w->svc->cfg->store.busy_timeout_ms;
		o.audit_syslog = w->svc->cfg->audit.syslog;
	}
	o.group_commit = true; /* durable before any answer: see ops_handle */
	TRY(store_open(w->svc->store_path, &o, &w->st));
	cf_err rc = store_sync_notify(w->st, w->wake_fd);
	if (rc != CF_OK) {
		store_close(w->st);
		w->st = NULL;
	}
	return rc;
}

/* ---- read audit queue and group commit ------------------------------------------------ */

/* The queued records in one transaction (or a savepoint inside the open batch). */
static cf_err aq_append_all(struct ops_worker *w, uint64_t *ticket)
{
	cf_err rc;
	TRY(store_tx_begin(w->st));
	rc = CF_OK;
	for (size_t i = 0; i < w->aq_n && rc == CF_OK; i++) {
		const struct ops_aq_ent *e = &w->aq[i];
		struct audit_record a = {
			.time = e->time, .actor = e->actor, .source = e->source,
			.operation = e->operation, .uid = e->uid, .result = e->result,
			.detail = e->detail,
		};
		if (e->stale)
			rc = store_object_stale(w->st, e->uid);
		if (rc == CF_OK)
			rc = audit_append(w->st, &a, NULL);
	}
	if (rc == CF_OK)
		rc = store_tx_commit_nowait(w->st, ticket);
	else
		store_tx_rollback(w->st);
	return rc;
}

void ops_cs_forget(struct ops_req *r)
{
	hsm_cs_cache_invalidate(r->w->svc->hsm);
	r->w->cs_forget = true;
}

void ops_cs_forget_committed(struct ops_worker *w)
{
	if (w->cs_forget && w->st != NULL && store_tx_depth(w->st) == 0) {
		hsm_cs_cache_invalidate(w->svc->hsm);
		w->cs_forget = false;
	}
}

static void aq_clear(struct ops_worker *w)
{
	for (size_t i = 0; i < w->aq_n; i++) {
		free(w->aq[i].detail);
		w->aq[i].detail = NULL;
	}
	w->aq_n = 0;
	if (w->aq_cap > OPS_AQ_MAX) {
		/* a huge batch grew it: give the memory back */
		struct ops_aq_ent *q = realloc(w->aq, OPS_AQ_MAX * sizeof *q);
		if (q != NULL) {
			w->aq = q;
			w->aq_cap = OPS_AQ_MAX;
		}
	}
}

/* Append the queued audit records in one transaction; *ticket = its group commit ticket (or
 * that of an earlier flush not yet reported; 0 = nothing to wait for). */
cf_err ops_flush(struct ops_worker *w, uint64_t *ticket)
{
	cf_err rc = CF_OK;
	*ticket = 0;
	if (w->prep_n > 0) { /* of requests whose connection went away before their run */
		sec_wipe(w->prep, w->prep_n * sizeof *w->prep);
		w->prep_n = 0;
	}
	if (w->aq_n == 0 && !w->batch_open)
		return CF_OK;
	/* the reads' records: their own transaction, or a savepoint inside the open batch */
	if (w->st == NULL)
		rc = CF_E_STATE;
	else if (w->aq_n > 0)
		rc = aq_append_all(w, ticket);
	if (w->batch_open) {
		/* the deferred writes and the reads' records commit together, or not at all */
		w->batch_open = false;
		if (rc == CF_OK)
			rc = store_tx_commit_nowait(w->st, ticket);
		else if (w->st != NULL)
			store_tx_rollback(w->st);
	}
	aq_clear(w);
	ops_cs_forget_committed(w);
	ops_disk_note(w, rc);
	if (rc != CF_OK) {
		log_err_r(rc, "kmip: audit records of reads could not be committed");
		*ticket = 0;
		return rc;
	}
	return CF_OK;
}

static cf_err aq_push(struct ops_req *r, uint32_t op, const char *uid, int64_t result,
		      const char *detail, bool stale)
{
	struct ops_worker *w = r->w;
	if (w->aq_n == w->aq_cap) {
		/* (inside the request's read snapshot: it cannot be flushed now, so it grows) */
		size_t cap = w->aq_cap * 2;
		struct ops_aq_ent *q = realloc(w->aq, cap * sizeof *q);
		if (q == NULL)
			return CF_E_NOMEM;
		w->aq = q;
		w->aq_cap = cap;
	}
	struct ops_aq_ent *e = &w->aq[w->aq_n];
	e->time = r->now;
	e->result = result;
	e->operation = ops_op_name(op);
	e->detail = NULL;
	if (detail != NULL && (e->detail = strdup(detail)) == NULL)
		return CF_E_NOMEM;
	snprintf(e->actor, sizeof e->actor, "%s",
		 r->who.actor[0] != '\0' ? r->who.actor : "unknown");
	snprintf(e->source, sizeof e->source, "%s", r->ci != NULL ? r->ci->peer : "");
	snprintf(e->uid, sizeof e->uid, "%s", uid != NULL ? uid : "");
	e->stale = stale && uid != NULL;
	w->aq_n++;
	return CF_OK;
}

cf_err ops_audit(struct ops_req *r, uint32_t op, const char *uid, int64_t result,
		 const char *detail)
{
	struct audit_record a = {
		.time = r->now,
		.actor = r->who.actor[0] != '\0' ? r->who.actor : "unknown",
		.source = r->ci != NULL ? r->ci->peer : "",
		.operation = ops_op_name(op),
		.uid = uid,
		.result = result,
		.detail = detail,
	};
	/* Fresh ends with the audit record of the Get that returned the material, in the same
	 * transaction (docs/kmip-server.md "Server attributes") */
	bool stale = r->stale && result == 0 && uid != NULL;
	r->stale = false;
	if (r->w->st == NULL)
		return CF_E_STATE;
	if (r->audit_queue)
		return aq_push(r, op, uid, result, detail, stale);
	if (stale)
		TRY(store_object_stale(r->w->st, uid));
	return audit_append(r->w->st, &a, NULL);
}

/* ---- held answers ------------------------------------------------------------------- */

static cf_err hold_flush(void *warg, uint64_t *ticket)
{
	return ops_flush(warg, ticket);
}

static int hold_state(void *warg, uint64_t ticket)
{
	struct ops_worker *w = warg;
	/* a sync already running (or the committer's next one) covers the ticket; when none
	 * runs, this thread does it rather than hand it over and come back on the wake fd */
	return store_ticket_sync(w->st, ticket, NULL);
}

static int hold_wake_fd(void *warg)
{
	struct ops_worker *w = warg;
	return w->wake_fd;
}

static cf_err hold_failed(void *warg, const uint8_t *held, size_t n, uint8_t *out, size_t cap,
			  size_t *out_len)
{
	return ops_answer_unacknowledged(warg, held, n, out, cap, out_len);
}

static const struct net_hold_ops hold_ops = {
	.flush = hold_flush, .state = hold_state, .wake_fd = hold_wake_fd, .failed = hold_failed,
};

void ops_disk_note(struct ops_worker *w, cf_err rc)
{
	if (rc == CF_E_STORE_FULL)
		atomic_store(&w->svc->disk_full, true);
	else if (rc == CF_OK && atomic_load_explicit(&w->svc->disk_full, memory_order_relaxed))
		atomic_store(&w->svc->disk_full, false);
}

void ops_hold(struct net_conn_info *ci, uint64_t ticket)
{
	ci->hold = ticket;
	ci->hold_ops = &hold_ops;
}
