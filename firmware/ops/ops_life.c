/* Archive, Recover, Obtain Lease, Get Usage Allocation (KMIP 1.4 sections 4.22, 4.23, 4.17,
 * 4.18; 2.0 sections 6.1.4, 6.1.38, 6.1.34, 6.1.22) and Poll, Cancel (1.4 sections 4.28, 4.27; 2.0 sections 6.1.36, 6.1.5).
 * docs/kmip-server.md "Operations" describes the behaviour.
 *
 * Archive sets the object's storage status to archival (STORE_SF_ARCHIVED, the row stays in
 * the store); until a Recover, every operation on it but Get Attributes, Get Attribute List and
 * Recover answers Object Archived (ops_object_load), and Locate finds it only when its Storage
 * Status Mask asks for archival storage (ops_locate.c).
 *
 * Coffre answers every request synchronously (the Asynchronous Indicator is read and not
 * acted upon: the server decides, 1.4 section 6.8), so no operation is ever pending: Poll of
 * any correlation value is the spec's "no outstanding operation" failure, and Cancel answers
 * Unavailable ("did not match any recently pending or completed asynchronous operations"). */
#include <string.h>

#include "firmware/ops/ops_int.h"

bool ops_serves_archived(uint32_t op)
{
	/* metadata reads answer for an archived object (its attributes stay on-line), and
	 * Recover is what brings it back */
	return op == KMIP_OPERATION_GET_ATTRIBUTES || op == KMIP_OPERATION_GET_ATTRIBUTE_LIST ||
	       op == KMIP_OPERATION_RECOVER;
}

/* Archive or Recover the item's object: load it (an archived one refused for Archive,
 * ops_object_load), set its storage status, answer its Unique Identifier. */
static cf_err storage_set(struct ops_req *r, struct ops_item *it, bool archived)
{
	const struct kmip_uid_only *q = &it->rq->pl.u.uid_req;
	struct kmip_uid_only *s = &it->rs->pl.u.uid_rsp;
	struct store_object o = { 0 };
	char uid[STORE_UID_MAX + 1];
	cf_err rc;

	TRY(ops_uid(r, it, q->uid, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if (archived)
		ops_cs_forget(r); /* no cached object of an archived key */
	if ((rc = store_object_archive(r->w->st, r->who.tenant, uid, archived)) != CF_OK)
		goto out;
	rc = ops_text(r, uid, &s->uid);
out:
	store_object_free(&o);
	return rc;
}

cf_err ops_archive(struct ops_req *r, struct ops_item *it)
{
	return storage_set(r, it, true);
}

cf_err ops_recover(struct ops_req *r, struct ops_item *it)
{
	/* an object that is on-line is recovered already: the answer says so (success) */
	return storage_set(r, it, false);
}

/* May the client be given a lease on an object in this state? A lease lets the client use
 * the object (1.4 section 3.20): Active objects, and Deactivated ones (they may still process
 * protected data, 3.22). Not Pre-Active (not usable yet), not Compromised (the OASIS test case
 * "Obtain Lease for Expired Key" refuses it: Permission Denied), not destroyed. */
static const char *lease_refusal(uint32_t state)
{
	switch (state) {
	case STORE_STATE_ACTIVE:
	case STORE_STATE_DEACTIVATED:
		return NULL;
	case STORE_STATE_PRE_ACTIVE:
		return "no lease for a Pre-Active object";
	case STORE_STATE_COMPROMISED:
		return "no lease for a Compromised object";
	default:
		return "no lease for a destroyed object";
	}
}

cf_err ops_obtain_lease(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_lease *q = &it->rq->pl.u.lease;
	struct kmip_lease *s = &it->rs->pl.u.lease;
	struct store_object o = { 0 };
	char uid[STORE_UID_MAX + 1];
	const char *no;
	cf_err rc;

	TRY(ops_uid(r, it, q->uid, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	/*= kmip-spec-v1.4 section 11.18 Table 344: the server determines that a new lease is not
	 *# permitted to be issued for the specified cryptographic object: Operation Failed,
	 *# Permission Denied (2.0 section 6.1.34.1 lists Permission Denied too). */
	if ((no = lease_refusal(o.state)) != NULL) {
		rc = ops_fail(it, CF_E_PERMISSION, KMIP_RESULT_REASON_PERMISSION_DENIED, no);
		goto out;
	}
	if ((rc = ops_text(r, uid, &s->uid)) != CF_OK)
		goto out;
	s->has_lease = true;
	s->lease_time = OPS_LEASE_SECONDS;
	s->has_last_change = true;
	s->last_change = o.last_change != 0 ? o.last_change : o.created;
out:
	store_object_free(&o);
	return rc;
}

/* The uses that apply cryptographic protection (1.4 section 4.18: "symmetric keys for
 * encryption, private keys for signing, etc."); decryption, verification and the like are not
 * limited and not allocated. */
#define PROTECT_USES                                                                            \
	(KMIP_CRYPTOGRAPHIC_USAGE_MASK_SIGN | KMIP_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT |            \
	 KMIP_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY | KMIP_CRYPTOGRAPHIC_USAGE_MASK_MAC_GENERATE |   \
	 KMIP_CRYPTOGRAPHIC_USAGE_MASK_CERTIFICATE_SIGN | KMIP_CRYPTOGRAPHIC_USAGE_MASK_CRL_SIGN)

/* May o apply protection now (ops_cs_policy: Active, its mask, before its Protect Stop Date)?
 * A refusal is 1.x Illegal Operation (1.4 Table 345: "not able to be used for applying
 * cryptographic protection"), 2.0 the policy's precise reason. */
static cf_err alloc_policy(struct ops_req *r, struct ops_item *it, const struct store_object *o,
			   const struct ops_cs_rows *k)
{
	if (o->object_type != KMIP_OBJECT_TYPE_SYMMETRIC_KEY &&
	    o->object_type != KMIP_OBJECT_TYPE_PRIVATE_KEY)
		return ops_fail(it, CF_E_BAD_OBJECT,
				r->ver >= KMIP_V2_0 ? KMIP_RESULT_REASON_INVALID_OBJECT_TYPE
						    : KMIP_RESULT_REASON_ILLEGAL_OPERATION,
				"only a symmetric or private key applies protection");
	cf_err rc = ops_cs_policy(r, it, o, PROTECT_USES, false, k);
	if (rc != CF_OK && r->ver < KMIP_V2_0 && rc != CF_E_NOT_FOUND)
		it->reason = KMIP_RESULT_REASON_ILLEGAL_OPERATION;
	return rc;
}

cf_err ops_get_usage_allocation(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_usage_alloc *q = &it->rq->pl.u.usage_alloc;
	struct kmip_usage_alloc *s = &it->rs->pl.u.usage_alloc;
	struct store_object o = { 0 };
	struct ops_cs_rows k = { 0 };
	char uid[STORE_UID_MAX + 1];
	cf_err rc;

	TRY(ops_uid(r, it, q->uid, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if ((rc = ops_cs_rows_load(r, uid, &k)) != CF_OK)
		goto out;
	if ((rc = alloc_policy(r, it, &o, &k)) != CF_OK)
		goto out;
	if (k.limits == NULL) {
		rc = ops_fail(it, CF_E_BAD_ATTR,
			      r->ver >= KMIP_V2_0 ? KMIP_RESULT_REASON_ATTRIBUTE_NOT_FOUND
						  : KMIP_RESULT_REASON_ILLEGAL_OPERATION,
			      "the object has no Usage Limits");
		goto out;
	}
	/*= kmip-spec-v1.4 section 4.18: The server SHALL assume that the entire allocated amount
	 *# is going to be consumed. */
	if ((rc = ops_cs_limits_take_units(r, it, uid, k.limits, q->count)) != CF_OK)
		goto out;
	rc = ops_text(r, uid, &s->uid);
out:
	store_attr_list_free(&k.l);
	store_object_free(&o);
	return rc;
}

cf_err ops_poll(struct ops_req *r, struct ops_item *it)
{
	/*= kmip-spec-v1.4 section 11.29 Table 352: No outstanding operation with the specified
	 *# Asynchronous Correlation Value exists: Operation Failed, Item Not Found. 2.0 section
	 *# 6.1.36.1: Invalid Asynchronous Correlation Value. */
	return ops_fail(it, CF_E_NOT_FOUND,
			r->ver >= KMIP_V2_0
				? KMIP_RESULT_REASON_INVALID_ASYNCHRONOUS_CORRELATION_VALUE
				: KMIP_RESULT_REASON_ITEM_NOT_FOUND,
			"no outstanding asynchronous operation: requests are answered synchronously");
}

cf_err ops_cancel(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_async *q = &it->rq->pl.u.async;
	struct kmip_async *s = &it->rs->pl.u.async;
	void *p;

	/*= kmip-spec-v1.4 section 4.27: Unavailable - The specified correlation value did not
	 *# match any recently pending or completed asynchronous operations. */
	TRY(ops_dup(r, q->corr.p, q->corr.n, &p));
	s->corr = (struct kmip_bytes){ p, q->corr.n };
	s->has_result = true;
	s->cancel_result = KMIP_CANCELLATION_RESULT_UNAVAILABLE;
	return CF_OK;
}
