/* Message layer against real traffic: vCenter 7.0.3 requests, PyKMIP responses and the
 * OASIS KMIP 1.1 test cases decode with the typed decoder and re-encode byte for byte;
 * every prefix fails cleanly (exact-size heap copies, so ASan sees over-reads); encoding
 * into an exact-size buffer works and one byte less gives CF_E_NO_SPACE. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "kmip/kmip.h"
#include "kmip_test_util.h"

#define ARENA_SIZE (1u << 20)

struct st {
	struct tvecs req, rsp, oasis;
	uint8_t *arena_buf;
	struct kmip_arena a;
	uint8_t *out;
};

static int setup(void **state)
{
	struct st *s = calloc(1, sizeof *s);
	if (s == NULL)
		return -1;
	if (load_vcenter(VEC_REQUESTS, &s->req) != 0 || load_vcenter(VEC_RESPONSES, &s->rsp) != 0 ||
	    load_oasis(VEC_OASIS, &s->oasis) != 0) {
		fprintf(stderr, "cannot load vectors (cwd must be the checkout, ../shared beside it)\n");
		return -1;
	}
	s->arena_buf = malloc(ARENA_SIZE);
	s->out = malloc(1u << 20);
	if (s->arena_buf == NULL || s->out == NULL)
		return -1;
	kmip_arena_init(&s->a, s->arena_buf, ARENA_SIZE);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct st *s = *state;
	tvecs_free(&s->req);
	tvecs_free(&s->rsp);
	tvecs_free(&s->oasis);
	free(s->arena_buf);
	free(s->out);
	free(s);
	return 0;
}

static bool is_request(const uint8_t *p, size_t n)
{
	return n >= 3 && p[0] == 0x42 && p[1] == 0x00 && p[2] == 0x78;
}

/* Decode (typed) then encode into out[cap]; counts typed / raw payloads. */
static cf_err roundtrip(struct st *s, const uint8_t *p, size_t n, size_t cap, size_t *outlen,
			int *typed, int *raw, uint32_t *untyped_supported,
			struct kmip_decode_error *e)
{
	ttlv_wr w;
	cf_err rc;

	kmip_arena_reset(&s->a);
	ttlv_wr_init(&w, s->out, cap);
	*outlen = 0;
	if (is_request(p, n)) {
		struct kmip_request rq;
		if ((rc = kmip_decode_request(p, n, NULL, &s->a, &rq, e)) != CF_OK)
			return rc;
		for (size_t i = 0; i < rq.n_items; i++) {
			if (rq.items[i].pl.typed)
				(*typed)++;
			else
				(*raw)++;
			if (!rq.items[i].pl.typed && kmip_op_typed(rq.items[i].op))
				*untyped_supported = rq.items[i].op;
		}
		rc = kmip_encode_request(&w, &rq);
	} else {
		struct kmip_response rs;
		if ((rc = kmip_decode_response(p, n, NULL, &s->a, &rs, e)) != CF_OK)
			return rc;
		for (size_t i = 0; i < rs.n_items; i++) {
			if (!rs.items[i].has_payload)
				continue;
			if (rs.items[i].pl.typed)
				(*typed)++;
			else
				(*raw)++;
			if (!rs.items[i].pl.typed && rs.items[i].has_op && kmip_op_typed(rs.items[i].op))
				*untyped_supported = rs.items[i].op;
		}
		rc = kmip_encode_response(&w, &rs);
	}
	*outlen = ttlv_wr_len(&w);
	return rc;
}

static void check_set(struct st *s, const struct tvecs *vs, const char *what)
{
	int typed = 0, raw = 0, fails = 0;

	assert_true(vs->n > 0);
	for (size_t i = 0; i < vs->n; i++) {
		const struct tvec *v = &vs->v[i];
		struct kmip_decode_error e;
		uint32_t untyped = 0;
		size_t len;
		cf_err rc = roundtrip(s, v->p, v->n, 1u << 20, &len, &typed, &raw, &untyped, &e);
		if (rc != CF_OK) {
			fprintf(stderr, "%s: %s (item %ld op %u off %zu tag 0x%06X)\n", v->name,
				cf_err_name(rc), e.item, e.op, e.offset, e.tag);
			fails++;
			continue;
		}
		if (len != v->n || memcmp(s->out, v->p, len) != 0) {
			size_t k = 0;
			while (k < len && k < v->n && s->out[k] == v->p[k])
				k++;
			fprintf(stderr, "%s: re-encode differs at byte %zu (len %zu vs %zu)\n",
				v->name, k, len, v->n);
			fails++;
			continue;
		}
		if (untyped != 0) {
			fprintf(stderr, "%s: operation %u decoded as raw\n", v->name, untyped);
			fails++;
		}
	}
	print_message("%s: %zu messages, payloads typed %d, raw fallback %d\n", what, vs->n, typed,
		      raw);
	assert_int_equal(fails, 0);
}

static void test_vcenter_requests_roundtrip(void **state)
{
	struct st *s = *state;
	check_set(s, &s->req, "vcenter requests");
}

static void test_pykmip_responses_roundtrip(void **state)
{
	struct st *s = *state;
	check_set(s, &s->rsp, "pykmip responses");
}

static void test_oasis_roundtrip(void **state)
{
	struct st *s = *state;
	assert_int_equal(s->oasis.n, 520);
	check_set(s, &s->oasis, "oasis 1.1 test cases");
}

/* Every strict prefix of every vector, copied into an exact-size heap buffer, fails. */
static void prefixes(struct st *s, const struct tvecs *vs)
{
	for (size_t i = 0; i < vs->n; i++) {
		const struct tvec *v = &vs->v[i];
		for (size_t n = 0; n < v->n; n++) {
			uint8_t *b = malloc(n ? n : 1);
			assert_non_null(b);
			memcpy(b, v->p, n);
			kmip_arena_reset(&s->a);
			cf_err rc;
			if (is_request(v->p, v->n)) {
				struct kmip_request rq;
				rc = kmip_decode_request(b, n, NULL, &s->a, &rq, NULL);
				assert_int_equal(rq.n_items, 0);
			} else {
				struct kmip_response rs;
				rc = kmip_decode_response(b, n, NULL, &s->a, &rs, NULL);
				assert_int_equal(rs.n_items, 0);
			}
			if (rc == CF_OK)
				fail_msg("%s: prefix %zu decoded", v->name, n);
			/* the same cut with the outer length patched to match, so the inner
			 * structures (not the framing check) meet the truncation */
			if (n >= 16 && n % 8 == 0) {
				uint32_t l = (uint32_t)(n - 8);
				b[4] = (uint8_t)(l >> 24);
				b[5] = (uint8_t)(l >> 16);
				b[6] = (uint8_t)(l >> 8);
				b[7] = (uint8_t)l;
				kmip_arena_reset(&s->a);
				if (is_request(v->p, v->n)) {
					struct kmip_request rq;
					rc = kmip_decode_request(b, n, NULL, &s->a, &rq, NULL);
				} else {
					struct kmip_response rs;
					rc = kmip_decode_response(b, n, NULL, &s->a, &rs, NULL);
				}
				if (rc == CF_OK)
					fail_msg("%s: patched prefix %zu decoded", v->name, n);
			}
			free(b);
		}
	}
}

static void test_prefixes_fail(void **state)
{
	struct st *s = *state;
	prefixes(s, &s->req);
	prefixes(s, &s->rsp);
	prefixes(s, &s->oasis);
}

/* Exact-size output succeeds; one byte short is CF_E_NO_SPACE. */
static void exact(struct st *s, const struct tvecs *vs)
{
	for (size_t i = 0; i < vs->n; i++) {
		const struct tvec *v = &vs->v[i];
		int t = 0, r = 0;
		uint32_t u = 0;
		size_t len;
		struct kmip_decode_error e;
		assert_int_equal(roundtrip(s, v->p, v->n, v->n, &len, &t, &r, &u, &e), CF_OK);
		assert_int_equal(len, v->n);
		assert_memory_equal(s->out, v->p, v->n);
		assert_int_equal(roundtrip(s, v->p, v->n, v->n - 1, &len, &t, &r, &u, &e),
				 CF_E_NO_SPACE);
		assert_int_equal(roundtrip(s, v->p, v->n, 0, &len, &t, &r, &u, &e), CF_E_NO_SPACE);
	}
}

static void test_exact_size_encode(void **state)
{
	struct st *s = *state;
	exact(s, &s->req);
	exact(s, &s->rsp);
	exact(s, &s->oasis);
}

/* Deterministic byte flips: never a crash; whatever decodes re-encodes. */
static void test_flips_never_crash(void **state)
{
	struct st *s = *state;
	const struct tvecs *sets[] = { &s->req, &s->rsp, &s->oasis };
	uint32_t x = 0x12345678u;
	size_t ok = 0, bad = 0;

	for (size_t k = 0; k < 3; k++) {
		for (size_t i = 0; i < sets[k]->n; i++) {
			const struct tvec *v = &sets[k]->v[i];
			uint8_t *b = malloc(v->n);
			assert_non_null(b);
			for (int f = 0; f < 24; f++) {
				memcpy(b, v->p, v->n);
				x ^= x << 13; x ^= x >> 17; x ^= x << 5;
				size_t pos = x % v->n;
				b[pos] ^= (uint8_t)(1u << (x >> 29));
				int t = 0, r = 0;
				uint32_t u = 0;
				size_t len;
				struct kmip_decode_error e;
				cf_err rc = roundtrip(s, b, v->n, 1u << 20, &len, &t, &r, &u, &e);
				if (rc == CF_OK)
					ok++;
				else
					bad++;
				if (rc != CF_OK && rc != CF_E_NO_SPACE) {
					/* decode failures must carry a KMIP reason */
					assert_int_equal(e.rc, rc);
					assert_int_equal(e.status, KMIP_RESULT_STATUS_OPERATION_FAILED);
					assert_true(e.reason != 0);
				}
			}
			free(b);
		}
	}
	print_message("flips: %zu still valid, %zu rejected\n", ok, bad);
	assert_true(bad > ok);
}

static const struct tvec *find_op(const struct tvecs *vs, struct st *s, uint32_t op, size_t items,
				  struct kmip_request *rq)
{
	for (size_t i = 0; i < vs->n; i++) {
		kmip_arena_reset(&s->a);
		if (kmip_decode_request(vs->v[i].p, vs->v[i].n, NULL, &s->a, rq, NULL) != CF_OK)
			continue;
		if (rq->n_items == items && rq->items[0].op == op)
			return &vs->v[i];
	}
	return NULL;
}

static bool text_eq(struct kmip_text t, const char *s)
{
	return t.p != NULL && t.n == strlen(s) && memcmp(t.p, s, t.n) == 0;
}

static void test_vcenter_typed_content(void **state)
{
	struct st *s = *state;
	struct kmip_request rq;
	uint32_t v;

	/* Create: Symmetric Key, 3 template attributes AES / usage 12 / length 256 */
	assert_non_null(find_op(&s->req, s, KMIP_OPERATION_CREATE, 1, &rq));
	assert_int_equal(rq.h.version, KMIP_V1_1);
	const struct kmip_req_create *cr = &rq.items[0].pl.u.create_req;
	assert_true(rq.items[0].pl.typed);
	assert_int_equal(cr->object_type, KMIP_OBJECT_TYPE_SYMMETRIC_KEY);
	assert_true(cr->t.present);
	assert_int_equal(cr->t.a.n, 3);
	assert_int_equal(cr->t.a.v[0].tag, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM);
	assert_int_equal(kmip_attr_get_u32(&cr->t.a.v[0], &v), CF_OK);
	assert_int_equal(v, KMIP_CRYPTOGRAPHIC_ALGORITHM_AES);
	assert_int_equal(cr->t.a.v[1].tag, KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK);
	assert_int_equal(kmip_attr_get_u32(&cr->t.a.v[1], &v), CF_OK);
	assert_int_equal(v, 12);
	assert_int_equal(cr->t.a.v[2].tag, KMIP_TAG_CRYPTOGRAPHIC_LENGTH);
	assert_int_equal(kmip_attr_get_u32(&cr->t.a.v[2], &v), CF_OK);
	assert_int_equal(v, 256);
	assert_non_null(kmip_attrs_find(&cr->t.a, KMIP_TAG_CRYPTOGRAPHIC_LENGTH));

	/* Add Attribute batch of 3 with ids QLKC01..03 and custom x- text attributes */
	assert_non_null(find_op(&s->req, s, KMIP_OPERATION_ADD_ATTRIBUTE, 3, &rq));
	assert_int_equal(rq.h.batch_count, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct kmip_req_item *it = &rq.items[i];
		const uint8_t id[8] = { 'Q', 'L', 'K', 'C', (uint8_t)(i + 1), 0, 0, 0 };
		assert_int_equal(it->id.n, 8);
		assert_memory_equal(it->id.p, id, 8);
		assert_true(it->pl.typed);
		assert_true(it->pl.u.attr_req.has_new);
		assert_int_equal(it->pl.u.attr_req.attr.tag, 0); /* custom */
		assert_int_equal(it->pl.u.attr_req.attr.type, TTLV_TEXT_STRING);
		assert_true(it->pl.u.attr_req.attr.name.n > 2);
		assert_memory_equal(it->pl.u.attr_req.attr.name.p, "x-", 2);
	}

	/* Get Attributes "x-Product_Version" */
	bool found = false;
	for (size_t i = 0; i < s->req.n && !found; i++) {
		kmip_arena_reset(&s->a);
		if (kmip_decode_request(s->req.v[i].p, s->req.v[i].n, NULL, &s->a, &rq, NULL) != CF_OK)
			continue;
		if (rq.items[0].op != KMIP_OPERATION_GET_ATTRIBUTES)
			continue;
		const struct kmip_req_get_attrs *ga = &rq.items[0].pl.u.get_attrs_req;
		if (ga->refs.n == 1 && text_eq(ga->refs.v[0].name, "x-Product_Version")) {
			assert_int_equal(ga->refs.v[0].tag, 0);
			assert_true(text_eq(ga->uid, "1"));
			found = true;
		}
	}
	assert_true(found);

	/* Get response with a Raw 32-byte AES key */
	found = false;
	for (size_t i = 0; i < s->rsp.n && !found; i++) {
		struct kmip_response rs;
		kmip_arena_reset(&s->a);
		if (kmip_decode_response(s->rsp.v[i].p, s->rsp.v[i].n, NULL, &s->a, &rs, NULL) != CF_OK)
			continue;
		if (!rs.items[0].has_op || rs.items[0].op != KMIP_OPERATION_GET)
			continue;
		const struct kmip_rsp_get *g = &rs.items[0].pl.u.get_rsp;
		assert_true(rs.items[0].pl.typed);
		assert_int_equal(g->object_type, KMIP_OBJECT_TYPE_SYMMETRIC_KEY);
		assert_int_equal(g->obj.type, KMIP_OBJECT_TYPE_SYMMETRIC_KEY);
		assert_int_equal(g->obj.kb.format, KMIP_KEY_FORMAT_TYPE_RAW);
		assert_int_equal(g->obj.kb.material_type, TTLV_BYTE_STRING);
		assert_int_equal(g->obj.kb.material.n, 32);
		assert_true(g->obj.kb.has_alg);
		assert_int_equal(g->obj.kb.alg, KMIP_CRYPTOGRAPHIC_ALGORITHM_AES);
		assert_int_equal(g->obj.kb.len, 256);
		found = true;
	}
	assert_true(found);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vcenter_requests_roundtrip),
		cmocka_unit_test(test_pykmip_responses_roundtrip),
		cmocka_unit_test(test_oasis_roundtrip),
		cmocka_unit_test(test_vcenter_typed_content),
		cmocka_unit_test(test_exact_size_encode),
		cmocka_unit_test(test_prefixes_fail),
		cmocka_unit_test(test_flips_never_crash),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
