/* Target: ttlv_rd_* ttlv_wr_* ttlv_msg_len ttlv_utf8_valid (kmip/ttlv_rd.c, kmip/ttlv_wr.c).
 *
 * Positive and contract tests of the wire reader and writer: every typed getter and writer,
 * big-endian and signed values, peek/open/close, item offsets, the message-length check,
 * exact-fit and one-byte-short writer buffers (in exact-size heap buffers, so ASan sees any
 * overrun), back-patching, the sticky writer error, UTF-8 validation, and the round trip
 * read -> typed re-encode == input over every vector of ../shared/vectors.
 * The negative table (>= 200 exact-error cases) is in test_ttlv_malformed.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kmip/ttlv.h"
#include "tests/fuzz/ttlv_walk.h"
#include "tests/unit/kmip/ttlv_test_util.h"

/* vCenter 7.0.3 Discover Versions request (first line of requests.txt). */
#define DISCOVER_HEX \
	"42007801000000604200770100000038420069010000002042006a02000000040000000100000000" \
	"42006b0200000004000000010000000042000d0200000004000000010000000042000f0100000018" \
	"42005c05000000040000001e000000004200790100000000"

/* A reader over hex, in an exact-size heap buffer; freed by rd_free. */
struct hrd {
	uint8_t *b;
	size_t n;
	ttlv_rd r;
};

static void hrd_init(struct hrd *h, const char *hex, const struct kmip_limits *lim)
{
	h->b = tu_unhex(hex, &h->n);
	ttlv_rd_init(&h->r, h->b, h->n, lim);
}

static void hrd_free(struct hrd *h)
{
	free(h->b);
	h->b = NULL;
}

/* ---- reader: typed getters ------------------------------------------------------------ */

static void test_rd_int(void **state)
{
	struct hrd h;
	int32_t v = 7;

	(void)state;
	hrd_init(&h, "42000d02 00000004 fffffffe 00000000"
		     "42000d02 00000004 80000000 00000000"
		     "42000d02 00000004 7fffffff 00000000"
		     "42000d02 00000004 01020304 00000000", NULL);
	assert_int_equal(ttlv_rd_int(&h.r, 0x42000D, &v), CF_OK);
	assert_int_equal(v, -2);
	assert_int_equal(ttlv_rd_int(&h.r, 0x42000D, &v), CF_OK);
	assert_int_equal(v, INT32_MIN);
	assert_int_equal(ttlv_rd_int(&h.r, 0x42000D, &v), CF_OK);
	assert_int_equal(v, INT32_MAX);
	assert_int_equal(ttlv_rd_int(&h.r, 0x42000D, &v), CF_OK);
	assert_int_equal(v, 0x01020304); /* big-endian */
	assert_true(ttlv_rd_done(&h.r));
	assert_int_equal(ttlv_rd_int(&h.r, 0x42000D, &v), CF_E_TRUNCATED);
	assert_int_equal(v, 0);
	hrd_free(&h);
}

static void test_rd_enum_interval(void **state)
{
	struct hrd h;
	uint32_t v = 0;

	(void)state;
	hrd_init(&h, "42005c05 00000004 8000001e 00000000"
		     "42005c05 00000004 00000001 00000000"
		     "42004909 00000008 0000000000000000" /* a Date-Time, not an Interval */
		     "4200490a 00000004 ffffffff 00000000", NULL);
	assert_int_equal(ttlv_rd_enum(&h.r, 0x42005C, &v), CF_OK);
	assert_int_equal(v, 0x8000001Eu);
	assert_int_equal(ttlv_rd_enum(&h.r, 0x42005C, &v), CF_OK);
	assert_int_equal(v, 1);
	v = 9;
	assert_int_equal(ttlv_rd_interval(&h.r, 0x420049, &v), CF_E_BAD_TYPE);
	assert_int_equal(v, 0);
	h.r.off += 16; /* skip it */
	assert_int_equal(ttlv_rd_interval(&h.r, 0x420049, &v), CF_OK);
	assert_int_equal(v, 0xFFFFFFFFu);
	assert_true(ttlv_rd_done(&h.r));
	hrd_free(&h);
}

static void test_rd_long_datetime(void **state)
{
	struct hrd h;
	int64_t v = 0;

	(void)state;
	hrd_init(&h, "42009603 00000008 ffffffffffffffff"
		     "42009603 00000008 0102030405060708"
		     "42009603 00000008 8000000000000000"
		     "42009209 00000008 000000004f9a54e5"
		     "42009209 00000008 fffffffffffffff0", NULL);
	assert_int_equal(ttlv_rd_long(&h.r, 0x420096, &v), CF_OK);
	assert_int_equal(v, -1);
	assert_int_equal(ttlv_rd_long(&h.r, 0x420096, &v), CF_OK);
	assert_true(v == 0x0102030405060708LL);
	assert_int_equal(ttlv_rd_long(&h.r, 0x420096, &v), CF_OK);
	assert_true(v == INT64_MIN);
	assert_int_equal(ttlv_rd_datetime(&h.r, 0x420092, &v), CF_OK);
	assert_int_equal(v, 1335514341); /* OASIS TC-1 time stamp, 2012-04-27 08:12:21 UTC */
	assert_int_equal(ttlv_rd_datetime(&h.r, 0x420092, &v), CF_OK);
	assert_int_equal(v, -16);
	assert_true(ttlv_rd_done(&h.r));
	hrd_free(&h);
}

static void test_rd_bool(void **state)
{
	struct hrd h;
	bool v = true;

	(void)state;
	hrd_init(&h, "42000706 00000008 0000000000000000"
		     "42000706 00000008 0000000000000001", NULL);
	assert_int_equal(ttlv_rd_bool(&h.r, 0x420007, &v), CF_OK);
	assert_false(v);
	assert_int_equal(ttlv_rd_bool(&h.r, 0x420007, &v), CF_OK);
	assert_true(v);
	assert_true(ttlv_rd_done(&h.r));
	hrd_free(&h);
}

static void test_rd_text_bytes_bigint(void **state)
{
	struct hrd h;
	const char *s = NULL;
	const uint8_t *b = NULL;
	size_t n = 99;

	(void)state;
	hrd_init(&h, "42000a07 00000003 616263 0000000000"
		     "42000a07 00000000"
		     "42000a07 00000009 c3a9e282acf09f9880 00000000000000" /* e-acute, euro, U+1F600 */
		     "42000608 00000000"
		     "42000608 00000009 00ff00ff00ff00ff 01 00000000000000"
		     "42005204 00000008 ffffffffffffffff"
		     "42005204 00000010 00000000000000010000000000000000", NULL);
	assert_int_equal(ttlv_rd_text(&h.r, 0x42000A, &s, &n), CF_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(s, "abc", 3);
	assert_ptr_equal(s, h.b + 8); /* a view into the caller's buffer */
	assert_int_equal(ttlv_rd_text(&h.r, 0x42000A, &s, &n), CF_OK);
	assert_int_equal(n, 0);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(ttlv_rd_text(&h.r, 0x42000A, &s, &n), CF_OK);
	assert_int_equal(n, 9);
	assert_memory_equal(s, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
	assert_int_equal(ttlv_rd_bytes(&h.r, 0x420006, &b, &n), CF_OK);
	assert_int_equal(n, 0);
	assert_null(b);
	assert_int_equal(ttlv_rd_bytes(&h.r, 0x420006, &b, &n), CF_OK);
	assert_int_equal(n, 9);
	assert_memory_equal(b, "\x00\xff\x00\xff\x00\xff\x00\xff\x01", 9);
	assert_int_equal(ttlv_rd_bigint(&h.r, 0x420052, &b, &n), CF_OK);
	assert_int_equal(n, 8);
	assert_int_equal(b[0], 0xff);
	assert_int_equal(ttlv_rd_bigint(&h.r, 0x420052, &b, &n), CF_OK);
	assert_int_equal(n, 16);
	assert_int_equal(b[7], 1);
	assert_true(ttlv_rd_done(&h.r));
	hrd_free(&h);
}

/* A failing getter leaves the reader where it was and zeroes its outputs. */
static void test_rd_getter_failure_no_advance(void **state)
{
	struct hrd h;
	int32_t i = 5;
	uint32_t u = 5;
	int64_t l = 5;
	bool bo = true;
	const char *s = "x";
	const uint8_t *b = (const uint8_t *)"x";
	size_t n = 5;

	(void)state;
	hrd_init(&h, "42000d02 00000004 00000001 00000000", NULL);
	assert_int_equal(ttlv_rd_int(&h.r, 0x42000E, &i), CF_E_UNEXPECTED_TAG);
	assert_int_equal(i, 0);
	assert_int_equal(ttlv_rd_enum(&h.r, 0x42000D, &u), CF_E_BAD_TYPE);
	assert_int_equal(u, 0);
	u = 5;
	assert_int_equal(ttlv_rd_interval(&h.r, 0x42000D, &u), CF_E_BAD_TYPE);
	assert_int_equal(u, 0);
	assert_int_equal(ttlv_rd_long(&h.r, 0x42000D, &l), CF_E_BAD_TYPE);
	assert_int_equal(l, 0);
	l = 5;
	assert_int_equal(ttlv_rd_datetime(&h.r, 0x42000D, &l), CF_E_BAD_TYPE);
	assert_int_equal(l, 0);
	assert_int_equal(ttlv_rd_bool(&h.r, 0x42000D, &bo), CF_E_BAD_TYPE);
	assert_false(bo);
	assert_int_equal(ttlv_rd_text(&h.r, 0x42000D, &s, &n), CF_E_BAD_TYPE);
	assert_null(s);
	assert_int_equal(n, 0);
	assert_int_equal(ttlv_rd_bytes(&h.r, 0x42000D, &b, &n), CF_E_BAD_TYPE);
	assert_null(b);
	b = (const uint8_t *)"x";
	assert_int_equal(ttlv_rd_bigint(&h.r, 0x42000D, &b, &n), CF_E_BAD_TYPE);
	assert_null(b);
	assert_int_equal(h.r.off, 0);
	assert_int_equal(ttlv_rd_int(&h.r, 0x42000D, &i), CF_OK);
	assert_int_equal(i, 1);
	hrd_free(&h);
}

static void test_rd_peek_next_is(void **state)
{
	struct hrd h;
	struct ttlv_item it;

	(void)state;
	hrd_init(&h, "42000d02 00000004 00000003 00000000" "42000a07 00000001 41 00000000000000",
		 NULL);
	assert_int_equal(ttlv_rd_peek(&h.r, &it), CF_OK);
	assert_int_equal(it.tag, 0x42000D);
	assert_int_equal(it.type, TTLV_INTEGER);
	assert_int_equal(it.len, 4);
	assert_ptr_equal(it.val, h.b + 8);
	assert_int_equal(it.off, 0);
	assert_int_equal(h.r.off, 0); /* not consumed */
	assert_true(ttlv_rd_next_is(&h.r, 0x42000D));
	assert_false(ttlv_rd_next_is(&h.r, 0x42000A));
	assert_int_equal(ttlv_rd_next(&h.r, &it), CF_OK);
	assert_int_equal(ttlv_item_int(&it), 3);
	assert_int_equal(ttlv_rd_pos(&h.r), 16);
	assert_true(ttlv_rd_next_is(&h.r, 0x42000A));
	assert_int_equal(ttlv_rd_next(&h.r, &it), CF_OK);
	assert_int_equal(it.off, 16);
	assert_int_equal(it.type, TTLV_TEXT_STRING);
	assert_int_equal(it.val[0], 'A');
	assert_true(ttlv_rd_done(&h.r));
	assert_false(ttlv_rd_next_is(&h.r, 0x42000A));
	assert_int_equal(ttlv_rd_peek(&h.r, &it), CF_E_TRUNCATED);
	assert_int_equal(ttlv_rd_next(&h.r, &it), CF_E_TRUNCATED);
	hrd_free(&h);

	/* zero-length item: val is NULL */
	hrd_init(&h, "42000a07 00000000", NULL);
	assert_int_equal(ttlv_rd_next(&h.r, &it), CF_OK);
	assert_null(it.val);
	assert_int_equal(it.len, 0);
	hrd_free(&h);

	/* init with NULL: an empty reader */
	ttlv_rd r;
	ttlv_rd_init(&r, NULL, 100, NULL);
	assert_true(ttlv_rd_done(&r));
	assert_int_equal(ttlv_rd_peek(&r, &it), CF_E_TRUNCATED);
}

static void test_rd_open_close(void **state)
{
	struct hrd h;
	ttlv_rd c, c2;
	uint32_t tag = 1;
	int32_t v;
	struct ttlv_item it;

	(void)state;
	hrd_init(&h, DISCOVER_HEX, NULL);
	assert_int_equal(ttlv_rd_open(&h.r, 0x420078, &c, &tag), CF_OK);
	assert_int_equal(tag, 0x420078);
	assert_int_equal(c.depth, 1);
	assert_int_equal(c.len, 0x60);
	assert_int_equal(c.base, 8);
	assert_true(ttlv_rd_done(&h.r));
	/* wrong tag, then any tag */
	assert_int_equal(ttlv_rd_open(&c, 0x42000F, &c2, &tag), CF_E_UNEXPECTED_TAG);
	assert_int_equal(tag, 0);
	assert_int_equal(c.off, 0);
	assert_int_equal(ttlv_rd_open(&c, 0, &c2, &tag), CF_OK);
	assert_int_equal(tag, 0x420077);
	ttlv_rd pv;
	assert_int_equal(ttlv_rd_open(&c2, 0x420069, &pv, NULL), CF_OK);
	assert_int_equal(pv.depth, 3);
	/* open on an Integer */
	assert_int_equal(ttlv_rd_open(&pv, 0x42006A, &c, NULL), CF_E_BAD_TYPE);
	assert_int_equal(ttlv_rd_peek(&pv, &it), CF_OK);
	assert_int_equal(it.off, 24); /* absolute offset inside the message */
	assert_int_equal(ttlv_rd_int(&pv, 0x42006A, &v), CF_OK);
	assert_int_equal(v, 1);
	/* one field left: close refuses */
	assert_int_equal(ttlv_rd_close(&pv), CF_E_TRAILING);
	assert_int_equal(ttlv_rd_int(&pv, 0x42006B, &v), CF_OK);
	assert_int_equal(ttlv_rd_close(&pv), CF_OK);
	assert_int_equal(ttlv_rd_int(&c2, 0x42000D, &v), CF_OK);
	assert_int_equal(v, 1);
	assert_int_equal(ttlv_rd_close(&c2), CF_OK);
	hrd_free(&h);
}

static void test_rd_depth_limit(void **state)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	struct hrd h;
	ttlv_rd a, b, c;

	(void)state;
	lim.max_depth = 2;
	hrd_init(&h, "42000801 00000010 42000801 00000008 42000801 00000000", &lim);
	assert_int_equal(ttlv_rd_open(&h.r, 0, &a, NULL), CF_OK);
	assert_int_equal(ttlv_rd_open(&a, 0, &b, NULL), CF_OK);
	assert_int_equal(ttlv_rd_open(&b, 0, &c, NULL), CF_E_DEPTH);
	assert_int_equal(b.off, 0);
	hrd_free(&h);
}

static void test_msg_len(void **state)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	size_t total = 1;
	size_t n;
	uint8_t *b = tu_unhex(DISCOVER_HEX, &n);

	(void)state;
	assert_int_equal(ttlv_msg_len(b, n, 0x420078, &lim, &total), CF_OK);
	assert_int_equal(total, n);
	/* only the header is needed */
	assert_int_equal(ttlv_msg_len(b, 8, 0x420078, &lim, &total), CF_OK);
	assert_int_equal(total, 0x68);
	assert_int_equal(ttlv_msg_len(b, 8, 0, &lim, &total), CF_OK);
	assert_int_equal(ttlv_msg_len(b, 8, 0x42007B, &lim, &total), CF_E_BAD_MESSAGE);
	assert_int_equal(total, 0);
	assert_int_equal(ttlv_msg_len(b, 7, 0x420078, &lim, &total), CF_E_TRUNCATED);
	assert_int_equal(ttlv_msg_len(NULL, 8, 0x420078, &lim, &total), CF_E_INVALID_ARG);
	assert_int_equal(ttlv_msg_len(b, 8, 0x420078, NULL, &total), CF_E_INVALID_ARG);
	assert_int_equal(ttlv_msg_len(b, 8, 0x420078, &lim, NULL), CF_E_INVALID_ARG);
	/* exactly at the limit, one past it */
	lim.max_message = 0x68;
	assert_int_equal(ttlv_msg_len(b, 8, 0x420078, &lim, &total), CF_OK);
	lim.max_message = 0x67;
	assert_int_equal(ttlv_msg_len(b, 8, 0x420078, &lim, &total), CF_E_TOO_LARGE);
	lim.max_message = 7; /* a limit below the header size */
	assert_int_equal(ttlv_msg_len(b, 8, 0x420078, &lim, &total), CF_E_TOO_LARGE);
	free(b);
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

struct utf8_case {
	const char *s;
	size_t n;
	bool ok;
};
#define U8(str, ok) { str, sizeof(str) - 1, ok }

static const struct utf8_case utf8_cases[] = {
	U8("", true),
	U8("a", true),
	U8("Cryptographic Algorithm", true),
	U8("\x7f", true),
	U8("\xc2\x80", true),                 /* U+0080 */
	U8("\xdf\xbf", true),                 /* U+07FF */
	U8("\xe0\xa0\x80", true),             /* U+0800 */
	U8("\xed\x9f\xbf", true),             /* U+D7FF */
	U8("\xee\x80\x80", true),             /* U+E000 */
	U8("\xef\xbf\xbf", true),             /* U+FFFF */
	U8("\xf0\x90\x80\x80", true),         /* U+10000 */
	U8("\xf4\x8f\xbf\xbf", true),         /* U+10FFFF */
	U8("h\xc3\xa9llo \xe2\x82\xac", true),
	U8("\x00", false),                    /* NUL */
	U8("a\x00" "b", false),
	U8("\xc0\x80", false),                /* overlong NUL */
	U8("\xc1\xbf", false),                /* overlong U+007F */
	U8("\xe0\x80\x80", false),            /* overlong 3-byte */
	U8("\xe0\x9f\xbf", false),            /* overlong U+07FF */
	U8("\xf0\x80\x80\x80", false),        /* overlong 4-byte */
	U8("\xf0\x8f\xbf\xbf", false),        /* overlong U+FFFF */
	U8("\xed\xa0\x80", false),            /* U+D800 */
	U8("\xed\xbf\xbf", false),            /* U+DFFF */
	U8("\xed\xa0\xbd\xed\xb8\x80", false),/* CESU-8 pair */
	U8("\xf4\x90\x80\x80", false),        /* U+110000 */
	U8("\xf5\x80\x80\x80", false),
	U8("\xf7\xbf\xbf\xbf", false),
	U8("\xf8\x88\x80\x80\x80", false),    /* 5-byte form */
	U8("\xfc\x84\x80\x80\x80\x80", false),/* 6-byte form */
	U8("\xfe", false),
	U8("\xff", false),
	U8("\x80", false),                    /* lone continuation */
	U8("a\xbf", false),
	U8("\xc3", false),                    /* truncated 2-byte */
	U8("\xe2\x82", false),                /* truncated 3-byte */
	U8("\xf0\x9f\x98", false),            /* truncated 4-byte */
	U8("\xc3\x28", false),                /* bad continuation */
	U8("\xe2\x28\xa1", false),
	U8("\xe2\x82\x28", false),
	U8("\xf0\x28\x8c\xbc", false),
	U8("\xf0\x9f\x98\x28", false),
};

static void test_utf8(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
		const struct utf8_case *c = &utf8_cases[i];
		/* exact-size heap copy: the validator must not read past n */
		uint8_t *b = malloc(c->n ? c->n : 1);
		assert_non_null(b);
		memcpy(b, c->s, c->n);
		if (ttlv_utf8_valid(b, c->n) != c->ok)
			fail_msg("utf8 case %zu: want %s", i, c->ok ? "valid" : "invalid");
		/* the writer applies the same rule */
		uint8_t out[64];
		ttlv_wr w;
		ttlv_wr_init(&w, out, sizeof out);
		assert_int_equal(ttlv_wr_text(&w, 0x42000A, (const char *)b, c->n),
				 c->ok ? CF_OK : CF_E_BAD_UTF8);
		free(b);
	}
	/* every code point of the Basic Multilingual Plane and a sample above it */
	for (uint32_t cp = 1; cp <= 0x10FFFF; cp += (cp < 0x10000 ? 1 : 97)) {
		uint8_t b[4];
		size_t n;
		if (cp < 0x80) {
			b[0] = (uint8_t)cp; n = 1;
		} else if (cp < 0x800) {
			b[0] = (uint8_t)(0xC0 | cp >> 6); b[1] = (uint8_t)(0x80 | (cp & 0x3F)); n = 2;
		} else if (cp < 0x10000) {
			b[0] = (uint8_t)(0xE0 | cp >> 12); b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
			b[2] = (uint8_t)(0x80 | (cp & 0x3F)); n = 3;
		} else {
			b[0] = (uint8_t)(0xF0 | cp >> 18); b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
			b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)); b[3] = (uint8_t)(0x80 | (cp & 0x3F));
			n = 4;
		}
		bool want = !(cp >= 0xD800 && cp <= 0xDFFF);
		if (ttlv_utf8_valid(b, n) != want)
			fail_msg("code point U+%04X", cp);
	}
}

/* ---- writer ----------------------------------------------------------------------------- */

static void assert_wr_hex(const ttlv_wr *w, const char *hex)
{
	size_t n;
	uint8_t *want = tu_unhex(hex, &n);
	assert_int_equal(w->err, CF_OK);
	assert_int_equal(ttlv_wr_len(w), n);
	assert_memory_equal(w->p, want, n);
	free(want);
}

static void test_wr_typed(void **state)
{
	uint8_t buf[512];
	ttlv_wr w;
	static const uint8_t big[16] = { 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	static const uint8_t dte[8] = { 0, 0, 0x01, 0x7f, 0xff, 0xff, 0xff, 0xff };

	(void)state;
	memset(buf, 0xAA, sizeof buf);
	ttlv_wr_init(&w, buf, sizeof buf);
	assert_int_equal(ttlv_wr_int(&w, 0x42000D, -2), CF_OK);
	assert_int_equal(ttlv_wr_int(&w, 0x42000D, INT32_MIN), CF_OK);
	assert_int_equal(ttlv_wr_enum(&w, 0x42005C, 0x8000001E), CF_OK);
	assert_int_equal(ttlv_wr_interval(&w, 0x420049, 0x01020304), CF_OK);
	assert_int_equal(ttlv_wr_long(&w, 0x420096, -1), CF_OK);
	assert_int_equal(ttlv_wr_long(&w, 0x420096, 0x0102030405060708LL), CF_OK);
	assert_int_equal(ttlv_wr_datetime(&w, 0x420092, 1335514341), CF_OK);
	assert_int_equal(ttlv_wr_bool(&w, 0x420007, true), CF_OK);
	assert_int_equal(ttlv_wr_bool(&w, 0x420007, false), CF_OK);
	assert_int_equal(ttlv_wr_text(&w, 0x42000A, "Hello", 5), CF_OK);
	assert_int_equal(ttlv_wr_text(&w, 0x42000A, NULL, 0), CF_OK);
	assert_int_equal(ttlv_wr_text(&w, 0x42000A, "12345678", 8), CF_OK);
	assert_int_equal(ttlv_wr_bytes(&w, 0x420006, NULL, 0), CF_OK);
	assert_int_equal(ttlv_wr_bytes(&w, 0x420006, (const uint8_t *)"\x00\xff\x01", 3), CF_OK);
	assert_int_equal(ttlv_wr_bigint(&w, 0x420052, big, sizeof big), CF_OK);
	assert_int_equal(ttlv_wr_raw(&w, 0x420001, TTLV_DATE_TIME_EXTENDED, dte, sizeof dte), CF_OK);
	assert_int_equal(ttlv_wr_raw(&w, 0x540001, TTLV_BYTE_STRING, dte, 1), CF_OK);
	assert_wr_hex(&w,
		"42000d02 00000004 fffffffe 00000000"
		"42000d02 00000004 80000000 00000000"
		"42005c05 00000004 8000001e 00000000"
		"4200490a 00000004 01020304 00000000"
		"42009603 00000008 ffffffffffffffff"
		"42009603 00000008 0102030405060708"
		"42009209 00000008 000000004f9a54e5"
		"42000706 00000008 0000000000000001"
		"42000706 00000008 0000000000000000"
		"42000a07 00000005 48656c6c6f 000000"
		"42000a07 00000000"
		"42000a07 00000008 3132333435363738"
		"42000608 00000000"
		"42000608 00000003 00ff01 0000000000"
		"42005204 00000010 80000000000000000000000000000001"
		"4200010b 00000008 0000017fffffffff"
		"54000108 00000001 00 00000000000000");
	assert_int_equal(w.depth, 0);
	/* nothing past off was touched */
	assert_int_equal(buf[ttlv_wr_len(&w)], 0xAA);
}

/* Write one item of each kind into exact-size and one-byte-short heap buffers. */
enum wr_kind { WK_INT, WK_ENUM, WK_INTERVAL, WK_LONG, WK_DATETIME, WK_BOOL, WK_TEXT5, WK_TEXT8,
	       WK_TEXT0, WK_BYTES1, WK_BYTES0, WK_BIGINT, WK_RAW, WK_STRUCT, WK_STRUCT_INT,
	       WK_COPY, WK_COUNT };

static cf_err wr_one(ttlv_wr *w, enum wr_kind k)
{
	static const uint8_t b16[16] = { 1 };
	static const uint8_t item[16] = { 0x42, 0, 0x0d, 2, 0, 0, 0, 4, 0, 0, 0, 9, 0, 0, 0, 0 };
	size_t mark;

	switch (k) {
	case WK_INT: return ttlv_wr_int(w, 0x42000D, 1);
	case WK_ENUM: return ttlv_wr_enum(w, 0x42005C, 1);
	case WK_INTERVAL: return ttlv_wr_interval(w, 0x420049, 1);
	case WK_LONG: return ttlv_wr_long(w, 0x420096, 1);
	case WK_DATETIME: return ttlv_wr_datetime(w, 0x420092, 1);
	case WK_BOOL: return ttlv_wr_bool(w, 0x420007, true);
	case WK_TEXT5: return ttlv_wr_text(w, 0x42000A, "abcde", 5);
	case WK_TEXT8: return ttlv_wr_text(w, 0x42000A, "abcdefgh", 8);
	case WK_TEXT0: return ttlv_wr_text(w, 0x42000A, "", 0);
	case WK_BYTES1: return ttlv_wr_bytes(w, 0x420006, b16, 1);
	case WK_BYTES0: return ttlv_wr_bytes(w, 0x420006, b16, 0);
	case WK_BIGINT: return ttlv_wr_bigint(w, 0x420052, b16, 16);
	case WK_RAW: return ttlv_wr_raw(w, 0x420001, TTLV_DATE_TIME_EXTENDED, b16, 8);
	case WK_STRUCT:
		TRY(ttlv_wr_begin(w, 0x420077, &mark));
		return ttlv_wr_end(w, mark);
	case WK_STRUCT_INT:
		TRY(ttlv_wr_begin(w, 0x420077, &mark));
		TRY(ttlv_wr_int(w, 0x42000D, 1));
		return ttlv_wr_end(w, mark);
	case WK_COPY: return ttlv_wr_copy(w, item, sizeof item);
	default: return CF_E_INTERNAL;
	}
}

static const size_t wr_need[WK_COUNT] = {
	[WK_INT] = 16, [WK_ENUM] = 16, [WK_INTERVAL] = 16, [WK_LONG] = 16, [WK_DATETIME] = 16,
	[WK_BOOL] = 16, [WK_TEXT5] = 16, [WK_TEXT8] = 16, [WK_TEXT0] = 8, [WK_BYTES1] = 16,
	[WK_BYTES0] = 8, [WK_BIGINT] = 24, [WK_RAW] = 16, [WK_STRUCT] = 8, [WK_STRUCT_INT] = 24,
	[WK_COPY] = 16,
};

static void test_wr_exact_fit_and_short(void **state)
{
	(void)state;
	for (int k = 0; k < WK_COUNT; k++) {
		size_t need = wr_need[k];
		/* exact fit, after a prefix of 8 bytes too (off != 0) */
		for (size_t pre = 0; pre <= 8; pre += 8) {
			uint8_t *b = malloc(pre + need);
			ttlv_wr w;
			assert_non_null(b);
			ttlv_wr_init(&w, b, pre + need);
			if (pre != 0)
				assert_int_equal(wr_one(&w, WK_STRUCT), CF_OK);
			if (wr_one(&w, (enum wr_kind)k) != CF_OK)
				fail_msg("kind %d: exact fit failed", k);
			assert_int_equal(ttlv_wr_len(&w), pre + need);
			/* full: anything more fails */
			assert_int_equal(ttlv_wr_bytes(&w, 0x420006, NULL, 0), CF_E_NO_SPACE);
			free(b);
		}
		/* every shorter buffer fails with NO_SPACE and writes nothing past cap */
		for (size_t cap = 0; cap < need; cap++) {
			uint8_t *b = malloc(cap ? cap : 1);
			ttlv_wr w;
			assert_non_null(b);
			ttlv_wr_init(&w, b, cap);
			if (wr_one(&w, (enum wr_kind)k) != CF_E_NO_SPACE)
				fail_msg("kind %d cap %zu: want CF_E_NO_SPACE", k, cap);
			assert_true(ttlv_wr_len(&w) <= cap);
			assert_int_equal(w.err, CF_E_NO_SPACE);
			free(b);
		}
	}
}

/* Back-patching: rebuild the vCenter Discover Versions request and compare byte for byte. */
static void test_wr_backpatch_discover(void **state)
{
	size_t n;
	uint8_t *want = tu_unhex(DISCOVER_HEX, &n);
	uint8_t *b = malloc(n);
	ttlv_wr w;
	size_t m_msg, m_hdr, m_pv, m_bi, m_pl;

	(void)state;
	assert_non_null(b);
	ttlv_wr_init(&w, b, n);
	assert_int_equal(ttlv_wr_begin(&w, 0x420078, &m_msg), CF_OK);
	assert_int_equal(m_msg, 0);
	assert_int_equal(ttlv_wr_begin(&w, 0x420077, &m_hdr), CF_OK);
	assert_int_equal(m_hdr, 8);
	assert_int_equal(ttlv_wr_begin(&w, 0x420069, &m_pv), CF_OK);
	assert_int_equal(w.depth, 3);
	assert_int_equal(ttlv_wr_int(&w, 0x42006A, 1), CF_OK);
	assert_int_equal(ttlv_wr_int(&w, 0x42006B, 1), CF_OK);
	assert_int_equal(ttlv_wr_end(&w, m_pv), CF_OK);
	assert_int_equal(ttlv_wr_int(&w, 0x42000D, 1), CF_OK);
	assert_int_equal(ttlv_wr_end(&w, m_hdr), CF_OK);
	assert_int_equal(ttlv_wr_begin(&w, 0x42000F, &m_bi), CF_OK);
	assert_int_equal(ttlv_wr_enum(&w, 0x42005C, 0x1E), CF_OK);
	assert_int_equal(ttlv_wr_begin(&w, 0x420079, &m_pl), CF_OK);
	assert_int_equal(ttlv_wr_end(&w, m_pl), CF_OK);
	assert_int_equal(ttlv_wr_end(&w, m_bi), CF_OK);
	assert_int_equal(ttlv_wr_end(&w, m_msg), CF_OK);
	assert_int_equal(w.depth, 0);
	assert_int_equal(ttlv_wr_len(&w), n);
	assert_memory_equal(b, want, n);
	free(b);
	free(want);
}

static void test_wr_sticky(void **state)
{
	uint8_t b[256];
	ttlv_wr w;
	size_t mark = 77;
	static const uint8_t item[8] = { 0x42, 0, 0x0a, 7, 0, 0, 0, 0 };

	(void)state;
	ttlv_wr_init(&w, b, sizeof b);
	assert_int_equal(ttlv_wr_int(&w, 0x42000D, 1), CF_OK);
	assert_int_equal(ttlv_wr_int(&w, 0x1000000, 1), CF_E_INVALID_ARG); /* tag > 24 bits */
	assert_int_equal(ttlv_wr_len(&w), 16);
	/* every later call returns the first error and writes nothing */
	assert_int_equal(ttlv_wr_int(&w, 0x42000D, 1), CF_E_INVALID_ARG);
	assert_int_equal(ttlv_wr_bigint(&w, 0x420052, NULL, 0), CF_E_INVALID_ARG);
	assert_int_equal(ttlv_wr_text(&w, 0x42000A, "\xff", 1), CF_E_INVALID_ARG);
	assert_int_equal(ttlv_wr_raw(&w, 0x420001, TTLV_STRUCTURE, NULL, 0), CF_E_INVALID_ARG);
	assert_int_equal(ttlv_wr_begin(&w, 0x420077, &mark), CF_E_INVALID_ARG);
	assert_int_equal(mark, 0);
	assert_int_equal(ttlv_wr_end(&w, 0), CF_E_INVALID_ARG);
	assert_int_equal(ttlv_wr_copy(&w, item, sizeof item), CF_E_INVALID_ARG);
	assert_int_equal(ttlv_wr_len(&w), 16);
	assert_int_equal(w.err, CF_E_INVALID_ARG);

	/* NO_SPACE is sticky too, even when a later item would fit */
	uint8_t s[20];
	ttlv_wr_init(&w, s, sizeof s);
	assert_int_equal(ttlv_wr_bigint(&w, 0x420052, b, 16), CF_E_NO_SPACE);
	assert_int_equal(ttlv_wr_bytes(&w, 0x420006, NULL, 0), CF_E_NO_SPACE);
	assert_int_equal(ttlv_wr_len(&w), 0);
}

static void test_wr_bad_args(void **state)
{
	uint8_t b[256];
	ttlv_wr w;
	size_t mark;
	static const uint8_t v[16];

#define FRESH() ttlv_wr_init(&w, b, sizeof b)
	(void)state;
	FRESH(); assert_int_equal(ttlv_wr_bigint(&w, 0x420052, v, 0), CF_E_BAD_LENGTH);
	FRESH(); assert_int_equal(ttlv_wr_bigint(&w, 0x420052, v, 7), CF_E_BAD_LENGTH);
	FRESH(); assert_int_equal(ttlv_wr_bigint(&w, 0x420052, v, 12), CF_E_BAD_LENGTH);
	FRESH(); assert_int_equal(ttlv_wr_text(&w, 0x42000A, NULL, 1), CF_E_BAD_UTF8);
	FRESH(); assert_int_equal(ttlv_wr_text(&w, 0x42000A, "a\0b", 3), CF_E_BAD_UTF8);
	FRESH(); assert_int_equal(ttlv_wr_text(&w, 0x42000A, "\xc0\x80", 2), CF_E_BAD_UTF8);
	FRESH(); assert_int_equal(ttlv_wr_bytes(&w, 0x420006, NULL, 1), CF_E_INVALID_ARG);
	FRESH(); assert_int_equal(ttlv_wr_raw(&w, 0x420001, TTLV_STRUCTURE, v, 0), CF_E_INVALID_ARG);
	FRESH(); assert_int_equal(ttlv_wr_raw(&w, 0x420001, 0, v, 0), CF_E_INVALID_ARG);
	FRESH(); assert_int_equal(ttlv_wr_raw(&w, 0x420001, 0x0C, v, 0), CF_E_INVALID_ARG);
	FRESH(); assert_int_equal(ttlv_wr_raw(&w, 0x420001, 0xFF, v, 0), CF_E_INVALID_ARG);
	FRESH(); assert_int_equal(ttlv_wr_raw(&w, 0x420001, TTLV_BYTE_STRING, v, (size_t)UINT32_MAX),
				  CF_E_INVALID_ARG);
	FRESH(); assert_int_equal(ttlv_wr_raw(&w, 0x420001, TTLV_BYTE_STRING, v, SIZE_MAX),
				  CF_E_INVALID_ARG);
	FRESH(); assert_int_equal(ttlv_wr_begin(&w, 0xFFFFFFFF, &mark), CF_E_INVALID_ARG);
	FRESH(); assert_int_equal(ttlv_wr_copy(&w, NULL, 8), CF_E_INVALID_ARG);
	FRESH(); assert_int_equal(ttlv_wr_copy(&w, v, 4), CF_E_INVALID_ARG);
	FRESH(); assert_int_equal(ttlv_wr_copy(&w, v, 12), CF_E_INVALID_ARG);
	/* end without a begin, with a mark that is not a Structure header, or past off */
	FRESH(); assert_int_equal(ttlv_wr_end(&w, 0), CF_E_INTERNAL);
	FRESH();
	assert_int_equal(ttlv_wr_begin(&w, 0x420077, &mark), CF_OK);
	assert_int_equal(ttlv_wr_end(&w, 100), CF_E_INTERNAL);
	FRESH();
	assert_int_equal(ttlv_wr_begin(&w, 0x420077, &mark), CF_OK);
	assert_int_equal(ttlv_wr_int(&w, 0x42000D, 1), CF_OK);
	assert_int_equal(ttlv_wr_end(&w, 8), CF_E_INTERNAL); /* points at the Integer */
	/* NULL buffer: capacity 0 */
	ttlv_wr_init(&w, NULL, 64);
	assert_int_equal(w.cap, 0);
	assert_int_equal(ttlv_wr_int(&w, 0x42000D, 1), CF_E_NO_SPACE);
	/* 24-bit tag limits: 0xFFFFFF ok */
	FRESH(); assert_int_equal(ttlv_wr_int(&w, 0xFFFFFF, 1), CF_OK);
	assert_int_equal(b[0], 0xFF);
	assert_int_equal(b[2], 0xFF);
	assert_int_equal(b[3], TTLV_INTEGER);
#undef FRESH
}

static void test_wr_depth(void **state)
{
	uint8_t *b = malloc(8 * (TTLV_WR_MAX_DEPTH + 1));
	size_t marks[TTLV_WR_MAX_DEPTH];
	size_t m;
	ttlv_wr w;

	(void)state;
	assert_non_null(b);
	ttlv_wr_init(&w, b, 8 * (TTLV_WR_MAX_DEPTH + 1));
	for (int i = 0; i < TTLV_WR_MAX_DEPTH; i++)
		assert_int_equal(ttlv_wr_begin(&w, 0x420008, &marks[i]), CF_OK);
	assert_int_equal(ttlv_wr_begin(&w, 0x420008, &m), CF_E_DEPTH);
	assert_int_equal(ttlv_wr_len(&w), 8 * TTLV_WR_MAX_DEPTH);
	free(b);

	/* nested ends back-patch each level; the reader walks it back at its own limit */
	b = malloc(8 * 32);
	assert_non_null(b);
	ttlv_wr_init(&w, b, 8 * 32);
	for (int i = 0; i < 32; i++)
		assert_int_equal(ttlv_wr_begin(&w, 0x420008, &marks[i]), CF_OK);
	for (int i = 31; i >= 0; i--)
		assert_int_equal(ttlv_wr_end(&w, marks[i]), CF_OK);
	assert_int_equal(b[7], 31 * 8);
	struct ttlv_walk wk = { 0 };
	assert_int_equal(ttlv_walk(b, 8 * 32, NULL, &wk), CF_OK);
	assert_int_equal(wk.items, 32);
	assert_int_equal(wk.max_seen, 32);
	free(b);
}

static void test_wr_copy(void **state)
{
	uint8_t b[32];
	ttlv_wr w;
	static const uint8_t item[16] = { 0x42, 0, 0x0d, 2, 0, 0, 0, 4, 0, 0, 0, 9, 0, 0, 0, 0 };
	struct hrd h;
	int32_t v;

	(void)state;
	ttlv_wr_init(&w, b, sizeof b);
	assert_int_equal(ttlv_wr_copy(&w, item, sizeof item), CF_OK);
	assert_int_equal(ttlv_wr_copy(&w, item, sizeof item), CF_OK);
	assert_int_equal(ttlv_wr_copy(&w, item, 8), CF_E_NO_SPACE);
	ttlv_rd_init(&h.r, b, 32, NULL);
	assert_int_equal(ttlv_rd_int(&h.r, 0x42000D, &v), CF_OK);
	assert_int_equal(v, 9);
}

/* ---- round trip over every vector ------------------------------------------------------ */

/* read -> typed re-encode == input, in an exact-size output buffer; and one byte less fails
 * with NO_SPACE. */
static void test_roundtrip_vectors(void **state)
{
	struct tu_vecs vs = { 0 };
	size_t items = 0;

	(void)state;
	tu_vecs_load_all(&vs);
	for (size_t i = 0; i < vs.n; i++) {
		const struct tu_vec *v = &vs.v[i];
		struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
		size_t total;
		assert_int_equal(ttlv_msg_len(v->p, v->n, v->request ? 0x420078 : 0x42007B, &lim,
					      &total), CF_OK);
		assert_int_equal(total, v->n);

		uint8_t *out = malloc(v->n);
		ttlv_wr w;
		assert_non_null(out);
		ttlv_wr_init(&w, out, v->n);
		struct ttlv_walk wk = { .w = &w };
		cf_err rc = ttlv_walk(v->p, v->n, &lim, &wk);
		if (rc != CF_OK || wk.wr_rc != CF_OK)
			fail_msg("%s vector %zu: walk %d writer %d", v->src, i, rc, wk.wr_rc);
		assert_int_equal(ttlv_wr_len(&w), v->n);
		assert_memory_equal(out, v->p, v->n);
		items += wk.items;

		ttlv_wr_init(&w, out, v->n - 1);
		wk = (struct ttlv_walk){ .w = &w };
		assert_int_equal(ttlv_walk(v->p, v->n, &lim, &wk), CF_OK);
		assert_int_equal(wk.wr_rc, CF_E_NO_SPACE);
		free(out);
	}
	print_message("round trip: %zu messages, %zu items\n", vs.n, items);
	tu_vecs_free(&vs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rd_int),
		cmocka_unit_test(test_rd_enum_interval),
		cmocka_unit_test(test_rd_long_datetime),
		cmocka_unit_test(test_rd_bool),
		cmocka_unit_test(test_rd_text_bytes_bigint),
		cmocka_unit_test(test_rd_getter_failure_no_advance),
		cmocka_unit_test(test_rd_peek_next_is),
		cmocka_unit_test(test_rd_open_close),
		cmocka_unit_test(test_rd_depth_limit),
		cmocka_unit_test(test_msg_len),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_wr_typed),
		cmocka_unit_test(test_wr_exact_fit_and_short),
		cmocka_unit_test(test_wr_backpatch_discover),
		cmocka_unit_test(test_wr_sticky),
		cmocka_unit_test(test_wr_bad_args),
		cmocka_unit_test(test_wr_depth),
		cmocka_unit_test(test_wr_copy),
		cmocka_unit_test(test_roundtrip_vectors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
