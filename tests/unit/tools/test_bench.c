/* coffre-bench pieces without I/O: the latency histogram, the pre-encoded requests (decoded
 * back with kmip_decode_request) and the response check (success, failure with Result
 * Reason, wrong operation, garbage, every truncation). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tools/bench.h"

#define W(x) assert_int_equal((x), CF_OK)

static uint8_t arena_buf[1u << 16];

static struct kmip_arena arena(void)
{
	struct kmip_arena a;
	kmip_arena_init(&a, arena_buf, sizeof arena_buf);
	return a;
}

static struct bench_cfg cfg_v(int maj, int min)
{
	struct bench_cfg c;
	memset(&c, 0, sizeof c);
	c.pv = (struct kmip_pv){ maj, min };
	return c;
}

/* ---- histogram ------------------------------------------------------------------------ */

static void test_hist_buckets_contiguous(void **state)
{
	(void)state;
	/* every bucket starts where the previous one ended */
	uint64_t lo, w, next = 0;
	for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
		bench_hist_range(i, &lo, &w);
		assert_int_equal(lo, next);
		next = lo + w;
		if (next == 0)           /* the last bucket ends at 2^64 */
			break;
	}
	/* values map into the bucket that contains them */
	const uint64_t v[] = { 0, 1, 127, 128, 129, 255, 256, 1000, 123456789, UINT64_MAX };
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		size_t ix = bench_hist_index(v[i]);
		assert_true(ix < BENCH_HIST_BUCKETS);
		bench_hist_range(ix, &lo, &w);
		assert_true(v[i] >= lo && v[i] - lo < w);
	}
}

static void test_hist_quantiles(void **state)
{
	static struct bench_hist h, h2;
	(void)state;
	memset(&h, 0, sizeof h);
	assert_true(bench_hist_quantile_ms(&h, 0.5) == 0.0);
	for (uint64_t i = 1; i <= 1000; i++)
		bench_hist_add(&h, i * 1000000u);        /* 1 .. 1000 ms */
	double p50 = bench_hist_quantile_ms(&h, 0.50), p99 = bench_hist_quantile_ms(&h, 0.99);
	assert_true(p50 > 500.0 * 0.98 && p50 < 500.0 * 1.02);
	assert_true(p99 > 990.0 * 0.98 && p99 < 990.0 * 1.02);
	memset(&h2, 0, sizeof h2);
	bench_hist_add(&h2, 5000000000u);            /* one 5 s outlier */
	bench_hist_merge(&h2, &h);
	assert_int_equal(h2.n, 1001);
	double top = bench_hist_quantile_ms(&h2, 1.0);
	assert_true(top > 5000.0 * 0.98 && top < 5000.0 * 1.02);
}

/* ---- requests ------------------------------------------------------------------------- */

static void test_req_create_like_vcenter(void **state)
{
	struct bench_cfg c = cfg_v(1, 1);
	struct bench_msg m;
	struct kmip_request rq;
	struct kmip_decode_error e;
	struct kmip_arena a = arena();
	uint32_t v;
	(void)state;
	strcpy(c.attr_name, "x-Vendor");
	strcpy(c.attr_value, "acme");
	W(bench_msg_make(&c, KMIP_OPERATION_CREATE, "", &m));
	assert_int_equal(m.op, KMIP_OPERATION_CREATE);
	W(kmip_decode_request(m.p, m.n, NULL, &a, &rq, &e));
	assert_int_equal(rq.h.pv.major, 1);
	assert_int_equal(rq.h.pv.minor, 1);
	assert_int_equal(rq.n_items, 1);
	const struct kmip_req_create *cr = &rq.items[0].pl.u.create_req;
	assert_int_equal(cr->object_type, KMIP_OBJECT_TYPE_SYMMETRIC_KEY);
	assert_int_equal(cr->t.a.n, 4);
	W(kmip_attr_get_u32(kmip_attrs_find(&cr->t.a, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM), &v));
	assert_int_equal(v, KMIP_CRYPTOGRAPHIC_ALGORITHM_AES);
	W(kmip_attr_get_u32(kmip_attrs_find(&cr->t.a, KMIP_TAG_CRYPTOGRAPHIC_LENGTH), &v));
	assert_int_equal(v, 256);
	W(kmip_attr_get_u32(kmip_attrs_find(&cr->t.a, KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK), &v));
	assert_int_equal(v, 12);
	assert_int_equal(cr->t.a.v[3].name.n, 8);
	assert_memory_equal(cr->t.a.v[3].name.p, "x-Vendor", 8);
	bench_msg_free(&m);
	assert_null(m.p);
}

static void test_req_each_op_each_version(void **state)
{
	static const struct kmip_pv pvs[] = { { 1, 0 }, { 1, 1 }, { 1, 2 }, { 1, 4 }, { 2, 0 } };
	static const uint32_t ops[] = { KMIP_OPERATION_GET, KMIP_OPERATION_GET_ATTRIBUTES,
					KMIP_OPERATION_LOCATE, KMIP_OPERATION_CREATE,
					KMIP_OPERATION_DISCOVER_VERSIONS };
	(void)state;
	for (size_t i = 0; i < sizeof pvs / sizeof pvs[0]; i++) {
		for (size_t j = 0; j < sizeof ops / sizeof ops[0]; j++) {
			struct bench_cfg c = cfg_v(pvs[i].major, pvs[i].minor);
			struct bench_msg m;
			struct kmip_request rq;
			struct kmip_decode_error e;
			struct kmip_arena a = arena();
			strcpy(c.attr_name, "x-Vendor");
			strcpy(c.attr_value, "acme");
			c.max_items = 7;
			if (ops[j] == KMIP_OPERATION_DISCOVER_VERSIONS && pvs[i].minor == 0 &&
			    pvs[i].major == 1) {
				/* Discover Versions is 1.1+ */
				assert_int_not_equal(bench_msg_make(&c, ops[j], "k1", &m), CF_OK);
				continue;
			}
			W(bench_msg_make(&c, ops[j], "k1", &m));
			W(kmip_decode_request(m.p, m.n, NULL, &a, &rq, &e));
			assert_int_equal(rq.items[0].op, ops[j]);
			if (ops[j] == KMIP_OPERATION_GET) {
				assert_int_equal(rq.items[0].pl.u.get_req.uid.n, 2);
				assert_memory_equal(rq.items[0].pl.u.get_req.uid.p, "k1", 2);
			} else if (ops[j] == KMIP_OPERATION_GET_ATTRIBUTES) {
				const struct kmip_attr_refs *r = &rq.items[0].pl.u.get_attrs_req.refs;
				assert_int_equal(r->n, 2);
				assert_int_equal(r->v[0].tag, KMIP_TAG_STATE);
			} else if (ops[j] == KMIP_OPERATION_LOCATE) {
				const struct kmip_req_locate *l = &rq.items[0].pl.u.locate_req;
				assert_true(l->has_max);
				assert_int_equal(l->max_items, 7);
				assert_int_equal(l->t.a.n, 1);
			}
			bench_msg_free(&m);
		}
	}
}

static void test_req_locate_attrs(void **state)
{
	struct bench_cfg c = cfg_v(1, 4);
	struct bench_msg m;
	struct kmip_request rq;
	struct kmip_decode_error e;
	struct kmip_arena a = arena();
	uint32_t v;
	(void)state;
	/* no --attr: refused */
	assert_int_equal(bench_msg_make(&c, KMIP_OPERATION_LOCATE, "", &m), CF_E_MISSING);
	/* a standard Enumeration attribute by its spec name */
	strcpy(c.attr_name, "Object Type");
	strcpy(c.attr_value, "Symmetric Key");
	W(bench_msg_make(&c, KMIP_OPERATION_LOCATE, "", &m));
	W(kmip_decode_request(m.p, m.n, NULL, &a, &rq, &e));
	W(kmip_attr_get_u32(&rq.items[0].pl.u.locate_req.t.a.v[0], &v));
	assert_int_equal(v, KMIP_OBJECT_TYPE_SYMMETRIC_KEY);
	bench_msg_free(&m);
	/* unknown attribute names and bad enumeration values are refused */
	strcpy(c.attr_name, "No Such Attribute");
	assert_int_equal(bench_msg_make(&c, KMIP_OPERATION_LOCATE, "", &m), CF_E_BAD_ATTR);
	strcpy(c.attr_name, "Object Type");
	strcpy(c.attr_value, "Nonsense");
	assert_int_equal(bench_msg_make(&c, KMIP_OPERATION_LOCATE, "", &m), CF_E_BAD_ENUM);
	assert_null(m.p);
}

/* ---- responses ------------------------------------------------------------------------ */

static size_t make_rsp(uint8_t *out, size_t cap, uint32_t op, uint32_t status, uint32_t reason,
		       const char *msg, const char *uid)
{
	struct kmip_rsp_item it;
	struct kmip_response r;
	ttlv_wr w;
	memset(&it, 0, sizeof it);
	memset(&r, 0, sizeof r);
	it.has_op = true;
	it.op = op;
	it.status = status;
	if (status != KMIP_RESULT_STATUS_SUCCESS) {
		it.has_reason = true;
		it.reason = reason;
		it.message = (struct kmip_text){ msg, strlen(msg) };
	} else {
		it.has_payload = true;
		it.pl.op = op;
		it.pl.typed = true;
		it.pl.u.create_rsp.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
		it.pl.u.create_rsp.uid = (struct kmip_text){ uid, strlen(uid) };
	}
	r.h.pv = (struct kmip_pv){ 1, 1 };
	r.h.time_stamp = 1;
	r.items = &it;
	r.n_items = 1;
	ttlv_wr_init(&w, out, cap);
	W(kmip_encode_response(&w, &r));
	return ttlv_wr_len(&w);
}

static void test_rsp_check(void **state)
{
	static uint8_t buf[4096];
	struct bench_rsp_info info;
	struct kmip_arena a = arena();
	char d[512];
	(void)state;

	size_t n = make_rsp(buf, sizeof buf, KMIP_OPERATION_CREATE, KMIP_RESULT_STATUS_SUCCESS, 0,
			    "", "uid-42");
	W(bench_rsp_check(buf, n, KMIP_OPERATION_CREATE, &a, &info));
	assert_string_equal(info.uid, "uid-42");
	/* the right answer to another question is not a success */
	assert_int_equal(bench_rsp_check(buf, n, KMIP_OPERATION_LOCATE, &a, &info), CF_E_BAD_VALUE);
	/* every truncation fails, never reads past the end (exact-size heap copies) */
	for (size_t k = 0; k < n; k++) {
		uint8_t *p = malloc(k ? k : 1);
		assert_non_null(p);
		memcpy(p, buf, k);
		assert_int_not_equal(bench_rsp_check(p, k, KMIP_OPERATION_CREATE, &a, &info), CF_OK);
		free(p);
	}

	n = make_rsp(buf, sizeof buf, KMIP_OPERATION_GET, KMIP_RESULT_STATUS_OPERATION_FAILED,
		     KMIP_RESULT_REASON_ITEM_NOT_FOUND, "no such\x01 key", "");
	assert_int_equal(bench_rsp_check(buf, n, KMIP_OPERATION_GET, &a, &info), CF_E_STATE);
	assert_true(info.has_reason);
	assert_int_equal(info.reason, KMIP_RESULT_REASON_ITEM_NOT_FOUND);
	bench_rsp_describe(CF_E_STATE, KMIP_OPERATION_GET, &info, d, sizeof d);
	assert_string_equal(d, "Get: Result Status Operation Failed, Result Reason Item Not Found: "
			       "no such? key");
	bench_rsp_describe(CF_E_TRUNCATED, KMIP_OPERATION_GET, &info, d, sizeof d);
	assert_non_null(strstr(d, "Get: response does not decode"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_buckets_contiguous),
		cmocka_unit_test(test_hist_quantiles),
		cmocka_unit_test(test_req_create_like_vcenter),
		cmocka_unit_test(test_req_each_op_each_version),
		cmocka_unit_test(test_req_locate_attrs),
		cmocka_unit_test(test_rsp_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
