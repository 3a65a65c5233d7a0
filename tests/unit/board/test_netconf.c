/* board/netconf.c: the address, prefix, hostname and time parsers, the settings checked
 * together, the network.conf text and file round trip, the restart counter, power requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board/board.h"

static char tmpl[64];

static int setup(void **s)
{
	(void)s;
	snprintf(tmpl, sizeof tmpl, "/tmp/coffre-netconf-XXXXXX");
	return mkdtemp(tmpl) ? 0 : -1;
}

static int teardown(void **s)
{
	char cmd[128];

	(void)s;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
	return system(cmd) == 0 ? 0 : -1;
}

static void ip_ok(const char *s, const char *canon, int family)
{
	char out[BOARD_IP_MAX];
	const char *why = "x";
	int f = 0;

	assert_int_equal(board_ip_parse(s, out, &f, &why), CF_OK);
	assert_string_equal(out, canon);
	assert_int_equal(f, family);
	assert_null(why);
}

static void ip_bad(const char *s)
{
	char out[BOARD_IP_MAX];
	const char *why = NULL;
	int f;

	assert_int_equal(board_ip_parse(s, out, &f, &why), CF_E_BAD_VALUE);
	assert_non_null(why);
}

static void t_ip(void **s)
{
	(void)s;
	ip_ok("192.0.2.10", "192.0.2.10", AF_INET);
	ip_ok("1.1.1.1", "1.1.1.1", AF_INET);
	ip_ok("223.255.255.254", "223.255.255.254", AF_INET);
	ip_ok("2001:DB8:0:0::1", "2001:db8::1", AF_INET6);
	ip_ok("fe80::1", "fe80::1", AF_INET6);
	const char *bad[] = { "", "1.2.3", "1.2.3.4.5", "010.0.0.1", "1.2.3.256", " 1.2.3.4",
			      "1.2.3.4 ", "0.1.2.3", "127.0.0.1", "224.0.0.1", "240.0.0.1",
			      "255.255.255.255", "::", "::1", "ff02::1", "::ffff:192.0.2.1",
			      "2001:db8::1::2", "2001:db8::g", "host", "0x01.2.3.4",
			      "1111:2222:3333:4444:5555:6666:7777:8888:9999" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ip_bad(bad[i]);
	ip_bad(NULL);
}

static void cidr_ok(const char *s, const char *addr, unsigned prefix)
{
	char out[BOARD_IP_MAX];
	const char *why;
	unsigned p = 0;
	int f;

	assert_int_equal(board_cidr_parse(s, out, &p, &f, &why), CF_OK);
	assert_string_equal(out, addr);
	assert_int_equal(p, prefix);
}

static void t_cidr(void **s)
{
	char out[BOARD_IP_MAX];
	const char *why;
	unsigned p;
	int f;

	(void)s;
	cidr_ok("10.0.0.5/24", "10.0.0.5", 24);
	cidr_ok("10.0.0.0/31", "10.0.0.0", 31);  /* /31 and /32 have no network address */
	cidr_ok("10.0.0.1/32", "10.0.0.1", 32);
	cidr_ok("10.0.0.5/1", "10.0.0.5", 1);
	cidr_ok("2001:db8::10/64", "2001:db8::10", 64);
	cidr_ok("2001:db8::/128", "2001:db8::", 128);
	const char *bad[] = { "10.0.0.5", "10.0.0.5/", "10.0.0.5/0", "10.0.0.5/33", "10.0.0.5/024",
			      "10.0.0.5/+8", "10.0.0.5/8x", "10.0.0.5/ 8", "10.0.0.5/1000",
			      "10.0.0.0/24", "10.0.0.255/24", "10.255.255.255/8", "/24",
			      "127.0.0.2/8", "fe80::1/64", "2001:db8::1/129", "2001:db8::1/0",
			      "10.0.0.5/24/1" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		assert_int_equal(board_cidr_parse(bad[i], out, &p, &f, &why), CF_E_BAD_VALUE);
		assert_non_null(why);
	}
}

static void t_hostname(void **s)
{
	char out[BOARD_HOSTNAME_MAX + 1], name[80];
	const char *why;

	(void)s;
	assert_int_equal(board_hostname_parse("a", out, &why), CF_OK);
	assert_string_equal(out, "a");
	assert_int_equal(board_hostname_parse("Vault-1.Example.COM", out, &why), CF_OK);
	assert_string_equal(out, "vault-1.example.com");
	assert_int_equal(board_hostname_parse("1vault", out, &why), CF_OK);
	memset(name, 'a', 63);
	name[63] = '\0';
	assert_int_equal(board_hostname_parse(name, out, &why), CF_OK);
	name[63] = 'a';
	name[64] = '\0';
	assert_int_equal(board_hostname_parse(name, out, &why), CF_E_BAD_VALUE);
	const char *bad[] = { "", "-a", "a-", "a..b", ".a", "a.", "a_b", "a b", "1.2", "123",
			      "host.123", "a.-b", "a\xc3\xa9", "a/b" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		strcpy(out, "unchanged");
		assert_int_equal(board_hostname_parse(bad[i], out, &why), CF_E_BAD_VALUE);
		assert_non_null(why);
		assert_string_equal(out, "unchanged");
	}
	assert_int_equal(board_hostname_parse(NULL, out, &why), CF_E_BAD_VALUE);
}

static void net_static(struct board_net *n)
{
	board_net_default(n);
	n->dhcp = false;
	strcpy(n->address, "192.0.2.10");
	n->prefix = 24;
	strcpy(n->gateway, "192.0.2.1");
	strcpy(n->dns[0], "192.0.2.53");
	strcpy(n->dns[1], "2001:db8::53");
	n->n_dns = 2;
	strcpy(n->hostname, "vault1");
}

static void t_check(void **s)
{
	struct board_net n;
	const char *why;

	(void)s;
	board_net_default(&n);
	assert_true(n.dhcp);
	assert_int_equal(board_net_check(&n, &why), CF_OK);
	strcpy(n.address, "192.0.2.10");
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE); /* dhcp with an address */
	net_static(&n);
	assert_int_equal(board_net_check(&n, &why), CF_OK);
	strcpy(n.gateway, "192.0.3.1");
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE); /* outside the subnet */
	strcpy(n.gateway, "192.0.2.10");
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE); /* its own address */
	strcpy(n.gateway, "2001:db8::1");
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE); /* another family */
	n.gateway[0] = '\0';
	assert_int_equal(board_net_check(&n, &why), CF_OK);
	n.prefix = 32;
	strcpy(n.gateway, "192.0.2.1");
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE); /* no subnet to be in */
	n.prefix = 24;
	n.n_dns = 4;
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE);
	n.n_dns = 1;
	strcpy(n.dns[0], "224.0.0.1");
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE);
	net_static(&n);
	n.address[0] = '\0';
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE); /* static, no address */
	net_static(&n);
	strcpy(n.hostname, "-x");
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE);
	/* IPv6: a link-local router, or one inside the prefix */
	net_static(&n);
	strcpy(n.address, "2001:db8:1::10");
	n.prefix = 64;
	strcpy(n.gateway, "fe80::1");
	assert_int_equal(board_net_check(&n, &why), CF_OK);
	strcpy(n.gateway, "2001:db8:1::1");
	assert_int_equal(board_net_check(&n, &why), CF_OK);
	strcpy(n.gateway, "2001:db8:2::1");
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE);
}

static void t_text_round_trip(void **s)
{
	struct board_net n, m;
	char text[1024];
	const char *why;

	(void)s;
	net_static(&n);
	assert_int_equal(board_net_format(&n, text, sizeof text), CF_OK);
	assert_non_null(strstr(text, "\nmode=static\naddress=192.0.2.10/24\ngateway=192.0.2.1\n"
				     "dns=192.0.2.53 2001:db8::53\nhostname=vault1\n"));
	assert_int_equal(board_net_parse(text, &m, &why), CF_OK);
	assert_memory_equal(&n, &m, sizeof n);
	board_net_default(&n);
	strcpy(n.hostname, "h");
	assert_int_equal(board_net_format(&n, text, sizeof text), CF_OK);
	assert_null(strstr(text, "address="));
	assert_int_equal(board_net_parse(text, &m, &why), CF_OK);
	assert_memory_equal(&n, &m, sizeof n);
	assert_int_equal(board_net_format(&n, text, 20), CF_E_NO_SPACE);

	const char *bad[] = {
		"",                                              /* no mode */
		"address=192.0.2.10/24\n",                       /* no mode */
		"mode=dhcp\nmode=dhcp\n",                        /* twice */
		"mode=DHCP\n",
		"mode=dhcp\nfrob=1\n",
		"mode=dhcp\nhostname\n",
		"mode=static\n",                                 /* no address */
		"mode=dhcp\naddress=192.0.2.10/24\n",
		"mode=static\naddress=192.0.2.10/24\ngateway=10.0.0.1\n",
		"mode=dhcp\ndns=1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4\n",
		"mode=dhcp\ndns=1.1.1.1,2.2.2.2\n",
		"mode=dhcp\nhostname=a_b\n",
		"mode=dhcp \n",
		" mode=dhcp\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		assert_int_equal(board_net_parse(bad[i], &m, &why), CF_E_BAD_VALUE);
		assert_non_null(why);
	}
	assert_int_equal(board_net_parse("# comment\n\nmode=dhcp\n#x=y\n", &m, &why), CF_OK);
	assert_true(m.dhcp);
}

static void t_file_round_trip(void **s)
{
	struct board b;
	struct board_net n, m;
	char dir[128], path[256];
	const char *why;
	struct stat st;
	FILE *f;

	(void)s;
	snprintf(dir, sizeof dir, "%s/data", tmpl);
	assert_int_equal(board_init(&b, dir), CF_OK);
	assert_int_equal(board_net_load(dir, &m, &why), CF_E_NOT_FOUND);
	assert_true(m.dhcp);
	net_static(&n);
	assert_int_equal(board_net_save(dir, &n), CF_OK);
	assert_int_equal(board_net_load(dir, &m, &why), CF_OK);
	assert_memory_equal(&n, &m, sizeof n);
	snprintf(path, sizeof path, "%s/%s", dir, BOARD_NET_FILE);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* a second save replaces the file; no temporary file is left */
	board_net_default(&n);
	assert_int_equal(board_net_save(dir, &n), CF_OK);
	assert_int_equal(board_net_load(dir, &m, &why), CF_OK);
	assert_true(m.dhcp);
	snprintf(path, sizeof path, "%s/%s.tmp", dir, BOARD_NET_FILE);
	assert_int_not_equal(access(path, F_OK), 0);
	/* settings that do not check are not saved */
	n.prefix = 24;
	assert_int_equal(board_net_save(dir, &n), CF_E_BAD_VALUE);
	assert_int_equal(board_net_load(dir, &m, &why), CF_OK);
	/* a damaged file: said, and the defaults */
	snprintf(path, sizeof path, "%s/%s", dir, BOARD_NET_FILE);
	assert_non_null(f = fopen(path, "w"));
	fputs("mode=static\naddress=192.0.2.10/24\nfrob\n", f);
	fclose(f);
	why = NULL;
	assert_int_equal(board_net_load(dir, &m, &why), CF_E_BAD_VALUE);
	assert_non_null(why);
	assert_true(m.dhcp);
	assert_string_equal(m.address, "");
	assert_non_null(f = fopen(path, "w"));
	fwrite("mode=dhcp\n\0x\n", 1, 13, f);
	fclose(f);
	assert_int_equal(board_net_load(dir, &m, &why), CF_E_BAD_VALUE);
	board_free(&b);
}

static void ntp_ok(const char *s, const char *addr, unsigned port, const char *canon)
{
	struct board_ntp_server r;
	char text[BOARD_NTP_TEXT];
	const char *why = "x";

	memset(&r, 0xa5, sizeof r);
	assert_int_equal(board_ntp_server_parse(s, &r, &why), CF_OK);
	assert_null(why);
	assert_string_equal(r.addr, addr);
	assert_int_equal(r.port, port);
	board_ntp_server_format(&r, text);
	assert_string_equal(text, canon);
}

static void t_ntp_server(void **s)
{
	struct board_ntp_server r;
	const char *why;

	(void)s;
	ntp_ok("192.0.2.1", "192.0.2.1", 123, "192.0.2.1");
	ntp_ok("192.0.2.1:123", "192.0.2.1", 123, "192.0.2.1");
	ntp_ok("192.0.2.1:12300", "192.0.2.1", 12300, "192.0.2.1:12300");
	ntp_ok("10.0.2.2:65535", "10.0.2.2", 65535, "10.0.2.2:65535");
	ntp_ok("1.2.3.4:1", "1.2.3.4", 1, "1.2.3.4:1");
	ntp_ok("2001:DB8::1", "2001:db8::1", 123, "2001:db8::1");
	ntp_ok("[2001:db8::1]", "2001:db8::1", 123, "2001:db8::1");
	ntp_ok("[2001:db8::1]:123", "2001:db8::1", 123, "2001:db8::1");
	ntp_ok("[2001:db8:0::1]:4123", "2001:db8::1", 4123, "[2001:db8::1]:4123");
	ntp_ok("[fe80::1]:5", "fe80::1", 5, "[fe80::1]:5");
	const char *bad[] = { "", "pool.ntp.org", "ntp1", "192.0.2.1:", "192.0.2.1:0",
			      "192.0.2.1:65536", "192.0.2.1:0123", "192.0.2.1:+12", "192.0.2.1:12a",
			      "192.0.2.1:99999999", "192.0.2.1:123:4", "[192.0.2.1]:123", "[192.0.2.1]",
			      "2001:db8::1:123:", "[2001:db8::1]123", "[2001:db8::1]:", "[2001:db8::1",
			      "2001:db8::1]:123", "[2001:db8::1]:70000", "127.0.0.1", "127.0.0.1:123",
			      "[::1]:123", "0.0.0.0", "224.0.1.1", "[ff02::101]", "010.0.0.1",
			      " 192.0.2.1", "192.0.2.1 ", "192.0.2.1:12 3", "[]:123", "[]", "[:]:1",
			      "[1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb]:123",
			      "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		memset(&r, 0x5a, sizeof r);
		assert_int_equal(board_ntp_server_parse(bad[i], &r, &why), CF_E_BAD_VALUE);
		assert_non_null(why);
		assert_int_equal(r.port, 0x5a5a); /* untouched */
	}
	assert_int_equal(board_ntp_server_parse(NULL, &r, &why), CF_E_BAD_VALUE);
}

static void t_ntp_conf(void **s)
{
	struct board_net n, m;
	char text[1024], dir[128];
	const char *why;

	(void)s;
	net_static(&n);
	assert_int_equal(board_ntp_server_parse("192.0.2.123", &n.ntp[0], &why), CF_OK);
	assert_int_equal(board_ntp_server_parse("[2001:db8::7b]:1230", &n.ntp[1], &why), CF_OK);
	assert_int_equal(board_ntp_server_parse("10.0.2.2:12300", &n.ntp[2], &why), CF_OK);
	n.n_ntp = 3;
	assert_int_equal(board_net_check(&n, &why), CF_OK);
	assert_int_equal(board_net_format(&n, text, sizeof text), CF_OK);
	assert_non_null(strstr(text, "\nntp=192.0.2.123 [2001:db8::7b]:1230 10.0.2.2:12300\n"));
	assert_int_equal(board_net_parse(text, &m, &why), CF_OK);
	assert_memory_equal(&n, &m, sizeof n);
	/* the file round trip keeps them */
	snprintf(dir, sizeof dir, "%s/ntp", tmpl);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(board_net_save(dir, &n), CF_OK);
	assert_int_equal(board_net_load(dir, &m, &why), CF_OK);
	assert_memory_equal(&n, &m, sizeof n);
	/* none: no ntp= line */
	n.n_ntp = 0;
	memset(n.ntp, 0, sizeof n.ntp);
	assert_int_equal(board_net_format(&n, text, sizeof text), CF_OK);
	assert_null(strstr(text, "ntp="));
	/* checked together: a server twice (same port), more than 3, one not valid */
	assert_int_equal(board_ntp_server_parse("192.0.2.123", &n.ntp[0], &why), CF_OK);
	assert_int_equal(board_ntp_server_parse("192.0.2.123:123", &n.ntp[1], &why), CF_OK);
	n.n_ntp = 2;
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE);
	assert_int_equal(board_ntp_server_parse("192.0.2.123:124", &n.ntp[1], &why), CF_OK);
	assert_int_equal(board_net_check(&n, &why), CF_OK); /* another port: another server */
	n.n_ntp = 4;
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE);
	n.n_ntp = 2;
	strcpy(n.ntp[1].addr, "127.0.0.1");
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE);
	strcpy(n.ntp[1].addr, "192.0.2.124");
	n.ntp[1].port = 0;
	assert_int_equal(board_net_check(&n, &why), CF_E_BAD_VALUE);
	assert_int_equal(board_net_save(dir, &n), CF_E_BAD_VALUE);
	const char *bad[] = {
		"mode=dhcp\nntp=\n",
		"mode=dhcp\nntp=1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4\n",
		"mode=dhcp\nntp=1.1.1.1,2.2.2.2\n",
		"mode=dhcp\nntp=1.1.1.1 1.1.1.1:123\n",
		"mode=dhcp\nntp=pool.ntp.org\n",
		"mode=dhcp\nntp=1.1.1.1:0\n",
		"mode=dhcp\nntp=1.1.1.1\nntp=2.2.2.2\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		assert_int_equal(board_net_parse(bad[i], &m, &why), CF_E_BAD_VALUE);
		assert_non_null(why);
	}
	assert_int_equal(board_net_parse("mode=dhcp\nntp=1.1.1.1  [2001:db8::1]:9\n", &m, &why), CF_OK);
	assert_int_equal(m.n_ntp, 2);
	assert_int_equal(m.ntp[1].port, 9);
}

static void time_bad(const char *s)
{
	const char *why = NULL;
	int64_t t = 7;

	assert_int_equal(board_time_parse(s, &t, &why), CF_E_BAD_VALUE);
	assert_non_null(why);
}

static void t_time(void **s)
{
	char text[BOARD_TIME_TEXT];
	const char *why;
	int64_t t;

	(void)s;
	assert_int_equal(board_time_parse("2000-01-01T00:00:00Z", &t, &why), CF_OK);
	assert_int_equal(t, 946684800);
	assert_int_equal(board_time_parse("2024-02-29T23:59:59Z", &t, &why), CF_OK);
	assert_int_equal(t, 1709251199);
	board_time_format(t, text);
	assert_string_equal(text, "2024-02-29T23:59:59Z");
	assert_int_equal(board_time_parse("2099-12-31T23:59:59Z", &t, &why), CF_OK);
	const char *bad[] = { "", "2023-02-29T00:00:00Z", "2100-02-28T00:00:00Z",
			      "1999-12-31T23:59:59Z", "2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z",
			      "2024-04-31T00:00:00Z", "2024-01-00T00:00:00Z", "2024-01-01T24:00:00Z",
			      "2024-01-01T23:60:00Z", "2024-01-01T23:59:60Z", "2024-01-01t00:00:00Z",
			      "2024-01-01T00:00:00z", "2024-01-01T00:00:00", "2024-01-01 00:00:00Z",
			      "2024-01-01T00:00:00Z ", "2024-1-01T00:00:00Z", "+024-01-01T00:00:00Z",
			      "2024-01-01T00:00:00+00:00" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		time_bad(bad[i]);
	time_bad(NULL);
}

static void t_restarts_power(void **s)
{
	struct board b;
	char dir[128], path[256];
	uint64_t n = 9;
	FILE *f;

	(void)s;
	snprintf(dir, sizeof dir, "%s/r", tmpl);
	assert_int_equal(board_init(&b, dir), CF_OK);
	assert_false(board_restarts(dir, &n));
	assert_int_equal(n, 0);
	snprintf(path, sizeof path, "%s/%s", dir, BOARD_RESTARTS_FILE);
	const char *vals[] = { "3\n", "0", "18446744073709551615\n", "", "x", "-1\n", "3 4\n",
			       "18446744073709551616\n" };
	const bool ok[] = { true, true, true, false, false, false, false, false };
	const uint64_t want[] = { 3, 0, UINT64_MAX, 0, 0, 0, 0, 0 };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		assert_non_null(f = fopen(path, "w"));
		fputs(vals[i], f);
		fclose(f);
		assert_int_equal(board_restarts(dir, &n), ok[i]);
		if (ok[i])
			assert_int_equal(n, want[i]);
	}
	assert_int_equal(board_power_requested(&b), BOARD_POWER_NONE);
	board_power_request(&b, BOARD_POWER_REBOOT);
	assert_int_equal(board_power_requested(&b), BOARD_POWER_REBOOT);
	board_power_request(&b, BOARD_POWER_OFF);
	assert_int_equal(board_power_requested(&b), BOARD_POWER_OFF);
	board_free(&b);
	assert_int_equal(board_power_requested(NULL), BOARD_POWER_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_ip),
		cmocka_unit_test(t_cidr),
		cmocka_unit_test(t_hostname),
		cmocka_unit_test(t_check),
		cmocka_unit_test(t_text_round_trip),
		cmocka_unit_test(t_file_round_trip),
		cmocka_unit_test(t_ntp_server),
		cmocka_unit_test(t_ntp_conf),
		cmocka_unit_test(t_time),
		cmocka_unit_test(t_restarts_power),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
