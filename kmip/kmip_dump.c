/* TTLV tree printer (see kmip_dump.h). Reads only through ttlv_rd_*; prints into a caller
 * buffer or a FILE. */
#include "kmip/kmip_dump.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "board/hex.h"
#include "kmip/kmip_tags.h"

struct dump {
	const struct kmip_dump_opts *o;
	unsigned indent;
	char *buf;          /* buffer sink */
	size_t cap;
	size_t len;
	FILE *f;            /* stream sink */
	cf_err out_err;     /* CF_E_NO_SPACE / CF_E_IO, sticky */
	struct kmip_dump_err err;
};

static void put(struct dump *d, const char *s, size_t n)
{
	if (d->out_err != CF_OK || n == 0)
		return;
	if (d->f != NULL) {
		if (fwrite(s, 1, n, d->f) != n)
			d->out_err = CF_E_IO;
		return;
	}
	if (d->cap == 0) {
		d->out_err = CF_E_NO_SPACE;
		return;
	}
	size_t room = d->cap - 1 - d->len;    /* invariant: len <= cap - 1 */
	size_t k = n < room ? n : room;
	memcpy(d->buf + d->len, s, k);
	d->len += k;
	d->buf[d->len] = '\0';
	if (k < n)
		d->out_err = CF_E_NO_SPACE;
}

__attribute__((format(printf, 2, 3)))
static void putf(struct dump *d, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;

	va_start(ap, fmt);
	int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (k < 0) {
		d->out_err = CF_E_INTERNAL;
		return;
	}
	put(d, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

static void put_s(struct dump *d, const char *s)
{
	put(d, s, strlen(s));
}

/* Lower-case hex, 64 bytes at a time. */
static void put_hex(struct dump *d, const uint8_t *b, size_t n)
{
	char tmp[129];

	while (n > 0) {
		size_t k = n < 64 ? n : 64;
		if (hex_encode(b, k, HEX_LOWER, tmp, sizeof tmp) != CF_OK) {
			d->out_err = CF_E_INTERNAL;
			return;
		}
		put(d, tmp, 2 * k);
		b += k;
		n -= k;
	}
}

/* Text: printable ASCII as is, valid UTF-8 sequences as is except C1 controls; the rest as
 * C escapes. The reader already rejected invalid UTF-8 and NUL. */
static void put_text(struct dump *d, const uint8_t *s, size_t n)
{
	put(d, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];

		switch (c) {
		case '"': put(d, "\\\"", 2); continue;
		case '\\': put(d, "\\\\", 2); continue;
		case '\n': put(d, "\\n", 2); continue;
		case '\r': put(d, "\\r", 2); continue;
		case '\t': put(d, "\\t", 2); continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7F) {
			putf(d, "\\x%02x", c);
		} else if (c == 0xC2 && n - i > 1 && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F) {
			putf(d, "\\u%04x", s[i + 1]);   /* C1 control */
			i++;
		} else {
			put(d, (const char *)&s[i], 1);
		}
	}
	put(d, "\"", 1);
}

static void put_time(struct dump *d, int64_t secs, int64_t raw, long usec, const char *unit)
{
	struct tm tm;
	time_t t = (time_t)secs;

	if ((int64_t)t == secs && gmtime_r(&t, &tm) != NULL && tm.tm_year >= -1900 &&
	    tm.tm_year <= 9999 - 1900) {
		putf(d, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		if (usec >= 0)
			putf(d, ".%06ld", usec);
		putf(d, "Z (%" PRId64 "%s)", raw, unit);
	} else {
		putf(d, "%" PRId64 "%s", raw, unit);
	}
}

static bool tag_is_secret(uint32_t tag)
{
	/* Derivation Data: PBKDF2's is the password */
	return tag == KMIP_TAG_PASSWORD || tag == KMIP_TAG_ONE_TIME_PASSWORD ||
	       tag == KMIP_TAG_HASHED_PASSWORD || tag == KMIP_TAG_DERIVATION_DATA;
}

static void put_mask(struct dump *d, const struct kmip_enum_table *et, uint32_t v)
{
	uint32_t rest = v;
	bool first = true;

	for (size_t i = 0; i < et->count; i++) {
		uint32_t bit = et->values[i].value;

		if (bit != 0 && (rest & bit) == bit) {
			putf(d, "%s%s", first ? "" : "|", et->values[i].name);
			rest &= ~bit;
			first = false;
		}
	}
	if (rest != 0)
		putf(d, "%s0x%08" PRIX32, first ? "" : "|", rest);
	else if (first)
		put_s(d, "none");
	putf(d, " (0x%08" PRIX32 ")", v);
}

static void put_head(struct dump *d, unsigned depth, const struct ttlv_item *it)
{
	static const char sp[] = "                                ";
	size_t ind = (size_t)depth * d->indent;
	const char *name = kmip_tag_name(it->tag);
	const char *tn = kmip_type_name(it->type);

	while (ind > 0) {
		size_t k = ind < sizeof sp - 1 ? ind : sizeof sp - 1;
		put(d, sp, k);
		ind -= k;
	}
	if (name != NULL)
		putf(d, "%s (0x%06" PRIX32 ")", name, it->tag);
	else if (kmip_tag_is_extension(it->tag))
		putf(d, "Extension(0x%06" PRIX32 ")", it->tag);
	else
		putf(d, "Unknown(0x%06" PRIX32 ")", it->tag);
	putf(d, " %s", tn != NULL ? tn : "?");
}

/* vtag: the tag whose enumeration / mask names the value (the item's own tag, or for a 1.x
 * Attribute Value the tag named by the preceding Attribute Name). */
static void put_value(struct dump *d, const struct ttlv_item *it, uint32_t vtag, bool secret)
{
	const struct kmip_enum_table *et = kmip_enum_table_for(vtag);

	put(d, ": ", 2);
	switch (it->type) {
	case TTLV_INTEGER:
		if (et != NULL && et->is_mask)
			put_mask(d, et, ttlv_item_u32(it));
		else
			putf(d, "%" PRId32, ttlv_item_int(it));
		break;
	case TTLV_ENUMERATION: {
		uint32_t v = ttlv_item_u32(it);
		const char *en = kmip_enum_name(vtag, v);

		if (en != NULL)
			putf(d, "%s (0x%08" PRIX32 ")", en, v);
		else if ((v & 0x80000000u) != 0 && et != NULL)
			putf(d, "Extension (0x%08" PRIX32 ")", v);
		else
			putf(d, "0x%08" PRIX32, v);
		break;
	}
	case TTLV_LONG_INTEGER:
		putf(d, "%" PRId64, ttlv_item_long(it));
		break;
	case TTLV_BOOLEAN:
		put_s(d, ttlv_item_bool(it) ? "true" : "false");
		break;
	case TTLV_INTERVAL:
		putf(d, "%" PRIu32 " seconds", ttlv_item_u32(it));
		break;
	case TTLV_DATE_TIME: {
		int64_t v = ttlv_item_long(it);

		put_time(d, v, v, -1, "");
		break;
	}
	case TTLV_DATE_TIME_EXTENDED: {
		int64_t v = ttlv_item_long(it);
		int64_t s = v / 1000000, us = v % 1000000;

		if (us < 0) {
			us += 1000000;
			s -= 1;
		}
		put_time(d, s, v, (long)us, " us");
		break;
	}
	case TTLV_TEXT_STRING:
	case TTLV_BYTE_STRING:
	case TTLV_BIG_INTEGER:
		if (secret && !d->o->show_secrets) {
			putf(d, "<%" PRIu32 " bytes redacted>", it->len);
		} else if (it->type == TTLV_TEXT_STRING) {
			put_text(d, it->val, it->len);
		} else {
			putf(d, "[%" PRIu32 "]%s", it->len, it->len != 0 ? " " : "");
			put_hex(d, it->val, it->len);
		}
		break;
	default:
		break;
	}
}

static void set_err(struct dump *d, cf_err rc, size_t off, uint32_t tag)
{
	if (d->err.rc != CF_OK)
		return;      /* keep the innermost error */
	d->err.rc = rc;
	d->err.off = off;
	d->err.tag = tag;
}

/* Recursion depth is bounded by the reader's max_depth (ttlv_rd_open fails past it). */
static cf_err walk(struct dump *d, ttlv_rd *r, bool secret)
{
	uint32_t attr_tag = 0;   /* tag named by the last Attribute Name at this level */

	while (!ttlv_rd_done(r)) {
		struct ttlv_item it;
		size_t pos = ttlv_rd_pos(r);
		cf_err rc = ttlv_rd_peek(r, &it);

		if (rc != CF_OK) {
			set_err(d, rc, pos, it.tag);
			return rc;
		}
		bool sec = secret || it.tag == KMIP_TAG_KEY_MATERIAL || tag_is_secret(it.tag);
		if (it.type == TTLV_STRUCTURE) {
			ttlv_rd child;

			rc = ttlv_rd_open(r, 0, &child, NULL);
			if (rc != CF_OK) {
				set_err(d, rc, pos, it.tag);
				return rc;
			}
			put_head(d, r->depth, &it);
			put(d, "\n", 1);
			rc = walk(d, &child, sec);
			if (rc != CF_OK)
				return rc;
			rc = ttlv_rd_close(&child);
			if (rc != CF_OK) {
				set_err(d, rc, pos, it.tag);
				return rc;
			}
			continue;
		}
		rc = ttlv_rd_next(r, &it);
		if (rc != CF_OK) {
			set_err(d, rc, pos, it.tag);
			return rc;
		}
		uint32_t vtag = it.tag;
		if (it.tag == KMIP_TAG_ATTRIBUTE_NAME && it.type == TTLV_TEXT_STRING) {
			const struct kmip_tag_info *ti = kmip_tag_by_name((const char *)it.val,
									  it.len);
			attr_tag = ti != NULL ? ti->tag : 0;
		} else if (it.tag == KMIP_TAG_ATTRIBUTE_VALUE && attr_tag != 0) {
			vtag = attr_tag;
		}
		put_head(d, r->depth, &it);
		put_value(d, &it, vtag, sec);
		put(d, "\n", 1);
	}
	return CF_OK;
}

static cf_err dump_run(struct dump *d, const uint8_t *p, size_t n, struct kmip_dump_err *err)
{
	static const struct kmip_dump_opts defaults = { 0 };
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	ttlv_rd r;

	if (d->o == NULL)
		d->o = &defaults;
	d->indent = d->o->indent != 0 ? d->o->indent : 2;
	if (d->o->lim != NULL) {
		lim = *d->o->lim;
	} else {
		lim.max_message = n;
		lim.max_bytes = n;      /* a dump shows whatever fits in the input */
	}
	if (p == NULL && n != 0)
		return CF_E_INVALID_ARG;
	ttlv_rd_init(&r, p, n, &lim);
	cf_err rc = walk(d, &r, false);
	if (err != NULL)
		*err = d->err;
	if (rc != CF_OK)
		return rc;
	return d->out_err;
}

cf_err kmip_dump_buf(const uint8_t *p, size_t n, const struct kmip_dump_opts *o,
		     char *out, size_t cap, size_t *len, struct kmip_dump_err *err)
{
	struct dump d = { .o = o, .buf = out, .cap = cap };

	if (err != NULL)
		*err = (struct kmip_dump_err){ 0 };
	if (len != NULL)
		*len = 0;
	if (out == NULL && cap != 0)
		return CF_E_INVALID_ARG;
	if (cap > 0)
		out[0] = '\0';
	cf_err rc = dump_run(&d, p, n, err);
	if (len != NULL)
		*len = d.len;
	return rc;
}

cf_err kmip_dump_file(const uint8_t *p, size_t n, const struct kmip_dump_opts *o, FILE *f,
		      struct kmip_dump_err *err)
{
	struct dump d = { .o = o, .f = f };

	if (err != NULL)
		*err = (struct kmip_dump_err){ 0 };
	if (f == NULL)
		return CF_E_INVALID_ARG;
	return dump_run(&d, p, n, err);
}

const char *kmip_dump_err_phrase(cf_err rc)
{
	switch (rc) {
	case CF_E_TRUNCATED: return "truncated";
	case CF_E_TOO_LARGE: return "length over limit";
	case CF_E_DEPTH: return "nested too deeply";
	case CF_E_BAD_TYPE: return "bad type";
	case CF_E_BAD_LENGTH: return "bad length";
	case CF_E_BAD_PADDING: return "bad padding";
	case CF_E_TRAILING: return "trailing bytes";
	case CF_E_BAD_UTF8: return "invalid UTF-8";
	case CF_E_BAD_VALUE: return "bad value";
	default: return cf_err_str(rc);
	}
}

int kmip_dump_err_str(const struct kmip_dump_err *err, char *buf, size_t cap)
{
	const char *name;

	if (err == NULL || buf == NULL || cap == 0)
		return 0;
	if (err->tag == 0)
		return snprintf(buf, cap, "%s at offset %zu", kmip_dump_err_phrase(err->rc),
				err->off);
	name = kmip_tag_name(err->tag);
	return snprintf(buf, cap, "%s at offset %zu (tag 0x%06" PRIX32 " %s)",
			kmip_dump_err_phrase(err->rc), err->off, err->tag,
			name != NULL ? name : "Unknown");
}
