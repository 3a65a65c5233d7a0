/* Create Key Pair and Re-key Key Pair payloads (KMIP 1.4 sections 4.2 and 4.5, 2.0 sections
 * 6.1.8 and 6.1.42). 1.x carries Common / Private Key / Public Key Template-Attribute, 2.0
 * Common / Private Key / Public Key Attributes and three Protection Storage Masks. Field order
 * as the specification lists it; a field out of place is an error (kd_end). */
#include "kmip/kmip_msg_int.h"

#include <string.h>

#define T(name) KMIP_TAG_##name

/* One of the three templates: 1.x tag1x (Template-Attribute form), 2.0 tag2 (Attributes). */
static cf_err kd_kp_tmpl(struct kd *c, ttlv_rd *r, uint32_t tag1x, uint32_t tag2,
			 struct kmip_tmpl *t)
{
	ttlv_rd ch;
	memset(t, 0, sizeof *t);
	if (c->ver < KMIP_V2_0)
		return kd_tmpl(c, r, tag1x, false, t);
	if (!ttlv_rd_next_is(r, tag2))
		return CF_OK;
	TRY(kd_open(c, r, tag2, &ch));
	t->present = true;
	return kd_attrs_v2(c, &ch, &t->a);
}

static cf_err ke_kp_tmpl(ttlv_wr *w, uint32_t tag1x, uint32_t tag2, const struct kmip_tmpl *t,
			 int ver)
{
	if (!t->present)
		return CF_OK;
	if (ver < KMIP_V2_0)
		return ke_tmpl(w, tag1x, t, ver);
	return ke_attrs_v2(w, tag2, &t->a, ver);
}

cf_err kd_kp_req(struct kd *c, ttlv_rd *r, uint32_t op, struct kmip_req_create_kp *p)
{
	if (op == KMIP_OPERATION_RE_KEY_KEY_PAIR) {
		TRY(kd_text(c, r, T(PRIVATE_KEY_UNIQUE_IDENTIFIER), false, &p->priv_uid));
		if (ttlv_rd_next_is(r, T(OFFSET))) {
			size_t at = r->off;
			uint32_t v = 0;
			cf_err rc = ttlv_rd_interval(r, T(OFFSET), &v);
			if (rc != CF_OK)
				return kd_fail(c, r, at, rc);
			p->has_offset = true;
			p->offset = v;
		}
	}
	TRY(kd_kp_tmpl(c, r, T(COMMON_TEMPLATE_ATTRIBUTE), T(COMMON_ATTRIBUTES), &p->common));
	TRY(kd_kp_tmpl(c, r, T(PRIVATE_KEY_TEMPLATE_ATTRIBUTE), T(PRIVATE_KEY_ATTRIBUTES),
		       &p->priv));
	TRY(kd_kp_tmpl(c, r, T(PUBLIC_KEY_TEMPLATE_ATTRIBUTE), T(PUBLIC_KEY_ATTRIBUTES), &p->pub));
	if (c->ver < KMIP_V2_0)
		return CF_OK;
	TRY(kd_struct(c, r, T(COMMON_PROTECTION_STORAGE_MASKS), false, &p->common_psm));
	TRY(kd_struct(c, r, T(PRIVATE_PROTECTION_STORAGE_MASKS), false, &p->priv_psm));
	return kd_struct(c, r, T(PUBLIC_PROTECTION_STORAGE_MASKS), false, &p->pub_psm);
}

cf_err kd_kp_rsp(struct kd *c, ttlv_rd *r, struct kmip_rsp_create_kp *p)
{
	TRY(kd_text(c, r, T(PRIVATE_KEY_UNIQUE_IDENTIFIER), true, &p->priv_uid));
	TRY(kd_text(c, r, T(PUBLIC_KEY_UNIQUE_IDENTIFIER), true, &p->pub_uid));
	if (c->ver >= KMIP_V2_0)
		return CF_OK;
	TRY(kd_tmpl(c, r, T(PRIVATE_KEY_TEMPLATE_ATTRIBUTE), false, &p->priv_t));
	return kd_tmpl(c, r, T(PUBLIC_KEY_TEMPLATE_ATTRIBUTE), false, &p->pub_t);
}

cf_err ke_kp_req(ttlv_wr *w, uint32_t op, const struct kmip_req_create_kp *p, int ver)
{
	if (op == KMIP_OPERATION_RE_KEY_KEY_PAIR) {
		TRY(ke_text(w, T(PRIVATE_KEY_UNIQUE_IDENTIFIER), p->priv_uid));
		if (p->has_offset)
			TRY(ttlv_wr_interval(w, T(OFFSET), p->offset));
	}
	TRY(ke_kp_tmpl(w, T(COMMON_TEMPLATE_ATTRIBUTE), T(COMMON_ATTRIBUTES), &p->common, ver));
	TRY(ke_kp_tmpl(w, T(PRIVATE_KEY_TEMPLATE_ATTRIBUTE), T(PRIVATE_KEY_ATTRIBUTES), &p->priv,
		       ver));
	TRY(ke_kp_tmpl(w, T(PUBLIC_KEY_TEMPLATE_ATTRIBUTE), T(PUBLIC_KEY_ATTRIBUTES), &p->pub, ver));
	if (ver < KMIP_V2_0)
		return CF_OK;
	TRY(ke_struct(w, T(COMMON_PROTECTION_STORAGE_MASKS), p->common_psm));
	TRY(ke_struct(w, T(PRIVATE_PROTECTION_STORAGE_MASKS), p->priv_psm));
	return ke_struct(w, T(PUBLIC_PROTECTION_STORAGE_MASKS), p->pub_psm);
}

cf_err ke_kp_rsp(ttlv_wr *w, const struct kmip_rsp_create_kp *p, int ver)
{
	if (p->priv_uid.p == NULL || p->pub_uid.p == NULL)
		return CF_E_MISSING;
	TRY(ke_text(w, T(PRIVATE_KEY_UNIQUE_IDENTIFIER), p->priv_uid));
	TRY(ke_text(w, T(PUBLIC_KEY_UNIQUE_IDENTIFIER), p->pub_uid));
	if (ver >= KMIP_V2_0)
		return CF_OK;
	TRY(ke_tmpl(w, T(PRIVATE_KEY_TEMPLATE_ATTRIBUTE), &p->priv_t, ver));
	return ke_tmpl(w, T(PUBLIC_KEY_TEMPLATE_ATTRIBUTE), &p->pub_t, ver);
}
