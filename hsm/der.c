/* The little DER that hsm/ emits: SubjectPublicKeyInfo for RSA and EC public keys read from
 * the token, and the ECDSA-Sig-Value of a raw r || s signature. Pure functions over bytes
 * (no PKCS#11 calls), so tests drive them directly. The input bytes come from the module and
 * are untrusted: the callers check lengths first, and every write here is bounds-checked by
 * one counting writer (out == NULL counts only: the two-call convention). */
#include <string.h>

#include "hsm/hsm_int.h"

/* counting writer: writes while off < cap, always counts */
struct dw {
	uint8_t *p;
	size_t cap;
	size_t off;
};

static void dw_byte(struct dw *w, uint8_t b)
{
	if (w->p != NULL && w->off < w->cap)
		w->p[w->off] = b;
	w->off++;
}

static void dw_bytes(struct dw *w, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dw_byte(w, b[i]);
}

/* contents of at most 0xffffff bytes: far above anything we build */
static size_t len_size(size_t c)
{
	return c < 0x80u ? 1u : c <= 0xffu ? 2u : c <= 0xffffu ? 3u : 4u;
}

static size_t tlv_size(size_t c)
{
	return 1u + len_size(c) + c;
}

static void dw_hdr(struct dw *w, uint8_t tag, size_t c)
{
	dw_byte(w, tag);
	size_t ls = len_size(c);
	if (ls == 1) {
		dw_byte(w, (uint8_t)c);
		return;
	}
	dw_byte(w, (uint8_t)(0x80u | (ls - 1u)));
	for (size_t i = ls - 1u; i > 0; i--)
		dw_byte(w, (uint8_t)(c >> (8u * (i - 1u))));
}

/* an unsigned big-endian integer as DER INTEGER contents: minimal, non-negative */
struct uint_be {
	const uint8_t *p;
	size_t n;       /* significant bytes (>= 1) */
	bool pad;       /* a 0x00 is prepended (high bit set) */
};

static struct uint_be uint_be_make(const uint8_t *p, size_t n)
{
	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	struct uint_be u = { p, n, (p[0] & 0x80u) != 0 };
	return u;
}

static size_t uint_be_clen(const struct uint_be *u)
{
	return u->n + (u->pad ? 1u : 0u);
}

static void dw_int(struct dw *w, const struct uint_be *u)
{
	dw_hdr(w, 0x02, uint_be_clen(u));
	if (u->pad)
		dw_byte(w, 0);
	dw_bytes(w, u->p, u->n);
}

static cf_err dw_finish(const struct dw *w, size_t *n)
{
	*n = w->off;
	if (w->p != NULL && w->off > w->cap)
		return CF_E_NO_SPACE;
	return CF_OK;
}

/* AlgorithmIdentifier { rsaEncryption, NULL } */
static const uint8_t alg_rsa[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
				   0x0d, 0x01, 0x01, 0x01, 0x05, 0x00 };
/* id-ecPublicKey OID TLV */
static const uint8_t oid_ec_pub[] = { 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
/* namedCurve OID TLVs, as CKA_EC_PARAMS carries them */
static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

cf_err der_seq_len(const uint8_t *p, size_t n, size_t *len)
{
	*len = 0;
	if (p == NULL || n < 2 || p[0] != 0x30)
		return CF_E_HSM_OUTPUT;
	size_t hl = 2, cl = p[1];
	if (p[1] & 0x80u) {
		size_t k = p[1] & 0x7fu;
		if (k == 0 || k > 3 || n < 2 + k)
			return CF_E_HSM_OUTPUT;
		cl = 0;
		for (size_t i = 0; i < k; i++)
			cl = cl << 8 | p[2 + i];
		hl = 2 + k;
	}
	if (cl > n - hl)
		return CF_E_HSM_OUTPUT;
	*len = hl + cl;
	return CF_OK;
}

size_t der_ec_field_bytes(const uint8_t *params, size_t n)
{
	if (params == NULL)
		return 0;
	if (n == sizeof oid_p256 && memcmp(params, oid_p256, n) == 0)
		return 32;
	if (n == sizeof oid_p384 && memcmp(params, oid_p384, n) == 0)
		return 48;
	return 0;
}

cf_err der_spki_rsa(const uint8_t *mod, size_t mod_n, const uint8_t *e, size_t e_n, uint8_t *out,
		    size_t cap, size_t *n)
{
	*n = 0;
	if (mod == NULL || e == NULL || mod_n == 0 || e_n == 0)
		return CF_E_HSM_OUTPUT;
	struct uint_be m = uint_be_make(mod, mod_n), x = uint_be_make(e, e_n);
	/* 2048..4096-bit modulus, odd; exponent odd, 3 .. 2^64-1 */
	size_t mbits = m.n * 8u;
	for (uint8_t top = m.p[0]; (top & 0x80u) == 0 && mbits > 0; top = (uint8_t)(top << 1))
		mbits--;
	if (mbits < 2048 || mbits > 4096 || (m.p[m.n - 1] & 1u) == 0)
		return CF_E_HSM_OUTPUT;
	if (x.n > 8 || (x.p[x.n - 1] & 1u) == 0 || (x.n == 1 && x.p[0] < 3))
		return CF_E_HSM_OUTPUT;
	size_t rsapub_c = tlv_size(uint_be_clen(&m)) + tlv_size(uint_be_clen(&x));
	size_t bit_c = 1u + tlv_size(rsapub_c);
	size_t spki_c = sizeof alg_rsa + tlv_size(bit_c);
	struct dw w = { out, out != NULL ? cap : 0, 0 };
	dw_hdr(&w, 0x30, spki_c);
	dw_bytes(&w, alg_rsa, sizeof alg_rsa);
	dw_hdr(&w, 0x03, bit_c);
	dw_byte(&w, 0); /* no unused bits */
	dw_hdr(&w, 0x30, rsapub_c);
	dw_int(&w, &m);
	dw_int(&w, &x);
	return dw_finish(&w, n);
}

cf_err der_ec_point_unwrap(const uint8_t *p, size_t n, size_t field, const uint8_t **pt)
{
	*pt = NULL;
	if (p == NULL || field == 0 || field > 66)
		return CF_E_HSM_OUTPUT;
	size_t raw = 1u + 2u * field; /* 0x04 || X || Y */
	const uint8_t *q = NULL;
	if (raw < 0x80u && n == raw + 2u && p[0] == 0x04 && p[1] == raw)
		q = p + 2; /* OCTET STRING, short length (PKCS#11 2.40) */
	else if (raw >= 0x80u && raw <= 0xffu && n == raw + 3u && p[0] == 0x04 && p[1] == 0x81 &&
		 p[2] == raw)
		q = p + 3; /* OCTET STRING, long length */
	else if (n == raw)
		q = p;     /* a bare point (some older modules) */
	if (q == NULL || q[0] != 0x04) /* uncompressed points only */
		return CF_E_HSM_OUTPUT;
	*pt = q;
	return CF_OK;
}

cf_err der_spki_ec(const uint8_t *params, size_t params_n, const uint8_t *point, size_t point_n,
		   uint8_t *out, size_t cap, size_t *n)
{
	*n = 0;
	size_t field = der_ec_field_bytes(params, params_n);
	if (field == 0)
		return CF_E_HSM_MECH;
	const uint8_t *pt = NULL;
	TRY(der_ec_point_unwrap(point, point_n, field, &pt));
	size_t raw = 1u + 2u * field;
	size_t alg_c = sizeof oid_ec_pub + params_n;
	size_t bit_c = 1u + raw;
	size_t spki_c = tlv_size(alg_c) + tlv_size(bit_c);
	struct dw w = { out, out != NULL ? cap : 0, 0 };
	dw_hdr(&w, 0x30, spki_c);
	dw_hdr(&w, 0x30, alg_c);
	dw_bytes(&w, oid_ec_pub, sizeof oid_ec_pub);
	dw_bytes(&w, params, params_n);
	dw_hdr(&w, 0x03, bit_c);
	dw_byte(&w, 0);
	dw_bytes(&w, pt, raw);
	return dw_finish(&w, n);
}

cf_err hsm_ecdsa_sig_to_der(const uint8_t *rs, size_t n, uint8_t *out, size_t cap, size_t *out_n)
{
	if (out_n == NULL)
		return CF_E_INVALID_ARG;
	*out_n = 0;
	if (rs == NULL || n < 2 || n > 132 || n % 2 != 0)
		return CF_E_INVALID_ARG;
	struct uint_be r = uint_be_make(rs, n / 2), s = uint_be_make(rs + n / 2, n / 2);
	size_t seq_c = tlv_size(uint_be_clen(&r)) + tlv_size(uint_be_clen(&s));
	struct dw w = { out, out != NULL ? cap : 0, 0 };
	dw_hdr(&w, 0x30, seq_c);
	dw_int(&w, &r);
	dw_int(&w, &s);
	cf_err rc = dw_finish(&w, out_n);
	if (rc != CF_OK && out != NULL)
		memset(out, 0, cap); /* never leave a half-written signature */
	return rc;
}

/* ---- parsers for crypto.c (untrusted bytes: a blob's content, a client's signature) ----- */

/* One DER TLV at *p (*n bytes left), tag `tag`: *v / *vn = its contents; *p, *n advance.
 * Definite lengths of up to 3 length bytes, shortest form only. */
static bool dr_take(const uint8_t **p, size_t *n, uint8_t tag, const uint8_t **v, size_t *vn)
{
	size_t len, hl = 2;
	if (*n < 2 || (*p)[0] != tag)
		return false;
	len = (*p)[1];
	if (len >= 0x80u) {
		size_t k = len & 0x7fu;
		if (k == 0 || k > 3 || *n < 2 + k)
			return false;
		len = 0;
		for (size_t i = 0; i < k; i++)
			len = len << 8 | (*p)[2 + i];
		if (len < 0x80u || (k > 1 && len < (1u << (8u * (k - 1u)))))
			return false; /* not the shortest form */
		hl += k;
	}
	if (*n - hl < len)
		return false;
	*v = *p + hl;
	*vn = len;
	*p += hl + len;
	*n -= hl + len;
	return true;
}

/* A non-negative INTEGER's magnitude without its sign octet (minimal encoding required). */
static bool dr_uint(const uint8_t **p, size_t *n, const uint8_t **v, size_t *vn)
{
	if (!dr_take(p, n, 0x02, v, vn) || *vn == 0 || ((*v)[0] & 0x80u) != 0)
		return false;
	if (*vn > 1 && (*v)[0] == 0) {
		if (((*v)[1] & 0x80u) == 0)
			return false;
		(*v)++;
		(*vn)--;
	}
	return true;
}

cf_err der_spki_parse(const uint8_t *der, size_t n, struct der_pub *out)
{
	const uint8_t *spki, *ai, *bits, *oid, *rpk;
	size_t spki_n, ai_n, bits_n, oid_n, rpk_n;
	memset(out, 0, sizeof *out);
	if (der == NULL || !dr_take(&der, &n, 0x30, &spki, &spki_n) || n != 0 ||
	    !dr_take(&spki, &spki_n, 0x30, &ai, &ai_n) || !dr_take(&spki, &spki_n, 0x03, &bits,
								    &bits_n) ||
	    spki_n != 0 || bits_n < 2 || bits[0] != 0)
		return CF_E_INVALID_ARG;
	bits++;
	bits_n--;
	const uint8_t *a = ai;
	size_t an = ai_n;
	if (!dr_take(&a, &an, 0x06, &oid, &oid_n))
		return CF_E_INVALID_ARG;
	if (ai_n == sizeof alg_rsa - 2u && memcmp(ai, alg_rsa + 2, ai_n) == 0) {
		if (!dr_take(&bits, &bits_n, 0x30, &rpk, &rpk_n) || bits_n != 0 ||
		    !dr_uint(&rpk, &rpk_n, &out->mod, &out->mod_n) ||
		    !dr_uint(&rpk, &rpk_n, &out->e, &out->e_n) || rpk_n != 0)
			return CF_E_INVALID_ARG;
		if (out->mod_n < 128u || out->mod_n > 512u || out->e_n > 8u)
			return CF_E_HSM_MECH; /* RSA 1024..4096 */
		out->kind = DER_PUB_RSA;
		return CF_OK;
	}
	if (oid_n + 2u != sizeof oid_ec_pub || memcmp(a - oid_n - 2u, oid_ec_pub,
						      sizeof oid_ec_pub) != 0)
		return CF_E_HSM_MECH; /* neither RSA nor EC */
	out->field = der_ec_field_bytes(a, an);
	if (out->field == 0)
		return CF_E_HSM_MECH; /* a curve other than P-256 / P-384 */
	if (bits_n != 1u + 2u * out->field || bits[0] != 0x04)
		return CF_E_INVALID_ARG; /* uncompressed points only */
	out->params = a;
	out->params_n = an;
	out->point = bits;
	out->point_n = bits_n;
	out->kind = DER_PUB_EC;
	return CF_OK;
}

int der_pkcs8_kind(const uint8_t *der, size_t n)
{
	static const uint8_t oid_rsa[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
					   0x01, 0x01, 0x01 };
	const uint8_t *pki, *ver, *ai;
	size_t pki_n, ver_n, ai_n;
	/* PrivateKeyInfo { INTEGER version, AlgorithmIdentifier { OID, params }, ... } */
	if (der == NULL || !dr_take(&der, &n, 0x30, &pki, &pki_n) ||
	    !dr_take(&pki, &pki_n, 0x02, &ver, &ver_n) ||
	    !dr_take(&pki, &pki_n, 0x30, &ai, &ai_n))
		return DER_PUB_NONE;
	if (ai_n >= sizeof oid_rsa && memcmp(ai, oid_rsa, sizeof oid_rsa) == 0)
		return DER_PUB_RSA;
	if (ai_n >= sizeof oid_ec_pub && memcmp(ai, oid_ec_pub, sizeof oid_ec_pub) == 0)
		return DER_PUB_EC;
	return DER_PUB_NONE;
}

cf_err der_ecdsa_sig_parse(const uint8_t *der, size_t n, size_t field, uint8_t *rs)
{
	const uint8_t *seq, *r, *s;
	size_t seq_n, r_n, s_n;
	if (der == NULL || field == 0 || field > 66 || !dr_take(&der, &n, 0x30, &seq, &seq_n) ||
	    n != 0 || !dr_uint(&seq, &seq_n, &r, &r_n) || !dr_uint(&seq, &seq_n, &s, &s_n) ||
	    seq_n != 0 || r_n > field || s_n > field)
		return CF_E_INVALID_ARG;
	memset(rs, 0, 2u * field);
	memcpy(rs + field - r_n, r, r_n);
	memcpy(rs + 2u * field - s_n, s, s_n);
	return CF_OK;
}
