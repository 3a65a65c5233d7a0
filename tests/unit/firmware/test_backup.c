/* The backup format (firmware/backup/backup_fmt.c), bk_verify (firmware/backup/backup.c) and the
 * store's tables in a body (backup_store.c, over a temporary store); no HSM. Round trip, armor line checksums, truncation, a newer format, counts that do not
 * match, a wrong passphrase, Shamir shares (any 3 of 5, not 2, duplicates, mistypes, the same
 * shares as libgfshare), the constant-time base32 decoder over every byte, the buffer's limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <cmocka.h>
#include <libgfshare.h>
#include <openssl/sha.h>

#include "firmware/backup/backup.h"
#include "firmware/store/store_backup.h"

/* A body: one KEK record, one file, a table of 3 rows (objects). */
static void body_make(struct bk_buf *b, struct bk_counts *c)
{
	uint8_t wrapped[40];
	memset(wrapped, 0xA5, sizeof wrapped);
	memset(c, 0, sizeof *c);
	bk_body_start(b, 2);
	size_t at = bk_rec_begin(b, BK_REC_KEK);
	bk_buf_u32(b, 7);
	bk_buf_bytes(b, wrapped, sizeof wrapped);
	bk_rec_end(b, at);
	c->keks = 1;
	at = bk_rec_begin(b, BK_REC_FILE);
	bk_buf_str(b, "tls.cert");
	bk_buf_bytes(b, "-----BEGIN CERTIFICATE-----\n", 28);
	bk_rec_end(b, at);
	c->files = 1;
	at = bk_rec_begin(b, BK_REC_TABLE);
	bk_buf_str(b, "objects");
	bk_buf_u16(b, 3);
	bk_buf_str(b, "uid");
	bk_buf_str(b, "state");
	bk_buf_str(b, "blob");
	bk_buf_u32(b, 3);
	for (int i = 0; i < 3; i++) {
		char uid[16];
		snprintf(uid, sizeof uid, "uid-%d", i);
		bk_buf_u8(b, BK_V_TEXT);
		bk_buf_bytes(b, uid, strlen(uid));
		bk_buf_u8(b, BK_V_INT);
		bk_buf_u64(b, (uint64_t)i);
		bk_buf_u8(b, i == 2 ? BK_V_NULL : BK_V_BLOB);
		if (i != 2)
			bk_buf_bytes(b, wrapped, 16);
	}
	bk_rec_end(b, at);
	c->objects = 3;
	bk_body_finish(b);
	assert_false(b->oom);
}

struct sealed {
	struct bk_header h;
	uint8_t key[BK_KEY_LEN];
	uint8_t *file;
	size_t file_n;
	char *armor;
	size_t armor_n;
	char shares[BK_SHARES_MAX][BK_SHARE_TEXT_MAX];
};

/* A shares backup (3 of 5) or a passphrase backup. counts_delta: added to the header's object
 * count before sealing (authenticated, but not what the body holds). */
static void seal(struct sealed *s, bool pass, const char *pw, int counts_delta)
{
	struct bk_buf b = { 0 };
	memset(s, 0, sizeof *s);
	body_make(&b, &s->h.counts);
	s->h.counts.objects = (uint32_t)((int)s->h.counts.objects + counts_delta);
	s->h.created = 1700000000;
	s->h.kek_version = 7;
	snprintf(s->h.appliance_id, sizeof s->h.appliance_id, "0123abcd-0000-4000-8000-000000000000");
	if (pass) {
		s->h.scheme = BK_SCHEME_PASSPHRASE;
		s->h.t_cost = BK_ARGON2_T_MIN;
		s->h.m_kib = BK_ARGON2_M_MIN;
		s->h.lanes = 1;
		assert_int_equal(getrandom(s->h.salt, sizeof s->h.salt, 0), (ssize_t)sizeof s->h.salt);
		assert_int_equal(bk_key_from_pass(&s->h, pw, strlen(pw), s->key), CF_OK);
	} else {
		s->h.scheme = BK_SCHEME_SHARES;
		s->h.threshold = 3;
		s->h.shares = 5;
		assert_int_equal(getrandom(s->h.set_id, sizeof s->h.set_id, 0), (ssize_t)BK_SETID_LEN);
		assert_int_equal(getrandom(s->key, sizeof s->key, 0), (ssize_t)BK_KEY_LEN);
		assert_int_equal(bk_shares_split(s->key, 3, 5, s->h.set_id, s->shares), CF_OK);
	}
	assert_int_equal(bk_seal(&s->h, s->key, b.p, b.n, &s->file, &s->file_n), CF_OK);
	assert_int_equal(bk_armor_encode(s->file, s->file_n, &s->armor, &s->armor_n), CF_OK);
	bk_buf_free(&b);
}

static void sealed_free(struct sealed *s)
{
	bk_free(s->file, s->file_n);
	bk_free(s->armor, s->armor_n);
}

static void parse_shares(const struct sealed *s, const int *idx, size_t n, struct bk_share *out)
{
	struct bk_diag d = { { 0 } };
	for (size_t i = 0; i < n; i++)
		assert_int_equal(bk_share_parse(s->shares[idx[i]], &out[i], &d), CF_OK);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct sealed s;
	struct bk_share sh[3];
	struct bk_opened o;
	struct bk_diag d = { { 0 } };
	const int idx[3] = { 0, 2, 4 };
	seal(&s, false, NULL, 0);
	parse_shares(&s, idx, 3, sh);
	struct bk_secret sec = { .shares = sh, .n_shares = 3 };
	/* the armored text and the binary file both verify */
	assert_int_equal(bk_verify((const uint8_t *)s.armor, s.armor_n, &sec, &o, &d), CF_OK);
	assert_int_equal(o.hdr.kek_version, 7);
	assert_string_equal(o.hdr.appliance_id, "0123abcd-0000-4000-8000-000000000000");
	assert_int_equal(o.hdr.counts.objects, 3);
	assert_int_equal(o.schema, 2);
	assert_memory_equal(o.key, s.key, BK_KEY_LEN);
	struct bk_counts c;
	uint32_t schema;
	assert_int_equal(bk_body_walk(o.body, o.body_n, NULL, NULL, &c, &schema, &d), CF_OK);
	assert_true(bk_counts_equal(&c, &s.h.counts));
	bk_opened_free(&o);
	assert_int_equal(bk_verify(s.file, s.file_n, &sec, &o, &d), CF_OK);
	bk_opened_free(&o);
	/* text around the armor (a terminal log) is ignored */
	size_t n = s.armor_n + 64;
	char *t = malloc(n + 1);
	assert_non_null(t);
	int k = snprintf(t, n + 1, "coffre> backup export\nnoise\n%s", s.armor);
	assert_int_equal(bk_verify((const uint8_t *)t, (size_t)k, &sec, &o, &d), CF_OK);
	bk_opened_free(&o);
	free(t);
	sealed_free(&s);
}

static void test_armor_checksum(void **state)
{
	(void)state;
	struct sealed s;
	struct bk_diag d = { { 0 } };
	uint8_t *out = NULL;
	size_t n = 0;
	seal(&s, false, NULL, 0);
	/* line 2, each base64 character changed in turn: always named */
	char *l2 = strstr(s.armor, "\n000002:");
	assert_non_null(l2);
	for (size_t i = 8; i < 8 + 64; i++) {
		char was = l2[i];
		l2[i] = was == 'A' ? 'B' : 'A';
		memset(&d, 0, sizeof d);
		assert_int_equal(bk_armor_decode(s.armor, s.armor_n, &out, &n, &d), CF_E_BAD_MESSAGE);
		assert_non_null(strstr(d.msg, "line 2"));
		assert_non_null(strstr(d.msg, "checksum"));
		l2[i] = was;
	}
	/* a line dropped, a line repeated */
	char *l3 = strstr(s.armor, "\n000003:");
	assert_non_null(l3);
	size_t len = strlen(s.armor);
	char *drop = malloc(len + 1);
	assert_non_null(drop);
	size_t a = (size_t)(l2 - s.armor);
	memcpy(drop, s.armor, a);
	strcpy(drop + a, l3);
	assert_int_equal(bk_armor_decode(drop, strlen(drop), &out, &n, &d), CF_E_BAD_MESSAGE);
	assert_non_null(strstr(d.msg, "line 2 is missing"));
	free(drop);
	assert_int_equal(bk_armor_decode(s.armor, s.armor_n, &out, &n, &d), CF_OK);
	assert_memory_equal(out, s.file, s.file_n);
	bk_free(out, n);
	sealed_free(&s);
}

static void test_truncated(void **state)
{
	(void)state;
	struct sealed s;
	struct bk_header h;
	struct bk_diag d = { { 0 } };
	uint8_t *out = NULL;
	size_t n = 0;
	seal(&s, false, NULL, 0);
	assert_int_equal(bk_header_parse(s.file, s.file_n - 1, &h, &d), CF_E_TRUNCATED);
	assert_int_equal(bk_header_parse(s.file, 100, &h, &d), CF_E_TRUNCATED);
	assert_int_equal(bk_header_parse(s.file, s.file_n, &h, &d), CF_OK);
	/* the armor without its last lines and END */
	char *end = strstr(s.armor, "\n000003:");
	assert_non_null(end);
	assert_int_equal(bk_armor_decode(s.armor, (size_t)(end - s.armor) + 1, &out, &n, &d),
			 CF_E_TRUNCATED);
	assert_non_null(strstr(d.msg, "truncated"));
	/* binary with a byte more */
	uint8_t *more = malloc(s.file_n + 1);
	assert_non_null(more);
	memcpy(more, s.file, s.file_n);
	more[s.file_n] = 0;
	assert_int_equal(bk_header_parse(more, s.file_n + 1, &h, &d), CF_E_TRAILING);
	free(more);
	sealed_free(&s);
}

static void test_newer_format(void **state)
{
	(void)state;
	struct sealed s;
	struct bk_header h;
	struct bk_diag d = { { 0 } };
	struct bk_opened o;
	seal(&s, false, NULL, 0);
	s.file[5] = (uint8_t)(BK_FORMAT + 1);
	assert_int_equal(bk_header_parse(s.file, s.file_n, &h, &d), CF_E_BAD_VERSION);
	assert_non_null(strstr(d.msg, "newer"));
	struct bk_secret none = { 0 };
	assert_int_equal(bk_verify(s.file, s.file_n, &none, &o, &d), CF_E_BAD_VERSION);
	sealed_free(&s);
}

static void test_counts_mismatch(void **state)
{
	(void)state;
	struct sealed s;
	struct bk_share sh[3];
	struct bk_opened o;
	struct bk_diag d = { { 0 } };
	const int idx[3] = { 1, 2, 3 };
	seal(&s, false, NULL, +1); /* authentic, but the header claims one object more */
	parse_shares(&s, idx, 3, sh);
	struct bk_secret sec = { .shares = sh, .n_shares = 3 };
	assert_int_equal(bk_verify(s.file, s.file_n, &sec, &o, &d), CF_E_BAD_VALUE);
	assert_non_null(strstr(d.msg, "counts"));
	assert_null(o.body);
	sealed_free(&s);
}

static void test_flipped_bit(void **state)
{
	(void)state;
	struct sealed s;
	struct bk_share sh[3];
	struct bk_opened o;
	struct bk_diag d = { { 0 } };
	const int idx[3] = { 0, 1, 2 };
	seal(&s, false, NULL, 0);
	parse_shares(&s, idx, 3, sh);
	struct bk_secret sec = { .shares = sh, .n_shares = 3 };
	/* a bit in the body, in the tag, in an authenticated header field */
	const size_t at[] = { BK_HDR_LEN + 5, s.file_n - 1, 16 /* kek version */ };
	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
		s.file[at[i]] ^= 0x10;
		assert_int_equal(bk_verify(s.file, s.file_n, &sec, &o, &d), CF_E_BAD_MESSAGE);
		assert_non_null(strstr(d.msg, "authentication failed"));
		s.file[at[i]] ^= 0x10;
	}
	assert_int_equal(bk_verify(s.file, s.file_n, &sec, &o, &d), CF_OK);
	bk_opened_free(&o);
	sealed_free(&s);
}

static void test_wrong_passphrase(void **state)
{
	(void)state;
	struct sealed s;
	struct bk_opened o;
	struct bk_diag d = { { 0 } };
	const char *pw = "Correct-Horse-42";
	seal(&s, true, pw, 0);
	struct bk_secret bad = { .pass = "Correct-Horse-43", .pass_n = 16 };
	assert_int_equal(bk_verify((const uint8_t *)s.armor, s.armor_n, &bad, &o, &d), CF_E_AUTH);
	assert_non_null(strstr(d.msg, "wrong passphrase"));
	struct bk_secret good = { .pass = pw, .pass_n = strlen(pw) };
	assert_int_equal(bk_verify((const uint8_t *)s.armor, s.armor_n, &good, &o, &d), CF_OK);
	bk_opened_free(&o);
	/* shares given for a passphrase backup */
	struct bk_secret none = { 0 };
	assert_int_equal(bk_verify(s.file, s.file_n, &none, &o, &d), CF_E_MISSING);
	sealed_free(&s);
}

static void test_pass_strength(void **state)
{
	(void)state;
	struct bk_diag d;
	assert_false(bk_pass_check("Short-1", 7, &d));
	assert_false(bk_pass_check("alllowercaseletters", 19, &d));  /* 1 class, < 20 */
	assert_false(bk_pass_check("aaaaaaaaaaaaaaaaaaaaaaaaaaaaB1-", 31, &d)); /* mostly one */
	assert_true(bk_pass_check("Correct-Horse-42", 16, &d));
	assert_true(bk_pass_check("correct horse battery staple", 28, &d));
}

static void test_shares_any_three(void **state)
{
	(void)state;
	struct sealed s;
	struct bk_share all[5], pick[3];
	struct bk_diag d = { { 0 } };
	uint8_t key[BK_KEY_LEN];
	const int idx[5] = { 0, 1, 2, 3, 4 };
	seal(&s, false, NULL, 0);
	parse_shares(&s, idx, 5, all);
	unsigned combos = 0;
	for (int a = 0; a < 5; a++)
		for (int b = 0; b < 5; b++)
			for (int c = 0; c < 5; c++) {
				if (a == b || b == c || a == c)
					continue;
				pick[0] = all[a];
				pick[1] = all[b];
				pick[2] = all[c];
				assert_int_equal(bk_shares_combine(&s.h, pick, 3, key, &d), CF_OK);
				assert_memory_equal(key, s.key, BK_KEY_LEN);
				combos++;
			}
	assert_int_equal(combos, 60); /* every ordered choice of 3 of 5 */
	/* 4 and 5 shares work too */
	assert_int_equal(bk_shares_combine(&s.h, all, 5, key, &d), CF_OK);
	assert_memory_equal(key, s.key, BK_KEY_LEN);
	/* two are refused */
	assert_int_equal(bk_shares_combine(&s.h, all, 2, key, &d), CF_E_MISSING);
	assert_non_null(strstr(d.msg, "3 needed"));
	sealed_free(&s);
}

static void gf_rand(unsigned char *p, unsigned int n)
{
	assert_int_equal(getrandom(p, n, 0), (ssize_t)n);
}

/* Shares written by earlier builds (libgfshare's split, share i at x = i) combine here, and
 * this build's shares combine in libgfshare: the same field and coordinates. */
static void test_shares_libgfshare(void **state)
{
	(void)state;
	uint8_t key[BK_KEY_LEN], got[BK_KEY_LEN], y[BK_KEY_LEN], tmp[BK_KEY_LEN];
	unsigned char nrs[5] = { 1, 2, 3, 4, 5 };
	struct bk_header h;
	struct bk_share sh[5];
	struct bk_diag d = { { 0 } };
	char texts[5][BK_SHARE_TEXT_MAX];
	memset(&h, 0, sizeof h);
	h.scheme = BK_SCHEME_SHARES;
	h.threshold = 3;
	h.shares = 5;
	gfshare_fill_rand = gf_rand;
	for (int round = 0; round < 20; round++) {
		assert_int_equal(getrandom(key, sizeof key, 0), (ssize_t)sizeof key);
		memcpy(tmp, key, sizeof tmp);
		gfshare_ctx *g = gfshare_ctx_init_enc(nrs, 5, 3, BK_KEY_LEN);
		assert_non_null(g);
		gfshare_ctx_enc_setsecret(g, tmp);
		for (int i = 0; i < 5; i++) {
			memset(&sh[i], 0, sizeof sh[i]);
			gfshare_ctx_enc_getshare(g, (unsigned char)i, sh[i].y);
			sh[i].index = (uint8_t)(i + 1);
			sh[i].m = 3;
			sh[i].n = 5;
		}
		gfshare_ctx_free(g);
		const struct bk_share pick[3] = { sh[4], sh[1], sh[2] };
		assert_int_equal(bk_shares_combine(&h, pick, 3, got, &d), CF_OK);
		assert_memory_equal(got, key, BK_KEY_LEN);
		/* the other way round */
		assert_int_equal(bk_shares_split(key, 3, 5, h.set_id, texts), CF_OK);
		unsigned char use[3] = { 2, 4, 5 };
		g = gfshare_ctx_init_dec(use, 3, BK_KEY_LEN);
		assert_non_null(g);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(bk_share_parse(texts[use[i] - 1], &sh[0], &d), CF_OK);
			memcpy(y, sh[0].y, sizeof y);
			gfshare_ctx_dec_giveshare(g, (unsigned char)i, y);
		}
		gfshare_ctx_dec_extract(g, got);
		gfshare_ctx_free(g);
		assert_memory_equal(got, key, BK_KEY_LEN);
	}
}

/* bk_b32_value over every byte value against the alphabet. */
static void test_b32_all_bytes(void **state)
{
	(void)state;
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	for (int c = 0; c < 256; c++) {
		const char *q = c != 0 ? strchr(alpha, c) : NULL;
		assert_int_equal(bk_b32_value(c), q != NULL ? (int)(q - alpha) : -1);
	}
	assert_int_equal(bk_b32_value(-1), -1);
	assert_int_equal(bk_b32_value(256), -1);
}

/* A share with any one base32 character replaced by any byte outside the alphabet (its
 * check recomputed, so that only the decoder can refuse it) is refused as not base32. */
static void test_share_not_base32(void **state)
{
	(void)state;
	struct sealed s;
	struct bk_share sh;
	struct bk_diag d = { { 0 } };
	seal(&s, false, NULL, 0);
	const char *y = strchr(s.shares[0] + 5, '-'); /* after CFS1- */
	y = strchr(y + 1, '-');
	y = strchr(y + 1, '-') + 1; /* the base32 part */
	size_t at = (size_t)(y - s.shares[0]) + 7;
	for (int c = 1; c < 256; c++) {
		if (bk_b32_value(c) >= 0 || (c >= 'a' && c <= 'z') || c == ' ' ||
		    (c >= '\t' && c <= '\r') || c == '-')
			continue;
		char t[BK_SHARE_TEXT_MAX];
		snprintf(t, sizeof t, "%s", s.shares[0]);
		t[at] = (char)c;
		char *dash = strrchr(t, '-');
		uint8_t h[32];
		SHA256((const unsigned char *)t, (size_t)(dash - t), h);
		snprintf(dash + 1, 7, "%02X%02X%02X", h[0], h[1], h[2]);
		memset(&d, 0, sizeof d);
		assert_int_equal(bk_share_parse(t, &sh, &d), CF_E_BAD_VALUE);
		assert_non_null(strstr(d.msg, "not base32"));
	}
	sealed_free(&s);
}

/* A put larger than what is left up to the limit is refused before any size is added. */
static void test_buf_limit(void **state)
{
	(void)state;
	struct bk_buf b = { 0 };
	uint8_t x = 1;
	bk_buf_put(&b, &x, 1);
	assert_false(b.oom);
	bk_buf_put(&b, &x, SIZE_MAX); /* 1 + SIZE_MAX wraps to 0 */
	assert_true(b.oom);
	assert_int_equal(b.n, 1);
	bk_buf_free(&b);
	bk_buf_put(&b, &x, (size_t)BK_BODY_MAX + 8192u);
	assert_true(b.oom);
	assert_null(b.p);
	bk_buf_free(&b);
}

static void test_shares_two_do_not(void **state)
{
	(void)state;
	/* a header that asks for 2 of 5 over 3-of-5 shares: refused as another backup's;
	 * and two genuine shares with a forged third (right form, other bytes) give a key
	 * that the key check value refuses */
	struct sealed s;
	struct bk_share sh[3];
	struct bk_opened o;
	struct bk_diag d = { { 0 } };
	const int idx[3] = { 0, 1, 2 };
	seal(&s, false, NULL, 0);
	parse_shares(&s, idx, 3, sh);
	struct bk_header h2 = s.h;
	h2.threshold = 2;
	uint8_t key[BK_KEY_LEN];
	assert_int_equal(bk_shares_combine(&h2, sh, 2, key, &d), CF_E_BAD_VALUE);
	sh[2].y[0] ^= 1;
	struct bk_secret sec = { .shares = sh, .n_shares = 3 };
	assert_int_equal(bk_verify(s.file, s.file_n, &sec, &o, &d), CF_E_AUTH);
	assert_non_null(strstr(d.msg, "wrong shares"));
	sealed_free(&s);
}

static void test_share_duplicate_and_foreign(void **state)
{
	(void)state;
	struct sealed s, other;
	struct bk_share sh[3];
	struct bk_diag d = { { 0 } };
	uint8_t key[BK_KEY_LEN];
	const int idx[3] = { 0, 1, 0 };
	seal(&s, false, NULL, 0);
	seal(&other, false, NULL, 0);
	parse_shares(&s, idx, 3, sh);
	assert_int_equal(bk_shares_combine(&s.h, sh, 3, key, &d), CF_E_DUPLICATE);
	assert_non_null(strstr(d.msg, "twice"));
	assert_int_equal(bk_share_parse(other.shares[2], &sh[2], &d), CF_OK);
	assert_int_equal(bk_shares_combine(&s.h, sh, 3, key, &d), CF_E_BAD_VALUE);
	assert_non_null(strstr(d.msg, "another backup"));
	sealed_free(&s);
	sealed_free(&other);
}

static void test_share_mistyped(void **state)
{
	(void)state;
	struct sealed s;
	struct bk_share sh;
	struct bk_diag d = { { 0 } };
	seal(&s, false, NULL, 0);
	char t[BK_SHARE_TEXT_MAX + 8];
	/* blanks and case do not matter */
	snprintf(t, sizeof t, "  %.100s ", s.shares[3]);
	for (char *p = t; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	memmove(t + 13, t + 12, strlen(t + 12) + 1);
	t[12] = ' ';
	assert_int_equal(bk_share_parse(t, &sh, &d), CF_OK);
	assert_int_equal(sh.index, 4);
	/* every character of the share changed in turn: caught (checksum or form) */
	size_t n = strlen(s.shares[3]);
	unsigned by_checksum = 0;
	for (size_t i = 0; i < n; i++) {
		snprintf(t, sizeof t, "%.100s", s.shares[3]);
		if (t[i] == '-')
			continue;
		t[i] = t[i] == 'A' ? 'B' : t[i] == '2' ? '3' : 'A';
		memset(&d, 0, sizeof d);
		assert_int_not_equal(bk_share_parse(t, &sh, &d), CF_OK);
		by_checksum += strstr(d.msg, "mistyped") != NULL;
	}
	assert_true(by_checksum > n / 2);
	/* a character dropped */
	snprintf(t, sizeof t, "%.100s", s.shares[3]);
	memmove(t + 30, t + 31, strlen(t + 31) + 1);
	assert_int_equal(bk_share_parse(t, &sh, &d), CF_E_BAD_VALUE);
	sealed_free(&s);
}

/* ---- the store's tables: bk_tables_dump / bk_tables_load (firmware/backup/backup_store.c) ---- */

static struct store *store_new(char *dir, size_t cap)
{
	struct store *st = NULL;
	char path[256];
	snprintf(dir, cap, "/tmp/coffre_test_backup_XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/store.db", dir);
	assert_int_equal(store_open(path, NULL, &st), CF_OK);
	return st;
}

static void store_gone(struct store *st, const char *dir)
{
	char cmd[300];
	store_close(st);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void obj_add(struct store *st, const char *uid)
{
	static const uint8_t blob[40] = { 0xa6, 0x59, 0x59, 0xa6, 1, 2, 3, 4 };
	struct store_object o;
	struct store_attr a = { .name = "Name", .value_type = 7, .v_text = "key one" };
	memset(&o, 0, sizeof o);
	snprintf(o.uid, sizeof o.uid, "%s", uid);
	snprintf(o.tenant, sizeof o.tenant, "t1");
	snprintf(o.owner, sizeof o.owner, "alice");
	o.object_type = 2;
	o.state = 2;
	o.kek_version = 1;
	o.wrapped = (uint8_t *)blob;
	o.wrapped_len = sizeof blob;
	o.created = 1700000000;
	assert_int_equal(store_object_insert(st, &o, &a, 1), CF_OK);
}

/* Rows dumped from one store load into another, as they were; a second full load finds them
 * (refused, nothing added), a merge keeps them (nothing inserted), an unknown table or
 * column is named. */
static void test_tables_round_trip(void **state)
{
	(void)state;
	char d1[64], d2[64], v[64];
	struct store *a = store_new(d1, sizeof d1), *b = store_new(d2, sizeof d2);
	struct bk_buf body = { 0 };
	struct bk_counts n, walked;
	struct bk_diag d = { { 0 } };
	struct store_object o;
	uint32_t schema = 0;
	bool empty = false;
	obj_add(a, "uid-1");
	obj_add(a, "uid-2");
	assert_int_equal(store_meta_set(a, "kmip.setting", "x1"), CF_OK);
	assert_int_equal(store_meta_set(a, "backup.last", "123"), CF_OK); /* not copied */
	bk_body_start(&body, (uint32_t)store_schema_version());
	assert_int_equal(bk_tables_dump(a, &body), CF_OK);
	bk_body_finish(&body);
	assert_false(body.oom);
	assert_int_equal(bk_body_walk(body.p, body.n, NULL, NULL, &walked, &schema, &d), CF_OK);
	assert_int_equal(walked.objects, 2);
	assert_int_equal(walked.attributes, 2);
	assert_int_equal(schema, (uint32_t)store_schema_version());
	assert_int_equal(store_backup_empty(b, &empty), CF_OK);
	assert_true(empty);
	assert_int_equal(bk_tables_load(b, body.p, body.n, false, &n, &d), CF_OK);
	assert_int_equal(n.objects, 2);
	assert_int_equal(n.attributes, 2);
	assert_int_equal(n.meta, walked.meta);
	assert_int_equal(store_object_get(b, "t1", "uid-2", &o), CF_OK);
	assert_int_equal(o.wrapped_len, 40);
	assert_int_equal(o.wrapped[0], 0xa6);
	assert_string_equal(o.owner, "alice");
	store_object_free(&o);
	assert_int_equal(store_meta_get(b, "kmip.setting", v, sizeof v), CF_OK);
	assert_string_equal(v, "x1");
	assert_int_equal(store_meta_get(b, "backup.last", v, sizeof v), CF_E_NOT_FOUND);
	assert_int_equal(store_backup_empty(b, &empty), CF_OK);
	assert_false(empty);
	/* again: a full load finds the rows (all rolled back), a merge inserts nothing */
	memset(&d, 0, sizeof d);
	assert_int_equal(bk_tables_load(b, body.p, body.n, false, &n, &d), CF_E_EXISTS);
	assert_non_null(strstr(d.msg, "a row exists already"));
	assert_int_equal(bk_tables_load(b, body.p, body.n, true, &n, &d), CF_OK);
	assert_int_equal(n.objects + n.attributes + n.clients + n.users + n.meta, 0);
	bk_buf_free(&body);
	/* a table and a column this store does not have */
	static const char *const bad[2][2] = { { "secrets", "uid" }, { "objects", "colour" } };
	for (int i = 0; i < 2; i++) {
		bk_body_start(&body, 1);
		size_t at = bk_rec_begin(&body, BK_REC_TABLE);
		bk_buf_str(&body, bad[i][0]);
		bk_buf_u16(&body, 1);
		bk_buf_str(&body, bad[i][1]);
		bk_buf_u32(&body, 0);
		bk_rec_end(&body, at);
		bk_body_finish(&body);
		memset(&d, 0, sizeof d);
		assert_int_equal(bk_tables_load(b, body.p, body.n, true, &n, &d),
				 i == 0 ? CF_E_BAD_MESSAGE : CF_E_BAD_VERSION);
		assert_non_null(strstr(d.msg, i == 0 ? "unknown table \"secrets\"" : "objects.colour"));
		bk_buf_free(&body);
	}
	store_gone(a, d1);
	store_gone(b, d2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_armor_checksum),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_newer_format),
		cmocka_unit_test(test_counts_mismatch),
		cmocka_unit_test(test_flipped_bit),
		cmocka_unit_test(test_wrong_passphrase),
		cmocka_unit_test(test_pass_strength),
		cmocka_unit_test(test_shares_any_three),
		cmocka_unit_test(test_shares_libgfshare),
		cmocka_unit_test(test_b32_all_bytes),
		cmocka_unit_test(test_share_not_base32),
		cmocka_unit_test(test_buf_limit),
		cmocka_unit_test(test_shares_two_do_not),
		cmocka_unit_test(test_share_duplicate_and_foreign),
		cmocka_unit_test(test_share_mistyped),
		cmocka_unit_test(test_tables_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
