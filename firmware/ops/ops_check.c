/* Check (KMIP 1.4 section 4.10): may the client use the object as the request says? The
 * policy coffred has: the object's Cryptographic Usage Mask (a mask asking for more is
 * refused), its lease policy (OPS_LEASE_SECONDS: a longer Lease Time is refused), no usage
 * limits (any Usage Limits Count passes), and a destroyed object cannot be used. A refusal
 * empties the ID Placeholder and answers Permission Denied naming what was refused. */
#include <string.h>

#include "firmware/ops/ops_int.h"

static bool destroyed(const struct store_object *o)
{
	return o->state == STORE_STATE_DESTROYED || o->state == STORE_STATE_DESTROYED_COMPROMISED;
}

cf_err ops_check(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_check *q = &it->rq->pl.u.check;
	struct kmip_check *s = &it->rs->pl.u.check;
	struct store_object o = { 0 };
	char uid[STORE_UID_MAX + 1];
	const char *deny = NULL;
	cf_err rc;

	TRY(ops_uid(r, it, q->uid, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if (destroyed(&o))
		deny = "Check: the object is destroyed";
	else if (q->has_mask && o.usage_mask != 0 &&
		 ((uint32_t)q->usage_mask & ~o.usage_mask) != 0)
		deny = "Check: Cryptographic Usage Mask not allowed for this object";
	else if (q->has_lease && q->lease_time > OPS_LEASE_SECONDS)
		deny = "Check: Lease Time longer than the server grants";
	if (deny != NULL) {
		/* 1.4 section 4.10: the server empties the ID Placeholder on a refusal */
		r->placeholder[0] = '\0';
		rc = ops_fail(it, CF_E_PERMISSION, KMIP_RESULT_REASON_PERMISSION_DENIED, deny);
		goto out;
	}
	rc = ops_text(r, uid, &s->uid);
out:
	store_object_free(&o);
	return rc;
}
