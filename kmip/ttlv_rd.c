/* TTLV reader. Every bounds check subtracts from what remains; lengths are widened
 * to size_t before padding is added, so no 32-bit wrap is possible.
 *
 *= kmip-spec-v1.4 section 9.1.1 (TTLV encoding): Tag 3 bytes, Type 1 byte, Length 4 bytes,
 *#  Value padded to a multiple of 8 bytes with zeros. */
#include "kmip/ttlv.h"

#include <stdlib.h>
#include <string.h>

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return ((uint64_t)be32(p) << 32) | (uint64_t)be32(p + 4);
}

static size_t pad8(uint32_t len)
{
	return ((size_t)len + 7u) & ~(size_t)7u;
}

static void rd_check(const ttlv_rd *r)
{
	if (r->off > r->len)
		abort(); /* corrupt invariant: never reached from hostile input */
}

cf_err ttlv_msg_len(const uint8_t *hdr, size_t n, uint32_t want_tag,
		    const struct kmip_limits *lim, size_t *total)
{
	if (total != NULL)
		*total = 0;
	if (hdr == NULL || lim == NULL || total == NULL)
		return CF_E_INVALID_ARG;
	if (n < TTLV_HDR_LEN)
		return CF_E_TRUNCATED;
	uint32_t tag = be32(hdr) >> 8;
	uint8_t type = hdr[3];
	uint32_t len = be32(hdr + 4);
	if (want_tag != 0 && tag != want_tag)
		return CF_E_BAD_MESSAGE;
	if (type != TTLV_STRUCTURE)
		return CF_E_BAD_MESSAGE;
	if (lim->max_message < TTLV_HDR_LEN || (size_t)len > lim->max_message - TTLV_HDR_LEN)
		return CF_E_TOO_LARGE;
	if ((len & 7u) != 0)
		return CF_E_BAD_LENGTH; /* a Structure's content is a whole number of padded items */
	*total = TTLV_HDR_LEN + (size_t)len;
	return CF_OK;
}

void ttlv_rd_init(ttlv_rd *r, const uint8_t *p, size_t n, const struct kmip_limits *lim)
{
	struct kmip_limits d = KMIP_LIMITS_DEFAULT;
	if (lim == NULL)
		lim = &d;
	*r = (ttlv_rd){ .p = p, .len = p ? n : 0, .off = 0, .depth = 0,
			.max_depth = lim->max_depth, .max_bytes = lim->max_bytes, .base = 0 };
}

static bool type_known(uint8_t t)
{
	return t >= TTLV_STRUCTURE && t <= TTLV_DATE_TIME_EXTENDED;
}

/* Header + bounds only; no value checks. */
static cf_err rd_head(const ttlv_rd *r, struct ttlv_item *it)
{
	rd_check(r);
	memset(it, 0, sizeof *it);
	size_t avail = r->len - r->off;
	if (avail < TTLV_HDR_LEN)
		return CF_E_TRUNCATED;
	const uint8_t *h = r->p + r->off;
	it->tag = be32(h) >> 8;
	it->type = h[3];
	it->len = be32(h + 4);
	it->off = r->base + r->off;
	if (!type_known(it->type))
		return CF_E_BAD_TYPE;
	if (pad8(it->len) > avail - TTLV_HDR_LEN)
		return CF_E_TRUNCATED;
	it->val = it->len ? h + TTLV_HDR_LEN : NULL;
	return CF_OK;
}

cf_err ttlv_rd_peek(const ttlv_rd *r, struct ttlv_item *it)
{
	return rd_head(r, it);
}

bool ttlv_rd_next_is(const ttlv_rd *r, uint32_t tag)
{
	struct ttlv_item it;
	return rd_head(r, &it) == CF_OK && it.tag == tag;
}

/*= kmip-spec-v1.4 section 9.1.1.3 (Item Length): Integer, Enumeration and Interval 4 bytes;
 *#  Long Integer, Boolean and Date-Time 8 bytes; Big Integer a multiple of 8 bytes. */
static cf_err rd_check_value(const ttlv_rd *r, const struct ttlv_item *it)
{
	size_t padded = pad8(it->len);
	const uint8_t *v = r->p + r->off + TTLV_HDR_LEN;
	switch (it->type) {
	case TTLV_INTEGER:
	case TTLV_ENUMERATION:
	case TTLV_INTERVAL:
		if (it->len != 4)
			return CF_E_BAD_LENGTH;
		break;
	case TTLV_LONG_INTEGER:
	case TTLV_DATE_TIME:
	case TTLV_DATE_TIME_EXTENDED:
		if (it->len != 8)
			return CF_E_BAD_LENGTH;
		break;
	case TTLV_BOOLEAN:
		if (it->len != 8)
			return CF_E_BAD_LENGTH;
		if (be64(v) > 1)
			return CF_E_BAD_VALUE;
		break;
	case TTLV_BIG_INTEGER:
		if (it->len == 0 || (it->len & 7u) != 0)
			return CF_E_BAD_LENGTH;
		if ((size_t)it->len > r->max_bytes)
			return CF_E_TOO_LARGE;
		break;
	case TTLV_TEXT_STRING:
	case TTLV_BYTE_STRING:
		if ((size_t)it->len > r->max_bytes)
			return CF_E_TOO_LARGE;
		break;
	case TTLV_STRUCTURE:
		if ((it->len & 7u) != 0)
			return CF_E_BAD_LENGTH;
		return CF_OK; /* content is checked by the child reader */
	default:
		return CF_E_BAD_TYPE;
	}
	for (size_t i = it->len; i < padded; i++)
		if (v[i] != 0)
			return CF_E_BAD_PADDING;
	if (it->type == TTLV_TEXT_STRING && !ttlv_utf8_valid(v, it->len))
		return CF_E_BAD_UTF8;
	return CF_OK;
}

cf_err ttlv_rd_next(ttlv_rd *r, struct ttlv_item *it)
{
	TRY(rd_head(r, it));
	cf_err rc = rd_check_value(r, it);
	if (rc != CF_OK)
		return rc;
	r->off += TTLV_HDR_LEN + pad8(it->len);
	rd_check(r);
	return CF_OK;
}

cf_err ttlv_rd_expect(ttlv_rd *r, uint32_t tag, uint8_t type, struct ttlv_item *it)
{
	struct ttlv_item h;
	TRY(rd_head(r, &h));
	if (h.tag != tag)
		return CF_E_UNEXPECTED_TAG;
	if (h.type != type)
		return CF_E_BAD_TYPE;
	return ttlv_rd_next(r, it);
}

cf_err ttlv_rd_open(ttlv_rd *parent, uint32_t tag, ttlv_rd *child, uint32_t *tag_out)
{
	struct ttlv_item h;
	memset(child, 0, sizeof *child);
	if (tag_out != NULL)
		*tag_out = 0;
	TRY(rd_head(parent, &h));
	if (tag != 0 && h.tag != tag)
		return CF_E_UNEXPECTED_TAG;
	if (h.type != TTLV_STRUCTURE)
		return CF_E_BAD_TYPE;
	if ((h.len & 7u) != 0)
		return CF_E_BAD_LENGTH;
	if (parent->depth >= parent->max_depth)
		return CF_E_DEPTH;
	*child = (ttlv_rd){ .p = parent->p + parent->off + TTLV_HDR_LEN, .len = h.len, .off = 0,
			    .depth = parent->depth + 1, .max_depth = parent->max_depth,
			    .max_bytes = parent->max_bytes,
			    .base = parent->base + parent->off + TTLV_HDR_LEN };
	parent->off += TTLV_HDR_LEN + (size_t)h.len;
	rd_check(parent);
	if (tag_out != NULL)
		*tag_out = h.tag;
	return CF_OK;
}

cf_err ttlv_rd_close(const ttlv_rd *child)
{
	rd_check(child);
	return child->off == child->len ? CF_OK : CF_E_TRAILING;
}

int32_t ttlv_item_int(const struct ttlv_item *it)
{
	uint32_t u = be32(it->val);
	int32_t v;
	memcpy(&v, &u, sizeof v); /* two's complement reinterpretation, no signed shift */
	return v;
}

uint32_t ttlv_item_u32(const struct ttlv_item *it)
{
	return be32(it->val);
}

int64_t ttlv_item_long(const struct ttlv_item *it)
{
	uint64_t u = be64(it->val);
	int64_t v;
	memcpy(&v, &u, sizeof v);
	return v;
}

bool ttlv_item_bool(const struct ttlv_item *it)
{
	return be64(it->val) == 1;
}

cf_err ttlv_rd_int(ttlv_rd *r, uint32_t tag, int32_t *v)
{
	struct ttlv_item it;
	*v = 0;
	TRY(ttlv_rd_expect(r, tag, TTLV_INTEGER, &it));
	*v = ttlv_item_int(&it);
	return CF_OK;
}

cf_err ttlv_rd_enum(ttlv_rd *r, uint32_t tag, uint32_t *v)
{
	struct ttlv_item it;
	*v = 0;
	TRY(ttlv_rd_expect(r, tag, TTLV_ENUMERATION, &it));
	*v = ttlv_item_u32(&it);
	return CF_OK;
}

cf_err ttlv_rd_interval(ttlv_rd *r, uint32_t tag, uint32_t *v)
{
	struct ttlv_item it;
	*v = 0;
	TRY(ttlv_rd_expect(r, tag, TTLV_INTERVAL, &it));
	*v = ttlv_item_u32(&it);
	return CF_OK;
}

cf_err ttlv_rd_long(ttlv_rd *r, uint32_t tag, int64_t *v)
{
	struct ttlv_item it;
	*v = 0;
	TRY(ttlv_rd_expect(r, tag, TTLV_LONG_INTEGER, &it));
	*v = ttlv_item_long(&it);
	return CF_OK;
}

cf_err ttlv_rd_datetime(ttlv_rd *r, uint32_t tag, int64_t *v)
{
	struct ttlv_item it;
	*v = 0;
	TRY(ttlv_rd_expect(r, tag, TTLV_DATE_TIME, &it));
	*v = ttlv_item_long(&it);
	return CF_OK;
}

cf_err ttlv_rd_bool(ttlv_rd *r, uint32_t tag, bool *v)
{
	struct ttlv_item it;
	*v = false;
	TRY(ttlv_rd_expect(r, tag, TTLV_BOOLEAN, &it));
	*v = ttlv_item_bool(&it);
	return CF_OK;
}

cf_err ttlv_rd_text(ttlv_rd *r, uint32_t tag, const char **s, size_t *n)
{
	struct ttlv_item it;
	*s = NULL;
	*n = 0;
	TRY(ttlv_rd_expect(r, tag, TTLV_TEXT_STRING, &it));
	*s = it.val ? (const char *)it.val : "";
	*n = it.len;
	return CF_OK;
}

cf_err ttlv_rd_bytes(ttlv_rd *r, uint32_t tag, const uint8_t **b, size_t *n)
{
	struct ttlv_item it;
	*b = NULL;
	*n = 0;
	TRY(ttlv_rd_expect(r, tag, TTLV_BYTE_STRING, &it));
	*b = it.val;
	*n = it.len;
	return CF_OK;
}

cf_err ttlv_rd_bigint(ttlv_rd *r, uint32_t tag, const uint8_t **b, size_t *n)
{
	struct ttlv_item it;
	*b = NULL;
	*n = 0;
	TRY(ttlv_rd_expect(r, tag, TTLV_BIG_INTEGER, &it));
	*b = it.val;
	*n = it.len;
	return CF_OK;
}

/* UTF-8 per RFC 3629: no overlong forms, no surrogates, <= U+10FFFF; NUL rejected too. */
bool ttlv_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		uint32_t cp, min;
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1; cp = c & 0x1Fu; min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2; cp = c & 0x0Fu; min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3; cp = c & 0x07u; min = 0x10000;
		} else {
			return false;
		}
		if (n - i - 1 < need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			uint8_t cc = s[i + k];
			if ((cc & 0xC0u) != 0x80u)
				return false;
			cp = (cp << 6) | (cc & 0x3Fu);
		}
		if (cp < min || cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu))
			return false;
		i += need + 1;
	}
	return true;
}
