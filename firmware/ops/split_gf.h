/* Secret sharing for Create Split Key / Join Split Key (ops_split.c): XOR splitting and
 * Shamir's polynomial sharing over GF(2^8), byte by byte. Pure arithmetic on the caller's
 * buffers (locked memory in coffred): no allocation, no I/O, no randomness of its own (the
 * caller passes the HSM's random bytes). Constant time in the secret: GF(2^8) products are
 * computed bit by bit with masks, never with tables indexed by secret bytes.
 *
 *= kmip-spec-v1.4 section 2.2.5: When the Split Key Method is XOR, then the Key Material in
 *# the Key Value of the Key Block is of length L bits. The number of split keys is Split Key
 *# Parts (identical to Split Key Threshold), and the secret is reconstructed by XORing all of
 *# the parts.
 *
 * Polynomial Sharing GF(2^8) (Split Key Method 4, 1.4+): the field of FIPS 197 section 4
 * (x^8 + x^4 + x^3 + x + 1), [w1979] applied to every byte: share x (the Key Part Identifier,
 * 1..255) of a secret byte s is f(x) = s + c1 x + ... + c(t-1) x^(t-1), the c the caller's
 * random bytes; any t shares give s back by Lagrange interpolation at 0. */
#ifndef COFFRE_FIRMWARE_OPS_SPLIT_GF_H
#define COFFRE_FIRMWARE_OPS_SPLIT_GF_H

#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

#define SPLIT_PARTS_MAX 255u   /* GF(2^8) has 255 non-zero points */

/* a * b in GF(2^8) (FIPS 197 section 4.2). */
uint8_t split_gf_mul(uint8_t a, uint8_t b);
/* a^-1 in GF(2^8) (a^254); 0 for 0. */
uint8_t split_gf_inv(uint8_t a);

/* XOR split of secret[n] into `parts` (2..255) shares out[parts * n] (share i at out + i * n):
 * shares 1..parts-1 are rnd[(parts - 1) * n] (copied), the last is the secret XOR them all. */
MUST_USE cf_err split_xor_make(const uint8_t *secret, size_t n, unsigned parts,
			       const uint8_t *rnd, uint8_t *out);
/* out[n] = XOR of the k shares sh[i][n] (out may not be one of them). */
MUST_USE cf_err split_xor_join(const uint8_t *const *sh, unsigned k, size_t n, uint8_t *out);

/* One Shamir share: out[n] = f(x) for every byte (x 1..255: the Key Part Identifier),
 * threshold t >= 1, coef[(t - 1) * n] random (coefficient j of byte b at coef[(j - 1) * n + b]).
 * out may not overlap secret. */
MUST_USE cf_err split_gf256_share(const uint8_t *secret, size_t n, unsigned t, const uint8_t *coef,
				  unsigned x, uint8_t *out);
/* Shamir split of secret[n]: threshold t (1..parts), parts 1..255; coef[(t - 1) * n] random
 * (coefficient j of byte b at coef[(j - 1) * n + b]); share of Key Part Identifier x = i + 1
 * at out + i * n. */
MUST_USE cf_err split_gf256_make(const uint8_t *secret, size_t n, unsigned t, unsigned parts,
				 const uint8_t *coef, uint8_t *out);
/* out[n] from k shares sh[i][n] at the distinct non-zero points xs[i] (Lagrange at 0).
 * CF_E_INVALID_ARG for a zero or repeated point. With fewer than the threshold's shares the
 * result is some other value (no error: the shares do not say their polynomial's degree). */
MUST_USE cf_err split_gf256_join(const uint8_t *const *sh, const uint8_t *xs, unsigned k, size_t n,
				 uint8_t *out);

#endif
