/* Attributes: conversion between the wire (struct kmip_attr) and the store (struct
 * store_attr), the attributes kept as object columns, and Add / Modify / Delete Attribute. */
#include <stdio.h>
#include <string.h>

#include "board/hex.h"
#include "firmware/ops/ops_int.h"

/* Attributes the store keeps as object columns (docs/store.md "Objects"). */
static const uint32_t column_tags[] = {
	KMIP_TAG_UNIQUE_IDENTIFIER, KMIP_TAG_OBJECT_TYPE, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM,
	KMIP_TAG_CRYPTOGRAPHIC_LENGTH, KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, KMIP_TAG_STATE,
	KMIP_TAG_INITIAL_DATE, KMIP_TAG_ACTIVATION_DATE, KMIP_TAG_DEACTIVATION_DATE,
	KMIP_TAG_DESTROY_DATE, KMIP_TAG_COMPROMISE_DATE, KMIP_TAG_COMPROMISE_OCCURRENCE_DATE,
	KMIP_TAG_LAST_CHANGE_DATE, KMIP_TAG_REVOCATION_REASON,
};
#define N_COLUMNS (sizeof column_tags / sizeof column_tags[0])

static bool is_custom(const char *s, size_t n)
{
	return n >= 2 && (s[0] == 'x' || s[0] == 'y') && s[1] == '-';
}

bool ops_attr_is_column(const char *name)
{
	for (size_t i = 0; i < N_COLUMNS; i++) {
		const char *s = kmip_tag_name(column_tags[i]);
		if (s != NULL && strcmp(s, name) == 0)
			return true;
	}
	return false;
}

static cf_err name_of(uint32_t tag, struct kmip_text vendor, struct kmip_text name,
		      char out[static STORE_NAME_MAX + 1])
{
	out[0] = '\0';
	if (tag != 0) {
		const char *s = kmip_tag_name(tag);
		if (s == NULL || strlen(s) > STORE_NAME_MAX)
			return CF_E_BAD_ATTR;
		strcpy(out, s);
		return CF_OK;
	}
	if (vendor.p != NULL) {
		if (vendor.n != 1 || (vendor.p[0] != 'x' && vendor.p[0] != 'y') || name.p == NULL ||
		    name.n == 0 || name.n > STORE_NAME_MAX - 2)
			return CF_E_BAD_ATTR;
		out[0] = vendor.p[0];
		out[1] = '-';
		memcpy(out + 2, name.p, name.n);
		out[name.n + 2] = '\0';
		return CF_OK;
	}
	if (name.p == NULL || !is_custom(name.p, name.n) || name.n > STORE_NAME_MAX)
		return CF_E_BAD_ATTR;
	memcpy(out, name.p, name.n);
	out[name.n] = '\0';
	return CF_OK;
}

cf_err ops_attr_name(const struct kmip_attr *a, char out[static STORE_NAME_MAX + 1])
{
	return name_of(a->tag, a->vendor, a->name, out);
}

cf_err ops_ref_name(const struct kmip_attr_ref *ref, char out[static STORE_NAME_MAX + 1])
{
	return name_of(ref->tag, ref->vendor, ref->name, out);
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

cf_err ops_name_value(const struct kmip_bytes *contents, struct kmip_text *out)
{
	ttlv_rd rd;
	const char *s;
	size_t n;
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;

	*out = (struct kmip_text){ 0 };
	if (contents->p == NULL)
		return CF_E_BAD_ATTR;
	ttlv_rd_init(&rd, contents->p, contents->n, &lim);
	if (ttlv_rd_text(&rd, KMIP_TAG_NAME_VALUE, &s, &n) != CF_OK)
		return CF_E_BAD_ATTR;
	*out = (struct kmip_text){ s != NULL ? s : "", n };
	return CF_OK;
}

cf_err ops_attr_to_store(struct ops_req *r, const struct kmip_attr *a, const char *name,
			 struct store_attr *sa)
{
	char *t;
	void *b;

	memset(sa, 0, sizeof *sa);
	sa->name = name;
	sa->value_type = a->type;
	switch (a->type) {
	case TTLV_INTEGER:
		if (a->val.n != 4)
			return CF_E_BAD_ATTR;
		sa->has_int = true;
		sa->v_int = (int32_t)(uint32_t)be_get(a->val.p, 4);
		return CF_OK;
	case TTLV_ENUMERATION:
	case TTLV_INTERVAL:
		if (a->val.n != 4)
			return CF_E_BAD_ATTR;
		sa->has_int = true;
		sa->v_int = (int64_t)be_get(a->val.p, 4);
		return CF_OK;
	case TTLV_LONG_INTEGER:
	case TTLV_DATE_TIME:
	case TTLV_BOOLEAN:
		if (a->val.n != 8)
			return CF_E_BAD_ATTR;
		sa->has_int = true;
		sa->v_int = (int64_t)be_get(a->val.p, 8);
		return CF_OK;
	case TTLV_TEXT_STRING:
		if (a->val.n > STORE_TEXT_MAX)
			return CF_E_TOO_LARGE;
		TRY(ops_cstr(r, (const char *)a->val.p, a->val.n, &t));
		sa->v_text = t;
		return CF_OK;
	case TTLV_BYTE_STRING:
	case TTLV_BIG_INTEGER:
	case TTLV_STRUCTURE:
		if (a->val.n > STORE_BLOB_MAX)
			return CF_E_TOO_LARGE;
		TRY(ops_dup(r, a->val.p, a->val.n, &b));
		sa->v_blob = b;
		sa->v_blob_len = a->val.n;
		if (a->type == TTLV_STRUCTURE && a->tag == KMIP_TAG_NAME) {
			struct kmip_text nv;
			TRY(ops_name_value(&a->val, &nv));
			TRY(ops_cstr(r, nv.p, nv.n, &t));
			sa->v_text = t;
		} else if (a->type == TTLV_STRUCTURE && a->tag != 0 && a->val.n <= STORE_TEXT_MAX / 2) {
			/* searchable by Locate: the contents in hex (Application Specific
			 * Information, Link, ... match when their encoding is equal) */
			void *h;
			TRY(kmip_arena_alloc(&r->w->arena, a->val.n * 2 + 1, 1, &h));
			TRY(hex_encode(a->val.p, a->val.n, HEX_LOWER, h, a->val.n * 2 + 1));
			sa->v_text = h;
		}
		return CF_OK;
	default:
		return CF_E_BAD_ATTR;
	}
}

/* Value bytes of a primitive in the arena. */
static cf_err prim(struct ops_req *r, uint8_t type, uint64_t v, struct kmip_bytes *out)
{
	size_t n = (type == TTLV_INTEGER || type == TTLV_ENUMERATION || type == TTLV_INTERVAL) ? 4 : 8;
	void *p;
	TRY(kmip_arena_alloc(&r->w->arena, 8, 1, &p));
	be_put(p, n, v);
	*out = (struct kmip_bytes){ p, n };
	return CF_OK;
}

cf_err ops_attr_from_store(struct ops_req *r, const struct store_attr *sa, struct kmip_attr *a)
{
	size_t nn = strlen(sa->name);
	char *name;

	memset(a, 0, sizeof *a);
	if (!is_custom(sa->name, nn)) {
		const struct kmip_tag_info *ti = kmip_tag_by_name(sa->name, nn);
		if (ti == NULL || kmip_attr_rule_for(ti->tag, r->ver) == NULL)
			return CF_E_BAD_ATTR; /* internal row, or not an attribute in this version */
		a->tag = ti->tag;
	}
	TRY(ops_cstr(r, sa->name, nn, &name));
	a->name = (struct kmip_text){ name, nn };
	if (r->ver < KMIP_V2_0 && sa->index > 0) {
		a->has_index = true;
		a->index = (int32_t)sa->index;
	}
	a->type = (uint8_t)sa->value_type;
	switch (sa->value_type) {
	case TTLV_INTEGER:
	case TTLV_ENUMERATION:
	case TTLV_INTERVAL:
	case TTLV_LONG_INTEGER:
	case TTLV_DATE_TIME:
	case TTLV_BOOLEAN:
		return prim(r, a->type, (uint64_t)sa->v_int, &a->val);
	case TTLV_TEXT_STRING: {
		/* copied: the store's list is freed before the response is encoded */
		size_t n = sa->v_text != NULL ? strlen(sa->v_text) : 0;
		void *p;
		TRY(ops_dup(r, sa->v_text != NULL ? sa->v_text : "", n, &p));
		a->val = (struct kmip_bytes){ p, n };
		return CF_OK;
	}
	case TTLV_BYTE_STRING:
	case TTLV_BIG_INTEGER:
	case TTLV_STRUCTURE: {
		void *p;
		TRY(ops_dup(r, sa->v_blob != NULL ? sa->v_blob : (const uint8_t *)"", sa->v_blob_len, &p));
		a->val = (struct kmip_bytes){ p, sa->v_blob_len };
		return CF_OK;
	}
	default:
		return CF_E_BAD_ATTR;
	}
}

static cf_err col_add(struct ops_req *r, uint32_t tag, uint8_t type, uint64_t v, struct kmip_attr *slot)
{
	memset(slot, 0, sizeof *slot);
	slot->tag = tag;
	slot->type = type;
	return prim(r, type, v, &slot->val);
}

cf_err ops_attr_columns(struct ops_req *r, const struct store_object *o, const char *name,
			struct kmip_attr *v, size_t cap, size_t *n)
{
	for (size_t i = 0; i < N_COLUMNS; i++) {
		uint32_t tag = column_tags[i];
		const char *tn = kmip_tag_name(tag);
		struct kmip_attr a;
		bool have = true;

		if (name != NULL && (tn == NULL || strcmp(name, tn) != 0))
			continue;
		if (kmip_attr_rule_for(tag, r->ver) == NULL)
			continue;
		switch (tag) {
		case KMIP_TAG_UNIQUE_IDENTIFIER: {
			char *u;
			TRY(ops_cstr(r, o->uid, strlen(o->uid), &u));
			kmip_attr_set_text(&a, tag, u, strlen(u));
			break;
		}
		case KMIP_TAG_OBJECT_TYPE:
			TRY(col_add(r, tag, TTLV_ENUMERATION, o->object_type, &a));
			break;
		case KMIP_TAG_STATE:
			TRY(col_add(r, tag, TTLV_ENUMERATION, o->state, &a));
			break;
		case KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM:
			have = o->crypto_alg != 0;
			if (have)
				TRY(col_add(r, tag, TTLV_ENUMERATION, o->crypto_alg, &a));
			break;
		case KMIP_TAG_CRYPTOGRAPHIC_LENGTH:
			have = o->crypto_len != 0;
			if (have)
				TRY(col_add(r, tag, TTLV_INTEGER, (uint32_t)o->crypto_len, &a));
			break;
		case KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK:
			have = o->usage_mask != 0;
			if (have)
				TRY(col_add(r, tag, TTLV_INTEGER, o->usage_mask, &a));
			break;
		case KMIP_TAG_REVOCATION_REASON: {
			uint8_t *buf;
			void *p;
			ttlv_wr w;
			size_t mlen = o->revocation_message != NULL ? strlen(o->revocation_message) : 0;
			size_t cap_b = 16 + 8 + mlen + 8;
			have = o->revocation_reason != 0;
			if (!have)
				break;
			TRY(kmip_arena_alloc(&r->w->arena, cap_b, 1, &p));
			buf = p;
			ttlv_wr_init(&w, buf, cap_b);
			TRY(ttlv_wr_enum(&w, KMIP_TAG_REVOCATION_REASON_CODE, o->revocation_reason));
			if (mlen > 0)
				TRY(ttlv_wr_text(&w, KMIP_TAG_REVOCATION_MESSAGE, o->revocation_message, mlen));
			memset(&a, 0, sizeof a);
			a.tag = tag;
			a.type = TTLV_STRUCTURE;
			a.val = (struct kmip_bytes){ buf, ttlv_wr_len(&w) };
			break;
		}
		default: {
			int64_t d = 0;
			if (tag == KMIP_TAG_INITIAL_DATE)
				d = o->created;
			else if (tag == KMIP_TAG_ACTIVATION_DATE)
				d = o->activation;
			else if (tag == KMIP_TAG_DEACTIVATION_DATE)
				d = o->deactivation;
			else if (tag == KMIP_TAG_DESTROY_DATE)
				d = o->destroyed;
			else if (tag == KMIP_TAG_COMPROMISE_DATE)
				d = o->compromise;
			else if (tag == KMIP_TAG_COMPROMISE_OCCURRENCE_DATE)
				d = o->compromise_occurrence;
			else if (tag == KMIP_TAG_LAST_CHANGE_DATE)
				d = o->last_change;
			have = d != 0;
			if (have)
				TRY(col_add(r, tag, TTLV_DATE_TIME, (uint64_t)d, &a));
			break;
		}
		}
		if (!have)
			continue;
		if (*n >= cap)
			return CF_E_TOO_MANY;
		v[(*n)++] = a;
	}
	return CF_OK;
}

/* ---- Add / Modify / Delete ------------------------------------------------------------ */

static cf_err policy(struct ops_item *it, const struct kmip_attr *a, uint32_t op, int ver)
{
	cf_err rc = kmip_attr_client_may(a, op, ver);
	if (rc == CF_E_PERMISSION)
		return ops_fail(it, CF_E_PERMISSION,
				ver >= KMIP_V2_0 ? KMIP_RESULT_REASON_ATTRIBUTE_READ_ONLY
						 : KMIP_RESULT_REASON_PERMISSION_DENIED,
				"attribute may not be changed by a client");
	if (rc != CF_OK)
		return ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD,
				"not an attribute in this version");
	return CF_OK;
}

static cf_err touch(struct ops_req *r, struct store_object *o)
{
	if (o->state == STORE_STATE_DESTROYED || o->state == STORE_STATE_DESTROYED_COMPROMISED)
		return CF_OK;
	o->last_change = r->now;
	ops_cs_forget(r); /* usage may have changed: no cached object */
	return store_object_update_state(r->w->st, o);
}

/* Activation Date / Deactivation Date: object columns a client may set. */
static cf_err set_date_column(struct ops_req *r, struct ops_item *it, struct store_object *o,
			      const struct kmip_attr *a, bool add)
{
	int64_t d;

	if (a->type != TTLV_DATE_TIME || a->val.n != 8)
		return ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD, "date expected");
	d = (int64_t)be_get(a->val.p, 8);
	if (a->tag == KMIP_TAG_ACTIVATION_DATE) {
		if (add && o->activation != 0)
			return ops_fail(it, CF_E_EXISTS, r->ver >= KMIP_V2_0 ?
					KMIP_RESULT_REASON_ATTRIBUTE_SINGLE_VALUED :
					KMIP_RESULT_REASON_INVALID_FIELD, "attribute already set");
		if (o->state != STORE_STATE_PRE_ACTIVE)
			return ops_fail(it, CF_E_STATE, 0, "activation date fixed once active");
		o->activation = d;
		if (d <= r->now)
			o->state = STORE_STATE_ACTIVE;
	} else if (a->tag == KMIP_TAG_DEACTIVATION_DATE) {
		if (add && o->deactivation != 0)
			return ops_fail(it, CF_E_EXISTS, r->ver >= KMIP_V2_0 ?
					KMIP_RESULT_REASON_ATTRIBUTE_SINGLE_VALUED :
					KMIP_RESULT_REASON_INVALID_FIELD, "attribute already set");
		if (o->state != STORE_STATE_PRE_ACTIVE && o->state != STORE_STATE_ACTIVE)
			return ops_fail(it, CF_E_STATE, 0, "object no longer active");
		o->deactivation = d;
		if (d <= r->now && o->state == STORE_STATE_ACTIVE)
			o->state = STORE_STATE_DEACTIVATED;
	} else {
		return ops_fail(it, CF_E_PERMISSION, 0, "attribute kept by the server");
	}
	return touch(r, o);
}

/* The stored instance of `name` whose value equals a's (index into *out). */
static cf_err find_instance(struct ops_req *r, const char *uid, const char *name,
			    const struct kmip_attr *a, uint32_t *index)
{
	struct store_attr_list l = { 0 };
	const char *names[1] = { name };
	cf_err rc;

	rc = store_attr_get(r->w->st, r->who.tenant, uid, names, 1, &l);
	if (rc != CF_OK)
		return rc;
	rc = CF_E_NOT_FOUND;
	for (size_t i = 0; i < l.n; i++) {
		struct kmip_attr v;
		if (ops_attr_from_store(r, &l.a[i], &v) != CF_OK)
			continue;
		if (v.type == a->type && v.val.n == a->val.n &&
		    (v.val.n == 0 || memcmp(v.val.p, a->val.p, v.val.n) == 0)) {
			*index = l.a[i].index;
			rc = CF_OK;
			break;
		}
	}
	store_attr_list_free(&l);
	return rc;
}

static uint32_t not_found_reason(int ver)
{
	return ver >= KMIP_V2_0 ? KMIP_RESULT_REASON_ATTRIBUTE_NOT_FOUND
				: KMIP_RESULT_REASON_INVALID_FIELD;
}

cf_err ops_add_attribute(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_attr_change *q = &it->rq->pl.u.attr_req;
	struct kmip_rsp_attr_change *s = &it->rs->pl.u.attr_rsp;
	struct store_object o = { 0 };
	char uid[STORE_UID_MAX + 1], name[STORE_NAME_MAX + 1];
	struct store_attr sa;
	const struct kmip_attr_rule *rule;
	uint32_t index = 0;
	cf_err rc = CF_E_INTERNAL;

	TRY(ops_uid(r, it, q->uid, uid));
	if (!q->has_new)
		return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_INVALID_FIELD, "Attribute required");
	TRY(policy(it, &q->attr, KMIP_OPERATION_ADD_ATTRIBUTE, r->ver));
	if ((rc = ops_attr_name(&q->attr, name)) != CF_OK)
		return ops_fail(it, rc, KMIP_RESULT_REASON_INVALID_FIELD, "attribute name");
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if (ops_attr_is_column(name)) {
		rc = set_date_column(r, it, &o, &q->attr, true);
		goto done;
	}
	rule = q->attr.tag != 0 ? kmip_attr_rule_for(q->attr.tag, r->ver) : kmip_attr_rule_custom();
	if (rule != NULL && (rule->flags & KMIP_AF_MULTI) == 0) {
		struct store_attr_list l = { 0 };
		const char *names[1] = { name };
		if ((rc = store_attr_get(r->w->st, r->who.tenant, uid, names, 1, &l)) != CF_OK)
			goto out;
		size_t have = l.n;
		store_attr_list_free(&l);
		if (have > 0) {
			rc = ops_fail(it, CF_E_EXISTS, r->ver >= KMIP_V2_0 ?
				      KMIP_RESULT_REASON_ATTRIBUTE_SINGLE_VALUED :
				      KMIP_RESULT_REASON_INVALID_FIELD, "attribute already set");
			goto out;
		}
	}
	if ((rc = ops_attr_to_store(r, &q->attr, name, &sa)) != CF_OK) {
		rc = ops_fail(it, rc, KMIP_RESULT_REASON_INVALID_FIELD, "attribute value");
		goto out;
	}
	if ((rc = store_attr_add(r->w->st, r->who.tenant, uid, &sa, &index)) != CF_OK)
		goto out;
	rc = touch(r, &o);
done:
	if (rc != CF_OK)
		goto out;
	if ((rc = ops_text(r, uid, &s->uid)) != CF_OK)
		goto out;
	if (r->ver < KMIP_V2_0) {
		s->has_attr = true;
		s->attr = q->attr;
		s->attr.has_index = index > 0;
		s->attr.index = (int32_t)index;
	}
out:
	store_object_free(&o);
	return rc;
}

cf_err ops_modify_attribute(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_attr_change *q = &it->rq->pl.u.attr_req;
	struct kmip_rsp_attr_change *s = &it->rs->pl.u.attr_rsp;
	struct store_object o = { 0 };
	char uid[STORE_UID_MAX + 1], name[STORE_NAME_MAX + 1];
	struct store_attr sa;
	uint32_t index = 0;
	cf_err rc = CF_E_INTERNAL;

	TRY(ops_uid(r, it, q->uid, uid));
	if (!q->has_new)
		return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_INVALID_FIELD, "Attribute required");
	TRY(policy(it, &q->attr, KMIP_OPERATION_MODIFY_ATTRIBUTE, r->ver));
	if ((rc = ops_attr_name(&q->attr, name)) != CF_OK)
		return ops_fail(it, rc, KMIP_RESULT_REASON_INVALID_FIELD, "attribute name");
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if (ops_attr_is_column(name)) {
		rc = set_date_column(r, it, &o, &q->attr, false);
		goto done;
	}
	if (q->has_current) {
		char cname[STORE_NAME_MAX + 1];
		if (ops_attr_name(&q->current, cname) != CF_OK || strcmp(cname, name) != 0) {
			rc = ops_fail(it, CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD,
				      "current and new attribute differ in name");
			goto out;
		}
		if ((rc = find_instance(r, uid, name, &q->current, &index)) != CF_OK) {
			if (rc == CF_E_NOT_FOUND)
				rc = ops_fail(it, CF_E_NOT_FOUND, not_found_reason(r->ver),
					      "attribute instance not found");
			goto out;
		}
	} else if (q->attr.has_index) {
		if (q->attr.index < 0) {
			rc = ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD, "index");
			goto out;
		}
		index = (uint32_t)q->attr.index;
	}
	if ((rc = ops_attr_to_store(r, &q->attr, name, &sa)) != CF_OK) {
		rc = ops_fail(it, rc, KMIP_RESULT_REASON_INVALID_FIELD, "attribute value");
		goto out;
	}
	rc = store_attr_modify(r->w->st, r->who.tenant, uid, name, index, &sa);
	if (rc == CF_E_NOT_FOUND) {
		rc = ops_fail(it, rc, not_found_reason(r->ver), "attribute instance not found");
		goto out;
	}
	if (rc != CF_OK)
		goto out;
	rc = touch(r, &o);
done:
	if (rc != CF_OK)
		goto out;
	if ((rc = ops_text(r, uid, &s->uid)) != CF_OK)
		goto out;
	if (r->ver < KMIP_V2_0) {
		s->has_attr = true;
		s->attr = q->attr;
		s->attr.has_index = index > 0;
		s->attr.index = (int32_t)index;
	}
out:
	store_object_free(&o);
	return rc;
}

cf_err ops_delete_attribute(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_attr_change *q = &it->rq->pl.u.attr_req;
	struct kmip_rsp_attr_change *s = &it->rs->pl.u.attr_rsp;
	struct store_object o = { 0 };
	char uid[STORE_UID_MAX + 1], name[STORE_NAME_MAX + 1];
	struct kmip_attr probe;
	uint32_t index = 0;
	bool all = false;
	cf_err rc = CF_E_INTERNAL;

	TRY(ops_uid(r, it, q->uid, uid));
	memset(&probe, 0, sizeof probe);
	if (q->has_current) {
		probe = q->current;
	} else if (q->has_ref) {
		probe.tag = q->ref.tag;
		probe.vendor = q->ref.vendor;
		probe.name = q->ref.name;
		all = r->ver >= KMIP_V2_0;
	} else if (q->has_new) {
		probe = q->attr;
	} else {
		return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_INVALID_FIELD,
				"attribute reference required");
	}
	TRY(policy(it, &probe, KMIP_OPERATION_DELETE_ATTRIBUTE, r->ver));
	if ((rc = ops_attr_name(&probe, name)) != CF_OK)
		return ops_fail(it, rc, KMIP_RESULT_REASON_INVALID_FIELD, "attribute name");
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if (q->has_current) {
		if ((rc = find_instance(r, uid, name, &q->current, &index)) != CF_OK) {
			if (rc == CF_E_NOT_FOUND)
				rc = ops_fail(it, CF_E_NOT_FOUND, not_found_reason(r->ver),
					      "attribute instance not found");
			goto out;
		}
	} else if (q->has_index) {
		if (q->index < 0) {
			rc = ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD, "index");
			goto out;
		}
		index = (uint32_t)q->index;
	}
	/* 1.x answers with the deleted attribute: read it first */
	if (r->ver < KMIP_V2_0) {
		struct store_attr_list l = { 0 };
		const char *names[1] = { name };
		bool found = false;
		if ((rc = store_attr_get(r->w->st, r->who.tenant, uid, names, 1, &l)) != CF_OK)
			goto out;
		for (size_t i = 0; i < l.n && !found; i++) {
			if (l.a[i].index != index)
				continue;
			found = ops_attr_from_store(r, &l.a[i], &s->attr) == CF_OK;
		}
		store_attr_list_free(&l);
		if (!found) {
			rc = ops_fail(it, CF_E_NOT_FOUND, not_found_reason(r->ver),
				      "attribute instance not found");
			goto out;
		}
		s->has_attr = true;
	}
	rc = store_attr_delete(r->w->st, r->who.tenant, uid, name, all ? STORE_ATTR_ALL : index);
	if (rc == CF_E_NOT_FOUND) {
		rc = ops_fail(it, rc, not_found_reason(r->ver), "attribute instance not found");
		goto out;
	}
	if (rc != CF_OK)
		goto out;
	if ((rc = touch(r, &o)) != CF_OK)
		goto out;
	rc = ops_text(r, uid, &s->uid);
out:
	store_object_free(&o);
	return rc;
}
