/* Object lifecycle and asynchronous-operation payloads: Obtain Lease (struct kmip_lease),
 * Get Usage Allocation (struct kmip_usage_alloc), Poll and Cancel (struct kmip_async). Archive and Recover carry a Unique Identifier only
 * (struct kmip_uid_only, kmip_payload.c).
 *
 *= kmip-spec-v1.4 section 4.17 Tables 206-207 (Obtain Lease), 4.18 Tables 208-209 (Get
 *# Usage Allocation), 4.27 Tables 226-227 (Cancel), 4.28 Table 228 (Poll); 2.0 sections 6.1.34,
 *# 6.1.22, 6.1.5, 6.1.36: the same fields in both.
 *
 * Obtain Lease request: [Unique Identifier]; response: Unique Identifier, Lease Time, Last
 * Change Date, all three required. Get Usage Allocation request: [Unique Identifier], Usage
 * Limits Count (required, >= 0); response: Unique Identifier (required). Cancel request: Asynchronous Correlation Value; response:
 * Asynchronous Correlation Value, Cancellation Result, both required. Poll request:
 * Asynchronous Correlation Value. A Poll response carries the polled operation's own payload,
 * so it has no form of its own: it stays untyped (kmip_payload.c validates it by the generic
 * walk). A required field missing is CF_E_MISSING on decode and on encode. */
#include "kmip/kmip_msg_int.h"

#define T(name) KMIP_TAG_##name

bool kmip_op_life(uint32_t op)
{
	return op == KMIP_OPERATION_OBTAIN_LEASE || op == KMIP_OPERATION_GET_USAGE_ALLOCATION ||
	       op == KMIP_OPERATION_POLL || op == KMIP_OPERATION_CANCEL;
}

/* ---- decode --------------------------------------------------------------------------- */

static cf_err kd_lease(struct kd *c, ttlv_rd *r, bool response, struct kmip_lease *p)
{
	TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), response, &p->uid));
	if (!response)
		return CF_OK;
	TRY(kd_interval(c, r, T(LEASE_TIME), true, &p->has_lease, &p->lease_time));
	return kd_datetime(c, r, T(LAST_CHANGE_DATE), true, &p->has_last_change, &p->last_change);
}

static cf_err kd_usage_alloc(struct kd *c, ttlv_rd *r, bool response,
			     struct kmip_usage_alloc *p)
{
	size_t at;

	TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), response, &p->uid));
	if (response)
		return CF_OK;
	at = r->off;
	TRY(kd_long(c, r, T(USAGE_LIMITS_COUNT), true, &p->has_count, &p->count));
	return p->count < 0 ? kd_fail(c, r, at, CF_E_BAD_VALUE) : CF_OK;
}

static cf_err kd_async(struct kd *c, ttlv_rd *r, uint32_t op, bool response,
		       struct kmip_async *p)
{
	TRY(kd_bytes(c, r, T(ASYNCHRONOUS_CORRELATION_VALUE), true, &p->corr));
	if (op != KMIP_OPERATION_CANCEL || !response)
		return CF_OK;
	return kd_enum(c, r, T(CANCELLATION_RESULT), true, &p->has_result, &p->cancel_result);
}

cf_err kd_life_payload(struct kd *c, ttlv_rd *r, bool response, struct kmip_payload *pl)
{
	if (pl->op == KMIP_OPERATION_OBTAIN_LEASE)
		return kd_lease(c, r, response, &pl->u.lease);
	if (pl->op == KMIP_OPERATION_GET_USAGE_ALLOCATION)
		return kd_usage_alloc(c, r, response, &pl->u.usage_alloc);
	if (pl->op == KMIP_OPERATION_CANCEL || (pl->op == KMIP_OPERATION_POLL && !response))
		return kd_async(c, r, pl->op, response, &pl->u.async);
	return CF_E_INTERNAL;
}

/* ---- encode --------------------------------------------------------------------------- */

static cf_err ke_lease(ttlv_wr *w, bool response, const struct kmip_lease *p)
{
	if (!response)
		return ke_text(w, T(UNIQUE_IDENTIFIER), p->uid);
	if (p->uid.p == NULL || !p->has_lease || !p->has_last_change)
		return CF_E_MISSING;
	TRY(ke_text(w, T(UNIQUE_IDENTIFIER), p->uid));
	TRY(ttlv_wr_interval(w, T(LEASE_TIME), p->lease_time));
	return ttlv_wr_datetime(w, T(LAST_CHANGE_DATE), p->last_change);
}

static cf_err ke_usage_alloc(ttlv_wr *w, bool response, const struct kmip_usage_alloc *p)
{
	if (response)
		return p->uid.p != NULL ? ke_text(w, T(UNIQUE_IDENTIFIER), p->uid) : CF_E_MISSING;
	if (!p->has_count)
		return CF_E_MISSING;
	if (p->count < 0)
		return CF_E_BAD_VALUE;
	TRY(ke_text(w, T(UNIQUE_IDENTIFIER), p->uid));
	return ttlv_wr_long(w, T(USAGE_LIMITS_COUNT), p->count);
}

static cf_err ke_async(ttlv_wr *w, uint32_t op, bool response, const struct kmip_async *p,
		       int ver)
{
	bool cancel_rsp = op == KMIP_OPERATION_CANCEL && response;

	if (p->corr.p == NULL || (cancel_rsp && !p->has_result))
		return CF_E_MISSING;
	TRY(ke_bytes(w, T(ASYNCHRONOUS_CORRELATION_VALUE), p->corr));
	return cancel_rsp ? ke_enum(w, T(CANCELLATION_RESULT), p->cancel_result, ver) : CF_OK;
}

cf_err ke_life_payload(ttlv_wr *w, const struct kmip_payload *pl, bool response, int ver)
{
	if (pl->op == KMIP_OPERATION_OBTAIN_LEASE)
		return ke_lease(w, response, &pl->u.lease);
	if (pl->op == KMIP_OPERATION_GET_USAGE_ALLOCATION)
		return ke_usage_alloc(w, response, &pl->u.usage_alloc);
	if (pl->op == KMIP_OPERATION_CANCEL || (pl->op == KMIP_OPERATION_POLL && !response))
		return ke_async(w, pl->op, response, &pl->u.async, ver);
	return CF_E_INTERNAL;
}
