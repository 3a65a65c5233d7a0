/* Hexadecimal text (board/hex.h). */
#include "hex.h"

#include "sec.h"

cf_err hex_encode(const uint8_t *b, size_t n, enum hex_case c, char *out, size_t cap)
{
	/* 'a' - 10 - '0' = 39 (lower), 'A' - 10 - '0' = 7 (upper): added only above 9, by mask */
	unsigned letter = c == HEX_UPPER ? 7u : 39u;

	if (cap == 0)
		return CF_E_TOO_LARGE;
	if (n > (cap - 1) / 2) {
		out[0] = '\0';
		return CF_E_TOO_LARGE;
	}
	for (size_t i = 0; i < n; i++) {
		for (int half = 0; half < 2; half++) {
			unsigned v = half == 0 ? b[i] >> 4 : b[i] & 0x0fu;
			/* (9 - v) >> 8 is all ones when v > 9 */
			unsigned above9 = ((9u - v) >> 8) & 0xffu;
			out[2 * i + (size_t)half] = (char)('0' + v + (above9 & letter));
		}
	}
	out[2 * n] = '\0';
	return CF_OK;
}

int hex_digit(int c)
{
	int ret = -1;

	if (c < 0 || c > 255)
		return -1; /* a property of the argument's type, not of a digit's value */
	/* ((lo - 1 - c) & (c - hi - 1)) is negative exactly when lo <= c <= hi, and >> 8 turns it
	 * into an all-ones mask without a branch (values stay within -256..255) */
	ret += (((0x2f - c) & (c - 0x3a)) >> 8) & (c - 47); /* '0'..'9' -> 1..10 */
	ret += (((0x40 - c) & (c - 0x47)) >> 8) & (c - 54); /* 'A'..'F' -> 11..16 */
	ret += (((0x60 - c) & (c - 0x67)) >> 8) & (c - 86); /* 'a'..'f' -> 11..16 */
	return ret;
}

cf_err hex_decode(const char *s, size_t sn, uint8_t *out, size_t n)
{
	unsigned bad = 0;

	if (n > SIZE_MAX / 2 || sn != 2 * n)
		return CF_E_BAD_LENGTH;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit((unsigned char)s[2 * i]);
		int lo = hex_digit((unsigned char)s[2 * i + 1]);
		bad |= (unsigned)(hi | lo) >> 31; /* -1 has its sign bit set */
		out[i] = (uint8_t)(((unsigned)hi << 4) | ((unsigned)lo & 0x0fu));
	}
	if (bad != 0) {
		sec_wipe(out, n);
		return CF_E_BAD_HEX;
	}
	return CF_OK;
}
