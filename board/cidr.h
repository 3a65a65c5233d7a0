/* Source-address allow-lists (docs/security.md "Source-address allow-lists"): a list of
 * IPv4 / IPv6 CIDR prefixes, its strict text parser and the address match. Pure: no I/O, no
 * allocation, any thread. */
#ifndef COFFRE_BOARD_CIDR_H
#define COFFRE_BOARD_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

struct sockaddr;

#define CIDR_LIST_MAX 16       /* prefixes per list */
#define CIDR_TEXT_MAX 50       /* one "ADDR/PREFIX" (an IPv6 literal is at most 45) */
#define CIDR_LIST_TEXT_MAX (CIDR_LIST_MAX * (CIDR_TEXT_MAX + 1))

struct cidr {
	uint8_t addr[16];      /* network bytes; IPv4 in the first 4 */
	uint8_t family;        /* 4 or 6 */
	uint8_t prefix;        /* 0..32 or 0..128 */
};

/* n == 0: no restriction (any address). */
struct cidr_list {
	unsigned n;
	struct cidr e[CIDR_LIST_MAX];
};

/* Parse space-separated "ADDR/PREFIX" items (a bare ADDR is one host: /32 or /128). "" (or
 * only spaces) and the single word "any" give the empty list (any address). Strict: an item
 * with bits set beyond its prefix (192.0.2.1/24), a prefix out of range, a non-numeric
 * address, a zone (%eth0), a duplicate or more than CIDR_LIST_MAX items is CF_E_BAD_VALUE
 * with *why a fixed English sentence and *bad (may be NULL) the offset of the bad item. */
MUST_USE cf_err cidr_list_parse(const char *s, struct cidr_list *out, const char **why,
				size_t *bad);
/* addr (AF_INET or AF_INET6; an IPv4-mapped IPv6 address ::ffff:a.b.c.d counts as its IPv4
 * address) is in the list, or the list is empty. NULL or another family: false (unless the
 * list is empty). */
bool cidr_list_match(const struct cidr_list *l, const struct sockaddr *addr);
/* The same for raw address bytes: family 4 (4 bytes) or 6 (16 bytes). */
bool cidr_list_match_bytes(const struct cidr_list *l, int family, const uint8_t *a);
/* Canonical text ("any" for the empty list), space-separated, into out[cap] (truncated at an
 * item boundary when cap is short: size it CIDR_LIST_TEXT_MAX). */
void cidr_list_format(const struct cidr_list *l, char *out, size_t cap);

#endif
