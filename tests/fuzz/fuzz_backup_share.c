/* Target: the share text parser bk_share_parse (firmware/backup/backup_fmt.c): the blank and
 * case folding, the CFS1-MofN-I-SETID-...-CHECK form, the check, the constant-time base32
 * decoder. The input is the typed line (cut at its first NUL, as the console reads it).
 *
 * Checks beyond ASan / UBSan: a refused share leaves *out zeroed and says why; an accepted one
 * has its numbers in range, and the same text in lower case with blanks inserted gives the
 * same share. Two accepted shares of one set are also combined (bk_shares_combine's checks).
 * Seeds (tests/fuzz/corpus/backup_share): shares of a real 3-of-5 split, and broken ones. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/backup/backup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SHARE_IN_MAX 512u

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* t again, in lower case, with a blank after every 5th character */
static void refold(const char *t, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; t[i] != '\0' && o + 2 < cap; i++) {
		char c = t[i];
		out[o++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
		if (i % 5 == 4)
			out[o++] = i % 2 ? ' ' : '\t';
	}
	out[o] = '\0';
}

static void accepted(const char *t, const struct bk_share *sh)
{
	char again[2 * SHARE_IN_MAX + 2];
	struct bk_share sh2;
	struct bk_diag d = { { 0 } };
	if (sh->m < 2 || sh->n < sh->m || sh->n > BK_SHARES_MAX || sh->index < 1 ||
	    sh->index > sh->n)
		abort();
	refold(t, again, sizeof again);
	if (strlen(t) * 2 < sizeof again - 2) {
		if (bk_share_parse(again, &sh2, &d) != CF_OK || memcmp(&sh2, sh, sizeof sh2) != 0)
			abort(); /* blanks and case do not matter */
	}
	/* combined with a second share of the same set, 2 of n, at another index: a key comes
	 * out */
	struct bk_header h;
	struct bk_share two[2] = { *sh, *sh };
	uint8_t key[BK_KEY_LEN];
	memset(&h, 0, sizeof h);
	h.scheme = BK_SCHEME_SHARES;
	h.threshold = 2;
	h.shares = sh->n;
	memcpy(h.set_id, sh->set_id, BK_SETID_LEN);
	two[0].m = two[1].m = 2;
	two[1].index = (uint8_t)(sh->index % sh->n + 1);
	two[1].y[0] ^= 0x5a;
	cf_err rc = bk_shares_combine(&h, two, 2, key, &d);
	if (rc != CF_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char t[SHARE_IN_MAX + 1];
	struct bk_share sh;
	struct bk_diag d = { { 0 } };
	if (size > SHARE_IN_MAX)
		size = SHARE_IN_MAX;
	memcpy(t, data, size);
	t[size] = '\0';
	if (bk_share_parse(t, &sh, &d) != CF_OK) {
		if (!all_zero(&sh, sizeof sh) || d.msg[0] == '\0' ||
		    memchr(d.msg, '\0', sizeof d.msg) == NULL)
			abort(); /* nothing handed out, and a reason */
		return 0;
	}
	accepted(t, &sh);
	return 0;
}
