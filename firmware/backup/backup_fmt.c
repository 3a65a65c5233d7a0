/* The backup format: header, armor, backup key (Argon2id / Shamir), sealing, body walker.
 * Pure code over untrusted bytes: no HSM, no store (see backup.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <argon2.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/sha.h>

#include "board/hex.h"
#include "board/sec.h"
#include "firmware/backup/backup.h"

#define DIAG(d, ...) do { if ((d) != NULL) snprintf((d)->msg, sizeof (d)->msg, __VA_ARGS__); } while (0)

/* ---- big-endian helpers ---------------------------------------------------------------- */

static void be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static void be64(uint8_t *p, uint64_t v) { be32(p, (uint32_t)(v >> 32)); be32(p + 4, (uint32_t)v); }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static uint64_t rd64(const uint8_t *p) { return ((uint64_t)rd32(p) << 32) | rd32(p + 4); }

/* ---- header ------------------------------------------------------------------------------ */

/* offsets (format 1) */
enum {
	H_MAGIC = 0, H_FORMAT = 4, H_LEN = 6, H_CREATED = 8, H_KEKV = 16, H_ID = 20,
	H_COUNTS = 56, H_SCHEME = 88, H_T = 89, H_M = 93, H_P = 97, H_SALT = 101,
	H_THRESH = 117, H_SHARES = 118, H_SETID = 119, H_KCV = 123, H_NONCE = 139,
	H_BODYLEN = 151, H_RESERVED = 155,
};

static void counts_put(uint8_t *p, const struct bk_counts *c)
{
	const uint32_t v[8] = { c->keks, c->keypairs, c->files, c->objects, c->attributes,
				c->clients, c->users, c->meta };
	for (int i = 0; i < 8; i++)
		be32(p + 4 * i, v[i]);
}

static void counts_get(const uint8_t *p, struct bk_counts *c)
{
	c->keks = rd32(p); c->keypairs = rd32(p + 4); c->files = rd32(p + 8);
	c->objects = rd32(p + 12); c->attributes = rd32(p + 16); c->clients = rd32(p + 20);
	c->users = rd32(p + 24); c->meta = rd32(p + 28);
}

bool bk_counts_equal(const struct bk_counts *a, const struct bk_counts *b)
{
	return a->keks == b->keks && a->keypairs == b->keypairs && a->files == b->files &&
	       a->objects == b->objects && a->attributes == b->attributes &&
	       a->clients == b->clients && a->users == b->users && a->meta == b->meta;
}

void bk_header_encode(const struct bk_header *h, uint8_t out[BK_HDR_LEN])
{
	memset(out, 0, BK_HDR_LEN);
	memcpy(out + H_MAGIC, BK_MAGIC, 4);
	be16(out + H_FORMAT, BK_FORMAT);
	be16(out + H_LEN, BK_HDR_LEN);
	be64(out + H_CREATED, (uint64_t)h->created);
	be32(out + H_KEKV, h->kek_version);
	memcpy(out + H_ID, h->appliance_id, strnlen(h->appliance_id, BK_ID_LEN));
	counts_put(out + H_COUNTS, &h->counts);
	out[H_SCHEME] = h->scheme;
	be32(out + H_T, h->t_cost);
	be32(out + H_M, h->m_kib);
	be32(out + H_P, h->lanes);
	memcpy(out + H_SALT, h->salt, BK_SALT_LEN);
	out[H_THRESH] = h->threshold;
	out[H_SHARES] = h->shares;
	memcpy(out + H_SETID, h->set_id, BK_SETID_LEN);
	memcpy(out + H_KCV, h->kcv, BK_KCV_LEN);
	memcpy(out + H_NONCE, h->nonce, sizeof h->nonce);
	be32(out + H_BODYLEN, h->body_len);
}

cf_err bk_header_parse(const uint8_t *p, size_t n, struct bk_header *h, struct bk_diag *d)
{
	memset(h, 0, sizeof *h);
	if (n < 8 || memcmp(p, BK_MAGIC, 4) != 0) {
		DIAG(d, "not a Coffre backup (no CFBK header)");
		return n < 8 && n > 0 && memcmp(p, BK_MAGIC, n < 4 ? n : 4) == 0 ? CF_E_TRUNCATED
										  : CF_E_BAD_MESSAGE;
	}
	h->format = rd16(p + H_FORMAT);
	if (h->format > BK_FORMAT) {
		DIAG(d, "backup format %u is newer than this firmware reads (%u): update first",
		     h->format, BK_FORMAT);
		return CF_E_BAD_VERSION;
	}
	if (h->format == 0 || rd16(p + H_LEN) != BK_HDR_LEN) {
		DIAG(d, "backup header malformed (format %u, length %u)", h->format, rd16(p + H_LEN));
		return CF_E_BAD_MESSAGE;
	}
	if (n < BK_HDR_LEN) {
		DIAG(d, "backup truncated: %zu bytes, the header alone is %u", n, BK_HDR_LEN);
		return CF_E_TRUNCATED;
	}
	h->created = (int64_t)rd64(p + H_CREATED);
	h->kek_version = rd32(p + H_KEKV);
	memcpy(h->appliance_id, p + H_ID, BK_ID_LEN);
	h->appliance_id[BK_ID_LEN] = '\0';
	size_t idn = strnlen(h->appliance_id, BK_ID_LEN);
	for (size_t i = 0; i < BK_ID_LEN; i++) {
		unsigned char c = (unsigned char)p[H_ID + i];
		/* one canonical form: hex digits and '-', then NUL padding only */
		if (i < idn ? !isxdigit(c) && c != '-' : c != 0) {
			DIAG(d, "backup header malformed (appliance id)");
			return CF_E_BAD_VALUE;
		}
	}
	counts_get(p + H_COUNTS, &h->counts);
	h->scheme = p[H_SCHEME];
	h->t_cost = rd32(p + H_T);
	h->m_kib = rd32(p + H_M);
	h->lanes = rd32(p + H_P);
	memcpy(h->salt, p + H_SALT, BK_SALT_LEN);
	h->threshold = p[H_THRESH];
	h->shares = p[H_SHARES];
	memcpy(h->set_id, p + H_SETID, BK_SETID_LEN);
	memcpy(h->kcv, p + H_KCV, BK_KCV_LEN);
	memcpy(h->nonce, p + H_NONCE, sizeof h->nonce);
	h->body_len = rd32(p + H_BODYLEN);
	for (size_t i = H_RESERVED; i < BK_HDR_LEN; i++) {
		if (p[i] != 0) {
			DIAG(d, "backup header malformed (reserved bytes)");
			return CF_E_BAD_VALUE;
		}
	}
	if (h->scheme == BK_SCHEME_PASSPHRASE) {
		if (h->t_cost < BK_ARGON2_T_MIN || h->t_cost > BK_ARGON2_T_MAX ||
		    h->m_kib < BK_ARGON2_M_MIN || h->m_kib > BK_ARGON2_M_MAX || h->lanes == 0 ||
		    h->lanes > BK_ARGON2_P_MAX || h->threshold != 0 || h->shares != 0) {
			DIAG(d, "backup header: key derivation parameters out of range");
			return CF_E_BAD_VALUE;
		}
	} else if (h->scheme == BK_SCHEME_SHARES) {
		if (h->threshold < 2 || h->shares < h->threshold || h->shares > BK_SHARES_MAX ||
		    h->t_cost != 0 || h->m_kib != 0 || h->lanes != 0) {
			DIAG(d, "backup header: share scheme out of range");
			return CF_E_BAD_VALUE;
		}
	} else {
		DIAG(d, "backup header: unknown key scheme %u", h->scheme);
		return CF_E_BAD_VALUE;
	}
	if (h->body_len > BK_BODY_MAX) {
		DIAG(d, "backup body too large (%u bytes)", h->body_len);
		return CF_E_TOO_LARGE;
	}
	size_t want = (size_t)BK_HDR_LEN + h->body_len + BK_TAG_LEN;
	if (n < want) {
		DIAG(d, "backup truncated: %zu of %zu bytes", n, want);
		return CF_E_TRUNCATED;
	}
	if (n > want) {
		DIAG(d, "backup has %zu unexpected bytes after its end", n - want);
		return CF_E_TRAILING;
	}
	return CF_OK;
}

static void fmt_time(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, n, "%lld", (long long)t);
}

void bk_header_describe(const struct bk_header *h, void (*emit)(void *arg, const char *line),
			void *arg)
{
	char line[256], ts[40];
	fmt_time(h->created, ts, sizeof ts);
	snprintf(line, sizeof line, "format:        %u", h->format);
	emit(arg, line);
	snprintf(line, sizeof line, "appliance id:  %s", h->appliance_id[0] ? h->appliance_id : "-");
	emit(arg, line);
	snprintf(line, sizeof line, "created:       %s (%lld)", ts, (long long)h->created);
	emit(arg, line);
	snprintf(line, sizeof line, "current KEK:   %u", h->kek_version);
	emit(arg, line);
	if (h->scheme == BK_SCHEME_PASSPHRASE)
		snprintf(line, sizeof line, "protection:    passphrase (Argon2id t=%u m=%u KiB p=%u)",
			 h->t_cost, h->m_kib, h->lanes);
	else
		snprintf(line, sizeof line, "protection:    %u of %u shares (set %02x%02x%02x%02x)",
			 h->threshold, h->shares, h->set_id[0], h->set_id[1], h->set_id[2],
			 h->set_id[3]);
	emit(arg, line);
	const struct bk_counts *c = &h->counts;
	snprintf(line, sizeof line,
		 "counts:        %u KEKs, %u key pairs, %u certificate files, %u objects, "
		 "%u attributes, %u clients, %u console accounts, %u settings",
		 c->keks, c->keypairs, c->files, c->objects, c->attributes, c->clients, c->users,
		 c->meta);
	emit(arg, line);
	snprintf(line, sizeof line, "body:          %u bytes (AES-256-GCM)", h->body_len);
	emit(arg, line);
}

/* ---- armor --------------------------------------------------------------------------------- */

static uint16_t crc16(const char *s, size_t n)
{
	uint16_t crc = 0xffff; /* CRC-16/CCITT-FALSE */
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)((uint8_t)s[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc;
}

#define ARMOR_LINES_MAX 999999u

cf_err bk_armor_encode(const uint8_t *p, size_t n, char **out, size_t *out_n)
{
	*out = NULL;
	*out_n = 0;
	size_t lines = (n + BK_ARMOR_LINE_BYTES - 1) / BK_ARMOR_LINE_BYTES;
	if (lines > ARMOR_LINES_MAX)
		return CF_E_TOO_LARGE;
	size_t cap = sizeof BK_ARMOR_BEGIN + sizeof BK_ARMOR_END + lines * (7 + 64 + 6) + 8;
	char *t = malloc(cap);
	if (t == NULL)
		return CF_E_NOMEM;
	size_t o = (size_t)snprintf(t, cap, "%s\n", BK_ARMOR_BEGIN);
	for (size_t l = 0; l < lines; l++) {
		size_t off = l * BK_ARMOR_LINE_BYTES;
		size_t k = n - off < BK_ARMOR_LINE_BYTES ? n - off : BK_ARMOR_LINE_BYTES;
		char *ls = t + o;
		o += (size_t)snprintf(t + o, cap - o, "%06zu:", l + 1);
		int w = EVP_EncodeBlock((unsigned char *)t + o, p + off, (int)k);
		o += (size_t)w;
		uint16_t c = crc16(ls, (size_t)(t + o - ls));
		o += (size_t)snprintf(t + o, cap - o, ":%04x\n", c);
	}
	o += (size_t)snprintf(t + o, cap - o, "%s\n", BK_ARMOR_END);
	*out = t;
	*out_n = o;
	return CF_OK;
}

static bool b64_char(int c)
{
	return isalnum(c) || c == '+' || c == '/' || c == '=';
}

/* Just after the BEGIN line of text[0..end) (blanks before it allowed), or NULL. */
static const char *armor_begin(const char *text, const char *end)
{
	size_t bl = strlen(BK_ARMOR_BEGIN);

	for (const char *s = text;;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl != NULL ? nl : end;
		const char *a = s;
		while (a < le && (*a == ' ' || *a == '\t'))
			a++;
		if ((size_t)(le - a) >= bl && memcmp(a, BK_ARMOR_BEGIN, bl) == 0)
			return nl != NULL ? nl + 1 : end;
		if (nl == NULL)
			return NULL;
		s = nl + 1;
	}
}

/* The decoder's state between lines. */
struct armor_rd {
	uint8_t *buf;                /* decoded bytes so far */
	size_t o;
	unsigned long expect;        /* the next line number */
	bool short_seen;             /* a line shorter than 64 characters ends the data */
};

/* One data line a[0..ln) "NNNNNN:BASE64:CCCC" (blanks trimmed): checksum, number, base64. */
static cf_err armor_line(struct armor_rd *r, const char *a, size_t ln, struct bk_diag *d)
{
	unsigned long num = 0;
	uint8_t cb[2];

	if (ln < 7 + 1 + 5 || a[6] != ':' || a[ln - 5] != ':') {
		DIAG(d, "armor line %lu is malformed (expected NNNNNN:BASE64:CCCC)", r->expect);
		return CF_E_BAD_MESSAGE;
	}
	for (int i = 0; i < 6; i++) {
		if (!isdigit((unsigned char)a[i])) {
			DIAG(d, "armor line %lu is malformed (line number)", r->expect);
			return CF_E_BAD_MESSAGE;
		}
		num = num * 10 + (unsigned long)(a[i] - '0');
	}
	if (hex_decode(a + ln - 4, 4, cb, sizeof cb) != CF_OK) {
		DIAG(d, "armor line %lu is malformed (checksum)", num);
		return CF_E_BAD_MESSAGE;
	}
	if (crc16(a, ln - 5) != (uint16_t)((cb[0] << 8) | cb[1])) {
		DIAG(d, "armor line %lu: checksum mismatch (mistyped or damaged line)", num);
		return CF_E_BAD_MESSAGE;
	}
	if (num != r->expect) {
		if (num < r->expect)
			DIAG(d, "armor line %lu appears twice or out of order", num);
		else
			DIAG(d, "armor line %lu is missing", r->expect);
		return CF_E_BAD_MESSAGE;
	}
	if (r->short_seen) {
		DIAG(d, "armor line %lu follows a short (last) line", num);
		return CF_E_BAD_MESSAGE;
	}
	const char *q = a + 7;
	size_t qn = ln - 7 - 5;
	if (qn == 0 || qn % 4 != 0 || qn > 64) {
		DIAG(d, "armor line %lu: bad base64 length", num);
		return CF_E_BAD_MESSAGE;
	}
	for (size_t i = 0; i < qn; i++) {
		if (!b64_char((unsigned char)q[i])) {
			DIAG(d, "armor line %lu: not base64", num);
			return CF_E_BAD_MESSAGE;
		}
	}
	int w = EVP_DecodeBlock(r->buf + r->o, (const unsigned char *)q, (int)qn);
	if (w < 0) {
		DIAG(d, "armor line %lu: not base64", num);
		return CF_E_BAD_MESSAGE;
	}
	size_t pad = (q[qn - 1] == '=') + (q[qn - 2] == '=');
	r->o += (size_t)w - pad;
	r->short_seen = qn < 64;
	r->expect++;
	return CF_OK;
}

cf_err bk_armor_decode(const char *text, size_t n, uint8_t **out, size_t *out_n, struct bk_diag *d)
{
	*out = NULL;
	*out_n = 0;
	const char *end = text + n;
	const char *s = armor_begin(text, end);
	if (s == NULL) {
		DIAG(d, "no \"%s\" line: not an armored backup", BK_ARMOR_BEGIN);
		return CF_E_BAD_MESSAGE;
	}
	struct armor_rd r = { .expect = 1 };
	r.buf = malloc(((size_t)(end - s) / 4) * 3 + 64);
	if (r.buf == NULL)
		return CF_E_NOMEM;
	bool ended = false;
	cf_err rc = CF_OK;
	size_t el = strlen(BK_ARMOR_END);
	while (s < end && rc == CF_OK) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *a = s, *b = nl != NULL ? nl : end;
		s = nl != NULL ? nl + 1 : end;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (a == b)
			continue;
		if ((size_t)(b - a) >= el && memcmp(a, BK_ARMOR_END, el) == 0) {
			ended = true;
			break;
		}
		rc = armor_line(&r, a, (size_t)(b - a), d);
	}
	if (rc == CF_OK && (!ended || r.o == 0)) {
		if (!ended)
			DIAG(d, "no \"%s\" line: the armored backup is truncated", BK_ARMOR_END);
		else
			DIAG(d, "the armored backup is empty");
		rc = CF_E_TRUNCATED;
	}
	if (rc != CF_OK) {
		free(r.buf);
		return rc;
	}
	*out = r.buf;
	*out_n = r.o;
	return CF_OK;
}

cf_err bk_file_decode(const uint8_t *p, size_t n, uint8_t **out, size_t *out_n, struct bk_diag *d)
{
	*out = NULL;
	*out_n = 0;
	if (n >= 4 && memcmp(p, BK_MAGIC, 4) == 0) {
		if (n > BK_FILE_MAX) {
			DIAG(d, "backup too large");
			return CF_E_TOO_LARGE;
		}
		uint8_t *b = malloc(n);
		if (b == NULL)
			return CF_E_NOMEM;
		memcpy(b, p, n);
		*out = b;
		*out_n = n;
		return CF_OK;
	}
	return bk_armor_decode((const char *)p, n, out, out_n, d);
}

/* ---- backup key ---------------------------------------------------------------------------- */

bool bk_pass_check(const char *pw, size_t n, struct bk_diag *d)
{
	if (n < BK_PASS_MIN) {
		DIAG(d, "passphrase too short: at least %u characters", BK_PASS_MIN);
		return false;
	}
	int lower = 0, upper = 0, digit = 0, other = 0;
	unsigned freq[128] = { 0 };
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pw[i];
		if (c < 0x20 || c > 0x7e) {
			DIAG(d, "passphrase: printable ASCII only");
			return false;
		}
		freq[c]++;
		if (islower(c))
			lower = 1;
		else if (isupper(c))
			upper = 1;
		else if (isdigit(c))
			digit = 1;
		else
			other = 1;
	}
	for (int c = 0; c < 128; c++) {
		if (freq[c] * 2 > n) {
			DIAG(d, "passphrase too weak: mostly one character");
			return false;
		}
	}
	unsigned distinct = 0;
	for (int c = 0; c < 128; c++)
		distinct += freq[c] != 0;
	if (lower + upper + digit + other < 3 && (n < 20 || distinct < 8)) {
		DIAG(d, "passphrase too weak: use 3 of lower case, upper case, digits, symbols, "
			"or at least 20 characters");
		return false;
	}
	return true;
}

cf_err bk_key_from_pass(const struct bk_header *h, const char *pw, size_t n, uint8_t key[BK_KEY_LEN])
{
	if (h->scheme != BK_SCHEME_PASSPHRASE)
		return CF_E_INVALID_ARG;
	int r = argon2id_hash_raw(h->t_cost, h->m_kib, h->lanes, pw, n, h->salt, BK_SALT_LEN, key,
				  BK_KEY_LEN);
	if (r != ARGON2_OK) {
		sec_wipe(key, BK_KEY_LEN);
		return r == ARGON2_MEMORY_ALLOCATION_ERROR ? CF_E_NOMEM : CF_E_INTERNAL;
	}
	return CF_OK;
}

cf_err bk_subkey(const uint8_t key[BK_KEY_LEN], enum bk_subkey which, uint8_t *out, size_t n)
{
	static const char *const info[] = { "", "coffre backup v1 file", "coffre backup v1 wrap",
					    "coffre backup v1 key check" };
	if (which < BK_SUB_FILE || which > BK_SUB_KCV)
		return CF_E_INVALID_ARG;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t len = n;
	cf_err rc = CF_E_INTERNAL;
	if (c != NULL && EVP_PKEY_derive_init(c) == 1 &&
	    EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) == 1 &&
	    EVP_PKEY_CTX_set1_hkdf_salt(c, (const unsigned char *)"coffre-backup", 13) == 1 &&
	    EVP_PKEY_CTX_set1_hkdf_key(c, key, BK_KEY_LEN) == 1 &&
	    EVP_PKEY_CTX_add1_hkdf_info(c, (const unsigned char *)info[which],
					(int)strlen(info[which])) == 1 &&
	    EVP_PKEY_derive(c, out, &len) == 1 && len == n)
		rc = CF_OK;
	EVP_PKEY_CTX_free(c);
	if (rc != CF_OK)
		sec_wipe(out, n);
	return rc;
}

/* ---- shares -------------------------------------------------------------------------------- */

/* Shamir's scheme over GF(2^8), byte by byte (the field and the share coordinates of libgfshare,
 * which wrote the shares of earlier builds: reduction polynomial x^8+x^4+x^3+x^2+1 (0x11d),
 * share i at x = i, the key at x = 0). Computed here rather than through libgfshare: its
 * polynomial coefficients come from a process-wide hook (gfshare_fill_rand, NULL until a caller
 * assigns it, with no way to report a failed draw), gfshare_ctx_free scrubs through that same
 * hook, and its multiplications index log/exp tables with the secret bytes. These run in
 * constant time (no table, no branch on a secret) and keep no state between calls. */


/* a * b in GF(2^8) mod 0x11d */
static uint8_t gf_mul(uint8_t a, uint8_t b)
{
	unsigned r = 0, x = a;

	for (unsigned i = 0; i < 8; i++) {
		r ^= x & (0u - ((unsigned)(b >> i) & 1u));
		x = (x << 1) ^ (0x11du & (0u - ((x >> 7) & 1u)));
	}
	return (uint8_t)r;
}

/* 1 / a = a^254 (a != 0), a fixed sequence of squarings and products */
static uint8_t gf_inv(uint8_t a)
{
	uint8_t r = 1, p = a;

	for (unsigned i = 1; i < 8; i++) { /* 254 = 0b11111110 */
		p = gf_mul(p, p);
		r = gf_mul(r, p);
	}
	return r;
}

/* base32 (RFC 4648 alphabet) of a 5-bit value: 'A'..'Z' for 0..25, '2'..'7' for 26..31,
 * without a table: 41 ('A' + 26 - '2') is taken off by mask above 25 */
static char b32_char(unsigned v)
{
	unsigned above25 = ((25u - v) >> 8) & 0xffu;

	return (char)('A' + v - (above25 & 41u));
}

int bk_b32_value(int c)
{
	int ret = -1;

	if (c < 0 || c > 255)
		return -1; /* a property of the argument's type, not of a character's value */
	/* as hex_digit (board/hex.c): ((lo - 1 - c) & (c - hi - 1)) is negative exactly when
	 * lo <= c <= hi, and >> 8 makes it an all-ones mask */
	ret += (((0x40 - c) & (c - 0x5b)) >> 8) & (c - 64); /* 'A'..'Z' -> 1..26 */
	ret += (((0x31 - c) & (c - 0x38)) >> 8) & (c - 23); /* '2'..'7' -> 27..32 */
	return ret;
}

static void share_text(unsigned m, unsigned n, unsigned idx, const uint8_t set_id[BK_SETID_LEN],
		       const uint8_t y[BK_KEY_LEN], char out[BK_SHARE_TEXT_MAX])
{
	char sid[2 * BK_SETID_LEN + 1];

	if (hex_encode(set_id, BK_SETID_LEN, HEX_UPPER, sid, sizeof sid) != CF_OK)
		sid[0] = '\0';
	size_t o = (size_t)snprintf(out, BK_SHARE_TEXT_MAX, "CFS1-%uOF%u-%u-%s-", m, n, idx, sid);
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < BK_KEY_LEN; i++) {
		acc = (acc << 8) | y[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32_char((acc >> (bits - 5)) & 31);
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = b32_char((acc << (5 - bits)) & 31);
	uint8_t h[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)out, o, h);
	out[o++] = '-';
	if (hex_encode(h, 3, HEX_UPPER, out + o, BK_SHARE_TEXT_MAX - o) != CF_OK)
		out[o] = '\0';
	sec_wipe(h, sizeof h);
	sec_wipe(&acc, sizeof acc);
}

cf_err bk_shares_split(const uint8_t key[BK_KEY_LEN], unsigned m, unsigned n,
		       const uint8_t set_id[BK_SETID_LEN], char texts[][BK_SHARE_TEXT_MAX])
{
	/* coef[k - 1] = the x^k coefficients of the 32 polynomials (k = 1 .. m - 1) */
	uint8_t coef[BK_SHARES_MAX - 1][BK_KEY_LEN], y[BK_KEY_LEN];

	if (m < 2 || n < m || n > BK_SHARES_MAX)
		return CF_E_INVALID_ARG;
	if (sec_random(coef, sizeof coef[0] * (m - 1)) != CF_OK) {
		sec_wipe(coef, sizeof coef);
		return CF_E_INTERNAL;
	}
	for (unsigned i = 0; i < n; i++) {
		uint8_t x = (uint8_t)(i + 1);

		for (size_t b = 0; b < BK_KEY_LEN; b++) {
			uint8_t v = coef[m - 2][b]; /* Horner, from the highest degree */

			for (unsigned k = m - 1; k-- > 1;)
				v = gf_mul(v, x) ^ coef[k - 1][b];
			y[b] = gf_mul(v, x) ^ key[b];
		}
		share_text(m, n, i + 1, set_id, y, texts[i]);
	}
	sec_wipe(coef, sizeof coef);
	sec_wipe(y, sizeof y);
	return CF_OK;
}

/* Text without blanks, upper case, into t[cap]: no branch or table lookup on a character's
 * value (the blank test and the case are masks; only the length decides). false: too long. */
static bool share_compact(const char *text, char *t, size_t cap)
{
	size_t o = 0;

	for (const char *p = text; *p != '\0'; p++) {
		int c = (unsigned char)*p;
		/* (c - v) ^ ... : zero exactly when c == v; blank = space, \t, \n, \v, \f, \r */
		unsigned sp = (unsigned)((((c ^ ' ') - 1) >> 8) & 1);
		unsigned ctl = (unsigned)((((0x08 - c) & (c - 0x0e)) >> 8) & 1); /* \t .. \r */
		unsigned lower = (unsigned)((((0x60 - c) & (c - 0x7b)) >> 8) & 0x20);

		if (o + 1 >= cap)
			return false;
		t[o] = (char)(c - (int)lower);
		o += 1u - (sp | ctl);
	}
	t[o] = '\0';
	return true;
}

/* The base32 part y[0..52) -> 32 bytes (the last 4 bits are padding): constant time in the
 * characters' values. false: a character outside the alphabet. */
static bool share_b32(const char *y, uint8_t out[BK_KEY_LEN])
{
	uint32_t acc = 0;
	unsigned bad = 0;
	int bits = 0;
	size_t k = 0;

	for (size_t i = 0; i < 52; i++) {
		int v = bk_b32_value((unsigned char)y[i]);

		bad |= (unsigned)v >> 31; /* -1 has its sign bit set */
		acc = (acc << 5) | ((uint32_t)v & 31u);
		bits += 5;
		if (bits >= 8) {
			if (k < BK_KEY_LEN)
				out[k++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	sec_wipe(&acc, sizeof acc);
	return bad == 0;
}

/* The check: the first 3 bytes of SHA-256 of t[0..n), in upper-case hex, equal chk[0..6). */
static bool share_check_ok(const char *t, size_t n, const char *chk)
{
	uint8_t h[SHA256_DIGEST_LENGTH];
	char want[7];
	bool ok;

	SHA256((const unsigned char *)t, n, h);
	ok = hex_encode(h, 3, HEX_UPPER, want, sizeof want) == CF_OK && ct_memeq(want, chk, 6);
	sec_wipe(h, sizeof h);
	sec_wipe(want, sizeof want);
	return ok;
}

cf_err bk_share_parse(const char *text, struct bk_share *out, struct bk_diag *d)
{
	char t[BK_SHARE_TEXT_MAX];
	cf_err rc = CF_E_BAD_VALUE;
	memset(out, 0, sizeof *out);
	if (!share_compact(text, t, sizeof t)) {
		DIAG(d, "share too long");
		goto out;
	}
	unsigned m = 0, n = 0, idx = 0, s0, s1, s2, s3;
	int pos = 0;
	if (sscanf(t, "CFS1-%2uOF%2u-%2u-%2X%2X%2X%2X-%n", &m, &n, &idx, &s0, &s1, &s2, &s3, &pos) != 7 ||
	    pos == 0) {
		DIAG(d, "not a share (expected CFS1-MofN-I-SETID-...-CHECK)");
		goto out;
	}
	const char *y = t + pos;
	const char *dash = strrchr(t, '-');
	if (dash == NULL || dash < y || strlen(dash + 1) != 6 || (size_t)(dash - y) != 52) {
		DIAG(d, "share malformed (length): check for a missing or extra character");
		goto out;
	}
	if (!share_check_ok(t, (size_t)(dash - t), dash + 1)) {
		DIAG(d, "share checksum mismatch: the share was mistyped");
		goto out;
	}
	if (m < 2 || n < m || n > BK_SHARES_MAX || idx < 1 || idx > n) {
		DIAG(d, "share numbers out of range");
		goto out;
	}
	if (!share_b32(y, out->y)) {
		DIAG(d, "share malformed (not base32)");
		goto out;
	}
	out->index = (uint8_t)idx;
	out->m = (uint8_t)m;
	out->n = (uint8_t)n;
	out->set_id[0] = (uint8_t)s0;
	out->set_id[1] = (uint8_t)s1;
	out->set_id[2] = (uint8_t)s2;
	out->set_id[3] = (uint8_t)s3;
	rc = CF_OK;
out:
	sec_wipe(t, sizeof t);
	if (rc != CF_OK)
		sec_wipe(out, sizeof *out);
	return rc;
}

/* The shares' consistency with the header: same set, the header's M of N, distinct indices. */
static cf_err shares_match(const struct bk_header *h, const struct bk_share *sh, size_t count,
			   struct bk_diag *d)
{
	if (h->scheme != BK_SCHEME_SHARES) {
		DIAG(d, "this backup is protected by a passphrase, not shares");
		return CF_E_INVALID_ARG;
	}
	if (count < h->threshold) {
		DIAG(d, "%zu shares given, %u needed", count, h->threshold);
		return CF_E_MISSING;
	}
	for (size_t i = 0; i < count && i < BK_SHARES_MAX; i++) {
		if (memcmp(sh[i].set_id, h->set_id, BK_SETID_LEN) != 0 || sh[i].m != h->threshold ||
		    sh[i].n != h->shares) {
			DIAG(d, "share %zu belongs to another backup (set or M of N differs)", i + 1);
			return CF_E_BAD_VALUE;
		}
		for (size_t j = 0; j < i; j++) {
			if (sh[j].index == sh[i].index) {
				DIAG(d, "share number %u was given twice", sh[i].index);
				return CF_E_DUPLICATE;
			}
		}
		if (sh[i].index == 0)
			return CF_E_BAD_VALUE; /* x = 0 is the key itself: bk_share_parse refuses it */
	}
	if (count > BK_SHARES_MAX)
		return CF_E_TOO_MANY;
	return CF_OK;
}

cf_err bk_shares_combine(const struct bk_header *h, const struct bk_share *sh, size_t count,
			 uint8_t key[BK_KEY_LEN], struct bk_diag *d)
{
	TRY(shares_match(h, sh, count, d));
	memset(key, 0, BK_KEY_LEN);
	/* Lagrange at x = 0: key = sum of y_i * prod_{j != i} x_j / (x_j - x_i); in GF(2^8)
	 * subtraction is xor. The x are the public share numbers. */
	for (size_t i = 0; i < count; i++) {
		uint8_t num = 1, den = 1;

		for (size_t j = 0; j < count; j++) {
			if (j == i)
				continue;
			num = gf_mul(num, sh[j].index);
			den = gf_mul(den, (uint8_t)(sh[j].index ^ sh[i].index));
		}
		uint8_t l = gf_mul(num, gf_inv(den));
		for (size_t b = 0; b < BK_KEY_LEN; b++)
			key[b] ^= gf_mul(sh[i].y[b], l);
	}
	return CF_OK;
}

/* ---- seal / open ---------------------------------------------------------------------------- */

void bk_free(void *p, size_t n)
{
	sec_freezero(p, n);
}

static cf_err kcv_of(const uint8_t key[BK_KEY_LEN], uint8_t kcv[BK_KCV_LEN])
{
	return bk_subkey(key, BK_SUB_KCV, kcv, BK_KCV_LEN);
}

cf_err bk_seal(struct bk_header *h, const uint8_t key[BK_KEY_LEN], const uint8_t *body,
	       size_t body_n, uint8_t **out, size_t *out_n)
{
	*out = NULL;
	*out_n = 0;
	if (body_n > BK_BODY_MAX)
		return CF_E_TOO_LARGE;
	h->format = BK_FORMAT;
	h->body_len = (uint32_t)body_n;
	TRY(kcv_of(key, h->kcv));
	if (sec_random(h->nonce, sizeof h->nonce) != CF_OK)
		return CF_E_INTERNAL;
	size_t total = BK_HDR_LEN + body_n + BK_TAG_LEN;
	uint8_t *f = malloc(total);
	if (f == NULL)
		return CF_E_NOMEM;
	bk_header_encode(h, f);
	uint8_t fk[32];
	cf_err rc = bk_subkey(key, BK_SUB_FILE, fk, sizeof fk);
	EVP_CIPHER_CTX *c = rc == CF_OK ? EVP_CIPHER_CTX_new() : NULL;
	int l = 0, l2 = 0;
	if (rc == CF_OK && (c == NULL || EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, fk, h->nonce) != 1 ||
			    EVP_EncryptUpdate(c, NULL, &l, f, BK_HDR_LEN) != 1 ||
			    EVP_EncryptUpdate(c, f + BK_HDR_LEN, &l, body, (int)body_n) != 1 ||
			    EVP_EncryptFinal_ex(c, f + BK_HDR_LEN + l, &l2) != 1 ||
			    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, BK_TAG_LEN,
						f + BK_HDR_LEN + body_n) != 1))
		rc = CF_E_INTERNAL;
	EVP_CIPHER_CTX_free(c);
	sec_wipe(fk, sizeof fk);
	if (rc != CF_OK) {
		free(f);
		return rc;
	}
	*out = f;
	*out_n = total;
	return CF_OK;
}

cf_err bk_open(const uint8_t *file, size_t n, const struct bk_header *h,
	       const uint8_t key[BK_KEY_LEN], uint8_t **body, size_t *body_n, struct bk_diag *d)
{
	*body = NULL;
	*body_n = 0;
	if (n != (size_t)BK_HDR_LEN + h->body_len + BK_TAG_LEN)
		return CF_E_INVALID_ARG;
	uint8_t kcv[BK_KCV_LEN];
	TRY(kcv_of(key, kcv));
	bool ok = ct_memeq(kcv, h->kcv, BK_KCV_LEN);
	sec_wipe(kcv, sizeof kcv);
	if (!ok) {
		DIAG(d, h->scheme == BK_SCHEME_PASSPHRASE
				? "wrong passphrase (or the backup header was altered)"
				: "wrong shares: they do not rebuild this backup's key");
		return CF_E_AUTH;
	}
	uint8_t *b = malloc(h->body_len + 1u);
	if (b == NULL)
		return CF_E_NOMEM;
	uint8_t fk[32];
	cf_err rc = bk_subkey(key, BK_SUB_FILE, fk, sizeof fk);
	EVP_CIPHER_CTX *c = rc == CF_OK ? EVP_CIPHER_CTX_new() : NULL;
	int l = 0, l2 = 0;
	if (rc == CF_OK && (c == NULL || EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, fk, h->nonce) != 1 ||
			    EVP_DecryptUpdate(c, NULL, &l, file, BK_HDR_LEN) != 1 ||
			    EVP_DecryptUpdate(c, b, &l, file + BK_HDR_LEN, (int)h->body_len) != 1 ||
			    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, BK_TAG_LEN,
						(void *)(file + BK_HDR_LEN + h->body_len)) != 1))
		rc = CF_E_INTERNAL;
	if (rc == CF_OK && EVP_DecryptFinal_ex(c, b + l, &l2) != 1) {
		DIAG(d, "the backup is damaged or was altered (authentication failed)");
		rc = CF_E_BAD_MESSAGE;
	}
	EVP_CIPHER_CTX_free(c);
	sec_wipe(fk, sizeof fk);
	if (rc != CF_OK) {
		bk_free(b, h->body_len + 1u);
		return rc;
	}
	*body = b;
	*body_n = h->body_len;
	return CF_OK;
}

/* ---- body ------------------------------------------------------------------------------------ */

/* The largest buffer: a body of BK_BODY_MAX and its record framing. */
#define BUF_MAX ((size_t)BK_BODY_MAX + 4096u)

static void buf_grow(struct bk_buf *b, size_t more)
{
	if (b->oom)
		return;
	/* b->n <= BUF_MAX always: compare by subtraction, never add first */
	if (b->n > BUF_MAX || more > BUF_MAX - b->n) {
		b->oom = true;
		return;
	}
	if (more <= b->cap - b->n)
		return;
	size_t nc = b->cap ? b->cap : 4096;
	while (nc < b->n + more) /* b->n + more <= BUF_MAX, nc < 2 * BUF_MAX */
		nc *= 2;
	if (nc > BUF_MAX)
		nc = BUF_MAX;
	uint8_t *p = malloc(nc);
	if (p == NULL) {
		b->oom = true;
		return;
	}
	if (b->p != NULL) {
		memcpy(p, b->p, b->n);
		sec_freezero(b->p, b->cap);
	}
	b->p = p;
	b->cap = nc;
}

void bk_buf_put(struct bk_buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (b->oom)
		return;
	if (n > 0)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}
void bk_buf_u8(struct bk_buf *b, uint8_t v) { bk_buf_put(b, &v, 1); }
void bk_buf_u16(struct bk_buf *b, uint16_t v) { uint8_t x[2]; be16(x, v); bk_buf_put(b, x, 2); }
void bk_buf_u32(struct bk_buf *b, uint32_t v) { uint8_t x[4]; be32(x, v); bk_buf_put(b, x, 4); }
void bk_buf_u64(struct bk_buf *b, uint64_t v) { uint8_t x[8]; be64(x, v); bk_buf_put(b, x, 8); }
void bk_buf_bytes(struct bk_buf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		b->oom = true;
		return;
	}
	bk_buf_u32(b, (uint32_t)n);
	bk_buf_put(b, p, n);
}
void bk_buf_str(struct bk_buf *b, const char *s)
{
	size_t n = strlen(s);
	if (n > UINT16_MAX) {
		b->oom = true;
		return;
	}
	bk_buf_u16(b, (uint16_t)n);
	bk_buf_put(b, s, n);
}
void bk_buf_free(struct bk_buf *b)
{
	sec_freezero(b->p, b->cap);
	memset(b, 0, sizeof *b);
}
size_t bk_rec_begin(struct bk_buf *b, enum bk_rec tag)
{
	bk_buf_u8(b, (uint8_t)tag);
	size_t at = b->n;
	bk_buf_u32(b, 0);
	return at;
}
void bk_rec_end(struct bk_buf *b, size_t at)
{
	if (!b->oom)
		be32(b->p + at, (uint32_t)(b->n - at - 4));
}
void bk_body_start(struct bk_buf *b, uint32_t schema)
{
	bk_buf_put(b, BK_BODY_MAGIC, 4);
	bk_buf_u16(b, 1);
	bk_buf_u32(b, schema);
}
void bk_body_finish(struct bk_buf *b)
{
	size_t at = bk_rec_begin(b, BK_REC_END);
	bk_rec_end(b, at);
}

/* a bounded reader */
struct cur {
	const uint8_t *p;
	size_t n;
	bool bad;
};
static const uint8_t *cur_take(struct cur *c, size_t k)
{
	if (c->bad || c->n < k) {
		c->bad = true;
		return NULL;
	}
	const uint8_t *p = c->p;
	c->p += k;
	c->n -= k;
	return p;
}
static uint8_t cur_u8(struct cur *c) { const uint8_t *p = cur_take(c, 1); return p ? p[0] : 0; }
static uint16_t cur_u16(struct cur *c) { const uint8_t *p = cur_take(c, 2); return p ? rd16(p) : 0; }
static uint32_t cur_u32(struct cur *c) { const uint8_t *p = cur_take(c, 4); return p ? rd32(p) : 0; }
static uint64_t cur_u64(struct cur *c) { const uint8_t *p = cur_take(c, 8); return p ? rd64(p) : 0; }
static const uint8_t *cur_bytes(struct cur *c, size_t *n)
{
	uint32_t k = cur_u32(c);
	const uint8_t *p = cur_take(c, k);
	*n = p ? k : 0;
	return p;
}
/* u16 length string into out[cap] (NUL-terminated; no NUL inside) */
static void cur_str(struct cur *c, char *out, size_t cap)
{
	uint16_t k = cur_u16(c);
	const uint8_t *p = cur_take(c, k);
	out[0] = '\0';
	if (p == NULL)
		return;
	if (k >= cap || memchr(p, 0, k) != NULL) {
		c->bad = true;
		return;
	}
	memcpy(out, p, k);
	out[k] = '\0';
}

static bool ident_ok(const char *s)
{
	if (s[0] == '\0')
		return false;
	for (const char *p = s; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' ||
		      *p == '.'))
			return false;
	return true;
}

static cf_err walk_table(struct cur *r, const struct bk_body_cb *cb, void *arg,
			 struct bk_counts *counts, struct bk_diag *d)
{
	struct bk_table t;
	memset(&t, 0, sizeof t);
	cur_str(r, t.name, sizeof t.name);
	t.ncols = cur_u16(r);
	if (r->bad || !ident_ok(t.name) || t.ncols == 0 || t.ncols > BK_COLS_MAX) {
		DIAG(d, "backup body malformed (table header)");
		return CF_E_BAD_MESSAGE;
	}
	for (unsigned i = 0; i < t.ncols; i++) {
		cur_str(r, t.cols[i], sizeof t.cols[i]);
		if (r->bad || !ident_ok(t.cols[i])) {
			DIAG(d, "backup body malformed (column names of %s)", t.name);
			return CF_E_BAD_MESSAGE;
		}
	}
	uint32_t rows = cur_u32(r);
	if (r->bad) {
		DIAG(d, "backup body malformed (table %s)", t.name);
		return CF_E_BAD_MESSAGE;
	}
	if (cb != NULL && cb->table != NULL)
		TRY(cb->table(arg, &t));
	struct bk_val v[BK_COLS_MAX];
	for (uint32_t i = 0; i < rows; i++) {
		for (unsigned j = 0; j < t.ncols; j++) {
			memset(&v[j], 0, sizeof v[j]);
			v[j].type = cur_u8(r);
			switch (v[j].type) {
			case BK_V_NULL:
				break;
			case BK_V_INT:
				v[j].i = (int64_t)cur_u64(r);
				break;
			case BK_V_TEXT:
			case BK_V_BLOB:
				v[j].p = cur_bytes(r, &v[j].n);
				if (v[j].type == BK_V_TEXT && v[j].p != NULL &&
				    memchr(v[j].p, 0, v[j].n) != NULL)
					r->bad = true;
				break;
			default:
				r->bad = true;
			}
			if (r->bad) {
				DIAG(d, "backup body malformed (table %s, row %u)", t.name, i + 1);
				return CF_E_BAD_MESSAGE;
			}
		}
		if (strcmp(t.name, "objects") == 0)
			counts->objects++;
		else if (strcmp(t.name, "attributes") == 0)
			counts->attributes++;
		else if (strcmp(t.name, "clients") == 0)
			counts->clients++;
		else if (strcmp(t.name, "users") == 0)
			counts->users++;
		else if (strcmp(t.name, "meta") == 0)
			counts->meta++;
		if (cb != NULL && cb->row != NULL)
			TRY(cb->row(arg, &t, v));
	}
	if (r->n != 0) {
		DIAG(d, "backup body malformed (bytes after table %s)", t.name);
		return CF_E_BAD_MESSAGE;
	}
	return CF_OK;
}

cf_err bk_body_walk(const uint8_t *p, size_t n, const struct bk_body_cb *cb, void *arg,
		    struct bk_counts *counts, uint32_t *schema, struct bk_diag *d)
{
	memset(counts, 0, sizeof *counts);
	*schema = 0;
	struct cur c = { p, n, false };
	const uint8_t *m = cur_take(&c, 4);
	uint16_t ver = cur_u16(&c);
	*schema = cur_u32(&c);
	if (m == NULL || memcmp(m, BK_BODY_MAGIC, 4) != 0 || c.bad) {
		DIAG(d, "backup body malformed (magic)");
		return CF_E_BAD_MESSAGE;
	}
	if (ver != 1) {
		DIAG(d, "backup body version %u not supported", ver);
		return CF_E_BAD_VERSION;
	}
	for (;;) {
		uint8_t tag = cur_u8(&c);
		size_t len = 0;
		const uint8_t *v = cur_bytes(&c, &len);
		if (c.bad) {
			DIAG(d, "backup body truncated (no end record)");
			return CF_E_BAD_MESSAGE;
		}
		struct cur r = { v, len, false };
		switch (tag) {
		case BK_REC_END:
			if (len != 0 || c.n != 0) {
				DIAG(d, "backup body malformed (bytes after the end record)");
				return CF_E_BAD_MESSAGE;
			}
			return CF_OK;
		case BK_REC_KEK: {
			struct bk_kek k;
			k.version = cur_u32(&r);
			k.wrapped = cur_bytes(&r, &k.wrapped_n);
			if (r.bad || r.n != 0 || k.version == 0 || k.wrapped_n < 16 || k.wrapped_n > 512) {
				DIAG(d, "backup body malformed (KEK record)");
				return CF_E_BAD_MESSAGE;
			}
			counts->keks++;
			if (cb != NULL && cb->kek != NULL)
				TRY(cb->kek(arg, &k));
			break;
		}
		case BK_REC_KEYPAIR: {
			struct bk_keypair k;
			memset(&k, 0, sizeof k);
			cur_str(&r, k.label, sizeof k.label);
			k.id = cur_bytes(&r, &k.id_n);
			k.key_type = cur_u32(&r);
			k.wrapped = cur_bytes(&r, &k.wrapped_n);
			k.pub_a = cur_bytes(&r, &k.pub_a_n);
			k.pub_b = cur_bytes(&r, &k.pub_b_n);
			if (r.bad || r.n != 0 || k.label[0] == '\0' || k.id_n == 0 || k.id_n > 64 ||
			    k.wrapped_n < 16 || k.wrapped_n > 8192 || k.pub_a_n == 0 ||
			    k.pub_a_n > 1024 || k.pub_b_n == 0 || k.pub_b_n > 1024) {
				DIAG(d, "backup body malformed (key pair record)");
				return CF_E_BAD_MESSAGE;
			}
			counts->keypairs++;
			if (cb != NULL && cb->keypair != NULL)
				TRY(cb->keypair(arg, &k));
			break;
		}
		case BK_REC_FILE: {
			struct bk_file f;
			memset(&f, 0, sizeof f);
			cur_str(&r, f.name, sizeof f.name);
			f.p = cur_bytes(&r, &f.n);
			if (r.bad || r.n != 0 || !ident_ok(f.name) || f.n == 0) {
				DIAG(d, "backup body malformed (file record)");
				return CF_E_BAD_MESSAGE;
			}
			counts->files++;
			if (cb != NULL && cb->file != NULL)
				TRY(cb->file(arg, &f));
			break;
		}
		case BK_REC_TABLE:
			TRY(walk_table(&r, cb, arg, counts, d));
			break;
		default:
			DIAG(d, "backup body: unknown record %u", tag);
			return CF_E_BAD_MESSAGE;
		}
	}
}
