/* firmware/net/net.c, tls.c, identity.c: real OpenSSL mutual TLS on 127.0.0.1 (port 0), with
 * certificates made in the test, an echo handler, and a SoftHSMv2 token for the engine key.
 * NET_TEST_VERBOSE=1 prints the server's log lines. */
#define OPENSSL_API_COMPAT 0x10100000L

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "board/log.h"
#include "firmware/net/identity.h"
#include "firmware/net/net.h"
#include "firmware/net/tls.h"
#include "tls_testutil.h"

#define SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"

/* ---- shared PKI (group setup) ------------------------------------------------------ */

struct pki {
	char dir[64];
	char ca[128], srv_ec_crt[128], srv_ec_key[128], srv_rsa_crt[128], srv_rsa_key[128];
	char cli_crt[128], cli_key[128];           /* CA-signed, EC, clientAuth */
	char cli_rsa_crt[128], cli_rsa_key[128];   /* CA-signed, RSA */
	char self_crt[128], self_key[128];         /* self-signed, pinned */
	char self2_crt[128], self2_key[128];       /* self-signed, not pinned */
	char exp_crt[128], exp_key[128];           /* CA-signed, expired */
	char selfexp_crt[128], selfexp_key[128];   /* self-signed, expired, pinned */
	char other_crt[128], other_key[128];       /* signed by another CA */
	char fp_self[65], fp_selfexp[65];
	X509 *ca_x;
	EVP_PKEY *ca_k;
};
static struct pki P;

static atomic_int log_warns, log_infos, log_errs;

static void test_sink(void *arg, enum log_level lvl, const char *line)
{
	(void)arg;
	if (lvl == LOG_LVL_WARN)
		atomic_fetch_add(&log_warns, 1);
	else if (lvl == LOG_LVL_INFO)
		atomic_fetch_add(&log_infos, 1);
	else if (lvl == LOG_LVL_ERR)
		atomic_fetch_add(&log_errs, 1);
	if (getenv("NET_TEST_VERBOSE") != NULL)
		fprintf(stderr, "[log %d] %s\n", (int)lvl, line);
}

static void pth(char *out, const char *name)
{
	snprintf(out, 128, "%s/%s", P.dir, name);
}

static int mk(const char *crt, const char *key, EVP_PKEY *k, const char *cn, X509 *iss,
	      EVP_PKEY *ik, long nb, long na, unsigned flags, char *fp)
{
	X509 *x = tu_cert(k, cn, iss, ik, nb, na, flags);
	if (x == NULL || tu_write_cert(crt, x) != 0 || tu_write_key(key, k) != 0) {
		X509_free(x);
		return -1;
	}
	if (fp != NULL)
		tu_fp_hex(x, fp);
	X509_free(x);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	static const struct log_sink sink = { .fn = test_sink, .level = LOG_LVL_INFO };
	log_set_sink(&sink);
	if (tu_dir_new(P.dir) != 0)
		return -1;
	pth(P.ca, "ca.crt");
	pth(P.srv_ec_crt, "srv_ec.crt"); pth(P.srv_ec_key, "srv_ec.key");
	pth(P.srv_rsa_crt, "srv_rsa.crt"); pth(P.srv_rsa_key, "srv_rsa.key");
	pth(P.cli_crt, "cli.crt"); pth(P.cli_key, "cli.key");
	pth(P.cli_rsa_crt, "cli_rsa.crt"); pth(P.cli_rsa_key, "cli_rsa.key");
	pth(P.self_crt, "self.crt"); pth(P.self_key, "self.key");
	pth(P.self2_crt, "self2.crt"); pth(P.self2_key, "self2.key");
	pth(P.exp_crt, "exp.crt"); pth(P.exp_key, "exp.key");
	pth(P.selfexp_crt, "selfexp.crt"); pth(P.selfexp_key, "selfexp.key");
	pth(P.other_crt, "other.crt"); pth(P.other_key, "other.key");

	const long day = 86400;
	P.ca_k = tu_key_ec();
	P.ca_x = tu_cert(P.ca_k, "Coffre Test CA", NULL, NULL, -day, 365 * day, TU_CA);
	if (P.ca_x == NULL || tu_write_cert(P.ca, P.ca_x) != 0)
		return -1;
	EVP_PKEY *ok = tu_key_ec(), *ork = tu_key_ec();
	X509 *ox = tu_cert(ork, "Other CA", NULL, NULL, -day, 365 * day, TU_CA);
	EVP_PKEY *k[9];
	for (int i = 0; i < 9; i++)
		k[i] = i == 1 || i == 3 ? tu_key_rsa(2048) : tu_key_ec();
	int rc = 0;
	rc |= mk(P.srv_ec_crt, P.srv_ec_key, k[0], "kmip.test", P.ca_x, P.ca_k, -day, 30 * day,
		 TU_SERVER | TU_CLIENT, NULL);
	rc |= mk(P.srv_rsa_crt, P.srv_rsa_key, k[1], "kmip-rsa.test", P.ca_x, P.ca_k, -day,
		 30 * day, TU_SERVER | TU_CLIENT, NULL);
	rc |= mk(P.cli_crt, P.cli_key, k[2], "vcenter-a", P.ca_x, P.ca_k, -day, 30 * day,
		 TU_CLIENT | TU_SERVER, NULL);
	rc |= mk(P.cli_rsa_crt, P.cli_rsa_key, k[3], "vcenter-rsa", P.ca_x, P.ca_k, -day, 30 * day,
		 TU_CLIENT, NULL);
	rc |= mk(P.self_crt, P.self_key, k[4], "kmipClient20161127094708", NULL, NULL, -day,
		 30 * day, 0, P.fp_self);
	rc |= mk(P.self2_crt, P.self2_key, k[5], "not pinned", NULL, NULL, -day, 30 * day, 0, NULL);
	rc |= mk(P.exp_crt, P.exp_key, k[6], "expired", P.ca_x, P.ca_k, -30 * day, -day, TU_CLIENT,
		 NULL);
	rc |= mk(P.selfexp_crt, P.selfexp_key, k[7], "expired pinned", NULL, NULL, -30 * day, -day,
		 0, P.fp_selfexp);
	rc |= mk(P.other_crt, P.other_key, k[8], "vcenter-a", ox, ork, -day, 30 * day, TU_CLIENT,
		 NULL);
	for (int i = 0; i < 9; i++)
		EVP_PKEY_free(k[i]);
	EVP_PKEY_free(ok);
	EVP_PKEY_free(ork);
	X509_free(ox);
	return rc == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	X509_free(P.ca_x);
	EVP_PKEY_free(P.ca_k);
	tu_dir_rm(P.dir);
	log_set_sink(NULL);
	return 0;
}

/* ---- echo server fixture ----------------------------------------------------------- */

struct echo {
	atomic_int calls, bad_frames, wnew, wfree, bad_worker_arg;
	int fail_worker;            /* worker_new fails for this index (-1 = none) */
	pthread_mutex_t mu;
	char last_cn[IDENTITY_CN_MAX + 1];
	char last_fp[65];
	char last_peer[NET_PEER_MAX];
	bool last_chain_ok;
};

struct wstate {
	unsigned idx;
	struct echo *e;
};

static void *echo_worker_new(void *arg, unsigned worker)
{
	struct echo *e = arg;
	if ((int)worker == e->fail_worker)
		return NULL;
	struct wstate *w = calloc(1, sizeof *w);
	if (w == NULL)
		return NULL;
	w->idx = worker;
	w->e = e;
	atomic_fetch_add(&e->wnew, 1);
	return w;
}

static void echo_worker_free(void *warg)
{
	struct wstate *w = warg;
	atomic_fetch_add(&w->e->wfree, 1);
	free(w);
}

static cf_err echo_handle(void *arg, struct net_conn_info *ci, const uint8_t *req, size_t n,
			  uint8_t *resp, size_t cap, size_t *resp_len)
{
	struct wstate *w = arg;
	struct echo *e = w->e;
	if (w->idx != ci->worker)
		atomic_fetch_add(&e->bad_worker_arg, 1);
	atomic_fetch_add(&e->calls, 1);
	pthread_mutex_lock(&e->mu);
	snprintf(e->last_cn, sizeof e->last_cn, "%s", ci->id->cn);
	snprintf(e->last_fp, sizeof e->last_fp, "%s", ci->id->fp_hex);
	snprintf(e->last_peer, sizeof e->last_peer, "%s", ci->peer);
	e->last_chain_ok = ci->id->chain_ok;
	pthread_mutex_unlock(&e->mu);
	if (n > cap)
		return CF_E_NO_SPACE;
	memcpy(resp, req, n);
	*resp_len = n;
	return CF_OK;
}

static const uint8_t bad_frame_resp[16] = { 0x42, 0x00, 0x7B, 0x01, 0, 0, 0, 8,
					    'B', 'A', 'D', 'F', 'R', 'A', 'M', 'E' };

static cf_err echo_bad_frame(void *arg, struct net_conn_info *ci, cf_err why,
			     const uint8_t hdr[8], uint8_t *resp, size_t cap, size_t *resp_len)
{
	struct wstate *w = arg;
	atomic_fetch_add(&w->e->bad_frames, 1);
	memcpy(resp, bad_frame_resp, sizeof bad_frame_resp);
	*resp_len = sizeof bad_frame_resp;
	return CF_OK;
}

struct srv {
	struct tls_ctx *tls;
	struct net_server *ns;
	uint16_t port;
	struct echo e;
	unsigned workers;
};

static struct net_config default_ncfg(void)
{
	return (struct net_config){ .address = "127.0.0.1", .port = 0, .workers = 4,
				    .handshake_timeout_ms = 1000, .read_timeout_ms = 1000,
				    .idle_timeout_ms = 5000 };
}

static void srv_start_ctx(struct srv *s, struct tls_ctx *tls, const struct net_config *nc,
			  bool bad_frame_cb)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->e.mu, NULL);
	s->e.fail_worker = -1;
	s->tls = tls;
	struct net_handler h = { .handle = echo_handle,
				 .on_bad_frame = bad_frame_cb ? echo_bad_frame : NULL,
				 .worker_new = echo_worker_new,
				 .worker_free = echo_worker_free,
				 .arg = &s->e };
	struct net_config d = default_ncfg();
	if (nc == NULL)
		nc = &d;
	s->workers = nc->workers;
	assert_int_equal(net_server_new(nc, s->tls, &h, &s->ns), CF_OK);
	s->port = net_server_port(s->ns);
	assert_true(s->port != 0);
	assert_int_equal(net_server_start(s->ns), CF_OK);
}

static const char *const pins_default[] = { P.fp_self, P.fp_selfexp };

static struct tls_ctx *tls_new_files(const char *crt, const char *key)
{
	struct tls_config tc = { .cert_file = crt, .key_file = key, .ca_file = P.ca,
				 .pinned = pins_default, .n_pinned = 2 };
	struct tls_ctx *t = NULL;
	assert_int_equal(tls_ctx_new(&tc, &t), CF_OK);
	return t;
}

static void srv_start(struct srv *s, const char *crt, const char *key,
		      const struct net_config *nc, bool bad_frame_cb)
{
	srv_start_ctx(s, tls_new_files(crt, key), nc, bad_frame_cb);
}

static void srv_stop(struct srv *s)
{
	net_server_free(s->ns);
	assert_int_equal(atomic_load(&s->e.wfree), atomic_load(&s->e.wnew));
	assert_int_equal(atomic_load(&s->e.bad_worker_arg), 0);
	tls_ctx_free(s->tls);
	pthread_mutex_destroy(&s->e.mu);
}

static struct net_stats stats(struct srv *s)
{
	struct net_stats st;
	net_server_stats(s->ns, &st);
	return st;
}

/* wait until the server has no open connection (or ms pass) */
static bool wait_open_zero(struct srv *s, unsigned ms)
{
	uint64_t end = tu_now_ms() + ms;
	while (tu_now_ms() < end) {
		if (stats(s).open == 0)
			return true;
		usleep(10000);
	}
	return stats(s).open == 0;
}

static bool wait_failed(struct srv *s, uint64_t want, unsigned ms)
{
	uint64_t end = tu_now_ms() + ms;
	while (tu_now_ms() < end) {
		if (stats(s).handshakes_failed >= want)
			return true;
		usleep(5000);
	}
	return false;
}

/* Refused: the handshake fails, or (TLS 1.3, where the server checks the client certificate
 * after the client's Finished) the first round trip fails. */
static bool refused(SSL_CTX *c, uint16_t port)
{
	SSL *s = tu_tls_connect(c, port);
	if (s == NULL)
		return true;
	bool r = tu_roundtrip(s, 16, 1) != 0;
	tu_tls_close(s);
	return r;
}

static void client_ok(uint16_t port, const char *crt, const char *key, int minv, int maxv,
		      const char *ciphers, const char *want_version)
{
	SSL_CTX *c = tu_client_ctx(crt, key, minv, maxv, ciphers, P.ca);
	assert_non_null(c);
	SSL *s = tu_tls_connect(c, port);
	assert_non_null(s);
	if (want_version != NULL)
		assert_string_equal(SSL_get_version(s), want_version);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(tu_roundtrip(s, 8 * (i * 50 + 1), i), 0);
	tu_tls_close(s);
	SSL_CTX_free(c);
}

/* ---- tests: TLS and identity ------------------------------------------------------- */

static void test_mtls_ec_server(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, P.srv_ec_crt, P.srv_ec_key, NULL, false);
	client_ok(s.port, P.cli_crt, P.cli_key, 0, 0, NULL, "TLSv1.3");
	assert_string_equal(s.e.last_cn, "vcenter-a");
	assert_true(s.e.last_chain_ok);
	assert_true(strncmp(s.e.last_peer, "127.0.0.1:", 10) == 0);
	/* TLS 1.2 with each default ECDSA suite, and an RSA client certificate */
	client_ok(s.port, P.cli_crt, P.cli_key, TLS1_2_VERSION, TLS1_2_VERSION,
		  "ECDHE-ECDSA-AES256-GCM-SHA384", "TLSv1.2");
	client_ok(s.port, P.cli_crt, P.cli_key, TLS1_2_VERSION, TLS1_2_VERSION,
		  "ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.2");
	client_ok(s.port, P.cli_rsa_crt, P.cli_rsa_key, 0, 0, NULL, "TLSv1.3");
	assert_string_equal(s.e.last_cn, "vcenter-rsa");
	assert_int_equal(s.e.calls, 12);
	/* a suite outside the default list (RSA key exchange, CBC) is refused */
	SSL_CTX *c = tu_client_ctx(P.cli_crt, P.cli_key, TLS1_2_VERSION, TLS1_2_VERSION,
				   "AES128-SHA256", NULL);
	assert_non_null(c);
	assert_true(refused(c, s.port));
	SSL_CTX_free(c);
	srv_stop(&s);
}

static void test_mtls_rsa_server(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, P.srv_rsa_crt, P.srv_rsa_key, NULL, false);
	client_ok(s.port, P.cli_crt, P.cli_key, 0, 0, NULL, "TLSv1.3");
	client_ok(s.port, P.cli_crt, P.cli_key, TLS1_2_VERSION, TLS1_2_VERSION,
		  "ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2");
	client_ok(s.port, P.cli_crt, P.cli_key, TLS1_2_VERSION, TLS1_2_VERSION,
		  "ECDHE-RSA-AES256-GCM-SHA384", "TLSv1.2");
	assert_int_equal(s.e.calls, 9);
	srv_stop(&s);
}

static void test_pinned_self_signed(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, P.srv_ec_crt, P.srv_ec_key, NULL, false);
	client_ok(s.port, P.self_crt, P.self_key, 0, 0, NULL, NULL);
	assert_string_equal(s.e.last_cn, "kmipClient20161127094708");
	assert_false(s.e.last_chain_ok);
	assert_string_equal(s.e.last_fp, P.fp_self);
	client_ok(s.port, P.self_crt, P.self_key, TLS1_2_VERSION, TLS1_2_VERSION, NULL, "TLSv1.2");
	/* the same kind of certificate, not pinned */
	uint64_t f0 = stats(&s).handshakes_failed;
	for (int v = 0; v < 2; v++) {
		int ver = v == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
		SSL_CTX *c = tu_client_ctx(P.self2_crt, P.self2_key, ver, ver, NULL, P.ca);
		assert_true(refused(c, s.port));
		SSL_CTX_free(c);
	}
	assert_true(wait_failed(&s, f0 + 2, 2000));
	assert_int_equal(s.e.calls, 6);
	srv_stop(&s);
}

static void test_refused_clients(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, P.srv_ec_crt, P.srv_ec_key, NULL, false);
	struct {
		const char *crt, *key;
	} bad[] = {
		{ NULL, NULL },                     /* no client certificate */
		{ P.other_crt, P.other_key },       /* another CA, same subject */
		{ P.exp_crt, P.exp_key },           /* CA-signed, expired */
		{ P.selfexp_crt, P.selfexp_key },   /* pinned, expired: refused too */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		for (int v = 0; v < 2; v++) {
			int ver = v == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
			uint64_t f0 = stats(&s).handshakes_failed;
			int w0 = atomic_load(&log_warns);
			SSL_CTX *c = tu_client_ctx(bad[i].crt, bad[i].key, ver, ver, NULL, P.ca);
			assert_non_null(c);
			assert_true(refused(c, s.port));
			SSL_CTX_free(c);
			assert_true(wait_failed(&s, f0 + 1, 2000));
			assert_true(wait_open_zero(&s, 2000));
			/* logged once, at warn */
			assert_int_equal(atomic_load(&log_warns) - w0, 1);
		}
	}
	/* TLS 1.0 and 1.1 */
	for (int ver = TLS1_VERSION; ver <= TLS1_1_VERSION; ver++) {
		SSL_CTX *c = tu_client_ctx(P.cli_crt, P.cli_key, ver, ver, NULL, NULL);
		assert_non_null(c);
		assert_null(tu_tls_connect(c, s.port));
		SSL_CTX_free(c);
	}
	assert_int_equal(s.e.calls, 0);
	/* the server keeps serving */
	client_ok(s.port, P.cli_crt, P.cli_key, 0, 0, NULL, NULL);
	assert_int_equal(s.e.calls, 3);
	srv_stop(&s);
}

static void test_tls_config_errors(void **state)
{
	(void)state;
	struct tls_ctx *t = NULL;
	const char *const bad_pin[] = { "sha256:12:34" };
	struct tls_config base = { .cert_file = P.srv_ec_crt, .key_file = P.srv_ec_key,
				   .ca_file = P.ca };
	struct tls_config c = base;
	c.min_version = 0x0302; /* TLS 1.1 */
	assert_int_equal(tls_ctx_new(&c, &t), CF_E_CONFIG);
	assert_null(t);
	c = base;
	c.ca_file = NULL;
	assert_int_equal(tls_ctx_new(&c, &t), CF_E_CONFIG);
	c = base;
	c.pinned = bad_pin;
	c.n_pinned = 1;
	assert_int_equal(tls_ctx_new(&c, &t), CF_E_CONFIG);
	c = base;
	c.key_file = P.srv_rsa_key; /* does not match the certificate */
	assert_int_equal(tls_ctx_new(&c, &t), CF_E_CONFIG);
	c = base;
	c.cert_file = "/nonexistent/cert.pem";
	assert_int_equal(tls_ctx_new(&c, &t), CF_E_IO);
	c = base;
	c.ciphers = "NO-SUCH-CIPHER";
	assert_int_equal(tls_ctx_new(&c, &t), CF_E_CONFIG);
	c = base;
	c.key_uri = "file:/x";
	c.key_file = NULL;
	assert_int_equal(tls_ctx_new(&c, &t), CF_E_CONFIG);
	c = base;
	c.min_version = TLS_V1_3;
	assert_int_equal(tls_ctx_new(&c, &t), CF_OK);
	tls_ctx_free(t);
	/* pins only, no CA */
	const char *const pins[] = { P.fp_self };
	c = base;
	c.ca_file = NULL;
	c.pinned = pins;
	c.n_pinned = 1;
	t = NULL;
	assert_int_equal(tls_ctx_new(&c, &t), CF_OK);
	tls_ctx_free(t);
	tls_ctx_free(NULL);
}

static void test_fp_parse(void **state)
{
	(void)state;
	uint8_t fp[TLS_FP_LEN];
	char colon[200] = "SHA256:";
	for (int i = 0; i < 32; i++)
		snprintf(colon + strlen(colon), sizeof colon - strlen(colon), "%s%02X", i ? ":" : "",
			 i * 7);
	assert_int_equal(tls_fp_parse(colon, fp), CF_OK);
	for (int i = 0; i < 32; i++)
		assert_int_equal(fp[i], (uint8_t)(i * 7));
	assert_int_equal(tls_fp_parse(P.fp_self, fp), CF_OK);
	assert_int_equal(tls_fp_parse("", fp), CF_E_BAD_HEX);
	assert_int_equal(tls_fp_parse("abc", fp), CF_E_BAD_HEX);
	char longer[80];
	snprintf(longer, sizeof longer, "%s00", P.fp_self);
	assert_int_equal(tls_fp_parse(longer, fp), CF_E_BAD_HEX);
	char bad[65];
	memcpy(bad, P.fp_self, 65);
	bad[10] = 'g';
	assert_int_equal(tls_fp_parse(bad, fp), CF_E_BAD_HEX);
}

static void test_identity(void **state)
{
	(void)state;
	EVP_PKEY *k = tu_key_ec();
	X509 *x = tu_cert(k, "vc;1,x+y", P.ca_x, P.ca_k, -100, 86400, TU_CLIENT);
	assert_non_null(x);
	struct identity id;
	assert_int_equal(identity_from_cert(x, true, &id), CF_OK);
	assert_string_equal(id.cn, "vc;1,x+y");
	assert_string_equal(id.subject, "CN=vc\\;1\\,x\\+y,O=Coffre Test");
	assert_string_equal(id.issuer, "CN=Coffre Test CA,O=Coffre Test");
	char fp[65];
	tu_fp_hex(x, fp);
	assert_string_equal(id.fp_hex, fp);

	char rule[2400];
	snprintf(rule, sizeof rule, "subject:%s;issuer:%s", id.subject, id.issuer);
	assert_true(identity_match(&id, rule));
	snprintf(rule, sizeof rule, "issuer:%s;subject:%s", id.issuer, id.subject);
	assert_true(identity_match(&id, rule));
	snprintf(rule, sizeof rule, "subject:%s", id.subject);
	assert_true(identity_match(&id, rule));
	snprintf(rule, sizeof rule, "subject:CN=vc\\;1,O=Coffre Test;issuer:%s", id.issuer);
	assert_false(identity_match(&id, rule));
	snprintf(rule, sizeof rule, "subject:%s;subject:%s", id.subject, id.subject);
	assert_false(identity_match(&id, rule)); /* repeated part: malformed */
	assert_false(identity_match(&id, "subject:"));
	assert_false(identity_match(&id, ""));
	assert_false(identity_match(&id, "cn:vc"));
	/* fingerprint rules: any case, colons, prefix */
	char up[200] = "SHA256:";
	for (int i = 0; i < 32; i++)
		snprintf(up + strlen(up), sizeof up - strlen(up), "%s%02X", i ? ":" : "", id.fp[i]);
	assert_true(identity_match(&id, up));
	snprintf(rule, sizeof rule, "sha256:%s", P.fp_self);
	assert_false(identity_match(&id, rule));
	/* a certificate accepted only because it is pinned is never matched by DN */
	id.chain_ok = false;
	snprintf(rule, sizeof rule, "subject:%s;issuer:%s", id.subject, id.issuer);
	assert_false(identity_match(&id, rule));
	assert_true(identity_match(&id, up));
	assert_int_equal(identity_from_cert(NULL, true, &id), CF_E_INVALID_ARG);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* ---- tests: the connection state machine ------------------------------------------- */

static void test_stalled_handshakes(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, P.srv_ec_crt, P.srv_ec_key, NULL, false);
	enum { N = 50 };
	int fds[N];
	uint64_t t_conn = tu_now_ms();
	for (int i = 0; i < N; i++) {
		fds[i] = tu_tcp_connect(s.port);
		assert_true(fds[i] >= 0);
	}
	/* one that sent half a ClientHello, too */
	int half = tu_tcp_connect(s.port);
	assert_true(half >= 0);
	assert_int_equal(send(half, "\x16\x03\x01\x02\x00\x01", 6, 0), 6);

	SSL_CTX *c = tu_client_ctx(P.cli_crt, P.cli_key, 0, 0, NULL, P.ca);
	uint64_t t0 = tu_now_ms();
	SSL *cl = tu_tls_connect(c, s.port);
	assert_non_null(cl);
	assert_int_equal(tu_roundtrip(cl, 64, 7), 0);
	uint64_t dt = tu_now_ms() - t0;
	assert_true(dt < 1000);
	/* all stalled connections closed after the handshake timeout (1 s), not before */
	for (int i = 0; i < N; i++) {
		assert_true(tu_wait_closed(fds[i], 2500));
		if (i == 0)
			assert_true(tu_now_ms() - t_conn >= 900);
		close(fds[i]);
	}
	assert_true(tu_wait_closed(half, 1500));
	close(half);
	/* the established client (idle timeout 5 s) is still served */
	assert_int_equal(tu_roundtrip(cl, 64, 8), 0);
	assert_true(stats(&s).timeouts >= N + 1);
	tu_tls_close(cl);
	SSL_CTX_free(c);
	assert_true(wait_open_zero(&s, 2000));
	srv_stop(&s);
}

static void test_half_message(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, P.srv_ec_crt, P.srv_ec_key, NULL, false);
	SSL_CTX *c = tu_client_ctx(P.cli_crt, P.cli_key, 0, 0, NULL, P.ca);
	uint8_t m[8 + 64];
	tu_msg(m, 64, 3);
	/* A: header + part of the body; B: 4 bytes of a header */
	SSL *a = tu_tls_connect(c, s.port);
	SSL *b = tu_tls_connect(c, s.port);
	assert_non_null(a);
	assert_non_null(b);
	uint64_t t0 = tu_now_ms();
	assert_int_equal(tu_ssl_write_all(a, m, 8 + 20), 0);
	assert_int_equal(tu_ssl_write_all(b, m, 4), 0);
	/* others are served meanwhile */
	SSL *o = tu_tls_connect(c, s.port);
	assert_non_null(o);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(tu_roundtrip(o, 8 * i, i), 0);
	assert_true(tu_now_ms() - t0 < 900);
	/* both closed after the read timeout (1 s) */
	assert_true(tu_wait_closed(SSL_get_fd(a), 2500));
	assert_true(tu_wait_closed(SSL_get_fd(b), 2500));
	assert_true(tu_now_ms() - t0 >= 900);
	assert_int_equal(s.e.calls, 10);
	assert_true(stats(&s).timeouts >= 2);
	assert_int_equal(tu_roundtrip(o, 8, 99), 0);
	tu_tls_close(a);
	tu_tls_close(b);
	tu_tls_close(o);
	SSL_CTX_free(c);
	srv_stop(&s);
}

static void test_oversize_header(void **state)
{
	(void)state;
	for (int cb = 0; cb < 2; cb++) {
		struct srv s;
		srv_start(&s, P.srv_ec_crt, P.srv_ec_key, NULL, cb == 1);
		SSL_CTX *c = tu_client_ctx(P.cli_crt, P.cli_key, 0, 0, NULL, P.ca);
		static const uint8_t hdrs[][8] = {
			{ 0x42, 0x00, 0x78, 0x01, 0x80, 0x00, 0x00, 0x00 }, /* 2 GiB */
			{ 0x42, 0x00, 0x78, 0x01, 0xFF, 0xFF, 0xFF, 0xF8 }, /* 4 GiB - 8 */
			{ 0x42, 0x00, 0x78, 0x01, 0x00, 0x10, 0x00, 0x00 }, /* 1 MiB + 8 total */
			{ 0x42, 0x00, 0x7B, 0x01, 0x00, 0x00, 0x00, 0x08 }, /* a response tag */
			{ 0x42, 0x00, 0x78, 0x02, 0x00, 0x00, 0x00, 0x08 }, /* not a Structure */
			{ 0x42, 0x00, 0x78, 0x01, 0x00, 0x00, 0x00, 0x09 }, /* not a multiple of 8 */
		};
		for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
			SSL *a = tu_tls_connect(c, s.port);
			assert_non_null(a);
			assert_int_equal(tu_ssl_write_all(a, hdrs[i], 8), 0);
			if (cb == 1) {
				uint8_t r[16];
				assert_int_equal(tu_ssl_read_all(a, r, sizeof r), 0);
				assert_memory_equal(r, bad_frame_resp, sizeof r);
			}
			uint8_t x;
			size_t got = 0;
			assert_int_equal(SSL_read_ex(a, &x, 1, &got), 0); /* then closed */
			ERR_clear_error();
			tu_tls_close(a);
		}
		struct net_stats st = stats(&s);
		assert_int_equal(st.bad_frames, 6);
		assert_int_equal(s.e.calls, 0);
		assert_int_equal(s.e.bad_frames, cb == 1 ? 6 : 0);
		assert_int_equal(st.max_req_alloc, 0); /* nothing was allocated for any of them */
		/* the largest allowed message goes through */
		SSL *ok = tu_tls_connect(c, s.port);
		assert_int_equal(tu_roundtrip(ok, (1u << 20) - 8, 5), 0);
		assert_int_equal(stats(&s).max_req_alloc, 1u << 20);
		tu_tls_close(ok);
		SSL_CTX_free(c);
		srv_stop(&s);
	}
}

static void test_probe_connections(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, P.srv_ec_crt, P.srv_ec_key, NULL, false);
	SSL_CTX *c = tu_client_ctx(P.cli_crt, P.cli_key, 0, 0, NULL, P.ca);
	SSL_CTX *c12 = tu_client_ctx(P.cli_crt, P.cli_key, TLS1_2_VERSION, TLS1_2_VERSION, NULL,
				     P.ca);
	int w0 = atomic_load(&log_warns), e0 = atomic_load(&log_errs);
	for (int i = 0; i < 6; i++) {
		SSL *p = tu_tls_connect(i & 1 ? c12 : c, s.port);
		assert_non_null(p);
		if (i < 4) {
			tu_tls_close(p); /* close_notify, then close */
		} else {
			close(SSL_get_fd(p)); /* abrupt close, no close_notify */
			SSL_free(p);
		}
	}
	assert_true(wait_open_zero(&s, 2000));
	struct net_stats st = stats(&s);
	assert_int_equal(st.handshakes_ok, 6);
	assert_int_equal(st.handshakes_failed, 0);
	assert_int_equal(s.e.calls, 0);
	/* normal: info lines only, one per probe */
	assert_int_equal(atomic_load(&log_errs) - e0, 0);
	assert_int_equal(atomic_load(&log_warns) - w0, 0);
	/* a plain TCP connect-and-close (port check): a failed handshake, logged at info */
	int fd = tu_tcp_connect(s.port);
	assert_true(fd >= 0);
	close(fd);
	assert_true(wait_failed(&s, 1, 2000));
	assert_true(wait_open_zero(&s, 2000));
	assert_int_equal(atomic_load(&log_warns) - w0, 0);
	client_ok(s.port, P.cli_crt, P.cli_key, 0, 0, NULL, NULL);
	SSL_CTX_free(c);
	SSL_CTX_free(c12);
	srv_stop(&s);
}

/* ---- tests: session resumption (docs/tls.md "Session resumption") ----------------------- */

static struct tls_ctx *tls_new_lifetime(unsigned lifetime_s)
{
	struct tls_config tc = { .cert_file = P.srv_ec_crt, .key_file = P.srv_ec_key,
				 .ca_file = P.ca, .pinned = pins_default, .n_pinned = 2,
				 .ticket_lifetime_s = lifetime_s };
	struct tls_ctx *t = NULL;
	assert_int_equal(tls_ctx_new(&tc, &t), CF_OK);
	return t;
}

struct seen {
	char cn[IDENTITY_CN_MAX + 1];
	char fp[65];
	bool chain_ok;
};

static struct seen seen_last(struct srv *s)
{
	struct seen r;
	pthread_mutex_lock(&s->e.mu);
	snprintf(r.cn, sizeof r.cn, "%s", s->e.last_cn);
	snprintf(r.fp, sizeof r.fp, "%s", s->e.last_fp);
	r.chain_ok = s->e.last_chain_ok;
	pthread_mutex_unlock(&s->e.mu);
	return r;
}

/* Connect (offering sess when non-NULL), one round trip, report reuse and the identity the
 * handler saw; *out (when non-NULL) receives the client's session for a later resumption.
 * Returns false when the connection or the round trip failed. */
static bool resume_conn(struct srv *s, SSL_CTX *c, SSL_SESSION *sess, bool *reused,
			struct seen *who, SSL_SESSION **out)
{
	int calls0 = atomic_load(&s->e.calls);
	SSL *ssl = tu_tls_connect_sess(c, s->port, sess);
	if (ssl == NULL)
		return false;
	*reused = SSL_session_reused(ssl) == 1;
	bool ok = tu_roundtrip(ssl, 16, 7) == 0 && atomic_load(&s->e.calls) == calls0 + 1;
	if (ok && who != NULL)
		*who = seen_last(s);
	if (ok && out != NULL) {
		/* TLS 1.3: the ticket came after the handshake and was read by the round trip */
		*out = SSL_get1_session(ssl);
		ok = *out != NULL && SSL_SESSION_is_resumable(*out) == 1;
	}
	tu_tls_close(ssl);
	return ok;
}

static void resume_same_identity(struct srv *s, const char *crt, const char *key, int v,
				 const char *want_cn, bool want_chain_ok)
{
	SSL_CTX *c = tu_client_ctx(crt, key, v, v, NULL, P.ca);
	assert_non_null(c);
	SSL_SESSION *sess = NULL, *sess2 = NULL;
	bool reused = true;
	struct seen a, b;
	assert_true(resume_conn(s, c, NULL, &reused, &a, &sess));
	assert_false(reused);
	assert_string_equal(a.cn, want_cn);
	assert_true(a.chain_ok == want_chain_ok);
	/* resumed: same fingerprint, name and verification outcome, no certificate sent */
	assert_true(resume_conn(s, c, sess, &reused, &b, &sess2));
	assert_true(reused);
	assert_string_equal(b.fp, a.fp);
	assert_string_equal(b.cn, a.cn);
	assert_true(b.chain_ok == a.chain_ok);
	/* the ticket issued on resumption resumes too, still as the same identity */
	memset(&b, 0, sizeof b);
	assert_true(resume_conn(s, c, sess2, &reused, &b, NULL));
	assert_true(reused);
	assert_string_equal(b.fp, a.fp);
	SSL_SESSION_free(sess);
	SSL_SESSION_free(sess2);
	SSL_CTX_free(c);
}

static void test_session_resumption(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, P.srv_ec_crt, P.srv_ec_key, NULL, false);
	resume_same_identity(&s, P.cli_crt, P.cli_key, TLS1_3_VERSION, "vcenter-a", true);
	resume_same_identity(&s, P.cli_crt, P.cli_key, TLS1_2_VERSION, "vcenter-a", true);
	resume_same_identity(&s, P.self_crt, P.self_key, TLS1_3_VERSION,
			     "kmipClient20161127094708", false);
	resume_same_identity(&s, P.cli_rsa_crt, P.cli_rsa_key, TLS1_2_VERSION, "vcenter-rsa",
			     true);
	struct net_stats st = stats(&s);
	assert_int_equal(st.handshakes_failed, 0);
	assert_int_equal(st.handshakes_ok, 12);
	srv_stop(&s);
}

static void test_session_resumption_refused(void **state)
{
	(void)state;
	struct srv s, s2;
	srv_start_ctx(&s, tls_new_lifetime(2), NULL, false);
	SSL_CTX *ca = tu_client_ctx(P.cli_crt, P.cli_key, TLS1_3_VERSION, TLS1_3_VERSION, NULL,
				    P.ca);
	SSL_CTX *ca12 = tu_client_ctx(P.cli_crt, P.cli_key, TLS1_2_VERSION, TLS1_2_VERSION, NULL,
				      P.ca);
	SSL_CTX *anon = tu_client_ctx(NULL, NULL, TLS1_3_VERSION, TLS1_3_VERSION, NULL, P.ca);
	assert_non_null(ca);
	assert_non_null(ca12);
	assert_non_null(anon);
	bool reused = true;
	struct seen a, b;
	SSL_SESSION *sess = NULL, *sess12 = NULL;
	assert_true(resume_conn(&s, ca, NULL, &reused, &a, &sess));
	assert_false(reused);
	assert_true(resume_conn(&s, ca12, NULL, &reused, NULL, &sess12));
	assert_false(reused);

	/* the ticket without its resumption secret (a stolen ticket): the PSK binder fails, the
	 * handshake fails; it never falls back to anything that would run the handler */
	SSL_SESSION *forged = SSL_SESSION_dup(sess);
	assert_non_null(forged);
	unsigned char junk[48];
	memset(junk, 0x5a, sizeof junk);
	assert_int_equal(SSL_SESSION_set1_master_key(forged, junk, SSL_SESSION_get_master_key(
								   sess, NULL, 0)), 1);
	int calls0 = atomic_load(&s.e.calls);
	SSL *x = tu_tls_connect_sess(anon, s.port, forged);
	if (x != NULL) {
		assert_int_not_equal(tu_roundtrip(x, 16, 3), 0);
		tu_tls_close(x);
	}
	assert_int_equal(atomic_load(&s.e.calls), calls0);
	SSL_SESSION_free(forged);

	/* a resumption within the lifetime gets a renewed ticket, which keeps the time of the
	 * full handshake: it does not extend the identity's life */
	SSL_SESSION *renewed = NULL;
	usleep(1100 * 1000);
	memset(&b, 0, sizeof b);
	assert_true(resume_conn(&s, ca, sess, &reused, &b, &renewed));
	assert_true(reused);
	assert_string_equal(b.fp, a.fp);
	/* older than the lifetime (counted from the full handshake): a full handshake. The
	 * lifetime hint (and OpenSSL's own session timeout) stay at the 300 s ceiling, so the
	 * client offers the ticket and the server's stamp check is what refuses it. */
	usleep(2200 * 1000);
	memset(&b, 0, sizeof b);
	assert_true(resume_conn(&s, ca, renewed, &reused, &b, NULL));
	assert_false(reused);
	assert_string_equal(b.fp, a.fp);
	SSL_SESSION_free(renewed);
	memset(&b, 0, sizeof b);
	assert_true(resume_conn(&s, ca, sess, &reused, &b, NULL));
	assert_false(reused);
	assert_string_equal(b.fp, a.fp);
	assert_true(resume_conn(&s, ca12, sess12, &reused, NULL, NULL));
	assert_false(reused);
	/* ... which needs a certificate: the expired ticket gets a client without one nowhere */
	calls0 = atomic_load(&s.e.calls);
	x = tu_tls_connect_sess(anon, s.port, sess);
	if (x != NULL) {
		assert_false(SSL_session_reused(x));
		assert_int_not_equal(tu_roundtrip(x, 16, 4), 0);
		tu_tls_close(x);
	}
	assert_int_equal(atomic_load(&s.e.calls), calls0);
	SSL_SESSION_free(sess);
	SSL_SESSION_free(sess12);

	/* a ticket from another server context (another process: another ticket key) is not
	 * decrypted: a full handshake, which a client without a certificate cannot complete */
	assert_true(resume_conn(&s, ca, NULL, &reused, NULL, &sess));
	srv_start(&s2, P.srv_ec_crt, P.srv_ec_key, NULL, false);
	assert_true(resume_conn(&s2, ca, sess, &reused, &b, NULL));
	assert_false(reused);
	assert_string_equal(b.fp, a.fp);
	x = tu_tls_connect_sess(anon, s2.port, sess);
	if (x != NULL) {
		assert_false(SSL_session_reused(x));
		assert_int_not_equal(tu_roundtrip(x, 16, 5), 0);
		tu_tls_close(x);
	}
	assert_int_equal(atomic_load(&s2.e.calls), 1);
	SSL_SESSION_free(sess);
	srv_stop(&s2);

	/* lifetime above the 300 s ceiling: refused */
	struct tls_config tc = { .cert_file = P.srv_ec_crt, .key_file = P.srv_ec_key,
				 .ca_file = P.ca, .ticket_lifetime_s = TLS_TICKET_LIFETIME_MAX_S + 1 };
	struct tls_ctx *t = NULL;
	assert_int_equal(tls_ctx_new(&tc, &t), CF_E_CONFIG);
	assert_null(t);
	SSL_CTX_free(ca);
	SSL_CTX_free(ca12);
	SSL_CTX_free(anon);
	srv_stop(&s);
}

/* TLS 1.3 probes that close without reading the session ticket: the client's kernel answers
 * the ticket with a RST; that is a probe, logged at info, never a warning. */
static void test_probe_unread_ticket(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, P.srv_ec_crt, P.srv_ec_key, NULL, false);
	SSL_CTX *c = tu_client_ctx(P.cli_crt, P.cli_key, TLS1_3_VERSION, TLS1_3_VERSION, NULL,
				   P.ca);
	assert_non_null(c);
	int w0 = atomic_load(&log_warns), e0 = atomic_load(&log_errs);
	for (int i = 0; i < 12; i++) {
		SSL *p = tu_tls_connect(c, s.port);
		assert_non_null(p);
		if (i & 1)
			usleep(20000); /* let the ticket arrive unread: close sends a RST */
		close(SSL_get_fd(p));
		SSL_free(p);
	}
	assert_true(wait_open_zero(&s, 3000));
	assert_int_equal(stats(&s).handshakes_ok, 12);
	assert_int_equal(atomic_load(&log_errs) - e0, 0);
	assert_int_equal(atomic_load(&log_warns) - w0, 0);
	SSL_CTX_free(c);
	srv_stop(&s);
}

static void test_idle_timeout(void **state)
{
	(void)state;
	struct srv s;
	struct net_config nc = default_ncfg();
	nc.idle_timeout_ms = 600;
	nc.workers = 1;
	srv_start(&s, P.srv_ec_crt, P.srv_ec_key, &nc, false);
	SSL_CTX *c = tu_client_ctx(P.cli_crt, P.cli_key, 0, 0, NULL, P.ca);
	SSL *a = tu_tls_connect(c, s.port);
	assert_int_equal(tu_roundtrip(a, 8, 1), 0);
	uint64_t t0 = tu_now_ms();
	assert_true(tu_wait_closed(SSL_get_fd(a), 2000));
	uint64_t dt = tu_now_ms() - t0;
	assert_true(dt >= 500 && dt < 1500);
	assert_int_equal(stats(&s).timeouts, 1);
	tu_tls_close(a);
	SSL_CTX_free(c);
	srv_stop(&s);
}

struct load_arg {
	SSL_CTX *c;
	uint16_t port;
	unsigned idx;
	int ok;
};

static void *load_thread(void *p)
{
	struct load_arg *a = p;
	SSL *s = tu_tls_connect(a->c, a->port);
	if (s == NULL)
		return NULL;
	int good = 0;
	for (unsigned j = 0; j < 20; j++) {
		size_t body = j == 0 ? 128u * 1024 : 8u * ((a->idx * 37 + j * 101) % 512);
		if (tu_roundtrip(s, body, a->idx * 100 + j) == 0)
			good++;
	}
	tu_tls_close(s);
	a->ok = good == 20;
	return NULL;
}

static void test_concurrent_clients(void **state)
{
	(void)state;
	struct srv s;
	/* 64 handshakes at once on a loaded 2-core machine under ASan can take over the 1 s
	 * the other tests use: this test is about correctness, so the default 10 s */
	struct net_config nc = default_ncfg();
	nc.handshake_timeout_ms = 10000;
	nc.read_timeout_ms = 10000;
	srv_start(&s, P.srv_ec_crt, P.srv_ec_key, &nc, false);
	SSL_CTX *c = tu_client_ctx(P.cli_crt, P.cli_key, 0, 0, NULL, P.ca);
	enum { N = 64 };
	pthread_t th[N];
	struct load_arg a[N];
	for (unsigned i = 0; i < N; i++) {
		a[i] = (struct load_arg){ .c = c, .port = s.port, .idx = i };
		assert_int_equal(pthread_create(&th[i], NULL, load_thread, &a[i]), 0);
	}
	int ok = 0;
	for (unsigned i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		ok += a[i].ok;
	}
	assert_int_equal(ok, N);
	assert_int_equal(s.e.calls, N * 20);
	assert_int_equal(stats(&s).handshakes_ok, N);
	SSL_CTX_free(c);
	assert_true(wait_open_zero(&s, 2000));
	srv_stop(&s);
}

/* A client that pipelines 64 requests without reading is served in order, and a worker
 * (only one here) keeps serving another client meanwhile. */
static void test_pipelining_client(void **state)
{
	(void)state;
	struct srv s;
	struct net_config nc = default_ncfg();
	nc.workers = 1;
	srv_start(&s, P.srv_ec_crt, P.srv_ec_key, &nc, false);
	SSL_CTX *c = tu_client_ctx(P.cli_crt, P.cli_key, 0, 0, NULL, P.ca);
	enum { N = 64, BODY = 64, MSG = 8 + BODY };
	uint8_t *all = malloc(N * MSG), *back = malloc(N * MSG);
	assert_non_null(all);
	assert_non_null(back);
	for (uint32_t i = 0; i < N; i++)
		tu_msg(all + i * MSG, BODY, 1000 + i);
	SSL *a = tu_tls_connect(c, s.port);
	SSL *b = tu_tls_connect(c, s.port);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(tu_ssl_write_all(a, all, N * MSG), 0);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(tu_roundtrip(b, 8 * i, i), 0);
	assert_int_equal(tu_ssl_read_all(a, back, N * MSG), 0);
	assert_memory_equal(all, back, N * MSG);
	assert_int_equal(s.e.calls, N + 10);
	tu_tls_close(a);
	tu_tls_close(b);
	free(all);
	free(back);
	SSL_CTX_free(c);
	srv_stop(&s);
}

struct loop_arg {
	SSL_CTX *c;
	uint16_t port;
	atomic_int rounds;
	atomic_bool connected;
};

static void *loop_thread(void *p)
{
	struct loop_arg *a = p;
	SSL *s = tu_tls_connect(a->c, a->port);
	if (s == NULL)
		return NULL;
	atomic_store(&a->connected, true);
	while (tu_roundtrip(s, 512, (uint32_t)atomic_load(&a->rounds)) == 0)
		atomic_fetch_add(&a->rounds, 1);
	tu_tls_close(s);
	return NULL;
}

static void test_clean_stop(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, P.srv_ec_crt, P.srv_ec_key, NULL, false);
	SSL_CTX *c = tu_client_ctx(P.cli_crt, P.cli_key, 0, 0, NULL, P.ca);
	SSL *idle[3];
	for (int i = 0; i < 3; i++) {
		idle[i] = tu_tls_connect(c, s.port);
		assert_non_null(idle[i]);
	}
	assert_int_equal(tu_roundtrip(idle[0], 8, 1), 0);
	int raw[2] = { tu_tcp_connect(s.port), tu_tcp_connect(s.port) };
	SSL *half = tu_tls_connect(c, s.port);
	uint8_t m[40];
	tu_msg(m, 32, 1);
	assert_int_equal(tu_ssl_write_all(half, m, 20), 0);
	struct loop_arg la = { .c = c, .port = s.port };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, loop_thread, &la), 0);
	while (atomic_load(&la.rounds) < 20)
		usleep(1000);
	assert_true(stats(&s).open >= 7);

	net_server_stop(s.ns);
	net_server_stop(s.ns); /* idempotent */
	net_server_join(s.ns);
	assert_int_equal(stats(&s).open, 0);
	assert_int_equal(atomic_load(&s.e.wfree), (int)s.workers);
	pthread_join(th, NULL);
	for (int i = 0; i < 3; i++) {
		assert_true(tu_wait_closed(SSL_get_fd(idle[i]), 1000));
		tu_tls_close(idle[i]);
	}
	for (int i = 0; i < 2; i++) {
		assert_true(tu_wait_closed(raw[i], 1000));
		close(raw[i]);
	}
	assert_true(tu_wait_closed(SSL_get_fd(half), 1000));
	tu_tls_close(half);
	SSL_CTX_free(c);
	srv_stop(&s);
}

static void test_worker_new_fails(void **state)
{
	(void)state;
	struct echo e = { .fail_worker = 2 };
	pthread_mutex_init(&e.mu, NULL);
	struct tls_ctx *t = tls_new_files(P.srv_ec_crt, P.srv_ec_key);
	struct net_handler h = { .handle = echo_handle, .worker_new = echo_worker_new,
				 .worker_free = echo_worker_free, .arg = &e };
	struct net_config nc = default_ncfg();
	struct net_server *ns = NULL;
	assert_int_equal(net_server_new(&nc, t, &h, &ns), CF_OK);
	assert_int_not_equal(net_server_start(ns), CF_OK);
	assert_int_equal(atomic_load(&e.wnew), 3);
	assert_int_equal(atomic_load(&e.wfree), 3);
	net_server_free(ns);
	/* bad configurations */
	nc.address = "localhost"; /* not numeric */
	assert_int_equal(net_server_new(&nc, t, &h, &ns), CF_E_CONFIG);
	nc = default_ncfg();
	nc.workers = 65;
	assert_int_equal(net_server_new(&nc, t, &h, &ns), CF_E_CONFIG);
	nc = default_ncfg();
	struct net_server *a = NULL, *b = NULL;
	assert_int_equal(net_server_new(&nc, t, &h, &a), CF_OK);
	nc.port = net_server_port(a); /* the port is taken */
	assert_int_equal(net_server_new(&nc, t, &h, &b), CF_E_IO);
	net_server_free(a);
	net_server_free(NULL);
	tls_ctx_free(t);
	pthread_mutex_destroy(&e.mu);
}

/* ---- the server key in SoftHSMv2, through libp11's engine -------------------------- */

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	return rc;
}

static void test_engine_key(void **state)
{
	(void)state;
	if (access(SOFTHSM_MODULE, R_OK) != 0 || system("command -v pkcs11-tool >/dev/null") != 0 ||
	    system("command -v softhsm2-util >/dev/null") != 0) {
		fprintf(stderr, "SKIP: SoftHSMv2 or pkcs11-tool missing\n");
		skip();
	}
	char dir[64], conf[128], pub[128], crt[128];
	assert_int_equal(tu_dir_new(dir), 0);
	snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
	snprintf(pub, sizeof pub, "%s/pub.der", dir);
	snprintf(crt, sizeof crt, "%s/srv_hsm.crt", dir);
	assert_int_equal(run("mkdir -p %s/tokens && printf 'directories.tokendir = %s/tokens\\n"
			     "objectstore.backend = file\\nlog.level = ERROR\\n' > %s",
			     dir, dir, conf), 0);
	setenv("SOFTHSM2_CONF", conf, 1);
	assert_int_equal(run("softhsm2-util --init-token --free --label t --so-pin 87654321 "
			     "--pin 12345678 >/dev/null"), 0);
	assert_int_equal(run("pkcs11-tool --module %s --token-label t --login --pin 12345678 "
			     "--keypairgen --key-type EC:prime256v1 --label srv --id 01 >/dev/null",
			     SOFTHSM_MODULE), 0);
	assert_int_equal(run("pkcs11-tool --module %s --token-label t --read-object --type pubkey "
			     "--id 01 -o %s >/dev/null 2>&1", SOFTHSM_MODULE, pub), 0);
	/* the server certificate: the HSM key's public half, signed by the test CA */
	FILE *f = fopen(pub, "rb");
	assert_non_null(f);
	EVP_PKEY *pk = d2i_PUBKEY_fp(f, NULL);
	fclose(f);
	assert_non_null(pk);
	X509 *x = tu_cert(pk, "kmip-hsm.test", P.ca_x, P.ca_k, -100, 86400,
			  TU_SERVER | TU_CLIENT);
	assert_non_null(x);
	assert_int_equal(tu_write_cert(crt, x), 0);
	X509_free(x);
	EVP_PKEY_free(pk);

	const char *uri = "pkcs11:token=t;object=srv;type=private";
	struct tls_config tc = { .cert_file = crt, .key_uri = uri, .engine_module = SOFTHSM_MODULE,
				 .pin = (const uint8_t *)"99999999", .pin_len = 8,
				 .ca_file = P.ca };
	struct tls_ctx *t = NULL;
	/* a wrong PIN: no key, a clear error, no fallback */
	assert_int_equal(tls_ctx_new(&tc, &t), CF_E_HSM);
	assert_null(t);
	tc.pin = (const uint8_t *)"12345678";
	assert_int_equal(tls_ctx_new(&tc, &t), CF_OK);
	/* an EC key in the HSM signs through tls.c's wrapper, serialised there: no lock around
	 * whole handshakes (docs/tls.md "Thread safety") */
	assert_null(tls_ctx_key_lock(t));

	struct srv s;
	srv_start_ctx(&s, t, NULL, false);
	/* the client verifies the server against the CA: the HSM key signed the handshake */
	client_ok(s.port, P.cli_crt, P.cli_key, 0, 0, NULL, "TLSv1.3");
	client_ok(s.port, P.cli_crt, P.cli_key, TLS1_2_VERSION, TLS1_2_VERSION,
		  "ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.2");
	/* concurrent handshakes through the engine (serialized by the key lock) */
	SSL_CTX *c = tu_client_ctx(P.cli_crt, P.cli_key, 0, 0, NULL, P.ca);
	enum { N = 8 };
	pthread_t th[N];
	struct load_arg a[N];
	for (unsigned i = 0; i < N; i++) {
		a[i] = (struct load_arg){ .c = c, .port = s.port, .idx = i };
		assert_int_equal(pthread_create(&th[i], NULL, load_thread, &a[i]), 0);
	}
	int ok = 0;
	for (unsigned i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		ok += a[i].ok;
	}
	assert_int_equal(ok, N);
	SSL_CTX_free(c);
	srv_stop(&s);
	unsetenv("SOFTHSM2_CONF");
	tu_dir_rm(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fp_parse),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_tls_config_errors),
		cmocka_unit_test(test_mtls_ec_server),
		cmocka_unit_test(test_mtls_rsa_server),
		cmocka_unit_test(test_pinned_self_signed),
		cmocka_unit_test(test_refused_clients),
		cmocka_unit_test(test_stalled_handshakes),
		cmocka_unit_test(test_half_message),
		cmocka_unit_test(test_oversize_header),
		cmocka_unit_test(test_probe_connections),
		cmocka_unit_test(test_probe_unread_ticket),
		cmocka_unit_test(test_session_resumption),
		cmocka_unit_test(test_session_resumption_refused),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_concurrent_clients),
		cmocka_unit_test(test_pipelining_client),
		cmocka_unit_test(test_clean_stop),
		cmocka_unit_test(test_worker_new_fails),
		cmocka_unit_test(test_engine_key),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
