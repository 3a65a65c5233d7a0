/* Secret sharing arithmetic of Create Split Key / Join Split Key (firmware/ops/split_gf.c).
 *
 * Known answers: GF(2^8) products of FIPS 197 section 4.2 ({57} x {83} = {c1}, {57} x {13} =
 * {fe}) and the AES S-box's inverse ({53}^-1 = {ca}); every non-zero element times its
 * inverse is 1; Shamir shares of a byte computed by hand (f(x) = {57} + {83} x). Properties:
 * for thresholds 1..5 of up to 7 parts, every subset of exactly the threshold's size (and
 * larger ones) joins to the secret, and every smaller subset joins to another value (for this
 * fixed random polynomial); XOR needs all parts, and all but one give another value. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "firmware/ops/split_gf.h"

#define W(x) assert_int_equal((x), CF_OK)

static void test_gf_known(void **state)
{
	(void)state;
	assert_int_equal(split_gf_mul(0x57, 0x83), 0xc1);
	assert_int_equal(split_gf_mul(0x57, 0x13), 0xfe);
	assert_int_equal(split_gf_mul(0x57, 0x02), 0xae);
	assert_int_equal(split_gf_mul(0xae, 0x02), 0x47);
	assert_int_equal(split_gf_mul(0x00, 0xff), 0x00);
	assert_int_equal(split_gf_inv(0x53), 0xca);
	assert_int_equal(split_gf_inv(0x01), 0x01);
	assert_int_equal(split_gf_inv(0x00), 0x00);
	for (unsigned a = 1; a < 256; a++) {
		assert_int_equal(split_gf_mul((uint8_t)a, split_gf_inv((uint8_t)a)), 1);
		assert_int_equal(split_gf_mul((uint8_t)a, 0x07), split_gf_mul(0x07, (uint8_t)a));
	}
}

static void test_shamir_known(void **state)
{
	(void)state;
	const uint8_t s = 0x57, c = 0x83;
	uint8_t out[3];
	W(split_gf256_make(&s, 1, 2, 3, &c, out));
	/* f(1) = 57 ^ 83, f(2) = 57 ^ {83}*{02} = 57 ^ 1d, f(3) = 57 ^ (1d ^ 83) */
	assert_int_equal(out[0], 0xd4);
	assert_int_equal(out[1], 0x4a);
	assert_int_equal(out[2], 0xc9);
	const uint8_t *sh[2] = { &out[1], &out[2] };
	const uint8_t xs[2] = { 2, 3 };
	uint8_t back = 0;
	W(split_gf256_join(sh, xs, 2, 1, &back));
	assert_int_equal(back, 0x57);
	/* threshold 1: every share is the secret */
	W(split_gf256_make(&s, 1, 1, 3, NULL, out));
	assert_int_equal(out[0], 0x57);
	assert_int_equal(out[2], 0x57);
}

#define NB 32
#define PMAX 7

/* Join the shares of the subset `mask` (bit i = part i + 1) of out[parts][NB]. */
static void join_subset(const uint8_t *out, unsigned mask, unsigned parts, uint8_t *res)
{
	const uint8_t *sh[PMAX];
	uint8_t xs[PMAX];
	unsigned k = 0;
	for (unsigned i = 0; i < parts; i++)
		if (mask & (1u << i)) {
			sh[k] = out + i * NB;
			xs[k++] = (uint8_t)(i + 1);
		}
	W(split_gf256_join(sh, xs, k, NB, res));
}

static void test_shamir_subsets(void **state)
{
	(void)state;
	uint8_t secret[NB], coef[(PMAX - 1) * NB], out[PMAX * NB], res[NB];
	for (unsigned i = 0; i < NB; i++)
		secret[i] = (uint8_t)(i * 37 + 11);
	for (unsigned i = 0; i < sizeof coef; i++)
		coef[i] = (uint8_t)(i * 101 + 7) | 1u; /* non-zero: the degree is t - 1 */
	for (unsigned parts = 1; parts <= PMAX; parts++) {
		for (unsigned t = 1; t <= parts && t <= 5; t++) {
			W(split_gf256_make(secret, NB, t, parts, coef, out));
			for (unsigned mask = 1; mask < (1u << parts); mask++) {
				unsigned k = (unsigned)__builtin_popcount(mask);
				join_subset(out, mask, parts, res);
				if (k >= t)
					assert_memory_equal(res, secret, NB);
				else
					assert_memory_not_equal(res, secret, NB);
			}
		}
	}
}

static void test_shamir_refusals(void **state)
{
	(void)state;
	uint8_t s[4] = { 1, 2, 3, 4 }, c[4] = { 5, 6, 7, 8 }, out[4 * 3], res[4];
	assert_int_equal(split_gf256_make(s, 4, 3, 2, c, out), CF_E_INVALID_ARG); /* t > parts */
	assert_int_equal(split_gf256_make(s, 4, 0, 2, c, out), CF_E_INVALID_ARG);
	assert_int_equal(split_gf256_make(s, 4, 2, 256, c, out), CF_E_INVALID_ARG);
	assert_int_equal(split_gf256_make(s, 0, 1, 1, c, out), CF_E_INVALID_ARG);
	assert_int_equal(split_gf256_share(s, 4, 2, c, 0, out), CF_E_INVALID_ARG); /* x = 0 */
	W(split_gf256_make(s, 4, 2, 3, c, out));
	const uint8_t *sh[2] = { out, out + 4 };
	const uint8_t same[2] = { 1, 1 }, zero[2] = { 0, 2 };
	assert_int_equal(split_gf256_join(sh, same, 2, 4, res), CF_E_INVALID_ARG);
	assert_int_equal(split_gf256_join(sh, zero, 2, 4, res), CF_E_INVALID_ARG);
}

static void test_xor(void **state)
{
	(void)state;
	uint8_t secret[NB], rnd[(PMAX - 1) * NB], out[PMAX * NB], res[NB];
	const uint8_t *sh[PMAX];
	for (unsigned i = 0; i < NB; i++)
		secret[i] = (uint8_t)(0xa5 ^ i);
	for (unsigned i = 0; i < sizeof rnd; i++)
		rnd[i] = (uint8_t)(i * 13 + 1);
	/* known answer: 2 parts, the first = rnd, the second = secret ^ rnd */
	W(split_xor_make(secret, 1, 2, rnd, out));
	assert_int_equal(out[0], rnd[0]);
	assert_int_equal(out[1], secret[0] ^ rnd[0]);
	for (unsigned parts = 2; parts <= PMAX; parts++) {
		W(split_xor_make(secret, NB, parts, rnd, out));
		for (unsigned i = 0; i < parts; i++)
			sh[i] = out + i * NB;
		W(split_xor_join(sh, parts, NB, res));
		assert_memory_equal(res, secret, NB);
		W(split_xor_join(sh + 1, parts - 1, NB, res)); /* one part short */
		assert_memory_not_equal(res, secret, NB);
	}
	assert_int_equal(split_xor_make(secret, NB, 1, rnd, out), CF_E_INVALID_ARG);
	assert_int_equal(split_xor_join(sh, 0, NB, res), CF_E_INVALID_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gf_known),
		cmocka_unit_test(test_shamir_known),
		cmocka_unit_test(test_shamir_subsets),
		cmocka_unit_test(test_shamir_refusals),
		cmocka_unit_test(test_xor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
