/* Test helpers for the KMIP message-layer tests: vector loading (by relative path
 * ../shared/vectors/..., cwd = /work/main) and hex decoding. Header-only (static functions). */
#ifndef COFFRE_TESTS_KMIP_TEST_UTIL_H
#define COFFRE_TESTS_KMIP_TEST_UTIL_H

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tvec {
	char name[64];
	uint8_t *p;
	size_t n;
};

struct tvecs {
	struct tvec *v;
	size_t n, cap;
};

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Hex (no separators) -> malloc'd bytes; NULL if malformed. */
static uint8_t *hex_decode(const char *s, size_t len, size_t *n)
{
	if (len % 2 != 0)
		return NULL;
	uint8_t *b = malloc(len / 2 ? len / 2 : 1);
	if (b == NULL)
		return NULL;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(b);
			return NULL;
		}
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	*n = len / 2;
	return b;
}

static void tvecs_add(struct tvecs *vs, const char *name, uint8_t *p, size_t n)
{
	if (vs->n == vs->cap) {
		vs->cap = vs->cap ? vs->cap * 2 : 64;
		vs->v = realloc(vs->v, vs->cap * sizeof *vs->v);
		if (vs->v == NULL)
			abort();
	}
	struct tvec *t = &vs->v[vs->n++];
	snprintf(t->name, sizeof t->name, "%s", name);
	t->p = p;
	t->n = n;
}

static void tvecs_free(struct tvecs *vs)
{
	for (size_t i = 0; i < vs->n; i++)
		free(vs->v[i].p);
	free(vs->v);
	memset(vs, 0, sizeof *vs);
}

/* vCenter requests / PyKMIP responses: "<session> [<ops>] <hex>", '#' comments, and
 * "<session> # ERROR ..." lines that are not hex. The hex is the last field. */
static int load_vcenter(const char *path, struct tvecs *vs)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int bad = 0, lineno = 0;

	if (f == NULL)
		return -1;
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			line[--len] = 0;
		if (len == 0 || line[0] == '#' || strchr(line, '#') != NULL)
			continue;
		char *last = strrchr(line, ' ');
		if (last == NULL)
			continue;
		last++;
		size_t n;
		uint8_t *b = hex_decode(last, strlen(last), &n);
		if (b == NULL) {
			bad++;
			continue;
		}
		char name[64];
		snprintf(name, sizeof name, "%s:%d", strrchr(path, '/') + 1, lineno);
		tvecs_add(vs, name, b, n);
	}
	free(line);
	fclose(f);
	return bad;
}

/* OASIS test cases: hex lines start with 420078 / 42007B (any case), one message a line. */
static int load_oasis(const char *path, struct tvecs *vs)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int bad = 0, lineno = 0;

	if (f == NULL)
		return -1;
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		char *s = line;
		while (*s != 0 && isspace((unsigned char)*s))
			s++;
		if (strncasecmp(s, "420078", 6) != 0 && strncasecmp(s, "42007b", 6) != 0)
			continue;
		/* keep hex digits only (a line may carry trailing blanks / CR) */
		size_t k = 0;
		for (char *q = s; *q != 0; q++)
			if (!isspace((unsigned char)*q))
				s[k++] = *q;
		s[k] = 0;
		size_t n;
		uint8_t *b = hex_decode(s, k, &n);
		if (b == NULL) {
			bad++;
			continue;
		}
		char name[64];
		snprintf(name, sizeof name, "oasis:%d", lineno);
		tvecs_add(vs, name, b, n);
	}
	free(line);
	fclose(f);
	return bad;
}

#define VEC_REQUESTS "../shared/vectors/vcenter-7.0.3/requests.txt"
#define VEC_RESPONSES "../shared/vectors/vcenter-7.0.3/pykmip-responses.txt"
#define VEC_OASIS "../shared/vectors/oasis/kmip-testcases-v1.1.txt"

#endif
