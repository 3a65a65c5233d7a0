/* Message layer: error codes and what a failed decode reports, limits checked before the
 * arena is used, version hygiene of encoded responses, the 1.x <-> 2.0 attribute forms,
 * managed objects, raw payload fallback, the attribute policy table and the cf_err ->
 * Result Reason mapping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kmip/kmip.h"

#define W(x) assert_int_equal((x), CF_OK)
#define T(name) KMIP_TAG_##name

static uint8_t arena_buf[256 * 1024];

static struct kmip_arena fresh_arena(void)
{
	struct kmip_arena a;
	kmip_arena_init(&a, arena_buf, sizeof arena_buf);
	return a;
}

/* ---- builders ------------------------------------------------------------------------- */

struct msgb {
	uint8_t buf[4096];
	ttlv_wr w;
	size_t mm, mh;
};

static void msg_begin(struct msgb *b, uint32_t tag)
{
	ttlv_wr_init(&b->w, b->buf, sizeof b->buf);
	W(ttlv_wr_begin(&b->w, tag, &b->mm));
}

static void pv(ttlv_wr *w, int32_t major, int32_t minor)
{
	size_t m;
	W(ttlv_wr_begin(w, T(PROTOCOL_VERSION), &m));
	W(ttlv_wr_int(w, T(PROTOCOL_VERSION_MAJOR), major));
	W(ttlv_wr_int(w, T(PROTOCOL_VERSION_MINOR), minor));
	W(ttlv_wr_end(w, m));
}

/* Request header with Protocol Version and Batch Count. */
static void req_hdr(struct msgb *b, int32_t major, int32_t minor, int32_t count)
{
	W(ttlv_wr_begin(&b->w, T(REQUEST_HEADER), &b->mh));
	pv(&b->w, major, minor);
	W(ttlv_wr_int(&b->w, T(BATCH_COUNT), count));
	W(ttlv_wr_end(&b->w, b->mh));
}

/* A batch item with op, optional 8-byte id, and a payload holding one UID (if uid). */
static void item_uid(struct msgb *b, uint32_t op, const char *id, const char *uid)
{
	size_t mi, mp;
	W(ttlv_wr_begin(&b->w, T(BATCH_ITEM), &mi));
	W(ttlv_wr_enum(&b->w, T(OPERATION), op));
	if (id != NULL)
		W(ttlv_wr_bytes(&b->w, T(UNIQUE_BATCH_ITEM_ID), (const uint8_t *)id, 8));
	W(ttlv_wr_begin(&b->w, T(REQUEST_PAYLOAD), &mp));
	if (uid != NULL)
		W(ttlv_wr_text(&b->w, T(UNIQUE_IDENTIFIER), uid, strlen(uid)));
	W(ttlv_wr_end(&b->w, mp));
	W(ttlv_wr_end(&b->w, mi));
}

static size_t msg_end(struct msgb *b)
{
	W(ttlv_wr_end(&b->w, b->mm));
	return ttlv_wr_len(&b->w);
}

static cf_err dec_req(const uint8_t *p, size_t n, const struct kmip_limits *lim,
		      struct kmip_arena *a, struct kmip_request *rq, struct kmip_decode_error *e)
{
	/* exact-size heap copy so ASan sees any over-read */
	uint8_t *c = malloc(n ? n : 1);
	assert_non_null(c);
	memcpy(c, p, n);
	cf_err rc = kmip_decode_request(c, n, lim, a, rq, e);
	if (rc == CF_OK) {
		/* views must stay valid: re-decode from the caller's buffer instead */
		struct kmip_arena a2 = fresh_arena();
		free(c);
		assert_int_equal(kmip_decode_request(p, n, lim, &a2, rq, e), CF_OK);
		*a = a2;
		return rc;
	}
	free(c);
	return rc;
}

/* Walk an encoding and check every tag is valid in `ver`; count occurrences of `tag`. */
static size_t walk_tags(const uint8_t *p, size_t n, int ver, uint32_t tag)
{
	ttlv_rd r;
	struct ttlv_item it;
	size_t count = 0;
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;

	ttlv_rd_init(&r, p, n, &lim);
	while (!ttlv_rd_done(&r)) {
		W(ttlv_rd_next(&r, &it));
		if (kmip_tag_lookup(it.tag) != NULL && !kmip_tag_valid(it.tag, ver))
			fail_msg("tag 0x%06X not valid in version %d", it.tag, ver);
		if (it.tag == tag)
			count++;
		if (it.type == TTLV_STRUCTURE && it.len > 0)
			count += walk_tags(it.val, it.len, ver, tag);
	}
	return count;
}

/* ---- result mapping ------------------------------------------------------------------- */

static void test_result_for_parse_errors(void **state)
{
	static const struct { cf_err rc; uint32_t reason; } map[] = {
		{ CF_E_TRUNCATED, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_TOO_LARGE, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_DEPTH, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_BAD_TYPE, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_BAD_LENGTH, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_BAD_PADDING, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_UNKNOWN_TAG, KMIP_RESULT_REASON_INVALID_FIELD },
		{ CF_E_UNEXPECTED_TAG, KMIP_RESULT_REASON_INVALID_FIELD },
		{ CF_E_TRAILING, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_BAD_UTF8, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD },
		{ CF_E_MISSING, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_DUPLICATE, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_BATCH_COUNT, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_TOO_MANY, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_BAD_VERSION, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_UNSUPPORTED_OP, KMIP_RESULT_REASON_OPERATION_NOT_SUPPORTED },
		{ CF_E_BAD_ENUM, KMIP_RESULT_REASON_INVALID_FIELD },
		{ CF_E_BAD_HEX, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_NO_SPACE, KMIP_RESULT_REASON_RESPONSE_TOO_LARGE },
		{ CF_E_BAD_MESSAGE, KMIP_RESULT_REASON_INVALID_MESSAGE },
		{ CF_E_BAD_ATTR, KMIP_RESULT_REASON_INVALID_FIELD },
		{ CF_E_BAD_OBJECT, KMIP_RESULT_REASON_INVALID_FIELD },
		{ CF_E_NOT_FOUND, KMIP_RESULT_REASON_ITEM_NOT_FOUND },
		{ CF_E_PERMISSION, KMIP_RESULT_REASON_PERMISSION_DENIED },
		{ CF_E_AUTH, KMIP_RESULT_REASON_AUTHENTICATION_NOT_SUCCESSFUL },
		{ CF_E_HSM_DEVICE, KMIP_RESULT_REASON_GENERAL_FAILURE },
		{ CF_E_INTERNAL, KMIP_RESULT_REASON_GENERAL_FAILURE },
	};
	uint32_t st, re;

	(void)state;
	kmip_result_for(CF_OK, &st, &re);
	assert_int_equal(st, KMIP_RESULT_STATUS_SUCCESS);
	assert_int_equal(re, 0);
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		kmip_result_for(map[i].rc, &st, &re);
		assert_int_equal(st, KMIP_RESULT_STATUS_OPERATION_FAILED);
		if (re != map[i].reason)
			fail_msg("%s -> %u, want %u", cf_err_name(map[i].rc), re, map[i].reason);
	}
	/* every parse error (-1..-31) maps to a failure with a reason */
	for (int e = -31; e <= -1; e++) {
		kmip_result_for((cf_err)e, &st, &re);
		assert_int_equal(st, KMIP_RESULT_STATUS_OPERATION_FAILED);
		assert_true(re != 0);
	}
	/* every reason is valid in the version it is sent in */
	for (int e = -128; e <= 0; e++) {
		for (int v = KMIP_V1_0; v <= KMIP_V2_0; v++) {
			kmip_result_for_version((cf_err)e, v, &st, &re);
			if (e != 0 && !kmip_enum_valid(T(RESULT_REASON), re, v))
				fail_msg("%d -> reason %u invalid in version %d", e, re, v);
		}
	}
	kmip_result_for_version(CF_E_UNKNOWN_TAG, KMIP_V2_0, &st, &re);
	assert_int_equal(re, KMIP_RESULT_REASON_UNKNOWN_TAG);
	kmip_result_for_version(CF_E_BAD_VERSION, KMIP_V2_0, &st, &re);
	assert_int_equal(re, KMIP_RESULT_REASON_UNSUPPORTED_PROTOCOL_VERSION);
	kmip_result_for_version(CF_E_UNKNOWN_TAG, KMIP_V1_4, &st, &re);
	assert_int_equal(re, KMIP_RESULT_REASON_INVALID_FIELD);
}

/* ---- decode errors: exact codes and what is reported ---------------------------------- */

static void test_error_reports_item_op_id_offset(void **state)
{
	struct msgb b;
	struct kmip_arena a = fresh_arena();
	struct kmip_request rq;
	struct kmip_decode_error e;
	size_t mi, mp, unk_off;

	(void)state;
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 1, 2, 2);
	item_uid(&b, KMIP_OPERATION_ACTIVATE, "ID000001", "k1");
	W(ttlv_wr_begin(&b.w, T(BATCH_ITEM), &mi));
	W(ttlv_wr_enum(&b.w, T(OPERATION), KMIP_OPERATION_DESTROY));
	W(ttlv_wr_bytes(&b.w, T(UNIQUE_BATCH_ITEM_ID), (const uint8_t *)"ID000002", 8));
	W(ttlv_wr_begin(&b.w, T(REQUEST_PAYLOAD), &mp));
	W(ttlv_wr_text(&b.w, T(UNIQUE_IDENTIFIER), "k2", 2));
	unk_off = ttlv_wr_len(&b.w);
	W(ttlv_wr_int(&b.w, 0x42FFFFu, 7)); /* unknown tag inside a typed payload */
	W(ttlv_wr_end(&b.w, mp));
	W(ttlv_wr_end(&b.w, mi));
	size_t n = msg_end(&b);

	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_UNKNOWN_TAG);
	assert_int_equal(rq.n_items, 0); /* nothing half-filled */
	assert_int_equal(e.rc, CF_E_UNKNOWN_TAG);
	assert_true(e.has_pv);
	assert_int_equal(e.pv.major, 1);
	assert_int_equal(e.pv.minor, 2);
	assert_int_equal(e.version, KMIP_V1_2);
	assert_int_equal(e.item, 1);
	assert_true(e.has_op);
	assert_int_equal(e.op, KMIP_OPERATION_DESTROY);
	assert_int_equal(e.item_id.n, 8);
	assert_memory_equal(e.item_id.p, "ID000002", 8);
	assert_true(e.has_pos);
	assert_int_equal(e.offset, unk_off);
	assert_int_equal(e.tag, 0x42FFFFu);
	assert_int_equal(e.status, KMIP_RESULT_STATUS_OPERATION_FAILED);
	assert_int_equal(e.reason, KMIP_RESULT_REASON_INVALID_FIELD);
}

static void test_error_codes(void **state)
{
	struct msgb b;
	struct kmip_arena a;
	struct kmip_request rq;
	struct kmip_decode_error e;
	size_t n, mh, mi, mp;

	(void)state;
	/* valid baseline */
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 1, 1, 1);
	item_uid(&b, KMIP_OPERATION_ACTIVATE, NULL, "1");
	n = msg_end(&b);
	a = fresh_arena();
	W(dec_req(b.buf, n, NULL, &a, &rq, &e));
	assert_int_equal(rq.items[0].op, KMIP_OPERATION_ACTIVATE);
	assert_int_equal(e.rc, CF_OK);

	/* trailing bytes after the message */
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n + 8, NULL, &a, &rq, &e), CF_E_TRAILING);

	/* Batch Count 2 with one item */
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 1, 1, 2);
	item_uid(&b, KMIP_OPERATION_ACTIVATE, "IDIDIDID", "1");
	n = msg_end(&b);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_BATCH_COUNT);

	/* duplicate Batch Count; header fields in another order are fine */
	msg_begin(&b, T(REQUEST_MESSAGE));
	W(ttlv_wr_begin(&b.w, T(REQUEST_HEADER), &mh));
	W(ttlv_wr_int(&b.w, T(BATCH_COUNT), 1));
	pv(&b.w, 1, 1);
	W(ttlv_wr_end(&b.w, mh));
	item_uid(&b, KMIP_OPERATION_ACTIVATE, NULL, "1");
	n = msg_end(&b);
	a = fresh_arena();
	W(dec_req(b.buf, n, NULL, &a, &rq, &e));
	msg_begin(&b, T(REQUEST_MESSAGE));
	W(ttlv_wr_begin(&b.w, T(REQUEST_HEADER), &mh));
	pv(&b.w, 1, 1);
	W(ttlv_wr_int(&b.w, T(BATCH_COUNT), 1));
	W(ttlv_wr_int(&b.w, T(BATCH_COUNT), 1));
	W(ttlv_wr_end(&b.w, mh));
	item_uid(&b, KMIP_OPERATION_ACTIVATE, NULL, "1");
	n = msg_end(&b);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_DUPLICATE);
	assert_int_equal(e.reason, KMIP_RESULT_REASON_INVALID_MESSAGE);

	/* Batch Count with the wrong type */
	msg_begin(&b, T(REQUEST_MESSAGE));
	W(ttlv_wr_begin(&b.w, T(REQUEST_HEADER), &mh));
	pv(&b.w, 1, 1);
	W(ttlv_wr_enum(&b.w, T(BATCH_COUNT), 1));
	W(ttlv_wr_end(&b.w, mh));
	item_uid(&b, KMIP_OPERATION_ACTIVATE, NULL, "1");
	n = msg_end(&b);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_BAD_TYPE);

	/* a 1.4 header field in a 1.1 message */
	msg_begin(&b, T(REQUEST_MESSAGE));
	W(ttlv_wr_begin(&b.w, T(REQUEST_HEADER), &mh));
	pv(&b.w, 1, 1);
	W(ttlv_wr_text(&b.w, T(CLIENT_CORRELATION_VALUE), "c", 1));
	W(ttlv_wr_int(&b.w, T(BATCH_COUNT), 1));
	W(ttlv_wr_end(&b.w, mh));
	item_uid(&b, KMIP_OPERATION_ACTIVATE, NULL, "1");
	n = msg_end(&b);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_UNEXPECTED_TAG);

	/* unknown protocol version: reported so the server answers in its own */
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 3, 0, 1);
	item_uid(&b, KMIP_OPERATION_ACTIVATE, NULL, "1");
	n = msg_end(&b);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_BAD_VERSION);
	assert_true(e.has_pv);
	assert_int_equal(e.pv.major, 3);
	assert_int_equal(e.version, -1);

	/* unsupported operation (unknown value, and a 2.0-only op in 1.1): op and id known */
	uint32_t ops[] = { 0x99u, KMIP_OPERATION_LOG };
	for (size_t i = 0; i < 2; i++) {
		msg_begin(&b, T(REQUEST_MESSAGE));
		req_hdr(&b, 1, 1, 1);
		item_uid(&b, ops[i], "QLKC0100", "1");
		n = msg_end(&b);
		a = fresh_arena();
		assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_UNSUPPORTED_OP);
		assert_true(e.has_op);
		assert_int_equal(e.op, ops[i]);
		assert_int_equal(e.item, 0);
		assert_int_equal(e.item_id.n, 8);
		assert_int_equal(e.reason, KMIP_RESULT_REASON_OPERATION_NOT_SUPPORTED);
	}

	/* missing Request Payload */
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 1, 1, 1);
	W(ttlv_wr_begin(&b.w, T(BATCH_ITEM), &mi));
	W(ttlv_wr_enum(&b.w, T(OPERATION), KMIP_OPERATION_ACTIVATE));
	W(ttlv_wr_end(&b.w, mi));
	n = msg_end(&b);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_MISSING);

	/* Unique Batch Item ID required when Batch Count > 1 */
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 1, 1, 2);
	item_uid(&b, KMIP_OPERATION_ACTIVATE, "AAAAAAAA", "1");
	item_uid(&b, KMIP_OPERATION_ACTIVATE, NULL, "1");
	n = msg_end(&b);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_MISSING);
	assert_int_equal(e.item, 1);

	/* Create with an Object Type value that does not exist */
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 1, 1, 1);
	W(ttlv_wr_begin(&b.w, T(BATCH_ITEM), &mi));
	W(ttlv_wr_enum(&b.w, T(OPERATION), KMIP_OPERATION_CREATE));
	W(ttlv_wr_begin(&b.w, T(REQUEST_PAYLOAD), &mp));
	W(ttlv_wr_enum(&b.w, T(OBJECT_TYPE), 0x99));
	W(ttlv_wr_end(&b.w, mp));
	W(ttlv_wr_end(&b.w, mi));
	n = msg_end(&b);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_BAD_ENUM);
	assert_int_equal(e.op, KMIP_OPERATION_CREATE);

	/* Key Wrap Type (1.4) in a 1.1 Get; out-of-order fields */
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 1, 1, 1);
	W(ttlv_wr_begin(&b.w, T(BATCH_ITEM), &mi));
	W(ttlv_wr_enum(&b.w, T(OPERATION), KMIP_OPERATION_GET));
	W(ttlv_wr_begin(&b.w, T(REQUEST_PAYLOAD), &mp));
	W(ttlv_wr_text(&b.w, T(UNIQUE_IDENTIFIER), "1", 1));
	W(ttlv_wr_enum(&b.w, T(KEY_WRAP_TYPE), 1));
	W(ttlv_wr_end(&b.w, mp));
	W(ttlv_wr_end(&b.w, mi));
	n = msg_end(&b);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_UNEXPECTED_TAG);
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 1, 1, 1);
	W(ttlv_wr_begin(&b.w, T(BATCH_ITEM), &mi));
	W(ttlv_wr_enum(&b.w, T(OPERATION), KMIP_OPERATION_GET));
	W(ttlv_wr_begin(&b.w, T(REQUEST_PAYLOAD), &mp));
	W(ttlv_wr_text(&b.w, T(UNIQUE_IDENTIFIER), "1", 1));
	W(ttlv_wr_text(&b.w, T(UNIQUE_IDENTIFIER), "2", 1));
	W(ttlv_wr_end(&b.w, mp));
	W(ttlv_wr_end(&b.w, mi));
	n = msg_end(&b);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_DUPLICATE);
}

/* 1.x Add Attribute with the given name and a Text String value. */
static size_t add_attr_msg(struct msgb *b, const char *name, bool struct_value)
{
	size_t mi, mp, ma, mv;
	msg_begin(b, T(REQUEST_MESSAGE));
	req_hdr(b, 1, 1, 1);
	W(ttlv_wr_begin(&b->w, T(BATCH_ITEM), &mi));
	W(ttlv_wr_enum(&b->w, T(OPERATION), KMIP_OPERATION_ADD_ATTRIBUTE));
	W(ttlv_wr_begin(&b->w, T(REQUEST_PAYLOAD), &mp));
	W(ttlv_wr_text(&b->w, T(UNIQUE_IDENTIFIER), "1", 1));
	W(ttlv_wr_begin(&b->w, T(ATTRIBUTE), &ma));
	W(ttlv_wr_text(&b->w, T(ATTRIBUTE_NAME), name, strlen(name)));
	if (struct_value) {
		W(ttlv_wr_begin(&b->w, T(ATTRIBUTE_VALUE), &mv));
		W(ttlv_wr_text(&b->w, T(NAME_VALUE), "n", 1));
		W(ttlv_wr_enum(&b->w, T(NAME_TYPE), 1));
		W(ttlv_wr_end(&b->w, mv));
	} else {
		W(ttlv_wr_text(&b->w, T(ATTRIBUTE_VALUE), "v", 1));
	}
	W(ttlv_wr_end(&b->w, ma));
	W(ttlv_wr_end(&b->w, mp));
	W(ttlv_wr_end(&b->w, mi));
	return msg_end(b);
}

static void test_attr_names_and_types(void **state)
{
	struct msgb b;
	struct kmip_arena a;
	struct kmip_request rq;
	struct kmip_decode_error e;
	size_t n;

	(void)state;
	n = add_attr_msg(&b, "Bogus Attribute", false);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_BAD_ATTR);
	/* custom attributes take any type, including Structures */
	n = add_attr_msg(&b, "x-Anything", true);
	a = fresh_arena();
	W(dec_req(b.buf, n, NULL, &a, &rq, &e));
	assert_int_equal(rq.items[0].pl.u.attr_req.attr.type, TTLV_STRUCTURE);
	n = add_attr_msg(&b, "y-Server", false);
	a = fresh_arena();
	W(dec_req(b.buf, n, NULL, &a, &rq, &e));
	assert_int_equal(kmip_attr_client_may(&rq.items[0].pl.u.attr_req.attr,
					      KMIP_OPERATION_ADD_ATTRIBUTE, KMIP_V1_1),
			 CF_E_PERMISSION);
	/* Name is a Structure: a Text String value is the wrong type */
	n = add_attr_msg(&b, "Name", false);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_BAD_TYPE);
	n = add_attr_msg(&b, "Name", true);
	a = fresh_arena();
	W(dec_req(b.buf, n, NULL, &a, &rq, &e));
	assert_int_equal(rq.items[0].pl.u.attr_req.attr.tag, T(NAME));
	W(kmip_attr_client_may(&rq.items[0].pl.u.attr_req.attr, KMIP_OPERATION_ADD_ATTRIBUTE,
			       KMIP_V1_1));
}

/* Counts are checked against the limits before the arena is asked for memory. */
static void test_limits_before_alloc(void **state)
{
	struct msgb b;
	struct kmip_request rq;
	struct kmip_decode_error e;
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	struct kmip_arena empty;
	uint8_t tiny[16];

	(void)state;
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 1, 1, 3);
	item_uid(&b, KMIP_OPERATION_ACTIVATE, "AAAAAAA1", "1");
	item_uid(&b, KMIP_OPERATION_ACTIVATE, "AAAAAAA2", "1");
	item_uid(&b, KMIP_OPERATION_ACTIVATE, "AAAAAAA3", "1");
	size_t n = msg_end(&b);

	lim.max_batch_items = 2;
	kmip_arena_init(&empty, NULL, 0);
	assert_int_equal(kmip_decode_request(b.buf, n, &lim, &empty, &rq, &e), CF_E_TOO_MANY);
	lim.max_batch_items = 64;
	assert_int_equal(kmip_decode_request(b.buf, n, &lim, &empty, &rq, &e), CF_E_NOMEM);
	kmip_arena_init(&empty, tiny, sizeof tiny);
	assert_int_equal(kmip_decode_request(b.buf, n, &lim, &empty, &rq, &e), CF_E_NOMEM);
	assert_int_equal(e.reason, KMIP_RESULT_REASON_GENERAL_FAILURE);

	/* message over the size limit, depth limit */
	lim.max_message = n - 8;
	struct kmip_arena a = fresh_arena();
	assert_int_equal(kmip_decode_request(b.buf, n, &lim, &a, &rq, &e), CF_E_TOO_LARGE);
	lim = KMIP_LIMITS_DEFAULT;
	lim.max_depth = 2;
	assert_int_equal(kmip_decode_request(b.buf, n, &lim, &a, &rq, &e), CF_E_DEPTH);

	/* attributes per list */
	size_t mi, mp, mt, ma;
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 1, 1, 1);
	W(ttlv_wr_begin(&b.w, T(BATCH_ITEM), &mi));
	W(ttlv_wr_enum(&b.w, T(OPERATION), KMIP_OPERATION_CREATE));
	W(ttlv_wr_begin(&b.w, T(REQUEST_PAYLOAD), &mp));
	W(ttlv_wr_enum(&b.w, T(OBJECT_TYPE), KMIP_OBJECT_TYPE_SYMMETRIC_KEY));
	W(ttlv_wr_begin(&b.w, T(TEMPLATE_ATTRIBUTE), &mt));
	for (int i = 0; i < 3; i++) {
		W(ttlv_wr_begin(&b.w, T(ATTRIBUTE), &ma));
		W(ttlv_wr_text(&b.w, T(ATTRIBUTE_NAME), "x-a", 3));
		W(ttlv_wr_int(&b.w, T(ATTRIBUTE_VALUE), i));
		W(ttlv_wr_end(&b.w, ma));
	}
	W(ttlv_wr_end(&b.w, mt));
	W(ttlv_wr_end(&b.w, mp));
	W(ttlv_wr_end(&b.w, mi));
	n = msg_end(&b);
	lim = KMIP_LIMITS_DEFAULT;
	lim.max_attributes = 2;
	a = fresh_arena();
	assert_int_equal(kmip_decode_request(b.buf, n, &lim, &a, &rq, &e), CF_E_TOO_MANY);
	lim.max_attributes = 3;
	a = fresh_arena();
	W(kmip_decode_request(b.buf, n, &lim, &a, &rq, &e));
	assert_int_equal(rq.items[0].pl.u.create_req.t.a.n, 3);
}

/* ---- version hygiene ------------------------------------------------------------------ */

static void test_response_1_1_has_no_newer_fields(void **state)
{
	static uint8_t out[4096];
	struct kmip_text uids[2] = { { "a", 1 }, { "b", 1 } };
	uint8_t nonce_buf[64];
	ttlv_wr nw, w;
	struct kmip_rsp_item items[2];
	struct kmip_response r;
	struct kmip_arena a = fresh_arena();
	struct kmip_response back;
	struct kmip_decode_error e;

	(void)state;
	ttlv_wr_init(&nw, nonce_buf, sizeof nonce_buf);
	W(ttlv_wr_bytes(&nw, T(NONCE_ID), (const uint8_t *)"id", 2));
	W(ttlv_wr_bytes(&nw, T(NONCE_VALUE), (const uint8_t *)"val", 3));

	memset(&r, 0, sizeof r);
	memset(items, 0, sizeof items);
	r.h.pv = (struct kmip_pv){ 1, 1 };
	r.h.time_stamp = 1743675720;
	r.h.nonce = (struct kmip_bytes){ nonce_buf, ttlv_wr_len(&nw) };
	r.h.attest_types[0] = KMIP_ATTESTATION_TYPE_TPM_QUOTE;
	r.h.n_attest_types = 1;
	r.h.client_corr = (struct kmip_text){ "corr", 4 };
	r.items = items;
	r.n_items = 2;
	items[0].has_op = true;
	items[0].op = KMIP_OPERATION_LOCATE;
	items[0].id = (struct kmip_bytes){ (const uint8_t *)"ID", 2 };
	items[0].status = KMIP_RESULT_STATUS_SUCCESS;
	items[0].has_payload = true;
	items[0].pl.typed = true;
	items[0].pl.u.locate_rsp.has_located = true;
	items[0].pl.u.locate_rsp.located_items = 2;
	items[0].pl.u.locate_rsp.uids = uids;
	items[0].pl.u.locate_rsp.n = 2;
	items[1].has_op = true;
	items[1].op = KMIP_OPERATION_GET;
	items[1].status = KMIP_RESULT_STATUS_OPERATION_FAILED;
	items[1].has_reason = true;
	items[1].reason = KMIP_RESULT_REASON_ITEM_NOT_FOUND;
	items[1].message = (struct kmip_text){ "no such key", 11 };

	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_encode_response(&w, &r));
	size_t n = ttlv_wr_len(&w);
	assert_int_equal(walk_tags(out, n, KMIP_V1_1, T(LOCATED_ITEMS)), 0);
	assert_int_equal(walk_tags(out, n, KMIP_V1_1, T(NONCE)), 0);
	assert_int_equal(walk_tags(out, n, KMIP_V1_1, T(ATTESTATION_TYPE)), 0);
	assert_int_equal(walk_tags(out, n, KMIP_V1_1, T(CLIENT_CORRELATION_VALUE)), 0);
	W(kmip_decode_response(out, n, NULL, &a, &back, &e));
	assert_int_equal(back.h.pv.major, 1);
	assert_int_equal(back.h.pv.minor, 1);
	assert_false(back.items[0].pl.u.locate_rsp.has_located);
	assert_int_equal(back.items[0].pl.u.locate_rsp.n, 2);
	assert_int_equal(back.items[1].reason, KMIP_RESULT_REASON_ITEM_NOT_FOUND);
	assert_false(back.items[1].has_payload);

	/* the same response in 1.4 carries them */
	r.h.pv = (struct kmip_pv){ 1, 4 };
	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_encode_response(&w, &r));
	n = ttlv_wr_len(&w);
	assert_int_equal(walk_tags(out, n, KMIP_V1_4, T(LOCATED_ITEMS)), 1);
	assert_int_equal(walk_tags(out, n, KMIP_V1_4, T(NONCE)), 1);
	assert_int_equal(walk_tags(out, n, KMIP_V1_4, T(CLIENT_CORRELATION_VALUE)), 1);
	a = fresh_arena();
	W(kmip_decode_response(out, n, NULL, &a, &back, &e));
	assert_true(back.items[0].pl.u.locate_rsp.has_located);
	assert_int_equal(back.h.nonce.n, r.h.nonce.n);

	/* a 2.0-only Result Reason cannot go into a 1.1 response */
	r.h.pv = (struct kmip_pv){ 1, 1 };
	items[1].reason = KMIP_RESULT_REASON_OBJECT_NOT_FOUND;
	ttlv_wr_init(&w, out, sizeof out);
	assert_int_equal(kmip_encode_response(&w, &r), CF_E_BAD_ENUM);
}

/* Offset Items (1.3+) in a 1.2 Locate request is decoded (PyKMIP's default client sends it,
 * docs/codec.md "Leniencies"); the encoder still leaves it out below 1.3. */
static void test_locate_offset_items_1_2(void **state)
{
	static uint8_t out[1024], out2[1024];
	struct kmip_req_item it;
	struct kmip_request rq, back;
	struct kmip_arena a = fresh_arena();
	struct kmip_decode_error e;
	ttlv_wr w;
	size_t n, patched = 0;

	(void)state;
	memset(&it, 0, sizeof it);
	it.op = KMIP_OPERATION_LOCATE;
	it.pl.typed = true;
	it.pl.u.locate_req.has_max = true;
	it.pl.u.locate_req.max_items = 3;
	it.pl.u.locate_req.has_offset = true;
	it.pl.u.locate_req.offset_items = 2;
	memset(&rq, 0, sizeof rq);
	rq.h.pv = (struct kmip_pv){ 1, 3 };
	rq.items = &it;
	rq.n_items = 1;
	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_encode_request(&w, &rq));
	n = ttlv_wr_len(&w);
	assert_int_equal(walk_tags(out, n, KMIP_V1_3, T(OFFSET_ITEMS)), 1);
	/* the same bytes declared 1.2: Protocol Version Minor 3 -> 2 */
	for (size_t i = 0; i + 12 <= n; i += 8) {
		if (out[i] == 0x42 && out[i + 1] == 0x00 && out[i + 2] == 0x6B && out[i + 3] == 2) {
			assert_int_equal(out[i + 11], 3);
			out[i + 11] = 2;
			patched++;
		}
	}
	assert_int_equal(patched, 1);
	W(kmip_decode_request(out, n, NULL, &a, &back, &e));
	assert_int_equal(back.h.pv.minor, 2);
	assert_true(back.items[0].pl.u.locate_req.has_offset);
	assert_int_equal(back.items[0].pl.u.locate_req.offset_items, 2);
	assert_int_equal(back.items[0].pl.u.locate_req.max_items, 3);

	/* re-encoded in 1.2: strict, no Offset Items */
	ttlv_wr_init(&w, out2, sizeof out2);
	W(kmip_encode_request(&w, &back));
	assert_int_equal(walk_tags(out2, ttlv_wr_len(&w), KMIP_V1_2, T(OFFSET_ITEMS)), 0);
	assert_int_equal(walk_tags(out2, ttlv_wr_len(&w), KMIP_V1_2, T(MAXIMUM_ITEMS)), 1);
}

/* ---- attributes in both forms --------------------------------------------------------- */

static void test_attributes_2_0_form(void **state)
{
	static uint8_t out[4096], out2[4096], out3[4096];
	struct kmip_attr attrs[3];
	uint8_t b0[8], b1[8];
	struct kmip_req_item it;
	struct kmip_request rq, back;
	struct kmip_arena a = fresh_arena();
	struct kmip_decode_error e;
	ttlv_wr w;

	(void)state;
	kmip_attr_set_enum(&attrs[0], T(CRYPTOGRAPHIC_ALGORITHM), KMIP_CRYPTOGRAPHIC_ALGORITHM_AES, b0);
	kmip_attr_set_int(&attrs[1], T(CRYPTOGRAPHIC_LENGTH), 256, b1);
	kmip_attr_set_text(&attrs[2], 0, "bob", 3);
	attrs[2].name = (struct kmip_text){ "x-Owner", 7 };

	memset(&it, 0, sizeof it);
	it.op = KMIP_OPERATION_CREATE;
	it.pl.typed = true;
	it.pl.u.create_req.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
	it.pl.u.create_req.t = (struct kmip_tmpl){ .present = true, .a = { attrs, 3 } };
	memset(&rq, 0, sizeof rq);
	rq.h.pv = (struct kmip_pv){ 2, 0 };
	rq.items = &it;
	rq.n_items = 1;

	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_encode_request(&w, &rq));
	size_t n = ttlv_wr_len(&w);
	assert_int_equal(walk_tags(out, n, KMIP_V2_0, T(ATTRIBUTES)), 1);
	assert_int_equal(walk_tags(out, n, KMIP_V2_0, T(TEMPLATE_ATTRIBUTE)), 0);
	assert_int_equal(walk_tags(out, n, KMIP_V2_0, T(CRYPTOGRAPHIC_ALGORITHM)), 1);
	assert_int_equal(walk_tags(out, n, KMIP_V2_0, T(VENDOR_IDENTIFICATION)), 1);

	W(kmip_decode_request(out, n, NULL, &a, &back, &e));
	const struct kmip_tmpl *t = &back.items[0].pl.u.create_req.t;
	assert_int_equal(t->a.n, 3);
	assert_int_equal(t->a.v[0].tag, T(CRYPTOGRAPHIC_ALGORITHM));
	assert_int_equal(t->a.v[1].tag, T(CRYPTOGRAPHIC_LENGTH));
	assert_int_equal(t->a.v[2].tag, 0);
	assert_int_equal(t->a.v[2].vendor.n, 1);
	assert_memory_equal(t->a.v[2].vendor.p, "x", 1);
	assert_int_equal(t->a.v[2].name.n, 5);
	assert_memory_equal(t->a.v[2].name.p, "Owner", 5);

	/* the 2.0 decode re-encoded in 1.1 gives the 1.x form with names */
	back.h.pv = (struct kmip_pv){ 1, 1 };
	ttlv_wr_init(&w, out2, sizeof out2);
	W(kmip_encode_request(&w, &back));
	size_t n2 = ttlv_wr_len(&w);
	assert_int_equal(walk_tags(out2, n2, KMIP_V1_1, T(TEMPLATE_ATTRIBUTE)), 1);
	assert_int_equal(walk_tags(out2, n2, KMIP_V1_1, T(ATTRIBUTE_NAME)), 3);
	struct kmip_arena a2 = fresh_arena();
	struct kmip_request v1;
	uint8_t *heap = malloc(n2);
	assert_non_null(heap);
	memcpy(heap, out2, n2);
	a2.off = 128 * 1024; /* second half of the arena */
	W(kmip_decode_request(heap, n2, NULL, &a2, &v1, &e));
	const struct kmip_tmpl *t1 = &v1.items[0].pl.u.create_req.t;
	assert_int_equal(t1->a.v[0].tag, T(CRYPTOGRAPHIC_ALGORITHM));
	assert_int_equal(t1->a.v[0].name.n, strlen("Cryptographic Algorithm"));
	assert_int_equal(t1->a.v[2].name.n, 7);
	assert_memory_equal(t1->a.v[2].name.p, "x-Owner", 7);

	/* and back to 2.0: identical to the first encoding */
	v1.h.pv = (struct kmip_pv){ 2, 0 };
	ttlv_wr_init(&w, out3, sizeof out3);
	W(kmip_encode_request(&w, &v1));
	assert_int_equal(ttlv_wr_len(&w), n);
	assert_memory_equal(out3, out, n);
	free(heap);

	/* a vendor attribute other than x / y has no 1.x form */
	attrs[2].name = (struct kmip_text){ "Owner", 5 };
	attrs[2].vendor = (struct kmip_text){ "acme", 4 };
	rq.h.pv = (struct kmip_pv){ 1, 4 };
	ttlv_wr_init(&w, out, sizeof out);
	assert_int_equal(kmip_encode_request(&w, &rq), CF_E_BAD_ATTR);
	rq.h.pv = (struct kmip_pv){ 2, 0 };
	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_encode_request(&w, &rq));
}

/* 2.0 Set Attribute and Adjust Attribute round-trip; an Attribute Reference structure with an
 * empty Vendor Identification decodes as the standard attribute it names; Set in 1.4 is not a
 * typed payload. */
static void test_set_adjust_2_0(void **state)
{
	static uint8_t out[2048];
	struct kmip_req_item it[2];
	struct kmip_request rq, back;
	struct kmip_arena a = fresh_arena();
	struct kmip_decode_error e;
	uint8_t b0[8], adj[4] = { 0, 0, 0, 7 };
	ttlv_wr w;

	(void)state;
	memset(it, 0, sizeof it);
	it[0].op = it[0].pl.op = KMIP_OPERATION_SET_ATTRIBUTE;
	it[0].pl.typed = true;
	it[0].pl.u.attr_req.uid = (struct kmip_text){ "u1", 2 };
	it[0].pl.u.attr_req.has_new = true;
	kmip_attr_set_int(&it[0].pl.u.attr_req.attr, T(CRYPTOGRAPHIC_USAGE_MASK), 12, b0);
	it[0].id = (struct kmip_bytes){ (const uint8_t *)"1", 1 };
	it[1].id = (struct kmip_bytes){ (const uint8_t *)"2", 1 };
	it[1].op = it[1].pl.op = KMIP_OPERATION_ADJUST_ATTRIBUTE;
	it[1].pl.typed = true;
	struct kmip_req_attr_change *q = &it[1].pl.u.attr_req;
	q->has_ref = true;
	q->ref = (struct kmip_attr_ref){ .vendor = { "x", 1 }, .name = { "Counter", 7 } };
	q->adjust_type = KMIP_ADJUSTMENT_TYPE_DECREMENT;
	q->has_adjust_value = true;
	q->adjust_vtype = TTLV_INTEGER;
	q->adjust_value = (struct kmip_bytes){ adj, 4 };
	memset(&rq, 0, sizeof rq);
	rq.h.pv = (struct kmip_pv){ 2, 0 };
	rq.items = it;
	rq.n_items = 2;
	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_encode_request(&w, &rq));
	size_t n = ttlv_wr_len(&w);
	assert_int_equal(walk_tags(out, n, KMIP_V2_0, T(NEW_ATTRIBUTE)), 1);
	assert_int_equal(walk_tags(out, n, KMIP_V2_0, T(ADJUSTMENT_VALUE)), 1);
	cf_err drc = kmip_decode_request(out, n, NULL, &a, &back, &e);
	if (drc != CF_OK)
		fail_msg("decode: %d item %ld tag 0x%06x", drc, e.item, e.tag);
	assert_true(back.items[0].pl.typed && back.items[1].pl.typed);
	const struct kmip_req_attr_change *s0 = &back.items[0].pl.u.attr_req;
	assert_true(s0->has_new);
	assert_int_equal(s0->attr.tag, T(CRYPTOGRAPHIC_USAGE_MASK));
	const struct kmip_req_attr_change *s1 = &back.items[1].pl.u.attr_req;
	assert_true(s1->has_ref && s1->has_adjust_value);
	assert_int_equal(s1->ref.tag, 0);
	assert_int_equal(s1->ref.vendor.n, 1);
	assert_int_equal(s1->adjust_type, KMIP_ADJUSTMENT_TYPE_DECREMENT);
	assert_int_equal(s1->adjust_vtype, TTLV_INTEGER);
	assert_int_equal(s1->adjust_value.n, 4);
	assert_memory_equal(s1->adjust_value.p, adj, 4);

	/* Attribute Reference { Vendor Identification "", Attribute Name "State" } -> the tag */
	q->ref = (struct kmip_attr_ref){ .vendor = { "", 0 }, .name = { "State", 5 } };
	q->has_adjust_value = false;
	rq.items = &it[1];
	rq.n_items = 1;
	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_encode_request(&w, &rq));
	n = ttlv_wr_len(&w);
	a = fresh_arena();
	W(kmip_decode_request(out, n, NULL, &a, &back, &e));
	assert_int_equal(back.items[0].pl.u.attr_req.ref.tag, T(STATE));
	assert_null(back.items[0].pl.u.attr_req.ref.vendor.p);
	assert_false(back.items[0].pl.u.attr_req.has_adjust_value);
	/* an unknown standard name is refused */
	q->ref.name = (struct kmip_text){ "No Such Attribute", 17 };
	ttlv_wr_init(&w, out, sizeof out);
	W(kmip_encode_request(&w, &rq));
	n = ttlv_wr_len(&w);
	a = fresh_arena();
	assert_int_not_equal(kmip_decode_request(out, n, NULL, &a, &back, &e), CF_OK);

	/* Set Attribute is 2.0: a 1.4 encoder refuses it */
	rq.h.pv = (struct kmip_pv){ 1, 4 };
	rq.items = it;
	ttlv_wr_init(&w, out, sizeof out);
	assert_int_not_equal(kmip_encode_request(&w, &rq), CF_OK);
}

/* ---- objects, authentication, raw payloads -------------------------------------------- */

static void roundtrip_req(struct kmip_request *rq, uint8_t *out, size_t cap, size_t *n)
{
	ttlv_wr w;
	ttlv_wr_init(&w, out, cap);
	W(kmip_encode_request(&w, rq));
	*n = ttlv_wr_len(&w);
}

static void test_register_objects(void **state)
{
	static uint8_t out[4096], again[4096];
	static const uint8_t key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	static const uint8_t prime[8] = { 0, 0, 0, 0, 0, 1, 0, 1 };
	struct kmip_req_item items[4];
	struct kmip_request rq, back;
	struct kmip_decode_error e;
	struct kmip_arena a;
	size_t n, n2;

	(void)state;
	memset(items, 0, sizeof items);
	for (int i = 0; i < 4; i++) {
		items[i].op = KMIP_OPERATION_REGISTER;
		items[i].pl.typed = true;
		items[i].pl.u.register_req.t.present = true;
		items[i].id = (struct kmip_bytes){ (const uint8_t *)"0123456789", (size_t)i + 1 };
	}
	struct kmip_req_register *r0 = &items[0].pl.u.register_req;
	r0->object_type = r0->obj.type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
	r0->obj.kb = (struct kmip_key_block){
		.format = KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY, .has_value = true,
		.material_type = TTLV_STRUCTURE, .material = { key, sizeof key },
		.has_alg = true, .alg = KMIP_CRYPTOGRAPHIC_ALGORITHM_AES, .has_len = true, .len = 128 };
	struct kmip_req_register *r1 = &items[1].pl.u.register_req;
	r1->object_type = r1->obj.type = KMIP_OBJECT_TYPE_SECRET_DATA;
	r1->obj.secret_type = KMIP_SECRET_DATA_TYPE_PASSWORD;
	r1->obj.kb = (struct kmip_key_block){ .format = KMIP_KEY_FORMAT_TYPE_OPAQUE,
		.has_value = true, .material_type = TTLV_BYTE_STRING, .material = { key, 8 } };
	struct kmip_req_register *r2 = &items[2].pl.u.register_req;
	r2->object_type = r2->obj.type = KMIP_OBJECT_TYPE_OPAQUE_OBJECT;
	r2->obj.opaque_type = 0x80000001u; /* extension value */
	r2->obj.opaque = (struct kmip_bytes){ key, 5 };
	struct kmip_req_register *r3 = &items[3].pl.u.register_req;
	r3->object_type = r3->obj.type = KMIP_OBJECT_TYPE_SPLIT_KEY;
	r3->obj.split = (struct kmip_split){ .parts = 3, .part_id = 2, .threshold = 2,
		.method = KMIP_SPLIT_KEY_METHOD_POLYNOMIAL_SHARING_PRIME_FIELD,
		.prime = { prime, sizeof prime } };
	r3->obj.kb = (struct kmip_key_block){ .format = KMIP_KEY_FORMAT_TYPE_RAW, .has_value = true,
		.material_type = TTLV_BYTE_STRING, .material = { key, 16 } };

	memset(&rq, 0, sizeof rq);
	rq.h.pv = (struct kmip_pv){ 1, 4 };
	rq.items = items;
	rq.n_items = 4;
	roundtrip_req(&rq, out, sizeof out, &n);
	a = fresh_arena();
	W(dec_req(out, n, NULL, &a, &back, &e));
	const struct kmip_object *o0 = &back.items[0].pl.u.register_req.obj;
	assert_int_equal(o0->kb.format, KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY);
	assert_int_equal(o0->kb.material.n, 16);
	assert_memory_equal(o0->kb.material.p, key, 16);
	assert_int_equal(back.items[1].pl.u.register_req.obj.secret_type,
			 KMIP_SECRET_DATA_TYPE_PASSWORD);
	assert_int_equal(back.items[2].pl.u.register_req.obj.opaque.n, 5);
	const struct kmip_object *o3 = &back.items[3].pl.u.register_req.obj;
	assert_int_equal(o3->split.parts, 3);
	assert_int_equal(o3->split.part_id, 2);
	assert_int_equal(o3->split.threshold, 2);
	assert_int_equal(o3->split.method, KMIP_SPLIT_KEY_METHOD_POLYNOMIAL_SHARING_PRIME_FIELD);
	assert_int_equal(o3->split.prime.n, sizeof prime);
	assert_memory_equal(o3->kb.material.p, key, 16);
	roundtrip_req(&back, again, sizeof again, &n2);
	assert_int_equal(n2, n);
	assert_memory_equal(again, out, n);

	rq.n_items = 3;
	/* Transparent Symmetric Key with Byte String material: malformed object */
	r0->obj.kb.material_type = TTLV_BYTE_STRING;
	roundtrip_req(&rq, out, sizeof out, &n);
	a = fresh_arena();
	assert_int_equal(dec_req(out, n, NULL, &a, &back, &e), CF_E_BAD_OBJECT);
	assert_int_equal(e.item, 0);
	assert_int_equal(e.op, KMIP_OPERATION_REGISTER);
}

static void test_auth_password_is_a_view(void **state)
{
	static uint8_t out[2048], again[2048];
	struct kmip_req_item it;
	struct kmip_request rq, back;
	struct kmip_decode_error e;
	struct kmip_arena a = fresh_arena();
	size_t n, n2;

	(void)state;
	memset(&it, 0, sizeof it);
	it.op = KMIP_OPERATION_QUERY;
	uint32_t fn = KMIP_QUERY_FUNCTION_QUERY_SERVER_INFORMATION;
	it.pl.typed = true;
	it.pl.u.query_req = (struct kmip_req_query){ &fn, 1 };
	memset(&rq, 0, sizeof rq);
	rq.h.pv = (struct kmip_pv){ 1, 2 };
	rq.h.has_auth = true;
	rq.h.n_creds = 1;
	rq.h.creds[0].type = KMIP_CREDENTIAL_TYPE_USERNAME_AND_PASSWORD;
	rq.h.creds[0].username = (struct kmip_text){ "alice", 5 };
	rq.h.creds[0].password = (struct kmip_text){ "s3cret", 6 };
	rq.h.has_bec = true;
	rq.h.bec = KMIP_BATCH_ERROR_CONTINUATION_OPTION_STOP;
	rq.h.has_max_response_size = true;
	rq.h.max_response_size = 4096;
	rq.items = &it;
	rq.n_items = 1;
	roundtrip_req(&rq, out, sizeof out, &n);
	W(kmip_decode_request(out, n, NULL, &a, &back, &e));
	const struct kmip_credential *c = &back.h.creds[0];
	assert_int_equal(back.h.n_creds, 1);
	assert_int_equal(c->password.n, 6);
	assert_true((const uint8_t *)c->password.p >= out &&
		    (const uint8_t *)c->password.p + c->password.n <= out + n);
	assert_memory_equal(c->password.p, "s3cret", 6);
	assert_int_equal(back.h.max_response_size, 4096);
	roundtrip_req(&back, again, sizeof again, &n2);
	assert_int_equal(n2, n);
	assert_memory_equal(again, out, n);
}

static void test_raw_payload_fallback(void **state)
{
	struct msgb b;
	struct kmip_arena a;
	struct kmip_request rq;
	struct kmip_decode_error e;
	static uint8_t out[4096];
	size_t mi, mp, n, n2;

	(void)state;
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 1, 2, 1);
	W(ttlv_wr_begin(&b.w, T(BATCH_ITEM), &mi));
	W(ttlv_wr_enum(&b.w, T(OPERATION), KMIP_OPERATION_VALIDATE));
	W(ttlv_wr_begin(&b.w, T(REQUEST_PAYLOAD), &mp));
	W(ttlv_wr_text(&b.w, T(UNIQUE_IDENTIFIER), "k", 1));
	W(ttlv_wr_long(&b.w, T(USAGE_LIMITS_COUNT), 9));
	W(ttlv_wr_end(&b.w, mp));
	W(ttlv_wr_end(&b.w, mi));
	n = msg_end(&b);
	a = fresh_arena();
	W(dec_req(b.buf, n, NULL, &a, &rq, &e));
	assert_false(rq.items[0].pl.typed);
	assert_false(kmip_op_typed(KMIP_OPERATION_VALIDATE));
	roundtrip_req(&rq, out, sizeof out, &n2);
	assert_int_equal(n2, n);
	assert_memory_equal(out, b.buf, n);

	/* a payload on its own (tools): decode the contents, encode the Structure */
	{
		uint8_t pb[64], ob[64];
		ttlv_wr pw, ow;
		struct kmip_payload pl;
		struct kmip_arena pa = fresh_arena();
		ttlv_wr_init(&pw, pb, sizeof pb);
		W(ttlv_wr_text(&pw, T(UNIQUE_IDENTIFIER), "key-7", 5));
		W(kmip_payload_decode(pb, ttlv_wr_len(&pw), KMIP_OPERATION_ACTIVATE, false, KMIP_V1_1,
				      NULL, &pa, &pl));
		assert_true(pl.typed);
		assert_int_equal(pl.u.uid_req.uid.n, 5);
		ttlv_wr_init(&ow, ob, sizeof ob);
		W(kmip_payload_encode(&ow, &pl, false, KMIP_V1_1));
		assert_int_equal(ttlv_wr_len(&ow), 8 + ttlv_wr_len(&pw));
		assert_memory_equal(ob + 8, pb, ttlv_wr_len(&pw));
		assert_int_equal(kmip_payload_decode(pb, ttlv_wr_len(&pw), KMIP_OPERATION_ACTIVATE,
						     true, KMIP_V1_1, NULL, &pa, &pl), CF_OK);
		assert_int_equal(kmip_payload_decode(pb, 0, KMIP_OPERATION_ACTIVATE, true, KMIP_V1_1,
						     NULL, &pa, &pl), CF_E_MISSING);
	}

	/* the generic walk still rejects bad content: unknown tag, bad enum */
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 1, 2, 1);
	W(ttlv_wr_begin(&b.w, T(BATCH_ITEM), &mi));
	W(ttlv_wr_enum(&b.w, T(OPERATION), KMIP_OPERATION_VALIDATE));
	W(ttlv_wr_begin(&b.w, T(REQUEST_PAYLOAD), &mp));
	W(ttlv_wr_bytes(&b.w, 0x42FFF0u, (const uint8_t *)"x", 1));
	W(ttlv_wr_end(&b.w, mp));
	W(ttlv_wr_end(&b.w, mi));
	n = msg_end(&b);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_UNKNOWN_TAG);
	assert_int_equal(e.op, KMIP_OPERATION_VALIDATE);
	msg_begin(&b, T(REQUEST_MESSAGE));
	req_hdr(&b, 1, 2, 1);
	W(ttlv_wr_begin(&b.w, T(BATCH_ITEM), &mi));
	W(ttlv_wr_enum(&b.w, T(OPERATION), KMIP_OPERATION_VALIDATE));
	W(ttlv_wr_begin(&b.w, T(REQUEST_PAYLOAD), &mp));
	W(ttlv_wr_enum(&b.w, T(OBJECT_TYPE), 0x77));
	W(ttlv_wr_end(&b.w, mp));
	W(ttlv_wr_end(&b.w, mi));
	n = msg_end(&b);
	a = fresh_arena();
	assert_int_equal(dec_req(b.buf, n, NULL, &a, &rq, &e), CF_E_BAD_ENUM);
}

/* ---- policy table, arena -------------------------------------------------------------- */

static void test_attr_rules_table(void **state)
{
	size_t n;
	const struct kmip_attr_rule *r = kmip_attr_rules(&n);
	struct kmip_attr at;
	uint8_t buf[8];

	(void)state;
	assert_true(n > 40);
	for (size_t i = 0; i < n; i++) {
		const struct kmip_tag_info *ti = kmip_tag_lookup(r[i].tag);
		if (ti == NULL)
			fail_msg("rule %zu: tag 0x%06X unknown", i, r[i].tag);
		if (i > 0 && r[i - 1].tag >= r[i].tag)
			fail_msg("rules not sorted at 0x%06X", r[i].tag);
		/* the rule is found in every version it lists where the tag exists */
		for (int v = KMIP_V1_0; v <= KMIP_V2_0; v++)
			if ((r[i].versions & KMIP_VMASK(v)) && kmip_tag_valid(r[i].tag, v))
				assert_ptr_equal(kmip_attr_rule_for(r[i].tag, v), &r[i]);
		/* a server-only attribute can never be set by a client */
		if ((r[i].flags & (KMIP_AF_CLIENT_INIT | KMIP_AF_CLIENT_ADD | KMIP_AF_CLIENT_MOD |
				   KMIP_AF_CLIENT_DEL)) == 0) {
			kmip_attr_set_int(&at, r[i].tag, 0, buf);
			int v = kmip_tag_valid(r[i].tag, KMIP_V2_0) &&
				(r[i].versions & KMIP_VMASK(KMIP_V2_0)) ? KMIP_V2_0 : KMIP_V1_4;
			assert_int_equal(kmip_attr_client_may(&at, KMIP_OPERATION_CREATE, v),
					 CF_E_PERMISSION);
			assert_int_equal(kmip_attr_client_may(&at, KMIP_OPERATION_MODIFY_ATTRIBUTE, v),
					 CF_E_PERMISSION);
		}
	}
	assert_null(kmip_attr_rule_for(T(KEY_FORMAT_TYPE), KMIP_V1_4)); /* attribute in 2.0 only */
	assert_non_null(kmip_attr_rule_for(T(KEY_FORMAT_TYPE), KMIP_V2_0));
	assert_null(kmip_attr_rule_for(T(OPERATION_POLICY_NAME), KMIP_V2_0));
	assert_null(kmip_attr_rule_for(T(DESCRIPTION), KMIP_V1_3)); /* new in 1.4 */
	assert_true(kmip_attr_rule_custom()->flags & KMIP_AF_SENSITIVE);
	kmip_attr_set_enum(&at, T(STATE), 1, buf);
	assert_int_equal(kmip_attr_client_may(&at, KMIP_OPERATION_ADD_ATTRIBUTE, KMIP_V1_1),
			 CF_E_PERMISSION);
	kmip_attr_set_int(&at, T(CRYPTOGRAPHIC_LENGTH), 128, buf);
	W(kmip_attr_client_may(&at, KMIP_OPERATION_CREATE, KMIP_V1_1));
	assert_int_equal(kmip_attr_client_may(&at, KMIP_OPERATION_MODIFY_ATTRIBUTE, KMIP_V1_1),
			 CF_E_PERMISSION);
}

static void test_arena(void **state)
{
	uint8_t buf[256];
	struct kmip_arena a;
	void *p, *q;

	(void)state;
	kmip_arena_init(&a, buf, sizeof buf);
	W(kmip_arena_alloc(&a, 3, 5, &p));
	W(kmip_arena_alloc(&a, 1, 8, &q));
	assert_true(((uintptr_t)q % _Alignof(max_align_t)) == 0);
	memset(q, 0xAA, 8);
	assert_int_equal(kmip_arena_alloc(&a, SIZE_MAX / 2, 4, &p), CF_E_NOMEM);
	assert_null(p);
	assert_int_equal(kmip_arena_alloc(&a, 1, 1024, &p), CF_E_NOMEM);
	W(kmip_arena_alloc(&a, 0, 8, &p));
	assert_null(p);
	size_t used = a.off;
	assert_true(used >= 23 && used <= sizeof buf);
	kmip_arena_reset(&a);
	assert_int_equal(a.off, 0);
	for (size_t i = 0; i < used; i++) /* everything handed out is wiped */
		assert_int_equal(buf[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_result_for_parse_errors),
		cmocka_unit_test(test_error_reports_item_op_id_offset),
		cmocka_unit_test(test_error_codes),
		cmocka_unit_test(test_attr_names_and_types),
		cmocka_unit_test(test_limits_before_alloc),
		cmocka_unit_test(test_response_1_1_has_no_newer_fields),
		cmocka_unit_test(test_attributes_2_0_form),
		cmocka_unit_test(test_locate_offset_items_1_2),
		cmocka_unit_test(test_set_adjust_2_0),
		cmocka_unit_test(test_register_objects),
		cmocka_unit_test(test_auth_password_is_a_view),
		cmocka_unit_test(test_raw_payload_fallback),
		cmocka_unit_test(test_attr_rules_table),
		cmocka_unit_test(test_arena),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
