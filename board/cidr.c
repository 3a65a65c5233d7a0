/* Source-address allow-lists: strict CIDR parser and matcher (board/cidr.h). */
#include "board/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* The bits of a beyond prefix are all zero. */
static bool host_bits_clear(const uint8_t *a, unsigned bytes, unsigned prefix)
{
	for (unsigned i = 0; i < bytes; i++) {
		unsigned lo = i * 8;
		uint8_t mask = prefix >= lo + 8 ? 0xff : prefix <= lo ? 0 : (uint8_t)(0xff << (8 - (prefix - lo)));
		if ((a[i] & (uint8_t)~mask) != 0)
			return false;
	}
	return true;
}

static bool prefix_match(const uint8_t *net, const uint8_t *a, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(net, a, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (net[full] & mask) == (a[full] & mask);
}

/* "0".."128" without sign, leading zero or junk. */
static bool parse_prefix(const char *p, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (p[0] == '\0' || strlen(p) > 3 || (p[0] == '0' && p[1] != '\0'))
		return false;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* One item (NUL-terminated, no spaces). */
static cf_err parse_one(const char *item, struct cidr *c, const char **why)
{
	char addr[CIDR_TEXT_MAX + 1];
	const char *slash = strchr(item, '/');
	size_t alen = slash != NULL ? (size_t)(slash - item) : strlen(item);
	unsigned prefix, max;

	*why = "write each allowed source as ADDR/PREFIX, e.g. 192.0.2.0/24 or 2001:db8::/32";
	if (alen == 0 || alen >= sizeof addr)
		return CF_E_BAD_VALUE;
	memcpy(addr, item, alen);
	addr[alen] = '\0';
	memset(c, 0, sizeof *c);
	if (inet_pton(AF_INET, addr, c->addr) == 1) {
		c->family = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, c->addr) == 1) {
		c->family = 6;
		max = 128;
	} else {
		*why = "not a numeric IPv4 or IPv6 address (no names, no zone)";
		return CF_E_BAD_VALUE;
	}
	prefix = max;
	if (slash != NULL && !parse_prefix(slash + 1, max, &prefix)) {
		*why = max == 32 ? "the prefix length of an IPv4 address is 0 to 32"
				 : "the prefix length of an IPv6 address is 0 to 128";
		return CF_E_BAD_VALUE;
	}
	if (!host_bits_clear(c->addr, max / 8, prefix)) {
		*why = "bits are set beyond the prefix length: write the network address "
		       "(e.g. 192.0.2.0/24, not 192.0.2.1/24)";
		return CF_E_BAD_VALUE;
	}
	c->prefix = (uint8_t)prefix;
	return CF_OK;
}

static bool same(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       memcmp(a->addr, b->addr, sizeof a->addr) == 0;
}

cf_err cidr_list_parse(const char *s, struct cidr_list *out, const char **why, size_t *bad)
{
	const char *p = s;
	char item[CIDR_TEXT_MAX + 1];
	size_t dummy;

	if (bad == NULL)
		bad = &dummy;
	*bad = 0;
	memset(out, 0, sizeof *out);
	*why = NULL;
	if (s == NULL)
		return CF_OK;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strcmp(p, "any") == 0)
		return CF_OK;
	while (*p != '\0') {
		size_t n = strcspn(p, " \t");
		*bad = (size_t)(p - s);
		if (n >= sizeof item) {
			*why = "an allowed source is too long for an address and prefix";
			return CF_E_BAD_VALUE;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		if (out->n >= CIDR_LIST_MAX) {
			*why = "too many allowed sources (at most 16)";
			return CF_E_BAD_VALUE;
		}
		if (parse_one(item, &out->e[out->n], why) != CF_OK)
			return CF_E_BAD_VALUE;
		for (unsigned i = 0; i < out->n; i++)
			if (same(&out->e[i], &out->e[out->n])) {
				*why = "the same allowed source is listed twice";
				return CF_E_BAD_VALUE;
			}
		out->n++;
		p += n;
		while (*p == ' ' || *p == '\t')
			p++;
	}
	*why = NULL;
	return CF_OK;
}

bool cidr_list_match_bytes(const struct cidr_list *l, int family, const uint8_t *a)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *v4 = NULL, *v6 = NULL;

	if (l->n == 0)
		return true;
	if (a == NULL || (family != 4 && family != 6))
		return false;
	if (family == 4)
		v4 = a;
	else
		v6 = a;
	/* an IPv4-mapped source (dual-stack listener) is also its IPv4 address */
	if (family == 6 && memcmp(a, v4mapped, sizeof v4mapped) == 0)
		v4 = a + 12;
	for (unsigned i = 0; i < l->n; i++) {
		const uint8_t *x = l->e[i].family == 4 ? v4 : v6;
		if (x != NULL && prefix_match(l->e[i].addr, x, l->e[i].prefix))
			return true;
	}
	return false;
}

bool cidr_list_match(const struct cidr_list *l, const struct sockaddr *addr)
{
	if (l->n == 0)
		return true;
	if (addr == NULL)
		return false;
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;
		return cidr_list_match_bytes(l, 4, (const uint8_t *)&in->sin_addr);
	}
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;
		return cidr_list_match_bytes(l, 6, in6->sin6_addr.s6_addr);
	}
	return false;
}

void cidr_list_format(const struct cidr_list *l, char *out, size_t cap)
{
	size_t len = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	if (l->n == 0) {
		(void)snprintf(out, cap, "any");
		return;
	}
	for (unsigned i = 0; i < l->n; i++) {
		char a[INET6_ADDRSTRLEN], one[CIDR_TEXT_MAX + 2];
		const struct cidr *c = &l->e[i];
		if (inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, a, sizeof a) == NULL)
			return;
		int n = snprintf(one, sizeof one, "%s%s/%u", i > 0 ? " " : "", a, c->prefix);
		if (n < 0 || (size_t)n >= cap - len)
			return;
		memcpy(out + len, one, (size_t)n + 1);
		len += (size_t)n;
	}
}
