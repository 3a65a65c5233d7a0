/* Activate, Revoke, Destroy: the life cycle (KMIP 1.4 / 2.0 section 3.22 / 4.57 "State"; the
 * transitions and refusals are tabled in docs/kmip-server.md "Life cycle"). Only the
 * transitions of the diagram are permitted; any other request answers Permission Denied in
 * 1.x (the 1.4 error tables of Activate and Destroy) and Wrong Key Lifecycle State in 2.0,
 * except that a request refused because the object is destroyed answers Object Destroyed in
 * 2.0. */
#include <stdlib.h>
#include <string.h>

#include "firmware/ops/ops_int.h"

static bool is_destroyed(uint32_t st)
{
	return st == STORE_STATE_DESTROYED || st == STORE_STATE_DESTROYED_COMPROMISED;
}

/* A transition the diagram does not have: Permission Denied (1.x), Wrong Key Lifecycle State
 * (2.0), or Object Destroyed (2.0) when the object is destroyed. */
static cf_err refuse_state(struct ops_req *r, struct ops_item *it, uint32_t st, const char *msg)
{
	uint32_t reason = r->ver >= KMIP_V2_0 && is_destroyed(st) ? KMIP_RESULT_REASON_OBJECT_DESTROYED
								   : 0;
	return ops_fail(it, CF_E_STATE, reason, is_destroyed(st) ? "object destroyed" : msg);
}

/* Revoke's new state from st, or 0 when the diagram has no such transition: with a
 * compromise reason Pre-Active / Active / Deactivated -> Compromised (transitions 3, 5, 8) and
 * Destroyed -> Destroyed Compromised (10); with any other reason Active -> Deactivated (6). */
static uint32_t revoke_to(uint32_t st, bool compromise)
{
	if (!compromise)
		return st == STORE_STATE_ACTIVE ? STORE_STATE_DEACTIVATED : 0;
	switch (st) {
	case STORE_STATE_PRE_ACTIVE:
	case STORE_STATE_ACTIVE:
	case STORE_STATE_DEACTIVATED:
		return STORE_STATE_COMPROMISED;
	case STORE_STATE_DESTROYED:
		return STORE_STATE_DESTROYED_COMPROMISED;
	default:
		return 0;
	}
}

cf_err ops_activate(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_uid_only *q = &it->rq->pl.u.uid_req;
	struct kmip_uid_only *s = &it->rs->pl.u.uid_rsp;
	struct store_object o = { 0 };
	char uid[STORE_UID_MAX + 1];
	cf_err rc = CF_E_INTERNAL;

	TRY(ops_uid(r, it, q->uid, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if (o.state != STORE_STATE_PRE_ACTIVE) {
		rc = refuse_state(r, it, o.state, "only a Pre-Active object can be activated");
		goto out;
	}
	o.state = STORE_STATE_ACTIVE;
	o.activation = r->now;
	o.last_change = r->now;
	if ((rc = store_object_update_state(r->w->st, &o)) != CF_OK)
		goto out;
	rc = ops_text(r, uid, &s->uid);
out:
	store_object_free(&o);
	return rc;
}

cf_err ops_revoke(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_revoke *q = &it->rq->pl.u.revoke_req;
	struct kmip_uid_only *s = &it->rs->pl.u.uid_rsp;
	struct store_object o = { 0 };
	char uid[STORE_UID_MAX + 1];
	char *msg = NULL;
	bool compromise;
	uint32_t to;
	cf_err rc = CF_E_INTERNAL;

	TRY(ops_uid(r, it, q->uid, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	compromise = q->reason_code == KMIP_REVOCATION_REASON_CODE_KEY_COMPROMISE ||
		     q->reason_code == KMIP_REVOCATION_REASON_CODE_CA_COMPROMISE;
	if ((to = revoke_to(o.state, compromise)) == 0) {
		rc = refuse_state(r, it, o.state, compromise ? "object already compromised"
							     : "only an Active object can be revoked "
							       "for a reason other than a compromise");
		goto out;
	}
	if (q->reason_msg.p != NULL) {
		if (q->reason_msg.n > STORE_TEXT_MAX) {
			rc = ops_fail(it, CF_E_TOO_LARGE, KMIP_RESULT_REASON_INVALID_FIELD,
				      "Revocation Message too long");
			goto out;
		}
		if ((rc = ops_cstr(r, q->reason_msg.p, q->reason_msg.n, &msg)) != CF_OK)
			goto out;
	}
	o.state = to;
	if (compromise) {
		/* the occurrence date defaults to the Initial Date (4.20: SHOULD) */
		o.compromise = r->now;
		o.compromise_occurrence = q->has_cod && q->compromise_date > 0 ? q->compromise_date
									   : o.created;
	} else {
		o.deactivation = r->now;
	}
	o.revocation_reason = q->reason_code;
	free(o.revocation_message);
	o.revocation_message = msg; /* arena memory: detached again below */
	o.last_change = r->now;
	ops_cs_forget(r); /* no cached object of a revoked key */
	rc = store_object_update_state(r->w->st, &o);
	o.revocation_message = NULL;
	if (rc != CF_OK)
		goto out;
	rc = ops_text(r, uid, &s->uid);
out:
	store_object_free(&o);
	return rc;
}

cf_err ops_destroy(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_uid_only *q = &it->rq->pl.u.uid_req;
	struct kmip_uid_only *s = &it->rs->pl.u.uid_rsp;
	struct store_object o = { 0 };
	char uid[STORE_UID_MAX + 1];
	cf_err rc = CF_E_INTERNAL;

	TRY(ops_uid(r, it, q->uid, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if (o.state == STORE_STATE_ACTIVE || is_destroyed(o.state)) {
		/* 1.4 Table 348: Permission Denied for both; 2.0: Wrong Key Lifecycle State /
		 * Object Destroyed */
		rc = refuse_state(r, it, o.state, "an Active object must be revoked first");
		goto out;
	}
	ops_cs_forget(r); /* nor of a destroyed one */
	if ((rc = store_object_destroy(r->w->st, r->who.tenant, uid, r->now)) != CF_OK)
		goto out;
	rc = ops_text(r, uid, &s->uid);
out:
	store_object_free(&o);
	return rc;
}
