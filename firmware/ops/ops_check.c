/* Check (KMIP 1.4 section 4.10, 2.0 section 6.1.7): may the client use the object for the
 * given Cryptographic Usage Mask and Usage Limits Count (and Lease Time)? A read of the
 * object's metadata only; docs/kmip-server.md "Operations" says what is checked. */
#include <string.h>

#include "firmware/ops/ops_int.h"

#define ROW_USAGE_LIMITS "Usage Limits"

/* What a Deactivated or Compromised object may still be used for: processing protected data
 * (1.4 section 3.22: decryption, signature verification, unwrapping, MAC verification). */
#define PROCESS_ONLY                                                                            \
	(KMIP_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT | KMIP_CRYPTOGRAPHIC_USAGE_MASK_VERIFY |        \
	 KMIP_CRYPTOGRAPHIC_USAGE_MASK_UNWRAP_KEY | KMIP_CRYPTOGRAPHIC_USAGE_MASK_MAC_VERIFY)

/* A refusal: 1.x Permission Denied (Table 337), 2.0 the reason given; the ID Placeholder is
 * emptied, and the answer's payload holds the request's values that were refused, without the
 * Unique Identifier (4.10; the handler has set them in the response payload). */
static cf_err deny(struct ops_req *r, struct ops_item *it, uint32_t reason20, const char *msg)
{
	r->placeholder[0] = '\0';
	it->fail_payload = true;
	return ops_fail(it, CF_E_PERMISSION,
			r->ver >= KMIP_V2_0 ? reason20 : KMIP_RESULT_REASON_PERMISSION_DENIED, msg);
}

/* The units the object's Usage Limits still allow (*limited false when it has none): its
 * Usage Limits Count, else its Usage Limits Total. */
static cf_err usage_left(struct ops_req *r, const char *uid, bool *limited, int64_t *left)
{
	struct store_attr_list l = { 0 };
	const char *names[1] = { ROW_USAGE_LIMITS };
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	bool have_count = false;

	*limited = false;
	*left = 0;
	TRY(store_attr_get(r->w->st, r->who.tenant, uid, names, 1, &l));
	if (l.n > 0 && l.a[0].v_blob != NULL) {
		ttlv_rd rd;
		struct ttlv_item ti;
		ttlv_rd_init(&rd, l.a[0].v_blob, l.a[0].v_blob_len, &lim);
		while (!ttlv_rd_done(&rd) && ttlv_rd_next(&rd, &ti) == CF_OK) {
			if (ti.type != TTLV_LONG_INTEGER || ti.len != 8)
				continue;
			int64_t v = 0;
			for (size_t i = 0; i < 8; i++)
				v = (int64_t)((uint64_t)v << 8 | ti.val[i]);
			if (ti.tag == KMIP_TAG_USAGE_LIMITS_COUNT) {
				*left = v;
				have_count = *limited = true;
			} else if (ti.tag == KMIP_TAG_USAGE_LIMITS_TOTAL && !have_count) {
				*left = v;
				*limited = true;
			}
		}
	}
	store_attr_list_free(&l);
	return CF_OK;
}

/* The usage mask asked for, against the object's state and its own mask. */
static cf_err check_mask(struct ops_req *r, struct ops_item *it, const struct store_object *o,
			 uint32_t want)
{
	struct kmip_check *s = &it->rs->pl.u.check_rsp;
	s->has_mask = true; /* the value refused, if refused */
	s->usage_mask = (int32_t)want;
	if (o->state == STORE_STATE_PRE_ACTIVE)
		return deny(r, it, KMIP_RESULT_REASON_WRONG_KEY_LIFECYCLE_STATE,
			    "a Pre-Active object may not be used");
	if ((o->state == STORE_STATE_DEACTIVATED || o->state == STORE_STATE_COMPROMISED) &&
	    (want & ~(uint32_t)PROCESS_ONLY) != 0)
		return deny(r, it, KMIP_RESULT_REASON_WRONG_KEY_LIFECYCLE_STATE,
			    "the object may only process protected data in its state");
	if (o->usage_mask != 0 && (want & ~o->usage_mask) != 0)
		return deny(r, it, KMIP_RESULT_REASON_INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK,
			    "Cryptographic Usage Mask not allowed for this object");
	return CF_OK;
}

cf_err ops_check(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_check *q = &it->rq->pl.u.check_req;
	struct kmip_check *s = &it->rs->pl.u.check_rsp;
	struct store_object o = { 0 };
	char uid[STORE_UID_MAX + 1];
	cf_err rc;

	TRY(ops_uid(r, it, q->uid, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if (o.state == STORE_STATE_DESTROYED || o.state == STORE_STATE_DESTROYED_COMPROMISED) {
		/* as Get: its key material no longer exists */
		r->placeholder[0] = '\0';
		rc = ops_fail(it, CF_E_NOT_FOUND,
			      r->ver >= KMIP_V2_0 ? KMIP_RESULT_REASON_OBJECT_DESTROYED
						  : KMIP_RESULT_REASON_ITEM_NOT_FOUND,
			      "object destroyed");
		goto out;
	}
	if (q->has_mask && (rc = check_mask(r, it, &o, (uint32_t)q->usage_mask)) != CF_OK)
		goto out;
	if (q->has_count) {
		bool limited;
		int64_t left;
		if (q->usage_limits_count < 0) {
			rc = ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD,
				      "Usage Limits Count");
			goto out;
		}
		if ((rc = usage_left(r, uid, &limited, &left)) != CF_OK)
			goto out;
		if (limited && q->usage_limits_count > left) {
			s->has_count = true;
			s->usage_limits_count = q->usage_limits_count;
			rc = deny(r, it, KMIP_RESULT_REASON_USAGE_LIMIT_EXCEEDED,
				  "Usage Limits Count over the object's limit");
			goto out;
		}
	}
	/* Lease Time: what a batched Obtain Lease would grant (OPS_LEASE_SECONDS, ops_life.c) */
	if (q->has_lease && q->lease_time > OPS_LEASE_SECONDS) {
		s->has_lease = true;
		s->lease_time = q->lease_time;
		rc = deny(r, it, KMIP_RESULT_REASON_PERMISSION_DENIED,
			  "Lease Time over the server's lease policy");
		goto out;
	}
	*s = (struct kmip_check){ 0 };
	rc = ops_text(r, uid, &s->uid);
out:
	store_object_free(&o);
	return rc;
}
