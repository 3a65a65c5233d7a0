/* What every board shares beyond the TTY: the network settings file (DATA_DIR/network.conf)
 * with its strict parsers, the console's time text, the restart counter init keeps, and the
 * power requests the main thread turns into an exit status. */
#include "board/board.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NET_FILE_MAX 4096        /* network.conf is a few lines */
#define NET_PATH_MAX 600

/* dir + "/" + name. */
static cf_err net_path(const char *dir, const char *name, char out[NET_PATH_MAX])
{
	int n;

	if (dir == NULL || dir[0] == '\0')
		return CF_E_INVALID_ARG;
	n = snprintf(out, NET_PATH_MAX, "%s/%s", dir, name);
	return n > 0 && n < NET_PATH_MAX ? CF_OK : CF_E_INVALID_ARG;
}

void board_net_default(struct board_net *n)
{
	memset(n, 0, sizeof *n);
	n->dhcp = true;
}

/* ---- addresses ------------------------------------------------------------------------- */

/* Not an address a host or a name server may have: unspecified, loopback, multicast,
 * reserved / broadcast, this-network; IPv6 also v4-mapped. */
static const char *ip_unusable(int family, const uint8_t *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t zero[16] = { 0 };

	if (family == AF_INET) {
		if (a[0] == 0)
			return "0.0.0.0/8 is not a host address";
		if (a[0] == 127)
			return "127.0.0.0/8 is the loopback network";
		if (a[0] >= 224)
			return "multicast, reserved and broadcast addresses are not host addresses";
		return NULL;
	}
	if (memcmp(a, zero, 16) == 0)
		return ":: is not a host address";
	if (memcmp(a, zero, 15) == 0 && a[15] == 1)
		return "::1 is the loopback address";
	if (a[0] == 0xff)
		return "multicast addresses are not host addresses";
	if (memcmp(a, mapped, sizeof mapped) == 0)
		return "write an IPv4 address in dotted-quad form, not IPv4-mapped";
	return NULL;
}

static cf_err ip_bytes(const char *s, uint8_t a[16], int *family, const char **why)
{
	char canon[BOARD_IP_MAX];

	*why = "not an IPv4 or IPv6 address";
	if (s == NULL || s[0] == '\0' || strlen(s) >= BOARD_IP_MAX)
		return CF_E_BAD_VALUE;
	if (inet_pton(AF_INET, s, a) == 1) {
		/* dotted quad exactly: no leading zeros, no short forms */
		if (inet_ntop(AF_INET, a, canon, sizeof canon) == NULL || strcmp(canon, s) != 0) {
			*why = "write an IPv4 address as four decimal numbers without leading zeros";
			return CF_E_BAD_VALUE;
		}
		*family = AF_INET;
	} else if (strchr(s, ':') != NULL && inet_pton(AF_INET6, s, a) == 1) {
		*family = AF_INET6;
	} else {
		return CF_E_BAD_VALUE;
	}
	if ((*why = ip_unusable(*family, a)) != NULL)
		return CF_E_BAD_VALUE;
	*why = NULL;
	return CF_OK;
}

cf_err board_ip_parse(const char *s, char out[BOARD_IP_MAX], int *family, const char **why)
{
	uint8_t a[16];

	if (ip_bytes(s, a, family, why) != CF_OK)
		return CF_E_BAD_VALUE;
	if (inet_ntop(*family, a, out, BOARD_IP_MAX) == NULL) {
		*why = "not an IPv4 or IPv6 address";
		return CF_E_BAD_VALUE;
	}
	return CF_OK;
}

/* Bit i (from the left) of an address. */
static unsigned ip_bit(const uint8_t *a, unsigned i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1u;
}

/* All bits from prefix on equal to v. */
static bool ip_host_bits_all(const uint8_t *a, unsigned bits, unsigned prefix, unsigned v)
{
	for (unsigned i = prefix; i < bits; i++)
		if (ip_bit(a, i) != v)
			return false;
	return true;
}

static bool ip_same_subnet(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	for (unsigned i = 0; i < prefix; i++)
		if (ip_bit(a, i) != ip_bit(b, i))
			return false;
	return true;
}

static cf_err ip_prefix(const char *p, int family, unsigned *out, const char **why)
{
	unsigned max = family == AF_INET ? 32 : 128, v = 0;

	*why = family == AF_INET ? "the prefix length of an IPv4 address is 1 to 32"
				 : "the prefix length of an IPv6 address is 1 to 128";
	if (p[0] == '\0' || strlen(p) > 3 || (p[0] == '0' && p[1] != '\0'))
		return CF_E_BAD_VALUE;
	for (const char *q = p; *q != '\0'; q++) {
		if (*q < '0' || *q > '9')
			return CF_E_BAD_VALUE;
		v = v * 10 + (unsigned)(*q - '0');
	}
	if (v < 1 || v > max)
		return CF_E_BAD_VALUE;
	*out = v;
	*why = NULL;
	return CF_OK;
}

/* "ADDR/PREFIX" -> bytes, family, prefix (the host checks of board_cidr_parse). */
static cf_err cidr_bytes(const char *s, uint8_t a[16], int *family, unsigned *prefix,
			 const char **why)
{
	char addr[BOARD_IP_MAX];
	const char *slash = s != NULL ? strchr(s, '/') : NULL;
	unsigned bits;

	*why = "write the address as ADDR/PREFIX, e.g. 192.0.2.10/24";
	if (slash == NULL || (size_t)(slash - s) >= sizeof addr)
		return CF_E_BAD_VALUE;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (ip_bytes(addr, a, family, why) != CF_OK || ip_prefix(slash + 1, *family, prefix, why) != CF_OK)
		return CF_E_BAD_VALUE;
	bits = *family == AF_INET ? 32 : 128;
	if (*family == AF_INET && *prefix <= 30 && ip_host_bits_all(a, bits, *prefix, 0)) {
		*why = "that is the network address of its subnet, not a host address";
		return CF_E_BAD_VALUE;
	}
	if (*family == AF_INET && *prefix <= 30 && ip_host_bits_all(a, bits, *prefix, 1)) {
		*why = "that is the broadcast address of its subnet, not a host address";
		return CF_E_BAD_VALUE;
	}
	if (*family == AF_INET6 && a[0] == 0xfe && (a[1] & 0xc0) == 0x80) {
		*why = "a link-local address (fe80::/10) is set by the kernel itself";
		return CF_E_BAD_VALUE;
	}
	return CF_OK;
}

cf_err board_cidr_parse(const char *s, char addr[BOARD_IP_MAX], unsigned *prefix, int *family,
			const char **why)
{
	uint8_t a[16];

	if (cidr_bytes(s, a, family, prefix, why) != CF_OK)
		return CF_E_BAD_VALUE;
	if (inet_ntop(*family, a, addr, BOARD_IP_MAX) == NULL)
		return CF_E_BAD_VALUE;
	return CF_OK;
}

/* ---- hostname -------------------------------------------------------------------------- */

static bool host_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

cf_err board_hostname_parse(const char *s, char out[BOARD_HOSTNAME_MAX + 1], const char **why)
{
	size_t n = s != NULL ? strlen(s) : 0, label = 0;
	bool digits_only = true;
	char buf[BOARD_HOSTNAME_MAX + 1];

	*why = "a hostname has 1 to 63 characters";
	if (n == 0 || n > BOARD_HOSTNAME_MAX)
		return CF_E_BAD_VALUE;
	*why = "a hostname is labels of letters, digits and '-' separated by dots, each label "
	       "starting and ending with a letter or digit";
	for (size_t i = 0; i <= n; i++) {
		char ch = s[i];

		if (ch == '.' || ch == '\0') {
			if (label == 0 || s[i - 1] == '-')
				return CF_E_BAD_VALUE;
			if (ch == '\0')
				break;
			label = 0;
			digits_only = true;
		} else if (host_alnum(ch) || (ch == '-' && label > 0)) {
			digits_only = digits_only && ch >= '0' && ch <= '9';
			label++;
		} else {
			return CF_E_BAD_VALUE;
		}
		buf[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
	}
	if (digits_only) {
		*why = "the last label of a hostname is not all digits (that reads as an address)";
		return CF_E_BAD_VALUE;
	}
	buf[n] = '\0';
	memcpy(out, buf, n + 1);
	*why = NULL;
	return CF_OK;
}

/* ---- NTP servers ----------------------------------------------------------------------- */

/* "1".."65535", decimal, no leading zero. */
static bool ntp_port(const char *p, uint16_t *out)
{
	unsigned v = 0;

	if (p[0] == '\0' || p[0] == '0' || strlen(p) > 5)
		return false;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

cf_err board_ntp_server_parse(const char *s, struct board_ntp_server *out, const char **why)
{
	struct board_ntp_server r;
	char addr[BOARD_IP_MAX];
	const char *port = NULL, *colon, *close;
	size_t alen;
	int family;

	memset(&r, 0, sizeof r);
	r.port = BOARD_NTP_PORT;
	*why = "write an NTP server as ADDR, IPV4:PORT or [IPV6]:PORT (an address, not a name)";
	if (s == NULL || s[0] == '\0' || strlen(s) >= BOARD_NTP_TEXT)
		return CF_E_BAD_VALUE;
	if (s[0] == '[') {
		if ((close = strchr(s, ']')) == NULL || (close[1] != '\0' && close[1] != ':'))
			return CF_E_BAD_VALUE;
		if ((alen = (size_t)(close - s - 1)) >= sizeof addr)
			return CF_E_BAD_VALUE;
		memcpy(addr, s + 1, alen);
		port = close[1] == ':' ? close + 2 : NULL;
		addr[alen] = '\0';
		if (strchr(addr, ':') == NULL)
			return CF_E_BAD_VALUE; /* brackets are for IPv6 */
	} else if ((colon = strchr(s, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
		if ((alen = (size_t)(colon - s)) >= sizeof addr) /* IPV4:PORT */
			return CF_E_BAD_VALUE;
		memcpy(addr, s, alen);
		addr[alen] = '\0';
		port = colon + 1;
	} else if (strlen(s) < sizeof addr) {
		memcpy(addr, s, strlen(s) + 1); /* a bare IPv4 or IPv6 address */
	} else {
		return CF_E_BAD_VALUE;
	}
	if (board_ip_parse(addr, r.addr, &family, why) != CF_OK)
		return CF_E_BAD_VALUE;
	if (port != NULL && !ntp_port(port, &r.port)) {
		*why = "an NTP server's port is a decimal number 1 to 65535 (123 when not written)";
		return CF_E_BAD_VALUE;
	}
	*out = r;
	*why = NULL;
	return CF_OK;
}

void board_ntp_server_format(const struct board_ntp_server *s, char out[BOARD_NTP_TEXT])
{
	bool v6 = strchr(s->addr, ':') != NULL;

	if (s->port == BOARD_NTP_PORT)
		(void)snprintf(out, BOARD_NTP_TEXT, "%s", s->addr);
	else
		(void)snprintf(out, BOARD_NTP_TEXT, "%s%s%s:%u", v6 ? "[" : "", s->addr, v6 ? "]" : "",
			       (unsigned)s->port);
}

/* At most BOARD_NTP_MAX, each valid and canonical, none twice. */
static cf_err net_check_ntp(const struct board_net *n, const char **why)
{
	struct board_ntp_server r;
	char text[BOARD_NTP_TEXT];

	*why = "too many NTP servers (at most 3)";
	if (n->n_ntp > BOARD_NTP_MAX)
		return CF_E_BAD_VALUE;
	for (unsigned i = 0; i < n->n_ntp; i++) {
		board_ntp_server_format(&n->ntp[i], text);
		if (n->ntp[i].port == 0 || board_ntp_server_parse(text, &r, why) != CF_OK)
			return CF_E_BAD_VALUE;
		*why = "an NTP server is given twice";
		for (unsigned j = 0; j < i; j++)
			if (strcmp(n->ntp[j].addr, n->ntp[i].addr) == 0 &&
			    n->ntp[j].port == n->ntp[i].port)
				return CF_E_BAD_VALUE;
	}
	return CF_OK;
}

/* ---- the settings together ------------------------------------------------------------- */

static cf_err net_check_gateway(const struct board_net *n, const uint8_t *a, int family,
				const char **why)
{
	uint8_t g[16];
	int gf;

	if (n->gateway[0] == '\0')
		return CF_OK;
	if (ip_bytes(n->gateway, g, &gf, why) != CF_OK)
		return CF_E_BAD_VALUE;
	*why = "the gateway must be of the address's family (IPv4 or IPv6)";
	if (gf != family)
		return CF_E_BAD_VALUE;
	*why = "the gateway is the appliance's own address";
	if (memcmp(g, a, family == AF_INET ? 4 : 16) == 0)
		return CF_E_BAD_VALUE;
	if (family == AF_INET6 && g[0] == 0xfe && (g[1] & 0xc0) == 0x80)
		return CF_OK; /* a link-local router */
	*why = "the gateway is outside the address's subnet (ADDR/PREFIX)";
	if (!ip_same_subnet(a, g, n->prefix) || n->prefix == (family == AF_INET ? 32u : 128u))
		return CF_E_BAD_VALUE;
	*why = NULL;
	return CF_OK;
}

cf_err board_net_check(const struct board_net *n, const char **why)
{
	char cidr[BOARD_IP_MAX + 8], tmp[BOARD_IP_MAX], host[BOARD_HOSTNAME_MAX + 1];
	uint8_t a[16];
	unsigned prefix;
	int family;

	*why = "too many name servers (at most 3)";
	if (n->n_dns > BOARD_DNS_MAX)
		return CF_E_BAD_VALUE;
	for (unsigned i = 0; i < n->n_dns; i++)
		if (board_ip_parse(n->dns[i], tmp, &family, why) != CF_OK)
			return CF_E_BAD_VALUE;
	if (n->hostname[0] != '\0' && board_hostname_parse(n->hostname, host, why) != CF_OK)
		return CF_E_BAD_VALUE;
	if (net_check_ntp(n, why) != CF_OK)
		return CF_E_BAD_VALUE;
	if (n->dhcp) {
		*why = "DHCP settings have no address or gateway";
		if (n->address[0] != '\0' || n->gateway[0] != '\0' || n->prefix != 0)
			return CF_E_BAD_VALUE;
		*why = NULL;
		return CF_OK;
	}
	*why = "static settings need an address";
	if (n->address[0] == '\0')
		return CF_E_BAD_VALUE;
	(void)snprintf(cidr, sizeof cidr, "%s/%u", n->address, n->prefix);
	if (cidr_bytes(cidr, a, &family, &prefix, why) != CF_OK)
		return CF_E_BAD_VALUE;
	return net_check_gateway(n, a, family, why);
}

/* ---- the file -------------------------------------------------------------------------- */

cf_err board_net_format(const struct board_net *n, char *out, size_t cap)
{
	size_t used = 0;
	int k;

#define NET_PUT(...)                                                                  \
	do {                                                                          \
		k = snprintf(out + used, cap - used, __VA_ARGS__);                    \
		if (k < 0 || (size_t)k >= cap - used)                                 \
			return CF_E_NO_SPACE;                                         \
		used += (size_t)k;                                                    \
	} while (0)
	if (out == NULL || cap == 0)
		return CF_E_INVALID_ARG;
	NET_PUT("# network settings: written by the console (net ...), read by init at boot\n");
	NET_PUT("mode=%s\n", n->dhcp ? "dhcp" : "static");
	if (!n->dhcp) {
		NET_PUT("address=%s/%u\n", n->address, n->prefix);
		if (n->gateway[0] != '\0')
			NET_PUT("gateway=%s\n", n->gateway);
	}
	if (n->n_dns > 0) {
		NET_PUT("dns=");
		for (unsigned i = 0; i < n->n_dns && i < BOARD_DNS_MAX; i++)
			NET_PUT("%s%s", i ? " " : "", n->dns[i]);
		NET_PUT("\n");
	}
	if (n->hostname[0] != '\0')
		NET_PUT("hostname=%s\n", n->hostname);
	if (n->n_ntp > 0) {
		char text[BOARD_NTP_TEXT];

		NET_PUT("ntp=");
		for (unsigned i = 0; i < n->n_ntp && i < BOARD_NTP_MAX; i++) {
			board_ntp_server_format(&n->ntp[i], text);
			NET_PUT("%s%s", i ? " " : "", text);
		}
		NET_PUT("\n");
	}
#undef NET_PUT
	return CF_OK;
}

static cf_err net_dns_parse(char *v, struct board_net *out, const char **why)
{
	char *save = NULL;
	int family;

	out->n_dns = 0;
	for (char *w = strtok_r(v, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		*why = "dns= has more than 3 name servers";
		if (out->n_dns == BOARD_DNS_MAX)
			return CF_E_BAD_VALUE;
		if (board_ip_parse(w, out->dns[out->n_dns], &family, why) != CF_OK)
			return CF_E_BAD_VALUE;
		out->n_dns++;
	}
	return CF_OK;
}

static cf_err net_ntp_parse(char *v, struct board_net *out, const char **why)
{
	char *save = NULL;

	out->n_ntp = 0;
	for (char *w = strtok_r(v, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		*why = "ntp= has more than 3 servers";
		if (out->n_ntp == BOARD_NTP_MAX)
			return CF_E_BAD_VALUE;
		if (board_ntp_server_parse(w, &out->ntp[out->n_ntp], why) != CF_OK)
			return CF_E_BAD_VALUE;
		out->n_ntp++;
	}
	*why = "ntp= has no server (leave the line out for none)";
	return out->n_ntp > 0 ? CF_OK : CF_E_BAD_VALUE;
}

/* One "key=value" line into out; seen: the keys already given (bit per key). */
static cf_err net_line(char *line, struct board_net *out, unsigned *seen, const char **why)
{
	static const char *const keys[] = { "mode", "address", "gateway", "dns", "hostname", "ntp" };
	char *eq = strchr(line, '=');
	unsigned k;
	int family;

	*why = "a line is not key=value";
	if (eq == NULL)
		return CF_E_BAD_VALUE;
	*eq = '\0';
	for (k = 0; k < sizeof keys / sizeof keys[0] && strcmp(keys[k], line) != 0; k++)
		;
	*why = "unknown key (mode, address, gateway, dns, hostname, ntp)";
	if (k == sizeof keys / sizeof keys[0])
		return CF_E_BAD_VALUE;
	*why = "a key is given twice";
	if (*seen & (1u << k))
		return CF_E_BAD_VALUE;
	*seen |= 1u << k;
	const char *v = eq + 1;
	switch (k) {
	case 0:
		*why = "mode is dhcp or static";
		if (strcmp(v, "dhcp") != 0 && strcmp(v, "static") != 0)
			return CF_E_BAD_VALUE;
		out->dhcp = strcmp(v, "dhcp") == 0;
		return CF_OK;
	case 1:
		return board_cidr_parse(v, out->address, &out->prefix, &family, why);
	case 2:
		return board_ip_parse(v, out->gateway, &family, why);
	case 3:
		return net_dns_parse(eq + 1, out, why);
	case 5:
		return net_ntp_parse(eq + 1, out, why);
	default:
		return board_hostname_parse(v, out->hostname, why);
	}
}

cf_err board_net_parse(const char *text, struct board_net *out, const char **why)
{
	char buf[NET_FILE_MAX + 1], *save = NULL;
	unsigned seen = 0;
	size_t n = text != NULL ? strlen(text) : 0;

	memset(out, 0, sizeof *out);
	*why = "the file is too large";
	if (text == NULL || n > NET_FILE_MAX)
		return CF_E_BAD_VALUE;
	memcpy(buf, text, n + 1);
	for (char *l = strtok_r(buf, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		if (l[0] == '#')
			continue;
		if (net_line(l, out, &seen, why) != CF_OK)
			return CF_E_BAD_VALUE;
	}
	*why = "mode= is missing";
	if (!(seen & 1u))
		return CF_E_BAD_VALUE;
	return board_net_check(out, why);
}

cf_err board_net_load(const char *dir, struct board_net *out, const char **why)
{
	char path[NET_PATH_MAX], text[NET_FILE_MAX + 2];
	size_t n = 0;
	ssize_t r;
	int fd;

	*why = NULL;
	board_net_default(out);
	TRY(net_path(dir, BOARD_NET_FILE, path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? CF_E_NOT_FOUND : CF_E_IO;
	while (n < sizeof text - 1 && (r = read(fd, text + n, sizeof text - 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return CF_E_IO;
		}
		n += (size_t)r;
	}
	close(fd);
	text[n] = '\0';
	if (strlen(text) != n) {
		*why = "the file holds a NUL byte";
		board_net_default(out);
		return CF_E_BAD_VALUE;
	}
	if (board_net_parse(text, out, why) != CF_OK) {
		board_net_default(out);
		return CF_E_BAD_VALUE;
	}
	return CF_OK;
}

static cf_err net_write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return CF_E_IO;
		s += w;
		n -= (size_t)w;
	}
	return CF_OK;
}

cf_err board_net_save(const char *dir, const struct board_net *n)
{
	char path[NET_PATH_MAX], tmp[NET_PATH_MAX + 8], text[NET_FILE_MAX];
	const char *why;
	cf_err rc;
	int fd;

	if (board_net_check(n, &why) != CF_OK)
		return CF_E_BAD_VALUE;
	TRY(board_net_format(n, text, sizeof text));
	TRY(net_path(dir, BOARD_NET_FILE, path));
	(void)snprintf(tmp, sizeof tmp, "%s.tmp", path);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return CF_E_IO;
	rc = net_write_all(fd, text, strlen(text));
	if (rc == CF_OK && fsync(fd) != 0)
		rc = CF_E_IO;
	if (close(fd) != 0 && rc == CF_OK)
		rc = CF_E_IO;
	if (rc == CF_OK && rename(tmp, path) != 0)
		rc = CF_E_IO;
	if (rc != CF_OK) {
		(void)unlink(tmp);
		return rc;
	}
	/* the rename itself reaches the disk with the directory */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	return CF_OK;
}

/* ---- time ------------------------------------------------------------------------------ */

/* n decimal digits at s -> *v. */
static bool time_digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

cf_err board_time_parse(const char *s, int64_t *out, const char **why)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, se, dim;
	struct tm tm;

	*why = "write the time as YYYY-MM-DDTHH:MM:SSZ (UTC), e.g. 2026-03-01T14:30:00Z";
	if (s == NULL || strlen(s) != BOARD_TIME_TEXT - 1 || s[4] != '-' || s[7] != '-' ||
	    s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
	    !time_digits(s, 4, &y) || !time_digits(s + 5, 2, &mo) || !time_digits(s + 8, 2, &d) ||
	    !time_digits(s + 11, 2, &h) || !time_digits(s + 14, 2, &mi) ||
	    !time_digits(s + 17, 2, &se))
		return CF_E_BAD_VALUE;
	*why = "the year must be 2000 to 2099";
	if (y < 2000 || y > 2099)
		return CF_E_BAD_VALUE;
	*why = "no such date";
	if (mo < 1 || mo > 12)
		return CF_E_BAD_VALUE;
	dim = mdays[mo - 1] + (mo == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
	if (d < 1 || d > dim)
		return CF_E_BAD_VALUE;
	*why = "no such time of day (00:00:00 to 23:59:59)";
	if (h > 23 || mi > 59 || se > 59)
		return CF_E_BAD_VALUE;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*out = (int64_t)timegm(&tm);
	*why = NULL;
	return CF_OK;
}

void board_time_format(int64_t t, char out[BOARD_TIME_TEXT])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, BOARD_TIME_TEXT, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, BOARD_TIME_TEXT, "-");
}

/* ---- restarts and power ---------------------------------------------------------------- */

bool board_restarts(const char *dir, uint64_t *out)
{
	char path[NET_PATH_MAX], text[32];
	char *end;
	size_t n;
	FILE *f;

	*out = 0;
	if (net_path(dir, BOARD_RESTARTS_FILE, path) != CF_OK ||
	    (f = fopen(path, "re")) == NULL)
		return false;
	n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	if (n == 0 || text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno != 0 || (*end != '\0' && *end != '\n'))
		return false;
	*out = (uint64_t)v;
	return true;
}

void board_power_request(struct board *b, enum board_power p)
{
	if (b != NULL)
		atomic_store(&b->power, (int)p);
}

enum board_power board_power_requested(struct board *b)
{
	return b != NULL ? (enum board_power)atomic_load(&b->power) : BOARD_POWER_NONE;
}
