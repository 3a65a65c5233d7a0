/* Raw TTLV tree walk shared by tests/fuzz/fuzz_ttlv_walk.c and tests/unit/kmip/test_ttlv*.c.
 *
 * ttlv_walk() reads every item of a buffer with the ttlv_rd_* reader (descending into each
 * Structure with ttlv_rd_open / ttlv_rd_close) and, when given a writer, re-encodes each item
 * with the typed ttlv_wr_* writer from its decoded value (not a byte copy), so that a
 * successful walk followed by a successful re-encode must reproduce the input byte for byte.
 *
 * The first reader error is returned; a writer error is kept apart in wk->wr_rc, because after
 * a successful read every writer call must succeed. Header-only: each includer gets its own
 * static copy. No globals. */
#ifndef COFFRE_TESTS_FUZZ_TTLV_WALK_H
#define COFFRE_TESTS_FUZZ_TTLV_WALK_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include "kmip/ttlv.h"

struct ttlv_walk {
	ttlv_wr *w;        /* NULL: read only */
	bool typed;        /* read primitives with the typed getters, cross-checked with next */
	cf_err wr_rc;      /* first writer error */
	size_t items;      /* items read */
	unsigned max_seen; /* deepest reader depth seen */
};

#define TTLV_WALK_WR(wk, call) do { \
	if ((wk)->w != NULL && (wk)->wr_rc == CF_OK) \
		(wk)->wr_rc = (call); \
} while (0)

static void ttlv_walk_rewrite(struct ttlv_walk *wk, const struct ttlv_item *it)
{
	ttlv_wr *w = wk->w;

	switch (it->type) {
	case TTLV_INTEGER:
		TTLV_WALK_WR(wk, ttlv_wr_int(w, it->tag, ttlv_item_int(it)));
		break;
	case TTLV_ENUMERATION:
		TTLV_WALK_WR(wk, ttlv_wr_enum(w, it->tag, ttlv_item_u32(it)));
		break;
	case TTLV_INTERVAL:
		TTLV_WALK_WR(wk, ttlv_wr_interval(w, it->tag, ttlv_item_u32(it)));
		break;
	case TTLV_LONG_INTEGER:
		TTLV_WALK_WR(wk, ttlv_wr_long(w, it->tag, ttlv_item_long(it)));
		break;
	case TTLV_DATE_TIME:
		TTLV_WALK_WR(wk, ttlv_wr_datetime(w, it->tag, ttlv_item_long(it)));
		break;
	case TTLV_BOOLEAN:
		TTLV_WALK_WR(wk, ttlv_wr_bool(w, it->tag, ttlv_item_bool(it)));
		break;
	case TTLV_TEXT_STRING:
		TTLV_WALK_WR(wk, ttlv_wr_text(w, it->tag, (const char *)it->val, it->len));
		break;
	case TTLV_BYTE_STRING:
		TTLV_WALK_WR(wk, ttlv_wr_bytes(w, it->tag, it->val, it->len));
		break;
	case TTLV_BIG_INTEGER:
		TTLV_WALK_WR(wk, ttlv_wr_bigint(w, it->tag, it->val, it->len));
		break;
	default: /* Date-Time Extended has no typed writer */
		TTLV_WALK_WR(wk, ttlv_wr_raw(w, it->tag, it->type, it->val, it->len));
		break;
	}
}

/* Read one primitive with the typed getter for its type and check that it agrees with
 * ttlv_rd_next on a copy of the reader: same result, same cursor, same value. A disagreement
 * is CF_E_INTERNAL (a reader bug, which the fuzz target turns into abort()). */
static cf_err ttlv_walk_typed(ttlv_rd *r, uint8_t type, struct ttlv_item *it)
{
	ttlv_rd r2 = *r;
	cf_err rc_next = ttlv_rd_next(&r2, it);
	cf_err rc;
	bool same = true;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	bool b;
	const char *s;
	const uint8_t *bp;
	size_t n;
	struct ttlv_item it2;

	switch (type) {
	case TTLV_INTEGER:
		rc = ttlv_rd_int(r, it->tag, &i32);
		same = rc != CF_OK || i32 == ttlv_item_int(it);
		break;
	case TTLV_ENUMERATION:
		rc = ttlv_rd_enum(r, it->tag, &u32);
		same = rc != CF_OK || u32 == ttlv_item_u32(it);
		break;
	case TTLV_INTERVAL:
		rc = ttlv_rd_interval(r, it->tag, &u32);
		same = rc != CF_OK || u32 == ttlv_item_u32(it);
		break;
	case TTLV_LONG_INTEGER:
		rc = ttlv_rd_long(r, it->tag, &i64);
		same = rc != CF_OK || i64 == ttlv_item_long(it);
		break;
	case TTLV_DATE_TIME:
		rc = ttlv_rd_datetime(r, it->tag, &i64);
		same = rc != CF_OK || i64 == ttlv_item_long(it);
		break;
	case TTLV_BOOLEAN:
		rc = ttlv_rd_bool(r, it->tag, &b);
		same = rc != CF_OK || b == ttlv_item_bool(it);
		break;
	case TTLV_TEXT_STRING:
		rc = ttlv_rd_text(r, it->tag, &s, &n);
		same = rc != CF_OK || (n == it->len && (n == 0 || s == (const char *)it->val));
		break;
	case TTLV_BYTE_STRING:
		rc = ttlv_rd_bytes(r, it->tag, &bp, &n);
		same = rc != CF_OK || (n == it->len && bp == it->val);
		break;
	case TTLV_BIG_INTEGER:
		rc = ttlv_rd_bigint(r, it->tag, &bp, &n);
		same = rc != CF_OK || (n == it->len && bp == it->val);
		break;
	default:
		rc = ttlv_rd_expect(r, it->tag, type, &it2);
		same = rc != CF_OK || (it2.tag == it->tag && it2.type == it->type &&
					it2.len == it->len && it2.val == it->val && it2.off == it->off);
		break;
	}
	/* both moved by the same item, or neither moved */
	if (rc != rc_next || !same || r->off != r2.off)
		return CF_E_INTERNAL;
	return rc;
}

/* Recursion depth is bounded by the reader's max_depth (ttlv_rd_open fails past it). */
static cf_err ttlv_walk_rd(struct ttlv_walk *wk, ttlv_rd *r)
{
	if (r->depth > wk->max_seen)
		wk->max_seen = r->depth;
	while (!ttlv_rd_done(r)) {
		struct ttlv_item it;
		TRY(ttlv_rd_peek(r, &it));
		wk->items++;
		if (it.type == TTLV_STRUCTURE) {
			ttlv_rd child;
			uint32_t tag = 0;
			size_t mark = 0;
			TRY(ttlv_rd_open(r, 0, &child, &tag));
			if (tag != it.tag)
				return CF_E_INTERNAL; /* open must report the tag peek saw */
			TTLV_WALK_WR(wk, ttlv_wr_begin(wk->w, tag, &mark));
			TRY(ttlv_walk_rd(wk, &child));
			TRY(ttlv_rd_close(&child));
			TTLV_WALK_WR(wk, ttlv_wr_end(wk->w, mark));
		} else {
			if (wk->typed)
				TRY(ttlv_walk_typed(r, it.type, &it));
			else
				TRY(ttlv_rd_next(r, &it));
			if (wk->w != NULL)
				ttlv_walk_rewrite(wk, &it);
		}
	}
	return CF_OK;
}

/* Walk p[0..n) as a sequence of items at message level; lim NULL = defaults. */
static cf_err ttlv_walk(const uint8_t *p, size_t n, const struct kmip_limits *lim,
			struct ttlv_walk *wk)
{
	ttlv_rd r;

	ttlv_rd_init(&r, p, n, lim);
	if (n == 0)
		return CF_E_TRUNCATED; /* an empty buffer holds no message */
	return ttlv_walk_rd(wk, &r);
}

#endif
