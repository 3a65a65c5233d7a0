/* TTLV writer: a caller-owned fixed buffer; Structures are reserved with a zero
 * length and back-patched. The first error poisons the writer: every later call returns it,
 * so a caller that checks only the last result still never emits a partial message. */
#include "kmip/ttlv.h"

#include <stdlib.h>
#include <string.h>

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void wr_check(const ttlv_wr *w)
{
	if (w->off > w->cap)
		abort(); /* corrupt invariant */
}

static cf_err wr_fail(ttlv_wr *w, cf_err e)
{
	if (w->err == CF_OK)
		w->err = e;
	return w->err;
}

void ttlv_wr_init(ttlv_wr *w, uint8_t *buf, size_t cap)
{
	*w = (ttlv_wr){ .p = buf, .cap = buf ? cap : 0, .off = 0, .depth = 0, .err = CF_OK };
}

static cf_err wr_head(ttlv_wr *w, uint32_t tag, uint8_t type, size_t len, size_t padded)
{
	if (w->err != CF_OK)
		return w->err;
	wr_check(w);
	if (tag > 0xFFFFFFu || len > UINT32_MAX)
		return wr_fail(w, CF_E_INVALID_ARG);
	if (w->cap - w->off < TTLV_HDR_LEN || padded > w->cap - w->off - TTLV_HDR_LEN)
		return wr_fail(w, CF_E_NO_SPACE);
	uint8_t *h = w->p + w->off;
	put32(h, (tag << 8) | type);
	put32(h + 4, (uint32_t)len);
	return CF_OK;
}

cf_err ttlv_wr_raw(ttlv_wr *w, uint32_t tag, uint8_t type, const uint8_t *val, size_t n)
{
	if (type == TTLV_STRUCTURE || type == 0 || type > TTLV_DATE_TIME_EXTENDED)
		return wr_fail(w, CF_E_INVALID_ARG);
	if (n > UINT32_MAX - 7u)
		return wr_fail(w, CF_E_INVALID_ARG);
	if (n > 0 && val == NULL)
		return wr_fail(w, CF_E_INVALID_ARG);
	size_t padded = (n + 7u) & ~(size_t)7u;
	TRY(wr_head(w, tag, type, n, padded));
	uint8_t *v = w->p + w->off + TTLV_HDR_LEN;
	if (n > 0)
		memcpy(v, val, n);
	memset(v + n, 0, padded - n);
	w->off += TTLV_HDR_LEN + padded;
	wr_check(w);
	return CF_OK;
}

cf_err ttlv_wr_begin(ttlv_wr *w, uint32_t tag, size_t *mark)
{
	*mark = 0;
	if (w->err == CF_OK && w->depth >= TTLV_WR_MAX_DEPTH)
		return wr_fail(w, CF_E_DEPTH);
	TRY(wr_head(w, tag, TTLV_STRUCTURE, 0, 0));
	*mark = w->off;
	w->off += TTLV_HDR_LEN;
	w->depth++;
	return CF_OK;
}

cf_err ttlv_wr_end(ttlv_wr *w, size_t mark)
{
	if (w->err != CF_OK)
		return w->err;
	wr_check(w);
	if (w->depth == 0 || mark > w->off || w->off - mark < TTLV_HDR_LEN ||
	    w->p[mark + 3] != TTLV_STRUCTURE)
		return wr_fail(w, CF_E_INTERNAL);
	size_t len = w->off - mark - TTLV_HDR_LEN;
	if (len > UINT32_MAX)
		return wr_fail(w, CF_E_TOO_LARGE);
	put32(w->p + mark + 4, (uint32_t)len);
	w->depth--;
	return CF_OK;
}

static cf_err wr_u32(ttlv_wr *w, uint32_t tag, uint8_t type, uint32_t v)
{
	uint8_t b[4];
	put32(b, v);
	return ttlv_wr_raw(w, tag, type, b, sizeof b);
}

static cf_err wr_u64(ttlv_wr *w, uint32_t tag, uint8_t type, uint64_t v)
{
	uint8_t b[8];
	put32(b, (uint32_t)(v >> 32));
	put32(b + 4, (uint32_t)v);
	return ttlv_wr_raw(w, tag, type, b, sizeof b);
}

cf_err ttlv_wr_int(ttlv_wr *w, uint32_t tag, int32_t v)
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	return wr_u32(w, tag, TTLV_INTEGER, u);
}

cf_err ttlv_wr_enum(ttlv_wr *w, uint32_t tag, uint32_t v)
{
	return wr_u32(w, tag, TTLV_ENUMERATION, v);
}

cf_err ttlv_wr_interval(ttlv_wr *w, uint32_t tag, uint32_t v)
{
	return wr_u32(w, tag, TTLV_INTERVAL, v);
}

cf_err ttlv_wr_long(ttlv_wr *w, uint32_t tag, int64_t v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	return wr_u64(w, tag, TTLV_LONG_INTEGER, u);
}

cf_err ttlv_wr_datetime(ttlv_wr *w, uint32_t tag, int64_t v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	return wr_u64(w, tag, TTLV_DATE_TIME, u);
}

cf_err ttlv_wr_bool(ttlv_wr *w, uint32_t tag, bool v)
{
	return wr_u64(w, tag, TTLV_BOOLEAN, v ? 1u : 0u);
}

cf_err ttlv_wr_text(ttlv_wr *w, uint32_t tag, const char *s, size_t n)
{
	if (n > 0 && (s == NULL || !ttlv_utf8_valid((const uint8_t *)s, n)))
		return wr_fail(w, CF_E_BAD_UTF8);
	return ttlv_wr_raw(w, tag, TTLV_TEXT_STRING, (const uint8_t *)s, n);
}

cf_err ttlv_wr_bytes(ttlv_wr *w, uint32_t tag, const uint8_t *b, size_t n)
{
	return ttlv_wr_raw(w, tag, TTLV_BYTE_STRING, b, n);
}

cf_err ttlv_wr_bigint(ttlv_wr *w, uint32_t tag, const uint8_t *b, size_t n)
{
	if (n == 0 || (n & 7u) != 0)
		return wr_fail(w, CF_E_BAD_LENGTH);
	return ttlv_wr_raw(w, tag, TTLV_BIG_INTEGER, b, n);
}

cf_err ttlv_wr_copy(ttlv_wr *w, const uint8_t *item, size_t n)
{
	if (w->err != CF_OK)
		return w->err;
	wr_check(w);
	if (item == NULL || n < TTLV_HDR_LEN || (n & 7u) != 0)
		return wr_fail(w, CF_E_INVALID_ARG);
	if (n > w->cap - w->off)
		return wr_fail(w, CF_E_NO_SPACE);
	memcpy(w->p + w->off, item, n);
	w->off += n;
	return CF_OK;
}
