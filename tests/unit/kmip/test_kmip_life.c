/* Lifecycle and asynchronous-operation payloads (kmip/kmip_life.c, kmip_payload.c): Archive,
 * Recover, Obtain Lease, Get Usage Allocation, Poll, Cancel.
 *
 * Round trips in every version (1.0 - 2.0): the fields in the order of 1.4 Tables 206-209,
 * 216-219, 226-228 (the expected tag lists are typed from the tables, not from the codec),
 * decoded back typed and re-encoded byte for byte. Refusals: required fields missing (decode
 * and encode), order, duplicates, types, unknown tags, an enumeration value Cancellation Result
 * does not have. A Poll response is the polled operation's payload: it decodes untyped and is
 * re-encoded verbatim. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kmip/kmip.h"
#include "payload_fx.h"

static const uint8_t corr_value[] = { 0x01, 0x02, 0x03, 0x04, 0xfe };
#define LCD 1700000000LL

static cf_err dec(uint32_t op, bool rsp, int ver, const uint8_t *c, size_t n,
		  struct kmip_payload *out);

static void test_typed(void **state)
{
	(void)state;
	assert_true(kmip_op_typed(KMIP_OPERATION_ARCHIVE));
	assert_true(kmip_op_typed(KMIP_OPERATION_RECOVER));
	assert_true(kmip_op_typed(KMIP_OPERATION_OBTAIN_LEASE));
	assert_true(kmip_op_typed(KMIP_OPERATION_GET_USAGE_ALLOCATION));
	assert_true(kmip_op_typed(KMIP_OPERATION_POLL));
	assert_true(kmip_op_typed(KMIP_OPERATION_CANCEL));
	assert_false(kmip_op_typed(KMIP_OPERATION_NOTIFY));
	assert_false(kmip_op_typed(KMIP_OPERATION_PUT));
}

static void test_uid_ops_roundtrip(void **state)
{
	static const uint32_t ops[] = { KMIP_OPERATION_ARCHIVE, KMIP_OPERATION_RECOVER };
	const uint32_t tags[] = { T(UNIQUE_IDENTIFIER) };
	(void)state;
	for (int ver = KMIP_V1_0; ver < KMIP_V_COUNT; ver++) {
		for (size_t o = 0; o < N(ops); o++) {
			struct kmip_payload pl = { .op = ops[o], .typed = true }, out;
			pl.u.uid_req.uid = (struct kmip_text){ "key-1", 5 };
			roundtrip(&pl, false, ver, tags, 1, &out);
			assert_memory_equal(out.u.uid_req.uid.p, "key-1", 5);
			roundtrip(&pl, true, ver, tags, 1, &out);
			assert_int_equal(out.u.uid_rsp.uid.n, 5);
			/* the request's Unique Identifier is optional (ID Placeholder) */
			memset(&pl.u, 0, sizeof pl.u);
			roundtrip(&pl, false, ver, tags, 0, &out);
			assert_null(out.u.uid_req.uid.p);
			/* the response's is required */
			uint8_t buf[64];
			ttlv_wr w;
			ttlv_wr_init(&w, buf, sizeof buf);
			assert_int_equal(kmip_payload_encode(&w, &pl, true, ver), CF_E_MISSING);
		}
	}
}

static void test_lease_roundtrip(void **state)
{
	const uint32_t req_tags[] = { T(UNIQUE_IDENTIFIER) };
	const uint32_t rsp_tags[] = { T(UNIQUE_IDENTIFIER), T(LEASE_TIME), T(LAST_CHANGE_DATE) };
	(void)state;
	for (int ver = KMIP_V1_0; ver < KMIP_V_COUNT; ver++) {
		struct kmip_payload pl = { .op = KMIP_OPERATION_OBTAIN_LEASE, .typed = true }, out;
		struct kmip_lease *l = &pl.u.lease;
		l->uid = (struct kmip_text){ "key-2", 5 };
		roundtrip(&pl, false, ver, req_tags, 1, &out);
		assert_memory_equal(out.u.lease.uid.p, "key-2", 5);
		assert_false(out.u.lease.has_lease);
		l->has_lease = true;
		l->lease_time = 3600;
		l->has_last_change = true;
		l->last_change = LCD;
		roundtrip(&pl, true, ver, rsp_tags, 3, &out);
		assert_true(out.u.lease.has_lease && out.u.lease.has_last_change);
		assert_int_equal(out.u.lease.lease_time, 3600);
		assert_int_equal(out.u.lease.last_change, LCD);
	}
}

static void test_usage_alloc(void **state)
{
	const uint32_t req_tags[] = { T(UNIQUE_IDENTIFIER), T(USAGE_LIMITS_COUNT) };
	const uint32_t rsp_tags[] = { T(UNIQUE_IDENTIFIER) };
	uint8_t buf[128];
	ttlv_wr w;
	(void)state;
	for (int ver = KMIP_V1_0; ver < KMIP_V_COUNT; ver++) {
		struct kmip_payload pl = { .op = KMIP_OPERATION_GET_USAGE_ALLOCATION, .typed = true };
		struct kmip_payload out;
		struct kmip_usage_alloc *u = &pl.u.usage_alloc;
		u->uid = (struct kmip_text){ "key-4", 5 };
		u->has_count = true;
		u->count = 5;
		roundtrip(&pl, false, ver, req_tags, 2, &out);
		assert_true(out.u.usage_alloc.has_count);
		assert_int_equal(out.u.usage_alloc.count, 5);
		roundtrip(&pl, true, ver, rsp_tags, 1, &out);
		/* the ID Placeholder form */
		u->uid = (struct kmip_text){ 0 };
		roundtrip(&pl, false, ver, req_tags + 1, 1, &out);
		assert_null(out.u.usage_alloc.uid.p);
		/* encode: the count is required and not negative; the answer's uid is required */
		ttlv_wr_init(&w, buf, sizeof buf);
		assert_int_equal(kmip_payload_encode(&w, &pl, true, ver), CF_E_MISSING);
		u->count = -1;
		ttlv_wr_init(&w, buf, sizeof buf);
		assert_int_equal(kmip_payload_encode(&w, &pl, false, ver), CF_E_BAD_VALUE);
		u->has_count = false;
		ttlv_wr_init(&w, buf, sizeof buf);
		assert_int_equal(kmip_payload_encode(&w, &pl, false, ver), CF_E_MISSING);
	}
	/* decode: no count, a negative count, an Integer instead of a Long Integer */
	struct kmip_payload out;
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "k", 1));
	assert_int_equal(dec(KMIP_OPERATION_GET_USAGE_ALLOCATION, false, KMIP_V1_4, buf,
			     ttlv_wr_len(&w), &out), CF_E_MISSING);
	W(ttlv_wr_long(&w, T(USAGE_LIMITS_COUNT), -3));
	assert_int_equal(dec(KMIP_OPERATION_GET_USAGE_ALLOCATION, false, KMIP_V1_4, buf,
			     ttlv_wr_len(&w), &out), CF_E_BAD_VALUE);
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_int(&w, T(USAGE_LIMITS_COUNT), 3));
	assert_int_not_equal(dec(KMIP_OPERATION_GET_USAGE_ALLOCATION, false, KMIP_V2_0, buf,
				 ttlv_wr_len(&w), &out), CF_OK);
	assert_int_equal(dec(KMIP_OPERATION_GET_USAGE_ALLOCATION, true, KMIP_V2_0, buf, 0, &out),
			 CF_E_MISSING);
}

static void test_async_roundtrip(void **state)
{
	const uint32_t req_tags[] = { T(ASYNCHRONOUS_CORRELATION_VALUE) };
	const uint32_t rsp_tags[] = { T(ASYNCHRONOUS_CORRELATION_VALUE), T(CANCELLATION_RESULT) };
	(void)state;
	for (int ver = KMIP_V1_0; ver < KMIP_V_COUNT; ver++) {
		struct kmip_payload pl = { .op = KMIP_OPERATION_POLL, .typed = true }, out;
		pl.u.async.corr = (struct kmip_bytes){ corr_value, sizeof corr_value };
		roundtrip(&pl, false, ver, req_tags, 1, &out);
		assert_int_equal(out.u.async.corr.n, sizeof corr_value);
		assert_memory_equal(out.u.async.corr.p, corr_value, sizeof corr_value);
		pl.op = KMIP_OPERATION_CANCEL;
		roundtrip(&pl, false, ver, req_tags, 1, &out);
		pl.u.async.has_result = true;
		pl.u.async.cancel_result = KMIP_CANCELLATION_RESULT_UNAVAILABLE;
		roundtrip(&pl, true, ver, rsp_tags, 2, &out);
		assert_true(out.u.async.has_result);
		assert_int_equal(out.u.async.cancel_result, KMIP_CANCELLATION_RESULT_UNAVAILABLE);
	}
}

/* Decode the payload contents c[n] of op (rsp) in ver: the result. */
static cf_err dec(uint32_t op, bool rsp, int ver, const uint8_t *c, size_t n,
		  struct kmip_payload *out)
{
	struct kmip_arena a = fresh_arena();
	return kmip_payload_decode(c, n, op, rsp, ver, NULL, &a, out);
}

static void test_refusals(void **state)
{
	struct kmip_payload out;
	uint8_t buf[256];
	ttlv_wr w;
	(void)state;

	/* Obtain Lease response without Lease Time, without Last Change Date, out of order */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "k", 1));
	W(ttlv_wr_datetime(&w, T(LAST_CHANGE_DATE), LCD));
	assert_int_not_equal(dec(KMIP_OPERATION_OBTAIN_LEASE, true, KMIP_V1_4, buf,
				 ttlv_wr_len(&w), &out), CF_OK);
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "k", 1));
	W(ttlv_wr_interval(&w, T(LEASE_TIME), 60));
	assert_int_equal(dec(KMIP_OPERATION_OBTAIN_LEASE, true, KMIP_V2_0, buf, ttlv_wr_len(&w),
			     &out), CF_E_MISSING);
	/* Obtain Lease response without Unique Identifier */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_interval(&w, T(LEASE_TIME), 60));
	W(ttlv_wr_datetime(&w, T(LAST_CHANGE_DATE), LCD));
	assert_int_equal(dec(KMIP_OPERATION_OBTAIN_LEASE, true, KMIP_V1_4, buf, ttlv_wr_len(&w),
			     &out), CF_E_MISSING);
	/* Obtain Lease request with a response field */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "k", 1));
	W(ttlv_wr_interval(&w, T(LEASE_TIME), 60));
	assert_int_not_equal(dec(KMIP_OPERATION_OBTAIN_LEASE, false, KMIP_V1_4, buf,
				 ttlv_wr_len(&w), &out), CF_OK);
	/* Lease Time of the wrong type */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "k", 1));
	W(ttlv_wr_int(&w, T(LEASE_TIME), 60));
	W(ttlv_wr_datetime(&w, T(LAST_CHANGE_DATE), LCD));
	assert_int_not_equal(dec(KMIP_OPERATION_OBTAIN_LEASE, true, KMIP_V1_4, buf,
				 ttlv_wr_len(&w), &out), CF_OK);

	/* Poll / Cancel request without the correlation value, with it twice, as a Text String */
	assert_int_equal(dec(KMIP_OPERATION_POLL, false, KMIP_V1_4, buf, 0, &out), CF_E_MISSING);
	assert_int_equal(dec(KMIP_OPERATION_CANCEL, false, KMIP_V2_0, buf, 0, &out), CF_E_MISSING);
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_bytes(&w, T(ASYNCHRONOUS_CORRELATION_VALUE), corr_value, sizeof corr_value));
	W(ttlv_wr_bytes(&w, T(ASYNCHRONOUS_CORRELATION_VALUE), corr_value, sizeof corr_value));
	assert_int_equal(dec(KMIP_OPERATION_POLL, false, KMIP_V1_4, buf, ttlv_wr_len(&w), &out),
			 CF_E_DUPLICATE);
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(ASYNCHRONOUS_CORRELATION_VALUE), "abc", 3));
	assert_int_not_equal(dec(KMIP_OPERATION_CANCEL, false, KMIP_V1_4, buf, ttlv_wr_len(&w),
				 &out), CF_OK);
	/* Cancel response: Cancellation Result required, valid */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_bytes(&w, T(ASYNCHRONOUS_CORRELATION_VALUE), corr_value, sizeof corr_value));
	assert_int_equal(dec(KMIP_OPERATION_CANCEL, true, KMIP_V1_4, buf, ttlv_wr_len(&w), &out),
			 CF_E_MISSING);
	W(ttlv_wr_enum(&w, T(CANCELLATION_RESULT), 99));
	assert_int_equal(dec(KMIP_OPERATION_CANCEL, true, KMIP_V1_4, buf, ttlv_wr_len(&w), &out),
			 CF_E_BAD_ENUM);
	/* a field no payload has */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "k", 1));
	W(ttlv_wr_int(&w, T(BATCH_COUNT), 1));
	assert_int_not_equal(dec(KMIP_OPERATION_ARCHIVE, false, KMIP_V1_4, buf, ttlv_wr_len(&w),
				 &out), CF_OK);

	/* encoding refuses the same incomplete payloads */
	struct kmip_payload pl = { .op = KMIP_OPERATION_OBTAIN_LEASE, .typed = true };
	pl.u.lease.uid = (struct kmip_text){ "k", 1 };
	pl.u.lease.has_lease = true;
	ttlv_wr_init(&w, buf, sizeof buf);
	assert_int_equal(kmip_payload_encode(&w, &pl, true, KMIP_V1_4), CF_E_MISSING);
	memset(&pl.u, 0, sizeof pl.u);
	pl.op = KMIP_OPERATION_CANCEL;
	pl.u.async.corr = (struct kmip_bytes){ corr_value, sizeof corr_value };
	ttlv_wr_init(&w, buf, sizeof buf);
	assert_int_equal(kmip_payload_encode(&w, &pl, true, KMIP_V1_4), CF_E_MISSING);
	pl.op = KMIP_OPERATION_POLL;
	pl.u.async.corr = (struct kmip_bytes){ 0 };
	ttlv_wr_init(&w, buf, sizeof buf);
	assert_int_equal(kmip_payload_encode(&w, &pl, false, KMIP_V2_0), CF_E_MISSING);
}

/* A Poll response holds the polled operation's payload (here an Archive's): untyped, walked,
 * re-encoded verbatim. */
static void test_poll_response_untyped(void **state)
{
	struct kmip_payload out;
	uint8_t buf[128], again[160];
	ttlv_wr w;
	(void)state;

	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "key-3", 5));
	size_t n = ttlv_wr_len(&w);
	W(dec(KMIP_OPERATION_POLL, true, KMIP_V1_4, buf, n, &out));
	assert_false(out.typed);
	assert_int_equal(out.raw.n, n);
	ttlv_wr_init(&w, again, sizeof again);
	W(kmip_payload_encode(&w, &out, true, KMIP_V1_4));
	assert_int_equal(ttlv_wr_len(&w), n + 8);
	assert_memory_equal(again + 8, buf, n);
	/* the walk still refuses what no payload may hold */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_raw(&w, 0x42ffff, TTLV_INTEGER, (const uint8_t *)"\0\0\0\1", 4));
	assert_int_not_equal(dec(KMIP_OPERATION_POLL, true, KMIP_V1_4, buf, ttlv_wr_len(&w), &out),
			     CF_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_typed),
		cmocka_unit_test(test_uid_ops_roundtrip),
		cmocka_unit_test(test_lease_roundtrip),
		cmocka_unit_test(test_usage_alloc),
		cmocka_unit_test(test_async_roundtrip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_poll_response_untyped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
