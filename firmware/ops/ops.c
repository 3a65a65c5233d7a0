/* KMIP request processing: decode -> service state -> authorization -> batch items through
 * the dispatch table, each in its own savepoint with its audit record -> encode (Maximum
 * Response Size) -> commit -> answer. docs/kmip-server.md describes the behaviour. */
#include "firmware/ops/ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "board/log.h"
#include "board/sec.h"
#include "firmware/store/audit.h"
#include "firmware/ops/ops_int.h"

#define ST_READY (1u << SVC_READY)

struct ops_entry {
	uint32_t op;
	const char *name;
	uint8_t states;      /* svc states (bit per enum svc_state) in which it runs */
	bool write;          /* changes objects: refused to the readonly role */
	ops_fn fn;
};

static const struct ops_entry ops_table[] = {
	{ KMIP_OPERATION_CREATE, "Create", ST_READY, true, ops_create },
	{ KMIP_OPERATION_REGISTER, "Register", ST_READY, true, ops_register },
	{ KMIP_OPERATION_LOCATE, "Locate", ST_READY, false, ops_locate },
	{ KMIP_OPERATION_GET, "Get", ST_READY, false, ops_get },
	{ KMIP_OPERATION_GET_ATTRIBUTES, "Get Attributes", ST_READY, false, ops_get_attributes },
	{ KMIP_OPERATION_GET_ATTRIBUTE_LIST, "Get Attribute List", ST_READY, false,
	  ops_get_attribute_list },
	{ KMIP_OPERATION_ADD_ATTRIBUTE, "Add Attribute", ST_READY, true, ops_add_attribute },
	{ KMIP_OPERATION_MODIFY_ATTRIBUTE, "Modify Attribute", ST_READY, true, ops_modify_attribute },
	{ KMIP_OPERATION_DELETE_ATTRIBUTE, "Delete Attribute", ST_READY, true, ops_delete_attribute },
	{ KMIP_OPERATION_ACTIVATE, "Activate", ST_READY, true, ops_activate },
	{ KMIP_OPERATION_REVOKE, "Revoke", ST_READY, true, ops_revoke },
	{ KMIP_OPERATION_DESTROY, "Destroy", ST_READY, true, ops_destroy },
	{ KMIP_OPERATION_QUERY, "Query", ST_READY, false, ops_query },
	{ KMIP_OPERATION_DISCOVER_VERSIONS, "Discover Versions", ST_READY, false,
	  ops_discover_versions },
};
#define OPS_N (sizeof ops_table / sizeof ops_table[0])

static const uint32_t ops_list[OPS_N] = {
	KMIP_OPERATION_CREATE, KMIP_OPERATION_REGISTER, KMIP_OPERATION_LOCATE, KMIP_OPERATION_GET,
	KMIP_OPERATION_GET_ATTRIBUTES, KMIP_OPERATION_GET_ATTRIBUTE_LIST,
	KMIP_OPERATION_ADD_ATTRIBUTE, KMIP_OPERATION_MODIFY_ATTRIBUTE,
	KMIP_OPERATION_DELETE_ATTRIBUTE, KMIP_OPERATION_ACTIVATE, KMIP_OPERATION_REVOKE,
	KMIP_OPERATION_DESTROY, KMIP_OPERATION_QUERY, KMIP_OPERATION_DISCOVER_VERSIONS,
};

const uint32_t *ops_supported(size_t *n)
{
	*n = OPS_N;
	return ops_list;
}

static const struct ops_entry *ops_find(uint32_t op)
{
	for (size_t i = 0; i < OPS_N; i++)
		if (ops_table[i].op == op)
			return &ops_table[i];
	return NULL;
}

const char *ops_op_name(uint32_t op)
{
	const struct ops_entry *e = ops_find(op);
	if (e != NULL)
		return e->name;
	const char *s = kmip_enum_name(KMIP_TAG_OPERATION, op);
	return s != NULL ? s : "Unknown";
}

/* ---- worker ------------------------------------------------------------------------- */

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

static cf_err worker_store(struct ops_worker *w)
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
	else if (w->aq_n > 0 && (rc = store_tx_begin(w->st)) == CF_OK) {
		for (size_t i = 0; i < w->aq_n && rc == CF_OK; i++) {
			const struct ops_aq_ent *e = &w->aq[i];
			struct audit_record a = {
				.time = e->time, .actor = e->actor, .source = e->source,
				.operation = e->operation, .uid = e->uid, .result = e->result,
				.detail = e->detail,
			};
			rc = audit_append(w->st, &a, NULL);
		}
		if (rc == CF_OK)
			rc = store_tx_commit_nowait(w->st, ticket);
		else
			store_tx_rollback(w->st);
	}
	if (w->batch_open) {
		/* the deferred writes and the reads' records commit together, or not at all */
		w->batch_open = false;
		if (rc == CF_OK)
			rc = store_tx_commit_nowait(w->st, ticket);
		else if (w->st != NULL)
			store_tx_rollback(w->st);
	}
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
	if (rc != CF_OK) {
		log_err_r(rc, "kmip: audit records of reads could not be committed");
		*ticket = 0;
		return rc;
	}
	return CF_OK;
}

static cf_err aq_push(struct ops_req *r, uint32_t op, const char *uid, int64_t result,
		      const char *detail)
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
	snprintf(e->actor, sizeof e->actor, "%s", r->who.actor[0] != '\0' ? r->who.actor : "unknown");
	snprintf(e->source, sizeof e->source, "%s", r->ci != NULL ? r->ci->peer : "");
	snprintf(e->uid, sizeof e->uid, "%s", uid != NULL ? uid : "");
	w->aq_n++;
	return CF_OK;
}

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

static const struct net_hold_ops ops_hold = {
	.flush = hold_flush, .state = hold_state, .wake_fd = hold_wake_fd,
};

const struct net_hold_ops *ops_hold_ops(void)
{
	return &ops_hold;
}

/* ---- helpers ------------------------------------------------------------------------- */

cf_err ops_dup(struct ops_req *r, const void *p, size_t n, void **out)
{
	void *q;
	*out = NULL;
	TRY(kmip_arena_alloc(&r->w->arena, n + 1, 1, &q));
	if (n > 0)
		memcpy(q, p, n);
	*out = q;
	return CF_OK;
}

cf_err ops_cstr(struct ops_req *r, const char *p, size_t n, char **out)
{
	void *q;
	*out = NULL;
	TRY(ops_dup(r, p, n, &q));
	*out = q; /* zeroed arena: NUL-terminated */
	return CF_OK;
}

cf_err ops_text(struct ops_req *r, const char *s, struct kmip_text *out)
{
	char *c;
	size_t n = strlen(s);
	*out = (struct kmip_text){ 0 };
	TRY(ops_cstr(r, s, n, &c));
	*out = (struct kmip_text){ c, n };
	return CF_OK;
}

cf_err ops_uid(struct ops_req *r, struct ops_item *it, struct kmip_text uid,
	       char out[static STORE_UID_MAX + 1])
{
	out[0] = '\0';
	if (uid.p == NULL) {
		if (r->placeholder[0] == '\0')
			return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_MISSING_DATA,
					"Unique Identifier required");
		memcpy(out, r->placeholder, sizeof r->placeholder);
	} else {
		if (uid.n == 0 || uid.n > STORE_UID_MAX || memchr(uid.p, '\0', uid.n) != NULL)
			return ops_fail(it, CF_E_NOT_FOUND, 0, "object not found");
		memcpy(out, uid.p, uid.n);
		out[uid.n] = '\0';
	}
	memcpy(it->uid, out, STORE_UID_MAX + 1);
	return CF_OK;
}

cf_err ops_object_load(struct ops_req *r, const char *uid, struct store_object *o)
{
	return store_object_get(r->w->st, r->who.tenant, uid, o);
}

cf_err ops_sess(struct ops_req *r, hsm_sess **out)
{
	struct ops_worker *w = r->w;
	hsm *h = w->svc->hsm;

	*out = NULL;
	if (h == NULL)
		return CF_E_HSM_NOT_INIT;
	if (w->sess != NULL && w->hsm_of_sess != h) {
		/* the service reopened the HSM: the old session belongs to the old client */
		w->sess = NULL;
	}
	if (w->sess == NULL) {
		TRY(hsm_session_acquire(h, OPS_HSM_WAIT_MS, &w->sess));
		w->hsm_of_sess = h;
	}
	*out = w->sess;
	return CF_OK;
}

/* Randomness for Unique Identifiers. A UUID is a public name that only has to be unique, not
 * secret: the kernel's CSPRNG serves it without an HSM round trip per Create (the key itself
 * and the wrap nonce still come from the HSM). */
cf_err ops_rng(void *arg, void *buf, size_t n)
{
	(void)arg;
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return CF_E_IO;
		}
		p += r;
		n -= (size_t)r;
	}
	return CF_OK;
}

cf_err ops_keybuf(struct ops_req *r, size_t n, uint8_t **out)
{
	struct ops_worker *w = r->w;
	*out = NULL;
	if (n > OPS_KEYBUF_SIZE - w->keybuf_off)
		return CF_E_NO_SPACE;
	*out = w->keybuf + w->keybuf_off;
	w->keybuf_off += n;
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
	if (r->w->st == NULL)
		return CF_E_STATE;
	if (r->audit_queue)
		return aq_push(r, op, uid, result, detail);
	return audit_append(r->w->st, &a, NULL);
}

/* cf_err -> Result Status / Reason for an operation failure. */
static void result_for(cf_err rc, int ver, uint32_t *status, uint32_t *reason)
{
	*status = KMIP_RESULT_STATUS_OPERATION_FAILED;
	switch (rc) {
	case CF_OK:
		*status = KMIP_RESULT_STATUS_SUCCESS;
		*reason = 0;
		return;
	case CF_E_NOT_FOUND:
		*reason = KMIP_RESULT_REASON_ITEM_NOT_FOUND;
		return;
	case CF_E_PERMISSION:
		*reason = KMIP_RESULT_REASON_PERMISSION_DENIED;
		return;
	case CF_E_STATE:
		*reason = ver >= KMIP_V2_0 ? KMIP_RESULT_REASON_WRONG_KEY_LIFECYCLE_STATE
					   : KMIP_RESULT_REASON_PERMISSION_DENIED;
		return;
	case CF_E_AUTH:
		*reason = KMIP_RESULT_REASON_AUTHENTICATION_NOT_SUCCESSFUL;
		return;
	case CF_E_UNSUPPORTED_OP:
		*reason = KMIP_RESULT_REASON_OPERATION_NOT_SUPPORTED;
		return;
	case CF_E_MISSING:
		*reason = KMIP_RESULT_REASON_MISSING_DATA;
		return;
	case CF_E_BAD_ATTR:
	case CF_E_BAD_VALUE:
	case CF_E_BAD_ENUM:
	case CF_E_BAD_OBJECT:
	case CF_E_DUPLICATE:
	case CF_E_EXISTS:
	case CF_E_BAD_TYPE:
	case CF_E_BAD_LENGTH:
		*reason = KMIP_RESULT_REASON_INVALID_FIELD;
		return;
	case CF_E_NO_SPACE:
	case CF_E_TOO_LARGE:
		*reason = KMIP_RESULT_REASON_RESPONSE_TOO_LARGE;
		return;
	case CF_E_HSM_UNWRAP:
	case CF_E_HSM_BLOB:
	case CF_E_HSM_WRONG_KEK:
		*reason = KMIP_RESULT_REASON_CRYPTOGRAPHIC_FAILURE;
		return;
	default:
		*reason = KMIP_RESULT_REASON_GENERAL_FAILURE;
		return;
	}
}

static void item_fail(struct kmip_rsp_item *rs, const struct kmip_req_item *rq, uint32_t status,
		      uint32_t reason, const char *msg)
{
	memset(rs, 0, sizeof *rs);
	if (rq != NULL) {
		rs->has_op = true;
		rs->op = rq->op;
		rs->id = rq->id;
	}
	rs->status = status;
	if (status != KMIP_RESULT_STATUS_SUCCESS && status != KMIP_RESULT_STATUS_OPERATION_UNDONE) {
		rs->has_reason = true;
		rs->reason = reason;
	}
	if (msg != NULL)
		rs->message = (struct kmip_text){ msg, strlen(msg) };
}

static const char *state_msg(int st)
{
	switch (st) {
	case SVC_UNINITIALIZED:
		return "appliance not initialized";
	case SVC_SEALED:
		return "appliance sealed";
	case SVC_ERROR:
		return "appliance in error state";
	default:
		return "appliance not ready";
	}
}

/* Encode the response (header from the request) into resp[cap]. */
static cf_err encode(const struct kmip_pv *pv, int ver, int64_t now, struct kmip_text corr,
		     struct kmip_rsp_item *items, size_t n, uint8_t *resp, size_t cap, size_t *len)
{
	struct kmip_response m;
	ttlv_wr w;
	cf_err rc;

	memset(&m, 0, sizeof m);
	m.h.pv = *pv;
	m.h.version = ver;
	m.h.time_stamp = now;
	if (ver >= KMIP_V1_4)
		m.h.client_corr = corr;
	m.h.batch_count = (int32_t)n;
	m.items = items;
	m.n_items = n;
	ttlv_wr_init(&w, resp, cap);
	rc = kmip_encode_response(&w, &m);
	*len = rc == CF_OK ? ttlv_wr_len(&w) : 0;
	return rc;
}

/* Answer every item (or one item-less failure when n == 0) with the same failure. */
static cf_err answer_all(struct ops_req *r, const struct kmip_pv *pv, const struct kmip_req_item *rq,
			 size_t n, uint32_t status, uint32_t reason, const char *msg,
			 struct kmip_text corr, uint8_t *resp, size_t cap, size_t *len)
{
	struct kmip_rsp_item one, *items = &one;
	size_t k = n == 0 ? 1 : n;
	void *p;

	if (n > 1) {
		TRY(kmip_arena_alloc(&r->w->arena, n, sizeof *items, &p));
		items = p;
	}
	for (size_t i = 0; i < k; i++)
		item_fail(&items[i], n == 0 ? NULL : &rq[i], status, reason, msg);
	return encode(pv, r->ver, r->now, corr, items, k, resp, cap, len);
}

static void audit_best_effort(struct ops_req *r, uint32_t op, const char *uid, int64_t result,
			      const char *detail)
{
	if (r->w->st == NULL)
		return;
	cf_err rc = ops_audit(r, op, uid, result, detail);
	if (rc != CF_OK)
		log_err_r(rc, "kmip: audit record for %s from %s failed", ops_op_name(op),
			  r->ci != NULL ? r->ci->peer : "?");
}

/* The request could not be decoded: answer in the version that parsed. */
static cf_err answer_decode_error(struct ops_req *r, const struct kmip_decode_error *de,
				  uint8_t *resp, size_t cap, size_t *len)
{
	struct kmip_rsp_item it;
	struct kmip_pv pv = { 1, 0 };
	uint32_t status = de->status, reason = de->reason;
	int ver = KMIP_V1_0;

	if (de->has_pv && de->version >= 0) {
		pv = de->pv;
		ver = de->version;
	} else if (de->has_pv && de->pv.major == 1 && de->pv.minor > 4) {
		pv = (struct kmip_pv){ 1, 4 };
		ver = KMIP_V1_4;
	} else if (de->has_pv && de->pv.major >= 2) {
		pv = (struct kmip_pv){ 2, 0 };
		ver = KMIP_V2_0;
	}
	r->ver = ver;
	if (status == KMIP_RESULT_STATUS_SUCCESS) {
		status = KMIP_RESULT_STATUS_OPERATION_FAILED;
		reason = KMIP_RESULT_REASON_INVALID_MESSAGE;
	}
	memset(&it, 0, sizeof it);
	it.has_op = de->has_op;
	it.op = de->op;
	it.id = de->item_id;
	it.status = status;
	it.has_reason = true;
	it.reason = reason;
	it.message = (struct kmip_text){ "request could not be decoded", 28 };
	log_warn("kmip: undecodable request from %s: %s (item %ld, tag 0x%06x)",
		 r->ci != NULL ? r->ci->peer : "?", cf_err_name(de->rc), de->item, de->tag);
	audit_best_effort(r, de->has_op ? de->op : 0, "", (int64_t)reason, "undecodable request");
	cf_err rc = encode(&pv, ver, r->now, (struct kmip_text){ 0 }, &it, 1, resp, cap, len);
	if (rc != CF_OK && it.has_op) {
		/* the operation value may not exist in that version: answer without it */
		it.has_op = false;
		rc = encode(&pv, ver, r->now, (struct kmip_text){ 0 }, &it, 1, resp, cap, len);
	}
	return rc;
}

/* ---- the request ------------------------------------------------------------------- */

/* Item i is a Create whose key may be made before the write transaction: typed, and asked
 * by a principal allowed to create (ops_handle checks that again, and reports). */
static bool create_preppable(const struct ops_req *r, const struct kmip_req_item *qi)
{
	return qi->op == KMIP_OPERATION_CREATE && qi->pl.typed &&
	       authz_op_allowed(r->who.role, qi->op) && r->who.role == CONFIG_ROLE_USER;
}

/* Deferral of a request with Create items: their keys are generated and wrapped now, outside
 * the turn's write transaction, so that the write lock, taken when the deferred requests run,
 * is not held for HSM work (best effort: what is not prepared here is prepared by the run). */
static void prep_stash(struct ops_req *r, const struct kmip_request *rq)
{
	struct ops_worker *w = r->w;
	bool any = false;
	for (size_t i = 0; i < rq->n_items && !any; i++)
		any = rq->items[i].op == KMIP_OPERATION_CREATE && rq->items[i].pl.typed;
	if (!any || r->ci == NULL)
		return;
	if (w->prep == NULL && (w->prep = calloc(OPS_PREP_MAX, sizeof *w->prep)) == NULL)
		return;
	if (authz_resolve(w->svc->authz, w->svc->cfg, w->st, r->ci->id, &r->who) != CF_OK ||
	    authz_credential_check(w->st, &r->who, &rq->h) != CF_OK)
		return;
	for (size_t i = 0; i < rq->n_items && w->prep_n < OPS_PREP_MAX; i++) {
		const struct kmip_req_item *qi = &rq->items[i];
		if (!create_preppable(r, qi))
			continue;
		struct ops_item it = { .rq = qi };
		ops_create_prep(r, &it);
		if (!it.prepped || it.prep_blob_n > sizeof w->prep->blob)
			continue;
		struct ops_prep_ent *e = &w->prep[w->prep_n++];
		e->conn_id = r->ci->conn_id;
		e->item = i;
		memcpy(e->uid, it.prep_uid, sizeof e->uid);
		memcpy(e->blob, it.prep_blob, it.prep_blob_n);
		e->blob_n = it.prep_blob_n;
	}
}

/* The run of a deferred request: the preparation its deferral stashed for item i, if any. */
static bool prep_take(struct ops_req *r, size_t i, struct ops_item *it)
{
	struct ops_worker *w = r->w;
	void *p;
	for (size_t k = 0; k < w->prep_n; k++) {
		struct ops_prep_ent *e = &w->prep[k];
		if (e->conn_id != r->ci->conn_id || e->item != i)
			continue;
		bool ok = ops_dup(r, e->blob, e->blob_n, &p) == CF_OK;
		if (ok) {
			memcpy(it->prep_uid, e->uid, sizeof it->prep_uid);
			it->prep_blob = p;
			it->prep_blob_n = e->blob_n;
			it->prepped = true;
		}
		sec_wipe(e, sizeof *e);
		*e = w->prep[--w->prep_n];
		return ok;
	}
	return false;
}

static bool request_writes(const struct kmip_request *rq)
{
	for (size_t i = 0; i < rq->n_items; i++) {
		const struct ops_entry *e = ops_find(rq->items[i].op);
		if (e != NULL && e->write)
			return true;
	}
	return false;
}

/* Every item reads metadata only (no key material leaves): its audit record must be committed
 * before the answer, and is made durable by the next group sync without being waited for
 * (docs/kmip-server.md "Durability and group commit"). Get is not one of them. */
static bool metadata_only(const struct kmip_request *rq)
{
	for (size_t i = 0; i < rq->n_items; i++) {
		switch (rq->items[i].op) {
		case KMIP_OPERATION_LOCATE:
		case KMIP_OPERATION_GET_ATTRIBUTES:
		case KMIP_OPERATION_GET_ATTRIBUTE_LIST:
		case KMIP_OPERATION_QUERY:
		case KMIP_OPERATION_DISCOVER_VERSIONS:
			break;
		default:
			return false;
		}
	}
	return true;
}


cf_err ops_handle(struct ops_worker *w, struct net_conn_info *ci, const uint8_t *req,
		  size_t n, uint8_t *resp, size_t cap, size_t *resp_len)
{
	struct ops_req r;
	struct kmip_request rq;
	struct kmip_decode_error de;
	struct kmip_rsp_item *items = NULL;
	struct ops_item *its = NULL;
	size_t n_out = 0, limit;
	uint32_t bec;
	int svc_state;
	bool undo = false, in_tx = false, ro = true;
	uint64_t ticket = 0;
	void *p;
	cf_err rc = CF_E_INTERNAL, arc;
	uint32_t status, reason;

	*resp_len = 0;
	if (w == NULL || req == NULL || resp == NULL)
		return CF_E_INVALID_ARG;
	kmip_arena_reset(&w->arena);
	w->keybuf_off = 0;
	memset(&r, 0, sizeof r);
	r.w = w;
	r.ci = ci;
	r.now = svc_now(w->svc);
	r.ver = KMIP_V1_0;
	svc_state = atomic_load(&w->svc->state);

	/* the actor for audit records even when the identity maps to nothing */
	if (ci != NULL && ci->id != NULL)
		snprintf(r.who.actor, sizeof r.who.actor, "sha256:%s", ci->id->fp_hex);
	if (svc_state == SVC_READY || svc_state == SVC_SEALED || svc_state == SVC_ERROR)
		(void)worker_store(w); /* best effort: audit needs it; READY checks again */

	rc = kmip_decode_request(req, n, &w->svc->limits, &w->arena, &rq, &de);
	if (rc != CF_OK) {
		rc = answer_decode_error(&r, &de, resp, cap, resp_len);
		goto out;
	}
	r.ver = rq.h.version;
	/* A request that writes waits for the end of the loop turn, where the turn's writes run
	 * in one transaction (ops_flush commits it): one commit instead of one per request */
	if (ci != NULL && ci->can_hold && !ci->run_deferred && svc_state == SVC_READY &&
	    w->st != NULL && request_writes(&rq)) {
		ci->hold = NET_HOLD_DEFER;
		ci->hold_ops = &ops_hold;
		prep_stash(&r, &rq);
		rc = CF_OK;
		goto out;
	}
	if (rq.h.has_time_stamp) {
		int64_t d = rq.h.time_stamp - r.now;
		if (d > OPS_SKEW_S || d < -OPS_SKEW_S)
			log_warn("kmip: request Time Stamp from %s is %lld s off our clock",
				 ci != NULL ? ci->peer : "?", (long long)d);
	}

	/* service state: everything but READY answers Operation Failed */
	if (svc_state != SVC_READY || w->st == NULL) {
		const char *msg = svc_state != SVC_READY ? state_msg(svc_state) : "store unavailable";
		for (size_t i = 0; i < rq.n_items; i++)
			audit_best_effort(&r, rq.items[i].op, "", KMIP_RESULT_REASON_GENERAL_FAILURE, msg);
		rc = answer_all(&r, &rq.h.pv, rq.items, rq.n_items, KMIP_RESULT_STATUS_OPERATION_FAILED,
				KMIP_RESULT_REASON_GENERAL_FAILURE, msg, rq.h.client_corr, resp, cap,
				resp_len);
		goto out;
	}

	/* who is asking */
	arc = authz_resolve(w->svc->authz, w->svc->cfg, w->st, ci != NULL ? ci->id : NULL, &r.who);
	if (arc == CF_OK)
		arc = authz_credential_check(w->st, &r.who, &rq.h);
	if (arc != CF_OK) {
		const char *msg = "client not authorized";
		log_warn("kmip: %s from %s (%s)", msg, ci != NULL ? ci->peer : "?", r.who.actor);
		for (size_t i = 0; i < rq.n_items; i++)
			audit_best_effort(&r, rq.items[i].op, "",
					  KMIP_RESULT_REASON_AUTHENTICATION_NOT_SUCCESSFUL, msg);
		rc = answer_all(&r, &rq.h.pv, rq.items, rq.n_items, KMIP_RESULT_STATUS_OPERATION_FAILED,
				KMIP_RESULT_REASON_AUTHENTICATION_NOT_SUCCESSFUL, msg,
				rq.h.client_corr, resp, cap, resp_len);
		goto out;
	}

	if ((rc = kmip_arena_alloc(&w->arena, rq.n_items, sizeof *items, &p)) != CF_OK)
		goto out;
	items = p;
	if ((rc = kmip_arena_alloc(&w->arena, rq.n_items, sizeof *its, &p)) != CF_OK)
		goto out;
	its = p;
	bec = rq.h.has_bec ? rq.h.bec : KMIP_BATCH_ERROR_CONTINUATION_OPTION_STOP;

	/* A request whose items only read runs in a read snapshot without the write lock; its
	 * audit records join the worker's next flush (one transaction for every read of the loop
	 * turn) and its answer waits for that flush to be durable. */
	for (size_t i = 0; i < rq.n_items && ro; i++) {
		const struct ops_entry *e = ops_find(rq.items[i].op);
		if (e != NULL && e->write)
			ro = false;
	}
	if (ro) {
		rc = store_read_tx_begin(w->st);
		r.audit_queue = rc == CF_OK;
	} else {
		/* Create's HSM work needs no store: done before taking the write lock, so the
		 * other workers' transactions do not wait for the HSM */
		for (size_t i = 0; i < rq.n_items; i++) {
			const struct kmip_req_item *qi = &rq.items[i];
			if (!create_preppable(&r, qi))
				continue;
			its[i].rq = qi;
			if (ci == NULL || !ci->run_deferred || !prep_take(&r, i, &its[i]))
				ops_create_prep(&r, &its[i]);
		}
		if (ci != NULL && ci->run_deferred && !w->batch_open &&
		    store_tx_begin(w->st) == CF_OK)
			w->batch_open = true; /* the request's own level is a savepoint in it */
		rc = store_tx_begin(w->st);
	}
	if (rc != CF_OK) {
		log_err_r(rc, "kmip: cannot begin a store transaction");
		rc = answer_all(&r, &rq.h.pv, rq.items, rq.n_items, KMIP_RESULT_STATUS_OPERATION_FAILED,
				KMIP_RESULT_REASON_GENERAL_FAILURE, "store busy", rq.h.client_corr,
				resp, cap, resp_len);
		goto out;
	}
	in_tx = true;

	for (size_t i = 0; i < rq.n_items; i++) {
		const struct kmip_req_item *qi = &rq.items[i];
		const struct ops_entry *e = ops_find(qi->op);
		struct ops_item *it = &its[i];
		cf_err irc;

		it->rq = qi;
		it->rs = &items[i];
		memset(it->rs, 0, sizeof *it->rs);
		n_out = i + 1;
		if (e == NULL || (e->states & (1u << SVC_READY)) == 0 || !qi->pl.typed) {
			irc = ops_fail(it, CF_E_UNSUPPORTED_OP, KMIP_RESULT_REASON_OPERATION_NOT_SUPPORTED,
				       "operation not supported");
		} else if (!authz_op_allowed(r.who.role, qi->op) || (e->write && r.who.role != CONFIG_ROLE_USER)) {
			irc = ops_fail(it, CF_E_PERMISSION, KMIP_RESULT_REASON_PERMISSION_DENIED,
				       "role may not run this operation");
		} else if ((irc = store_tx_begin(w->st)) == CF_OK) {
			it->rs->pl.op = qi->op;
			it->rs->pl.typed = true;
			irc = e->fn(&r, it);
			if (irc == CF_OK)
				irc = ops_audit(&r, qi->op, it->uid, 0, NULL);
			if (irc == CF_OK)
				irc = store_tx_commit(w->st);
			if (irc != CF_OK)
				store_tx_rollback(w->st);
		}
		if (irc == CF_OK) {
			it->rs->has_op = true;
			it->rs->op = qi->op;
			it->rs->id = qi->id;
			it->rs->status = KMIP_RESULT_STATUS_SUCCESS;
			it->rs->has_payload = true;
			continue;
		}
		result_for(irc, r.ver, &status, &reason);
		if (it->reason != 0)
			reason = it->reason;
		item_fail(it->rs, qi, status, reason, it->msg != NULL ? it->msg : cf_err_str(irc));
		if ((arc = ops_audit(&r, qi->op, it->uid, (int64_t)reason, it->msg)) != CF_OK)
			log_err_r(arc, "kmip: audit record failed");
		if (bec == KMIP_BATCH_ERROR_CONTINUATION_OPTION_CONTINUE)
			continue;
		if (bec == KMIP_BATCH_ERROR_CONTINUATION_OPTION_UNDO)
			undo = true;
		break;
	}

	if (undo) {
		store_tx_rollback(w->st);
		in_tx = false;
		for (size_t i = 0; i + 1 < n_out; i++) {
			item_fail(&items[i], &rq.items[i], KMIP_RESULT_STATUS_OPERATION_UNDONE, 0, NULL);
			audit_best_effort(&r, rq.items[i].op, its[i].uid, -1, "undone");
		}
		audit_best_effort(&r, rq.items[n_out - 1].op, its[n_out - 1].uid,
				  (int64_t)items[n_out - 1].reason, its[n_out - 1].msg);
	}

	/* encode before committing: a response that does not fit changes nothing */
	limit = cap;
	if (rq.h.has_max_response_size && rq.h.max_response_size > 0 &&
	    (size_t)rq.h.max_response_size < limit)
		limit = (size_t)rq.h.max_response_size;
	rc = encode(&rq.h.pv, r.ver, r.now, rq.h.client_corr, items, n_out, resp, limit, resp_len);
	if (rc != CF_OK) {
		bool too_large = rc == CF_E_NO_SPACE;
		if (!too_large)
			log_err_r(rc, "kmip: cannot encode the response");
		if (in_tx) {
			store_tx_rollback(w->st);
			in_tx = false;
		}
		reason = too_large ? KMIP_RESULT_REASON_RESPONSE_TOO_LARGE
				   : KMIP_RESULT_REASON_GENERAL_FAILURE;
		for (size_t i = 0; i < n_out; i++)
			audit_best_effort(&r, rq.items[i].op, its[i].uid, (int64_t)reason,
					  too_large ? "response too large" : "encoding failed");
		sec_wipe(resp, cap);
		rc = answer_all(&r, &rq.h.pv, rq.items, n_out, KMIP_RESULT_STATUS_OPERATION_FAILED,
				reason, too_large ? "response too large" : "internal error",
				rq.h.client_corr, resp, cap, resp_len);
		goto out;
	}
	if (in_tx) {
		in_tx = false;
		rc = store_tx_commit_nowait(w->st, &ticket);
		if (rc == CF_OK && r.audit_queue)
			ticket = metadata_only(&rq) ? NET_HOLD_COMMIT : NET_HOLD_FLUSH;
		if (rc == CF_OK && ticket != 0 && (ci == NULL || !ci->can_hold)) {
			/* no one to hold the answer: wait here */
			if (ticket == NET_HOLD_FLUSH || ticket == NET_HOLD_COMMIT)
				rc = ops_flush(w, &ticket);
			if (rc == CF_OK)
				rc = store_ticket_wait(w->st, ticket);
			ticket = 0;
		}
		if (rc != CF_OK) {
			/* nothing was committed: nothing may be acknowledged */
			log_err_r(rc, "kmip: commit failed");
			sec_wipe(resp, cap);
			*resp_len = 0;
			rc = answer_all(&r, &rq.h.pv, rq.items, n_out, KMIP_RESULT_STATUS_OPERATION_FAILED,
					KMIP_RESULT_REASON_GENERAL_FAILURE, "store commit failed",
					rq.h.client_corr, resp, cap, resp_len);
			goto out;
		}
	}
	if (ticket != 0) {
		ci->hold = ticket;
		ci->hold_ops = &ops_hold;
	}
	rc = CF_OK;
out:
	if (in_tx)
		store_tx_rollback(w->st);
	if (w->batch_open && rc == CF_OK && ci != NULL && ci->hold == 0 && *resp_len > 0) {
		/* answered inside the turn's write transaction (audit records of an undo, an
		 * error): sent once that commits */
		ci->hold = NET_HOLD_FLUSH;
		ci->hold_ops = &ops_hold;
	}
	if (r.audit_queue && rc == CF_OK && ci != NULL && ci->hold == 0) {
		/* an answer from an error path with queued records: they commit first */
		if (ci->can_hold) {
			ci->hold = NET_HOLD_FLUSH;
			ci->hold_ops = &ops_hold;
		} else {
			uint64_t t = 0;
			rc = ops_flush(w, &t);
			if (rc == CF_OK)
				rc = store_ticket_wait(w->st, t);
		}
	}
	sec_wipe(w->keybuf, w->keybuf_off);
	w->keybuf_off = 0;
	kmip_arena_reset(&w->arena);
	if (rc != CF_OK)
		*resp_len = 0;
	return rc;
}
