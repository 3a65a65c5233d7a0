/* TTLV tree printer: walks any TTLV buffer with the ttlv_rd_* reader and prints one line per
 * item, indented by depth:
 *
 *   Request Message (0x420078) Structure
 *     Protocol Version Major (0x42006A) Integer: 1
 *     Operation (0x42005C) Enumeration: Discover Versions (0x0000001E)
 *
 * Values: Integer decimal (mask tags as bit names joined by "|" plus hex), Enumeration by
 * name plus hex, Long Integer decimal, Big Integer and Byte String as hex with their length,
 * Text String quoted with C escapes for non-printables, Date-Time ISO-8601 UTC plus the raw
 * seconds, Boolean true/false, Interval seconds. Unknown tags print as "Unknown(0x42xxxx)",
 * extension tags as "Extension(0x54xxxx)"; neither is an error.
 *
 * Secrets: string values under Key Material and the Password / One Time Password /
 * Hashed Password / Derivation Data (a PBKDF2 password) tags print as "<N bytes redacted>"
 * unless show_secrets is set.
 *
 * Structural errors (truncated, bad type, bad length, bad padding, invalid UTF-8, depth...)
 * stop the walk: the function returns the cf_err and fills *err with the absolute offset of
 * the failing item's header and its tag (when its header could be read). Lines printed
 * before the error stay printed. No globals; the FILE variant is the only I/O. */
#ifndef COFFRE_KMIP_KMIP_DUMP_H
#define COFFRE_KMIP_KMIP_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "board/err.h"
#include "kmip/ttlv.h"

struct kmip_dump_opts {
	bool show_secrets;                 /* default false: redact Key Material, passwords */
	unsigned indent;                   /* spaces per level; 0 means 2 */
	const struct kmip_limits *lim;     /* NULL: KMIP_LIMITS_DEFAULT with max_bytes = n */
};

struct kmip_dump_err {
	cf_err rc;          /* CF_OK when the walk completed */
	size_t off;         /* absolute offset of the failing item's header */
	uint32_t tag;       /* its tag, 0 when the header itself was short */
};

/* Print into out[cap] (always NUL-terminated when cap > 0); *len = characters written
 * (excluding NUL). CF_E_NO_SPACE when the tree did not fit (output truncated). */
MUST_USE cf_err kmip_dump_buf(const uint8_t *p, size_t n, const struct kmip_dump_opts *o,
			      char *out, size_t cap, size_t *len, struct kmip_dump_err *err);
/* Print to a stream. CF_E_IO on a write error. */
MUST_USE cf_err kmip_dump_file(const uint8_t *p, size_t n, const struct kmip_dump_opts *o,
			       FILE *f, struct kmip_dump_err *err);

/* One-line description of a failed walk, e.g.
 * "bad padding at offset 72 (tag 0x42000A Attribute Name)". Returns snprintf's count. */
int kmip_dump_err_str(const struct kmip_dump_err *err, char *buf, size_t cap);
/* Short phrase for a reader error ("truncated", "bad padding", ...); never NULL. */
const char *kmip_dump_err_phrase(cf_err rc);

#endif
