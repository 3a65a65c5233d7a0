/* Helpers for test_ttlv.c and test_ttlv_malformed.c: hex decoding and the TTLV messages of
 * ../shared/vectors (vCenter 7.0.3 requests and PyKMIP responses, OASIS v1.1 test-case hex
 * lines), read at run time by relative path (never copied into the repository).
 * Include after <cmocka.h>. */
#ifndef COFFRE_TESTS_UNIT_KMIP_TTLV_TEST_UTIL_H
#define COFFRE_TESTS_UNIT_KMIP_TTLV_TEST_UTIL_H

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hex digits (spaces ignored) into a fresh exact-size heap buffer (1 byte when empty), so
 * that ASan reports any read past n. */
static uint8_t *tu_unhex(const char *h, size_t *n)
{
	size_t digits = 0, k = 0;
	for (const char *c = h; *c != '\0'; c++) {
		if (*c == ' ')
			continue;
		assert_true(isxdigit((unsigned char)*c));
		digits++;
	}
	assert_int_equal(digits % 2, 0);
	uint8_t *b = malloc(digits / 2 ? digits / 2 : 1);
	assert_non_null(b);
	unsigned hi = 0;
	bool have_hi = false;
	for (const char *c = h; *c != '\0'; c++) {
		if (*c == ' ')
			continue;
		unsigned v = isdigit((unsigned char)*c) ? (unsigned)(*c - '0')
			     : (unsigned)(tolower((unsigned char)*c) - 'a' + 10);
		if (!have_hi) {
			hi = v;
			have_hi = true;
		} else {
			b[k++] = (uint8_t)(hi << 4 | v);
			have_hi = false;
		}
	}
	*n = k;
	return b;
}

struct tu_vec {
	uint8_t *p;
	size_t n;
	bool request;   /* outer tag Request Message */
	const char *src;
};

struct tu_vecs {
	struct tu_vec *v;
	size_t n, cap;
};

static bool tu_is_msg_hex(const char *s, size_t len)
{
	if (len < 16 || len % 2 != 0 || strncasecmp(s, "42007", 5) != 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Add every TTLV message hex token of a file: the last whitespace-separated token of each
 * line that is all hex and starts with 42007 (0x420078 / 0x42007B); lines starting with '#'
 * are skipped. Returns the number added, or -1 when the file is missing. */
static int tu_vecs_load(struct tu_vecs *vs, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t lcap = 0;
	int added = 0;

	if (f == NULL)
		return -1;
	while (getline(&line, &lcap, f) > 0) {
		if (line[0] == '#')
			continue;
		size_t len = strlen(line);
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			line[--len] = '\0';
		char *tok = strrchr(line, ' ');
		tok = tok ? tok + 1 : line;
		while (*tok == '\t')
			tok++;
		if (!tu_is_msg_hex(tok, strlen(tok)))
			continue;
		if (vs->n == vs->cap) {
			vs->cap = vs->cap ? vs->cap * 2 : 64;
			vs->v = realloc(vs->v, vs->cap * sizeof *vs->v);
			assert_non_null(vs->v);
		}
		struct tu_vec *v = &vs->v[vs->n++];
		v->p = tu_unhex(tok, &v->n);
		v->request = tok[5] == '8';
		v->src = path;
		added++;
	}
	free(line);
	fclose(f);
	return added;
}

#define TU_VEC_REQUESTS "../shared/vectors/vcenter-7.0.3/requests.txt"
#define TU_VEC_RESPONSES "../shared/vectors/vcenter-7.0.3/pykmip-responses.txt"
#define TU_VEC_OASIS "../shared/vectors/oasis/kmip-testcases-v1.1.txt"

/* All three files; fails the test when one is missing or empty. */
static void tu_vecs_load_all(struct tu_vecs *vs)
{
	assert_true(tu_vecs_load(vs, TU_VEC_REQUESTS) >= 100);
	assert_true(tu_vecs_load(vs, TU_VEC_RESPONSES) >= 100);
	assert_true(tu_vecs_load(vs, TU_VEC_OASIS) >= 500);
}

static void tu_vecs_free(struct tu_vecs *vs)
{
	for (size_t i = 0; i < vs->n; i++)
		free(vs->v[i].p);
	free(vs->v);
	*vs = (struct tu_vecs){ 0 };
}

#endif
