/* Split key payloads: Create Split Key (struct kmip_req_create_split, kmip_rsp_create_split)
 * and Join Split Key (struct kmip_req_join_split; its response is Register's fields,
 * u.rekey_rsp, kmip_payload.c).
 *
 *= kmip-spec-v1.4 section 4.38 Tables 247-248 (Create Split Key), 4.39 Tables 249-250 (Join
 *# Split Key); 2.0 sections 6.1.10 Tables 178-179, 6.1.26 Tables 226-227: the same fields, 2.0
 *# Attributes for the Template-Attribute and an optional Protection Storage Masks.
 *
 * Create Split Key request: Object Type, [Unique Identifier], Split Key Parts, Split Key
 * Threshold, Split Key Method, [Prime Field Size], Template-Attribute (2.0 Attributes),
 * required, possibly empty), [2.0 Protection Storage Masks]. Response: Unique Identifier
 * (1 or more), [1.x Template-Attribute]. Join Split Key request: Object Type, Unique
 * Identifier (1 or more), [Secret Data Type], [Template-Attribute / Attributes], [2.0
 * Protection Storage Masks]. Split Key Parts and Threshold must be >= 1 (a count); whether
 * Threshold <= Parts is the server's check (it answers with the reason). A required field
 * missing is CF_E_MISSING on decode and on encode. */
#include "kmip/kmip_msg_int.h"

#define T(name) KMIP_TAG_##name

bool kmip_op_split(uint32_t op)
{
	return op == KMIP_OPERATION_CREATE_SPLIT_KEY || op == KMIP_OPERATION_JOIN_SPLIT_KEY;
}

/* ---- decode --------------------------------------------------------------------------- */

/* Consecutive Unique Identifiers, at least one (CF_E_MISSING otherwise). */
static cf_err kd_uids(struct kd *c, ttlv_rd *r, struct kmip_text **v, size_t *n)
{
	size_t cnt = kd_count(r, T(UNIQUE_IDENTIFIER));
	void *p;

	*v = NULL;
	*n = 0;
	if (cnt == 0) {
		struct kmip_text none;
		return kd_text(c, r, T(UNIQUE_IDENTIFIER), true, &none); /* CF_E_MISSING */
	}
	TRY(kd_alloc(c, r, cnt, c->lim->max_attributes, sizeof **v, &p));
	*v = p;
	for (size_t i = 0; i < cnt; i++)
		TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), true, &(*v)[i]));
	*n = cnt;
	return CF_OK;
}

/* A count (Split Key Parts, Split Key Threshold): required, >= 1. */
static cf_err kd_count_field(struct kd *c, ttlv_rd *r, uint32_t tag, int32_t *v)
{
	size_t at = r->off;
	TRY(kd_int(c, r, tag, true, NULL, v));
	return *v < 1 ? kd_fail(c, r, at, CF_E_BAD_VALUE) : CF_OK;
}

static cf_err kd_create_split_req(struct kd *c, ttlv_rd *r, struct kmip_req_create_split *p)
{
	TRY(kd_enum(c, r, T(OBJECT_TYPE), true, NULL, &p->object_type));
	TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), false, &p->uid));
	TRY(kd_count_field(c, r, T(SPLIT_KEY_PARTS), &p->parts));
	TRY(kd_count_field(c, r, T(SPLIT_KEY_THRESHOLD), &p->threshold));
	TRY(kd_enum(c, r, T(SPLIT_KEY_METHOD), true, NULL, &p->method));
	if (ttlv_rd_next_is(r, T(PRIME_FIELD_SIZE))) {
		size_t at = r->off;
		TRY(kd_fail(c, r, at, ttlv_rd_bigint(r, T(PRIME_FIELD_SIZE), &p->prime.p,
						     &p->prime.n)));
	}
	TRY(kd_tmpl(c, r, T(TEMPLATE_ATTRIBUTE), true, &p->t));
	if (c->ver >= KMIP_V2_0)
		TRY(kd_struct(c, r, T(PROTECTION_STORAGE_MASKS), false, &p->psm));
	return CF_OK;
}

static cf_err kd_join_split_req(struct kd *c, ttlv_rd *r, struct kmip_req_join_split *p)
{
	TRY(kd_enum(c, r, T(OBJECT_TYPE), true, NULL, &p->object_type));
	TRY(kd_uids(c, r, &p->uids, &p->n_uids));
	TRY(kd_enum(c, r, T(SECRET_DATA_TYPE), false, &p->has_secret_type, &p->secret_type));
	TRY(kd_tmpl(c, r, T(TEMPLATE_ATTRIBUTE), false, &p->t));
	if (c->ver >= KMIP_V2_0)
		TRY(kd_struct(c, r, T(PROTECTION_STORAGE_MASKS), false, &p->psm));
	return CF_OK;
}

cf_err kd_split_payload(struct kd *c, ttlv_rd *r, bool response, struct kmip_payload *pl)
{
	if (pl->op == KMIP_OPERATION_CREATE_SPLIT_KEY && !response)
		return kd_create_split_req(c, r, &pl->u.split_req);
	if (pl->op == KMIP_OPERATION_CREATE_SPLIT_KEY) {
		struct kmip_rsp_create_split *p = &pl->u.split_rsp;
		TRY(kd_uids(c, r, &p->uids, &p->n_uids));
		if (c->ver < KMIP_V2_0)
			TRY(kd_tmpl(c, r, T(TEMPLATE_ATTRIBUTE), false, &p->t));
		return CF_OK;
	}
	if (pl->op == KMIP_OPERATION_JOIN_SPLIT_KEY && !response)
		return kd_join_split_req(c, r, &pl->u.join_req);
	if (pl->op == KMIP_OPERATION_JOIN_SPLIT_KEY) {
		struct kmip_rsp_register *p = &pl->u.rekey_rsp;
		TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), true, &p->uid));
		if (c->ver < KMIP_V2_0)
			TRY(kd_tmpl(c, r, T(TEMPLATE_ATTRIBUTE), false, &p->t));
		return CF_OK;
	}
	return CF_E_INTERNAL;
}

/* ---- encode --------------------------------------------------------------------------- */

static cf_err ke_uids(ttlv_wr *w, const struct kmip_text *v, size_t n)
{
	if (n == 0 || v == NULL)
		return CF_E_MISSING;
	for (size_t i = 0; i < n; i++) {
		if (v[i].p == NULL)
			return CF_E_MISSING;
		TRY(ke_text(w, T(UNIQUE_IDENTIFIER), v[i]));
	}
	return CF_OK;
}

static cf_err ke_create_split_req(ttlv_wr *w, const struct kmip_req_create_split *p, int ver)
{
	if (p->parts < 1 || p->threshold < 1)
		return CF_E_BAD_VALUE;
	TRY(ke_enum(w, T(OBJECT_TYPE), p->object_type, ver));
	TRY(ke_text(w, T(UNIQUE_IDENTIFIER), p->uid));
	TRY(ttlv_wr_int(w, T(SPLIT_KEY_PARTS), p->parts));
	TRY(ttlv_wr_int(w, T(SPLIT_KEY_THRESHOLD), p->threshold));
	TRY(ke_enum(w, T(SPLIT_KEY_METHOD), p->method, ver));
	if (p->prime.p != NULL)
		TRY(ttlv_wr_bigint(w, T(PRIME_FIELD_SIZE), p->prime.p, p->prime.n));
	if (!p->t.present) { /* required in every version (may be empty) */
		struct kmip_tmpl e = { .present = true };
		TRY(ke_tmpl(w, T(TEMPLATE_ATTRIBUTE), &e, ver));
	} else {
		TRY(ke_tmpl(w, T(TEMPLATE_ATTRIBUTE), &p->t, ver));
	}
	return ver >= KMIP_V2_0 ? ke_struct(w, T(PROTECTION_STORAGE_MASKS), p->psm) : CF_OK;
}

static cf_err ke_join_split_req(ttlv_wr *w, const struct kmip_req_join_split *p, int ver)
{
	TRY(ke_enum(w, T(OBJECT_TYPE), p->object_type, ver));
	TRY(ke_uids(w, p->uids, p->n_uids));
	if (p->has_secret_type)
		TRY(ke_enum(w, T(SECRET_DATA_TYPE), p->secret_type, ver));
	TRY(ke_tmpl(w, T(TEMPLATE_ATTRIBUTE), &p->t, ver));
	return ver >= KMIP_V2_0 ? ke_struct(w, T(PROTECTION_STORAGE_MASKS), p->psm) : CF_OK;
}

cf_err ke_split_payload(ttlv_wr *w, const struct kmip_payload *pl, bool response, int ver)
{
	bool v2 = ver >= KMIP_V2_0;

	if (pl->op == KMIP_OPERATION_CREATE_SPLIT_KEY && !response)
		return ke_create_split_req(w, &pl->u.split_req, ver);
	if (pl->op == KMIP_OPERATION_CREATE_SPLIT_KEY) {
		const struct kmip_rsp_create_split *p = &pl->u.split_rsp;
		TRY(ke_uids(w, p->uids, p->n_uids));
		return v2 ? CF_OK : ke_tmpl(w, T(TEMPLATE_ATTRIBUTE), &p->t, ver);
	}
	if (pl->op == KMIP_OPERATION_JOIN_SPLIT_KEY && !response)
		return ke_join_split_req(w, &pl->u.join_req, ver);
	if (pl->op == KMIP_OPERATION_JOIN_SPLIT_KEY) {
		const struct kmip_rsp_register *p = &pl->u.rekey_rsp;
		if (p->uid.p == NULL)
			return CF_E_MISSING;
		TRY(ke_text(w, T(UNIQUE_IDENTIFIER), p->uid));
		return v2 ? CF_OK : ke_tmpl(w, T(TEMPLATE_ATTRIBUTE), &p->t, ver);
	}
	return CF_E_INTERNAL;
}
