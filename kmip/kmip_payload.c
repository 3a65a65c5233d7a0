/* Per-operation request and response payloads (KMIP 1.4 section 4, 2.0 section 6).
 * Fields are read in the order the specification requires ("All fields SHALL appear in the
 * order specified", 2.0 section 8); a field out of place, repeated or unknown is an error.
 * Fields a version lacks are neither accepted on decode nor emitted on encode. */
#include "kmip/kmip_msg_int.h"

#include <string.h>

#define T(name) KMIP_TAG_##name

bool kmip_op_typed(uint32_t op)
{
	switch (op) {
	case KMIP_OPERATION_DISCOVER_VERSIONS:
	case KMIP_OPERATION_QUERY:
	case KMIP_OPERATION_CREATE:
	case KMIP_OPERATION_REGISTER:
	case KMIP_OPERATION_RE_KEY:
	case KMIP_OPERATION_GET:
	case KMIP_OPERATION_GET_ATTRIBUTES:
	case KMIP_OPERATION_GET_ATTRIBUTE_LIST:
	case KMIP_OPERATION_ADD_ATTRIBUTE:
	case KMIP_OPERATION_MODIFY_ATTRIBUTE:
	case KMIP_OPERATION_DELETE_ATTRIBUTE:
	case KMIP_OPERATION_SET_ATTRIBUTE:
	case KMIP_OPERATION_ADJUST_ATTRIBUTE:
	case KMIP_OPERATION_CHECK:
	case KMIP_OPERATION_LOCATE:
	case KMIP_OPERATION_ACTIVATE:
	case KMIP_OPERATION_REVOKE:
	case KMIP_OPERATION_DESTROY:
	case KMIP_OPERATION_CREATE_KEY_PAIR:
	case KMIP_OPERATION_RE_KEY_KEY_PAIR:
	case KMIP_OPERATION_ARCHIVE:
	case KMIP_OPERATION_RECOVER:
		return true;
	default:
		return kmip_op_crypto(op) || kmip_op_life(op) || kmip_op_split(op) ||
		       kmip_op_cert(op);
	}
}

/* Query response fields after Application Namespace, in spec order. */
static const uint32_t query_rest_tags[] = {
	T(EXTENSION_INFORMATION), T(ATTESTATION_TYPE), T(RNG_PARAMETERS), T(PROFILE_INFORMATION),
	T(VALIDATION_INFORMATION), T(CAPABILITY_INFORMATION), T(CLIENT_REGISTRATION_METHOD),
	T(DEFAULTS_INFORMATION), T(PROTECTION_STORAGE_MASKS),
};

/* ---- decode --------------------------------------------------------------------------- */

static cf_err kd_versions(struct kd *c, ttlv_rd *r, struct kmip_pv **v, size_t *n)
{
	size_t cnt = kd_count(r, T(PROTOCOL_VERSION));
	void *p;

	*v = NULL;
	*n = 0;
	TRY(kd_alloc(c, r, cnt, c->lim->max_attributes, sizeof(struct kmip_pv), &p));
	*v = p;
	for (size_t i = 0; i < cnt; i++) {
		ttlv_rd ch;
		TRY(kd_open(c, r, T(PROTOCOL_VERSION), &ch));
		TRY(kd_int(c, &ch, T(PROTOCOL_VERSION_MAJOR), true, NULL, &(*v)[i].major));
		TRY(kd_int(c, &ch, T(PROTOCOL_VERSION_MINOR), true, NULL, &(*v)[i].minor));
		TRY(kd_end(c, &ch));
	}
	*n = cnt;
	return CF_OK;
}

static cf_err kd_enums(struct kd *c, ttlv_rd *r, uint32_t tag, uint32_t **v, size_t *n)
{
	size_t cnt = kd_count(r, tag);
	void *p;

	*v = NULL;
	*n = 0;
	TRY(kd_alloc(c, r, cnt, c->lim->max_attributes, sizeof(uint32_t), &p));
	*v = p;
	for (size_t i = 0; i < cnt; i++)
		TRY(kd_enum(c, r, tag, true, NULL, &(*v)[i]));
	*n = cnt;
	return CF_OK;
}

static cf_err kd_texts(struct kd *c, ttlv_rd *r, uint32_t tag, struct kmip_text **v, size_t *n)
{
	size_t cnt = kd_count(r, tag);
	void *p;

	*v = NULL;
	*n = 0;
	TRY(kd_alloc(c, r, cnt, c->lim->max_attributes, sizeof(struct kmip_text), &p));
	*v = p;
	for (size_t i = 0; i < cnt; i++)
		TRY(kd_text(c, r, tag, true, &(*v)[i]));
	*n = cnt;
	return CF_OK;
}

static cf_err kd_query_rsp(struct kd *c, ttlv_rd *r, struct kmip_rsp_query *q)
{
	size_t start;

	TRY(kd_enums(c, r, T(OPERATION), &q->ops, &q->n_ops));
	TRY(kd_enums(c, r, T(OBJECT_TYPE), &q->types, &q->n_types));
	TRY(kd_text(c, r, T(VENDOR_IDENTIFICATION), false, &q->vendor));
	TRY(kd_struct(c, r, T(SERVER_INFORMATION), false, &q->server_info));
	TRY(kd_texts(c, r, T(APPLICATION_NAMESPACE), &q->ns, &q->n_ns));
	start = r->off;
	for (size_t i = 0; i < sizeof query_rest_tags / sizeof query_rest_tags[0]; i++) {
		struct kmip_bytes b;
		TRY(kd_items(c, r, query_rest_tags[i], &b));
	}
	if (r->off > start)
		q->rest = (struct kmip_bytes){ r->p + start, r->off - start };
	return CF_OK;
}

/* Add Attribute, Modify Attribute: 1.x one Attribute, 2.0 [Current Attribute] New Attribute
 * (Current Attribute in Modify only). */
static MUST_USE cf_err kd_attr_change_req(struct kd *c, ttlv_rd *r, uint32_t op,
					  struct kmip_req_attr_change *p)
{
	TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), false, &p->uid));
	p->has_new = true;
	if (c->ver < KMIP_V2_0)
		return kd_attr_v1(c, r, &p->attr);
	if (op == KMIP_OPERATION_MODIFY_ATTRIBUTE && ttlv_rd_next_is(r, T(CURRENT_ATTRIBUTE))) {
		p->has_current = true;
		TRY(kd_attr_wrapped(c, r, T(CURRENT_ATTRIBUTE), &p->current));
	}
	return kd_attr_wrapped(c, r, T(NEW_ATTRIBUTE), &p->attr);
}

/* Delete Attribute: 1.x Attribute Name [Attribute Index >= 0], 2.0 [Current Attribute]
 * [Attribute Reference]. */
static MUST_USE cf_err kd_delete_attr_req(struct kd *c, ttlv_rd *r, struct kmip_req_attr_change *p)
{
	TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), false, &p->uid));
	if (c->ver < KMIP_V2_0) {
		p->has_ref = true;
		TRY(kd_ref(c, r, &p->ref));
		size_t at = r->off;
		TRY(kd_int(c, r, T(ATTRIBUTE_INDEX), false, &p->has_index, &p->index));
		if (p->has_index && p->index < 0)
			return kd_fail(c, r, at, CF_E_BAD_VALUE);
		return CF_OK;
	}
	if (ttlv_rd_next_is(r, T(CURRENT_ATTRIBUTE))) {
		p->has_current = true;
		TRY(kd_attr_wrapped(c, r, T(CURRENT_ATTRIBUTE), &p->current));
	}
	if (ttlv_rd_next_is(r, T(ATTRIBUTE_REFERENCE))) {
		p->has_ref = true;
		TRY(kd_ref(c, r, &p->ref));
	}
	return CF_OK;
}

/* Adjust Attribute (2.0): [Unique Identifier] Attribute Reference, Adjustment Type,
 * [Adjustment Value] of any numeric type. */
static MUST_USE cf_err kd_adjust_attr_req(struct kd *c, ttlv_rd *r, struct kmip_req_attr_change *p)
{
	struct ttlv_item it;
	size_t at;
	cf_err rc;

	TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), false, &p->uid));
	p->has_ref = true;
	TRY(kd_ref(c, r, &p->ref));
	TRY(kd_enum(c, r, T(ADJUSTMENT_TYPE), true, NULL, &p->adjust_type));
	if (!ttlv_rd_next_is(r, T(ADJUSTMENT_VALUE)))
		return CF_OK;
	at = r->off;
	if ((rc = ttlv_rd_next(r, &it)) != CF_OK || (rc = kd_check_item(c, it.tag, &it)) != CF_OK)
		return kd_fail(c, r, at, rc);
	if (it.type == TTLV_STRUCTURE)
		return kd_fail(c, r, at, CF_E_BAD_TYPE);
	p->has_adjust_value = true;
	p->adjust_vtype = it.type;
	p->adjust_value = (struct kmip_bytes){ it.val != NULL ? it.val : (const uint8_t *)"",
					       it.len };
	return CF_OK;
}

/* Check request and response: [Unique Identifier] [Usage Limits Count] [Cryptographic Usage
 * Mask] [Lease Time], the same fields both ways. */
static MUST_USE cf_err kd_check(struct kd *c, ttlv_rd *r, struct kmip_check *p)
{
	TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), false, &p->uid));
	TRY(kd_long(c, r, T(USAGE_LIMITS_COUNT), false, &p->has_count, &p->usage_limits_count));
	TRY(kd_int(c, r, T(CRYPTOGRAPHIC_USAGE_MASK), false, &p->has_mask, &p->usage_mask));
	return kd_interval(c, r, T(LEASE_TIME), false, &p->has_lease, &p->lease_time);
}

static cf_err ke_check(ttlv_wr *w, const struct kmip_check *p)
{
	if (p->uid.p != NULL)
		TRY(ke_text(w, T(UNIQUE_IDENTIFIER), p->uid));
	if (p->has_count)
		TRY(ttlv_wr_long(w, T(USAGE_LIMITS_COUNT), p->usage_limits_count));
	if (p->has_mask)
		TRY(ttlv_wr_int(w, T(CRYPTOGRAPHIC_USAGE_MASK), p->usage_mask));
	return p->has_lease ? ttlv_wr_interval(w, T(LEASE_TIME), p->lease_time) : CF_OK;
}

static MUST_USE cf_err kd_locate_req(struct kd *c, ttlv_rd *r, struct kmip_req_locate *p)
{
	TRY(kd_int(c, r, T(MAXIMUM_ITEMS), false, &p->has_max, &p->max_items));
	/* Offset Items is a 1.3 field, accepted in a Locate of any version as an interoperability
	 * leniency: PyKMIP's default client speaks 1.2 and sends it (docs/codec.md "Leniencies").
	 * The encoder stays strict (never below 1.3). */
	TRY(kd_int(c, r, T(OFFSET_ITEMS), false, &p->has_offset, &p->offset_items));
	TRY(kd_int(c, r, T(STORAGE_STATUS_MASK), false, &p->has_ssm, &p->storage_status_mask));
	if (c->ver >= KMIP_V1_1)
		TRY(kd_enum(c, r, T(OBJECT_GROUP_MEMBER), false, &p->has_ogm,
			    &p->object_group_member));
	return kd_tmpl(c, r, 0, true, &p->t);
}

static MUST_USE cf_err kd_revoke_req(struct kd *c, ttlv_rd *r, struct kmip_req_revoke *p)
{
	ttlv_rd ch;
	TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), false, &p->uid));
	TRY(kd_open(c, r, T(REVOCATION_REASON), &ch));
	TRY(kd_enum(c, &ch, T(REVOCATION_REASON_CODE), true, NULL, &p->reason_code));
	TRY(kd_text(c, &ch, T(REVOCATION_MESSAGE), false, &p->reason_msg));
	TRY(kd_end(c, &ch));
	return kd_datetime(c, r, T(COMPROMISE_OCCURRENCE_DATE), false, &p->has_cod,
			   &p->compromise_date);
}

/* Requests of the payload families in their own files: Certify / Re-certify (kmip_cert.c),
 * Create / Join Split Key (kmip_split.c), the cryptographic services (kmip_crypto.c). */
static cf_err kd_other_req(struct kd *c, ttlv_rd *r, struct kmip_payload *pl)
{
	if (kmip_op_cert(pl->op))
		return kd_cert_req(c, r, pl->op, &pl->u.certify_req);
	return kmip_op_split(pl->op) ? kd_split_payload(c, r, false, pl)
				     : kd_crypto_payload(c, r, false, pl);
}

static cf_err kd_req(struct kd *c, ttlv_rd *r, struct kmip_payload *pl)
{
	bool v2 = c->ver >= KMIP_V2_0;

	switch (pl->op) {
	case KMIP_OPERATION_DISCOVER_VERSIONS:
		return kd_versions(c, r, &pl->u.discover_req.v, &pl->u.discover_req.n);
	case KMIP_OPERATION_QUERY: {
		struct kmip_req_query *q = &pl->u.query_req;
		TRY(kd_enums(c, r, T(QUERY_FUNCTION), &q->fn, &q->n));
		return q->n == 0 ? kd_fail(c, r, r->off, CF_E_MISSING) : CF_OK;
	}
	case KMIP_OPERATION_CREATE: {
		struct kmip_req_create *p = &pl->u.create_req;
		TRY(kd_enum(c, r, T(OBJECT_TYPE), true, NULL, &p->object_type));
		TRY(kd_tmpl(c, r, T(TEMPLATE_ATTRIBUTE), true, &p->t));
		if (v2)
			TRY(kd_struct(c, r, T(PROTECTION_STORAGE_MASKS), false, &p->psm));
		return CF_OK;
	}
	case KMIP_OPERATION_REGISTER: {
		struct kmip_req_register *p = &pl->u.register_req;
		TRY(kd_enum(c, r, T(OBJECT_TYPE), true, NULL, &p->object_type));
		TRY(kd_tmpl(c, r, T(TEMPLATE_ATTRIBUTE), true, &p->t));
		TRY(kd_object(c, r, p->object_type, &p->obj));
		if (v2)
			TRY(kd_struct(c, r, T(PROTECTION_STORAGE_MASKS), false, &p->psm));
		return CF_OK;
	}
	case KMIP_OPERATION_RE_KEY: {
		/*= kmip-spec-v1.4 section 4.4 Table 174 / 2.0 section 6.1.42: Unique Identifier,
		 *# Offset, Template-Attribute (2.0: Attributes, Protection Storage Masks). */
		struct kmip_req_rekey *p = &pl->u.rekey_req;
		TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), false, &p->uid));
		if (ttlv_rd_next_is(r, T(OFFSET))) {
			struct ttlv_item it;
			size_t at = r->off;
			cf_err rc = ttlv_rd_expect(r, T(OFFSET), TTLV_INTERVAL, &it);
			if (rc != CF_OK)
				return kd_fail(c, r, at, rc);
			p->has_offset = true;
			p->offset = ttlv_item_u32(&it);
		}
		TRY(kd_tmpl(c, r, T(TEMPLATE_ATTRIBUTE), false, &p->t));
		if (v2)
			TRY(kd_struct(c, r, T(PROTECTION_STORAGE_MASKS), false, &p->psm));
		return CF_OK;
	}
	case KMIP_OPERATION_GET: {
		struct kmip_req_get *p = &pl->u.get_req;
		TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), false, &p->uid));
		TRY(kd_enum(c, r, T(KEY_FORMAT_TYPE), false, &p->has_format, &p->format));
		if (c->ver >= KMIP_V1_4)
			TRY(kd_enum(c, r, T(KEY_WRAP_TYPE), false, &p->has_wrap_type, &p->wrap_type));
		TRY(kd_enum(c, r, T(KEY_COMPRESSION_TYPE), false, &p->has_compression,
			    &p->compression));
		return kd_struct(c, r, T(KEY_WRAPPING_SPECIFICATION), false, &p->wrap_spec);
	}
	case KMIP_OPERATION_GET_ATTRIBUTES: {
		struct kmip_req_get_attrs *p = &pl->u.get_attrs_req;
		TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), false, &p->uid));
		return kd_refs(c, r, &p->refs);
	}
	case KMIP_OPERATION_GET_ATTRIBUTE_LIST:
	case KMIP_OPERATION_ACTIVATE:
	case KMIP_OPERATION_DESTROY:
	case KMIP_OPERATION_ARCHIVE:
	case KMIP_OPERATION_RECOVER:
		return kd_text(c, r, T(UNIQUE_IDENTIFIER), false, &pl->u.uid_req.uid);
	case KMIP_OPERATION_ADD_ATTRIBUTE:
	case KMIP_OPERATION_MODIFY_ATTRIBUTE:
		return kd_attr_change_req(c, r, pl->op, &pl->u.attr_req);
	case KMIP_OPERATION_DELETE_ATTRIBUTE:
		return kd_delete_attr_req(c, r, &pl->u.attr_req);
	case KMIP_OPERATION_SET_ATTRIBUTE:
		TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), false, &pl->u.attr_req.uid));
		pl->u.attr_req.has_new = true;
		return kd_attr_wrapped(c, r, T(NEW_ATTRIBUTE), &pl->u.attr_req.attr);
	case KMIP_OPERATION_ADJUST_ATTRIBUTE:
		return kd_adjust_attr_req(c, r, &pl->u.attr_req);
	case KMIP_OPERATION_CHECK:
		return kd_check(c, r, &pl->u.check_req);
	case KMIP_OPERATION_LOCATE:
		return kd_locate_req(c, r, &pl->u.locate_req);
	case KMIP_OPERATION_REVOKE:
		return kd_revoke_req(c, r, &pl->u.revoke_req);
	case KMIP_OPERATION_CREATE_KEY_PAIR:
	case KMIP_OPERATION_RE_KEY_KEY_PAIR:
		return kd_kp_req(c, r, pl->op, &pl->u.kp_req);
	case KMIP_OPERATION_OBTAIN_LEASE:
	case KMIP_OPERATION_GET_USAGE_ALLOCATION:
	case KMIP_OPERATION_POLL:
	case KMIP_OPERATION_CANCEL:
		return kd_life_payload(c, r, false, pl);
	default:
		return kd_other_req(c, r, pl);
	}
}

static cf_err kd_rsp(struct kd *c, ttlv_rd *r, struct kmip_payload *pl)
{
	bool v2 = c->ver >= KMIP_V2_0;

	switch (pl->op) {
	case KMIP_OPERATION_CHECK:
		return kd_check(c, r, &pl->u.check_rsp);
	case KMIP_OPERATION_DISCOVER_VERSIONS:
		return kd_versions(c, r, &pl->u.discover_rsp.v, &pl->u.discover_rsp.n);
	case KMIP_OPERATION_QUERY:
		return kd_query_rsp(c, r, &pl->u.query_rsp);
	case KMIP_OPERATION_CREATE: {
		struct kmip_rsp_create *p = &pl->u.create_rsp;
		TRY(kd_enum(c, r, T(OBJECT_TYPE), true, NULL, &p->object_type));
		TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), true, &p->uid));
		if (!v2)
			TRY(kd_tmpl(c, r, T(TEMPLATE_ATTRIBUTE), false, &p->t));
		return CF_OK;
	}
	case KMIP_OPERATION_REGISTER:
	case KMIP_OPERATION_RE_KEY:      /* Re-key, Derive Key: the same fields (rekey_rsp) */
	case KMIP_OPERATION_DERIVE_KEY:
	case KMIP_OPERATION_CERTIFY:     /* Certify, Re-certify: the same (kmip_cert.c) */
	case KMIP_OPERATION_RE_CERTIFY: {
		struct kmip_rsp_register *p = &pl->u.register_rsp;
		TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), true, &p->uid));
		if (!v2)
			TRY(kd_tmpl(c, r, T(TEMPLATE_ATTRIBUTE), false, &p->t));
		return CF_OK;
	}
	case KMIP_OPERATION_GET: {
		struct kmip_rsp_get *p = &pl->u.get_rsp;
		TRY(kd_enum(c, r, T(OBJECT_TYPE), true, NULL, &p->object_type));
		TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), true, &p->uid));
		return kd_object(c, r, p->object_type, &p->obj);
	}
	case KMIP_OPERATION_GET_ATTRIBUTES: {
		struct kmip_rsp_get_attrs *p = &pl->u.get_attrs_rsp;
		TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), true, &p->uid));
		return kd_tmpl(c, r, 0, true, &p->t);
	}
	case KMIP_OPERATION_GET_ATTRIBUTE_LIST: {
		struct kmip_rsp_get_attr_list *p = &pl->u.get_attr_list_rsp;
		TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), true, &p->uid));
		return kd_refs(c, r, &p->refs);
	}
	case KMIP_OPERATION_ADD_ATTRIBUTE:
	case KMIP_OPERATION_MODIFY_ATTRIBUTE:
	case KMIP_OPERATION_DELETE_ATTRIBUTE:
	case KMIP_OPERATION_SET_ATTRIBUTE:
	case KMIP_OPERATION_ADJUST_ATTRIBUTE: {
		struct kmip_rsp_attr_change *p = &pl->u.attr_rsp;
		TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), true, &p->uid));
		if (v2)
			return CF_OK;
		p->has_attr = true;
		return kd_attr_v1(c, r, &p->attr);
	}
	case KMIP_OPERATION_LOCATE: {
		struct kmip_rsp_locate *p = &pl->u.locate_rsp;
		if (c->ver >= KMIP_V1_3)
			TRY(kd_int(c, r, T(LOCATED_ITEMS), false, &p->has_located, &p->located_items));
		return kd_texts(c, r, T(UNIQUE_IDENTIFIER), &p->uids, &p->n);
	}
	case KMIP_OPERATION_ACTIVATE:
	case KMIP_OPERATION_REVOKE:
	case KMIP_OPERATION_DESTROY:
	case KMIP_OPERATION_ARCHIVE:
	case KMIP_OPERATION_RECOVER:
		return kd_text(c, r, T(UNIQUE_IDENTIFIER), true, &pl->u.uid_rsp.uid);
	case KMIP_OPERATION_CREATE_KEY_PAIR:
	case KMIP_OPERATION_RE_KEY_KEY_PAIR:
		return kd_kp_rsp(c, r, &pl->u.kp_rsp);
	case KMIP_OPERATION_OBTAIN_LEASE:
	case KMIP_OPERATION_GET_USAGE_ALLOCATION:
	case KMIP_OPERATION_CANCEL:
		return kd_life_payload(c, r, true, pl);
	default:
		return kmip_op_split(pl->op) ? kd_split_payload(c, r, true, pl)
					     : kd_crypto_payload(c, r, true, pl);
	}
}

cf_err kd_payload(struct kd *c, ttlv_rd *r, uint32_t op, bool response, struct kmip_payload *pl)
{
	memset(pl, 0, sizeof *pl);
	pl->op = op;
	pl->raw = (struct kmip_bytes){ r->p != NULL ? r->p : (const uint8_t *)"", r->len };
	bool v2_only = op == KMIP_OPERATION_SET_ATTRIBUTE || op == KMIP_OPERATION_ADJUST_ATTRIBUTE;
	bool too_new = (kmip_op_crypto(op) || kmip_op_split(op)) &&
		       !kmip_enum_valid(T(OPERATION), op, c->ver);
	bool poll_rsp = op == KMIP_OPERATION_POLL && response; /* the polled operation's payload */
	if (!kmip_op_typed(op) || (v2_only && c->ver < KMIP_V2_0) || too_new || poll_rsp)
		return kd_walk(c, r);
	pl->typed = true;
	TRY(response ? kd_rsp(c, r, pl) : kd_req(c, r, pl));
	return kd_end(c, r);
}

cf_err kmip_payload_decode(const uint8_t *p, size_t n, uint32_t op, bool response, int version,
			   const struct kmip_limits *lim, struct kmip_arena *a,
			   struct kmip_payload *out)
{
	struct kmip_limits dl = KMIP_LIMITS_DEFAULT;
	struct kmip_decode_error e = { .version = version, .item = -1 };
	struct kd c = { .ver = version, .lim = lim != NULL ? lim : &dl, .a = a, .err = &e };
	ttlv_rd r;

	memset(out, 0, sizeof *out);
	if ((p == NULL && n > 0) || version < 0 || version >= KMIP_V_COUNT || a == NULL)
		return CF_E_INVALID_ARG;
	ttlv_rd_init(&r, p, n, c.lim);
	cf_err rc = kd_payload(&c, &r, op, response, out);
	if (rc != CF_OK)
		memset(out, 0, sizeof *out);
	return rc;
}

/* ---- encode --------------------------------------------------------------------------- */

static cf_err ke_versions(ttlv_wr *w, const struct kmip_pv *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t m;
		TRY(ttlv_wr_begin(w, T(PROTOCOL_VERSION), &m));
		TRY(ttlv_wr_int(w, T(PROTOCOL_VERSION_MAJOR), v[i].major));
		TRY(ttlv_wr_int(w, T(PROTOCOL_VERSION_MINOR), v[i].minor));
		TRY(ttlv_wr_end(w, m));
	}
	return CF_OK;
}

static cf_err ke_enums(ttlv_wr *w, uint32_t tag, const uint32_t *v, size_t n, int ver)
{
	for (size_t i = 0; i < n; i++)
		TRY(ke_enum(w, tag, v[i], ver));
	return CF_OK;
}

static cf_err ke_uid_req(ttlv_wr *w, struct kmip_text uid)
{
	return ke_text(w, T(UNIQUE_IDENTIFIER), uid);
}

/* Required Unique Identifier in responses. */
static cf_err ke_uid_rsp(ttlv_wr *w, struct kmip_text uid)
{
	if (uid.p == NULL)
		return CF_E_MISSING;
	return ke_text(w, T(UNIQUE_IDENTIFIER), uid);
}

static cf_err ke_revoke_req(ttlv_wr *w, const struct kmip_req_revoke *p, int ver)
{
	size_t m;
	TRY(ke_uid_req(w, p->uid));
	TRY(ttlv_wr_begin(w, T(REVOCATION_REASON), &m));
	TRY(ke_enum(w, T(REVOCATION_REASON_CODE), p->reason_code, ver));
	TRY(ke_text(w, T(REVOCATION_MESSAGE), p->reason_msg));
	TRY(ttlv_wr_end(w, m));
	return p->has_cod ? ttlv_wr_datetime(w, T(COMPROMISE_OCCURRENCE_DATE),
					     p->compromise_date) : CF_OK;
}

static cf_err ke_rekey_req(ttlv_wr *w, const struct kmip_req_rekey *p, int ver)
{
	TRY(ke_uid_req(w, p->uid));
	if (p->has_offset)
		TRY(ttlv_wr_interval(w, T(OFFSET), p->offset));
	if (p->t.present)
		TRY(ke_tmpl(w, T(TEMPLATE_ATTRIBUTE), &p->t, ver));
	return ver >= KMIP_V2_0 ? ke_struct(w, T(PROTECTION_STORAGE_MASKS), p->psm) : CF_OK;
}

/* The attribute operations' requests: Add, Modify, Delete (1.x and 2.0 forms), Set, Adjust
 * (2.0). */
static cf_err ke_attr_change_req(ttlv_wr *w, const struct kmip_payload *pl, int ver)
{
	bool v2 = ver >= KMIP_V2_0;

	switch (pl->op) {
	case KMIP_OPERATION_ADD_ATTRIBUTE:
	case KMIP_OPERATION_MODIFY_ATTRIBUTE: {
		const struct kmip_req_attr_change *p = &pl->u.attr_req;
		TRY(ke_uid_req(w, p->uid));
		if (!p->has_new)
			return CF_E_MISSING;
		if (!v2)
			return ke_attr_v1(w, &p->attr, ver);
		if (pl->op == KMIP_OPERATION_MODIFY_ATTRIBUTE && p->has_current)
			TRY(ke_attr_wrapped(w, T(CURRENT_ATTRIBUTE), &p->current, ver));
		return ke_attr_wrapped(w, T(NEW_ATTRIBUTE), &p->attr, ver);
	}
	case KMIP_OPERATION_DELETE_ATTRIBUTE: {
		const struct kmip_req_attr_change *p = &pl->u.attr_req;
		TRY(ke_uid_req(w, p->uid));
		if (!v2) {
			if (!p->has_ref)
				return CF_E_MISSING;
			TRY(ke_ref(w, &p->ref, ver));
			return p->has_index ? ttlv_wr_int(w, T(ATTRIBUTE_INDEX), p->index) : CF_OK;
		}
		if (p->has_current)
			TRY(ke_attr_wrapped(w, T(CURRENT_ATTRIBUTE), &p->current, ver));
		return p->has_ref ? ke_ref(w, &p->ref, ver) : CF_OK;
	}
	case KMIP_OPERATION_SET_ATTRIBUTE: {
		const struct kmip_req_attr_change *p = &pl->u.attr_req;
		if (!v2 || !p->has_new)
			return !v2 ? CF_E_BAD_VALUE : CF_E_MISSING;
		TRY(ke_uid_req(w, p->uid));
		return ke_attr_wrapped(w, T(NEW_ATTRIBUTE), &p->attr, ver);
	}
	case KMIP_OPERATION_ADJUST_ATTRIBUTE: {
		const struct kmip_req_attr_change *p = &pl->u.attr_req;
		if (!v2 || !p->has_ref)
			return !v2 ? CF_E_BAD_VALUE : CF_E_MISSING;
		TRY(ke_uid_req(w, p->uid));
		TRY(ke_ref(w, &p->ref, ver));
		TRY(ke_enum(w, T(ADJUSTMENT_TYPE), p->adjust_type, ver));
		return p->has_adjust_value ? ttlv_wr_raw(w, T(ADJUSTMENT_VALUE), p->adjust_vtype,
							 p->adjust_value.p, p->adjust_value.n)
					   : CF_OK;
	}
	default:
		return CF_E_INTERNAL;
	}
}

static cf_err ke_req(ttlv_wr *w, const struct kmip_payload *pl, int ver)
{
	bool v2 = ver >= KMIP_V2_0;

	switch (pl->op) {
	case KMIP_OPERATION_CHECK:
		return ke_check(w, &pl->u.check_req);
	case KMIP_OPERATION_DISCOVER_VERSIONS:
		return ke_versions(w, pl->u.discover_req.v, pl->u.discover_req.n);
	case KMIP_OPERATION_QUERY:
		return ke_enums(w, T(QUERY_FUNCTION), pl->u.query_req.fn, pl->u.query_req.n, ver);
	case KMIP_OPERATION_CREATE: {
		const struct kmip_req_create *p = &pl->u.create_req;
		TRY(ke_enum(w, T(OBJECT_TYPE), p->object_type, ver));
		TRY(ke_tmpl(w, T(TEMPLATE_ATTRIBUTE), &p->t, ver));
		return v2 ? ke_struct(w, T(PROTECTION_STORAGE_MASKS), p->psm) : CF_OK;
	}
	case KMIP_OPERATION_REGISTER: {
		const struct kmip_req_register *p = &pl->u.register_req;
		TRY(ke_enum(w, T(OBJECT_TYPE), p->object_type, ver));
		TRY(ke_tmpl(w, T(TEMPLATE_ATTRIBUTE), &p->t, ver));
		TRY(ke_object(w, &p->obj, ver));
		return v2 ? ke_struct(w, T(PROTECTION_STORAGE_MASKS), p->psm) : CF_OK;
	}
	case KMIP_OPERATION_GET: {
		const struct kmip_req_get *p = &pl->u.get_req;
		TRY(ke_uid_req(w, p->uid));
		if (p->has_format)
			TRY(ke_enum(w, T(KEY_FORMAT_TYPE), p->format, ver));
		if (p->has_wrap_type && ver >= KMIP_V1_4)
			TRY(ke_enum(w, T(KEY_WRAP_TYPE), p->wrap_type, ver));
		if (p->has_compression)
			TRY(ke_enum(w, T(KEY_COMPRESSION_TYPE), p->compression, ver));
		return ke_struct(w, T(KEY_WRAPPING_SPECIFICATION), p->wrap_spec);
	}
	case KMIP_OPERATION_GET_ATTRIBUTES: {
		const struct kmip_req_get_attrs *p = &pl->u.get_attrs_req;
		TRY(ke_uid_req(w, p->uid));
		for (size_t i = 0; i < p->refs.n; i++)
			TRY(ke_ref(w, &p->refs.v[i], ver));
		return CF_OK;
	}
	case KMIP_OPERATION_GET_ATTRIBUTE_LIST:
	case KMIP_OPERATION_ACTIVATE:
	case KMIP_OPERATION_DESTROY:
	case KMIP_OPERATION_ARCHIVE:
	case KMIP_OPERATION_RECOVER:
		return ke_uid_req(w, pl->u.uid_req.uid);
	case KMIP_OPERATION_ADD_ATTRIBUTE:
	case KMIP_OPERATION_MODIFY_ATTRIBUTE:
	case KMIP_OPERATION_DELETE_ATTRIBUTE:
	case KMIP_OPERATION_SET_ATTRIBUTE:
	case KMIP_OPERATION_ADJUST_ATTRIBUTE:
		return ke_attr_change_req(w, pl, ver);
	case KMIP_OPERATION_LOCATE: {
		const struct kmip_req_locate *p = &pl->u.locate_req;
		if (p->has_max)
			TRY(ttlv_wr_int(w, T(MAXIMUM_ITEMS), p->max_items));
		if (p->has_offset && ver >= KMIP_V1_3)
			TRY(ttlv_wr_int(w, T(OFFSET_ITEMS), p->offset_items));
		if (p->has_ssm)
			TRY(ttlv_wr_int(w, T(STORAGE_STATUS_MASK), p->storage_status_mask));
		if (p->has_ogm && ver >= KMIP_V1_1)
			TRY(ke_enum(w, T(OBJECT_GROUP_MEMBER), p->object_group_member, ver));
		if (v2 && !p->t.present) { /* Attributes is required (may be empty) in 2.0 */
			struct kmip_tmpl e = { .present = true };
			return ke_tmpl(w, 0, &e, ver);
		}
		return ke_tmpl(w, 0, &p->t, ver);
	}
	case KMIP_OPERATION_REVOKE:
		return ke_revoke_req(w, &pl->u.revoke_req, ver);
	case KMIP_OPERATION_CREATE_KEY_PAIR:
	case KMIP_OPERATION_RE_KEY_KEY_PAIR:
		return ke_kp_req(w, pl->op, &pl->u.kp_req, ver);
	case KMIP_OPERATION_OBTAIN_LEASE:
	case KMIP_OPERATION_GET_USAGE_ALLOCATION:
	case KMIP_OPERATION_POLL:
	case KMIP_OPERATION_CANCEL:
		return ke_life_payload(w, pl, false, ver);
	default:
		if (kmip_op_cert(pl->op))
			return ke_cert_req(w, pl->op, &pl->u.certify_req, ver);
		return kmip_op_split(pl->op) ? ke_split_payload(w, pl, false, ver)
					     : ke_crypto_payload(w, pl, false, ver);
	}
}

static cf_err ke_rsp(ttlv_wr *w, const struct kmip_payload *pl, int ver)
{
	bool v2 = ver >= KMIP_V2_0;

	switch (pl->op) {
	case KMIP_OPERATION_CHECK:
		return ke_check(w, &pl->u.check_rsp);
	case KMIP_OPERATION_DISCOVER_VERSIONS:
		return ke_versions(w, pl->u.discover_rsp.v, pl->u.discover_rsp.n);
	case KMIP_OPERATION_QUERY: {
		const struct kmip_rsp_query *q = &pl->u.query_rsp;
		TRY(ke_enums(w, T(OPERATION), q->ops, q->n_ops, ver));
		TRY(ke_enums(w, T(OBJECT_TYPE), q->types, q->n_types, ver));
		TRY(ke_text(w, T(VENDOR_IDENTIFICATION), q->vendor));
		TRY(ke_struct(w, T(SERVER_INFORMATION), q->server_info));
		for (size_t i = 0; i < q->n_ns; i++)
			TRY(ke_text(w, T(APPLICATION_NAMESPACE), q->ns[i]));
		return ke_items(w, q->rest);
	}
	case KMIP_OPERATION_CREATE: {
		const struct kmip_rsp_create *p = &pl->u.create_rsp;
		TRY(ke_enum(w, T(OBJECT_TYPE), p->object_type, ver));
		TRY(ke_uid_rsp(w, p->uid));
		return v2 ? CF_OK : ke_tmpl(w, T(TEMPLATE_ATTRIBUTE), &p->t, ver);
	}
	case KMIP_OPERATION_REGISTER:
	case KMIP_OPERATION_RE_KEY:
	case KMIP_OPERATION_DERIVE_KEY:
	case KMIP_OPERATION_CERTIFY:
	case KMIP_OPERATION_RE_CERTIFY: {
		const struct kmip_rsp_register *p = &pl->u.register_rsp;
		TRY(ke_uid_rsp(w, p->uid));
		return v2 ? CF_OK : ke_tmpl(w, T(TEMPLATE_ATTRIBUTE), &p->t, ver);
	}
	case KMIP_OPERATION_GET: {
		const struct kmip_rsp_get *p = &pl->u.get_rsp;
		TRY(ke_enum(w, T(OBJECT_TYPE), p->object_type, ver));
		TRY(ke_uid_rsp(w, p->uid));
		return ke_object(w, &p->obj, ver);
	}
	case KMIP_OPERATION_GET_ATTRIBUTES: {
		const struct kmip_rsp_get_attrs *p = &pl->u.get_attrs_rsp;
		TRY(ke_uid_rsp(w, p->uid));
		if (v2) {
			struct kmip_tmpl t = p->t;
			t.present = true; /* required in 2.0, possibly empty */
			return ke_tmpl(w, 0, &t, ver);
		}
		return ke_tmpl(w, 0, &p->t, ver);
	}
	case KMIP_OPERATION_GET_ATTRIBUTE_LIST: {
		const struct kmip_rsp_get_attr_list *p = &pl->u.get_attr_list_rsp;
		TRY(ke_uid_rsp(w, p->uid));
		for (size_t i = 0; i < p->refs.n; i++)
			TRY(ke_ref(w, &p->refs.v[i], ver));
		return CF_OK;
	}
	case KMIP_OPERATION_ADD_ATTRIBUTE:
	case KMIP_OPERATION_MODIFY_ATTRIBUTE:
	case KMIP_OPERATION_DELETE_ATTRIBUTE:
	case KMIP_OPERATION_SET_ATTRIBUTE:
	case KMIP_OPERATION_ADJUST_ATTRIBUTE: {
		const struct kmip_rsp_attr_change *p = &pl->u.attr_rsp;
		TRY(ke_uid_rsp(w, p->uid));
		if (v2)
			return CF_OK;
		if (!p->has_attr)
			return CF_E_MISSING;
		return ke_attr_v1(w, &p->attr, ver);
	}
	case KMIP_OPERATION_LOCATE: {
		const struct kmip_rsp_locate *p = &pl->u.locate_rsp;
		if (p->has_located && ver >= KMIP_V1_3)
			TRY(ttlv_wr_int(w, T(LOCATED_ITEMS), p->located_items));
		for (size_t i = 0; i < p->n; i++)
			TRY(ke_text(w, T(UNIQUE_IDENTIFIER), p->uids[i]));
		return CF_OK;
	}
	case KMIP_OPERATION_ACTIVATE:
	case KMIP_OPERATION_REVOKE:
	case KMIP_OPERATION_DESTROY:
	case KMIP_OPERATION_ARCHIVE:
	case KMIP_OPERATION_RECOVER:
		return ke_uid_rsp(w, pl->u.uid_rsp.uid);
	case KMIP_OPERATION_CREATE_KEY_PAIR:
	case KMIP_OPERATION_RE_KEY_KEY_PAIR:
		return ke_kp_rsp(w, &pl->u.kp_rsp, ver);
	case KMIP_OPERATION_OBTAIN_LEASE:
	case KMIP_OPERATION_GET_USAGE_ALLOCATION:
	case KMIP_OPERATION_CANCEL:
		return ke_life_payload(w, pl, true, ver);
	default:
		return kmip_op_split(pl->op) ? ke_split_payload(w, pl, true, ver)
					     : ke_crypto_payload(w, pl, true, ver);
	}
}

cf_err kmip_payload_encode(ttlv_wr *w, const struct kmip_payload *pl, bool response, int version)
{
	size_t m;
	cf_err rc;

	if (version < 0 || version >= KMIP_V_COUNT)
		return CF_E_INVALID_ARG;
	TRY(ttlv_wr_begin(w, response ? T(RESPONSE_PAYLOAD) : T(REQUEST_PAYLOAD), &m));
	if (!pl->typed)
		rc = ke_items(w, pl->raw);
	else if (!response && pl->op == KMIP_OPERATION_RE_KEY)
		rc = ke_rekey_req(w, &pl->u.rekey_req, version);
	else
		rc = response ? ke_rsp(w, pl, version) : ke_req(w, pl, version);
	if (rc != CF_OK)
		return rc;
	return ttlv_wr_end(w, m);
}
