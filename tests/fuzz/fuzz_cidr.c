/* Target: cidr_list_parse (board/cidr.c), the source allow-list parser ([kmip] allow and the
 * console's `client allow`): text an administrator types. The input is a NUL-terminated copy
 * of the bytes. Checked: a refusal has a reason and an offset inside the text; an accepted
 * list has at most CIDR_LIST_MAX entries of family 4 or 6 with a prefix in range and no bits
 * beyond it, formats to text that parses back to the same list, and each entry's own network
 * address matches it. Deterministic: no RNG, no time, no globals. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "board/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_entry(const struct cidr_list *l, const struct cidr *c)
{
	unsigned bits = c->family == 4 ? 32 : 128;

	if ((c->family != 4 && c->family != 6) || c->prefix > bits)
		abort();
	for (unsigned b = c->prefix; b < bits; b++)
		if (c->addr[b / 8] & (0x80 >> (b % 8)))
			abort();
	if (!cidr_list_match_bytes(l, c->family, c->addr))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, text[CIDR_LIST_TEXT_MAX];
	struct cidr_list l, back;
	const char *why = NULL;
	size_t bad = 0;

	if (size > 4096 || (s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (cidr_list_parse(s, &l, &why, &bad) != CF_OK) {
		if (why == NULL || bad > strlen(s))
			abort();
		free(s);
		return 0;
	}
	free(s);
	if (why != NULL || l.n > CIDR_LIST_MAX)
		abort();
	for (unsigned i = 0; i < l.n; i++)
		check_entry(&l, &l.e[i]);
	cidr_list_format(&l, text, sizeof text);
	if (cidr_list_parse(text, &back, &why, NULL) != CF_OK || memcmp(&back, &l, sizeof l) != 0)
		abort();
	return 0;
}
