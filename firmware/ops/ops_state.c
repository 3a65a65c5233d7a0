/* Activate, Revoke, Destroy: the life cycle (KMIP 1.4 section 3.22). */
#include <stdlib.h>
#include <string.h>

#include "firmware/ops/ops_int.h"

static bool is_destroyed(uint32_t st)
{
	return st == STORE_STATE_DESTROYED || st == STORE_STATE_DESTROYED_COMPROMISED;
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
		rc = ops_fail(it, CF_E_STATE, 0, "only a Pre-Active object can be activated");
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
	cf_err rc = CF_E_INTERNAL;

	TRY(ops_uid(r, it, q->uid, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	compromise = q->reason_code == KMIP_REVOCATION_REASON_CODE_KEY_COMPROMISE ||
		     q->reason_code == KMIP_REVOCATION_REASON_CODE_CA_COMPROMISE;
	if (is_destroyed(o.state) || o.state == STORE_STATE_COMPROMISED ||
	    (!compromise && o.state == STORE_STATE_DEACTIVATED)) {
		rc = ops_fail(it, CF_E_STATE, 0, "object cannot be revoked in its state");
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
	if (compromise) {
		o.state = STORE_STATE_COMPROMISED;
		o.compromise = r->now;
		o.compromise_occurrence = q->has_cod && q->compromise_date > 0 ? q->compromise_date
									   : r->now;
	} else {
		o.state = STORE_STATE_DEACTIVATED;
	}
	if (o.deactivation == 0 || o.deactivation > r->now)
		o.deactivation = r->now;
	o.revocation_reason = q->reason_code;
	free(o.revocation_message);
	o.revocation_message = msg; /* arena memory: detached again below */
	o.last_change = r->now;
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
	if (o.state == STORE_STATE_ACTIVE) {
		rc = ops_fail(it, CF_E_STATE, 0, "an Active object must be revoked first");
		goto out;
	}
	if (is_destroyed(o.state)) {
		rc = ops_fail(it, CF_E_STATE, r->ver >= KMIP_V2_0 ? KMIP_RESULT_REASON_OBJECT_DESTROYED : 0,
			      "object already destroyed");
		goto out;
	}
	if ((rc = store_object_destroy(r->w->st, r->who.tenant, uid, r->now)) != CF_OK)
		goto out;
	rc = ops_text(r, uid, &s->uid);
out:
	store_object_free(&o);
	return rc;
}
