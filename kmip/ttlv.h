/* TTLV wire reader and writer: the only code that touches KMIP wire bytes.
 *
 * Reader: a borrowed view {p, len, off, depth}; invariant off <= len. Every check subtracts
 * (len - off < need), never adds. Values returned are views into the caller's buffer.
 * Writer: a caller-owned fixed buffer {p, cap, off}; Structures are begin (placeholder
 * length) + end (back-patch). On any error the writer is poisoned: later calls fail too.
 *
 * No I/O, no globals, no allocation. */
#ifndef COFFRE_KMIP_TTLV_H
#define COFFRE_KMIP_TTLV_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "board/err.h"

/* Item types (KMIP 1.x section 9.1.1.2; 2.0 adds Date-Time Extended). */
enum ttlv_type {
	TTLV_STRUCTURE = 0x01,
	TTLV_INTEGER = 0x02,
	TTLV_LONG_INTEGER = 0x03,
	TTLV_BIG_INTEGER = 0x04,
	TTLV_ENUMERATION = 0x05,
	TTLV_BOOLEAN = 0x06,
	TTLV_TEXT_STRING = 0x07,
	TTLV_BYTE_STRING = 0x08,
	TTLV_DATE_TIME = 0x09,
	TTLV_INTERVAL = 0x0A,
	TTLV_DATE_TIME_EXTENDED = 0x0B,
};

#define TTLV_HDR_LEN 8u

/* Limits come from the caller (svc_ctx), never from the input. */
struct kmip_limits {
	size_t max_message;        /* whole message incl. 8-byte header; default 1 MiB */
	unsigned max_depth;        /* Structure nesting; default 32 */
	unsigned max_batch_items;  /* default 64 */
	unsigned max_attributes;   /* per request payload / template; default 256 */
	size_t max_bytes;          /* one Byte/Text String / Big Integer; default 64 KiB */
};
#define KMIP_LIMITS_DEFAULT ((struct kmip_limits){ \
	.max_message = 1u << 20, .max_depth = 32, .max_batch_items = 64, \
	.max_attributes = 256, .max_bytes = 65536 })

/* One decoded item header plus a view of its value (without padding). */
struct ttlv_item {
	uint32_t tag;          /* 24-bit tag, e.g. 0x420078 */
	uint8_t type;          /* enum ttlv_type */
	uint32_t len;          /* declared value length */
	const uint8_t *val;    /* view of len bytes (NULL when len == 0) */
	size_t off;            /* offset of the item header within the reader's view */
};

typedef struct ttlv_rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	unsigned depth;        /* depth of this reader (0 = message level) */
	unsigned max_depth;
	size_t max_bytes;
	size_t base;           /* offset of p within the whole message (for error positions) */
} ttlv_rd;

/* Check the first 8 bytes of a message against the limits before reading the body:
 * tag 0x420078 (request) or 0x42007B (response) -- any tag if want_tag is 0 --,
 * type Structure, length a multiple of 8 and 8 + length <= lim->max_message.
 * On success *total = 8 + length (bytes to read in all). */
MUST_USE cf_err ttlv_msg_len(const uint8_t *hdr, size_t n, uint32_t want_tag,
			     const struct kmip_limits *lim, size_t *total);

void ttlv_rd_init(ttlv_rd *r, const uint8_t *p, size_t n, const struct kmip_limits *lim);
static inline bool ttlv_rd_done(const ttlv_rd *r) { return r->off == r->len; }
static inline size_t ttlv_rd_pos(const ttlv_rd *r) { return r->base + r->off; } /* absolute */

/* Peek the next item's header (tag/type/len) without consuming; checks the header and the
 * padded value fit. Returns CF_E_TRUNCATED at the end of the reader. */
MUST_USE cf_err ttlv_rd_peek(const ttlv_rd *r, struct ttlv_item *it);
/* True when the next item exists and has this tag (errors count as false). */
bool ttlv_rd_next_is(const ttlv_rd *r, uint32_t tag);

/* Consume the next item, any tag, fully validated for its type: fixed lengths exact
 * (Integer/Enumeration/Interval 4, Long/DateTime/Boolean/DateTimeExtended 8), Big Integer
 * len % 8 == 0, Boolean 0 or 1, Text valid UTF-8 without NUL, padding zero, length <= max_bytes
 * for strings. A Structure's value is returned as a view; use ttlv_rd_open to descend. */
MUST_USE cf_err ttlv_rd_next(ttlv_rd *r, struct ttlv_item *it);
/* Consume the next item, requiring tag and type. */
MUST_USE cf_err ttlv_rd_expect(ttlv_rd *r, uint32_t tag, uint8_t type, struct ttlv_item *it);

/* Descend into the next item, which must be a Structure with this tag (tag 0 = any tag;
 * the tag read is stored in *tag_out if non-NULL). Fails with CF_E_DEPTH past max_depth. */
MUST_USE cf_err ttlv_rd_open(ttlv_rd *parent, uint32_t tag, ttlv_rd *child, uint32_t *tag_out);
/* A child reader must be consumed exactly: CF_E_TRAILING otherwise. */
MUST_USE cf_err ttlv_rd_close(const ttlv_rd *child);

/* Typed getters: consume the next item, requiring tag and type. */
MUST_USE cf_err ttlv_rd_int(ttlv_rd *r, uint32_t tag, int32_t *v);
MUST_USE cf_err ttlv_rd_enum(ttlv_rd *r, uint32_t tag, uint32_t *v);
MUST_USE cf_err ttlv_rd_interval(ttlv_rd *r, uint32_t tag, uint32_t *v);
MUST_USE cf_err ttlv_rd_long(ttlv_rd *r, uint32_t tag, int64_t *v);
MUST_USE cf_err ttlv_rd_datetime(ttlv_rd *r, uint32_t tag, int64_t *v);
MUST_USE cf_err ttlv_rd_bool(ttlv_rd *r, uint32_t tag, bool *v);
MUST_USE cf_err ttlv_rd_text(ttlv_rd *r, uint32_t tag, const char **s, size_t *n);
MUST_USE cf_err ttlv_rd_bytes(ttlv_rd *r, uint32_t tag, const uint8_t **b, size_t *n);
MUST_USE cf_err ttlv_rd_bigint(ttlv_rd *r, uint32_t tag, const uint8_t **b, size_t *n);

/* Value decoders for an already-consumed item (type and length were validated by next). */
int32_t ttlv_item_int(const struct ttlv_item *it);
uint32_t ttlv_item_u32(const struct ttlv_item *it);   /* Enumeration, Interval */
int64_t ttlv_item_long(const struct ttlv_item *it);   /* Long Integer, Date-Time */
bool ttlv_item_bool(const struct ttlv_item *it);

/* UTF-8 validation used for Text Strings (no NUL, no overlongs, no surrogates). */
bool ttlv_utf8_valid(const uint8_t *s, size_t n);

typedef struct ttlv_wr {
	uint8_t *p;
	size_t cap;
	size_t off;
	unsigned depth;
	cf_err err;     /* sticky: first error; every call after it fails with it */
} ttlv_wr;

#define TTLV_WR_MAX_DEPTH 64

void ttlv_wr_init(ttlv_wr *w, uint8_t *buf, size_t cap);
static inline size_t ttlv_wr_len(const ttlv_wr *w) { return w->off; }

/* Structure: begin writes the 8-byte header with length 0 and returns its offset in *mark;
 * end back-patches off - mark - 8 (checked <= UINT32_MAX). */
MUST_USE cf_err ttlv_wr_begin(ttlv_wr *w, uint32_t tag, size_t *mark);
MUST_USE cf_err ttlv_wr_end(ttlv_wr *w, size_t mark);

MUST_USE cf_err ttlv_wr_int(ttlv_wr *w, uint32_t tag, int32_t v);
MUST_USE cf_err ttlv_wr_enum(ttlv_wr *w, uint32_t tag, uint32_t v);
MUST_USE cf_err ttlv_wr_interval(ttlv_wr *w, uint32_t tag, uint32_t v);
MUST_USE cf_err ttlv_wr_long(ttlv_wr *w, uint32_t tag, int64_t v);
MUST_USE cf_err ttlv_wr_datetime(ttlv_wr *w, uint32_t tag, int64_t v);
MUST_USE cf_err ttlv_wr_bool(ttlv_wr *w, uint32_t tag, bool v);
MUST_USE cf_err ttlv_wr_text(ttlv_wr *w, uint32_t tag, const char *s, size_t n);
MUST_USE cf_err ttlv_wr_bytes(ttlv_wr *w, uint32_t tag, const uint8_t *b, size_t n);
MUST_USE cf_err ttlv_wr_bigint(ttlv_wr *w, uint32_t tag, const uint8_t *b, size_t n);
/* Any primitive type with a raw value (padding added); not for Structures. */
MUST_USE cf_err ttlv_wr_raw(ttlv_wr *w, uint32_t tag, uint8_t type, const uint8_t *val, size_t n);
/* Copy an already-encoded, already-validated item (header + padded value) verbatim. */
MUST_USE cf_err ttlv_wr_copy(ttlv_wr *w, const uint8_t *item, size_t n);

#endif
