/* Target: the backup importer's parsers (firmware/backup/backup_fmt.c): bk_file_decode (armor lines,
 * checksums, numbering), bk_header_parse, bk_open, bk_body_walk. No HSM, no store, no Argon2:
 * a fixed backup key stands for the passphrase / shares.
 *
 * The first input byte picks the mode (the rest is the input):
 *   even  an armored or binary backup file, as pasted or read at `backup import`: decode,
 *         parse the header, open with the fixed key (a file sealed under it is walked)
 *   odd   a plaintext body: walk it with every callback; a body that walks is sealed under
 *         the fixed key, armored, and must come back through decode / parse / open / walk
 *         byte for byte with the same counts (round trip)
 * Seeds (tests/fuzz/corpus/backup_import): a real export (armored) and its body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/backup/backup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fixed_key[BK_KEY_LEN] = {
	0x43, 0x6f, 0x66, 0x66, 0x72, 0x65, 0x20, 0x66, 0x75, 0x7a, 0x7a, 0x20, 0x6b, 0x65, 0x79, 0x21,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
};

/* Touch every byte the walker hands out: ASan catches a view past its record. */
static unsigned sink;
static void touch(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sink += p[i];
}
static cf_err cb_kek(void *arg, const struct bk_kek *k)
{
	(void)arg;
	touch(k->wrapped, k->wrapped_n);
	return CF_OK;
}
static cf_err cb_keypair(void *arg, const struct bk_keypair *k)
{
	(void)arg;
	if (strlen(k->label) >= sizeof k->label)
		abort();
	touch(k->id, k->id_n);
	touch(k->wrapped, k->wrapped_n);
	touch(k->pub_a, k->pub_a_n);
	touch(k->pub_b, k->pub_b_n);
	return CF_OK;
}
static cf_err cb_file(void *arg, const struct bk_file *f)
{
	(void)arg;
	touch(f->p, f->n);
	return CF_OK;
}
static cf_err cb_table(void *arg, const struct bk_table *t)
{
	(void)arg;
	if (t->ncols == 0 || t->ncols > BK_COLS_MAX)
		abort();
	return CF_OK;
}
static cf_err cb_row(void *arg, const struct bk_table *t, const struct bk_val *v)
{
	(void)arg;
	for (unsigned i = 0; i < t->ncols; i++) {
		if (v[i].type == BK_V_TEXT || v[i].type == BK_V_BLOB)
			touch(v[i].p, v[i].n);
		if (v[i].type == BK_V_TEXT && v[i].p != NULL && memchr(v[i].p, 0, v[i].n) != NULL)
			abort(); /* the walker promises TEXT without NUL */
	}
	return CF_OK;
}
static const struct bk_body_cb cbs = { cb_kek, cb_keypair, cb_file, cb_table, cb_row };

static void file_mode(const uint8_t *p, size_t n)
{
	uint8_t *file = NULL, *body = NULL;
	size_t file_n = 0, body_n = 0;
	struct bk_header h;
	struct bk_diag d = { { 0 } };
	if (bk_file_decode(p, n, &file, &file_n, &d) != CF_OK) {
		if (file != NULL)
			abort(); /* nothing handed out on error */
		return;
	}
	if (bk_header_parse(file, file_n, &h, &d) == CF_OK) {
		if (file_n != (size_t)BK_HDR_LEN + h.body_len + BK_TAG_LEN || h.format != BK_FORMAT)
			abort();
		uint8_t re[BK_HDR_LEN];
		bk_header_encode(&h, re);
		if (memcmp(re + 6, file + 6, BK_HDR_LEN - 6) != 0)
			abort(); /* every field is parsed and written back the same */
		if (bk_open(file, file_n, &h, fixed_key, &body, &body_n, &d) == CF_OK) {
			struct bk_counts c;
			uint32_t schema;
			if (bk_body_walk(body, body_n, &cbs, NULL, &c, &schema, &d) == CF_OK &&
			    !bk_counts_equal(&c, &c))
				abort(); /* (keeps the result used; the walk itself is the check) */
			bk_free(body, body_n + 1);
		}
	}
	bk_free(file, file_n);
}

static void body_mode(const uint8_t *p, size_t n)
{
	struct bk_counts c, c2;
	uint32_t schema = 0, schema2 = 0;
	struct bk_diag d = { { 0 } };
	if (bk_body_walk(p, n, &cbs, NULL, &c, &schema, &d) != CF_OK)
		return;
	struct bk_header h;
	memset(&h, 0, sizeof h);
	h.scheme = BK_SCHEME_SHARES;
	h.threshold = 2;
	h.shares = 3;
	h.counts = c;
	h.kek_version = 1;
	uint8_t *file = NULL, *back = NULL, *body = NULL;
	size_t file_n = 0, back_n = 0, body_n = 0;
	char *armor = NULL;
	size_t armor_n = 0;
	struct bk_header h2;
	if (bk_seal(&h, fixed_key, p, n, &file, &file_n) != CF_OK)
		return;
	if (bk_armor_encode(file, file_n, &armor, &armor_n) != CF_OK ||
	    bk_file_decode((const uint8_t *)armor, armor_n, &back, &back_n, &d) != CF_OK ||
	    back_n != file_n || memcmp(back, file, file_n) != 0 ||
	    bk_header_parse(back, back_n, &h2, &d) != CF_OK ||
	    bk_open(back, back_n, &h2, fixed_key, &body, &body_n, &d) != CF_OK || body_n != n ||
	    memcmp(body, p, n) != 0 ||
	    bk_body_walk(body, body_n, NULL, NULL, &c2, &schema2, &d) != CF_OK ||
	    !bk_counts_equal(&c, &c2) || !bk_counts_equal(&c, &h2.counts) || schema != schema2)
		abort();
	bk_free(body, body_n + 1);
	bk_free(back, back_n);
	bk_free(armor, armor_n);
	bk_free(file, file_n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > (1u << 20))
		return 0;
	if (data[0] & 1)
		body_mode(data + 1, size - 1);
	else
		file_mode(data + 1, size - 1);
	return 0;
}
