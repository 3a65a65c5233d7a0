/* Split key payloads (kmip/kmip_split.c, kmip_payload.c): Create Split Key, Join Split Key.
 *
 * Round trips in every version that has the operations (1.2 - 2.0): the fields in the order of
 * 1.4 Tables 247-250 / 2.0 Tables 178-179, 226-227 (the expected tag lists are typed from the
 * tables), decoded back typed and re-encoded byte for byte; the 1.x Template-Attribute is the
 * 2.0 Attributes. Refusals: required fields missing (decode and encode), a count < 1, order,
 * duplicates. In 1.0 / 1.1 the operations do not exist: the payload is walked, untyped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kmip/kmip.h"
#include "payload_fx.h"

static cf_err dec(uint32_t op, bool rsp, int ver, const uint8_t *c, size_t n,
		  struct kmip_payload *out)
{
	struct kmip_arena a = fresh_arena();
	return kmip_payload_decode(c, n, op, rsp, ver, NULL, &a, out);
}

static const uint8_t prime[] = { 0, 0, 0, 0, 0, 0, 0, 0x83 };
static struct kmip_text uids[3] = { { "p-1", 3 }, { "p-2", 3 }, { "p-3", 3 } };

static void test_create_split(void **state)
{
	(void)state;
	for (int ver = KMIP_V1_2; ver < KMIP_V_COUNT; ver++) {
		uint32_t tmpl = ver >= KMIP_V2_0 ? T(ATTRIBUTES) : T(TEMPLATE_ATTRIBUTE);
		const uint32_t full[] = { T(OBJECT_TYPE), T(UNIQUE_IDENTIFIER), T(SPLIT_KEY_PARTS),
					  T(SPLIT_KEY_THRESHOLD), T(SPLIT_KEY_METHOD),
					  T(PRIME_FIELD_SIZE), tmpl };
		const uint32_t least[] = { T(OBJECT_TYPE), T(SPLIT_KEY_PARTS), T(SPLIT_KEY_THRESHOLD),
					   T(SPLIT_KEY_METHOD), tmpl };
		struct kmip_payload pl = { .op = KMIP_OPERATION_CREATE_SPLIT_KEY, .typed = true }, out;
		struct kmip_req_create_split *q = &pl.u.split_req;
		q->object_type = KMIP_OBJECT_TYPE_SPLIT_KEY;
		q->uid = (struct kmip_text){ "key-1", 5 };
		q->parts = 5;
		q->threshold = 3;
		q->method = KMIP_SPLIT_KEY_METHOD_POLYNOMIAL_SHARING_PRIME_FIELD;
		q->prime = (struct kmip_bytes){ prime, sizeof prime };
		roundtrip(&pl, false, ver, full, N(full), &out);
		assert_int_equal(out.u.split_req.parts, 5);
		assert_int_equal(out.u.split_req.threshold, 3);
		assert_int_equal(out.u.split_req.prime.n, sizeof prime);
		assert_true(out.u.split_req.t.present);
		memset(q, 0, sizeof *q);
		q->object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
		q->parts = q->threshold = 2;
		q->method = KMIP_SPLIT_KEY_METHOD_XOR;
		roundtrip(&pl, false, ver, least, N(least), &out);
		assert_null(out.u.split_req.uid.p);
		assert_null(out.u.split_req.prime.p);
		/* response: the parts' identifiers */
		const uint32_t rsp3[] = { T(UNIQUE_IDENTIFIER), T(UNIQUE_IDENTIFIER),
					  T(UNIQUE_IDENTIFIER) };
		memset(&pl.u, 0, sizeof pl.u);
		pl.u.split_rsp.uids = uids;
		pl.u.split_rsp.n_uids = 3;
		roundtrip(&pl, true, ver, rsp3, 3, &out);
		assert_int_equal(out.u.split_rsp.n_uids, 3);
		assert_memory_equal(out.u.split_rsp.uids[2].p, "p-3", 3);
		/* encode: no identifier, a count < 1 */
		uint8_t buf[256];
		ttlv_wr w;
		memset(&pl.u, 0, sizeof pl.u);
		ttlv_wr_init(&w, buf, sizeof buf);
		assert_int_equal(kmip_payload_encode(&w, &pl, true, ver), CF_E_MISSING);
		ttlv_wr_init(&w, buf, sizeof buf);
		assert_int_equal(kmip_payload_encode(&w, &pl, false, ver), CF_E_BAD_VALUE);
	}
}

static void test_join_split(void **state)
{
	(void)state;
	for (int ver = KMIP_V1_2; ver < KMIP_V_COUNT; ver++) {
		uint32_t tmpl = ver >= KMIP_V2_0 ? T(ATTRIBUTES) : T(TEMPLATE_ATTRIBUTE);
		const uint32_t full[] = { T(OBJECT_TYPE), T(UNIQUE_IDENTIFIER), T(UNIQUE_IDENTIFIER),
					  T(SECRET_DATA_TYPE), tmpl };
		const uint32_t least[] = { T(OBJECT_TYPE), T(UNIQUE_IDENTIFIER) };
		struct kmip_payload pl = { .op = KMIP_OPERATION_JOIN_SPLIT_KEY, .typed = true }, out;
		struct kmip_req_join_split *q = &pl.u.join_req;
		q->object_type = KMIP_OBJECT_TYPE_SECRET_DATA;
		q->uids = uids;
		q->n_uids = 2;
		q->has_secret_type = true;
		q->secret_type = KMIP_SECRET_DATA_TYPE_SEED;
		q->t.present = true;
		roundtrip(&pl, false, ver, full, N(full), &out);
		assert_int_equal(out.u.join_req.n_uids, 2);
		assert_true(out.u.join_req.has_secret_type);
		q->n_uids = 1;
		q->has_secret_type = false;
		q->t.present = false;
		roundtrip(&pl, false, ver, least, N(least), &out);
		assert_false(out.u.join_req.t.present);
		const uint32_t rsp[] = { T(UNIQUE_IDENTIFIER) };
		memset(&pl.u, 0, sizeof pl.u);
		pl.u.rekey_rsp.uid = (struct kmip_text){ "joined", 6 };
		roundtrip(&pl, true, ver, rsp, 1, &out);
		assert_memory_equal(out.u.rekey_rsp.uid.p, "joined", 6);
		uint8_t buf[256];
		ttlv_wr w;
		memset(&pl.u, 0, sizeof pl.u);
		ttlv_wr_init(&w, buf, sizeof buf);
		assert_int_equal(kmip_payload_encode(&w, &pl, true, ver), CF_E_MISSING);
		pl.u.join_req.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY; /* no part named */
		ttlv_wr_init(&w, buf, sizeof buf);
		assert_int_equal(kmip_payload_encode(&w, &pl, false, ver), CF_E_MISSING);
	}
}

static void test_refusals(void **state)
{
	uint8_t buf[512];
	struct kmip_payload out;
	ttlv_wr w;
	(void)state;
	/* Create Split Key without a template: missing */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_enum(&w, T(OBJECT_TYPE), KMIP_OBJECT_TYPE_SPLIT_KEY));
	W(ttlv_wr_int(&w, T(SPLIT_KEY_PARTS), 3));
	W(ttlv_wr_int(&w, T(SPLIT_KEY_THRESHOLD), 2));
	W(ttlv_wr_enum(&w, T(SPLIT_KEY_METHOD), KMIP_SPLIT_KEY_METHOD_XOR));
	assert_int_equal(dec(KMIP_OPERATION_CREATE_SPLIT_KEY, false, KMIP_V1_4, buf,
			     ttlv_wr_len(&w), &out), CF_E_MISSING);
	/* Split Key Parts 0 */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_enum(&w, T(OBJECT_TYPE), KMIP_OBJECT_TYPE_SPLIT_KEY));
	W(ttlv_wr_int(&w, T(SPLIT_KEY_PARTS), 0));
	W(ttlv_wr_int(&w, T(SPLIT_KEY_THRESHOLD), 2));
	W(ttlv_wr_enum(&w, T(SPLIT_KEY_METHOD), KMIP_SPLIT_KEY_METHOD_XOR));
	W(ttlv_wr_begin(&w, T(TEMPLATE_ATTRIBUTE), &(size_t){ 0 }));
	assert_int_not_equal(dec(KMIP_OPERATION_CREATE_SPLIT_KEY, false, KMIP_V1_4, buf,
				 ttlv_wr_len(&w), &out), CF_OK);
	/* Threshold before Parts: out of order */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_enum(&w, T(OBJECT_TYPE), KMIP_OBJECT_TYPE_SPLIT_KEY));
	W(ttlv_wr_int(&w, T(SPLIT_KEY_THRESHOLD), 2));
	W(ttlv_wr_int(&w, T(SPLIT_KEY_PARTS), 3));
	assert_int_not_equal(dec(KMIP_OPERATION_CREATE_SPLIT_KEY, false, KMIP_V1_4, buf,
				 ttlv_wr_len(&w), &out), CF_OK);
	/* Join Split Key without a Unique Identifier: missing; two Secret Data Types: refused */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_enum(&w, T(OBJECT_TYPE), KMIP_OBJECT_TYPE_SYMMETRIC_KEY));
	assert_int_equal(dec(KMIP_OPERATION_JOIN_SPLIT_KEY, false, KMIP_V2_0, buf,
			     ttlv_wr_len(&w), &out), CF_E_MISSING);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "a", 1));
	W(ttlv_wr_enum(&w, T(SECRET_DATA_TYPE), KMIP_SECRET_DATA_TYPE_SEED));
	W(ttlv_wr_enum(&w, T(SECRET_DATA_TYPE), KMIP_SECRET_DATA_TYPE_SEED));
	assert_int_not_equal(dec(KMIP_OPERATION_JOIN_SPLIT_KEY, false, KMIP_V2_0, buf,
				 ttlv_wr_len(&w), &out), CF_OK);
	/* KMIP 1.1: no such operation, the payload is walked untyped */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_enum(&w, T(OBJECT_TYPE), KMIP_OBJECT_TYPE_SYMMETRIC_KEY));
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "a", 1));
	W(dec(KMIP_OPERATION_JOIN_SPLIT_KEY, false, KMIP_V1_1, buf, ttlv_wr_len(&w), &out));
	assert_false(out.typed);
	assert_true(kmip_op_typed(KMIP_OPERATION_CREATE_SPLIT_KEY));
	assert_true(kmip_op_typed(KMIP_OPERATION_JOIN_SPLIT_KEY));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_split),
		cmocka_unit_test(test_join_split),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
