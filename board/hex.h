/* Hexadecimal text, the one codec of the tree. Decoding runs in constant time in the input's
 * length (no branch or table index on the digits' values), so it can carry secrets ([wg]
 * encoding.c). */
#ifndef COFFRE_BOARD_HEX_H
#define COFFRE_BOARD_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum hex_case { HEX_LOWER = 0, HEX_UPPER = 1 };

/* n bytes -> 2n digits and a NUL in out (cap >= 2n + 1). CF_E_TOO_LARGE when out is smaller
 * (out is then the empty string when cap > 0). */
MUST_USE cf_err hex_encode(const uint8_t *b, size_t n, enum hex_case c, char *out, size_t cap);

/* The value of one hex digit (either case), or -1. Constant time. */
int hex_digit(int c);

/* Exactly 2n digits (either case, nothing else) -> n bytes. CF_E_BAD_LENGTH when sn != 2n,
 * CF_E_BAD_HEX on any other character. out is wiped on failure. Constant time in sn. */
MUST_USE cf_err hex_decode(const char *s, size_t sn, uint8_t *out, size_t n);

#endif
