/* board/cidr.c: the allow-list parser (strict: every refusal with its reason) and the matcher
 * (IPv4, IPv6, IPv4-mapped IPv6, prefix boundaries, the empty list = any). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "board/cidr.h"

static struct cidr_list parse_ok(const char *s)
{
	struct cidr_list l;
	const char *why = "unset";
	assert_int_equal(cidr_list_parse(s, &l, &why, NULL), CF_OK);
	assert_null(why);
	return l;
}

static bool match(const struct cidr_list *l, const char *addr)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
	}
	return cidr_list_match(l, (const struct sockaddr *)&ss);
}

static void test_empty_is_any(void **st)
{
	(void)st;
	const char *any[] = { "", "   ", "any", "  any" };
	for (size_t i = 0; i < sizeof any / sizeof any[0]; i++) {
		struct cidr_list l = parse_ok(any[i]);
		assert_int_equal(l.n, 0);
		assert_true(match(&l, "203.0.113.7"));
		assert_true(match(&l, "2001:db8::1"));
	}
	struct cidr_list l;
	const char *why;
	assert_int_equal(cidr_list_parse(NULL, &l, &why, NULL), CF_OK);
	assert_int_equal(l.n, 0);
}

static void test_ipv4(void **st)
{
	(void)st;
	struct cidr_list l = parse_ok("10.0.0.0/8 192.0.2.0/25\t127.0.0.2");
	assert_int_equal(l.n, 3);
	assert_true(match(&l, "10.255.255.255"));
	assert_true(match(&l, "192.0.2.127"));
	assert_false(match(&l, "192.0.2.128"));
	assert_true(match(&l, "127.0.0.2"));
	assert_false(match(&l, "127.0.0.1"));
	assert_false(match(&l, "11.0.0.0"));
	/* an IPv4-mapped IPv6 source (dual-stack listener) counts as its IPv4 address */
	assert_true(match(&l, "::ffff:10.1.2.3"));
	assert_false(match(&l, "::ffff:127.0.0.1"));
	/* IPv4 entries never match a native IPv6 address with the same leading bytes */
	assert_false(match(&l, "a00::"));
	struct cidr_list all = parse_ok("0.0.0.0/0");
	assert_true(match(&all, "255.255.255.255"));
	assert_false(match(&all, "::1"));
}

static void test_ipv6(void **st)
{
	(void)st;
	struct cidr_list l = parse_ok("2001:db8::/32 fd00:1:2:3::/64 ::1/128 fe80::/10");
	assert_int_equal(l.n, 4);
	assert_true(match(&l, "2001:db8:ffff:ffff::1"));
	assert_false(match(&l, "2001:db9::1"));
	assert_true(match(&l, "fd00:1:2:3:ffff:ffff:ffff:ffff"));
	assert_false(match(&l, "fd00:1:2:4::"));
	assert_true(match(&l, "::1"));
	assert_false(match(&l, "::2"));
	assert_true(match(&l, "febf::1"));   /* fe80::/10 covers fe80..febf */
	assert_false(match(&l, "fec0::1"));
	assert_false(match(&l, "127.0.0.1"));
	/* an odd prefix length: /33 splits the third 16-bit group */
	struct cidr_list o = parse_ok("2001:db8:8000::/33");
	assert_true(match(&o, "2001:db8:ffff::"));
	assert_false(match(&o, "2001:db8:7fff::"));
	struct cidr_list all = parse_ok("::/0");
	assert_true(match(&all, "2001:db8::1"));
	assert_false(match(&all, "192.0.2.1"));
	/* the IPv4-mapped form written as IPv6 matches a native IPv4 source too */
	struct cidr_list m = parse_ok("::ffff:192.0.2.0/120");
	assert_int_equal(m.n, 1);
	assert_true(match(&m, "::ffff:192.0.2.9"));
}

static void test_refusals(void **st)
{
	(void)st;
	static const struct {
		const char *s;
		size_t bad;
		const char *why_has;
	} cases[] = {
		{ "192.0.2.1/24", 0, "beyond the prefix" },
		{ "10.0.0.0/8 2001:db8::1/32", 11, "beyond the prefix" },
		{ "10.0.0.0/33", 0, "0 to 32" },
		{ "2001:db8::/129", 0, "0 to 128" },
		{ "10.0.0.0/", 0, "0 to 32" },
		{ "10.0.0.0/08", 0, "0 to 32" },
		{ "10.0.0.0/-1", 0, "0 to 32" },
		{ "10.0.0.0/+8", 0, "0 to 32" },
		{ "10.0.0.0/8x", 0, "0 to 32" },
		{ "localhost", 0, "numeric" },
		{ "fe80::1%eth0/128", 0, "numeric" },
		{ "10.0.0", 0, "numeric" },
		{ "010.0.0.0/8", 0, "numeric" },
		{ "/8", 0, "ADDR/PREFIX" },
		{ "10.0.0.0/8,10.1.0.0/16", 0, "0 to 32" },
		{ "any 10.0.0.0/8", 0, "numeric" },
		{ "10.0.0.0/8 10.0.0.0/8", 11, "twice" },
		{ "1234:5678:9abc:def0:1234:5678:9abc:def0/128aaaaaaaaaaaa", 0, "too long" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct cidr_list l;
		const char *why = NULL;
		size_t bad = 99;
		assert_int_equal(cidr_list_parse(cases[i].s, &l, &why, &bad), CF_E_BAD_VALUE);
		assert_non_null(why);
		if (strstr(why, cases[i].why_has) == NULL)
			fail_msg("'%s': reason '%s' lacks '%s'", cases[i].s, why, cases[i].why_has);
		assert_int_equal(bad, cases[i].bad);
	}
	/* at most CIDR_LIST_MAX items */
	char many[CIDR_LIST_MAX * 16 + 32] = "";
	for (int i = 0; i <= CIDR_LIST_MAX; i++) {
		char one[32]; /* room for any int: -Wformat-truncation at -O1 */
		snprintf(one, sizeof one, "10.%d.0.0/16 ", i);
		strcat(many, one);
	}
	struct cidr_list l;
	const char *why;
	assert_int_equal(cidr_list_parse(many, &l, &why, NULL), CF_E_BAD_VALUE);
	assert_non_null(strstr(why, "too many"));
}

static void test_format(void **st)
{
	(void)st;
	char out[CIDR_LIST_TEXT_MAX];
	struct cidr_list l = parse_ok("2001:0db8:0000::/48   127.0.0.2 10.0.0.0/8");
	cidr_list_format(&l, out, sizeof out);
	assert_string_equal(out, "2001:db8::/48 127.0.0.2/32 10.0.0.0/8");
	struct cidr_list back = parse_ok(out);
	assert_memory_equal(&back, &l, sizeof l);
	struct cidr_list e = parse_ok("");
	cidr_list_format(&e, out, sizeof out);
	assert_string_equal(out, "any");
	/* short buffer: cut at an item boundary */
	char small[24];
	cidr_list_format(&l, small, sizeof small);
	assert_string_equal(small, "2001:db8::/48");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_any),
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
