/* Cryptographic services payloads (kmip/kmip_crypto.c): Encrypt, Decrypt, Sign, Signature
 * Verify, MAC, MAC Verify, Hash, RNG Retrieve, RNG Seed, Derive Key.
 *
 * Round trips in 1.2, 1.4 and 2.0: every field of the operation written in the
 * specification's order (the expected tag lists below are typed from the 1.4 / 2.0 tables,
 * not taken from the codec), the fields the version lacks left out, decoded back typed and
 * re-encoded byte for byte. Refusals: order, duplicates, types, unknown tags, missing
 * required fields, fields of a later version, limits; Cryptographic Parameters contents;
 * kmip_crypto_params_decode's new fields; CF_E_HSM_CRYPTO's result reason.
 *
 * `test_kmip_crypto --decode` is not a cmocka run: it reads lines "req HEX" / "rsp HEX" on
 * stdin, decodes each whole message with kmip_decode_request / kmip_decode_response and
 * prints one line per message, "ok OP:TYPED ..." (one pair per batch item, TYPED 1 when the
 * payload decoded typed, '-' when the item has no payload) or "FAIL <error>". The OASIS
 * test-case check (test_kmip_crypto_oasis.py) drives it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmip/kmip.h"
#include "payload_fx.h"
#include "kmip/kmip_dump.h"
#include "kmip/kmip_wrap.h"

static const int versions[] = { KMIP_V1_2, KMIP_V1_4, KMIP_V2_0 };

/* ---- expected field lists (1.4 Tables 229-246, 2.0 sections 6.1.x) ---------------------- */

/* tag and the first version that has it */
struct ef {
	uint32_t tag;
	int since;
};
#define UID { T(UNIQUE_IDENTIFIER), KMIP_V1_0 }
#define PAR { T(CRYPTOGRAPHIC_PARAMETERS), KMIP_V1_0 }
#define DAT { T(DATA), KMIP_V1_2 }
#define DIG { T(DIGESTED_DATA), KMIP_V1_4 }
#define IVC { T(IV_COUNTER_NONCE), KMIP_V1_0 }
#define SIG { T(SIGNATURE_DATA), KMIP_V1_2 }
#define MAC { T(MAC_DATA), KMIP_V1_2 }
#define COR { T(CORRELATION_VALUE), KMIP_V1_3 }
#define INI { T(INIT_INDICATOR), KMIP_V1_3 }
#define FIN { T(FINAL_INDICATOR), KMIP_V1_3 }
#define AAD { T(AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA), KMIP_V1_4 }
#define TAG { T(AUTHENTICATED_ENCRYPTION_TAG), KMIP_V1_4 }
#define VAL { T(VALIDITY_INDICATOR), KMIP_V1_0 }

struct case_def {
	const char *name;
	uint32_t op;
	struct ef req[10];
	struct ef rsp[6];
};

static const struct case_def cases[] = {
	{ "Encrypt", KMIP_OPERATION_ENCRYPT, { UID, PAR, DAT, IVC, COR, INI, FIN, AAD },
	  { UID, DAT, IVC, COR, TAG } },
	{ "Decrypt", KMIP_OPERATION_DECRYPT, { UID, PAR, DAT, IVC, COR, INI, FIN, AAD, TAG },
	  { UID, DAT, COR } },
	{ "Sign", KMIP_OPERATION_SIGN, { UID, PAR, DAT, DIG, COR, INI, FIN }, { UID, SIG, COR } },
	{ "Signature Verify", KMIP_OPERATION_SIGNATURE_VERIFY,
	  { UID, PAR, DAT, DIG, SIG, COR, INI, FIN }, { UID, VAL, DAT, COR } },
	{ "MAC", KMIP_OPERATION_MAC, { UID, PAR, DAT, COR, INI, FIN }, { UID, MAC, COR } },
	{ "MAC Verify", KMIP_OPERATION_MAC_VERIFY, { UID, PAR, DAT, MAC, COR, INI, FIN },
	  { UID, VAL, COR } },
	{ "Hash", KMIP_OPERATION_HASH, { PAR, DAT, COR, INI, FIN }, { DAT, COR } },
};

/* Cryptographic Parameters contents valid from 1.2: CBC, PKCS5, Random IV */
static size_t params_contents(uint8_t *buf, size_t cap)
{
	ttlv_wr w;
	ttlv_wr_init(&w, buf, cap);
	W(ttlv_wr_enum(&w, T(BLOCK_CIPHER_MODE), KMIP_BLOCK_CIPHER_MODE_CBC));
	W(ttlv_wr_enum(&w, T(PADDING_METHOD), KMIP_PADDING_METHOD_PKCS5));
	W(ttlv_wr_bool(&w, T(RANDOM_IV), true));
	return ttlv_wr_len(&w);
}

static uint8_t params_buf[64];

static struct kmip_bytes B(const char *s)
{
	return (struct kmip_bytes){ (const uint8_t *)s, strlen(s) };
}

/* every field of struct kmip_crypt set */
static void fill_crypt(struct kmip_crypt *p)
{
	memset(p, 0, sizeof *p);
	p->uid = (struct kmip_text){ "key-1", 5 };
	p->has_params = true;
	p->params = (struct kmip_bytes){ params_buf, params_contents(params_buf, sizeof params_buf) };
	p->data = B("the data");
	p->digested = B("0123456789abcdef0123456789abcdef");
	p->iv = B("iv-iv-iv-iv-iv-i");
	p->sig = B("signature");
	p->mac = B("mac-value");
	p->corr = B("corr-1");
	p->has_init = true;
	p->init = true;
	p->has_final = true;
	p->final = false;
	p->aad = B("aad");
	p->tag = B("0123456789abcdef");
	p->has_validity = true;
	p->validity = KMIP_VALIDITY_INDICATOR_VALID;
}

static void bytes_eq(struct kmip_bytes a, struct kmip_bytes b)
{
	assert_non_null(a.p);
	assert_int_equal(a.n, b.n);
	assert_memory_equal(a.p, b.p, a.n);
}

static void test_crypt_roundtrip(void **state)
{
	(void)state;
	for (size_t c = 0; c < N(cases); c++) {
		for (size_t v = 0; v < N(versions); v++) {
			for (int rsp = 0; rsp < 2; rsp++) {
				const struct ef *ef = rsp ? cases[c].rsp : cases[c].req;
				size_t cap = rsp ? N(cases[c].rsp) : N(cases[c].req);
				uint32_t tags[10];
				size_t n = 0;
				struct kmip_payload pl = { .op = cases[c].op, .typed = true }, out;
				uint8_t buf[4096];

				for (size_t i = 0; i < cap && ef[i].tag != 0; i++)
					if (ef[i].since <= versions[v])
						tags[n++] = ef[i].tag;
				fill_crypt(&pl.u.crypt);
				print_message("%s %s v%d\n", cases[c].name, rsp ? "rsp" : "req",
					      versions[v]);
				payload_roundtrip(&pl, rsp, versions[v], tags, n, buf, sizeof buf, &out);
				const struct kmip_crypt *d = &out.u.crypt;
				if (tags[0] == T(UNIQUE_IDENTIFIER))
					assert_memory_equal(d->uid.p, "key-1", 5);
				/* the fields the version lacks are absent after the round trip */
				if (versions[v] < KMIP_V1_3)
					assert_true(d->corr.p == NULL && !d->has_init && !d->has_final);
				if (versions[v] < KMIP_V1_4)
					assert_true(d->aad.p == NULL && d->tag.p == NULL &&
						    d->digested.p == NULL);
				if (!rsp && cases[c].op != KMIP_OPERATION_HASH)
					bytes_eq(d->data, B("the data"));
				if (!rsp && versions[v] >= KMIP_V1_3)
					assert_true(d->has_init && d->init && d->has_final && !d->final);
				if (!rsp)
					assert_true(d->has_params);
				if (rsp && (cases[c].op == KMIP_OPERATION_MAC_VERIFY ||
					    cases[c].op == KMIP_OPERATION_SIGNATURE_VERIFY))
					assert_int_equal(d->validity, KMIP_VALIDITY_INDICATOR_VALID);
			}
		}
	}
}

static void test_rng_roundtrip(void **state)
{
	(void)state;
	for (size_t v = 0; v < N(versions); v++) {
		struct kmip_payload pl = { .op = KMIP_OPERATION_RNG_RETRIEVE, .typed = true }, out;
		uint8_t buf[256];
		uint32_t len_tag[] = { T(DATA_LENGTH) }, data_tag[] = { T(DATA) };

		pl.u.rng.has_len = true;
		pl.u.rng.len = 32;
		pl.u.rng.data = B("random");
		payload_roundtrip(&pl, false, versions[v], len_tag, 1, buf, sizeof buf, &out);
		assert_true(out.u.rng.has_len && out.u.rng.len == 32 && out.u.rng.data.p == NULL);
		payload_roundtrip(&pl, true, versions[v], data_tag, 1, buf, sizeof buf, &out);
		bytes_eq(out.u.rng.data, B("random"));
		assert_false(out.u.rng.has_len);
		pl.op = KMIP_OPERATION_RNG_SEED;
		payload_roundtrip(&pl, false, versions[v], data_tag, 1, buf, sizeof buf, &out);
		bytes_eq(out.u.rng.data, B("random"));
		payload_roundtrip(&pl, true, versions[v], len_tag, 1, buf, sizeof buf, &out);
		assert_int_equal(out.u.rng.len, 32);
	}
}

static struct kmip_text uids3[3] = { { "base-1", 6 }, { "base-2", 6 }, { "salt-obj", 8 } };

static void fill_derive(struct kmip_req_derive *p, uint8_t vbuf[static 8])
{
	static struct kmip_attr attr;
	memset(p, 0, sizeof *p);
	p->object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
	p->uids = uids3;
	p->n_uids = 3;
	p->method = KMIP_DERIVATION_METHOD_PBKDF2;
	p->dp.has_params = true;
	p->dp.params = (struct kmip_bytes){ params_buf, params_contents(params_buf, sizeof params_buf) };
	p->dp.iv = B("iv");
	p->dp.data = B("password");
	p->dp.salt = B("salt");
	p->dp.has_iterations = true;
	p->dp.iterations = 4096;
	kmip_attr_set_int(&attr, T(CRYPTOGRAPHIC_LENGTH), 128, vbuf);
	p->t.present = true;
	p->t.a = (struct kmip_attrs){ &attr, 1 };
}

static void test_derive_roundtrip(void **state)
{
	(void)state;
	for (size_t v = 0; v < N(versions); v++) {
		int ver = versions[v];
		uint32_t tmpl = ver >= KMIP_V2_0 ? T(ATTRIBUTES) : T(TEMPLATE_ATTRIBUTE);
		uint32_t tags[] = { T(OBJECT_TYPE), T(UNIQUE_IDENTIFIER), T(UNIQUE_IDENTIFIER),
				    T(UNIQUE_IDENTIFIER), T(DERIVATION_METHOD),
				    T(DERIVATION_PARAMETERS), tmpl };
		uint32_t rsp_tags[] = { T(UNIQUE_IDENTIFIER), T(TEMPLATE_ATTRIBUTE) };
		struct kmip_payload pl = { .op = KMIP_OPERATION_DERIVE_KEY, .typed = true }, out;
		uint8_t buf[4096], vbuf[8];

		fill_derive(&pl.u.derive_req, vbuf);
		payload_roundtrip(&pl, false, ver, tags, N(tags), buf, sizeof buf, &out);
		const struct kmip_req_derive *d = &out.u.derive_req;
		assert_int_equal(d->n_uids, 3);
		assert_memory_equal(d->uids[2].p, "salt-obj", 8);
		assert_int_equal(d->method, KMIP_DERIVATION_METHOD_PBKDF2);
		assert_true(d->dp.has_params && d->dp.has_iterations && d->dp.iterations == 4096);
		bytes_eq(d->dp.data, B("password"));
		bytes_eq(d->dp.salt, B("salt"));
		bytes_eq(d->dp.iv, B("iv"));
		assert_true(d->t.present && d->t.a.n == 1);
		assert_int_equal(d->t.a.v[0].tag, T(CRYPTOGRAPHIC_LENGTH));

		/* the response: Register's fields, in u.rekey_rsp; 1.x optional Template-Attribute */
		memset(&pl.u, 0, sizeof pl.u);
		pl.u.rekey_rsp.uid = (struct kmip_text){ "derived", 7 };
		pl.u.rekey_rsp.t = out.u.derive_req.t;
		payload_roundtrip(&pl, true, ver, rsp_tags, ver >= KMIP_V2_0 ? 1 : 2, buf, sizeof buf, &out);
		assert_memory_equal(out.u.rekey_rsp.uid.p, "derived", 7);
	}
}

/* 2.0: Derivation Data may be repeated (AWS Signature Version 4: Date, Region, Service). */
static void test_derive_repeated_data(void **state)
{
	uint8_t buf[512], more[128], vbuf[8];
	struct kmip_payload pl = { .op = KMIP_OPERATION_DERIVE_KEY, .typed = true }, out;
	uint32_t tags[] = { T(OBJECT_TYPE), T(UNIQUE_IDENTIFIER), T(UNIQUE_IDENTIFIER),
			    T(UNIQUE_IDENTIFIER), T(DERIVATION_METHOD), T(DERIVATION_PARAMETERS),
			    T(ATTRIBUTES) };
	struct kmip_arena a = fresh_arena();
	ttlv_wr w;

	(void)state;
	ttlv_wr_init(&w, more, sizeof more);
	W(ttlv_wr_bytes(&w, T(DERIVATION_DATA), (const uint8_t *)"region", 6));
	W(ttlv_wr_bytes(&w, T(DERIVATION_DATA), (const uint8_t *)"service", 7));
	fill_derive(&pl.u.derive_req, vbuf);
	pl.u.derive_req.method = KMIP_DERIVATION_METHOD_HMAC;
	pl.u.derive_req.dp.data_more = (struct kmip_bytes){ more, ttlv_wr_len(&w) };
	size_t n = payload_roundtrip(&pl, false, KMIP_V2_0, tags, N(tags), buf, sizeof buf, &out);
	bytes_eq(out.u.derive_req.dp.data_more, pl.u.derive_req.dp.data_more);
	/* the 2.0 bytes read as 1.4: Derivation Data repeated is a duplicate there */
	assert_int_equal(kmip_payload_decode(buf + 8, n - 8, KMIP_OPERATION_DERIVE_KEY, false,
					     KMIP_V1_4, NULL, &a, &out), CF_E_DUPLICATE);
	ttlv_wr_init(&w, buf, sizeof buf);
	W(kmip_payload_encode(&w, &pl, false, KMIP_V1_4));
	/* the 1.4 encoder leaves the 2.0-only repeats out */
	struct kmip_payload back;
	a = fresh_arena();
	W(kmip_payload_decode(buf + 8, ttlv_wr_len(&w) - 8, KMIP_OPERATION_DERIVE_KEY, false,
			      KMIP_V1_4, NULL, &a, &back));
	assert_null(back.u.derive_req.dp.data_more.p);
}

/* ---- refusals ------------------------------------------------------------------------- */

static cf_err dec(const uint8_t *p, size_t n, uint32_t op, bool rsp, int ver)
{
	struct kmip_arena a = fresh_arena();
	struct kmip_payload out;
	cf_err rc = kmip_payload_decode(p, n, op, rsp, ver, NULL, &a, &out);
	if (rc == CF_OK)
		assert_true(out.typed);
	return rc;
}

static void wb(ttlv_wr *w, uint32_t tag, const char *s)
{
	W(ttlv_wr_bytes(w, tag, (const uint8_t *)s, strlen(s)));
}

/* The request payload written into buf by w decodes, for op in version ver, to want. */
static void dec_is(const uint8_t *buf, const ttlv_wr *w, uint32_t op, int ver, cf_err want)
{
	assert_int_equal(dec(buf, ttlv_wr_len(w), op, false, ver), want);
}

static void wparams(ttlv_wr *w)
{
	uint8_t p[64];
	size_t m, n = params_contents(p, sizeof p);
	W(ttlv_wr_begin(w, T(CRYPTOGRAPHIC_PARAMETERS), &m));
	W(ttlv_wr_copy(w, p, n));
	W(ttlv_wr_end(w, m));
}

static void test_crypt_version_fields(void **state)
{
	uint8_t buf[256];
	ttlv_wr w;
	(void)state;

	/* Encrypt with Authenticated Encryption Additional Data: 1.4+ */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "k", 1));
	wb(&w, T(DATA), "plain");
	wb(&w, T(AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA), "aad");
	dec_is(buf, &w, KMIP_OPERATION_ENCRYPT, KMIP_V1_2, CF_E_UNEXPECTED_TAG);
	dec_is(buf, &w, KMIP_OPERATION_ENCRYPT, KMIP_V1_3, CF_E_UNEXPECTED_TAG);
	dec_is(buf, &w, KMIP_OPERATION_ENCRYPT, KMIP_V1_4, CF_OK);
	dec_is(buf, &w, KMIP_OPERATION_ENCRYPT, KMIP_V2_0, CF_OK);

	/* Correlation Value / Init Indicator: 1.3+ (and then Data may be left out) */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "k", 1));
	W(ttlv_wr_bool(&w, T(INIT_INDICATOR), true));
	dec_is(buf, &w, KMIP_OPERATION_DECRYPT, KMIP_V1_2, CF_E_UNEXPECTED_TAG);
	dec_is(buf, &w, KMIP_OPERATION_DECRYPT, KMIP_V1_3, CF_OK);

	/* Sign on Digested Data alone: 1.4+ */
	ttlv_wr_init(&w, buf, sizeof buf);
	wb(&w, T(DIGESTED_DATA), "digest");
	dec_is(buf, &w, KMIP_OPERATION_SIGN, KMIP_V1_2, CF_E_UNEXPECTED_TAG);
	dec_is(buf, &w, KMIP_OPERATION_SIGN, KMIP_V1_4, CF_OK);

	/* Cryptographic Parameters with a 1.4 field (Salt Length) in a 1.2 request */
	ttlv_wr_init(&w, buf, sizeof buf);
	size_t m;
	W(ttlv_wr_begin(&w, T(CRYPTOGRAPHIC_PARAMETERS), &m));
	W(ttlv_wr_int(&w, T(SALT_LENGTH), 32));
	W(ttlv_wr_end(&w, m));
	wb(&w, T(DATA), "d");
	dec_is(buf, &w, KMIP_OPERATION_SIGN, KMIP_V1_2, CF_E_UNEXPECTED_TAG);
	dec_is(buf, &w, KMIP_OPERATION_SIGN, KMIP_V1_4, CF_OK);

	/* the encoder leaves them out below their version (then Sign lacks its data) */
	struct kmip_payload pl = { .op = KMIP_OPERATION_SIGN, .typed = true };
	pl.u.crypt.digested = B("digest");
	ttlv_wr_init(&w, buf, sizeof buf);
	assert_int_equal(kmip_payload_encode(&w, &pl, false, KMIP_V1_2), CF_E_MISSING);
	ttlv_wr_init(&w, buf, sizeof buf);
	W(kmip_payload_encode(&w, &pl, false, KMIP_V1_4));
}

static void test_crypt_order_dup_type(void **state)
{
	uint8_t buf[256];
	ttlv_wr w;
	(void)state;

	/* IV/Counter/Nonce before Data */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "k", 1));
	wb(&w, T(IV_COUNTER_NONCE), "iv");
	wb(&w, T(DATA), "plain");
	dec_is(buf, &w, KMIP_OPERATION_ENCRYPT, KMIP_V1_4, CF_E_UNEXPECTED_TAG);
	/* Cryptographic Parameters after Data */
	ttlv_wr_init(&w, buf, sizeof buf);
	wb(&w, T(DATA), "plain");
	wparams(&w);
	dec_is(buf, &w, KMIP_OPERATION_HASH, KMIP_V1_4, CF_E_UNEXPECTED_TAG);
	dec_is(buf, &w, KMIP_OPERATION_MAC, KMIP_V1_4, CF_E_UNEXPECTED_TAG);
	/* Data twice */
	ttlv_wr_init(&w, buf, sizeof buf);
	wb(&w, T(DATA), "a");
	wb(&w, T(DATA), "b");
	dec_is(buf, &w, KMIP_OPERATION_MAC, KMIP_V1_4, CF_E_DUPLICATE);
	/* Data as a Text String */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(DATA), "a", 1));
	dec_is(buf, &w, KMIP_OPERATION_MAC, KMIP_V1_4, CF_E_BAD_TYPE);
	/* an unknown tag after the fields */
	ttlv_wr_init(&w, buf, sizeof buf);
	wb(&w, T(DATA), "a");
	wb(&w, 0x42FFF0, "?");
	dec_is(buf, &w, KMIP_OPERATION_MAC, KMIP_V1_4, CF_E_UNKNOWN_TAG);
	/* another operation's field: Signature Data in an Encrypt request */
	ttlv_wr_init(&w, buf, sizeof buf);
	wb(&w, T(DATA), "a");
	wb(&w, T(SIGNATURE_DATA), "s");
	dec_is(buf, &w, KMIP_OPERATION_ENCRYPT, KMIP_V1_4, CF_E_UNEXPECTED_TAG);
	/* Validity Indicator out of range */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "k", 1));
	W(ttlv_wr_enum(&w, T(VALIDITY_INDICATOR), 9));
	assert_int_equal(dec(buf, ttlv_wr_len(&w), KMIP_OPERATION_MAC_VERIFY, true, KMIP_V1_4),
			 CF_E_BAD_ENUM);
}

static void test_crypt_missing(void **state)
{
	uint8_t buf[256];
	ttlv_wr w;
	(void)state;

	/* single-part without Data */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "k", 1));
	wb(&w, T(IV_COUNTER_NONCE), "iv");
	dec_is(buf, &w, KMIP_OPERATION_ENCRYPT, KMIP_V1_4, CF_E_MISSING);
	/* Signature Verify without Signature Data; MAC Verify without MAC Data */
	ttlv_wr_init(&w, buf, sizeof buf);
	wb(&w, T(DATA), "d");
	assert_int_equal(dec(buf, ttlv_wr_len(&w), KMIP_OPERATION_SIGNATURE_VERIFY, false,
			     KMIP_V1_4), CF_E_MISSING);
	dec_is(buf, &w, KMIP_OPERATION_MAC_VERIFY, KMIP_V1_4, CF_E_MISSING);
	dec_is(buf, &w, KMIP_OPERATION_MAC, KMIP_V1_4, CF_OK);
	/* Hash without Cryptographic Parameters */
	dec_is(buf, &w, KMIP_OPERATION_HASH, KMIP_V1_4, CF_E_MISSING);
	/* responses: Unique Identifier; 1.x Validity Indicator (2.0: single-part only) */
	assert_int_equal(dec(buf, ttlv_wr_len(&w), KMIP_OPERATION_SIGNATURE_VERIFY, true,
			     KMIP_V1_4), CF_E_MISSING);
	W(dec(buf, ttlv_wr_len(&w), KMIP_OPERATION_HASH, true, KMIP_V1_4));
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "k", 1));
	assert_int_equal(dec(buf, ttlv_wr_len(&w), KMIP_OPERATION_MAC_VERIFY, true, KMIP_V1_4),
			 CF_E_MISSING);
	W(dec(buf, ttlv_wr_len(&w), KMIP_OPERATION_MAC_VERIFY, true, KMIP_V2_0));
	W(dec(buf, ttlv_wr_len(&w), KMIP_OPERATION_ENCRYPT, true, KMIP_V2_0));
	/* empty payloads */
	assert_int_equal(dec(NULL, 0, KMIP_OPERATION_ENCRYPT, false, KMIP_V1_4), CF_E_MISSING);
	assert_int_equal(dec(NULL, 0, KMIP_OPERATION_ENCRYPT, true, KMIP_V1_4), CF_E_MISSING);
	/* the encoder refuses the same */
	struct kmip_payload pl = { .op = KMIP_OPERATION_MAC_VERIFY, .typed = true };
	pl.u.crypt.uid = (struct kmip_text){ "k", 1 };
	ttlv_wr_init(&w, buf, sizeof buf);
	assert_int_equal(kmip_payload_encode(&w, &pl, true, KMIP_V1_4), CF_E_MISSING);
	ttlv_wr_init(&w, buf, sizeof buf);
	assert_int_equal(kmip_payload_encode(&w, &pl, false, KMIP_V1_4), CF_E_MISSING);
}

static void test_crypt_params_contents(void **state)
{
	uint8_t buf[256];
	ttlv_wr w;
	size_t m;
	(void)state;

	/* a tag that is no Cryptographic Parameters field */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_begin(&w, T(CRYPTOGRAPHIC_PARAMETERS), &m));
	W(ttlv_wr_enum(&w, T(OBJECT_TYPE), KMIP_OBJECT_TYPE_SYMMETRIC_KEY));
	W(ttlv_wr_end(&w, m));
	wb(&w, T(DATA), "d");
	dec_is(buf, &w, KMIP_OPERATION_ENCRYPT, KMIP_V1_4, CF_E_UNEXPECTED_TAG);
	/* a field twice */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_begin(&w, T(CRYPTOGRAPHIC_PARAMETERS), &m));
	W(ttlv_wr_enum(&w, T(PADDING_METHOD), KMIP_PADDING_METHOD_PKCS5));
	W(ttlv_wr_int(&w, T(TAG_LENGTH), 16));
	W(ttlv_wr_int(&w, T(TAG_LENGTH), 12));
	W(ttlv_wr_end(&w, m));
	wb(&w, T(DATA), "d");
	dec_is(buf, &w, KMIP_OPERATION_ENCRYPT, KMIP_V1_4, CF_E_DUPLICATE);
	/* a wrong type inside (walk: the tag table's type) */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_begin(&w, T(CRYPTOGRAPHIC_PARAMETERS), &m));
	W(ttlv_wr_enum(&w, T(IV_LENGTH), 96));
	W(ttlv_wr_end(&w, m));
	wb(&w, T(DATA), "d");
	dec_is(buf, &w, KMIP_OPERATION_ENCRYPT, KMIP_V1_4, CF_E_BAD_TYPE);
}

static void test_crypto_params_decode(void **state)
{
	uint8_t buf[512];
	struct kmip_crypto_params cp;
	ttlv_wr w;
	(void)state;

	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_enum(&w, T(BLOCK_CIPHER_MODE), KMIP_BLOCK_CIPHER_MODE_GCM));
	W(ttlv_wr_enum(&w, T(PADDING_METHOD), KMIP_PADDING_METHOD_OAEP));
	W(ttlv_wr_enum(&w, T(HASHING_ALGORITHM), KMIP_HASHING_ALGORITHM_SHA_256));
	W(ttlv_wr_enum(&w, T(KEY_ROLE_TYPE), KMIP_KEY_ROLE_TYPE_KEK));
	W(ttlv_wr_enum(&w, T(DIGITAL_SIGNATURE_ALGORITHM),
		       KMIP_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA256));
	W(ttlv_wr_enum(&w, T(CRYPTOGRAPHIC_ALGORITHM), KMIP_CRYPTOGRAPHIC_ALGORITHM_AES));
	W(ttlv_wr_bool(&w, T(RANDOM_IV), true));
	W(ttlv_wr_int(&w, T(IV_LENGTH), 96));
	W(ttlv_wr_int(&w, T(TAG_LENGTH), 16));
	W(ttlv_wr_int(&w, T(FIXED_FIELD_LENGTH), 32));
	W(ttlv_wr_int(&w, T(INVOCATION_FIELD_LENGTH), 64));
	W(ttlv_wr_int(&w, T(COUNTER_LENGTH), 0));
	W(ttlv_wr_int(&w, T(INITIAL_COUNTER_VALUE), 1));
	W(ttlv_wr_int(&w, T(SALT_LENGTH), 256));
	W(ttlv_wr_enum(&w, T(MASK_GENERATOR), KMIP_MASK_GENERATOR_MGF1));
	W(ttlv_wr_enum(&w, T(MASK_GENERATOR_HASHING_ALGORITHM), KMIP_HASHING_ALGORITHM_SHA_1));
	wb(&w, T(P_SOURCE), "label");
	W(ttlv_wr_int(&w, T(TRAILER_FIELD), 1));
	W(kmip_crypto_params_decode((struct kmip_bytes){ buf, ttlv_wr_len(&w) }, &cp));
	assert_true(cp.has_mode && cp.mode == KMIP_BLOCK_CIPHER_MODE_GCM);
	assert_true(cp.has_padding && cp.padding == KMIP_PADDING_METHOD_OAEP);
	assert_true(cp.has_hash && cp.hash == KMIP_HASHING_ALGORITHM_SHA_256);
	assert_true(cp.has_role && cp.role == KMIP_KEY_ROLE_TYPE_KEK);
	assert_true(cp.has_dsa && cp.dsa == KMIP_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA256);
	assert_true(cp.has_alg && cp.alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_AES);
	assert_true(cp.has_random_iv && cp.random_iv);
	assert_true(cp.has_iv_len && cp.iv_len == 96);
	assert_true(cp.has_tag_len && cp.tag_len == 16);
	assert_true(cp.has_fixed_len && cp.fixed_len == 32);
	assert_true(cp.has_invocation_len && cp.invocation_len == 64);
	assert_true(cp.has_counter_len && cp.counter_len == 0);
	assert_true(cp.has_initial_counter && cp.initial_counter == 1);
	assert_true(cp.has_salt_len && cp.salt_len == 256);
	assert_true(cp.has_mgf && cp.mgf == KMIP_MASK_GENERATOR_MGF1);
	assert_true(cp.has_mgf_hash && cp.mgf_hash == KMIP_HASHING_ALGORITHM_SHA_1);
	bytes_eq(cp.p_source, B("label"));
	assert_true(cp.has_trailer && cp.trailer == 1);
	assert_true(cp.other);
	assert_int_equal(cp.raw.n, ttlv_wr_len(&w));

	/* the four key-wrap fields alone: other stays false; any one more sets it */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_enum(&w, T(BLOCK_CIPHER_MODE), KMIP_BLOCK_CIPHER_MODE_NISTKEYWRAP));
	W(ttlv_wr_enum(&w, T(PADDING_METHOD), KMIP_PADDING_METHOD_NONE));
	W(ttlv_wr_enum(&w, T(HASHING_ALGORITHM), KMIP_HASHING_ALGORITHM_SHA_1));
	W(ttlv_wr_enum(&w, T(CRYPTOGRAPHIC_ALGORITHM), KMIP_CRYPTOGRAPHIC_ALGORITHM_AES));
	W(kmip_crypto_params_decode((struct kmip_bytes){ buf, ttlv_wr_len(&w) }, &cp));
	assert_false(cp.other);
	W(ttlv_wr_bool(&w, T(RANDOM_IV), false));
	W(kmip_crypto_params_decode((struct kmip_bytes){ buf, ttlv_wr_len(&w) }, &cp));
	assert_true(cp.other && cp.has_random_iv && !cp.random_iv);
	W(ttlv_wr_enum(&w, T(OBJECT_TYPE), 1)); /* not a field: still only `other` */
	W(kmip_crypto_params_decode((struct kmip_bytes){ buf, ttlv_wr_len(&w) }, &cp));
	/* a field twice, a field of the wrong type */
	W(ttlv_wr_bool(&w, T(RANDOM_IV), true));
	assert_int_equal(kmip_crypto_params_decode((struct kmip_bytes){ buf, ttlv_wr_len(&w) }, &cp),
			 CF_E_DUPLICATE);
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_int(&w, T(P_SOURCE), 1));
	assert_int_equal(kmip_crypto_params_decode((struct kmip_bytes){ buf, ttlv_wr_len(&w) }, &cp),
			 CF_E_BAD_TYPE);
}

static void test_rng_refusals(void **state)
{
	uint8_t buf[64];
	ttlv_wr w;
	(void)state;

	assert_int_equal(dec(NULL, 0, KMIP_OPERATION_RNG_RETRIEVE, false, KMIP_V1_4), CF_E_MISSING);
	assert_int_equal(dec(NULL, 0, KMIP_OPERATION_RNG_SEED, false, KMIP_V2_0), CF_E_MISSING);
	assert_int_equal(dec(NULL, 0, KMIP_OPERATION_RNG_RETRIEVE, true, KMIP_V1_4), CF_E_MISSING);
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_int(&w, T(DATA_LENGTH), -1));
	dec_is(buf, &w, KMIP_OPERATION_RNG_RETRIEVE, KMIP_V1_4, CF_E_BAD_VALUE);
	/* Data in a Retrieve request (the Seed's field) */
	ttlv_wr_init(&w, buf, sizeof buf);
	wb(&w, T(DATA), "seed");
	dec_is(buf, &w, KMIP_OPERATION_RNG_RETRIEVE, KMIP_V1_4, CF_E_MISSING);
	dec_is(buf, &w, KMIP_OPERATION_RNG_SEED, KMIP_V1_2, CF_OK);
	wb(&w, T(DATA), "seed");
	dec_is(buf, &w, KMIP_OPERATION_RNG_SEED, KMIP_V1_2, CF_E_DUPLICATE);
	/* RNG Retrieve does not exist in 1.1: not typed there (generic walk; Data Length is 1.2) */
	ttlv_wr_init(&w, buf, sizeof buf);
	W(ttlv_wr_int(&w, T(DATA_LENGTH), 16));
	struct kmip_arena a = fresh_arena();
	struct kmip_payload out;
	assert_int_equal(kmip_payload_decode(buf, ttlv_wr_len(&w), KMIP_OPERATION_RNG_RETRIEVE,
					     false, KMIP_V1_1, NULL, &a, &out),
			 CF_E_UNEXPECTED_TAG);
}

/* Derive Key request items; skip: 0 Object Type, 1 Unique Identifiers, 2 Derivation Method,
 * 3 Derivation Parameters, 4 template; uids: how many; pbkdf2_full: Salt + Iteration Count */
static size_t derive_req(uint8_t *buf, size_t cap, int ver, int skip, size_t uids,
			 bool pbkdf2_full)
{
	ttlv_wr w;
	size_t m, m2;
	ttlv_wr_init(&w, buf, cap);
	if (skip != 0)
		W(ttlv_wr_enum(&w, T(OBJECT_TYPE), KMIP_OBJECT_TYPE_SYMMETRIC_KEY));
	for (size_t i = 0; skip != 1 && i < uids; i++)
		W(ttlv_wr_text(&w, T(UNIQUE_IDENTIFIER), "u", 1));
	if (skip != 2)
		W(ttlv_wr_enum(&w, T(DERIVATION_METHOD), KMIP_DERIVATION_METHOD_PBKDF2));
	if (skip != 3) {
		W(ttlv_wr_begin(&w, T(DERIVATION_PARAMETERS), &m));
		wb(&w, T(DERIVATION_DATA), "password");
		wb(&w, T(SALT), "salt");
		if (pbkdf2_full)
			W(ttlv_wr_int(&w, T(ITERATION_COUNT), 1000));
		W(ttlv_wr_end(&w, m));
	}
	if (skip != 4) {
		W(ttlv_wr_begin(&w, ver >= KMIP_V2_0 ? T(ATTRIBUTES) : T(TEMPLATE_ATTRIBUTE), &m2));
		W(ttlv_wr_end(&w, m2));
	}
	return ttlv_wr_len(&w);
}

static void test_derive_refusals(void **state)
{
	uint8_t buf[8192];
	(void)state;

	for (size_t v = 0; v < N(versions); v++) {
		int ver = versions[v];
		size_t n = derive_req(buf, sizeof buf, ver, -1, 1, true);
		W(dec(buf, n, KMIP_OPERATION_DERIVE_KEY, false, ver));
		for (int skip = 0; skip < 5; skip++) {
			n = derive_req(buf, sizeof buf, ver, skip, 2, true);
			assert_int_equal(dec(buf, n, KMIP_OPERATION_DERIVE_KEY, false, ver),
					 CF_E_MISSING);
		}
		n = derive_req(buf, sizeof buf, ver, -1, 0, true); /* no Unique Identifier */
		assert_int_equal(dec(buf, n, KMIP_OPERATION_DERIVE_KEY, false, ver), CF_E_MISSING);
		n = derive_req(buf, sizeof buf, ver, -1, 1, false); /* PBKDF2 without Iteration Count */
		assert_int_equal(dec(buf, n, KMIP_OPERATION_DERIVE_KEY, false, ver), CF_E_MISSING);
	}
	/* the Unique Identifier count is bounded by the limits (max_attributes) */
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	struct kmip_arena a = fresh_arena();
	struct kmip_payload out;
	lim.max_attributes = 4;
	size_t n = derive_req(buf, sizeof buf, KMIP_V1_4, -1, 4, true);
	W(kmip_payload_decode(buf, n, KMIP_OPERATION_DERIVE_KEY, false, KMIP_V1_4, &lim, &a, &out));
	assert_int_equal(out.u.derive_req.n_uids, 4);
	n = derive_req(buf, sizeof buf, KMIP_V1_4, -1, 5, true);
	a = fresh_arena();
	assert_int_equal(kmip_payload_decode(buf, n, KMIP_OPERATION_DERIVE_KEY, false, KMIP_V1_4,
					     &lim, &a, &out), CF_E_TOO_MANY);
	/* an arena too small for the array */
	uint8_t small[64];
	kmip_arena_init(&a, small, sizeof small);
	n = derive_req(buf, sizeof buf, KMIP_V1_4, -1, 200, true);
	assert_int_equal(kmip_payload_decode(buf, n, KMIP_OPERATION_DERIVE_KEY, false, KMIP_V1_4,
					     NULL, &a, &out), CF_E_NOMEM);
	/* the 1.x template form in 2.0 and the reverse */
	n = derive_req(buf, sizeof buf, KMIP_V1_4, -1, 1, true);
	assert_int_equal(dec(buf, n, KMIP_OPERATION_DERIVE_KEY, false, KMIP_V2_0), CF_E_MISSING);
	n = derive_req(buf, sizeof buf, KMIP_V2_0, -1, 1, true);
	assert_int_equal(dec(buf, n, KMIP_OPERATION_DERIVE_KEY, false, KMIP_V1_4), CF_E_MISSING);
	/* Iteration Count 0; a Derivation Parameters field twice */
	struct kmip_payload pl = { .op = KMIP_OPERATION_DERIVE_KEY, .typed = true };
	uint8_t vbuf[8];
	ttlv_wr w;
	fill_derive(&pl.u.derive_req, vbuf);
	pl.u.derive_req.dp.iterations = 0;
	ttlv_wr_init(&w, buf, sizeof buf);
	W(kmip_payload_encode(&w, &pl, false, KMIP_V1_4));
	assert_int_equal(dec(buf + 8, ttlv_wr_len(&w) - 8, KMIP_OPERATION_DERIVE_KEY, false,
			     KMIP_V1_4), CF_E_BAD_VALUE);
	/* the encoder refuses 0 Unique Identifiers */
	pl.u.derive_req.dp.iterations = 1;
	pl.u.derive_req.n_uids = 0;
	ttlv_wr_init(&w, buf, sizeof buf);
	assert_int_equal(kmip_payload_encode(&w, &pl, false, KMIP_V1_4), CF_E_MISSING);
}

/* kmip_dump (coffre ttlv decode) prints the payloads; Derivation Data is redacted */
static void test_dump(void **state)
{
	struct kmip_payload pl = { .op = KMIP_OPERATION_DERIVE_KEY, .typed = true };
	struct kmip_dump_opts o = { .show_secrets = false };
	struct kmip_dump_err err;
	static char text[8192];
	uint8_t buf[1024], vbuf[8];
	size_t len;
	ttlv_wr w;
	(void)state;

	fill_derive(&pl.u.derive_req, vbuf);
	ttlv_wr_init(&w, buf, sizeof buf);
	W(kmip_payload_encode(&w, &pl, false, KMIP_V1_4));
	W(kmip_dump_buf(buf, ttlv_wr_len(&w), &o, text, sizeof text, &len, &err));
	assert_non_null(strstr(text, "Derivation Method (0x420031) Enumeration: PBKDF2"));
	assert_non_null(strstr(text, "Derivation Data (0x420030) Byte String: <8 bytes redacted>"));
	assert_null(strstr(text, "70617373776f7264")); /* "password" */
	assert_non_null(strstr(text, "Iteration Count (0x42003C) Integer: 4096"));
	o.show_secrets = true;
	W(kmip_dump_buf(buf, ttlv_wr_len(&w), &o, text, sizeof text, &len, &err));
	assert_non_null(strstr(text, "70617373776f7264"));

	memset(&pl.u, 0, sizeof pl.u);
	pl.op = KMIP_OPERATION_SIGNATURE_VERIFY;
	pl.u.crypt.uid = (struct kmip_text){ "k", 1 };
	pl.u.crypt.has_validity = true;
	pl.u.crypt.validity = KMIP_VALIDITY_INDICATOR_INVALID;
	ttlv_wr_init(&w, buf, sizeof buf);
	W(kmip_payload_encode(&w, &pl, true, KMIP_V1_4));
	W(kmip_dump_buf(buf, ttlv_wr_len(&w), &o, text, sizeof text, &len, &err));
	assert_non_null(strstr(text, "Validity Indicator (0x42009B) Enumeration: Invalid"));
}

static void test_typed_list_and_result(void **state)
{
	static const uint32_t ops[] = {
		KMIP_OPERATION_ENCRYPT, KMIP_OPERATION_DECRYPT, KMIP_OPERATION_SIGN,
		KMIP_OPERATION_SIGNATURE_VERIFY, KMIP_OPERATION_MAC, KMIP_OPERATION_MAC_VERIFY,
		KMIP_OPERATION_HASH, KMIP_OPERATION_RNG_RETRIEVE, KMIP_OPERATION_RNG_SEED,
		KMIP_OPERATION_DERIVE_KEY,
	};
	uint32_t st, re;
	(void)state;

	for (size_t i = 0; i < N(ops); i++)
		assert_true(kmip_op_typed(ops[i]));
	assert_true(kmip_op_typed(KMIP_OPERATION_CERTIFY)); /* kmip_cert.c */
	assert_false(kmip_op_typed(KMIP_OPERATION_NOTIFY));
	for (int v = 0; v < KMIP_V_COUNT; v++) {
		kmip_result_for_version(CF_E_HSM_CRYPTO, v, &st, &re);
		assert_int_equal(st, KMIP_RESULT_STATUS_OPERATION_FAILED);
		assert_int_equal(re, KMIP_RESULT_REASON_CRYPTOGRAPHIC_FAILURE);
	}
}

/* ---- --decode: whole messages from stdin (test_kmip_crypto_oasis.py) -------------------- */

static int decode_lines(void)
{
	static uint8_t arena[1 << 20];
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int bad = 0;

	while ((len = getline(&line, &cap, stdin)) > 0) {
		struct kmip_decode_error err;
		struct kmip_arena a;
		size_t n = 0;
		bool rsp = strncmp(line, "rsp ", 4) == 0;
		uint8_t *msg = malloc((size_t)len / 2 + 1);
		cf_err rc;

		if (msg == NULL)
			abort();
		for (ssize_t i = 4; i + 1 < len && line[i] != '\n'; i += 2) {
			unsigned b;
			if (sscanf(line + i, "%2x", &b) != 1)
				abort();
			msg[n++] = (uint8_t)b;
		}
		kmip_arena_init(&a, arena, sizeof arena);
		if (rsp) {
			struct kmip_response r;
			rc = kmip_decode_response(msg, n, NULL, &a, &r, &err);
			if (rc == CF_OK) {
				printf("ok");
				for (size_t i = 0; i < r.n_items; i++)
					printf(" %u:%s", (unsigned)r.items[i].op,
					       !r.items[i].has_payload ? "-" :
					       r.items[i].pl.typed ? "1" : "0");
			}
		} else {
			struct kmip_request r;
			rc = kmip_decode_request(msg, n, NULL, &a, &r, &err);
			if (rc == CF_OK) {
				printf("ok");
				for (size_t i = 0; i < r.n_items; i++)
					printf(" %u:%s", (unsigned)r.items[i].op,
					       r.items[i].pl.typed ? "1" : "0");
			}
		}
		if (rc != CF_OK) {
			printf("FAIL %s at offset %zu tag 0x%06X", cf_err_str(rc),
			       err.has_pos ? err.offset : 0, (unsigned)err.tag);
			bad++;
		}
		printf("\n");
		free(msg);
	}
	free(line);
	return bad > 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--decode") == 0)
		return decode_lines();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crypt_roundtrip),
		cmocka_unit_test(test_rng_roundtrip),
		cmocka_unit_test(test_derive_roundtrip),
		cmocka_unit_test(test_derive_repeated_data),
		cmocka_unit_test(test_crypt_version_fields),
		cmocka_unit_test(test_crypt_order_dup_type),
		cmocka_unit_test(test_crypt_missing),
		cmocka_unit_test(test_crypt_params_contents),
		cmocka_unit_test(test_crypto_params_decode),
		cmocka_unit_test(test_rng_refusals),
		cmocka_unit_test(test_derive_refusals),
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_typed_list_and_result),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
