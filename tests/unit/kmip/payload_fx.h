/* What the typed-payload unit tests share (test_kmip_crypto, _life, _split, _cert): an arena
 * per decode, and the round trip every payload goes through. Include after cmocka.h. */
#ifndef COFFRE_TESTS_KMIP_PAYLOAD_FX_H
#define COFFRE_TESTS_KMIP_PAYLOAD_FX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmip/kmip.h"

#define W(x) assert_int_equal((x), CF_OK)
#define T(name) KMIP_TAG_##name
#define N(a) (sizeof(a) / sizeof((a)[0]))

static uint8_t arena_buf[256 * 1024];

static struct kmip_arena fresh_arena(void)
{
	struct kmip_arena a;
	kmip_arena_init(&a, arena_buf, sizeof arena_buf);
	return a;
}

/* Encode pl into buf[cap], check the payload's top-level tags are tags[n_tags] in order, decode
 * it back (typed) into *out (views into buf), re-encode: the same bytes. Returns the length. */
static size_t payload_roundtrip(const struct kmip_payload *pl, bool rsp, int ver,
				const uint32_t *tags, size_t n_tags, uint8_t *buf, size_t cap,
				struct kmip_payload *out)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	struct kmip_arena a = fresh_arena();
	uint8_t again[4096];
	struct ttlv_item it;
	ttlv_wr w;
	ttlv_rd r;
	size_t n, k = 0;

	assert_true(cap <= sizeof again);
	ttlv_wr_init(&w, buf, cap);
	W(kmip_payload_encode(&w, pl, rsp, ver));
	n = ttlv_wr_len(&w);
	ttlv_rd_init(&r, buf + 8, n - 8, &lim);
	while (!ttlv_rd_done(&r)) {
		W(ttlv_rd_next(&r, &it));
		assert_true(k < n_tags);
		assert_int_equal(it.tag, tags[k]);
		k++;
	}
	assert_int_equal(k, n_tags);
	W(kmip_payload_decode(buf + 8, n - 8, pl->op, rsp, ver, NULL, &a, out));
	assert_true(out->typed);
	ttlv_wr_init(&w, again, sizeof again);
	W(kmip_payload_encode(&w, out, rsp, ver));
	assert_int_equal(ttlv_wr_len(&w), n);
	assert_memory_equal(again, buf, n);
	return n;
}

/* The same into a buffer of its own (the previous call's views end here). */
static void roundtrip(const struct kmip_payload *pl, bool rsp, int ver, const uint32_t *tags,
		      size_t n_tags, struct kmip_payload *out)
{
	static uint8_t buf[2048];

	(void)payload_roundtrip(pl, rsp, ver, tags, n_tags, buf, sizeof buf, out);
}

#endif
