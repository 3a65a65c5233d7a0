/* board/hex.c: every byte value round-trips in both cases, every non-digit is refused, lengths
 * and capacities are checked exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "board/hex.h"

static void t_digit_table(void **state)
{
	(void)state;
	for (int c = -1; c <= 256; c++) {
		int want = -1;
		if (c >= '0' && c <= '9')
			want = c - '0';
		else if (c >= 'a' && c <= 'f')
			want = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			want = c - 'A' + 10;
		assert_int_equal(hex_digit(c), want);
	}
}

static void t_roundtrip_all_bytes(void **state)
{
	uint8_t b[256], back[256];
	char lo[513], up[513];

	(void)state;
	for (int i = 0; i < 256; i++)
		b[i] = (uint8_t)i;
	assert_int_equal(hex_encode(b, sizeof b, HEX_LOWER, lo, sizeof lo), CF_OK);
	assert_int_equal(hex_encode(b, sizeof b, HEX_UPPER, up, sizeof up), CF_OK);
	assert_memory_equal(lo, "000102030405060708090a0b0c0d0e0f10", 34);
	assert_memory_equal(up + 2 * 0xfa, "FAFBFCFDFEFF", 13);
	assert_int_equal(hex_decode(lo, 512, back, sizeof back), CF_OK);
	assert_memory_equal(back, b, sizeof b);
	assert_int_equal(hex_decode(up, 512, back, sizeof back), CF_OK);
	assert_memory_equal(back, b, sizeof b);
}

static void t_encode_capacity(void **state)
{
	const uint8_t b[3] = { 0xde, 0xad, 0x01 };
	char out[7];

	(void)state;
	assert_int_equal(hex_encode(b, 3, HEX_LOWER, out, 7), CF_OK);
	assert_string_equal(out, "dead01");
	memset(out, 'x', sizeof out);
	assert_int_equal(hex_encode(b, 3, HEX_LOWER, out, 6), CF_E_TOO_LARGE);
	assert_string_equal(out, "");
	assert_int_equal(hex_encode(b, 0, HEX_LOWER, out, 1), CF_OK);
	assert_string_equal(out, "");
	assert_int_equal(hex_encode(b, 0, HEX_LOWER, out, 0), CF_E_TOO_LARGE);
}

static void t_decode_refusals(void **state)
{
	uint8_t out[2] = { 0x55, 0x55 };

	(void)state;
	assert_int_equal(hex_decode("abc", 3, out, 2), CF_E_BAD_LENGTH);
	assert_int_equal(hex_decode("abcdef", 6, out, 2), CF_E_BAD_LENGTH);
	assert_int_equal(hex_decode("ab:d", 4, out, 2), CF_E_BAD_HEX);
	assert_int_equal(out[0], 0); /* wiped on failure */
	assert_int_equal(hex_decode("abcg", 4, out, 2), CF_E_BAD_HEX);
	assert_int_equal(hex_decode("ab\0d", 4, out, 2), CF_E_BAD_HEX);
	assert_int_equal(hex_decode(" abc", 4, out, 2), CF_E_BAD_HEX);
	assert_int_equal(hex_decode("AbCd", 4, out, 2), CF_OK);
	assert_int_equal(out[0], 0xab);
	assert_int_equal(out[1], 0xcd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_digit_table),
		cmocka_unit_test(t_roundtrip_all_bytes),
		cmocka_unit_test(t_encode_capacity),
		cmocka_unit_test(t_decode_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
