/* Private helpers shared by kmip_msg.c, kmip_payload.c, kmip_attr.c and kmip_obj.c.
 * Not part of the public API (<module>_int.h). */
#ifndef COFFRE_KMIP_KMIP_MSG_INT_H
#define COFFRE_KMIP_KMIP_MSG_INT_H

#include "kmip/kmip.h"

/* Decode context: one per message. err is never NULL inside the decoder. */
struct kd {
	int ver;                         /* enum kmip_version */
	const struct kmip_limits *lim;
	struct kmip_arena *a;
	struct kmip_decode_error *err;
};

/* Record the failure position (the item header at reader offset `at`) once, return rc. */
MUST_USE cf_err kd_fail(struct kd *c, const ttlv_rd *r, size_t at, cf_err rc);

/* Generic validating walk over the rest of r: every tag known (or an extension tag) and
 * valid in c->ver, its type as the tag table says, enumerations / masks valid, structures
 * descended (depth limit), padding and lengths checked by the reader. */
MUST_USE cf_err kd_walk(struct kd *c, ttlv_rd *r);
/* Check one consumed primitive item against the tag table (type, enum). */
MUST_USE cf_err kd_check_item(struct kd *c, uint32_t tag, const struct ttlv_item *it);
/* Check a value of type `type` for attribute tag `tag` (type per table, enumeration). */
MUST_USE cf_err kd_check_value(struct kd *c, uint32_t tag, const struct ttlv_item *it);

/* Count consecutive items with this tag from the reader's position (headers only). */
size_t kd_count(const ttlv_rd *r, uint32_t tag);
/* n elements of size from the arena, after checking n against max (CF_E_TOO_MANY). */
MUST_USE cf_err kd_alloc(struct kd *c, const ttlv_rd *r, size_t n, size_t max, size_t size,
			 void **out);

/* The reader must be exhausted: CF_E_DUPLICATE when the leftover item repeats a tag seen
 * earlier in this structure, CF_E_UNKNOWN_TAG when its tag is unknown, else
 * CF_E_UNEXPECTED_TAG. */
MUST_USE cf_err kd_end(struct kd *c, const ttlv_rd *r);

MUST_USE cf_err kd_open(struct kd *c, ttlv_rd *r, uint32_t tag, ttlv_rd *child);
/* Required (req == true: CF_E_MISSING when the next item has another tag) or optional. */
MUST_USE cf_err kd_text(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, struct kmip_text *out);
MUST_USE cf_err kd_bytes(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, struct kmip_bytes *out);
MUST_USE cf_err kd_int(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, bool *has, int32_t *v);
MUST_USE cf_err kd_enum(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, bool *has, uint32_t *v);
MUST_USE cf_err kd_bool(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, bool *has, bool *v);
MUST_USE cf_err kd_datetime(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, bool *has,
			    int64_t *v);
MUST_USE cf_err kd_long(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, bool *has, int64_t *v);
MUST_USE cf_err kd_interval(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, bool *has,
			    uint32_t *v);
/* A Structure validated by kd_walk; *out = its encoded contents. */
MUST_USE cf_err kd_struct(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, struct kmip_bytes *out);
/* Consecutive items with this tag (any count, possibly 0), each validated as in kd_walk;
 * *out = their encoded bytes (headers included). */
MUST_USE cf_err kd_items(struct kd *c, ttlv_rd *r, uint32_t tag, struct kmip_bytes *out);

/* Attributes (kmip_attr.c). */
MUST_USE cf_err kd_attr_v1(struct kd *c, ttlv_rd *r, struct kmip_attr *a);
MUST_USE cf_err kd_attr_v2(struct kd *c, ttlv_rd *r, struct kmip_attr *a);
/* Consecutive 1.x Attribute items into t->a (count checked first). */
MUST_USE cf_err kd_attr_list_v1(struct kd *c, ttlv_rd *r, struct kmip_attrs *as);
/* 1.x Template-Attribute (tag) or 2.0 Attributes; req: CF_E_MISSING if absent. */
MUST_USE cf_err kd_tmpl(struct kd *c, ttlv_rd *r, uint32_t tag1x, bool req, struct kmip_tmpl *t);
/* 2.0 Attributes structure contents. */
MUST_USE cf_err kd_attrs_v2(struct kd *c, ttlv_rd *r, struct kmip_attrs *as);
/* Attribute Name (1.x) / Attribute Reference (2.0) lists and single items. */
MUST_USE cf_err kd_ref(struct kd *c, ttlv_rd *r, struct kmip_attr_ref *ref);
MUST_USE cf_err kd_refs(struct kd *c, ttlv_rd *r, struct kmip_attr_refs *refs);
/* 2.0 New Attribute / Current Attribute wrapper with exactly one attribute inside. */
MUST_USE cf_err kd_attr_wrapped(struct kd *c, ttlv_rd *r, uint32_t tag, struct kmip_attr *a);

MUST_USE cf_err ke_attr_v1(ttlv_wr *w, const struct kmip_attr *a, int ver);
MUST_USE cf_err ke_attr_v2(ttlv_wr *w, const struct kmip_attr *a, int ver);
MUST_USE cf_err ke_attrs_v2(ttlv_wr *w, uint32_t tag, const struct kmip_attrs *as, int ver);
/* Template form by version: 1.x tag1x {names, Attribute*} (tag1x 0 = bare list); 2.0 Attributes. */
MUST_USE cf_err ke_tmpl(ttlv_wr *w, uint32_t tag1x, const struct kmip_tmpl *t, int ver);
MUST_USE cf_err ke_ref(ttlv_wr *w, const struct kmip_attr_ref *ref, int ver);
MUST_USE cf_err ke_attr_wrapped(ttlv_wr *w, uint32_t tag, const struct kmip_attr *a, int ver);

/* Objects (kmip_obj.c): the object Structure whose tag matches object_type. */
MUST_USE cf_err kd_object(struct kd *c, ttlv_rd *r, uint32_t object_type, struct kmip_object *o);
MUST_USE cf_err ke_object(ttlv_wr *w, const struct kmip_object *o, int ver);

/* Payloads (kmip_payload.c): decode the contents of a payload Structure. */
MUST_USE cf_err kd_payload(struct kd *c, ttlv_rd *r, uint32_t op, bool response,
			   struct kmip_payload *pl);

/* Create Key Pair / Re-key Key Pair payloads (kmip_kp.c). */
MUST_USE cf_err kd_kp_req(struct kd *c, ttlv_rd *r, uint32_t op, struct kmip_req_create_kp *p);
MUST_USE cf_err kd_kp_rsp(struct kd *c, ttlv_rd *r, struct kmip_rsp_create_kp *p);
MUST_USE cf_err ke_kp_req(ttlv_wr *w, uint32_t op, const struct kmip_req_create_kp *p, int ver);
MUST_USE cf_err ke_kp_rsp(ttlv_wr *w, const struct kmip_rsp_create_kp *p, int ver);

/* Cryptographic services payloads (kmip_crypto.c): Encrypt ... Hash, RNG Retrieve / Seed and
 * the Derive Key request (its response is Register's). */
bool kmip_op_crypto(uint32_t op);
MUST_USE cf_err kd_crypto_payload(struct kd *c, ttlv_rd *r, bool response,
				  struct kmip_payload *pl);
MUST_USE cf_err ke_crypto_payload(ttlv_wr *w, const struct kmip_payload *pl, bool response,
				  int ver);

/* Lifecycle payloads (kmip_life.c): Obtain Lease, Poll (request), Cancel. */
bool kmip_op_life(uint32_t op);
MUST_USE cf_err kd_life_payload(struct kd *c, ttlv_rd *r, bool response,
				struct kmip_payload *pl);
MUST_USE cf_err ke_life_payload(ttlv_wr *w, const struct kmip_payload *pl, bool response,
				int ver);

/* Split key payloads (kmip_split.c): Create Split Key, Join Split Key. */
bool kmip_op_split(uint32_t op);
MUST_USE cf_err kd_split_payload(struct kd *c, ttlv_rd *r, bool response,
				 struct kmip_payload *pl);
MUST_USE cf_err ke_split_payload(ttlv_wr *w, const struct kmip_payload *pl, bool response,
				 int ver);
/* Certify / Re-certify request payloads (kmip_cert.c); their responses are Register's. */
bool kmip_op_cert(uint32_t op);
MUST_USE cf_err kd_cert_req(struct kd *c, ttlv_rd *r, uint32_t op, struct kmip_req_certify *p);
MUST_USE cf_err ke_cert_req(ttlv_wr *w, uint32_t op, const struct kmip_req_certify *p, int ver);

/* Encoder helpers (kmip_codec.c). Each writes nothing when the view is absent. */
MUST_USE cf_err ke_text(ttlv_wr *w, uint32_t tag, struct kmip_text t);
MUST_USE cf_err ke_bytes(ttlv_wr *w, uint32_t tag, struct kmip_bytes b);
/* Structure with already-encoded contents (absent view: nothing written). */
MUST_USE cf_err ke_struct(ttlv_wr *w, uint32_t tag, struct kmip_bytes contents);
/* Already-encoded items verbatim (absent or empty: nothing). */
MUST_USE cf_err ke_items(ttlv_wr *w, struct kmip_bytes items);
/* A value of any type (Structure: contents). */
MUST_USE cf_err ke_value(ttlv_wr *w, uint32_t tag, uint8_t type, struct kmip_bytes val);
/* Enumeration checked against the version's table (CF_E_BAD_ENUM). */
MUST_USE cf_err ke_enum(ttlv_wr *w, uint32_t tag, uint32_t v, int ver);

#endif
