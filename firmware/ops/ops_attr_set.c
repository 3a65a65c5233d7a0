/* The KMIP 2.0 attribute operations that add or modify as the object stands: Set Attribute
 * (2.0 section 6.1.47) and Adjust Attribute (6.1.3). Both end in Add Attribute (the object has
 * no instance) or Modify Attribute of the one instance (ops_attr.c), so the client policy,
 * the column-backed dates and the answers stay those operations'; more than one instance is
 * Multi Valued Attribute. */
#include <string.h>

#include "firmware/ops/ops_int.h"

#define INSTANCE_NONE UINT32_MAX

/* The index of the one instance of `name` (INSTANCE_NONE when there is none), its value in
 * *cur when cur != NULL. More than one: Multi Valued Attribute. */
static cf_err one_instance(struct ops_req *r, struct ops_item *it, const struct store_object *o,
			   const char *name, uint32_t *index, struct kmip_attr *cur)
{
	struct store_attr_list l = { 0 };
	const char *names[1] = { name };
	cf_err rc = CF_OK;

	*index = INSTANCE_NONE;
	if (ops_attr_is_column(name)) {
		struct kmip_attr v[1];
		size_t n = 0;
		TRY(ops_attr_columns(r, o, name, v, 1, &n));
		if (n == 1) {
			*index = 0;
			if (cur != NULL)
				*cur = v[0];
		}
		return CF_OK;
	}
	TRY(store_attr_get(r->w->st, r->who.tenant, o->uid, names, 1, &l));
	if (l.n > 1) {
		rc = ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_MULTI_VALUED_ATTRIBUTE,
			      "attribute has more than one instance");
	} else if (l.n == 1) {
		*index = l.a[0].index;
		if (cur != NULL && ops_attr_from_store(r, &l.a[0], cur) != CF_OK)
			rc = ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD,
				      "attribute value");
	}
	store_attr_list_free(&l);
	return rc;
}

/* Add a (no instance) or replace the instance `index` by a: through Add / Modify Attribute
 * with the item's request rewritten to that operation's form. */
static cf_err add_or_modify(struct ops_req *r, struct ops_item *it, const struct kmip_attr *a,
			    uint32_t index)
{
	struct kmip_req_item rq = *it->rq;
	struct ops_item sub = *it;
	struct kmip_req_attr_change *q = &rq.pl.u.attr_req;
	cf_err rc;

	*q = (struct kmip_req_attr_change){ .uid = it->rq->pl.u.attr_req.uid, .has_new = true,
					    .attr = *a };
	q->attr.has_index = index != INSTANCE_NONE && index > 0;
	q->attr.index = q->attr.has_index ? (int32_t)index : 0;
	sub.rq = &rq;
	rc = index == INSTANCE_NONE ? ops_add_attribute(r, &sub) : ops_modify_attribute(r, &sub);
	it->msg = sub.msg;
	/* Set and Adjust name it Read Only Attribute (2.0 Tables 157, 298), Modify Attribute
	 * Read Only */
	it->reason = sub.reason == KMIP_RESULT_REASON_ATTRIBUTE_READ_ONLY
			     ? KMIP_RESULT_REASON_READ_ONLY_ATTRIBUTE : sub.reason;
	memcpy(it->uid, sub.uid, sizeof it->uid);
	return rc;
}

cf_err ops_set_attribute(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_attr_change *q = &it->rq->pl.u.attr_req;
	struct store_object o = { 0 };
	char uid[STORE_UID_MAX + 1], name[STORE_NAME_MAX + 1];
	uint32_t index;
	cf_err rc;

	TRY(ops_uid(r, it, q->uid, uid));
	if (!q->has_new)
		return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_INVALID_FIELD,
				"New Attribute required");
	if ((rc = ops_attr_name(&q->attr, name)) != CF_OK)
		return ops_fail(it, rc, KMIP_RESULT_REASON_INVALID_FIELD, "attribute name");
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if ((rc = one_instance(r, it, &o, name, &index, NULL)) != CF_OK)
		goto out;
	rc = add_or_modify(r, it, &q->attr, index);
out:
	store_object_free(&o);
	return rc;
}

static uint64_t be_get(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void be_put(uint8_t *p, size_t n, uint64_t v)
{
	for (size_t i = n; i > 0; i--) {
		p[i - 1] = (uint8_t)v;
		v >>= 8;
	}
}

/* The signed step of an Adjustment Value (default 1: one unit, one second for a date). */
static bool adjust_step(const struct kmip_req_attr_change *q, int64_t *step)
{
	*step = 1;
	if (!q->has_adjust_value)
		return true;
	switch (q->adjust_vtype) {
	case TTLV_INTEGER:
		if (q->adjust_value.n != 4)
			return false;
		*step = (int32_t)(uint32_t)be_get(q->adjust_value.p, 4);
		return true;
	case TTLV_INTERVAL:
		if (q->adjust_value.n != 4)
			return false;
		*step = (int64_t)be_get(q->adjust_value.p, 4);
		return true;
	case TTLV_LONG_INTEGER:
	case TTLV_DATE_TIME:
		if (q->adjust_value.n != 8)
			return false;
		*step = (int64_t)be_get(q->adjust_value.p, 8);
		return true;
	default:
		return false;
	}
}

/* a's value adjusted in place (its bytes are the arena's). Integer / Interval: 32 bits, Long
 * Integer / Date-Time: 64 bits, Boolean: Negate only; a result out of the type's range is
 * Numeric Range. */
static cf_err adjust_value(struct ops_item *it, const struct kmip_req_attr_change *q,
			   struct kmip_attr *a)
{
	int64_t step, v, lo, hi;
	size_t n = a->type == TTLV_INTEGER || a->type == TTLV_INTERVAL ? 4 : 8;
	bool neg = q->adjust_type == KMIP_ADJUSTMENT_TYPE_NEGATE;

	if (q->adjust_type < KMIP_ADJUSTMENT_TYPE_INCREMENT || q->adjust_type > KMIP_ADJUSTMENT_TYPE_NEGATE ||
	    !adjust_step(q, &step))
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD, "adjustment");
	if (a->type != TTLV_INTEGER && a->type != TTLV_INTERVAL && a->type != TTLV_LONG_INTEGER &&
	    a->type != TTLV_DATE_TIME && a->type != TTLV_BOOLEAN)
		return ops_fail(it, CF_E_BAD_TYPE, KMIP_RESULT_REASON_INVALID_DATA_TYPE,
				"attribute type cannot be adjusted");
	if (a->val.n != n)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD, "attribute value");
	switch (a->type) {
	case TTLV_INTEGER:
		v = (int32_t)(uint32_t)be_get(a->val.p, 4), lo = INT32_MIN, hi = INT32_MAX;
		break;
	case TTLV_INTERVAL:
		v = (int64_t)be_get(a->val.p, 4), lo = 0, hi = UINT32_MAX;
		break;
	case TTLV_LONG_INTEGER:
	case TTLV_DATE_TIME:
		v = (int64_t)be_get(a->val.p, 8), lo = INT64_MIN, hi = INT64_MAX;
		break;
	case TTLV_BOOLEAN:
		if (!neg)
			return ops_fail(it, CF_E_BAD_TYPE, KMIP_RESULT_REASON_INVALID_DATA_TYPE,
					"a Boolean can only be negated");
		be_put((uint8_t *)a->val.p, 8, be_get(a->val.p, 8) == 0 ? 1 : 0);
		return CF_OK;
	default:
		return ops_fail(it, CF_E_BAD_TYPE, KMIP_RESULT_REASON_INVALID_DATA_TYPE,
				"attribute type cannot be adjusted");
	}
	if (neg && (a->type == TTLV_INTERVAL || a->type == TTLV_DATE_TIME))
		return ops_fail(it, CF_E_BAD_TYPE, KMIP_RESULT_REASON_INVALID_DATA_TYPE,
				"intervals and dates cannot be negated");
	bool over;
	if (neg) {
		over = v == INT64_MIN;
		v = over ? v : -v;
	} else {
		if (q->adjust_type == KMIP_ADJUSTMENT_TYPE_DECREMENT)
			over = __builtin_sub_overflow(v, step, &v);
		else
			over = __builtin_add_overflow(v, step, &v);
	}
	if (over || v < lo || v > hi)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_NUMERIC_RANGE,
				"adjusted value out of range");
	be_put((uint8_t *)a->val.p, n, (uint64_t)v);
	return CF_OK;
}

/* The value an attribute without an instance starts from: 0 (false), of the attribute's
 * type (a custom attribute: the Adjustment Value's, Integer without one). */
static cf_err zero_value(struct ops_req *r, struct ops_item *it,
			 const struct kmip_req_attr_change *q, struct kmip_attr *a)
{
	uint8_t type = q->ref.tag != 0 ? kmip_tag_type(q->ref.tag, r->ver)
		       : q->has_adjust_value ? q->adjust_vtype : TTLV_INTEGER;
	size_t n = type == TTLV_INTEGER || type == TTLV_INTERVAL ? 4 : 8;
	void *p;

	memset(a, 0, sizeof *a);
	a->tag = q->ref.tag;
	a->vendor = q->ref.vendor;
	a->name = q->ref.name;
	a->type = type;
	if (type != TTLV_INTEGER && type != TTLV_INTERVAL && type != TTLV_LONG_INTEGER &&
	    type != TTLV_DATE_TIME && type != TTLV_BOOLEAN)
		return ops_fail(it, CF_E_BAD_TYPE, KMIP_RESULT_REASON_INVALID_DATA_TYPE,
				"attribute type cannot be adjusted");
	TRY(kmip_arena_alloc(&r->w->arena, 8, 1, &p));
	a->val = (struct kmip_bytes){ p, n };
	return CF_OK;
}

cf_err ops_adjust_attribute(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_attr_change *q = &it->rq->pl.u.attr_req;
	struct store_object o = { 0 };
	char uid[STORE_UID_MAX + 1], name[STORE_NAME_MAX + 1];
	struct kmip_attr a;
	uint32_t index;
	void *p;
	cf_err rc;

	TRY(ops_uid(r, it, q->uid, uid));
	if (!q->has_ref)
		return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_INVALID_FIELD,
				"Attribute Reference required");
	if ((rc = ops_ref_name(&q->ref, name)) != CF_OK)
		return ops_fail(it, rc, KMIP_RESULT_REASON_INVALID_FIELD, "attribute name");
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if ((rc = one_instance(r, it, &o, name, &index, &a)) != CF_OK)
		goto out;
	/* the client policy before the value: a read-only attribute is Read Only Attribute */
	struct kmip_attr probe = { .tag = q->ref.tag, .vendor = q->ref.vendor, .name = q->ref.name };
	rc = kmip_attr_client_may(&probe, index == INSTANCE_NONE ? KMIP_OPERATION_ADD_ATTRIBUTE
								: KMIP_OPERATION_MODIFY_ATTRIBUTE, r->ver);
	if (rc != CF_OK) {
		rc = ops_fail(it, rc == CF_E_PERMISSION ? CF_E_PERMISSION : CF_E_BAD_ATTR,
			      rc == CF_E_PERMISSION ? KMIP_RESULT_REASON_READ_ONLY_ATTRIBUTE
						    : KMIP_RESULT_REASON_INVALID_FIELD,
			      "attribute may not be adjusted by a client");
		goto out;
	}
	if (index == INSTANCE_NONE) {
		if ((rc = zero_value(r, it, q, &a)) != CF_OK)
			goto out;
	} else {
		/* a private copy: the adjustment writes into it */
		if ((rc = ops_dup(r, a.val.p, a.val.n, &p)) != CF_OK)
			goto out;
		a.val.p = p;
		a.tag = q->ref.tag;
		a.vendor = q->ref.vendor;
		a.name = q->ref.name;
		a.has_index = false;
	}
	if ((rc = adjust_value(it, q, &a)) != CF_OK)
		goto out;
	rc = add_or_modify(r, it, &a, index);
out:
	store_object_free(&o);
	return rc;
}
