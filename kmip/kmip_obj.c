/* Managed objects: Symmetric Key, Public / Private Key, Secret Data (Key Block), Opaque
 * Object, Certificate, Split Key, PGP Key typed; Template and Certificate Request kept as
 * validated raw contents. Key Wrapping Data is kept verbatim.
 *
 *= kmip-spec-v1.4 section 2.2.9 Table 53 (PGP Key): PGP Key Version (Integer), Key Block;
 *# both required.
 *
 *= kmip-spec-v1.4 section 2.1.3 (Key Block): Key Format Type, Key Compression Type
 *# (optional), Key Value, Cryptographic Algorithm, Cryptographic Length, Key Wrapping Data. */
#include "kmip/kmip_msg_int.h"

#include <string.h>

uint32_t kmip_object_tag(uint32_t object_type, int version)
{
	uint32_t tag;

	switch (object_type) {
	case KMIP_OBJECT_TYPE_CERTIFICATE: tag = KMIP_TAG_CERTIFICATE; break;
	case KMIP_OBJECT_TYPE_SYMMETRIC_KEY: tag = KMIP_TAG_SYMMETRIC_KEY; break;
	case KMIP_OBJECT_TYPE_PUBLIC_KEY: tag = KMIP_TAG_PUBLIC_KEY; break;
	case KMIP_OBJECT_TYPE_PRIVATE_KEY: tag = KMIP_TAG_PRIVATE_KEY; break;
	case KMIP_OBJECT_TYPE_SPLIT_KEY: tag = KMIP_TAG_SPLIT_KEY; break;
	case KMIP_OBJECT_TYPE_TEMPLATE: tag = KMIP_TAG_TEMPLATE; break;
	case KMIP_OBJECT_TYPE_SECRET_DATA: tag = KMIP_TAG_SECRET_DATA; break;
	case KMIP_OBJECT_TYPE_OPAQUE_OBJECT: tag = KMIP_TAG_OPAQUE_OBJECT; break;
	case KMIP_OBJECT_TYPE_PGP_KEY: tag = KMIP_TAG_PGP_KEY; break;
	case KMIP_OBJECT_TYPE_CERTIFICATE_REQUEST: tag = KMIP_TAG_CERTIFICATE_REQUEST; break;
	default: return 0;
	}
	if (!kmip_enum_valid(KMIP_TAG_OBJECT_TYPE, object_type, version) ||
	    !kmip_tag_valid(tag, version))
		return 0;
	return tag;
}

/* Key Format Types whose Key Material is a Structure (Transparent *). */
static bool fmt_transparent(uint32_t f)
{
	return f >= KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY && f <= 0x15u;
}

static bool fmt_extension(uint32_t f)
{
	return (f & 0xF0000000u) == 0x80000000u;
}

static cf_err kd_key_material(struct kd *c, ttlv_rd *r, struct kmip_key_block *kb)
{
	size_t at = r->off;
	struct ttlv_item it;
	cf_err rc;

	if (ttlv_rd_done(r) || !ttlv_rd_next_is(r, KMIP_TAG_KEY_MATERIAL))
		return kd_fail(c, r, at, ttlv_rd_done(r) ? CF_E_MISSING : CF_E_UNEXPECTED_TAG);
	if ((rc = ttlv_rd_peek(r, &it)) != CF_OK)
		return kd_fail(c, r, at, rc);
	if (it.type == TTLV_STRUCTURE) {
		if (!fmt_transparent(kb->format) && !fmt_extension(kb->format))
			return kd_fail(c, r, at, CF_E_BAD_OBJECT);
		kb->material_type = TTLV_STRUCTURE;
		if (kb->format == KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY) {
			ttlv_rd ch;
			TRY(kd_open(c, r, KMIP_TAG_KEY_MATERIAL, &ch));
			TRY(kd_bytes(c, &ch, KMIP_TAG_KEY, true, &kb->material));
			return kd_end(c, &ch);
		}
		return kd_struct(c, r, KMIP_TAG_KEY_MATERIAL, true, &kb->material);
	}
	if (it.type != TTLV_BYTE_STRING)
		return kd_fail(c, r, at, CF_E_BAD_TYPE);
	if (fmt_transparent(kb->format))
		return kd_fail(c, r, at, CF_E_BAD_OBJECT);
	kb->material_type = TTLV_BYTE_STRING;
	return kd_bytes(c, r, KMIP_TAG_KEY_MATERIAL, true, &kb->material);
}

static cf_err kd_key_block(struct kd *c, ttlv_rd *r, struct kmip_key_block *kb)
{
	ttlv_rd ch;
	struct ttlv_item it;
	size_t at;
	cf_err rc;

	memset(kb, 0, sizeof *kb);
	TRY(kd_open(c, r, KMIP_TAG_KEY_BLOCK, &ch));
	TRY(kd_enum(c, &ch, KMIP_TAG_KEY_FORMAT_TYPE, true, NULL, &kb->format));
	TRY(kd_enum(c, &ch, KMIP_TAG_KEY_COMPRESSION_TYPE, false, &kb->has_compression,
		    &kb->compression));
	at = ch.off;
	if (ttlv_rd_next_is(&ch, KMIP_TAG_KEY_VALUE)) {
		if ((rc = ttlv_rd_peek(&ch, &it)) != CF_OK)
			return kd_fail(c, &ch, at, rc);
		kb->has_value = true;
		if (it.type == TTLV_BYTE_STRING) {
			kb->value_wrapped = true;
			TRY(kd_bytes(c, &ch, KMIP_TAG_KEY_VALUE, true, &kb->wrapped_value));
		} else if (it.type == TTLV_STRUCTURE) {
			ttlv_rd kv;
			TRY(kd_open(c, &ch, KMIP_TAG_KEY_VALUE, &kv));
			TRY(kd_key_material(c, &kv, kb));
			TRY(kd_tmpl(c, &kv, 0, false, &kb->attrs));
			TRY(kd_end(c, &kv));
		} else {
			return kd_fail(c, &ch, at, CF_E_BAD_TYPE);
		}
	} else if (c->ver < KMIP_V2_0) {
		/*= kmip-spec-v1.4 section 2.1.3: Key Value is REQUIRED in 1.x. */
		return kd_fail(c, &ch, at, CF_E_MISSING);
	}
	TRY(kd_enum(c, &ch, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, false, &kb->has_alg, &kb->alg));
	TRY(kd_int(c, &ch, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, false, &kb->has_len, &kb->len));
	TRY(kd_struct(c, &ch, KMIP_TAG_KEY_WRAPPING_DATA, false, &kb->wrapping));
	if (kb->value_wrapped && kb->wrapping.p == NULL)
		return kd_fail(c, &ch, at, CF_E_BAD_OBJECT); /* a Byte String Key Value is wrapped */
	return kd_end(c, &ch);
}

cf_err kd_object(struct kd *c, ttlv_rd *r, uint32_t object_type, struct kmip_object *o)
{
	uint32_t tag = kmip_object_tag(object_type, c->ver);
	ttlv_rd ch;

	memset(o, 0, sizeof *o);
	if (tag == 0)
		return kd_fail(c, r, r->off, CF_E_BAD_OBJECT);
	o->type = object_type;
	switch (object_type) {
	case KMIP_OBJECT_TYPE_SYMMETRIC_KEY:
	case KMIP_OBJECT_TYPE_PUBLIC_KEY:
	case KMIP_OBJECT_TYPE_PRIVATE_KEY:
		TRY(kd_open(c, r, tag, &ch));
		TRY(kd_key_block(c, &ch, &o->kb));
		return kd_end(c, &ch);
	case KMIP_OBJECT_TYPE_SECRET_DATA:
		TRY(kd_open(c, r, tag, &ch));
		TRY(kd_enum(c, &ch, KMIP_TAG_SECRET_DATA_TYPE, true, NULL, &o->secret_type));
		TRY(kd_key_block(c, &ch, &o->kb));
		return kd_end(c, &ch);
	case KMIP_OBJECT_TYPE_OPAQUE_OBJECT:
		TRY(kd_open(c, r, tag, &ch));
		TRY(kd_enum(c, &ch, KMIP_TAG_OPAQUE_DATA_TYPE, true, NULL, &o->opaque_type));
		TRY(kd_bytes(c, &ch, KMIP_TAG_OPAQUE_DATA_VALUE, true, &o->opaque));
		return kd_end(c, &ch);
	case KMIP_OBJECT_TYPE_CERTIFICATE:
		TRY(kd_open(c, r, tag, &ch));
		TRY(kd_enum(c, &ch, KMIP_TAG_CERTIFICATE_TYPE, true, NULL, &o->cert_type));
		TRY(kd_bytes(c, &ch, KMIP_TAG_CERTIFICATE_VALUE, true, &o->cert));
		return kd_end(c, &ch);
	case KMIP_OBJECT_TYPE_SPLIT_KEY:
		TRY(kd_open(c, r, tag, &ch));
		TRY(kd_int(c, &ch, KMIP_TAG_SPLIT_KEY_PARTS, true, NULL, &o->split.parts));
		TRY(kd_int(c, &ch, KMIP_TAG_KEY_PART_IDENTIFIER, true, NULL, &o->split.part_id));
		TRY(kd_int(c, &ch, KMIP_TAG_SPLIT_KEY_THRESHOLD, true, NULL, &o->split.threshold));
		TRY(kd_enum(c, &ch, KMIP_TAG_SPLIT_KEY_METHOD, true, NULL, &o->split.method));
		if (ttlv_rd_next_is(&ch, KMIP_TAG_PRIME_FIELD_SIZE)) {
			size_t at = ch.off;
			TRY(kd_fail(c, &ch, at, ttlv_rd_bigint(&ch, KMIP_TAG_PRIME_FIELD_SIZE,
							       &o->split.prime.p, &o->split.prime.n)));
		}
		TRY(kd_key_block(c, &ch, &o->kb));
		return kd_end(c, &ch);
	case KMIP_OBJECT_TYPE_PGP_KEY:
		TRY(kd_open(c, r, tag, &ch));
		TRY(kd_int(c, &ch, KMIP_TAG_PGP_KEY_VERSION, true, NULL, &o->pgp_version));
		TRY(kd_key_block(c, &ch, &o->kb));
		return kd_end(c, &ch);
	default:
		return kd_struct(c, r, tag, true, &o->raw);
	}
}

static cf_err ke_key_block(ttlv_wr *w, const struct kmip_key_block *kb, int ver)
{
	size_t m, mv, mm;

	TRY(ttlv_wr_begin(w, KMIP_TAG_KEY_BLOCK, &m));
	TRY(ke_enum(w, KMIP_TAG_KEY_FORMAT_TYPE, kb->format, ver));
	if (kb->has_compression)
		TRY(ke_enum(w, KMIP_TAG_KEY_COMPRESSION_TYPE, kb->compression, ver));
	if (kb->has_value && kb->value_wrapped) {
		TRY(ttlv_wr_bytes(w, KMIP_TAG_KEY_VALUE, kb->wrapped_value.p, kb->wrapped_value.n));
	} else if (kb->has_value) {
		TRY(ttlv_wr_begin(w, KMIP_TAG_KEY_VALUE, &mv));
		if (kb->material_type == TTLV_STRUCTURE &&
		    kb->format == KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY) {
			TRY(ttlv_wr_begin(w, KMIP_TAG_KEY_MATERIAL, &mm));
			TRY(ttlv_wr_bytes(w, KMIP_TAG_KEY, kb->material.p, kb->material.n));
			TRY(ttlv_wr_end(w, mm));
		} else if (kb->material_type == TTLV_STRUCTURE) {
			struct kmip_bytes b = kb->material;
			if (b.p == NULL)
				b.p = (const uint8_t *)"";
			TRY(ke_struct(w, KMIP_TAG_KEY_MATERIAL, b));
		} else {
			TRY(ttlv_wr_bytes(w, KMIP_TAG_KEY_MATERIAL, kb->material.p, kb->material.n));
		}
		TRY(ke_tmpl(w, 0, &kb->attrs, ver));
		TRY(ttlv_wr_end(w, mv));
	} else if (ver < KMIP_V2_0) {
		return CF_E_MISSING;
	}
	if (kb->has_alg)
		TRY(ke_enum(w, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, kb->alg, ver));
	if (kb->has_len)
		TRY(ttlv_wr_int(w, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, kb->len));
	TRY(ke_struct(w, KMIP_TAG_KEY_WRAPPING_DATA, kb->wrapping));
	return ttlv_wr_end(w, m);
}

cf_err ke_object(ttlv_wr *w, const struct kmip_object *o, int ver)
{
	uint32_t tag = kmip_object_tag(o->type, ver);
	size_t m;

	if (tag == 0)
		return CF_E_BAD_OBJECT;
	switch (o->type) {
	case KMIP_OBJECT_TYPE_SYMMETRIC_KEY:
	case KMIP_OBJECT_TYPE_PUBLIC_KEY:
	case KMIP_OBJECT_TYPE_PRIVATE_KEY:
		TRY(ttlv_wr_begin(w, tag, &m));
		TRY(ke_key_block(w, &o->kb, ver));
		return ttlv_wr_end(w, m);
	case KMIP_OBJECT_TYPE_SECRET_DATA:
		TRY(ttlv_wr_begin(w, tag, &m));
		TRY(ke_enum(w, KMIP_TAG_SECRET_DATA_TYPE, o->secret_type, ver));
		TRY(ke_key_block(w, &o->kb, ver));
		return ttlv_wr_end(w, m);
	case KMIP_OBJECT_TYPE_OPAQUE_OBJECT:
		TRY(ttlv_wr_begin(w, tag, &m));
		TRY(ke_enum(w, KMIP_TAG_OPAQUE_DATA_TYPE, o->opaque_type, ver));
		TRY(ttlv_wr_bytes(w, KMIP_TAG_OPAQUE_DATA_VALUE, o->opaque.p, o->opaque.n));
		return ttlv_wr_end(w, m);
	case KMIP_OBJECT_TYPE_CERTIFICATE:
		TRY(ttlv_wr_begin(w, tag, &m));
		TRY(ke_enum(w, KMIP_TAG_CERTIFICATE_TYPE, o->cert_type, ver));
		TRY(ttlv_wr_bytes(w, KMIP_TAG_CERTIFICATE_VALUE, o->cert.p, o->cert.n));
		return ttlv_wr_end(w, m);
	case KMIP_OBJECT_TYPE_SPLIT_KEY:
		TRY(ttlv_wr_begin(w, tag, &m));
		TRY(ttlv_wr_int(w, KMIP_TAG_SPLIT_KEY_PARTS, o->split.parts));
		TRY(ttlv_wr_int(w, KMIP_TAG_KEY_PART_IDENTIFIER, o->split.part_id));
		TRY(ttlv_wr_int(w, KMIP_TAG_SPLIT_KEY_THRESHOLD, o->split.threshold));
		TRY(ke_enum(w, KMIP_TAG_SPLIT_KEY_METHOD, o->split.method, ver));
		if (o->split.prime.p != NULL)
			TRY(ttlv_wr_bigint(w, KMIP_TAG_PRIME_FIELD_SIZE, o->split.prime.p,
					   o->split.prime.n));
		TRY(ke_key_block(w, &o->kb, ver));
		return ttlv_wr_end(w, m);
	case KMIP_OBJECT_TYPE_PGP_KEY:
		TRY(ttlv_wr_begin(w, tag, &m));
		TRY(ttlv_wr_int(w, KMIP_TAG_PGP_KEY_VERSION, o->pgp_version));
		TRY(ke_key_block(w, &o->kb, ver));
		return ttlv_wr_end(w, m);
	default: {
		struct kmip_bytes b = o->raw;
		if (b.p == NULL)
			b.p = (const uint8_t *)"";
		return ke_struct(w, tag, b);
	}
	}
}
