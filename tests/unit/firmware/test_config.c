/* firmware/config: a complete valid file with every key, the defaults, relative path
 * resolution, and each error with its line number; a NUL byte refused with its line;
 * config_load_mem; pin_file permission refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firmware/core/config.h"

static char tmpdir[64];
static char pinfile[128];

static int group_setup(void **s)
{
	(void)s;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/coffre-config-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(pinfile, sizeof pinfile, "%s/hsm.pin", tmpdir);
	int fd = open(pinfile, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int group_teardown(void **s)
{
	(void)s;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *text, char *path, size_t n)
{
	snprintf(path, n, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static const char full_conf[] =
	"; a QA instance\n"
	"[service]\n"
	"data_dir = data\n"
	"state = /var/lib/coffre/state\n"
	"\n"
	"[kmip]\n"
	"address = 0.0.0.0\n"
	"port = 15696\n"
	"workers = 8\n"
	"max_message = 65536\n"
	"handshake_timeout_s = 5\n"
	"read_timeout_s = 20\n"
	"idle_timeout_s = 120\n"
	"allow = 10.0.0.0/8  2001:db8::/32 192.0.2.7\n"
	"max_conns_per_source = 4\n"
	"handshake_rate_per_source = 5\n"
	"handshake_burst_per_source = 6\n"
	"max_handshaking = 7\n"
	"max_handshaking_per_source = 3\n"
	"\n"
	"[tls]\n"
	"cert = pki/server.crt\n"
	"key = pkcs11:token=coffre;object=tls-server;type=private\n"
	"ca = /etc/coffre/ca.crt\n"
	"ciphers = ECDHE-RSA-AES256-GCM-SHA384:AES128-SHA256\n"
	"ciphersuites = TLS_AES_256_GCM_SHA384\n"
	"min_version = TLS1.3\n"
	"pinned = sha256:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\n"
	"pinned = 0000000000000000000000000000000000000000000000000000000000000001\n"
	"\n"
	"[hsm]\n"
	"module = /usr/lib/softhsm/libsofthsm2.so\n"
	"token = coffre-qa\n"
	"pin_file = hsm.pin\n"
	"timeout_ms = 2500\n"
	"\n"
	"[store]\n"
	"busy_timeout_ms = 750\n"
	"\n"
	"[audit]\n"
	"syslog = off\n"
	"\n"
	"[client \"vcenter\"]\n"
	"  subject = CN=vcenter.lab,O=Lab\n"
	"  issuer = CN=Coffre QA CA\n"
	"  tenant = vsphere\n"
	"\n"
	"[client \"reader\"]\n"
	"fingerprint = 1111111111111111111111111111111111111111111111111111111111111111\n"
	"tenant = vsphere\n"
	"role = readonly\n"
	"\n"
	"[clients]\n"
	"client = 2222222222222222222222222222222222222222222222222222222222222222 other\n"
	"client = sha256:3333333333333333333333333333333333333333333333333333333333333333 other readonly\n";

static void t_full_file(void **s)
{
	(void)s;
	char path[128], want[256];
	struct config *c = NULL;
	struct config_diag d;
	write_file("full.conf", full_conf, path, sizeof path);
	assert_int_equal(config_load(path, &c, &d), CF_OK);
	assert_non_null(c);
	assert_string_equal(c->dir, tmpdir);
	snprintf(want, sizeof want, "%s/data", tmpdir);
	assert_string_equal(c->service.data_dir, want);
	assert_string_equal(c->service.state, "/var/lib/coffre/state");
	assert_string_equal(c->kmip.address, "0.0.0.0");
	assert_int_equal(c->kmip.port, 15696);
	assert_int_equal(c->kmip.workers, 8);
	assert_int_equal(c->kmip.max_message, 65536);
	assert_int_equal(c->kmip.handshake_timeout_s, 5);
	assert_int_equal(c->kmip.read_timeout_s, 20);
	assert_int_equal(c->kmip.idle_timeout_s, 120);
	assert_int_equal(c->kmip.allow.n, 3);
	assert_int_equal(c->kmip.max_conns_per_source, 4);
	assert_int_equal(c->kmip.handshake_rate_per_source, 5);
	assert_int_equal(c->kmip.handshake_burst_per_source, 6);
	assert_int_equal(c->kmip.max_handshaking, 7);
	assert_int_equal(c->kmip.max_handshaking_per_source, 3);
	assert_int_equal(c->kmip.allow.e[0].family, 4);
	assert_int_equal(c->kmip.allow.e[0].prefix, 8);
	assert_int_equal(c->kmip.allow.e[1].family, 6);
	assert_int_equal(c->kmip.allow.e[1].prefix, 32);
	assert_int_equal(c->kmip.allow.e[2].prefix, 32);
	snprintf(want, sizeof want, "%s/pki/server.crt", tmpdir);
	assert_string_equal(c->tls.cert, want);
	assert_string_equal(c->tls.key, "pkcs11:token=coffre;object=tls-server;type=private");
	assert_true(c->tls.key_is_pkcs11);
	assert_string_equal(c->tls.ca, "/etc/coffre/ca.crt");
	assert_string_equal(c->tls.ciphers, "ECDHE-RSA-AES256-GCM-SHA384:AES128-SHA256");
	assert_string_equal(c->tls.ciphersuites, "TLS_AES_256_GCM_SHA384");
	assert_int_equal(c->tls.min_version, CONFIG_TLS_1_3);
	assert_int_equal(c->tls.n_pinned, 2);
	assert_string_equal(c->tls.pinned[0],
			    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
	assert_true(config_pinned(c, "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"));
	assert_false(config_pinned(c, "ffff"));
	assert_string_equal(c->hsm.module, "/usr/lib/softhsm/libsofthsm2.so");
	assert_string_equal(c->hsm.token, "coffre-qa");
	assert_string_equal(c->hsm.pin_file, pinfile);
	assert_int_equal(c->hsm.timeout_ms, 2500);
	assert_int_equal(c->store.busy_timeout_ms, 750);
	assert_false(c->audit.syslog);
	assert_int_equal(c->n_clients, 4);
	assert_string_equal(c->clients[0].name, "vcenter");
	assert_string_equal(c->clients[0].subject, "CN=vcenter.lab,O=Lab");
	assert_string_equal(c->clients[0].issuer, "CN=Coffre QA CA");
	assert_string_equal(c->clients[0].tenant, "vsphere");
	assert_int_equal(c->clients[0].role, CONFIG_ROLE_USER);
	assert_int_equal(c->clients[1].role, CONFIG_ROLE_READONLY);
	assert_string_equal(c->clients[2].tenant, "other");
	assert_int_equal(c->clients[2].role, CONFIG_ROLE_USER);
	assert_int_equal(c->clients[3].role, CONFIG_ROLE_READONLY);
	assert_string_equal(c->clients[3].fingerprint,
			    "3333333333333333333333333333333333333333333333333333333333333333");
	/* identity lookups */
	const struct config_client *m = config_client_find(c, NULL, "CN=vcenter.lab,O=Lab", "CN=Coffre QA CA");
	assert_non_null(m);
	assert_string_equal(m->name, "vcenter");
	m = config_client_find(c, "1111111111111111111111111111111111111111111111111111111111111111",
			       "CN=x", "CN=y");
	assert_non_null(m);
	assert_string_equal(m->name, "reader");
	assert_null(config_client_find(c, "44", "CN=vcenter.lab,O=Lab", "CN=Other CA"));
	config_free(c);
	config_free(NULL);
}

static void t_defaults(void **s)
{
	(void)s;
	char path[128], want[256];
	struct config *c = NULL;
	write_file("empty.conf", "# nothing\n", path, sizeof path);
	assert_int_equal(config_load(path, &c, NULL), CF_OK);
	snprintf(want, sizeof want, "%s/data", tmpdir);
	assert_string_equal(c->service.data_dir, want);
	assert_string_equal(c->service.state, want);
	assert_string_equal(c->kmip.address, "127.0.0.1");
	assert_int_equal(c->kmip.port, 5696);
	assert_int_equal(c->kmip.workers, CONFIG_DEFAULT_WORKERS);
	assert_int_equal(c->kmip.max_message, 1048576);
	assert_int_equal(c->kmip.handshake_timeout_s, 10);
	assert_int_equal(c->kmip.read_timeout_s, 30);
	assert_int_equal(c->kmip.idle_timeout_s, 300);
	assert_int_equal(c->kmip.allow.n, 0); /* any source */
	assert_int_equal(c->kmip.max_conns_per_source, 1024);
	assert_int_equal(c->kmip.handshake_rate_per_source, 1000);
	assert_int_equal(c->kmip.handshake_burst_per_source, 2000);
	assert_int_equal(c->kmip.max_handshaking, 256);
	assert_int_equal(c->kmip.max_handshaking_per_source, 0); /* = max_handshaking / 2 */
	assert_string_equal(c->tls.ciphers, CONFIG_DEFAULT_CIPHERS);
	assert_string_equal(c->tls.ciphersuites, CONFIG_DEFAULT_CIPHERSUITES);
	assert_int_equal(c->tls.min_version, CONFIG_TLS_1_2);
	assert_int_equal(c->tls.n_pinned, 0);
	assert_string_equal(c->hsm.pin_file, "");
	assert_int_equal(c->hsm.timeout_ms, 5000);
	assert_int_equal(c->store.busy_timeout_ms, 5000);
	assert_true(c->audit.syslog);
	assert_true(c->service.sandbox);     /* the seccomp filter is on unless turned off */
	assert_string_equal(c->service.user, "");
	assert_int_equal(c->n_clients, 0);
	config_free(c);
	/* a key file instead of a PKCS#11 URI is a path */
	write_file("keyfile.conf", "[tls]\nkey = server.key\n", path, sizeof path);
	assert_int_equal(config_load(path, &c, NULL), CF_OK);
	snprintf(want, sizeof want, "%s/server.key", tmpdir);
	assert_string_equal(c->tls.key, want);
	assert_false(c->tls.key_is_pkcs11);
	config_free(c);
}

struct bad_case {
	const char *text;
	cf_err rc;
	int line;
	const char *msg; /* substring of the diagnostic */
};

static void t_errors_with_line(void **s)
{
	(void)s;
	char longline[400];
	snprintf(longline, sizeof longline, "[hsm]\ntoken = %0300d\n", 1);
	const struct bad_case cases[] = {
		{ "[service]\ndata_dir = d\n[bogus]\nx = 1\n", CF_E_CONFIG, 3, "unknown section [bogus]" },
		{ "[kmip]\nport = 1\n[empty]\n", CF_E_CONFIG, 3, "unknown section [empty]" },
		{ "[kmip]\nport = 1\nportt = 2\n", CF_E_CONFIG, 3, "unknown key 'portt' in [kmip]" },
		{ "port = 1\n", CF_E_CONFIG, 1, "outside any section" },
		{ "[kmip]\nport = 1\n\nport = 2\n", CF_E_CONFIG, 4, "repeated (first on line 2)" },
		{ "[kmip]\nport = 0\n", CF_E_CONFIG, 2, "1..65535" },
		{ "[kmip]\nallow = 10.0.0.0/8 192.0.2.1/24\n", CF_E_CONFIG, 2,
		  "[kmip] allow: '192.0.2.1/24': bits are set beyond the prefix length" },
		{ "[kmip]\nallow = 2001:db8::/129\n", CF_E_CONFIG, 2, "0 to 128" },
		{ "[kmip]\nmax_conns_per_source = 0\n", CF_E_CONFIG, 2, "max_conns_per_source" },
		{ "[kmip]\nhandshake_rate_per_source = 100001\n", CF_E_CONFIG, 2,
		  "handshake_rate_per_source" },
		{ "[kmip]\nallow = kmip.example\n", CF_E_CONFIG, 2, "not a numeric IPv4 or IPv6" },
		{ "[kmip]\nallow = any\nallow = any\n", CF_E_CONFIG, 3, "repeated" },
		{ "[kmip]\nport = 65536\n", CF_E_CONFIG, 2, "1..65535" },
		{ "[kmip]\nport = 56x\n", CF_E_CONFIG, 2, "port" },
		{ "[kmip]\nport = -1\n", CF_E_CONFIG, 2, "port" },
		{ "[kmip]\nport = 99999999999999999999999\n", CF_E_CONFIG, 2, "port" },
		{ "[kmip]\nworkers = 65\n", CF_E_CONFIG, 2, "workers" },
		{ "[kmip]\nmax_message = 2097152\n", CF_E_CONFIG, 2, "max_message" },
		{ "[kmip]\nhandshake_timeout_s = 0\n", CF_E_CONFIG, 2, "handshake_timeout_s" },
		{ "[kmip]\naddress = localhost\n", CF_E_CONFIG, 2, "address" },
		{ "[tls]\nmin_version = TLS1.1\n", CF_E_CONFIG, 2, "min_version" },
		{ "[tls]\npinned = abc\n", CF_E_CONFIG, 2, "pinned" },
		{ "[tls]\nciphers = AES128 SHA\n", CF_E_CONFIG, 2, "ciphers" },
		{ "[audit]\nsyslog = maybe\n", CF_E_CONFIG, 2, "syslog" },
		{ "[audit]\nremote = collector.example\nremote_ca = a\nremote_cert = b\nremote_key = c\n",
		  CF_E_CONFIG, 2, "[audit] remote: expected HOST:PORT or [V6]:PORT" },
		{ "[audit]\nremote = ::1:6514\nremote_ca = a\nremote_cert = b\nremote_key = c\n",
		  CF_E_CONFIG, 2, "HOST:PORT" },
		{ "[audit]\nremote = [::1]:0\nremote_ca = a\nremote_cert = b\nremote_key = c\n",
		  CF_E_CONFIG, 2, "HOST:PORT" },
		{ "[audit]\nremote = h:6514\n", CF_E_CONFIG, 2,
		  "[audit] remote needs remote_ca, and remote_cert with remote_key or neither" },
		{ "[audit]\nremote = h:6514\nremote_ca = a\nremote_cert = b\n", CF_E_CONFIG, 2,
		  "remote_cert with remote_key" },
		{ "[audit]\nqueue_max = 0\n", CF_E_CONFIG, 2, "queue_max" },
		{ "[audit]\n\non_queue_full = drop\n", CF_E_CONFIG, 3, "expected stop or continue" },
		{ "[hsm]\ntimeout_ms = 10\n", CF_E_CONFIG, 2, "timeout_ms" },
		{ "[hsm]\npin = 1234\n", CF_E_CONFIG, 2, "unknown key 'pin'" },
		{ "[kmip]\nthis line has no equals sign\n", CF_E_CONFIG, 2, "syntax error" },
		{ "[kmip\nport = 1\n", CF_E_CONFIG, 1, "syntax error" },
		{ longline, CF_E_CONFIG, 2, "line longer than" },
		{ "\n[client \"vc\"]\nsubject = CN=a\nissuer = CN=b\n", CF_E_CONFIG, 2, "tenant missing" },
		{ "[client \"vc\"]\ntenant = t\n", CF_E_CONFIG, 1, "needs subject + issuer or a fingerprint" },
		{ "[client \"vc\"]\ntenant = t\nsubject = CN=a\n", CF_E_CONFIG, 1, "go together" },
		{ "[client \"vc\"]\ntenant = t\nrole = root\n", CF_E_CONFIG, 3, "role" },
		{ "[client \"vc\"]\ntenant = bad tenant\n", CF_E_CONFIG, 2, "tenant" },
		{ "[client \"vc\"]\ntenant = t\ncolour = red\n", CF_E_CONFIG, 3, "unknown key 'colour'" },
		{ "[client \"vc\"]\ntenant = t\nfingerprint = 11\n", CF_E_CONFIG, 3, "fingerprint" },
		{ "[client \"a\"]\ntenant = t\nfingerprint = sha256:1111111111111111111111111111111111111111111111111111111111111111\n"
		  "[client \"a\"]\ntenant = u\n", CF_E_CONFIG, 4, "repeated (first on line 1)" },
		{ "[client \"a b\"]\ntenant = t\n", CF_E_CONFIG, 1, "bad client name" },
		{ "[client \"abcdefghijabcdefghijabcdefghijabcdefghijX\"]\n", CF_E_CONFIG, 1, "longer than" },
		{ "[client \"a\"]\ntenant = t\nfingerprint = 1111111111111111111111111111111111111111111111111111111111111111\n"
		  "[clients]\nclient = 1111111111111111111111111111111111111111111111111111111111111111 t\n",
		  CF_E_CONFIG, 5, "already mapped on line 1" },
		{ "[clients]\nclient = 1111111111111111111111111111111111111111111111111111111111111111\n",
		  CF_E_CONFIG, 2, "FINGERPRINT TENANT" },
		{ "[clients]\nclient = 11 t\n", CF_E_CONFIG, 2, "fingerprint" },
		{ "[clients]\n2222222222222222222222222222222222222222222222222222222222222222 = t\n",
		  CF_E_CONFIG, 2, "unknown key" },
		{ "[hsm]\npin_file = missing.pin\n", CF_E_CONFIG, 2, "cannot open" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[128];
		struct config *c = (struct config *)1;
		struct config_diag d;
		write_file("bad.conf", cases[i].text, path, sizeof path);
		cf_err rc = config_load(path, &c, &d);
		if (rc != cases[i].rc || d.line != cases[i].line || strstr(d.msg, cases[i].msg) == NULL)
			fail_msg("case %zu: rc %s line %d msg '%s' (want %s line %d '%s')", i,
				 cf_err_name(rc), d.line, d.msg, cf_err_name(cases[i].rc),
				 cases[i].line, cases[i].msg);
		assert_null(c);
		assert_string_equal(d.file, path);
	}
	/* a missing file */
	struct config *c = NULL;
	struct config_diag d;
	assert_int_equal(config_load("/nonexistent/coffred.conf", &c, &d), CF_E_IO);
	assert_int_equal(d.line, 0);
	assert_int_equal(config_load(NULL, &c, &d), CF_E_INVALID_ARG);
}

/* A NUL byte anywhere in a line (inih would cut the line there) is refused, naming the line,
 * from a file and from memory. */
static void t_nul_byte(void **s)
{
	(void)s;
	static const struct {
		const char *text;
		size_t len;
		int line;
		const char *msg;
	} cases[] = {
#define NUL_CASE(lit, line, msg) { lit, sizeof lit - 1, line, msg }
		NUL_CASE("[kmip]\nport = 15\0" "696\n", 2, "line 2 contains a NUL byte (column 10)"),
		NUL_CASE("; a comment\0 hiding [bogus]\n[kmip]\n", 1, "line 1 contains a NUL byte"),
		NUL_CASE("[kmip]\nport = 1\n\0\n", 3, "line 3 contains a NUL byte (column 1)"),
		NUL_CASE("[kmip]\nport = 1\n\0", 3, "line 3 contains a NUL byte"),
		NUL_CASE("[hsm\0]\ntoken = t\n", 1, "line 1 contains a NUL byte"),
#undef NUL_CASE
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[128];
		struct config *c = (struct config *)1;
		struct config_diag d;
		snprintf(path, sizeof path, "%s/nul.conf", tmpdir);
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(cases[i].text, 1, cases[i].len, f), cases[i].len);
		assert_int_equal(fclose(f), 0);
		for (int mem = 0; mem < 2; mem++) {
			cf_err rc = mem ? config_load_mem(path, cases[i].text, cases[i].len, &c, &d)
					: config_load(path, &c, &d);
			if (rc != CF_E_CONFIG || d.line != cases[i].line ||
			    strstr(d.msg, cases[i].msg) == NULL)
				fail_msg("case %zu%s: rc %s line %d msg '%s'", i, mem ? " (mem)" : "",
					 cf_err_name(rc), d.line, d.msg);
			assert_null(c);
			assert_string_equal(d.file, path);
		}
	}
}

/* [audit] remote: HOST:PORT and [V6]:PORT, the policy, the defaults. */
static void t_audit_remote(void **s)
{
	(void)s;
	static const char v6[] = "[audit]\nremote = [::1]:6514\nremote_ca = ca.pem\n"
				 "remote_cert = c.pem\nremote_key = /k.pem\nqueue_max = 10\n"
				 "on_queue_full = continue\n";
	static const char dns[] = "[audit]\nremote = collector.example:514\nremote_ca = a\n"
				  "remote_cert = b\nremote_key = c\nremote_name = syslog.example\n";
	struct config *c = NULL;
	struct config_diag d;
	assert_int_equal(config_load_mem("/etc/coffre/coffred.conf", v6, strlen(v6), &c, &d), CF_OK);
	assert_string_equal(c->audit.remote, "[::1]:6514");
	assert_string_equal(c->audit.remote_host, "::1");
	assert_int_equal(c->audit.remote_port, 6514);
	assert_string_equal(c->audit.remote_ca, "/etc/coffre/ca.pem");
	assert_string_equal(c->audit.remote_key, "/k.pem");
	assert_int_equal(c->audit.queue_max, 10);
	assert_false(c->audit.queue_stop);
	config_free(c);
	assert_int_equal(config_load_mem("/etc/coffre/coffred.conf", dns, strlen(dns), &c, &d), CF_OK);
	assert_string_equal(c->audit.remote_host, "collector.example");
	assert_int_equal(c->audit.remote_port, 514);
	assert_string_equal(c->audit.remote_name, "syslog.example");
	assert_true(c->audit.queue_stop);
	assert_int_equal(c->audit.queue_max, CONFIG_DEFAULT_AUDIT_QUEUE_MAX);
	config_free(c);
	assert_int_equal(config_load_mem("/etc/coffre/coffred.conf", "[audit]\nremote = off\n", 21,
					 &c, &d), CF_OK);
	assert_string_equal(c->audit.remote, "");
	config_free(c);
	/* no remote_cert / remote_key: the [tls] identity; a pkcs11: remote_key kept verbatim */
	static const char tlsid[] = "[audit]\nremote = 192.0.2.7:6514\nremote_ca = a\n";
	assert_int_equal(config_load_mem("/etc/coffre/coffred.conf", tlsid, strlen(tlsid), &c, &d),
			 CF_OK);
	assert_string_equal(c->audit.remote_cert, "");
	assert_false(c->audit.remote_key_is_pkcs11);
	config_free(c);
	static const char uri[] = "[audit]\nremote = h:1\nremote_ca = a\nremote_cert = b\n"
				  "remote_key = pkcs11:token=coffre;object=audit\n";
	assert_int_equal(config_load_mem("/etc/coffre/coffred.conf", uri, strlen(uri), &c, &d), CF_OK);
	assert_string_equal(c->audit.remote_key, "pkcs11:token=coffre;object=audit");
	assert_true(c->audit.remote_key_is_pkcs11);
	assert_false(c->tls.key_is_pkcs11);
	config_free(c);
}

/* config_hostport: what `audit remote set` and [audit] remote accept. */
static void t_hostport(void **s)
{
	(void)s;
	char h[CONFIG_REMOTE_MAX + 1];
	uint16_t port = 0;
	assert_true(config_hostport("syslog.example:6514", h, &port));
	assert_string_equal(h, "syslog.example");
	assert_int_equal(port, 6514);
	assert_true(config_hostport("[2001:db8::1]:1", h, &port));
	assert_string_equal(h, "2001:db8::1");
	assert_int_equal(port, 1);
	static const char *const bad[] = { "", "host", "host:", ":6514", "host:0", "host:65536",
					   "host:12x", "2001:db8::1:6514", "[::1]6514", "[::1:6514",
					   "a b:1", "a/b:1", "[]:1" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(config_hostport(bad[i], h, &port));
}

/* config_load_mem: the same result as the file, relative paths against the named directory. */
static void t_load_mem(void **s)
{
	(void)s;
	char path[128], want[256];
	struct config *c = NULL;
	struct config_diag d;
	snprintf(path, sizeof path, "%s/not-written.conf", tmpdir);
	assert_int_equal(config_load_mem(path, full_conf, strlen(full_conf), &c, &d), CF_OK);
	assert_non_null(c);
	assert_string_equal(c->path, path);
	assert_string_equal(c->dir, tmpdir);
	snprintf(want, sizeof want, "%s/data", tmpdir);
	assert_string_equal(c->service.data_dir, want);
	assert_string_equal(c->hsm.pin_file, pinfile);
	assert_int_equal(c->n_clients, 4);
	config_free(c);
	/* empty text: the defaults */
	assert_int_equal(config_load_mem("/etc/coffre/coffred.conf", NULL, 0, &c, &d), CF_OK);
	assert_string_equal(c->service.data_dir, "/etc/coffre/data");
	assert_int_equal(c->kmip.port, CONFIG_DEFAULT_PORT);
	config_free(c);
	/* errors carry the given name and the line */
	assert_int_equal(config_load_mem("/etc/coffre/coffred.conf", "[kmip]\nport = 0\n", 16, &c,
					 &d), CF_E_CONFIG);
	assert_null(c);
	assert_string_equal(d.file, "/etc/coffre/coffred.conf");
	assert_int_equal(d.line, 2);
	/* a relative name, no name, no text */
	c = (struct config *)1;
	assert_int_equal(config_load_mem("coffred.conf", "", 0, &c, &d), CF_E_INVALID_ARG);
	assert_null(c);
	assert_int_equal(config_load_mem(NULL, "", 0, &c, &d), CF_E_INVALID_ARG);
	assert_int_equal(config_load_mem("/c.conf", NULL, 1, &c, &d), CF_E_INVALID_ARG);
	assert_int_equal(config_load_mem("/c.conf", "", 0, NULL, &d), CF_E_INVALID_ARG);
}

/* [service] sandbox and user: an existing user's ids resolved at load; root and unknown users
 * refused with the reason. */
static void t_service_user(void **s)
{
	(void)s;
	char path[128];
	struct config *c = NULL;
	struct config_diag d;
	const struct passwd *pw = getpwuid(65534);

	if (pw != NULL) {
		char text[160];

		snprintf(text, sizeof text, "[service]\nsandbox = off\nuser = %s\n", pw->pw_name);
		write_file("user.conf", text, path, sizeof path);
		assert_int_equal(config_load(path, &c, NULL), CF_OK);
		assert_false(c->service.sandbox);
		assert_string_equal(c->service.user, pw->pw_name);
		assert_int_equal(c->service.uid, 65534);
		assert_int_equal(c->service.gid, pw->pw_gid);
		config_free(c);
	}
	write_file("root.conf", "[service]\nuser = root\n", path, sizeof path);
	memset(&d, 0, sizeof d);
	assert_int_equal(config_load(path, &c, &d), CF_E_CONFIG);
	assert_non_null(strstr(d.msg, "[service] user root: must not be root"));
	write_file("nouser.conf", "[service]\nuser = no-such-user-x\n", path, sizeof path);
	memset(&d, 0, sizeof d);
	assert_int_equal(config_load(path, &c, &d), CF_E_CONFIG);
	assert_non_null(strstr(d.msg, "no such user"));
}

static void t_pin_file_permissions(void **s)
{
	(void)s;
	char path[128], pin[128], link[160];
	struct config *c = NULL;
	struct config_diag d;
	snprintf(pin, sizeof pin, "%s/p.pin", tmpdir);
	int fd = open(pin, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	write_file("pin.conf", "[hsm]\ntoken = t\n\npin_file = p.pin\n", path, sizeof path);
	assert_int_equal(config_load(path, &c, &d), CF_OK);
	config_free(c);
	/* 0400 is fine too */
	assert_int_equal(chmod(pin, 0400), 0);
	assert_int_equal(config_load(path, &c, &d), CF_OK);
	config_free(c);
	/* group- or world-readable, or executable: refused, pointing at the pin_file line */
	static const mode_t bad_modes[] = { 0640, 0604, 0644, 0660, 0700, 0666 };
	for (size_t i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++) {
		assert_int_equal(chmod(pin, bad_modes[i]), 0);
		assert_int_equal(config_load(path, &c, &d), CF_E_PERM_FILE);
		assert_null(c);
		assert_int_equal(d.line, 4);
		assert_non_null(strstr(d.msg, "0600"));
	}
	assert_int_equal(chmod(pin, 0600), 0);
	/* a symlink to a good file is refused (O_NOFOLLOW) */
	snprintf(link, sizeof link, "%s/l.pin", tmpdir);
	assert_int_equal(symlink(pin, link), 0);
	write_file("pinlink.conf", "[hsm]\npin_file = l.pin\n", path, sizeof path);
	assert_int_equal(config_load(path, &c, &d), CF_E_PERM_FILE);
	assert_int_equal(d.line, 2);
	/* a directory is refused */
	write_file("pindir.conf", "[hsm]\npin_file = .\n", path, sizeof path);
	assert_int_equal(config_load(path, &c, &d), CF_E_PERM_FILE);
	/* owned by another user (only testable as root) */
	if (geteuid() == 0) {
		assert_int_equal(chown(pin, 65534, 65534), 0);
		write_file("pin.conf", "[hsm]\npin_file = p.pin\n", path, sizeof path);
		assert_int_equal(config_load(path, &c, &d), CF_E_PERM_FILE);
		assert_int_equal(d.line, 2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_full_file),
		cmocka_unit_test(t_defaults),
		cmocka_unit_test(t_errors_with_line),
		cmocka_unit_test(t_nul_byte),
		cmocka_unit_test(t_load_mem),
		cmocka_unit_test(t_audit_remote),
		cmocka_unit_test(t_hostport),
		cmocka_unit_test(t_pin_file_permissions),
		cmocka_unit_test(t_service_user),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
