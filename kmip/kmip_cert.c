/* Certify and Re-certify request payloads (struct kmip_req_certify). Their responses carry
 * Register's fields (u.rekey_rsp, kmip_payload.c).
 *
 *= kmip-spec-v1.4 section 4.7 Table 184 (Certify): Unique Identifier, Certificate Request
 *# Type, Certificate Request, Template-Attribute; all optional. Section 4.8 Table 188
 *# (Re-certify): the same with Offset (an Interval) after the Certificate Request.
 *= kmip-spec-v2.0 section 6.1.6 Table 164 / 6.1.41 Table 274: Unique Identifier, Certificate
 *# Request Type, Certificate Request Value, [Offset], Attributes, Protection Storage Masks.
 *
 * Rules (decode and encode alike): the Certificate Request Type "is REQUIRED if the
 * Certificate Request is present"; a request without the other is CF_E_MISSING. The
 * request's bytes are a view (PKCS#10 DER or PEM text, parsed by the server, never here). */
#include "kmip/kmip_msg_int.h"

#define T(name) KMIP_TAG_##name

bool kmip_op_cert(uint32_t op)
{
	return op == KMIP_OPERATION_CERTIFY || op == KMIP_OPERATION_RE_CERTIFY;
}

/* The tag of the request bytes in this version. */
static uint32_t req_tag(int ver)
{
	return ver >= KMIP_V2_0 ? T(CERTIFICATE_REQUEST_VALUE) : T(CERTIFICATE_REQUEST);
}

cf_err kd_cert_req(struct kd *c, ttlv_rd *r, uint32_t op, struct kmip_req_certify *p)
{
	size_t at;

	TRY(kd_text(c, r, T(UNIQUE_IDENTIFIER), false, &p->uid));
	at = r->off;
	TRY(kd_enum(c, r, T(CERTIFICATE_REQUEST_TYPE), false, &p->has_req_type, &p->req_type));
	TRY(kd_bytes(c, r, req_tag(c->ver), false, &p->req));
	if (p->has_req_type != (p->req.p != NULL))
		return kd_fail(c, r, at, CF_E_MISSING);
	if (op == KMIP_OPERATION_RE_CERTIFY)
		TRY(kd_interval(c, r, T(OFFSET), false, &p->has_offset, &p->offset));
	TRY(kd_tmpl(c, r, T(TEMPLATE_ATTRIBUTE), false, &p->t));
	if (c->ver >= KMIP_V2_0)
		TRY(kd_struct(c, r, T(PROTECTION_STORAGE_MASKS), false, &p->psm));
	return CF_OK;
}

cf_err ke_cert_req(ttlv_wr *w, uint32_t op, const struct kmip_req_certify *p, int ver)
{
	if (p->has_req_type != (p->req.p != NULL))
		return CF_E_MISSING;
	TRY(ke_text(w, T(UNIQUE_IDENTIFIER), p->uid));
	if (p->has_req_type) {
		TRY(ke_enum(w, T(CERTIFICATE_REQUEST_TYPE), p->req_type, ver));
		TRY(ttlv_wr_bytes(w, req_tag(ver), p->req.p, p->req.n));
	}
	if (op == KMIP_OPERATION_RE_CERTIFY && p->has_offset)
		TRY(ttlv_wr_interval(w, T(OFFSET), p->offset));
	if (p->t.present)
		TRY(ke_tmpl(w, T(TEMPLATE_ATTRIBUTE), &p->t, ver));
	return ver >= KMIP_V2_0 ? ke_struct(w, T(PROTECTION_STORAGE_MASKS), p->psm) : CF_OK;
}
