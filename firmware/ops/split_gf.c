/* XOR and GF(2^8) Shamir secret sharing (split_gf.h). */
#include "firmware/ops/split_gf.h"

#include <string.h>

uint8_t split_gf_mul(uint8_t a, uint8_t b)
{
	unsigned p = 0, x = a, y = b;

	for (int i = 0; i < 8; i++) {
		p ^= x & (0u - (y & 1u));
		/* xtime: multiply by x, reduce by x^8 + x^4 + x^3 + x + 1 (0x11b) */
		x = (x << 1) ^ (0x11bu & (0u - (x >> 7 & 1u)));
		y >>= 1;
	}
	return (uint8_t)p;
}

uint8_t split_gf_inv(uint8_t a)
{
	/* a^254 = a^-1 (a^255 = 1 for a != 0): 254 = 11111110b, square and multiply, no branch
	 * on a */
	uint8_t r = 1, sq = a;

	for (int i = 1; i < 8; i++) {
		sq = split_gf_mul(sq, sq);   /* a^(2^i) */
		r = split_gf_mul(r, sq);
	}
	return r;
}

cf_err split_xor_make(const uint8_t *secret, size_t n, unsigned parts, const uint8_t *rnd,
		      uint8_t *out)
{
	if (secret == NULL || rnd == NULL || out == NULL || n == 0 || parts < 2 ||
	    parts > SPLIT_PARTS_MAX)
		return CF_E_INVALID_ARG;
	uint8_t *last = out + (size_t)(parts - 1) * n;
	memcpy(out, rnd, (size_t)(parts - 1) * n);
	memcpy(last, secret, n);
	for (unsigned i = 0; i + 1 < parts; i++)
		for (size_t b = 0; b < n; b++)
			last[b] ^= rnd[(size_t)i * n + b];
	return CF_OK;
}

cf_err split_xor_join(const uint8_t *const *sh, unsigned k, size_t n, uint8_t *out)
{
	if (sh == NULL || out == NULL || k == 0 || n == 0)
		return CF_E_INVALID_ARG;
	memset(out, 0, n);
	for (unsigned i = 0; i < k; i++)
		for (size_t b = 0; b < n; b++)
			out[b] ^= sh[i][b];
	return CF_OK;
}

cf_err split_gf256_share(const uint8_t *secret, size_t n, unsigned t, const uint8_t *coef,
			 unsigned x, uint8_t *out)
{
	if (secret == NULL || out == NULL || n == 0 || t < 1 || t > SPLIT_PARTS_MAX || x < 1 ||
	    x > SPLIT_PARTS_MAX || (t > 1 && coef == NULL))
		return CF_E_INVALID_ARG;
	for (size_t b = 0; b < n; b++) {
		/* Horner: ((c(t-1) x + c(t-2)) x + ... + c1) x + s */
		uint8_t acc = 0;
		for (unsigned j = t - 1; j >= 1; j--)
			acc = split_gf_mul(acc, (uint8_t)x) ^ coef[(size_t)(j - 1) * n + b];
		out[b] = split_gf_mul(acc, (uint8_t)x) ^ secret[b];
	}
	return CF_OK;
}

cf_err split_gf256_make(const uint8_t *secret, size_t n, unsigned t, unsigned parts,
			const uint8_t *coef, uint8_t *out)
{
	if (parts < 1 || parts > SPLIT_PARTS_MAX || t > parts || out == NULL)
		return CF_E_INVALID_ARG;
	for (unsigned i = 0; i < parts; i++)
		TRY(split_gf256_share(secret, n, t, coef, i + 1, out + (size_t)i * n));
	return CF_OK;
}

cf_err split_gf256_join(const uint8_t *const *sh, const uint8_t *xs, unsigned k, size_t n,
			uint8_t *out)
{
	if (sh == NULL || xs == NULL || out == NULL || k == 0 || k > SPLIT_PARTS_MAX || n == 0)
		return CF_E_INVALID_ARG;
	for (unsigned i = 0; i < k; i++) {
		if (xs[i] == 0)
			return CF_E_INVALID_ARG;
		for (unsigned j = 0; j < i; j++)
			if (xs[j] == xs[i])
				return CF_E_INVALID_ARG;
	}
	memset(out, 0, n);
	for (unsigned i = 0; i < k; i++) {
		/* Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i); - is XOR here */
		uint8_t num = 1, den = 1;
		for (unsigned j = 0; j < k; j++) {
			if (j == i)
				continue;
			num = split_gf_mul(num, xs[j]);
			den = split_gf_mul(den, (uint8_t)(xs[j] ^ xs[i]));
		}
		uint8_t l = split_gf_mul(num, split_gf_inv(den));
		for (size_t b = 0; b < n; b++)
			out[b] ^= split_gf_mul(sh[i][b], l);
	}
	return CF_OK;
}
