/* Create Key Pair / Re-key Key Pair payloads (kmip/kmip_kp.c): the 1.4 Template-Attribute
 * form and the 2.0 Attributes form decode into the same struct and encode back byte for byte;
 * fields out of order, or in the other version's form, are refused; the 1.x-only response
 * templates are not written in 2.0. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kmip/kmip.h"

#define W(x) assert_int_equal((x), CF_OK)
#define T(name) KMIP_TAG_##name

static uint8_t arena_buf[64 * 1024];

static struct kmip_arena fresh_arena(void)
{
	struct kmip_arena a;
	kmip_arena_init(&a, arena_buf, sizeof arena_buf);
	return a;
}

/* 1.x Attribute { Attribute Name, Attribute Value (Enumeration or Integer) } */
static void attr1(ttlv_wr *w, const char *name, bool is_enum, uint32_t v)
{
	size_t m;
	W(ttlv_wr_begin(w, T(ATTRIBUTE), &m));
	W(ttlv_wr_text(w, T(ATTRIBUTE_NAME), name, strlen(name)));
	if (is_enum)
		W(ttlv_wr_enum(w, T(ATTRIBUTE_VALUE), v));
	else
		W(ttlv_wr_int(w, T(ATTRIBUTE_VALUE), (int32_t)v));
	W(ttlv_wr_end(w, m));
}

/* the three 1.4 templates, in the order given by `order` (0 common, 1 private, 2 public) */
static size_t req14(uint8_t *buf, size_t cap, const int order[3], bool rekey)
{
	ttlv_wr w;
	size_t m;
	ttlv_wr_init(&w, buf, cap);
	if (rekey) {
		W(ttlv_wr_text(&w, T(PRIVATE_KEY_UNIQUE_IDENTIFIER), "old-priv", 8));
		W(ttlv_wr_interval(&w, T(OFFSET), 3600));
	}
	for (int i = 0; i < 3; i++) {
		static const uint32_t tags[3] = { T(COMMON_TEMPLATE_ATTRIBUTE),
						  T(PRIVATE_KEY_TEMPLATE_ATTRIBUTE),
						  T(PUBLIC_KEY_TEMPLATE_ATTRIBUTE) };
		W(ttlv_wr_begin(&w, tags[order[i]], &m));
		if (order[i] == 0) {
			attr1(&w, "Cryptographic Algorithm", true, KMIP_CRYPTOGRAPHIC_ALGORITHM_RSA);
			attr1(&w, "Cryptographic Length", false, 2048);
		} else {
			attr1(&w, "Cryptographic Usage Mask", false, order[i] == 1 ? 1 : 2);
		}
		W(ttlv_wr_end(&w, m));
	}
	return ttlv_wr_len(&w);
}

static void check_decoded(const struct kmip_req_create_kp *p)
{
	assert_true(p->common.present && p->priv.present && p->pub.present);
	assert_int_equal(p->common.a.n, 2);
	assert_int_equal(p->common.a.v[0].tag, T(CRYPTOGRAPHIC_ALGORITHM));
	assert_int_equal(p->common.a.v[1].tag, T(CRYPTOGRAPHIC_LENGTH));
	assert_int_equal(p->priv.a.n, 1);
	assert_int_equal(p->priv.a.v[0].tag, T(CRYPTOGRAPHIC_USAGE_MASK));
	assert_int_equal(p->pub.a.n, 1);
}

static void test_create_kp_14(void **state)
{
	static const int ok[3] = { 0, 1, 2 }, swapped[3] = { 0, 2, 1 };
	uint8_t buf[1024], out[1100];
	struct kmip_payload pl;
	struct kmip_arena a = fresh_arena();
	ttlv_wr w;
	(void)state;
	size_t n = req14(buf, sizeof buf, ok, false);
	W(kmip_payload_decode(buf, n, KMIP_OPERATION_CREATE_KEY_PAIR, false, KMIP_V1_4, NULL, &a,
			      &pl));
	assert_true(pl.typed);
	check_decoded(&pl.u.kp_req);
	assert_null(pl.u.kp_req.priv_uid.p);
	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_payload_encode(&w, &pl, false, KMIP_V1_4));
	assert_int_equal(ttlv_wr_len(&w), 8 + n);
	assert_memory_equal(out + 8, buf, n);
	/* Public before Private: out of order */
	n = req14(buf, sizeof buf, swapped, false);
	a = fresh_arena();
	assert_int_not_equal(kmip_payload_decode(buf, n, KMIP_OPERATION_CREATE_KEY_PAIR, false,
						 KMIP_V1_4, NULL, &a, &pl), CF_OK);
	/* the 1.x form in a 2.0 request: Common Template-Attribute is not a 2.0 tag */
	n = req14(buf, sizeof buf, ok, false);
	a = fresh_arena();
	assert_int_not_equal(kmip_payload_decode(buf, n, KMIP_OPERATION_CREATE_KEY_PAIR, false,
						 KMIP_V2_0, NULL, &a, &pl), CF_OK);
	/* Re-key Key Pair: Private Key Unique Identifier and Offset first */
	n = req14(buf, sizeof buf, ok, true);
	a = fresh_arena();
	W(kmip_payload_decode(buf, n, KMIP_OPERATION_RE_KEY_KEY_PAIR, false, KMIP_V1_4, NULL, &a,
			      &pl));
	check_decoded(&pl.u.kp_req);
	assert_int_equal(pl.u.kp_req.priv_uid.n, 8);
	assert_true(pl.u.kp_req.has_offset);
	assert_int_equal(pl.u.kp_req.offset, 3600);
	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_payload_encode(&w, &pl, false, KMIP_V1_4));
	assert_int_equal(ttlv_wr_len(&w), 8 + n);
	assert_memory_equal(out + 8, buf, n);
	/* the same bytes as a Create Key Pair: the uid is not a Create Key Pair field */
	a = fresh_arena();
	assert_int_not_equal(kmip_payload_decode(buf, n, KMIP_OPERATION_CREATE_KEY_PAIR, false,
						 KMIP_V1_4, NULL, &a, &pl), CF_OK);
}

static void test_create_kp_20(void **state)
{
	uint8_t buf[512], out[600];
	struct kmip_payload pl;
	struct kmip_arena a = fresh_arena();
	ttlv_wr w;
	size_t m;
	(void)state;
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_begin(&w, T(COMMON_ATTRIBUTES), &m));
	W(ttlv_wr_enum(&w, T(CRYPTOGRAPHIC_ALGORITHM), KMIP_CRYPTOGRAPHIC_ALGORITHM_RSA));
	W(ttlv_wr_int(&w, T(CRYPTOGRAPHIC_LENGTH), 2048));
	W(ttlv_wr_end(&w, m));
	W(ttlv_wr_begin(&w, T(PRIVATE_KEY_ATTRIBUTES), &m));
	W(ttlv_wr_int(&w, T(CRYPTOGRAPHIC_USAGE_MASK), 1));
	W(ttlv_wr_end(&w, m));
	W(ttlv_wr_begin(&w, T(PUBLIC_KEY_ATTRIBUTES), &m));
	W(ttlv_wr_int(&w, T(CRYPTOGRAPHIC_USAGE_MASK), 2));
	W(ttlv_wr_end(&w, m));
	size_t n = ttlv_wr_len(&w);
	W(kmip_payload_decode(buf, n, KMIP_OPERATION_CREATE_KEY_PAIR, false, KMIP_V2_0, NULL, &a,
			      &pl));
	check_decoded(&pl.u.kp_req);
	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_payload_encode(&w, &pl, false, KMIP_V2_0));
	assert_int_equal(ttlv_wr_len(&w), 8 + n);
	assert_memory_equal(out + 8, buf, n);
	/* 1.x encoding of the decoded struct: Template-Attribute form */
	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_payload_encode(&w, &pl, false, KMIP_V1_4));
	struct kmip_payload back;
	/* the 2.0 form in a 1.4 request */
	struct kmip_arena a2 = fresh_arena();
	assert_int_not_equal(kmip_payload_decode(buf, n, KMIP_OPERATION_CREATE_KEY_PAIR, false,
						 KMIP_V1_4, NULL, &a2, &back), CF_OK);
	a = fresh_arena();
	W(kmip_payload_decode(out + 8, ttlv_wr_len(&w) - 8, KMIP_OPERATION_CREATE_KEY_PAIR, false,
			      KMIP_V1_4, NULL, &a, &back));
	check_decoded(&back.u.kp_req);
}

static void test_kp_response(void **state)
{
	uint8_t out[512];
	struct kmip_payload pl, back;
	struct kmip_attr at;
	uint8_t vb[8];
	struct kmip_arena a = fresh_arena();
	ttlv_wr w;
	(void)state;
	memset(&pl, 0, sizeof pl);
	pl.op = KMIP_OPERATION_CREATE_KEY_PAIR;
	pl.typed = true;
	pl.u.kp_rsp.priv_uid = (struct kmip_text){ "priv-1", 6 };
	pl.u.kp_rsp.pub_uid = (struct kmip_text){ "pub-1", 5 };
	kmip_attr_set_int(&at, T(CRYPTOGRAPHIC_USAGE_MASK), 1, vb);
	pl.u.kp_rsp.priv_t = (struct kmip_tmpl){ .present = true, .a = { &at, 1 } };
	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_payload_encode(&w, &pl, true, KMIP_V1_4));
	size_t n14 = ttlv_wr_len(&w);
	W(kmip_payload_decode(out + 8, n14 - 8, KMIP_OPERATION_CREATE_KEY_PAIR, true, KMIP_V1_4,
			      NULL, &a, &back));
	assert_int_equal(back.u.kp_rsp.priv_uid.n, 6);
	assert_int_equal(back.u.kp_rsp.pub_uid.n, 5);
	assert_true(back.u.kp_rsp.priv_t.present);
	assert_int_equal(back.u.kp_rsp.priv_t.a.n, 1);
	assert_false(back.u.kp_rsp.pub_t.present);
	/* 2.0: the two uids only */
	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_payload_encode(&w, &pl, true, KMIP_V2_0));
	assert_true(ttlv_wr_len(&w) < n14);
	a = fresh_arena();
	W(kmip_payload_decode(out + 8, ttlv_wr_len(&w) - 8, KMIP_OPERATION_RE_KEY_KEY_PAIR, true,
			      KMIP_V2_0, NULL, &a, &back));
	assert_false(back.u.kp_rsp.priv_t.present);
	/* both uids are required */
	pl.u.kp_rsp.pub_uid = (struct kmip_text){ 0 };
	ttlv_wr_init(&w, out, sizeof out);
	assert_int_equal(kmip_payload_encode(&w, &pl, true, KMIP_V1_4), CF_E_MISSING);
	assert_true(kmip_op_typed(KMIP_OPERATION_CREATE_KEY_PAIR));
	assert_true(kmip_op_typed(KMIP_OPERATION_RE_KEY_KEY_PAIR));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_kp_14),
		cmocka_unit_test(test_create_kp_20),
		cmocka_unit_test(test_kp_response),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
