/* Service configuration (docs/config.md). libinih does the INI syntax; this file holds the
 * key table, the value checks and the error reporting with file:line. */
#include "firmware/core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pwd.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board/log.h"

/* inih (Debian 55) keeps section names in 50 bytes and reads lines of ini_max_line (200)
 * bytes; we refuse what it would silently truncate. */
#define SECTION_MAX 49
#define CLIENT_NAME_MAX (SECTION_MAX - 9) /* client "NAME" */

enum key_kind {
	K_PATH,     /* file or directory; relative = against the config dir */
	K_KEY,      /* "pkcs11:" URI kept verbatim, otherwise K_PATH */
	K_TEXT,     /* printable text */
	K_UINT,     /* decimal, range-checked */
	K_BOOL,     /* on/off, yes/no, true/false, 1/0 */
	K_TLSVER,   /* TLS1.2 | TLS1.3 */
	K_CIPHERS,  /* OpenSSL cipher string characters */
	K_ADDR,     /* numeric IPv4 / IPv6 */
	K_PINNED,   /* repeatable SHA-256 fingerprint */
	K_MAP,      /* [clients] client = FINGERPRINT TENANT [ROLE], repeatable */
	K_ALLOW,    /* space-separated CIDR list (board/cidr.h); "" = any */
};

struct key_def {
	const char *section;
	const char *name;
	enum key_kind kind;
	size_t off;
	size_t size;
	unsigned long min, max;
};

#define F(m) offsetof(struct config, m), sizeof(((struct config *)0)->m)

/* Every key the service knows (docs/config.md is the prose version of this table). */
static const struct key_def keys[] = {
	{ "service", "data_dir", K_PATH, F(service.data_dir), 0, 0 },
	{ "service", "state", K_PATH, F(service.state), 0, 0 },
	{ "service", "sandbox", K_BOOL, F(service.sandbox), 0, 0 },
	{ "service", "user", K_TEXT, F(service.user), 0, 0 },
	{ "kmip", "address", K_ADDR, F(kmip.address), 0, 0 },
	{ "kmip", "port", K_UINT, F(kmip.port), 1, 65535 },
	{ "kmip", "workers", K_UINT, F(kmip.workers), 1, 64 },
	{ "kmip", "max_message", K_UINT, F(kmip.max_message), 1024, 1024 * 1024 },
	{ "kmip", "handshake_timeout_s", K_UINT, F(kmip.handshake_timeout_s), 1, 300 },
	{ "kmip", "read_timeout_s", K_UINT, F(kmip.read_timeout_s), 1, 3600 },
	{ "kmip", "idle_timeout_s", K_UINT, F(kmip.idle_timeout_s), 1, 86400 },
	{ "kmip", "allow", K_ALLOW, F(kmip.allow), 0, 0 },
	{ "kmip", "max_conns_per_source", K_UINT, F(kmip.max_conns_per_source), 1, 65536 },
	{ "kmip", "handshake_rate_per_source", K_UINT, F(kmip.handshake_rate_per_source), 1, 100000 },
	{ "kmip", "handshake_burst_per_source", K_UINT, F(kmip.handshake_burst_per_source), 1, 100000 },
	{ "kmip", "max_handshaking", K_UINT, F(kmip.max_handshaking), 1, 65536 },
	{ "kmip", "max_handshaking_per_source", K_UINT, F(kmip.max_handshaking_per_source), 1, 65536 },
	{ "tls", "cert", K_PATH, F(tls.cert), 0, 0 },
	{ "tls", "key", K_KEY, F(tls.key), 0, 0 },
	{ "tls", "ca", K_PATH, F(tls.ca), 0, 0 },
	{ "tls", "ciphers", K_CIPHERS, F(tls.ciphers), 0, 0 },
	{ "tls", "ciphersuites", K_CIPHERS, F(tls.ciphersuites), 0, 0 },
	{ "tls", "min_version", K_TLSVER, F(tls.min_version), 0, 0 },
	{ "tls", "pinned", K_PINNED, F(tls.pinned), 0, 0 },
	{ "hsm", "module", K_PATH, F(hsm.module), 0, 0 },
	{ "hsm", "token", K_TEXT, F(hsm.token), 0, 0 },
	{ "hsm", "pin_file", K_PATH, F(hsm.pin_file), 0, 0 },
	{ "hsm", "timeout_ms", K_UINT, F(hsm.timeout_ms), 100, 600000 },
	{ "hsm", "direct_calls", K_BOOL, F(hsm.direct_calls), 0, 0 },
	{ "store", "busy_timeout_ms", K_UINT, F(store.busy_timeout_ms), 1, 600000 },
	{ "audit", "syslog", K_BOOL, F(audit.syslog), 0, 0 },
	{ "audit", "remote", K_TEXT, F(audit.remote), 0, 0 },
	{ "audit", "remote_name", K_TEXT, F(audit.remote_name), 0, 0 },
	{ "audit", "remote_ca", K_PATH, F(audit.remote_ca), 0, 0 },
	{ "audit", "remote_cert", K_PATH, F(audit.remote_cert), 0, 0 },
	{ "audit", "remote_key", K_KEY, F(audit.remote_key), 0, 0 },
	{ "audit", "queue_max", K_UINT, F(audit.queue_max), 1, 1000000000 },
	{ "audit", "on_queue_full", K_TEXT, F(audit.on_queue_full), 0, 0 },
	{ "tls", "server_names", K_TEXT, F(tls.server_names), 0, 0 },
	{ "console", "dual_control", K_TEXT, F(console.dual_control), 0, 0 },
	{ "console", "idle_logout_s", K_UINT, F(console.idle_logout_s), 30, 86400 },
	{ "backup", "dir", K_PATH, F(backup.dir), 0, 0 },
	{ "clients", "client", K_MAP, 0, 0, 0, 0 },
};
#define N_KEYS (sizeof keys / sizeof keys[0])

static const char *const plain_sections[] = {
	"service", "kmip", "tls", "hsm", "store", "audit", "clients", "console", "backup",
};

enum client_key { CK_SUBJECT, CK_ISSUER, CK_FINGERPRINT, CK_TENANT, CK_ROLE, CK_COUNT };
static const char *const client_keys[CK_COUNT] = { "subject", "issuer", "fingerprint", "tenant", "role" };

struct parse {
	struct config *cfg;
	FILE *f;                           /* the source: a file (config_load) */
	const unsigned char *mem;          /* or text in memory (config_load_mem) */
	size_t mem_len, mem_pos;
	int line;                          /* line the reader handed to inih last */
	bool stop;
	cf_err rc;                         /* first error */
	struct config_diag diag;
	int seen[N_KEYS];                  /* line of first occurrence (single-valued keys) */
	int client_seen[CONFIG_CLIENTS_MAX][CK_COUNT];
	struct config_client *cur_client;  /* the [client "NAME"] being read */
	int pin_file_line;
};

static void fail_at(struct parse *p, cf_err rc, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void fail_at(struct parse *p, cf_err rc, int line, const char *fmt, ...)
{
	if (p->rc != CF_OK)
		return; /* keep the first error */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->diag.msg, sizeof p->diag.msg, fmt, ap);
	va_end(ap);
	p->diag.line = line;
	p->rc = rc;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

static bool copy_text(char *dst, size_t dstsz, const char *v)
{
	size_t n = strlen(v);
	if (n >= dstsz)
		return false;
	memcpy(dst, v, n + 1);
	return true;
}

static bool resolve_path(const struct config *cfg, const char *v, char *out, size_t outsz)
{
	int n;
	if (v[0] == '/')
		n = snprintf(out, outsz, "%s", v);
	else
		n = snprintf(out, outsz, "%s/%s", cfg->dir, v);
	return n > 0 && (size_t)n < outsz;
}

/* "sha256:" prefix optional; 64 hex digits, optionally in colon-separated pairs. */
static bool parse_fp(const char *v, char out[static CONFIG_FP_HEX + 1])
{
	size_t o = 0;
	if (strncasecmp(v, "sha256:", 7) == 0)
		v += 7;
	for (size_t i = 0; v[i]; i++) {
		char c = v[i];
		if (c == ':') {
			/* separators only between byte pairs */
			if (o == 0 || o % 2 != 0 || v[i + 1] == '\0' || v[i + 1] == ':')
				return false;
			continue;
		}
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || o >= CONFIG_FP_HEX)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return o == CONFIG_FP_HEX;
}

static bool parse_uint(const char *v, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end = NULL;
	if (v[0] < '0' || v[0] > '9')
		return false;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
		return false;
	*out = n;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool parse_role(const char *v, enum config_role *out)
{
	if (strcmp(v, "user") == 0)
		*out = CONFIG_ROLE_USER;
	else if (strcmp(v, "readonly") == 0)
		*out = CONFIG_ROLE_READONLY;
	else
		return false;
	return true;
}

static bool ciphers_ok(const char *v)
{
	if (v[0] == '\0')
		return false;
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') || (*v >= '0' && *v <= '9') ||
		      strchr(":-_+!@=.", *v) != NULL))
			return false;
	return true;
}

/* [clients] client = FINGERPRINT TENANT [ROLE] */
static void parse_map(struct parse *p, const char *v)
{
	struct config *cfg = p->cfg;
	char buf[512], *save = NULL;
	if (!copy_text(buf, sizeof buf, v)) {
		fail_at(p, CF_E_CONFIG, p->line, "[clients] client: value too long");
		return;
	}
	char *fp = strtok_r(buf, " \t", &save);
	char *tenant = strtok_r(NULL, " \t", &save);
	char *role = strtok_r(NULL, " \t", &save);
	char *extra = strtok_r(NULL, " \t", &save);
	if (cfg->n_clients >= CONFIG_CLIENTS_MAX) {
		fail_at(p, CF_E_CONFIG, p->line, "more than %d clients", CONFIG_CLIENTS_MAX);
		return;
	}
	struct config_client *c = &cfg->clients[cfg->n_clients];
	memset(c, 0, sizeof *c);
	c->role = CONFIG_ROLE_USER;
	c->line = p->line;
	if (fp == NULL || tenant == NULL || extra != NULL) {
		fail_at(p, CF_E_CONFIG, p->line,
			"[clients] client: expected \"FINGERPRINT TENANT [ROLE]\"");
		return;
	}
	if (!parse_fp(fp, c->fingerprint)) {
		fail_at(p, CF_E_CONFIG, p->line, "[clients] client: bad SHA-256 fingerprint");
		return;
	}
	if (!name_ok(tenant, CONFIG_NAME_MAX) || !copy_text(c->tenant, sizeof c->tenant, tenant)) {
		fail_at(p, CF_E_CONFIG, p->line, "[clients] client: bad tenant name");
		return;
	}
	if (role != NULL && !parse_role(role, &c->role)) {
		fail_at(p, CF_E_CONFIG, p->line, "[clients] client: role must be user or readonly");
		return;
	}
	cfg->n_clients++;
}

static void client_key(struct parse *p, const char *name, const char *v)
{
	struct config_client *c = p->cur_client;
	size_t ci = (size_t)(c - p->cfg->clients);
	size_t k;
	for (k = 0; k < CK_COUNT; k++)
		if (strcmp(name, client_keys[k]) == 0)
			break;
	if (k == CK_COUNT) {
		fail_at(p, CF_E_CONFIG, p->line, "unknown key '%s' in [client \"%s\"]", name, c->name);
		return;
	}
	if (p->client_seen[ci][k] != 0) {
		fail_at(p, CF_E_CONFIG, p->line, "'%s' repeated (first on line %d)", name,
			p->client_seen[ci][k]);
		return;
	}
	p->client_seen[ci][k] = p->line;
	bool ok = false;
	switch (k) {
	case CK_SUBJECT:
		ok = v[0] != '\0' && printable(v) && copy_text(c->subject, sizeof c->subject, v);
		break;
	case CK_ISSUER:
		ok = v[0] != '\0' && printable(v) && copy_text(c->issuer, sizeof c->issuer, v);
		break;
	case CK_FINGERPRINT:
		ok = parse_fp(v, c->fingerprint);
		break;
	case CK_TENANT:
		ok = name_ok(v, CONFIG_NAME_MAX) && copy_text(c->tenant, sizeof c->tenant, v);
		break;
	case CK_ROLE:
		ok = parse_role(v, &c->role);
		break;
	default:
		break;
	}
	if (!ok)
		fail_at(p, CF_E_CONFIG, p->line, "bad value for '%s' in [client \"%s\"]", name, c->name);
}

static void set_key(struct parse *p, size_t ki, const char *v)
{
	const struct key_def *k = &keys[ki];
	struct config *cfg = p->cfg;
	char *field = (char *)cfg + k->off;
	unsigned long n = 0;
	bool ok = false;

	switch (k->kind) {
	case K_PATH:
		ok = v[0] != '\0' && printable(v) && resolve_path(cfg, v, field, k->size);
		break;
	case K_KEY: {
		bool *is_uri = field == cfg->audit.remote_key ? &cfg->audit.remote_key_is_pkcs11
							       : &cfg->tls.key_is_pkcs11;
		if (strncmp(v, "pkcs11:", 7) == 0) {
			ok = printable(v) && copy_text(field, k->size, v);
			*is_uri = true;
		} else {
			ok = v[0] != '\0' && printable(v) && resolve_path(cfg, v, field, k->size);
			*is_uri = false;
		}
		break;
	}
	case K_TEXT:
		ok = v[0] != '\0' && printable(v) && copy_text(field, k->size, v);
		break;
	case K_UINT:
		if (!parse_uint(v, k->min, k->max, &n)) {
			fail_at(p, CF_E_CONFIG, p->line, "[%s] %s: expected an integer in %lu..%lu",
				k->section, k->name, k->min, k->max);
			return;
		}
		if (k->size == sizeof(uint16_t))
			*(uint16_t *)(void *)field = (uint16_t)n;
		else
			*(uint32_t *)(void *)field = (uint32_t)n;
		ok = true;
		break;
	case K_BOOL:
		ok = parse_bool(v, (bool *)(void *)field);
		break;
	case K_TLSVER:
		if (strcasecmp(v, "TLS1.2") == 0 || strcasecmp(v, "TLSv1.2") == 0) {
			cfg->tls.min_version = CONFIG_TLS_1_2;
			ok = true;
		} else if (strcasecmp(v, "TLS1.3") == 0 || strcasecmp(v, "TLSv1.3") == 0) {
			cfg->tls.min_version = CONFIG_TLS_1_3;
			ok = true;
		}
		break;
	case K_CIPHERS:
		ok = ciphers_ok(v) && copy_text(field, k->size, v);
		break;
	case K_ADDR: {
		unsigned char tmp[16];
		ok = (inet_pton(AF_INET, v, tmp) == 1 || inet_pton(AF_INET6, v, tmp) == 1) &&
		     copy_text(field, k->size, v);
		break;
	}
	case K_PINNED:
		if (cfg->tls.n_pinned >= CONFIG_PINNED_MAX) {
			fail_at(p, CF_E_CONFIG, p->line, "more than %d pinned certificates",
				CONFIG_PINNED_MAX);
			return;
		}
		ok = parse_fp(v, cfg->tls.pinned[cfg->tls.n_pinned]);
		if (ok)
			cfg->tls.n_pinned++;
		break;
	case K_MAP:
		parse_map(p, v);
		return;
	case K_ALLOW: {
		const char *why = NULL;
		size_t bad = 0;
		if (cidr_list_parse(v, (struct cidr_list *)(void *)field, &why, &bad) != CF_OK) {
			fail_at(p, CF_E_CONFIG, p->line, "[%s] %s: '%.*s': %s", k->section, k->name,
				(int)strcspn(v + bad, " \t"), v + bad, why);
			return;
		}
		ok = true;
		break;
	}
	}
	if (!ok)
		fail_at(p, CF_E_CONFIG, p->line, "[%s] %s: invalid value", k->section, k->name);
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	if (p->rc != CF_OK)
		return 1; /* one error is enough; let inih run to the end quietly */
	if (strncmp(section, "client \"", 8) == 0) {
		if (p->cur_client == NULL) {
			fail_at(p, CF_E_CONFIG, p->line, "key outside a valid section");
			return 0;
		}
		client_key(p, name, value);
		return p->rc == CF_OK;
	}
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(section, keys[i].section) != 0 || strcmp(name, keys[i].name) != 0)
			continue;
		bool repeatable = keys[i].kind == K_PINNED || keys[i].kind == K_MAP;
		if (!repeatable && p->seen[i] != 0) {
			fail_at(p, CF_E_CONFIG, p->line, "[%s] %s repeated (first on line %d)",
				section, name, p->seen[i]);
			return 0;
		}
		if (p->seen[i] == 0)
			p->seen[i] = p->line;
		if (keys[i].off == offsetof(struct config, hsm.pin_file) && keys[i].kind == K_PATH)
			p->pin_file_line = p->line;
		set_key(p, i, value);
		return p->rc == CF_OK;
	}
	if (section[0] == '\0')
		fail_at(p, CF_E_CONFIG, p->line, "key '%s' outside any section", name);
	else
		fail_at(p, CF_E_CONFIG, p->line, "unknown key '%s' in [%s]", name, section);
	return 0;
}

/* A section header line: known name, or client "NAME" (which opens a client entry). */
static void on_section(struct parse *p, const char *hdr)
{
	const char *end = strchr(hdr, ']');
	char name[256];
	p->cur_client = NULL;
	if (end == NULL)
		return; /* inih reports the syntax error on this line */
	size_t n = (size_t)(end - hdr - 1);
	if (n >= sizeof name) {
		fail_at(p, CF_E_CONFIG, p->line, "section name too long");
		return;
	}
	memcpy(name, hdr + 1, n);
	name[n] = '\0';
	for (size_t i = 0; i < sizeof plain_sections / sizeof plain_sections[0]; i++)
		if (strcmp(name, plain_sections[i]) == 0)
			return;
	if (strncmp(name, "client \"", 8) == 0 && n > 9 && name[n - 1] == '"') {
		char cname[CONFIG_NAME_MAX + 1];
		size_t cn = n - 9;
		if (cn > CLIENT_NAME_MAX) {
			fail_at(p, CF_E_CONFIG, p->line, "client name longer than %d characters",
				CLIENT_NAME_MAX);
			return;
		}
		memcpy(cname, name + 8, cn);
		cname[cn] = '\0';
		if (!name_ok(cname, CLIENT_NAME_MAX)) {
			fail_at(p, CF_E_CONFIG, p->line, "bad client name '%s' (letters, digits, . _ -)",
				cname);
			return;
		}
		for (size_t i = 0; i < p->cfg->n_clients; i++) {
			if (strcmp(p->cfg->clients[i].name, cname) == 0) {
				fail_at(p, CF_E_CONFIG, p->line, "[client \"%s\"] repeated (first on line %d)",
					cname, p->cfg->clients[i].line);
				return;
			}
		}
		if (p->cfg->n_clients >= CONFIG_CLIENTS_MAX) {
			fail_at(p, CF_E_CONFIG, p->line, "more than %d clients", CONFIG_CLIENTS_MAX);
			return;
		}
		struct config_client *c = &p->cfg->clients[p->cfg->n_clients++];
		memset(c, 0, sizeof *c);
		memcpy(c->name, cname, cn + 1);
		c->role = CONFIG_ROLE_USER;
		c->line = p->line;
		p->cur_client = c;
		return;
	}
	fail_at(p, CF_E_CONFIG, p->line, "unknown section [%s]", name);
}

static int src_getc(struct parse *p)
{
	if (p->f != NULL)
		return getc(p->f);
	return p->mem_pos < p->mem_len ? p->mem[p->mem_pos++] : EOF;
}

/* fgets-style reader for inih: counts lines, refuses a NUL byte (which would cut the line
 * short) and overlong lines, strips indentation (so an indented line is never taken as a
 * continuation), and checks section headers. */
static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	size_t n = 0, max = (size_t)num - 1;
	int c = EOF;
	if (p->stop || num < 2)
		return NULL;
	while (n < max && (c = src_getc(p)) != EOF) {
		if (n == 0)
			p->line++;
		if (c == '\0') {
			fail_at(p, CF_E_CONFIG, p->line, "line %d contains a NUL byte (column %zu)",
				p->line, n + 1);
			p->stop = true;
			return NULL;
		}
		str[n++] = (char)c;
		if (c == '\n')
			break;
	}
	if (n == 0)
		return NULL;
	str[n] = '\0';
	if (n == max && c != '\n' && src_getc(p) != EOF) {
		fail_at(p, CF_E_CONFIG, p->line, "line longer than %d characters", num - 3);
		p->stop = true;
		return NULL;
	}
	size_t lead = strspn(str, " \t");
	if (lead > 0)
		memmove(str, str + lead, n - lead + 1);
	if (str[0] == '[' && p->rc == CF_OK)
		on_section(p, str);
	return str;
}

static void set_defaults(struct config *cfg)
{
	cfg->service.sandbox = true;
	snprintf(cfg->kmip.address, sizeof cfg->kmip.address, "%s", CONFIG_DEFAULT_ADDRESS);
	cfg->kmip.port = CONFIG_DEFAULT_PORT;
	cfg->kmip.workers = CONFIG_DEFAULT_WORKERS;
	cfg->kmip.max_message = CONFIG_DEFAULT_MAX_MESSAGE;
	cfg->kmip.handshake_timeout_s = 10;
	cfg->kmip.read_timeout_s = 30;
	cfg->kmip.idle_timeout_s = 300;
	cfg->kmip.max_conns_per_source = CONFIG_DEFAULT_CONNS_PER_SOURCE;
	cfg->kmip.handshake_rate_per_source = CONFIG_DEFAULT_HS_RATE_PER_SOURCE;
	cfg->kmip.handshake_burst_per_source = CONFIG_DEFAULT_HS_BURST_PER_SOURCE;
	cfg->kmip.max_handshaking = CONFIG_DEFAULT_MAX_HANDSHAKING;
	snprintf(cfg->tls.ciphers, sizeof cfg->tls.ciphers, "%s", CONFIG_DEFAULT_CIPHERS);
	snprintf(cfg->tls.ciphersuites, sizeof cfg->tls.ciphersuites, "%s", CONFIG_DEFAULT_CIPHERSUITES);
	cfg->tls.min_version = CONFIG_TLS_1_2;
	cfg->hsm.timeout_ms = 5000;
	cfg->store.busy_timeout_ms = 5000;
	cfg->audit.syslog = true;
	cfg->audit.queue_max = CONFIG_DEFAULT_AUDIT_QUEUE_MAX;
	cfg->console.idle_logout_s = 900;
}

/* Regular file, owned by the process user ([service] user when set: coffred becomes it before
 * it reads the file), no access for group or others. */
static cf_err pin_file_check(const char *path, uid_t owner)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? CF_E_CONFIG : CF_E_PERM_FILE;
	struct stat sb;
	cf_err rc = CF_OK;
	if (fstat(fd, &sb) != 0)
		rc = CF_E_IO;
	else if (!S_ISREG(sb.st_mode) || sb.st_uid != owner || (sb.st_mode & 0177) != 0)
		rc = CF_E_PERM_FILE;
	close(fd);
	return rc;
}

/* Line of a single-valued key's first occurrence (0 = absent). */
static int key_line(const struct parse *p, const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return p->seen[i];
	return 0;
}

/* [audit] remote = HOST:PORT or [V6]:PORT, its policy and its files. */
static void validate_audit(struct parse *p)
{
	struct config *cfg = p->cfg;
	const char *v = cfg->audit.remote;
	int line = key_line(p, "audit", "remote");

	if (cfg->audit.on_queue_full[0] == '\0' || strcmp(cfg->audit.on_queue_full, "stop") == 0)
		cfg->audit.queue_stop = true;
	else if (strcmp(cfg->audit.on_queue_full, "continue") == 0)
		cfg->audit.queue_stop = false;
	else
		fail_at(p, CF_E_CONFIG, key_line(p, "audit", "on_queue_full"),
			"[audit] on_queue_full: expected stop or continue");
	if (v[0] == '\0' || strcmp(v, "off") == 0) {
		cfg->audit.remote[0] = '\0';
		return;
	}
	if (!config_hostport(v, cfg->audit.remote_host, &cfg->audit.remote_port)) {
		fail_at(p, CF_E_CONFIG, line, "[audit] remote: expected HOST:PORT or [V6]:PORT");
		return;
	}
	/* without remote_cert and remote_key the sender shows the [tls] cert and key */
	if (cfg->audit.remote_ca[0] == '\0' ||
	    (cfg->audit.remote_cert[0] == '\0') != (cfg->audit.remote_key[0] == '\0'))
		fail_at(p, CF_E_CONFIG, line,
			"[audit] remote needs remote_ca, and remote_cert with remote_key or neither");
}

bool config_hostport(const char *v, char host[CONFIG_REMOTE_MAX + 1], uint16_t *port)
{
	const char *colon = strrchr(v, ':');
	unsigned long n = 0;
	size_t hl;

	if (v[0] == '[') {
		const char *rb = strchr(v, ']');
		if (rb == NULL || rb[1] != ':')
			colon = NULL;
		v++;
		hl = rb != NULL ? (size_t)(rb - v) : 0;
	} else {
		hl = colon != NULL ? (size_t)(colon - v) : 0;
		if (colon != NULL && memchr(v, ':', hl) != NULL)
			colon = NULL; /* a bare IPv6 address: write [V6]:PORT */
	}
	if (colon == NULL || hl == 0 || hl > CONFIG_REMOTE_MAX || !parse_uint(colon + 1, 1, 65535, &n))
		return false;
	for (size_t i = 0; i < hl; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f || v[i] == '[' ||
		    v[i] == ']' || v[i] == '/')
			return false;
	memcpy(host, v, hl);
	host[hl] = '\0';
	*port = (uint16_t)n;
	return true;
}

static void validate(struct parse *p)
{
	struct config *cfg = p->cfg;
	if (cfg->service.data_dir[0] == '\0' && !resolve_path(cfg, "data", cfg->service.data_dir,
							     sizeof cfg->service.data_dir))
		fail_at(p, CF_E_CONFIG, 0, "config directory path too long");
	if (cfg->service.state[0] == '\0')
		memcpy(cfg->service.state, cfg->service.data_dir, sizeof cfg->service.state);
	for (size_t i = 0; i < cfg->n_clients; i++) {
		const struct config_client *c = &cfg->clients[i];
		if (c->tenant[0] == '\0')
			fail_at(p, CF_E_CONFIG, c->line, "client \"%s\": tenant missing", c->name);
		else if ((c->subject[0] != '\0') != (c->issuer[0] != '\0'))
			fail_at(p, CF_E_CONFIG, c->line, "client \"%s\": subject and issuer go together",
				c->name);
		else if (c->subject[0] == '\0' && c->fingerprint[0] == '\0')
			fail_at(p, CF_E_CONFIG, c->line,
				"client \"%s\": needs subject + issuer or a fingerprint", c->name);
		for (size_t j = 0; j < i; j++) {
			const struct config_client *d = &cfg->clients[j];
			if ((c->fingerprint[0] && strcmp(c->fingerprint, d->fingerprint) == 0) ||
			    (c->subject[0] && strcmp(c->subject, d->subject) == 0 &&
			     strcmp(c->issuer, d->issuer) == 0))
				fail_at(p, CF_E_CONFIG, c->line,
					"client identity already mapped on line %d", d->line);
		}
	}
	validate_audit(p);
	if (cfg->service.user[0] != '\0') {
		const struct passwd *pw = getpwnam(cfg->service.user);

		if (pw == NULL) {
			fail_at(p, CF_E_CONFIG, 0, "[service] user %s: no such user", cfg->service.user);
		} else if (pw->pw_uid == 0) {
			fail_at(p, CF_E_CONFIG, 0, "[service] user %s: must not be root",
				cfg->service.user);
		} else {
			cfg->service.uid = pw->pw_uid;
			cfg->service.gid = pw->pw_gid;
		}
	}
	if (p->rc == CF_OK && cfg->hsm.pin_file[0] != '\0') {
		uid_t owner = cfg->service.user[0] != '\0' ? (uid_t)cfg->service.uid : geteuid();
		cf_err rc = pin_file_check(cfg->hsm.pin_file, owner);

		if (rc == CF_E_PERM_FILE)
			fail_at(p, rc, p->pin_file_line,
				"[hsm] pin_file %s must be a regular file owned by this user, mode 0600",
				cfg->hsm.pin_file);
		else if (rc != CF_OK)
			fail_at(p, rc, p->pin_file_line, "[hsm] pin_file %s: cannot open",
				cfg->hsm.pin_file);
	}
}

/* A parse of path with fresh defaults; the public entry points' argument checks. */
static cf_err parse_start(const char *path, struct config **out, struct config_diag *diag,
			  struct parse **pp)
{
	*pp = NULL;
	if (diag != NULL)
		memset(diag, 0, sizeof *diag);
	if (out == NULL)
		return CF_E_INVALID_ARG;
	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return CF_E_INVALID_ARG;
	struct parse *p = calloc(1, sizeof *p);
	struct config *cfg = calloc(1, sizeof *cfg);
	if (p == NULL || cfg == NULL) {
		free(p);
		free(cfg);
		return CF_E_NOMEM;
	}
	p->cfg = cfg;
	snprintf(p->diag.file, sizeof p->diag.file, "%s", path);
	set_defaults(cfg);
	*pp = p;
	return CF_OK;
}

/* cfg->path = abs, cfg->dir = its directory; false when abs does not fit. */
static bool set_paths(struct config *cfg, const char *abs)
{
	size_t n = strlen(abs);
	if (n >= sizeof cfg->path)
		return false;
	memcpy(cfg->path, abs, n + 1);
	memcpy(cfg->dir, abs, n + 1);
	char *slash = strrchr(cfg->dir, '/');
	if (slash == cfg->dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	return true;
}

/* inih over p's source, then the checks across keys. */
static void parse_run(struct parse *p)
{
	int r = ini_parse_stream(reader, p, on_key, p);
	if (r == -2)
		fail_at(p, CF_E_NOMEM, 0, "out of memory");
	else if (r > 0 && (p->rc == CF_OK || r < p->diag.line)) {
		p->rc = CF_OK; /* inih's syntax error comes first in the file: report it */
		fail_at(p, CF_E_CONFIG, r, "syntax error (expected [section] or key = value)");
	}
	else if (r < 0)
		fail_at(p, CF_E_IO, 0, "cannot read");
	if (p->rc == CF_OK && p->f != NULL && ferror(p->f))
		fail_at(p, CF_E_IO, 0, "read error");
	if (p->rc == CF_OK)
		validate(p);
}

/* Hand the config over (success) or log and copy out the first error; free p. */
static cf_err parse_finish(struct parse *p, struct config **out, struct config_diag *diag)
{
	cf_err rc = p->rc;
	if (rc == CF_OK) {
		*out = p->cfg;
		p->cfg = NULL;
	} else {
		if (p->diag.line > 0)
			log_err("%s:%d: %s", p->diag.file, p->diag.line, p->diag.msg);
		else
			log_err("%s: %s", p->diag.file, p->diag.msg);
		if (diag != NULL)
			*diag = p->diag;
	}
	if (p->f != NULL)
		fclose(p->f);
	config_free(p->cfg);
	free(p);
	return rc;
}

cf_err config_load(const char *path, struct config **out, struct config_diag *diag)
{
	struct parse *p;
	cf_err rc = parse_start(path, out, diag, &p);
	if (rc != CF_OK)
		return rc;
	char *abs = realpath(path, NULL);
	if (abs == NULL || !set_paths(p->cfg, abs)) {
		fail_at(p, CF_E_IO, 0, "cannot open: %s", strerror(errno ? errno : ENAMETOOLONG));
	} else {
		int fd = open(abs, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || (p->f = fdopen(fd, "r")) == NULL) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			fail_at(p, CF_E_IO, 0, "cannot open: %s", strerror(e));
		} else {
			parse_run(p);
		}
	}
	free(abs);
	return parse_finish(p, out, diag);
}

cf_err config_load_mem(const char *path, const void *text, size_t len, struct config **out,
		       struct config_diag *diag)
{
	struct parse *p;
	cf_err rc = parse_start(path, out, diag, &p);
	if (rc != CF_OK)
		return rc;
	if (path[0] != '/' || !set_paths(p->cfg, path) || (text == NULL && len > 0)) {
		fail_at(p, CF_E_INVALID_ARG, 0, "not an absolute path, or no text");
	} else {
		p->mem = text;
		p->mem_len = len;
		parse_run(p);
	}
	return parse_finish(p, out, diag);
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	memset(cfg, 0, sizeof *cfg);
	free(cfg);
}

const struct config_client *config_client_find(const struct config *cfg, const char *fp_hex,
					       const char *subject, const char *issuer)
{
	if (cfg == NULL)
		return NULL;
	if (fp_hex != NULL && fp_hex[0] != '\0') {
		for (size_t i = 0; i < cfg->n_clients; i++)
			if (cfg->clients[i].fingerprint[0] != '\0' &&
			    strcasecmp(cfg->clients[i].fingerprint, fp_hex) == 0)
				return &cfg->clients[i];
	}
	if (subject != NULL && issuer != NULL) {
		for (size_t i = 0; i < cfg->n_clients; i++)
			if (cfg->clients[i].subject[0] != '\0' &&
			    strcmp(cfg->clients[i].subject, subject) == 0 &&
			    strcmp(cfg->clients[i].issuer, issuer) == 0)
				return &cfg->clients[i];
	}
	return NULL;
}

bool config_pinned(const struct config *cfg, const char *fp_hex)
{
	if (cfg == NULL || fp_hex == NULL)
		return false;
	for (size_t i = 0; i < cfg->tls.n_pinned; i++)
		if (strcasecmp(cfg->tls.pinned[i], fp_hex) == 0)
			return true;
	return false;
}
