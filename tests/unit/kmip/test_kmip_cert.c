/* Certify / Re-certify payloads (kmip/kmip_cert.c, kmip_payload.c) and the PGP Key object
 * (kmip_obj.c).
 *
 * Round trips in every version (1.0 - 2.0): the fields in the order of 1.4 Tables 184 / 188
 * and 2.0 Tables 164 / 274 (typed from the tables), the request's bytes under Certificate
 * Request in 1.x and Certificate Request Value in 2.0, Offset in Re-certify only; responses
 * as Register's (Unique Identifier, 1.x Template-Attribute). Refusals: a request type without
 * a request or a request without its type (decode and encode), a 1.x tag in 2.0, an Offset in
 * Certify. PGP Key: PGP Key Version + Key Block both ways (1.2+), refused without a version. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kmip/kmip.h"
#include "payload_fx.h"

static const uint8_t csr[] = { 0x30, 0x82, 0x01, 0x02, 0xaa, 0xbb, 0xcc };

/* Decode hand-written payload contents c[n]. */
static cf_err dec(uint32_t op, int ver, const uint8_t *c, size_t n, struct kmip_payload *out)
{
	struct kmip_arena a = fresh_arena();
	return kmip_payload_decode(c, n, op, false, ver, NULL, &a, out);
}

static void test_typed(void **state)
{
	(void)state;
	assert_true(kmip_op_typed(KMIP_OPERATION_CERTIFY));
	assert_true(kmip_op_typed(KMIP_OPERATION_RE_CERTIFY));
}

static void test_certify_roundtrip(void **state)
{
	(void)state;
	for (int ver = KMIP_V1_0; ver < KMIP_V_COUNT; ver++) {
		bool v2 = ver >= KMIP_V2_0;
		uint32_t rq = v2 ? T(CERTIFICATE_REQUEST_VALUE) : T(CERTIFICATE_REQUEST);
		uint32_t tmpl = v2 ? T(ATTRIBUTES) : T(TEMPLATE_ATTRIBUTE);
		for (int op = 0; op < 2; op++) {
			struct kmip_payload pl = { .op = op ? KMIP_OPERATION_RE_CERTIFY
							    : KMIP_OPERATION_CERTIFY,
						   .typed = true }, out;
			struct kmip_req_certify *p = &pl.u.certify_req;
			const uint32_t all[] = { T(UNIQUE_IDENTIFIER), T(CERTIFICATE_REQUEST_TYPE), rq,
						 T(OFFSET), tmpl };
			const uint32_t no_off[] = { T(UNIQUE_IDENTIFIER), T(CERTIFICATE_REQUEST_TYPE),
						    rq, tmpl };
			p->uid = (struct kmip_text){ "pub-1", 5 };
			p->has_req_type = true;
			p->req_type = KMIP_CERTIFICATE_REQUEST_TYPE_PKCS_10;
			p->req = (struct kmip_bytes){ csr, sizeof csr };
			p->has_offset = true;
			p->offset = 86400;
			p->t.present = true;
			if (op) {
				roundtrip(&pl, false, ver, all, N(all), &out);
				assert_true(out.u.certify_req.has_offset);
				assert_int_equal(out.u.certify_req.offset, 86400);
			} else {
				/* Certify has no Offset: not written */
				roundtrip(&pl, false, ver, no_off, N(no_off), &out);
				assert_false(out.u.certify_req.has_offset);
			}
			assert_int_equal(out.u.certify_req.req_type,
					 KMIP_CERTIFICATE_REQUEST_TYPE_PKCS_10);
			assert_int_equal(out.u.certify_req.req.n, sizeof csr);
			assert_memory_equal(out.u.certify_req.req.p, csr, sizeof csr);
			/* every field optional */
			memset(&pl.u, 0, sizeof pl.u);
			roundtrip(&pl, false, ver, NULL, 0, &out);
			assert_null(out.u.certify_req.uid.p);
			assert_false(out.u.certify_req.has_req_type);
			/* a type without a request, a request without a type: refused */
			uint8_t buf[256];
			ttlv_wr w;
			p->has_req_type = true;
			ttlv_wr_init(&w, buf, sizeof buf);
			assert_int_equal(kmip_payload_encode(&w, &pl, false, ver), CF_E_MISSING);
			p->has_req_type = false;
			p->req = (struct kmip_bytes){ csr, sizeof csr };
			ttlv_wr_init(&w, buf, sizeof buf);
			assert_int_equal(kmip_payload_encode(&w, &pl, false, ver), CF_E_MISSING);
			/* the response: Register's fields */
			const uint32_t rsp[] = { T(UNIQUE_IDENTIFIER) };
			memset(&pl.u, 0, sizeof pl.u);
			pl.u.rekey_rsp.uid = (struct kmip_text){ "cert-1", 6 };
			roundtrip(&pl, true, ver, rsp, 1, &out);
			assert_memory_equal(out.u.rekey_rsp.uid.p, "cert-1", 6);
			memset(&pl.u, 0, sizeof pl.u);
			ttlv_wr_init(&w, buf, sizeof buf);
			assert_int_equal(kmip_payload_encode(&w, &pl, true, ver), CF_E_MISSING);
		}
	}
}

static void test_certify_refusals(void **state)
{
	/* Certificate Request Type PKCS#10 alone */
	static const uint8_t type_only[] = { 0x42, 0x00, 0x19, 0x05, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 0 };
	/* Certificate Request (1.x tag) alone */
	static const uint8_t req_only[] = { 0x42, 0x00, 0x18, 0x08, 0, 0, 0, 2, 0x30, 0x00, 0, 0, 0, 0, 0, 0 };
	/* type + the 1.x tag: fine in 1.4, not in 2.0 (Certificate Request Value there) */
	static const uint8_t both_1x[] = { 0x42, 0x00, 0x19, 0x05, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 0,
					   0x42, 0x00, 0x18, 0x08, 0, 0, 0, 2, 0x30, 0x00, 0, 0, 0, 0, 0, 0 };
	/* an Offset (Interval 3600) in Certify */
	static const uint8_t offset[] = { 0x42, 0x00, 0x58, 0x0A, 0, 0, 0, 4, 0, 0, 0x0e, 0x10, 0, 0, 0, 0 };
	struct kmip_payload out;
	(void)state;

	assert_int_equal(dec(KMIP_OPERATION_CERTIFY, KMIP_V1_4, type_only, sizeof type_only, &out),
			 CF_E_MISSING);
	assert_int_equal(dec(KMIP_OPERATION_CERTIFY, KMIP_V1_4, req_only, sizeof req_only, &out),
			 CF_E_MISSING);
	W(dec(KMIP_OPERATION_CERTIFY, KMIP_V1_4, both_1x, sizeof both_1x, &out));
	assert_int_equal(out.u.certify_req.req.n, 2);
	assert_int_not_equal(dec(KMIP_OPERATION_CERTIFY, KMIP_V2_0, both_1x, sizeof both_1x, &out),
			     CF_OK);
	assert_int_not_equal(dec(KMIP_OPERATION_CERTIFY, KMIP_V1_4, offset, sizeof offset, &out),
			     CF_OK);
	W(dec(KMIP_OPERATION_RE_CERTIFY, KMIP_V1_4, offset, sizeof offset, &out));
	assert_true(out.u.certify_req.has_offset);
	assert_int_equal(out.u.certify_req.offset, 3600);
}

static void test_pgp_key(void **state)
{
	static const uint8_t armored[] = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nxyz\n";
	(void)state;
	for (int ver = KMIP_V1_0; ver < KMIP_V_COUNT; ver++) {
		struct kmip_payload pl = { .op = KMIP_OPERATION_REGISTER, .typed = true }, out;
		struct kmip_req_register *p = &pl.u.register_req;
		uint32_t tmpl = ver >= KMIP_V2_0 ? T(ATTRIBUTES) : T(TEMPLATE_ATTRIBUTE);
		const uint32_t tags[] = { T(OBJECT_TYPE), tmpl, T(PGP_KEY) };
		uint8_t buf[256];
		ttlv_wr w;

		p->object_type = KMIP_OBJECT_TYPE_PGP_KEY;
		p->t.present = true;
		p->obj.type = KMIP_OBJECT_TYPE_PGP_KEY;
		p->obj.pgp_version = 4;
		p->obj.kb.format = KMIP_KEY_FORMAT_TYPE_OPAQUE;
		p->obj.kb.has_value = true;
		p->obj.kb.material_type = TTLV_BYTE_STRING;
		p->obj.kb.material = (struct kmip_bytes){ armored, sizeof armored - 1 };
		if (ver < KMIP_V1_2) { /* no PGP Key before 1.2 */
			ttlv_wr_init(&w, buf, sizeof buf);
			assert_int_not_equal(kmip_payload_encode(&w, &pl, false, ver), CF_OK);
			continue;
		}
		roundtrip(&pl, false, ver, tags, N(tags), &out);
		assert_int_equal(out.u.register_req.obj.type, KMIP_OBJECT_TYPE_PGP_KEY);
		assert_int_equal(out.u.register_req.obj.pgp_version, 4);
		assert_int_equal(out.u.register_req.obj.kb.material.n, sizeof armored - 1);
		assert_memory_equal(out.u.register_req.obj.kb.material.p, armored, sizeof armored - 1);
		/* the Get response carries it the same way */
		struct kmip_payload g = { .op = KMIP_OPERATION_GET, .typed = true };
		const uint32_t gtags[] = { T(OBJECT_TYPE), T(UNIQUE_IDENTIFIER), T(PGP_KEY) };
		g.u.get_rsp.object_type = KMIP_OBJECT_TYPE_PGP_KEY;
		g.u.get_rsp.uid = (struct kmip_text){ "pgp-1", 5 };
		g.u.get_rsp.obj = p->obj;
		roundtrip(&g, true, ver, gtags, N(gtags), &out);
		assert_int_equal(out.u.get_rsp.obj.pgp_version, 4);
	}
	/* PGP Key without its version: refused */
	static const uint8_t no_ver[] = {
		0x42, 0x00, 0x57, 0x05, 0, 0, 0, 4, 0, 0, 0, 9, 0, 0, 0, 0,        /* Object Type */
		0x42, 0x00, 0x91, 0x01, 0, 0, 0, 0,                                /* Template-Attr */
		0x42, 0x00, 0xBD, 0x01, 0, 0, 0, 0x30,                             /* PGP Key */
		0x42, 0x00, 0x40, 0x01, 0, 0, 0, 0x28,                             /* Key Block */
		0x42, 0x00, 0x42, 0x05, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 0,        /* Opaque */
		0x42, 0x00, 0x45, 0x01, 0, 0, 0, 0x10,                             /* Key Value */
		0x42, 0x00, 0x43, 0x08, 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0, 0,  /* Key Material */
	};
	struct kmip_payload out;
	assert_int_equal(dec(KMIP_OPERATION_REGISTER, KMIP_V1_4, no_ver, sizeof no_ver, &out),
			 CF_E_MISSING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_typed),
		cmocka_unit_test(test_certify_roundtrip),
		cmocka_unit_test(test_certify_refusals),
		cmocka_unit_test(test_pgp_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
