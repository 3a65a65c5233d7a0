/* Shared decode/encode helpers of the message layer: typed field getters with error
 * positions, the generic validating walk, and the small encoder helpers. */
#include "kmip/kmip_msg_int.h"

#include <string.h>

static size_t pad8(uint32_t len)
{
	return ((size_t)len + 7u) & ~(size_t)7u;
}

cf_err kd_fail(struct kd *c, const ttlv_rd *r, size_t at, cf_err rc)
{
	struct kmip_decode_error *e = c->err;

	if (rc == CF_OK || e == NULL || e->has_pos)
		return rc;
	e->has_pos = true;
	e->offset = r->base + at;
	e->tag = 0;
	if (at <= r->len) {
		ttlv_rd t = *r;
		struct ttlv_item it;
		t.off = at;
		/* peek fills the tag whenever 8 header bytes exist, even when it fails */
		if (ttlv_rd_peek(&t, &it) == CF_OK || it.tag != 0)
			e->tag = it.tag;
	}
	return rc;
}

/*= kmip-spec-v1.4 section 9.1.3 (defined values): enumerations take only the listed values
 *# (or extension values 8XXXXXXX); masks only listed bits. */
static cf_err check_enum(struct kd *c, uint32_t tag, const struct ttlv_item *it)
{
	const struct kmip_enum_table *et;

	if (it->type != TTLV_ENUMERATION && it->type != TTLV_INTEGER)
		return CF_OK;
	et = kmip_enum_table_for(tag);
	if (et == NULL)
		return CF_OK;
	if (it->type == TTLV_ENUMERATION && et->is_mask)
		return CF_OK;
	if (it->type == TTLV_INTEGER && !et->is_mask)
		return CF_OK;
	return kmip_enum_valid(tag, ttlv_item_u32(it), c->ver) ? CF_OK : CF_E_BAD_ENUM;
}

cf_err kd_check_item(struct kd *c, uint32_t tag, const struct ttlv_item *it)
{
	const struct kmip_tag_info *ti = kmip_tag_lookup(tag);

	if (ti == NULL)
		return kmip_tag_is_extension(tag) ? CF_OK : CF_E_UNKNOWN_TAG;
	if (!kmip_tag_valid(tag, c->ver))
		return CF_E_UNEXPECTED_TAG;
	uint8_t t = kmip_tag_type(tag, c->ver);
	if (t != 0 && t != it->type)
		return CF_E_BAD_TYPE;
	return check_enum(c, tag, it);
}

cf_err kd_check_value(struct kd *c, uint32_t tag, const struct ttlv_item *it)
{
	return kd_check_item(c, tag, it);
}

/* loose: only the TTLV form is checked (types, lengths, padding, UTF-8, depth), not the
 * tags: the contents of a Vendor Extension are vendor-defined.
 *= kmip-spec-v1.4 section 6.16 (Message Extension): Vendor Extension, Structure, contents
 *# vendor-specific. */
static cf_err walk(struct kd *c, ttlv_rd *r, bool loose)
{
	while (!ttlv_rd_done(r)) {
		size_t at = r->off;
		struct ttlv_item it;
		cf_err rc = ttlv_rd_peek(r, &it);

		if (rc != CF_OK)
			return kd_fail(c, r, at, rc);
		if (it.type == TTLV_STRUCTURE) {
			ttlv_rd ch;
			if (!loose && (rc = kd_check_item(c, it.tag, &it)) != CF_OK)
				return kd_fail(c, r, at, rc);
			if ((rc = ttlv_rd_open(r, it.tag, &ch, NULL)) != CF_OK)
				return kd_fail(c, r, at, rc);
			TRY(walk(c, &ch, loose || it.tag == KMIP_TAG_VENDOR_EXTENSION));
			if ((rc = ttlv_rd_close(&ch)) != CF_OK)
				return kd_fail(c, &ch, ch.off, rc);
		} else {
			if ((rc = ttlv_rd_next(r, &it)) != CF_OK)
				return kd_fail(c, r, at, rc);
			if (!loose && (rc = kd_check_item(c, it.tag, &it)) != CF_OK)
				return kd_fail(c, r, at, rc);
		}
	}
	return CF_OK;
}

cf_err kd_walk(struct kd *c, ttlv_rd *r)
{
	return walk(c, r, false);
}

size_t kd_count(const ttlv_rd *r, uint32_t tag)
{
	ttlv_rd t = *r;
	size_t n = 0;
	struct ttlv_item it;

	while (ttlv_rd_peek(&t, &it) == CF_OK && it.tag == tag) {
		n++;
		t.off += TTLV_HDR_LEN + pad8(it.len); /* peek checked that the padded value fits */
	}
	return n;
}

cf_err kd_alloc(struct kd *c, const ttlv_rd *r, size_t n, size_t max, size_t size, void **out)
{
	*out = NULL;
	if (n > max)
		return kd_fail(c, r, r->off, CF_E_TOO_MANY);
	cf_err rc = kmip_arena_alloc(c->a, n, size, out);
	if (rc != CF_OK)
		return kd_fail(c, r, r->off, rc);
	return CF_OK;
}

cf_err kd_end(struct kd *c, const ttlv_rd *r)
{
	struct ttlv_item left, it;
	cf_err rc;

	if (ttlv_rd_done(r))
		return CF_OK;
	if ((rc = ttlv_rd_peek(r, &left)) != CF_OK)
		return kd_fail(c, r, r->off, rc);
	ttlv_rd t = *r;
	t.off = 0;
	while (t.off < r->off && ttlv_rd_peek(&t, &it) == CF_OK) {
		if (it.tag == left.tag)
			return kd_fail(c, r, r->off, CF_E_DUPLICATE);
		t.off += TTLV_HDR_LEN + pad8(it.len);
	}
	if (kmip_tag_lookup(left.tag) == NULL && !kmip_tag_is_extension(left.tag))
		return kd_fail(c, r, r->off, CF_E_UNKNOWN_TAG);
	return kd_fail(c, r, r->off, CF_E_UNEXPECTED_TAG);
}

cf_err kd_open(struct kd *c, ttlv_rd *r, uint32_t tag, ttlv_rd *child)
{
	size_t at = r->off;
	cf_err rc;

	if (ttlv_rd_done(r)) {
		memset(child, 0, sizeof *child);
		return kd_fail(c, r, at, CF_E_MISSING);
	}
	rc = ttlv_rd_open(r, tag, child, NULL);
	if (rc == CF_E_UNEXPECTED_TAG && !ttlv_rd_next_is(r, tag))
		rc = CF_E_MISSING;
	return kd_fail(c, r, at, rc);
}

/* Absent optional field: CF_OK and nothing read. Absent required: CF_E_MISSING. */
static cf_err absent(struct kd *c, const ttlv_rd *r, uint32_t tag, bool req, bool *present)
{
	*present = ttlv_rd_next_is(r, tag);
	if (!*present && req) {
		struct ttlv_item it;
		cf_err rc = CF_E_MISSING;
		/* a malformed next item reports its own error */
		if (!ttlv_rd_done(r) && ttlv_rd_peek(r, &it) != CF_OK)
			rc = ttlv_rd_peek(r, &it);
		return kd_fail(c, r, r->off, rc);
	}
	return CF_OK;
}

cf_err kd_text(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, struct kmip_text *out)
{
	bool present;
	*out = (struct kmip_text){ 0 };
	TRY(absent(c, r, tag, req, &present));
	if (!present)
		return CF_OK;
	size_t at = r->off;
	return kd_fail(c, r, at, ttlv_rd_text(r, tag, &out->p, &out->n));
}

cf_err kd_bytes(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, struct kmip_bytes *out)
{
	bool present;
	*out = (struct kmip_bytes){ 0 };
	TRY(absent(c, r, tag, req, &present));
	if (!present)
		return CF_OK;
	size_t at = r->off;
	cf_err rc = ttlv_rd_bytes(r, tag, &out->p, &out->n);
	if (rc == CF_OK && out->p == NULL)
		out->p = (const uint8_t *)""; /* present but empty */
	return kd_fail(c, r, at, rc);
}

cf_err kd_int(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, bool *has, int32_t *v)
{
	bool present;
	*v = 0;
	if (has != NULL)
		*has = false;
	TRY(absent(c, r, tag, req, &present));
	if (!present)
		return CF_OK;
	size_t at = r->off;
	struct ttlv_item it;
	cf_err rc = ttlv_rd_expect(r, tag, TTLV_INTEGER, &it);
	if (rc == CF_OK)
		rc = check_enum(c, tag, &it); /* masks */
	if (rc != CF_OK)
		return kd_fail(c, r, at, rc);
	*v = ttlv_item_int(&it);
	if (has != NULL)
		*has = true;
	return CF_OK;
}

cf_err kd_enum(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, bool *has, uint32_t *v)
{
	bool present;
	*v = 0;
	if (has != NULL)
		*has = false;
	TRY(absent(c, r, tag, req, &present));
	if (!present)
		return CF_OK;
	size_t at = r->off;
	struct ttlv_item it;
	cf_err rc = ttlv_rd_expect(r, tag, TTLV_ENUMERATION, &it);
	if (rc == CF_OK)
		rc = check_enum(c, tag, &it);
	if (rc != CF_OK)
		return kd_fail(c, r, at, rc);
	*v = ttlv_item_u32(&it);
	if (has != NULL)
		*has = true;
	return CF_OK;
}

cf_err kd_bool(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, bool *has, bool *v)
{
	bool present;
	*v = false;
	if (has != NULL)
		*has = false;
	TRY(absent(c, r, tag, req, &present));
	if (!present)
		return CF_OK;
	size_t at = r->off;
	cf_err rc = ttlv_rd_bool(r, tag, v);
	if (rc != CF_OK)
		return kd_fail(c, r, at, rc);
	if (has != NULL)
		*has = true;
	return CF_OK;
}

cf_err kd_datetime(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, bool *has, int64_t *v)
{
	bool present;
	*v = 0;
	if (has != NULL)
		*has = false;
	TRY(absent(c, r, tag, req, &present));
	if (!present)
		return CF_OK;
	size_t at = r->off;
	cf_err rc = ttlv_rd_datetime(r, tag, v);
	if (rc != CF_OK)
		return kd_fail(c, r, at, rc);
	if (has != NULL)
		*has = true;
	return CF_OK;
}

cf_err kd_long(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, bool *has, int64_t *v)
{
	bool present;
	*v = 0;
	*has = false;
	TRY(absent(c, r, tag, req, &present));
	if (!present)
		return CF_OK;
	size_t at = r->off;
	cf_err rc = ttlv_rd_long(r, tag, v);
	if (rc != CF_OK)
		return kd_fail(c, r, at, rc);
	*has = true;
	return CF_OK;
}

cf_err kd_interval(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, bool *has, uint32_t *v)
{
	bool present;
	*v = 0;
	*has = false;
	TRY(absent(c, r, tag, req, &present));
	if (!present)
		return CF_OK;
	size_t at = r->off;
	cf_err rc = ttlv_rd_interval(r, tag, v);
	if (rc != CF_OK)
		return kd_fail(c, r, at, rc);
	*has = true;
	return CF_OK;
}

cf_err kd_struct(struct kd *c, ttlv_rd *r, uint32_t tag, bool req, struct kmip_bytes *out)
{
	bool present;
	ttlv_rd ch;
	*out = (struct kmip_bytes){ 0 };
	TRY(absent(c, r, tag, req, &present));
	if (!present)
		return CF_OK;
	TRY(kd_open(c, r, tag, &ch));
	TRY(kd_walk(c, &ch));
	out->p = ch.p != NULL ? ch.p : (const uint8_t *)"";
	out->n = ch.len;
	return CF_OK;
}

cf_err kd_items(struct kd *c, ttlv_rd *r, uint32_t tag, struct kmip_bytes *out)
{
	size_t start = r->off;

	*out = (struct kmip_bytes){ 0 };
	while (!ttlv_rd_done(r) && ttlv_rd_next_is(r, tag)) {
		size_t at = r->off;
		struct ttlv_item it;
		cf_err rc = ttlv_rd_peek(r, &it);
		if (rc != CF_OK)
			return kd_fail(c, r, at, rc);
		if ((rc = kd_check_item(c, it.tag, &it)) != CF_OK)
			return kd_fail(c, r, at, rc);
		if (it.type == TTLV_STRUCTURE) {
			ttlv_rd ch;
			TRY(kd_open(c, r, it.tag, &ch));
			TRY(kd_walk(c, &ch));
		} else {
			if ((rc = ttlv_rd_next(r, &it)) != CF_OK)
				return kd_fail(c, r, at, rc);
			if ((rc = kd_check_item(c, it.tag, &it)) != CF_OK)
				return kd_fail(c, r, at, rc);
		}
	}
	if (r->off > start) {
		out->p = r->p + start;
		out->n = r->off - start;
	}
	return CF_OK;
}

/* ---- encoder helpers ------------------------------------------------------------------ */

cf_err ke_text(ttlv_wr *w, uint32_t tag, struct kmip_text t)
{
	if (t.p == NULL)
		return CF_OK;
	return ttlv_wr_text(w, tag, t.p, t.n);
}

cf_err ke_bytes(ttlv_wr *w, uint32_t tag, struct kmip_bytes b)
{
	if (b.p == NULL)
		return CF_OK;
	return ttlv_wr_bytes(w, tag, b.p, b.n);
}

cf_err ke_items(ttlv_wr *w, struct kmip_bytes items_)
{
	if (items_.p == NULL || items_.n == 0)
		return CF_OK;
	return ttlv_wr_copy(w, items_.p, items_.n);
}

cf_err ke_struct(ttlv_wr *w, uint32_t tag, struct kmip_bytes contents)
{
	size_t m;
	if (contents.p == NULL)
		return CF_OK;
	TRY(ttlv_wr_begin(w, tag, &m));
	TRY(ke_items(w, contents));
	return ttlv_wr_end(w, m);
}

cf_err ke_value(ttlv_wr *w, uint32_t tag, uint8_t type, struct kmip_bytes val)
{
	if (type == TTLV_STRUCTURE) {
		struct kmip_bytes v = val;
		if (v.p == NULL)
			v.p = (const uint8_t *)"";
		return ke_struct(w, tag, v);
	}
	if (type == TTLV_TEXT_STRING)
		return ttlv_wr_text(w, tag, (const char *)val.p, val.n);
	return ttlv_wr_raw(w, tag, type, val.p, val.n);
}

cf_err ke_enum(ttlv_wr *w, uint32_t tag, uint32_t v, int ver)
{
	if (kmip_enum_table_for(tag) != NULL && !kmip_enum_valid(tag, v, ver))
		return CF_E_BAD_ENUM;
	return ttlv_wr_enum(w, tag, v);
}
