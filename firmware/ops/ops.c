/* KMIP request processing: the dispatch table (with the role policy) and the phases of a
 * request: decode -> service state -> authentication -> transaction -> batch items through
 * the table, each in its own savepoint with its audit record -> undo -> encode (Maximum
 * Response Size) -> commit -> hold the answer until it is durable. docs/kmip-server.md
 * describes the behaviour. The handlers call only helpers (ops_util.c, ops_attr.c); the
 * worker, the audit records and the group commit are in ops_worker.c. */
#include "firmware/ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board/log.h"
#include "board/sec.h"
#include "firmware/ops/ops_int.h"

#define ST_READY (1u << SVC_READY)
#define ROLE(role) (1u << (role))
#define BY_USER ROLE(CONFIG_ROLE_USER)
#define BY_ANYONE (ROLE(CONFIG_ROLE_USER) | ROLE(CONFIG_ROLE_READONLY))

/* What an operation does to the store, which decides its transaction and when its answer
 * may leave (docs/kmip-server.md "Durability and group commit", "Batched writes"). */
enum ops_access {
	OPS_WRITE,     /* changes objects: write transaction, deferred to the loop turn's batch */
	OPS_READ_KEYS, /* may return key material: read snapshot, answer after a durable audit */
	OPS_READ_META, /* metadata only: read snapshot, answer once its audit record committed */
};

struct ops_entry {
	uint32_t op;
	ops_fn fn;
	uint8_t states;        /* svc states (bit per enum svc_state) in which it runs */
	enum ops_access access;
	uint8_t roles;         /* roles (bit per enum config_role) that may run it */
};

static const struct ops_entry ops_table[] = {
	{ KMIP_OPERATION_CREATE, ops_create, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_REGISTER, ops_register, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_RE_KEY, ops_rekey, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_CREATE_KEY_PAIR, ops_create_key_pair, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_RE_KEY_KEY_PAIR, ops_rekey_key_pair, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_LOCATE, ops_locate, ST_READY, OPS_READ_META, BY_ANYONE },
	{ KMIP_OPERATION_GET, ops_get, ST_READY, OPS_READ_KEYS, BY_ANYONE },
	{ KMIP_OPERATION_GET_ATTRIBUTES, ops_get_attributes, ST_READY, OPS_READ_META, BY_ANYONE },
	{ KMIP_OPERATION_GET_ATTRIBUTE_LIST, ops_get_attribute_list, ST_READY, OPS_READ_META,
	  BY_ANYONE },
	{ KMIP_OPERATION_ADD_ATTRIBUTE, ops_add_attribute, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_MODIFY_ATTRIBUTE, ops_modify_attribute, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_DELETE_ATTRIBUTE, ops_delete_attribute, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_SET_ATTRIBUTE, ops_set_attribute, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_ADJUST_ATTRIBUTE, ops_adjust_attribute, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_ACTIVATE, ops_activate, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_REVOKE, ops_revoke, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_DESTROY, ops_destroy, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_CHECK, ops_check, ST_READY, OPS_READ_META, BY_ANYONE },
	/* cryptographic services (ops_crypto.c, ops_derive.c): a keyed one counts Usage Limits
	 * down, a write */
	{ KMIP_OPERATION_ENCRYPT, ops_crypt, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_DECRYPT, ops_crypt, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_SIGN, ops_crypt, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_SIGNATURE_VERIFY, ops_crypt, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_MAC, ops_crypt, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_MAC_VERIFY, ops_crypt, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_HASH, ops_hash, ST_READY, OPS_READ_META, BY_ANYONE },
	{ KMIP_OPERATION_RNG_RETRIEVE, ops_rng_retrieve, ST_READY, OPS_READ_META, BY_ANYONE },
	{ KMIP_OPERATION_RNG_SEED, ops_rng_seed, ST_READY, OPS_READ_META, BY_USER },
	{ KMIP_OPERATION_DERIVE_KEY, ops_derive_key, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_QUERY, ops_query, ST_READY, OPS_READ_META, BY_ANYONE },
	{ KMIP_OPERATION_DISCOVER_VERSIONS, ops_discover_versions, ST_READY, OPS_READ_META,
	  BY_ANYONE },
	{ KMIP_OPERATION_ARCHIVE, ops_archive, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_RECOVER, ops_recover, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_OBTAIN_LEASE, ops_obtain_lease, ST_READY, OPS_READ_META, BY_ANYONE },
	{ KMIP_OPERATION_GET_USAGE_ALLOCATION, ops_get_usage_allocation, ST_READY, OPS_WRITE,
	  BY_USER },
	{ KMIP_OPERATION_POLL, ops_poll, ST_READY, OPS_READ_META, BY_ANYONE },
	{ KMIP_OPERATION_CANCEL, ops_cancel, ST_READY, OPS_READ_META, BY_USER },
	{ KMIP_OPERATION_CREATE_SPLIT_KEY, ops_create_split_key, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_JOIN_SPLIT_KEY, ops_join_split_key, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_CERTIFY, ops_certify, ST_READY, OPS_WRITE, BY_USER },
	{ KMIP_OPERATION_RE_CERTIFY, ops_recertify, ST_READY, OPS_WRITE, BY_USER },
};
#define OPS_N (sizeof ops_table / sizeof ops_table[0])

/* The table's operations in its order, for Query. */
static const uint32_t ops_list[OPS_N] = {
	KMIP_OPERATION_CREATE, KMIP_OPERATION_REGISTER, KMIP_OPERATION_RE_KEY,
	KMIP_OPERATION_CREATE_KEY_PAIR, KMIP_OPERATION_RE_KEY_KEY_PAIR, KMIP_OPERATION_LOCATE,
	KMIP_OPERATION_GET,
	KMIP_OPERATION_GET_ATTRIBUTES, KMIP_OPERATION_GET_ATTRIBUTE_LIST,
	KMIP_OPERATION_ADD_ATTRIBUTE, KMIP_OPERATION_MODIFY_ATTRIBUTE,
	KMIP_OPERATION_DELETE_ATTRIBUTE, KMIP_OPERATION_SET_ATTRIBUTE, KMIP_OPERATION_ADJUST_ATTRIBUTE,
	KMIP_OPERATION_ACTIVATE, KMIP_OPERATION_REVOKE,
	KMIP_OPERATION_DESTROY, KMIP_OPERATION_CHECK,
	KMIP_OPERATION_ENCRYPT, KMIP_OPERATION_DECRYPT, KMIP_OPERATION_SIGN,
	KMIP_OPERATION_SIGNATURE_VERIFY, KMIP_OPERATION_MAC, KMIP_OPERATION_MAC_VERIFY,
	KMIP_OPERATION_HASH, KMIP_OPERATION_RNG_RETRIEVE, KMIP_OPERATION_RNG_SEED,
	KMIP_OPERATION_DERIVE_KEY, KMIP_OPERATION_QUERY,
	KMIP_OPERATION_DISCOVER_VERSIONS,
	KMIP_OPERATION_ARCHIVE, KMIP_OPERATION_RECOVER, KMIP_OPERATION_OBTAIN_LEASE,
	KMIP_OPERATION_GET_USAGE_ALLOCATION, KMIP_OPERATION_POLL, KMIP_OPERATION_CANCEL,
	KMIP_OPERATION_CREATE_SPLIT_KEY, KMIP_OPERATION_JOIN_SPLIT_KEY,
	KMIP_OPERATION_CERTIFY, KMIP_OPERATION_RE_CERTIFY,
};

static const struct ops_entry *ops_find(uint32_t op)
{
	for (size_t i = 0; i < OPS_N; i++)
		if (ops_table[i].op == op)
			return &ops_table[i];
	return NULL;
}

/* The role policy, the one place that answers: may this principal run this operation (e, from
 * ops_find; NULL = not in the table)? */
static bool ops_may_run(const struct authz_principal *who, const struct ops_entry *e)
{
	return e != NULL && who->role > 0 && who->role < 8 && (e->roles & ROLE(who->role)) != 0;
}

bool ops_request_writes(const struct kmip_request *rq)
{
	for (size_t i = 0; i < rq->n_items; i++) {
		const struct ops_entry *e = ops_find(rq->items[i].op);
		if (e != NULL && e->access == OPS_WRITE)
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
		const struct ops_entry *e = ops_find(rq->items[i].op);
		if (e == NULL || e->access != OPS_READ_META)
			return false;
	}
	return true;
}

/* ---- the answer ---------------------------------------------------------------------- */

/* One request on its way through the phases of ops_handle. */
struct req_ctx {
	struct ops_req r;
	struct kmip_request rq;
	int svc_state;
	struct kmip_rsp_item *items; /* the answer's items, one per request item */
	struct ops_item *its;
	size_t n_out;                /* items run, and answered */
	bool in_tx;                  /* the request's transaction (or read snapshot) is open */
	uint8_t *resp;
	size_t cap;
	size_t *resp_len;
};

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
static MUST_USE cf_err encode(const struct kmip_pv *pv, int ver, int64_t now,
			      struct kmip_text corr, struct kmip_rsp_item *items, size_t n,
			      uint8_t *resp, size_t cap, size_t *len)
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

/* Answer the first n items (or one item-less failure when n == 0) with the same failure. */
static MUST_USE cf_err answer_failed(struct req_ctx *x, size_t n, uint32_t reason,
				     const char *msg)
{
	struct kmip_rsp_item one, *items = &one;
	size_t k = n == 0 ? 1 : n;
	void *p;

	if (n > 1) {
		TRY(kmip_arena_alloc(&x->r.w->arena, n, sizeof *items, &p));
		items = p;
	}
	for (size_t i = 0; i < k; i++)
		item_fail(&items[i], n == 0 ? NULL : &x->rq.items[i],
			  KMIP_RESULT_STATUS_OPERATION_FAILED, reason, msg);
	return encode(&x->rq.h.pv, x->r.ver, x->r.now, x->rq.h.client_corr, items, k, x->resp,
		      x->cap, x->resp_len);
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

/* Refuse every item of the request with the same reason, each with its audit record. */
static MUST_USE cf_err refuse_all(struct req_ctx *x, uint32_t reason, const char *msg)
{
	for (size_t i = 0; i < x->rq.n_items; i++)
		audit_best_effort(&x->r, x->rq.items[i].op, "", reason, msg);
	return answer_failed(x, x->rq.n_items, reason, msg);
}

/* The request could not be decoded: answer in the version that parsed. */
static MUST_USE cf_err answer_decode_error(struct req_ctx *x, const struct kmip_decode_error *de)
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
	x->r.ver = ver;
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
		 x->r.ci != NULL ? x->r.ci->peer : "?", cf_err_name(de->rc), de->item, de->tag);
	audit_best_effort(&x->r, de->has_op ? de->op : 0, "", (int64_t)reason,
			  "undecodable request");
	cf_err rc = encode(&pv, ver, x->r.now, (struct kmip_text){ 0 }, &it, 1, x->resp, x->cap,
			   x->resp_len);
	if (rc != CF_OK && it.has_op) {
		/* the operation value may not exist in that version: answer without it */
		it.has_op = false;
		rc = encode(&pv, ver, x->r.now, (struct kmip_text){ 0 }, &it, 1, x->resp, x->cap,
			    x->resp_len);
	}
	return rc;
}

/* ---- Creates prepared outside the write transaction ------------------------------------ */

/* Item qi is a Create whose key may be made before the write transaction: typed, and asked
 * by a principal allowed to create (the item's run checks that again, and reports). */
static bool preppable_op(uint32_t op)
{
	return op == KMIP_OPERATION_CREATE || op == KMIP_OPERATION_CREATE_KEY_PAIR ||
	       op == KMIP_OPERATION_RE_KEY_KEY_PAIR;
}

static bool create_preppable(const struct ops_req *r, const struct kmip_req_item *qi)
{
	return preppable_op(qi->op) && qi->pl.typed && ops_may_run(&r->who, ops_find(qi->op));
}

static void prep_item(struct ops_req *r, struct ops_item *it)
{
	if (it->rq->op == KMIP_OPERATION_CREATE)
		ops_create_prep(r, it);
	else
		ops_keypair_prep(r, it);
}

/* Deferral of a request with Create items: their keys are generated and wrapped now, outside
 * the turn's write transaction, so that the write lock, taken when the deferred requests run,
 * is not held for HSM work (best effort: what is not prepared here is prepared by the run). */
static void prep_stash(struct ops_req *r, const struct kmip_request *rq)
{
	struct ops_worker *w = r->w;
	bool any = false;
	for (size_t i = 0; i < rq->n_items && !any; i++)
		any = preppable_op(rq->items[i].op) && rq->items[i].pl.typed;
	if (!any || r->ci == NULL)
		return;
	if (w->prep == NULL && (w->prep = calloc(OPS_PREP_MAX, sizeof *w->prep)) == NULL)
		return;
	if (authz_resolve(w->svc->authz, w->svc->cfg, w->st, r->ci->id, &r->who) != CF_OK ||
	    authz_credential_check(w->st, &r->who, &rq->h) != CF_OK ||
	    !authz_source_allowed(&r->who, r->ci->peer))
		return;
	for (size_t i = 0; i < rq->n_items && w->prep_n < OPS_PREP_MAX; i++) {
		const struct kmip_req_item *qi = &rq->items[i];
		if (!create_preppable(r, qi))
			continue;
		struct ops_item it = { .rq = qi };
		prep_item(r, &it);
		if (!it.prepped || it.prep_blob_n > sizeof w->prep->blob)
			continue;
		struct ops_prep_ent *e = &w->prep[w->prep_n++];
		e->conn_id = r->ci->conn_id;
		e->item = i;
		memcpy(e->uid, it.prep_uid, sizeof e->uid);
		memcpy(e->blob, it.prep_blob, it.prep_blob_n);
		e->blob_n = it.prep_blob_n;
		memcpy(e->uid2, it.prep_uid2, sizeof e->uid2);
		e->split = it.prep_split;
		e->kind = it.prep_kind;
		memcpy(e->digest, it.prep_digest, sizeof e->digest);
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
			memcpy(it->prep_uid2, e->uid2, sizeof it->prep_uid2);
			it->prep_split = e->split;
			it->prep_kind = e->kind;
			memcpy(it->prep_digest, e->digest, sizeof it->prep_digest);
			it->prepped = true;
		}
		sec_wipe(e, sizeof *e);
		*e = w->prep[--w->prep_n];
		return ok;
	}
	return false;
}

/* Create's HSM work needs no store: done before taking the write lock, so the other workers'
 * transactions do not wait for the HSM (from the deferral's stash when there is one). */
static void creates_prep(struct req_ctx *x)
{
	struct net_conn_info *ci = x->r.ci;
	for (size_t i = 0; i < x->rq.n_items; i++) {
		const struct kmip_req_item *qi = &x->rq.items[i];
		if (!create_preppable(&x->r, qi))
			continue;
		x->its[i].rq = qi;
		if (ci == NULL || !ci->run_deferred || !prep_take(&x->r, i, &x->its[i]))
			prep_item(&x->r, &x->its[i]);
	}
}

/* ---- phases of a request ------------------------------------------------------------- */

static void req_begin(struct req_ctx *x, struct ops_worker *w, struct net_conn_info *ci,
		      uint8_t *resp, size_t cap, size_t *resp_len)
{
	kmip_arena_reset(&w->arena);
	w->keybuf_off = 0;
	memset(x, 0, sizeof *x);
	x->r.w = w;
	x->r.ci = ci;
	x->r.now = svc_now(w->svc);
	x->r.ver = KMIP_V1_0;
	x->r.supported = ops_list;
	x->r.n_supported = OPS_N;
	x->resp = resp;
	x->cap = cap;
	x->resp_len = resp_len;
	x->svc_state = atomic_load(&w->svc->state);
	/* the actor for audit records even when the identity maps to nothing */
	if (ci != NULL && ci->id != NULL)
		snprintf(x->r.who.actor, sizeof x->r.who.actor, "sha256:%s", ci->id->fp_hex);
	/* best effort: audit needs it; the gate checks it for READY */
	if ((x->svc_state == SVC_READY || x->svc_state == SVC_SEALED ||
	     x->svc_state == SVC_ERROR) && ops_worker_store(w) != CF_OK)
		return;
}

/* A request that writes waits for the end of the loop turn, where the turn's writes run in one
 * transaction (ops_flush commits it): one commit instead of one per request. */
static bool gate_defer(struct req_ctx *x)
{
	struct net_conn_info *ci = x->r.ci;
	if (ci == NULL || !ci->can_hold || ci->run_deferred || x->svc_state != SVC_READY ||
	    x->r.w->st == NULL || !ops_request_writes(&x->rq))
		return false;
	ops_hold(ci, NET_HOLD_DEFER);
	prep_stash(&x->r, &x->rq);
	return true;
}

static void gate_skew(const struct req_ctx *x)
{
	if (!x->rq.h.has_time_stamp)
		return;
	int64_t d = x->rq.h.time_stamp - x->r.now;
	if (d > OPS_SKEW_S || d < -OPS_SKEW_S)
		log_warn("kmip: request Time Stamp from %s is %lld s off our clock",
			 x->r.ci != NULL ? x->r.ci->peer : "?", (long long)d);
}

/* Who is asking: the certificate's principal, and the header's credential if any. */
static MUST_USE cf_err gate_authenticate(struct req_ctx *x)
{
	struct ops_worker *w = x->r.w;
	struct net_conn_info *ci = x->r.ci;
	cf_err rc = authz_resolve(w->svc->authz, w->svc->cfg, w->st, ci != NULL ? ci->id : NULL,
				  &x->r.who);
	if (rc == CF_OK)
		rc = authz_credential_check(w->st, &x->r.who, &x->rq.h);
	if (rc != CF_OK)
		log_warn("kmip: client not authorized from %s (%s)", ci != NULL ? ci->peer : "?",
			 x->r.who.actor);
	return rc;
}

/* Decode, then what is checked before any item runs: the version (the decoder's), deferral of
 * a write, the service state, who is asking. false when the request is answered (or deferred)
 * here: *rc says how. */
static bool gate(struct req_ctx *x, const uint8_t *req, size_t n, cf_err *rc)
{
	struct ops_worker *w = x->r.w;
	struct kmip_decode_error de;

	*rc = kmip_decode_request(req, n, &w->svc->limits, &w->arena, &x->rq, &de);
	if (*rc != CF_OK) {
		*rc = answer_decode_error(x, &de);
		return false;
	}
	x->r.ver = x->rq.h.version;
	if (gate_defer(x)) {
		*rc = CF_OK;
		return false;
	}
	gate_skew(x);
	/* service state: everything but READY answers Operation Failed */
	if (x->svc_state != SVC_READY || w->st == NULL) {
		*rc = refuse_all(x, KMIP_RESULT_REASON_GENERAL_FAILURE,
				 x->svc_state != SVC_READY ? state_msg(x->svc_state)
							   : "store unavailable");
		return false;
	}
	/* the remote audit backlog is full under [audit] on_queue_full = stop (auditfwd.h) */
	if (atomic_load_explicit(&w->svc->audit_hold, memory_order_relaxed)) {
		*rc = refuse_all(x, KMIP_RESULT_REASON_GENERAL_FAILURE,
				 "audit collector unreachable: audit queue full");
		return false;
	}
	if (gate_authenticate(x) != CF_OK) {
		*rc = refuse_all(x, KMIP_RESULT_REASON_AUTHENTICATION_NOT_SUCCESSFUL,
				 "client not authorized");
		return false;
	}
	/* the client's own source allow-list (`client allow`, docs/security.md) */
	if (!authz_source_allowed(&x->r.who, x->r.ci != NULL ? x->r.ci->peer : NULL)) {
		*rc = refuse_all(x, KMIP_RESULT_REASON_PERMISSION_DENIED,
				 "source address not allowed for this client");
		return false;
	}
	return true;
}

/* The request's transaction. A request whose items only read runs in a read snapshot without
 * the write lock; its audit records join the worker's next flush (one transaction for every
 * read of the loop turn) and its answer waits for that flush. One that writes prepares its
 * Creates, then opens its transaction (a savepoint in the loop turn's batch when deferred).
 * false when it cannot begin: *rc says how it was answered. */
static bool tx_open(struct req_ctx *x, cf_err *rc)
{
	struct ops_worker *w = x->r.w;
	struct net_conn_info *ci = x->r.ci;
	void *p;

	if ((*rc = kmip_arena_alloc(&w->arena, x->rq.n_items, sizeof *x->items, &p)) != CF_OK)
		return false;
	x->items = p;
	if ((*rc = kmip_arena_alloc(&w->arena, x->rq.n_items, sizeof *x->its, &p)) != CF_OK)
		return false;
	x->its = p;
	if (!ops_request_writes(&x->rq)) {
		*rc = store_read_tx_begin(w->st);
		x->r.audit_queue = *rc == CF_OK;
	} else {
		creates_prep(x);
		if (ci != NULL && ci->run_deferred && !w->batch_open &&
		    store_tx_begin(w->st) == CF_OK)
			w->batch_open = true; /* the request's own level is a savepoint in it */
		*rc = store_tx_begin(w->st);
	}
	if (*rc != CF_OK) {
		log_err_r(*rc, "kmip: cannot begin a store transaction");
		*rc = answer_failed(x, x->rq.n_items, KMIP_RESULT_REASON_GENERAL_FAILURE,
				    "store busy");
		return false;
	}
	x->in_tx = true;
	return true;
}

/* Item i through the table: support, role, then its handler in its own savepoint with its
 * audit record. */
static MUST_USE cf_err item_run(struct req_ctx *x, size_t i)
{
	const struct kmip_req_item *qi = &x->rq.items[i];
	const struct ops_entry *e = ops_find(qi->op);
	struct ops_item *it = &x->its[i];
	struct store *st = x->r.w->st;
	cf_err rc;

	it->rq = qi;
	it->rs = &x->items[i];
	memset(it->rs, 0, sizeof *it->rs);
	if (e == NULL || (e->states & ST_READY) == 0 || !qi->pl.typed)
		return ops_fail(it, CF_E_UNSUPPORTED_OP, KMIP_RESULT_REASON_OPERATION_NOT_SUPPORTED,
				"operation not supported");
	if (!ops_may_run(&x->r.who, e))
		return ops_fail(it, CF_E_PERMISSION, KMIP_RESULT_REASON_PERMISSION_DENIED,
				"role may not run this operation");
	TRY(store_tx_begin(st));
	it->rs->pl.op = qi->op;
	it->rs->pl.typed = true;
	x->r.item = it;
	rc = e->fn(&x->r, it);
	x->r.item = NULL;
	if (rc == CF_OK)
		rc = ops_audit(&x->r, qi->op, it->uid, 0, NULL);
	if (rc == CF_OK)
		rc = store_tx_commit(st);
	if (rc != CF_OK) {
		store_tx_rollback(st);
		return rc;
	}
	it->rs->has_op = true;
	it->rs->op = qi->op;
	it->rs->id = qi->id;
	it->rs->status = KMIP_RESULT_STATUS_SUCCESS;
	it->rs->has_payload = true;
	return CF_OK;
}

/* Item i failed with rc: its answer and its audit record. */
static void item_failed(struct req_ctx *x, size_t i, cf_err rc)
{
	struct ops_item *it = &x->its[i];
	uint32_t status, reason;
	cf_err arc;

	ops_disk_note(x->r.w, rc);
	result_for(rc, x->r.ver, &status, &reason);
	if (it->reason != 0)
		reason = it->reason;
	struct kmip_payload pl = it->rs->pl;
	item_fail(it->rs, it->rq, status, reason, it->msg != NULL ? it->msg : cf_err_str(rc));
	if (it->fail_payload) {
		it->rs->pl = pl;
		it->rs->has_payload = true;
	}
	if ((arc = ops_audit(&x->r, it->rq->op, it->uid, (int64_t)reason, it->msg)) != CF_OK)
		log_err_r(arc, "kmip: audit record failed");
}

/* The batch items in order, as the Batch Error Continuation Option says. true when a failure
 * asks to undo the batch. */
static bool items_run(struct req_ctx *x)
{
	uint32_t bec = x->rq.h.has_bec ? x->rq.h.bec : KMIP_BATCH_ERROR_CONTINUATION_OPTION_STOP;

	for (size_t i = 0; i < x->rq.n_items; i++) {
		x->n_out = i + 1;
		cf_err rc = item_run(x, i);
		if (rc == CF_OK)
			continue;
		item_failed(x, i, rc);
		if (bec == KMIP_BATCH_ERROR_CONTINUATION_OPTION_CONTINUE)
			continue;
		return bec == KMIP_BATCH_ERROR_CONTINUATION_OPTION_UNDO;
	}
	return false;
}

/* Undo: the request's transaction rolls back; the items before the failed one answer
 * Operation Undone, and every item's audit record says what happened. */
static void items_undo(struct req_ctx *x)
{
	size_t last = x->n_out - 1;

	store_tx_rollback(x->r.w->st);
	x->in_tx = false;
	for (size_t i = 0; i < last; i++) {
		item_fail(&x->items[i], &x->rq.items[i], KMIP_RESULT_STATUS_OPERATION_UNDONE, 0,
			  NULL);
		audit_best_effort(&x->r, x->rq.items[i].op, x->its[i].uid, -1, "undone");
	}
	audit_best_effort(&x->r, x->rq.items[last].op, x->its[last].uid,
			  (int64_t)x->items[last].reason, x->its[last].msg);
}

/* The answer did not encode (rc): nothing of the request commits, every item fails. */
static MUST_USE cf_err answer_unencodable(struct req_ctx *x, cf_err rc)
{
	bool too_large = rc == CF_E_NO_SPACE;
	uint32_t reason = too_large ? KMIP_RESULT_REASON_RESPONSE_TOO_LARGE
				    : KMIP_RESULT_REASON_GENERAL_FAILURE;

	if (!too_large)
		log_err_r(rc, "kmip: cannot encode the response");
	if (x->in_tx) {
		store_tx_rollback(x->r.w->st);
		x->in_tx = false;
	}
	for (size_t i = 0; i < x->n_out; i++)
		audit_best_effort(&x->r, x->rq.items[i].op, x->its[i].uid, (int64_t)reason,
				  too_large ? "response too large" : "encoding failed");
	sec_wipe(x->resp, x->cap);
	return answer_failed(x, x->n_out, reason,
			     too_large ? "response too large" : "internal error");
}

/* Commit the request's transaction; *ticket = what its answer waits for (0 = nothing). With no
 * one to hold the answer (no ci or no can_hold), the wait happens here. */
static MUST_USE cf_err tx_commit(struct req_ctx *x, uint64_t *ticket)
{
	struct ops_worker *w = x->r.w;
	struct net_conn_info *ci = x->r.ci;

	x->in_tx = false;
	cf_err rc = store_tx_commit_nowait(w->st, ticket);
	ops_cs_forget_committed(w);
	if (rc == CF_OK && x->r.audit_queue)
		*ticket = metadata_only(&x->rq) ? NET_HOLD_COMMIT : NET_HOLD_FLUSH;
	if (rc == CF_OK && *ticket != 0 && (ci == NULL || !ci->can_hold)) {
		/* no one to hold the answer: wait here */
		if (*ticket == NET_HOLD_FLUSH || *ticket == NET_HOLD_COMMIT)
			rc = ops_flush(w, ticket);
		if (rc == CF_OK)
			rc = store_ticket_wait(w->st, *ticket);
		*ticket = 0;
	}
	return rc;
}

/* Encode before committing (a response that does not fit changes nothing), then commit; the
 * answer is held until what it answers for is durable. */
static MUST_USE cf_err answer_commit(struct req_ctx *x)
{
	size_t limit = x->cap;
	uint64_t ticket = 0;
	cf_err rc;

	if (x->rq.h.has_max_response_size && x->rq.h.max_response_size > 0 &&
	    (size_t)x->rq.h.max_response_size < limit)
		limit = (size_t)x->rq.h.max_response_size;
	rc = encode(&x->rq.h.pv, x->r.ver, x->r.now, x->rq.h.client_corr, x->items, x->n_out,
		    x->resp, limit, x->resp_len);
	if (rc != CF_OK)
		return answer_unencodable(x, rc);
	if (x->in_tx && (rc = tx_commit(x, &ticket)) != CF_OK) {
		/* nothing was committed: nothing may be acknowledged */
		ops_disk_note(x->r.w, rc);
		log_err_r(rc, "kmip: commit failed");
		sec_wipe(x->resp, x->cap);
		*x->resp_len = 0;
		return answer_failed(x, x->n_out, KMIP_RESULT_REASON_GENERAL_FAILURE,
				     "store commit failed");
	}
	if (ticket != 0)
		ops_hold(x->r.ci, ticket);
	return CF_OK;
}

cf_err ops_answer_unacknowledged(struct ops_worker *w, const uint8_t *held, size_t n,
				 uint8_t *out, size_t cap, size_t *out_len)
{
	struct kmip_response m;
	ttlv_wr wr;
	cf_err rc;

	*out_len = 0;
	kmip_arena_reset(&w->arena);
	if ((rc = kmip_decode_response(held, n, &w->svc->limits, &w->arena, &m, NULL)) != CF_OK)
		goto out;
	for (size_t i = 0; i < m.n_items; i++) {
		struct kmip_rsp_item *it = &m.items[i];
		struct kmip_req_item rq = { .op = it->op, .id = it->id };
		bool has_op = it->has_op;
		item_fail(it, has_op ? &rq : NULL, KMIP_RESULT_STATUS_OPERATION_FAILED,
			  KMIP_RESULT_REASON_GENERAL_FAILURE, "store commit failed");
	}
	ttlv_wr_init(&wr, out, cap);
	if ((rc = kmip_encode_response(&wr, &m)) == CF_OK)
		*out_len = ttlv_wr_len(&wr);
out:
	kmip_arena_reset(&w->arena);
	return rc;
}

/* The hold of an answer that no phase held: one given inside the loop turn's write batch, or
 * with queued audit records, leaves once they commit. */
static MUST_USE cf_err hold_policy(struct req_ctx *x, cf_err rc)
{
	struct ops_worker *w = x->r.w;
	struct net_conn_info *ci = x->r.ci;

	if (rc != CF_OK || ci == NULL)
		return rc;
	if (w->batch_open && ci->hold == 0 && *x->resp_len > 0) {
		/* answered inside the turn's write transaction (audit records of an undo, an
		 * error): sent once that commits */
		ops_hold(ci, NET_HOLD_FLUSH);
	}
	if (x->r.audit_queue && ci->hold == 0) {
		/* an answer from an error path with queued records: they commit first */
		if (ci->can_hold) {
			ops_hold(ci, NET_HOLD_FLUSH);
		} else {
			uint64_t t = 0;
			rc = ops_flush(w, &t);
			if (rc == CF_OK)
				rc = store_ticket_wait(w->st, t);
		}
	}
	return rc;
}

static MUST_USE cf_err req_end(struct req_ctx *x, cf_err rc)
{
	struct ops_worker *w = x->r.w;

	if (x->in_tx)
		store_tx_rollback(w->st);
	rc = hold_policy(x, rc);
	sec_wipe(w->keybuf, w->keybuf_off);
	w->keybuf_off = 0;
	kmip_arena_reset(&w->arena);
	if (rc != CF_OK)
		*x->resp_len = 0;
	return rc;
}

cf_err ops_handle(struct ops_worker *w, struct net_conn_info *ci, const uint8_t *req,
		  size_t n, uint8_t *resp, size_t cap, size_t *resp_len)
{
	struct req_ctx x;
	cf_err rc;

	*resp_len = 0;
	if (w == NULL || req == NULL || resp == NULL)
		return CF_E_INVALID_ARG;
#ifdef COFFRE_IMAGE_TEST_HOOKS
	/* the console's `test hang` (test builds only): this worker stops, as one stuck in a
	 * call would; the main loop notices (svc_health_tick) and lets the watchdog fire */
	while (atomic_load(&w->svc->test_hang))
		(void)usleep(100000);
#endif
	req_begin(&x, w, ci, resp, cap, resp_len);
	if (!gate(&x, req, n, &rc))     /* decode, version, deferral, state, authentication */
		return req_end(&x, rc);
	if (!tx_open(&x, &rc))          /* read snapshot, or Creates prepared + write tx */
		return req_end(&x, rc);
	if (items_run(&x))              /* each item in its savepoint, with its audit record */
		items_undo(&x);
	rc = answer_commit(&x);         /* encode, commit, hold until durable */
	return req_end(&x, rc);         /* hold policy of the other answers, wipe */
}
