/* Key formats of Public and Private Keys and the certificate attributes, through OpenSSL 3.
 *
 * A key is stored in one canonical form (Private Key: PKCS#8 PrivateKeyInfo DER, Public Key:
 * SubjectPublicKeyInfo DER); Register converts what the client sent into it, Get converts it
 * into the Key Format Type the client asks for (or the registered one):
 *   Private Key: PKCS#8, PKCS#1 (RSA), ECPrivateKey (EC), Transparent RSA / EC Private Key;
 *   Public Key:  X.509 (SubjectPublicKeyInfo), PKCS#1 (RSA), Transparent RSA / EC Public Key.
 * Anything else is Key Format Type Not Supported. Plaintext private keys are written only
 * into the worker's locked key buffer (wiped after the response is encoded); OpenSSL's own
 * copies (BIGNUMs, the decoded key) are freed with its clearing free functions.
 *
 *= kmip-spec-v1.4 section 2.1.7 (Transparent Key Structures), 9.1.3.2.3 (Key Format Type). */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "board/sec.h"
#include "firmware/ops/ops_int.h"

#define BIG_MAX 1032u /* a Big Integer value of up to 8192 bits, sign byte, padding */

static cf_err bad_key(struct ops_item *it, const char *msg)
{
	return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_INVALID_FIELD, msg);
}

static cf_err no_format(struct ops_item *it, const char *msg)
{
	return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED, msg);
}

/* ---- curves and algorithms ------------------------------------------------------------ */

static const struct {
	uint32_t kmip;
	int nid;
} curves[] = {
	{ KMIP_RECOMMENDED_CURVE_P_192, NID_X9_62_prime192v1 },
	{ KMIP_RECOMMENDED_CURVE_P_224, NID_secp224r1 },
	{ KMIP_RECOMMENDED_CURVE_P_256, NID_X9_62_prime256v1 },
	{ KMIP_RECOMMENDED_CURVE_P_384, NID_secp384r1 },
	{ KMIP_RECOMMENDED_CURVE_P_521, NID_secp521r1 },
};

static int curve_nid(uint32_t kmip)
{
	for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
		if (curves[i].kmip == kmip)
			return curves[i].nid;
	return NID_undef;
}

static uint32_t curve_kmip(const EVP_PKEY *k)
{
	char name[64];
	size_t n = 0;
	if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &n))
		return 0;
	int nid = OBJ_sn2nid(name);
	for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
		if (curves[i].nid == nid)
			return curves[i].kmip;
	return 0;
}

enum kind { K_OTHER, K_RSA, K_EC, K_DSA };

static enum kind key_kind(const EVP_PKEY *k)
{
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS: return K_RSA;
	case EVP_PKEY_EC: return K_EC;
	case EVP_PKEY_DSA: return K_DSA;
	default: return K_OTHER;
	}
}

/* Does the client's Cryptographic Algorithm fit the key? */
static bool alg_fits(enum kind kd, uint32_t alg)
{
	switch (kd) {
	case K_RSA: return alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_RSA;
	case K_EC:
		return alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_EC ||
		       alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_ECDSA ||
		       alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_ECDH ||
		       alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_ECMQV;
	case K_DSA: return alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_DSA;
	default: return true;
	}
}

static uint32_t alg_default(enum kind kd, int ver)
{
	switch (kd) {
	case K_RSA: return KMIP_CRYPTOGRAPHIC_ALGORITHM_RSA;
	case K_EC: return ver >= KMIP_V1_2 ? KMIP_CRYPTOGRAPHIC_ALGORITHM_EC
					   : KMIP_CRYPTOGRAPHIC_ALGORITHM_ECDSA;
	case K_DSA: return KMIP_CRYPTOGRAPHIC_ALGORITHM_DSA;
	default: return 0;
	}
}

/* ---- Transparent structures: Big Integers <-> BIGNUM ---------------------------------- */

/* A positive Big Integer value (two's complement, big-endian) as a BIGNUM (cleared on free). */
static BIGNUM *big_in(const struct ttlv_item *v)
{
	if (v->type != TTLV_BIG_INTEGER || v->len == 0 || (v->val[0] & 0x80u) != 0)
		return NULL;
	BIGNUM *bn = BN_secure_new();
	if (bn != NULL && BN_bin2bn(v->val, (int)v->len, bn) == NULL) {
		BN_clear_free(bn);
		return NULL;
	}
	return bn;
}

/* bn as a Big Integer item: sign byte, padded to a multiple of 8 (scratch[BIG_MAX]). */
static cf_err big_out(ttlv_wr *w, uint32_t tag, const BIGNUM *bn, uint8_t *scratch)
{
	size_t n = ((size_t)BN_num_bits(bn) / 8u + 1u + 7u) & ~(size_t)7u;
	if (n > BIG_MAX || BN_bn2binpad(bn, scratch, (int)n) < 0)
		return CF_E_TOO_LARGE;
	cf_err rc = ttlv_wr_bigint(w, tag, scratch, n);
	sec_wipe(scratch, n);
	return rc;
}

/* The Transparent Key's items by tag (tags[n] in any order, each at most once). */
static cf_err items_of(const struct kmip_bytes *m, const uint32_t *tags, size_t n,
		       struct ttlv_item *out)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	ttlv_rd rd;
	struct ttlv_item v;

	memset(out, 0, n * sizeof *out);
	if (m->p == NULL)
		return CF_E_MISSING;
	ttlv_rd_init(&rd, m->p, m->n, &lim);
	while (!ttlv_rd_done(&rd)) {
		size_t i;
		TRY(ttlv_rd_next(&rd, &v));
		for (i = 0; i < n && tags[i] != v.tag; i++)
			;
		if (i == n || out[i].tag != 0)
			return CF_E_BAD_OBJECT;
		out[i] = v;
	}
	return CF_OK;
}

static const uint32_t rsa_tags[] = {
	KMIP_TAG_MODULUS, KMIP_TAG_PUBLIC_EXPONENT, KMIP_TAG_PRIVATE_EXPONENT, KMIP_TAG_P,
	KMIP_TAG_Q, KMIP_TAG_PRIME_EXPONENT_P, KMIP_TAG_PRIME_EXPONENT_Q, KMIP_TAG_CRT_COEFFICIENT,
};
static const char *const rsa_params[] = {
	OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, OSSL_PKEY_PARAM_RSA_D,
	OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
	OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
};
#define N_RSA 8u

static EVP_PKEY *from_params(const char *type, int sel, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *k = NULL;
	if (params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &k, sel, params) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params); /* its secure part (the BN_secure_new values) is cleared */
	return k;
}

/* Transparent RSA Public (n, e) or Private Key (n, e, d and the CRT values). */
static EVP_PKEY *rsa_in(const struct kmip_bytes *m, bool priv)
{
	struct ttlv_item v[N_RSA];
	BIGNUM *bn[N_RSA] = { 0 };
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *k = NULL;
	size_t want = priv ? N_RSA : 2u, have = 0;

	if (items_of(m, rsa_tags, want, v) != CF_OK || (bld = OSSL_PARAM_BLD_new()) == NULL)
		goto out;
	for (size_t i = 0; i < want; i++) {
		if (v[i].tag == 0)
			continue;
		if ((bn[i] = big_in(&v[i])) == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, rsa_params[i], bn[i]))
			goto out;
		have++;
	}
	if (have != want)
		goto out; /* n and e; a private key with every CRT value */
	k = from_params("RSA", priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, bld);
out:
	for (size_t i = 0; i < N_RSA; i++)
		BN_clear_free(bn[i]);
	OSSL_PARAM_BLD_free(bld);
	return k;
}

/* The public point d*G of a private scalar (octets, uncompressed) into pub[cap]. */
static size_t ec_pub_of(int nid, const BIGNUM *d, uint8_t *pub, size_t cap)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(nid);
	EC_POINT *pt = g != NULL ? EC_POINT_new(g) : NULL;
	size_t n = 0;
	if (pt != NULL && EC_POINT_mul(g, pt, d, NULL, NULL, NULL) == 1)
		n = EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, pub, cap, NULL);
	EC_POINT_free(pt);
	EC_GROUP_free(g);
	return n;
}

/* Transparent EC Public (Recommended Curve, Q String) or Private Key (Recommended Curve, D). */
static EVP_PKEY *ec_in(const struct kmip_bytes *m, bool priv)
{
	const uint32_t tags[2] = { KMIP_TAG_RECOMMENDED_CURVE, priv ? KMIP_TAG_D : KMIP_TAG_Q_STRING };
	struct ttlv_item v[2];
	uint8_t pub[160];
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *d = NULL;
	EVP_PKEY *k = NULL;
	int nid;

	if (items_of(m, tags, 2, v) != CF_OK || v[0].type != TTLV_ENUMERATION || v[1].tag == 0 ||
	    (nid = curve_nid(ttlv_item_u32(&v[0]))) == NID_undef ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(nid), 0))
		goto out;
	if (priv) {
		size_t pn;
		if ((d = big_in(&v[1])) == NULL || (pn = ec_pub_of(nid, d, pub, sizeof pub)) == 0 ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pn))
			goto out;
	} else if (v[1].type != TTLV_BYTE_STRING || v[1].len == 0 ||
		   !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, v[1].val,
						     v[1].len)) {
		goto out;
	}
	k = from_params("EC", priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, bld);
	if (k != NULL && !priv) {
		/* a point that is not on the curve is refused here */
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
		if (c == NULL || EVP_PKEY_public_check(c) != 1) {
			EVP_PKEY_free(k);
			k = NULL;
		}
		EVP_PKEY_CTX_free(c);
	}
out:
	BN_clear_free(d);
	OSSL_PARAM_BLD_free(bld);
	return k;
}

/* ---- import --------------------------------------------------------------------------- */

/* DER of the whole input (trailing bytes refused) in the client's format. */
static EVP_PKEY *key_in(uint32_t type, const struct kmip_key_block *kb)
{
	const unsigned char *p = kb->material.p, *end;
	long n = (long)kb->material.n;
	bool priv = type == KMIP_OBJECT_TYPE_PRIVATE_KEY;
	EVP_PKEY *k = NULL;

	if (kb->material_type == TTLV_STRUCTURE) {
		switch (kb->format) {
		case KMIP_KEY_FORMAT_TYPE_TRANSPARENT_RSA_PRIVATE_KEY:
			return priv ? rsa_in(&kb->material, true) : NULL;
		case KMIP_KEY_FORMAT_TYPE_TRANSPARENT_RSA_PUBLIC_KEY:
			return priv ? NULL : rsa_in(&kb->material, false);
		case KMIP_KEY_FORMAT_TYPE_TRANSPARENT_EC_PRIVATE_KEY:
			return priv ? ec_in(&kb->material, true) : NULL;
		case KMIP_KEY_FORMAT_TYPE_TRANSPARENT_EC_PUBLIC_KEY:
			return priv ? NULL : ec_in(&kb->material, false);
		default:
			return NULL;
		}
	}
	if (p == NULL || n <= 0)
		return NULL;
	end = p + kb->material.n;
	if (priv && kb->format == KMIP_KEY_FORMAT_TYPE_PKCS_8) {
		PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, n);
		if (p8 != NULL)
			k = EVP_PKCS82PKEY(p8);
		PKCS8_PRIV_KEY_INFO_free(p8);
	} else if (priv && kb->format == KMIP_KEY_FORMAT_TYPE_PKCS_1) {
		k = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, n);
	} else if (priv && kb->format == KMIP_KEY_FORMAT_TYPE_ECPRIVATEKEY) {
		k = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, n);
	} else if (!priv && kb->format == KMIP_KEY_FORMAT_TYPE_X_509) {
		k = d2i_PUBKEY(NULL, &p, n);
	} else if (!priv && kb->format == KMIP_KEY_FORMAT_TYPE_PKCS_1) {
		k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, n);
	}
	if (k != NULL && p != end) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	return k;
}

static bool format_in_ok(uint32_t type, uint32_t f)
{
	if (type == KMIP_OBJECT_TYPE_PRIVATE_KEY)
		return f == KMIP_KEY_FORMAT_TYPE_PKCS_8 || f == KMIP_KEY_FORMAT_TYPE_PKCS_1 ||
		       f == KMIP_KEY_FORMAT_TYPE_ECPRIVATEKEY ||
		       f == KMIP_KEY_FORMAT_TYPE_TRANSPARENT_RSA_PRIVATE_KEY ||
		       f == KMIP_KEY_FORMAT_TYPE_TRANSPARENT_EC_PRIVATE_KEY;
	return f == KMIP_KEY_FORMAT_TYPE_X_509 || f == KMIP_KEY_FORMAT_TYPE_PKCS_1 ||
	       f == KMIP_KEY_FORMAT_TYPE_TRANSPARENT_RSA_PUBLIC_KEY ||
	       f == KMIP_KEY_FORMAT_TYPE_TRANSPARENT_EC_PUBLIC_KEY;
}

/* The canonical DER of k into out[cap]. */
static cf_err canon_out(uint32_t type, EVP_PKEY *k, uint8_t *out, size_t cap, size_t *out_n)
{
	unsigned char *p = out;
	int n;
	if (type == KMIP_OBJECT_TYPE_PRIVATE_KEY) {
		PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
		n = p8 != NULL ? i2d_PKCS8_PRIV_KEY_INFO(p8, NULL) : -1;
		if (n > 0 && (size_t)n <= cap)
			n = i2d_PKCS8_PRIV_KEY_INFO(p8, &p);
		PKCS8_PRIV_KEY_INFO_free(p8);
	} else {
		n = i2d_PUBKEY(k, NULL);
		if (n > 0 && (size_t)n <= cap)
			n = i2d_PUBKEY(k, &p);
	}
	if (n <= 0)
		return CF_E_BAD_OBJECT;
	if ((size_t)n > cap)
		return CF_E_TOO_LARGE;
	*out_n = (size_t)n;
	return CF_OK;
}

cf_err ops_keyfmt_import(struct ops_req *r, struct ops_item *it, uint32_t type,
			 const struct kmip_key_block *kb, uint8_t *out, size_t cap, size_t *out_n,
			 struct ops_keyinfo *ki)
{
	EVP_PKEY *k;
	enum kind kd;
	cf_err rc;

	*out_n = 0;
	memset(ki, 0, sizeof *ki);
	if (!format_in_ok(type, kb->format))
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
				"key format not supported for this object type");
	if ((k = key_in(type, kb)) == NULL)
		return bad_key(it, "key material does not parse in its Key Format Type");
	kd = key_kind(k);
	ki->format = kb->format;
	ki->len = EVP_PKEY_get_bits(k);
	ki->alg = kb->has_alg ? kb->alg : alg_default(kd, r->ver);
	if (kb->has_alg && !alg_fits(kd, kb->alg))
		rc = bad_key(it, "Cryptographic Algorithm does not match the key");
	else if (kb->has_len && kb->len != ki->len)
		rc = bad_key(it, "Cryptographic Length does not match the key");
	else if ((rc = canon_out(type, k, out, cap, out_n)) != CF_OK)
		rc = bad_key(it, "key too large or not encodable");
	EVP_PKEY_free(k);
	if (rc != CF_OK) {
		sec_wipe(out, cap);
		*out_n = 0;
	}
	return rc;
}

/* ---- export --------------------------------------------------------------------------- */

static EVP_PKEY *canon_in(uint32_t type, const uint8_t *der, size_t n)
{
	struct kmip_key_block kb = { 0 };
	kb.material_type = TTLV_BYTE_STRING;
	kb.material = (struct kmip_bytes){ der, n };
	kb.format = type == KMIP_OBJECT_TYPE_PRIVATE_KEY ? KMIP_KEY_FORMAT_TYPE_PKCS_8
							 : KMIP_KEY_FORMAT_TYPE_X_509;
	return key_in(type, &kb);
}

/* Transparent RSA (8 or 2 values) or EC key (curve + D or Q String) as Key Material
 * contents into w. */
static cf_err transparent_out(EVP_PKEY *k, enum kind kd, bool priv, ttlv_wr *w, uint8_t *scratch)
{
	cf_err rc = CF_OK;
	if (kd == K_RSA) {
		for (size_t i = 0; i < (priv ? N_RSA : 2u) && rc == CF_OK; i++) {
			BIGNUM *bn = NULL;
			if (!EVP_PKEY_get_bn_param(k, rsa_params[i], &bn))
				rc = i < 3 ? CF_E_BAD_OBJECT : CF_OK; /* a key without CRT values */
			else
				rc = big_out(w, rsa_tags[i], bn, scratch);
			BN_clear_free(bn);
		}
		return rc;
	}
	uint32_t curve = curve_kmip(k);
	if (curve == 0)
		return CF_E_BAD_OBJECT;
	TRY(ttlv_wr_enum(w, KMIP_TAG_RECOMMENDED_CURVE, curve));
	if (priv) {
		BIGNUM *d = NULL;
		if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d))
			return CF_E_BAD_OBJECT;
		rc = big_out(w, KMIP_TAG_D, d, scratch);
		BN_clear_free(d);
		return rc;
	}
	size_t pn = 0;
	if (!EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, scratch, BIG_MAX, &pn))
		return CF_E_BAD_OBJECT;
	return ttlv_wr_bytes(w, KMIP_TAG_Q_STRING, scratch, pn);
}

/* May a key of this kind be given in format f? */
static bool format_out_ok(uint32_t type, enum kind kd, uint32_t f)
{
	bool priv = type == KMIP_OBJECT_TYPE_PRIVATE_KEY;
	switch (f) {
	case KMIP_KEY_FORMAT_TYPE_PKCS_8: return priv;
	case KMIP_KEY_FORMAT_TYPE_X_509: return !priv;
	case KMIP_KEY_FORMAT_TYPE_PKCS_1: return kd == K_RSA;
	case KMIP_KEY_FORMAT_TYPE_ECPRIVATEKEY: return priv && kd == K_EC;
	case KMIP_KEY_FORMAT_TYPE_TRANSPARENT_RSA_PRIVATE_KEY: return priv && kd == K_RSA;
	case KMIP_KEY_FORMAT_TYPE_TRANSPARENT_RSA_PUBLIC_KEY: return !priv && kd == K_RSA;
	case KMIP_KEY_FORMAT_TYPE_TRANSPARENT_EC_PRIVATE_KEY: return priv && kd == K_EC;
	case KMIP_KEY_FORMAT_TYPE_TRANSPARENT_EC_PUBLIC_KEY: return !priv && kd == K_EC;
	default: return false;
	}
}

/* k in format f into out[cap]: *n bytes, *structure when it is a Transparent Key. */
static cf_err convert(uint32_t type, EVP_PKEY *k, uint32_t f, uint8_t *out, size_t cap,
		      uint8_t *scratch, size_t *n, bool *structure)
{
	bool priv = type == KMIP_OBJECT_TYPE_PRIVATE_KEY;
	unsigned char *p = out;
	int len;

	*structure = false;
	if (f >= KMIP_KEY_FORMAT_TYPE_TRANSPARENT_RSA_PRIVATE_KEY) {
		ttlv_wr w;
		ttlv_wr_init(&w, out, cap);
		TRY(transparent_out(k, key_kind(k), priv, &w, scratch));
		*n = ttlv_wr_len(&w);
		*structure = true;
		return CF_OK;
	}
	/* PKCS#1 and ECPrivateKey are the "type-specific" encodings of i2d_PrivateKey /
	 * i2d_PublicKey */
	len = priv ? i2d_PrivateKey(k, NULL) : i2d_PublicKey(k, NULL);
	if (len <= 0)
		return CF_E_BAD_OBJECT;
	if ((size_t)len > cap)
		return CF_E_NO_SPACE;
	len = priv ? i2d_PrivateKey(k, &p) : i2d_PublicKey(k, &p);
	if (len <= 0)
		return CF_E_BAD_OBJECT;
	*n = (size_t)len;
	return CF_OK;
}

cf_err ops_keyfmt_export(struct ops_req *r, struct ops_item *it, uint32_t type,
			 const uint8_t *der, size_t n, uint32_t format, struct kmip_key_block *kb)
{
	EVP_PKEY *k;
	uint8_t *out = NULL, *scratch = NULL;
	size_t cap = n + 1024u, on = 0;
	bool structure = false;
	cf_err rc;

	if ((k = canon_in(type, der, n)) == NULL)
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_GENERAL_FAILURE,
				"stored key does not parse");
	if (format == 0) /* no registered format (a generated pair): RSA as PKCS#1 */
		format = key_kind(k) == K_RSA ? KMIP_KEY_FORMAT_TYPE_PKCS_1
		       : type == KMIP_OBJECT_TYPE_PRIVATE_KEY ? KMIP_KEY_FORMAT_TYPE_PKCS_8
							    : KMIP_KEY_FORMAT_TYPE_X_509;
	kb->format = format;
	if (!format_out_ok(type, key_kind(k), format)) {
		EVP_PKEY_free(k);
		return no_format(it, "this key cannot be given in that Key Format Type");
	}
	if ((format == KMIP_KEY_FORMAT_TYPE_PKCS_8 && type == KMIP_OBJECT_TYPE_PRIVATE_KEY) ||
	    (format == KMIP_KEY_FORMAT_TYPE_X_509 && type == KMIP_OBJECT_TYPE_PUBLIC_KEY)) {
		EVP_PKEY_free(k);
		kb->material_type = TTLV_BYTE_STRING;
		kb->material = (struct kmip_bytes){ der, n };
		return CF_OK;
	}
	if ((rc = ops_keybuf(r, BIG_MAX, &scratch)) == CF_OK)
		rc = ops_keybuf(r, cap, &out);
	if (rc == CF_OK)
		rc = convert(type, k, format, out, cap, scratch, &on, &structure);
	EVP_PKEY_free(k);
	if (scratch != NULL)
		sec_wipe(scratch, BIG_MAX);
	if (rc != CF_OK) {
		if (out != NULL)
			sec_wipe(out, cap);
		return ops_fail(it, rc, rc == CF_E_NO_SPACE ? KMIP_RESULT_REASON_RESPONSE_TOO_LARGE
							    : KMIP_RESULT_REASON_GENERAL_FAILURE,
				"key conversion failed");
	}
	ops_keybuf_trim(r, out, cap, on);
	kb->material_type = structure ? TTLV_STRUCTURE : TTLV_BYTE_STRING;
	kb->material = (struct kmip_bytes){ out, on };
	return CF_OK;
}

/* ---- Digest and certificates ---------------------------------------------------------- */

/* SHA-256 of data[n] into md. */
static cf_err sha256(const uint8_t *data, size_t n, uint8_t md[HSM_SHA256_LEN])
{
	unsigned int mdn = 0;
	if (EVP_Digest(data, n, md, &mdn, EVP_sha256(), NULL) != 1 || mdn != HSM_SHA256_LEN)
		return CF_E_INTERNAL;
	return CF_OK;
}

cf_err ops_keyfmt_digest(struct ops_req *r, uint32_t type, const uint8_t *der, size_t n,
			 uint8_t md[HSM_SHA256_LEN])
{
	EVP_PKEY *k = canon_in(type, der, n);
	uint8_t *buf = NULL;
	unsigned char *p;
	int len;
	cf_err rc;

	if (k == NULL)
		return CF_E_BAD_OBJECT;
	if (key_kind(k) != K_RSA) {
		EVP_PKEY_free(k);
		return sha256(der, n, md); /* PKCS#8 / X.509 (ops_srvattr.c names the format) */
	}
	/* RSA: the digest of the PKCS#1 form, as the profiles' test cases show it */
	len = type == KMIP_OBJECT_TYPE_PRIVATE_KEY ? i2d_PrivateKey(k, NULL) : i2d_PublicKey(k, NULL);
	rc = len > 0 ? ops_keybuf(r, (size_t)len, &buf) : CF_E_BAD_OBJECT;
	if (rc == CF_OK) {
		p = buf;
		len = type == KMIP_OBJECT_TYPE_PRIVATE_KEY ? i2d_PrivateKey(k, &p) : i2d_PublicKey(k, &p);
		rc = len > 0 ? sha256(buf, (size_t)len, md) : CF_E_BAD_OBJECT;
		sec_wipe(buf, (size_t)(p - buf));
	}
	EVP_PKEY_free(k);
	return rc;
}

/* A TTLV item header (tag, type, length) into h[8]. */
static void ttlv_head(uint8_t h[8], uint32_t tag, uint8_t type, size_t len)
{
	h[0] = (uint8_t)(tag >> 16);
	h[1] = (uint8_t)(tag >> 8);
	h[2] = (uint8_t)tag;
	h[3] = type;
	h[4] = (uint8_t)(len >> 24);
	h[5] = (uint8_t)(len >> 16);
	h[6] = (uint8_t)(len >> 8);
	h[7] = (uint8_t)len;
}

cf_err ops_keyfmt_digest_reg(const struct kmip_key_block *kb, uint8_t md[HSM_SHA256_LEN])
{
	static const uint8_t zero[8];
	uint8_t h[16];
	size_t hn = 8, pad = 0, n = kb->material.n;
	unsigned int mdn = 0;
	EVP_MD_CTX *c;
	int ok;

	if (kb->material_type == TTLV_BYTE_STRING)
		return sha256(kb->material.p, n, md);
	if (n > UINT32_MAX - 16)
		return CF_E_BAD_OBJECT;
	if (kb->format == KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY) {
		/* the decoder kept the Key bytes only: Key Material { Key } re-encoded around them */
		pad = (8 - n % 8) % 8;
		ttlv_head(h, KMIP_TAG_KEY_MATERIAL, TTLV_STRUCTURE, 8 + n + pad);
		ttlv_head(h + 8, KMIP_TAG_KEY, TTLV_BYTE_STRING, n);
		hn = 16;
	} else {
		/* the Structure's encoded contents, as validated by the decoder */
		ttlv_head(h, KMIP_TAG_KEY_MATERIAL, TTLV_STRUCTURE, n);
	}
	if ((c = EVP_MD_CTX_new()) == NULL)
		return CF_E_NOMEM;
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(c, h, hn) == 1 &&
	     EVP_DigestUpdate(c, kb->material.p, n) == 1 && EVP_DigestUpdate(c, zero, pad) == 1 &&
	     EVP_DigestFinal_ex(c, md, &mdn) == 1 && mdn == HSM_SHA256_LEN;
	EVP_MD_CTX_free(c);
	return ok ? CF_OK : CF_E_INTERNAL;
}

/* Rows being built for a certificate. */
struct rows {
	struct ops_req *r;
	struct store_attr *v;
	size_t cap, n;
};

static cf_err row_next(struct rows *rw, uint32_t tag, uint8_t type, struct store_attr **out)
{
	if (rw->n >= rw->cap)
		return CF_E_INTERNAL;
	struct store_attr *sa = &rw->v[rw->n++];
	memset(sa, 0, sizeof *sa);
	sa->name = kmip_tag_name(tag);
	sa->value_type = type;
	*out = sa;
	return CF_OK;
}

static cf_err row_int(struct rows *rw, uint32_t tag, uint8_t type, int64_t v)
{
	struct store_attr *sa;
	TRY(row_next(rw, tag, type, &sa));
	sa->has_int = true;
	sa->v_int = v;
	return CF_OK;
}

/* A structure row with the contents written in w (copied into the arena). */
static cf_err row_struct(struct rows *rw, uint32_t tag, const ttlv_wr *w)
{
	struct store_attr *sa;
	void *p;
	if (w->err != CF_OK)
		return w->err;
	TRY(ops_dup(rw->r, w->p, ttlv_wr_len(w), &p));
	TRY(row_next(rw, tag, TTLV_STRUCTURE, &sa));
	sa->v_blob = p;
	sa->v_blob_len = ttlv_wr_len(w);
	return CF_OK;
}

/* DER of a name into buf[cap] (0 when too large). */
static size_t name_der(const X509_NAME *nm, uint8_t *buf, size_t cap)
{
	const unsigned char *der = NULL;
	size_t n = 0;
	if (X509_NAME_get0_der(nm, &der, &n) != 1 || n > cap)
		return 0;
	memcpy(buf, der, n);
	return n;
}

/* One-line text of a name ("CN=a, O=b"), NUL-terminated in buf[cap]. */
static size_t name_text(const X509_NAME *nm, char *buf, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = -1;
	if (b != NULL && X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253) >= 0)
		n = BIO_read(b, buf, (int)cap - 1);
	BIO_free(b);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return (size_t)n;
}

static const struct {
	int nid;
	uint32_t kmip;
} sig_algs[] = {
	{ NID_sha1WithRSAEncryption, KMIP_DIGITAL_SIGNATURE_ALGORITHM_SHA_1_WITH_RSA_ENCRYPTION },
	{ NID_sha224WithRSAEncryption, KMIP_DIGITAL_SIGNATURE_ALGORITHM_SHA_224_WITH_RSA_ENCRYPTION },
	{ NID_sha256WithRSAEncryption, KMIP_DIGITAL_SIGNATURE_ALGORITHM_SHA_256_WITH_RSA_ENCRYPTION },
	{ NID_sha384WithRSAEncryption, KMIP_DIGITAL_SIGNATURE_ALGORITHM_SHA_384_WITH_RSA_ENCRYPTION },
	{ NID_sha512WithRSAEncryption, KMIP_DIGITAL_SIGNATURE_ALGORITHM_SHA_512_WITH_RSA_ENCRYPTION },
	{ NID_rsassaPss, KMIP_DIGITAL_SIGNATURE_ALGORITHM_RSASSA_PSS },
	{ NID_ecdsa_with_SHA1, KMIP_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA_1 },
	{ NID_ecdsa_with_SHA224, KMIP_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA224 },
	{ NID_ecdsa_with_SHA256, KMIP_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA256 },
	{ NID_ecdsa_with_SHA384, KMIP_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA384 },
	{ NID_ecdsa_with_SHA512, KMIP_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA512 },
	{ NID_dsaWithSHA1, KMIP_DIGITAL_SIGNATURE_ALGORITHM_DSA_WITH_SHA_1 },
};

static uint32_t sig_alg(const X509 *x)
{
	int nid = X509_get_signature_nid(x);
	for (size_t i = 0; i < sizeof sig_algs / sizeof sig_algs[0]; i++)
		if (sig_algs[i].nid == nid)
			return sig_algs[i].kmip;
	return 0;
}

/* A structure row of one or two primitive items (t2 == 0: one), built in buf[cap]. */
struct item {
	uint32_t tag;
	uint8_t type;
	const void *p;
	size_t n;
};

static cf_err row_items(struct rows *rw, uint32_t tag, uint8_t *buf, size_t cap,
			struct item a, struct item b)
{
	ttlv_wr w;
	ttlv_wr_init(&w, buf, cap);
	TRY(ttlv_wr_raw(&w, a.tag, a.type, a.p, a.n));
	if (b.tag != 0)
		TRY(ttlv_wr_raw(&w, b.tag, b.type, b.p, b.n));
	return row_struct(rw, tag, &w);
}

#define NONE ((struct item){ 0 })

/* X.509 Certificate Identifier / Subject / Issuer (1.1+) and Certificate Identifier /
 * Subject / Issuer (1.x, text): Get Attributes shows the ones of the request's version. */
static cf_err cert_names(struct rows *rw, const X509 *x, uint8_t *buf, size_t cap)
{
	const X509_NAME *subj = X509_get_subject_name(x), *iss = X509_get_issuer_name(x);
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	uint8_t *dn = buf + cap / 2;
	char text[1024];
	size_t n, tn;
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	char *dec = bn != NULL ? BN_bn2dec(bn) : NULL;
	struct item sn = { KMIP_TAG_CERTIFICATE_SERIAL_NUMBER, TTLV_BYTE_STRING, serial->data,
			   (size_t)serial->length };
	cf_err rc = CF_E_BAD_OBJECT;

	cap /= 2;
	if (dec == NULL || (n = name_der(iss, dn, cap)) == 0)
		goto out;
	struct item idn = { KMIP_TAG_ISSUER_DISTINGUISHED_NAME, TTLV_BYTE_STRING, dn, n };
	if ((rc = row_items(rw, KMIP_TAG_X_509_CERTIFICATE_IDENTIFIER, buf, cap, idn, sn)) != CF_OK ||
	    (rc = row_items(rw, KMIP_TAG_X_509_CERTIFICATE_ISSUER, buf, cap, idn, NONE)) != CF_OK)
		goto out;
	tn = name_text(iss, text, sizeof text);
	struct item itx = { KMIP_TAG_ISSUER, TTLV_TEXT_STRING, text, tn };
	struct item isn = { KMIP_TAG_SERIAL_NUMBER, TTLV_TEXT_STRING, dec, strlen(dec) };
	struct item icd = { KMIP_TAG_CERTIFICATE_ISSUER_DISTINGUISHED_NAME, TTLV_TEXT_STRING, text,
			    tn };
	if ((rc = row_items(rw, KMIP_TAG_CERTIFICATE_IDENTIFIER, buf, cap, itx, isn)) != CF_OK ||
	    (rc = row_items(rw, KMIP_TAG_CERTIFICATE_ISSUER, buf, cap, icd, NONE)) != CF_OK)
		goto out;
	rc = CF_E_BAD_OBJECT;
	if ((n = name_der(subj, dn, cap)) == 0)
		goto out;
	struct item sdn = { KMIP_TAG_SUBJECT_DISTINGUISHED_NAME, TTLV_BYTE_STRING, dn, n };
	if ((rc = row_items(rw, KMIP_TAG_X_509_CERTIFICATE_SUBJECT, buf, cap, sdn, NONE)) != CF_OK)
		goto out;
	tn = name_text(subj, text, sizeof text);
	struct item scd = { KMIP_TAG_CERTIFICATE_SUBJECT_DISTINGUISHED_NAME, TTLV_TEXT_STRING, text,
			    tn };
	rc = row_items(rw, KMIP_TAG_CERTIFICATE_SUBJECT, buf, cap, scd, NONE);
out:
	OPENSSL_free(dec);
	BN_free(bn);
	return rc;
}

cf_err ops_cert_rows(struct ops_req *r, struct ops_item *it, const uint8_t *der, size_t n,
		     struct store_attr *rows, size_t cap, size_t *n_rows, struct ops_keyinfo *ki)
{
	const unsigned char *p = der;
	struct rows rw = { r, rows + *n_rows, cap - *n_rows, 0 };
	X509 *x = NULL;
	EVP_PKEY *k;
	uint8_t *buf = NULL;
	void *vp;
	cf_err rc;

	memset(ki, 0, sizeof *ki);
	if (der == NULL || n == 0 || (x = d2i_X509(NULL, &p, (long)n)) == NULL || p != der + n) {
		X509_free(x);
		return bad_key(it, "certificate is not X.509 DER");
	}
	if ((k = X509_get0_pubkey(x)) != NULL) {
		ki->alg = alg_default(key_kind(k), r->ver);
		ki->len = ki->alg != 0 ? EVP_PKEY_get_bits(k) : 0;
	}
	if ((rc = kmip_arena_alloc(&r->w->arena, 4096, 1, &vp)) != CF_OK)
		goto out;
	buf = vp;
	if ((rc = row_int(&rw, KMIP_TAG_CERTIFICATE_TYPE, TTLV_ENUMERATION,
			  KMIP_CERTIFICATE_TYPE_X_509)) != CF_OK ||
	    (rc = row_int(&rw, KMIP_TAG_CERTIFICATE_LENGTH, TTLV_INTEGER, (int64_t)n)) != CF_OK)
		goto out;
	if (sig_alg(x) != 0 && (rc = row_int(&rw, KMIP_TAG_DIGITAL_SIGNATURE_ALGORITHM,
					     TTLV_ENUMERATION, sig_alg(x))) != CF_OK)
		goto out;
	if ((rc = cert_names(&rw, x, buf, 4096)) != CF_OK) {
		rc = bad_key(it, "certificate names too large");
		goto out;
	}
out: /* (its Digest: the SHA-256 of der, taken by the HSM with the wrap, ops_create.c) */
	X509_free(x);
	if (rc == CF_OK)
		*n_rows += rw.n;
	return rc;
}
