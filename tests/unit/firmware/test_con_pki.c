/* Console PKI commands (firmware/console/con_pki.c) with a real SoftHSMv2 CA key, a real
 * SQLite store and the real TLS context: handlers are called directly, the console's I/O is
 * replaced by the scripted stubs below (con_printf collects the output, con_read_paste and
 * con_confirm return what the test queued). Handshakes run in memory (BIO pairs) against
 * tls.c's SSL_CTX, so the run-time trust snapshot is checked where it matters: at the
 * handshake and on ticket resumption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "board/sec.h"
#include "firmware/ops/authz.h"
#include "firmware/pki/ca.h"
#include "firmware/console/con.h"
#include "firmware/net/identity.h"
#include "firmware/store/store_clients.h"
#include "firmware/net/tls.h"
#include "tests/unit/firmware/tls_testutil.h"
/* compiled into this test rather than listed as a second source: test_net lists it with
 * other flags, and make allows one recipe per object */
#include "tests/unit/firmware/tls_testutil.c"
#include "tests/unit/hsm/hsm_test_util.h"

/* ---- console stubs ------------------------------------------------------------------------ */

static char OUT[1 << 18];
static size_t OUT_N;
static const char *PASTE;       /* next con_read_paste text (NULL = hang-up) */
static bool CONFIRM = true;
static char LAST_AUDIT_OP[64];
static cf_err LAST_AUDIT_RC;
static char LAST_AUDIT_DETAIL[512];

void con_write(struct con *c, const char *s, size_t n)
{
	(void)c;
	if (n > sizeof OUT - 1 - OUT_N)
		n = sizeof OUT - 1 - OUT_N;
	memcpy(OUT + OUT_N, s, n);
	OUT_N += n;
	OUT[OUT_N] = '\0';
}

void con_printf(struct con *c, const char *fmt, ...)
{
	char b[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	if (n > 0)
		con_write(c, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

cf_err con_read_paste(struct con *c, const char *prompt, const char *begin_prefix,
		      const char *end_prefix, size_t max, char **out, size_t *n)
{
	(void)c;
	(void)prompt;
	(void)begin_prefix;
	(void)end_prefix;
	(void)max;
	if (PASTE == NULL)
		return CF_E_CLOSED;
	*out = strdup(PASTE);
	*n = strlen(PASTE);
	PASTE = NULL;
	return *out != NULL ? CF_OK : CF_E_NOMEM;
}

/* (client password is tested end to end in tests/integration/test_console_pki.py) */
cf_err con_read_new_password(struct con *c, const char *name, const char *prompt,
			     const char *again_prompt, const char *avoid, size_t n_avoid, char *pw,
			     size_t *n)
{
	(void)c;
	(void)name;
	(void)prompt;
	(void)again_prompt;
	(void)avoid;
	(void)n_avoid;
	(void)pw;
	*n = 0;
	return CF_E_CANCELLED;
}

bool con_confirm(struct con *c, const char *question)
{
	con_printf(c, "%s [y/N] \n", question);
	return CONFIRM;
}

const char *con_opt_take(int *argc, char **argv, const char *name, bool *bad)
{
	*bad = false;
	for (int i = 0; i < *argc; i++) {
		if (strncmp(argv[i], "--", 2) != 0 || strcmp(argv[i] + 2, name) != 0)
			continue;
		if (i + 1 >= *argc) {
			*bad = true;
			return NULL;
		}
		const char *v = argv[i + 1];
		for (int k = i; k + 2 < *argc; k++)
			argv[k] = argv[k + 2];
		*argc -= 2;
		return v;
	}
	return NULL;
}

struct store *con_store(struct con *c)
{
	return c->st;
}

void con_audit(struct con *c, const char *op, const char *uid, cf_err result, const char *detail)
{
	(void)c;
	(void)uid;
	snprintf(LAST_AUDIT_OP, sizeof LAST_AUDIT_OP, "%s", op);
	snprintf(LAST_AUDIT_DETAIL, sizeof LAST_AUDIT_DETAIL, "%s", detail ? detail : "");
	LAST_AUDIT_RC = result;
}

int64_t con_now(const struct con *c)
{
	(void)c;
	return (int64_t)time(NULL);
}

/* ---- fixture ------------------------------------------------------------------------------- */

struct fx {
	struct tok_env env;
	hsm *h;
	char dir[64];
	struct config *cfg;
	struct svc svc;
	struct con con;
	X509 *ca;
	char srv_key[128];
	struct tls_ctx *tls;
};

static struct fx *F;
/* the service's run-time trust snapshot, which the console changes */
#define TR authz_tls_trust(F->svc.authz)

static const struct con_cmd *cmd(const char *name)
{
	for (const struct con_cmd *k = con_cmds_pki; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	fail_msg("no command %s", name);
	return NULL;
}

/* Run "NAME args..." (args split on spaces) with the output reset first. */
static cf_err run(const char *name, const char *args)
{
	char buf[512], *argv[CON_ARGS_MAX], *save = NULL;
	int argc = 0;
	const struct con_cmd *k = cmd(name);

	OUT_N = 0;
	OUT[0] = '\0';
	snprintf(buf, sizeof buf, "%s", args);
	for (char *w = strtok_r(buf, " ", &save); w != NULL && argc < CON_ARGS_MAX;
	     w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	assert_true((unsigned)argc >= k->min_args && (unsigned)argc <= k->max_args);
	return k->fn(&F->con, argc, argv);
}

static char *pem_of_cert(X509 *x)
{
	char *p = NULL;
	assert_int_equal(ca_cert_to_pem(x, &p), CF_OK);
	return p;
}

/* The first PEM certificate in OUT after offset from. */
static X509 *out_cert(void)
{
	const char *b = strstr(OUT, "-----BEGIN CERTIFICATE-----");
	X509 *x = NULL;
	assert_non_null(b);
	assert_int_equal(ca_cert_from_pem(b, strlen(b), &x), CF_OK);
	return x;
}

static char *csr_pem(EVP_PKEY *k, const char *cn, bool corrupt)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *nm = X509_REQ_get_subject_name(r);
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *out;
	long n;

	assert_int_equal(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
						    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_REQ_set_pubkey(r, k), 1);
	assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	if (corrupt) {
		unsigned char *der = NULL;
		int dn = i2d_X509_REQ(r, &der);
		assert_true(dn > 10);
		der[dn - 1] ^= 0x01; /* last byte of the ECDSA s value */
		const unsigned char *q = der;
		X509_REQ_free(r);
		r = d2i_X509_REQ(NULL, &q, dn);
		assert_non_null(r);
		OPENSSL_free(der);
	}
	assert_int_equal(PEM_write_bio_X509_REQ(b, r), 1);
	n = BIO_get_mem_data(b, &p);
	assert_true(n > 0);
	out = malloc((size_t)n + 1); /* the BIO's data is not NUL-terminated */
	assert_non_null(out);
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	BIO_free(b);
	X509_REQ_free(r);
	return out;
}

/* What `openssl req -x509` makes: self-signed, basicConstraints critical CA:TRUE, no key
 * usage, no EKU. */
static X509 *req_x509(EVP_PKEY *k, const char *cn)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
						    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
	assert_int_equal(X509_set_pubkey(x, k), 1);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	return x;
}

static void fp_hex_of(X509 *x, char out[65])
{
	tu_fp_hex(x, out);
}

static int group_setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	hsm_sess *s;
	uint8_t id[4] = { 1, 2, 3, 4 };
	char uri[HSM_URI_MAX], path[128];
	EVP_PKEY *sk;
	X509 *srv = NULL;
	struct ca_signer ca;
	struct ca_issue is = { 0 };
	struct store_opts so = { 0 };

	if (f == NULL || tok_env_setup(&f->env) != 0)
		return -1;
	if (tok_env_open(TEST_TOKEN, false, 2, 5000, &f->h) != CF_OK)
		return -1;
	if (hsm_session_acquire(f->h, 1000, &s) != CF_OK)
		return -1;
	if (hsm_keypair_generate(s, HSM_KP_EC_P256, CA_KEY_LABEL, id, sizeof id, uri,
				 sizeof uri) != CF_OK)
		return -1;
	if (ca_root_create(s, CA_KEY_LABEL, "Coffre Test CA", NULL, 3650, &f->ca) != CF_OK)
		return -1;
	if (tu_dir_new(f->dir) != 0)
		return -1;
	f->cfg = calloc(1, sizeof *f->cfg);
	if (f->cfg == NULL)
		return -1;
	snprintf(f->cfg->tls.ca, sizeof f->cfg->tls.ca, "%s/ca.crt", f->dir);
	snprintf(f->cfg->tls.cert, sizeof f->cfg->tls.cert, "%s/server.crt", f->dir);
	snprintf(f->srv_key, sizeof f->srv_key, "%s/server.key", f->dir);
	if (ca_cert_write(f->cfg->tls.ca, f->ca) != CF_OK)
		return -1;
	sk = tu_key_ec();
	ca = (struct ca_signer){ .sess = s, .key_label = CA_KEY_LABEL, .cert = f->ca };
	is.profile = CA_PROFILE_SERVER;
	is.cn = "kms.test";
	is.pub = sk;
	is.dns[0] = "kms.test";
	is.n_dns = 1;
	is.ip[0] = "127.0.0.1";
	is.n_ip = 1;
	is.days = 30;
	if (ca_cert_issue(&ca, &is, &srv) != CF_OK || ca_cert_write(f->cfg->tls.cert, srv) != CF_OK ||
	    tu_write_key(f->srv_key, sk) != 0)
		return -1;
	X509_free(srv);
	EVP_PKEY_free(sk);
	hsm_session_release(s);

	f->svc.cfg = f->cfg;
	f->svc.hsm = f->h;
	f->con.svc = &f->svc;
	if (authz_new(&f->svc.authz) != CF_OK)
		return -1;
	snprintf(path, sizeof path, "%s/store.db", f->dir);
	if (store_open(path, &so, &f->con.st) != CF_OK)
		return -1;
	struct tls_config tc = { .cert_file = f->cfg->tls.cert, .key_file = f->srv_key,
				 .ca_file = f->cfg->tls.ca, .trust = authz_tls_trust(f->svc.authz) };
	if (tls_ctx_new(&tc, &f->tls) != CF_OK)
		return -1;
	F = f;
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	struct fx *f = *state;
	if (f == NULL)
		return 0;
	tls_ctx_free(f->tls);
	authz_free(f->svc.authz);
	store_close(f->con.st);
	X509_free(f->ca);
	hsm_close(f->h);
	tu_dir_rm(f->dir);
	tok_env_teardown(&f->env);
	free(f->cfg);
	free(f);
	return 0;
}

/* ---- in-memory handshakes ------------------------------------------------------------------ */

/* Handshake a client (cert/key files) with the server context, then one byte each way (so
 * TLS 1.3 tickets reach the client and a server-side refusal of the client certificate is
 * seen). sess: offer it for resumption; *out_sess: the client's session after (may be NULL).
 * Returns 1 = resumed, 0 = full handshake, -1 = failed. */
static int handshake(const char *crt, const char *key, SSL_SESSION *sess, SSL_SESSION **out_sess)
{
	SSL_CTX *cctx = tu_client_ctx(crt, key, 0, 0, NULL, F->cfg->tls.ca);
	SSL *cli = SSL_new(cctx), *srv = SSL_new(tls_ctx_ssl(F->tls));
	int ret = -1;
	char b;

	assert_non_null(cli);
	assert_non_null(srv);
	if (!tu_pair_handshake(cli, srv, sess) || SSL_write(cli, "p", 1) != 1 ||
	    SSL_read(srv, &b, 1) != 1 || SSL_write(srv, "q", 1) != 1 || SSL_read(cli, &b, 1) != 1)
		goto out;
	ret = SSL_session_reused(srv) ? 1 : 0;
	if (out_sess != NULL)
		*out_sess = SSL_get1_session(cli);
	/* a clean close: SSL_free after an unfinished shutdown marks the session unusable */
	SSL_set_shutdown(cli, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_set_shutdown(srv, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
out:
	ERR_clear_error();
	SSL_free(cli);
	SSL_free(srv);
	SSL_CTX_free(cctx);
	return ret;
}

static void write_pair(const char *name, X509 *x, EVP_PKEY *k, char crt[128], char key[128])
{
	snprintf(crt, 128, "%s/%s.crt", F->dir, name);
	snprintf(key, 128, "%s/%s.key", F->dir, name);
	assert_int_equal(tu_write_cert(crt, x), 0);
	assert_int_equal(tu_write_key(key, k), 0);
}

static cf_err resolve(X509 *x, bool chain_ok, struct authz_principal *p)
{
	struct identity id;
	assert_int_equal(identity_from_cert(x, chain_ok, &id), CF_OK);
	return authz_resolve(F->svc.authz, F->cfg, F->con.st, &id, p);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_cert_show(void **state)
{
	(void)state;
	X509 *srv = NULL;
	uint8_t d[32];
	unsigned n = 0;
	char want[3 * 32 + 1];
	static const char hx[] = "0123456789ABCDEF";

	assert_int_equal(run("cert show", ""), CF_OK);
	assert_int_equal(ca_cert_read(F->cfg->tls.cert, &srv), CF_OK);
	/* SHA-256 and SHA-1 of both certificates, colon-separated upper-case */
	X509 *certs[2] = { srv, F->ca };
	for (int i = 0; i < 2; i++) {
		const EVP_MD *mds[2] = { EVP_sha256(), EVP_sha1() };
		for (int m = 0; m < 2; m++) {
			assert_int_equal(X509_digest(certs[i], mds[m], d, &n), 1);
			for (unsigned j = 0; j < n; j++) {
				want[3 * j] = hx[d[j] >> 4];
				want[3 * j + 1] = hx[d[j] & 15];
				want[3 * j + 2] = j + 1 < n ? ':' : '\0';
			}
			assert_non_null(strstr(OUT, want));
		}
	}
	assert_non_null(strstr(OUT, "subject:             CN=kms.test"));
	assert_non_null(strstr(OUT, "issuer:              CN=Coffre Test CA"));
	assert_non_null(strstr(OUT, "DNS:kms.test, IP:127.0.0.1"));
	assert_non_null(strstr(OUT, " UTC"));
	/* two PEM blocks: server first */
	const char *p1 = strstr(OUT, "-----BEGIN CERTIFICATE-----");
	assert_non_null(p1);
	assert_non_null(strstr(p1 + 1, "-----BEGIN CERTIFICATE-----"));
	X509 *first = out_cert();
	assert_int_equal(X509_cmp(first, srv), 0);
	X509_free(first);
	X509_free(srv);
}

static void test_sign_csr(void **state)
{
	(void)state;
	EVP_PKEY *k = tu_key_ec();
	char *pem = csr_pem(k, "vc1", false);
	struct store_client sc;
	struct authz_principal p;
	char fp[65], crt[128], key[128];

	PASTE = pem;
	assert_int_equal(run("client sign-csr", "vc1 --tenant vcenter --days 30"), CF_OK);
	X509 *x = out_cert();
	/* signed by the CA, clientAuth, CN from the CSR, the CSR's key */
	assert_int_equal(X509_verify(x, X509_get0_pubkey(F->ca)), 1);
	assert_true(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);
	fp_hex_of(x, fp);
	assert_int_equal(store_client_by_name(F->con.st, "vc1", &sc), CF_OK);
	assert_string_equal(sc.kind, "signed");
	assert_string_equal(sc.tenant, "vcenter");
	assert_string_equal(sc.role, "user");
	assert_string_equal(sc.subject, "CN=vc1");
	assert_string_equal(sc.issuer, "CN=Coffre Test CA");
	assert_true(strncmp(sc.fingerprint, "sha256:", 7) == 0 && strcmp(sc.fingerprint + 7, fp) == 0);
	assert_true(sc.not_after > time(NULL) + 29 * 86400 && sc.not_after < time(NULL) + 31 * 86400);
	assert_string_equal(LAST_AUDIT_OP, "client_sign_csr");
	assert_int_equal(LAST_AUDIT_RC, CF_OK);
	assert_non_null(strstr(LAST_AUDIT_DETAIL, fp));
	/* authz maps it; a TLS handshake with it succeeds (it chains to the CA) */
	assert_int_equal(resolve(x, true, &p), CF_OK);
	assert_string_equal(p.tenant, "vcenter");
	write_pair("vc1", x, k, crt, key);
	assert_int_equal(handshake(crt, key, NULL, NULL), 0);
	/* the name is taken now */
	PASTE = pem;
	assert_int_equal(run("client sign-csr", "vc1"), CF_E_EXISTS);
	assert_non_null(strstr(OUT, "already exists"));
	assert_null(strstr(OUT, "BEGIN CERTIFICATE"));
	PASTE = NULL;
	X509_free(x);
	free(pem);
	EVP_PKEY_free(k);
}

static void test_sign_csr_bad(void **state)
{
	(void)state;
	EVP_PKEY *k = tu_key_ec();
	char *bad = csr_pem(k, "vc2", true);
	struct store_client_list l;
	size_t before;

	assert_int_equal(store_client_list(F->con.st, &l), CF_OK);
	before = l.n;
	store_client_list_free(&l);

	PASTE = "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n";
	assert_int_not_equal(run("client sign-csr", "vc2"), CF_OK);
	assert_non_null(strstr(OUT, "not a PEM certificate request"));
	PASTE = bad;
	assert_int_equal(run("client sign-csr", "vc2"), CF_E_BAD_VALUE);
	assert_non_null(strstr(OUT, "signature does not verify"));
	assert_null(strstr(OUT, "BEGIN CERTIFICATE-----"));
	/* bad names and options never reach the paste */
	PASTE = NULL;
	assert_int_equal(run("client sign-csr", "bad/name"), CF_E_INVALID_ARG);
	assert_int_equal(run("client sign-csr", "vc2 --days 0"), CF_E_INVALID_ARG);
	assert_int_equal(run("client sign-csr", "vc2 --days"), CF_E_INVALID_ARG);
	assert_int_equal(run("client sign-csr", "vc2 --tenant a;b"), CF_E_INVALID_ARG);

	assert_int_equal(store_client_list(F->con.st, &l), CF_OK);
	assert_int_equal(l.n, before);
	store_client_list_free(&l);
	assert_int_equal(store_client_by_name(F->con.st, "vc2", &(struct store_client){ 0 }),
			 CF_E_NOT_FOUND);
	free(bad);
	EVP_PKEY_free(k);
}

static void test_issue(void **state)
{
	(void)state;
	struct store_client sc;
	struct authz_principal p;
	char crt[128], key[128];

	assert_int_equal(run("client issue", "vc-issued"), CF_OK);
	X509 *x = out_cert();
	const char *kb = strstr(OUT, "-----BEGIN PRIVATE KEY-----");
	assert_non_null(kb);
	assert_non_null(strstr(OUT, "only copy"));
	BIO *b = BIO_new_mem_buf(kb, -1);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(k);
	assert_int_equal(X509_check_private_key(x, k), 1);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(F->ca)), 1);
	assert_int_equal(store_client_by_name(F->con.st, "vc-issued", &sc), CF_OK);
	assert_string_equal(sc.kind, "issued");
	assert_string_equal(sc.tenant, "vc-issued");
	assert_string_equal(sc.subject, "CN=vc-issued");
	/* the audit record names the fingerprint, never the key */
	assert_null(strstr(LAST_AUDIT_DETAIL, "PRIVATE"));
	assert_int_equal(resolve(x, true, &p), CF_OK);
	assert_string_equal(p.tenant, "vc-issued");
	write_pair("vc-issued", x, k, crt, key);
	assert_int_equal(handshake(crt, key, NULL, NULL), 0);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* client allow: the store row's list reaches the principal (new requests see it at once:
 * the cache is dropped), authz_source_allowed matches the peer text, `any` clears it; a bad
 * list, an unknown client and a declined confirmation change nothing. */
static void test_client_allow(void **state)
{
	(void)state;
	struct store_client sc;
	struct authz_principal p;

	assert_int_equal(run("client issue", "vc-allow"), CF_OK);
	X509 *x = out_cert();
	assert_int_equal(resolve(x, true, &p), CF_OK);
	assert_int_equal(p.allow.n, 0);
	assert_true(authz_source_allowed(&p, "192.0.2.1:4000"));

	assert_int_equal(run("client allow", "vc-allow 10.0.0.0/8 2001:db8::/32"), CF_OK);
	assert_non_null(strstr(OUT, "allowed from 10.0.0.0/8 2001:db8::/32"));
	assert_string_equal(LAST_AUDIT_OP, "client_allow");
	assert_int_equal(LAST_AUDIT_RC, CF_OK);
	assert_int_equal(store_client_by_name(F->con.st, "vc-allow", &sc), CF_OK);
	assert_string_equal(sc.allow, "10.0.0.0/8 2001:db8::/32");
	assert_int_equal(resolve(x, true, &p), CF_OK); /* at once: the cache was dropped */
	assert_int_equal(p.allow.n, 2);
	assert_true(authz_source_allowed(&p, "10.1.2.3:5000"));
	assert_true(authz_source_allowed(&p, "[2001:db8:1::5]:5696"));
	assert_true(authz_source_allowed(&p, "[::ffff:10.9.9.9]:1"));
	assert_false(authz_source_allowed(&p, "127.0.0.1:5000"));
	assert_false(authz_source_allowed(&p, "[2001:db9::1]:1"));
	assert_false(authz_source_allowed(&p, "not-an-address"));
	assert_false(authz_source_allowed(&p, NULL));
	assert_false(authz_source_allowed(NULL, "10.0.0.1:1"));

	assert_int_equal(run("client allow", "vc-allow 10.0.0.1/8"), CF_E_INVALID_ARG);
	assert_non_null(strstr(OUT, "bits are set beyond the prefix length"));
	assert_int_equal(run("client allow", "nosuch 10.0.0.0/8"), CF_E_NOT_FOUND);
	CONFIRM = false;
	assert_int_equal(run("client allow", "vc-allow any"), CF_E_CANCELLED);
	CONFIRM = true;
	assert_int_equal(store_client_by_name(F->con.st, "vc-allow", &sc), CF_OK);
	assert_string_equal(sc.allow, "10.0.0.0/8 2001:db8::/32");

	assert_int_equal(run("client allow", "vc-allow any"), CF_OK);
	assert_int_equal(store_client_by_name(F->con.st, "vc-allow", &sc), CF_OK);
	assert_string_equal(sc.allow, "");
	assert_int_equal(resolve(x, true, &p), CF_OK);
	assert_int_equal(p.allow.n, 0);
	/* a list written outside the console that does not parse: refused (fail closed) */
	assert_int_equal(store_client_set_allow(F->con.st, sc.fingerprint, "10.0.0.1/8"), CF_OK);
	authz_cache_invalidate(F->svc.authz);
	assert_int_equal(resolve(x, true, &p), CF_E_AUTH);
	assert_int_equal(store_client_set_allow(F->con.st, sc.fingerprint, ""), CF_OK);
	authz_cache_invalidate(F->svc.authz);
	assert_int_equal(resolve(x, true, &p), CF_OK);
	X509_free(x);
}

static void test_trust_and_revoke(void **state)
{
	(void)state;
	EVP_PKEY *k = tu_key_ec();
	X509 *self = tu_cert(k, "vcenter-self", NULL, NULL, -3600, 30 * 86400, TU_CLIENT);
	char *pem = pem_of_cert(self);
	char fp[65], crt[128], key[128], arg[160];
	struct store_client sc;
	struct authz_principal p;
	SSL_SESSION *sess = NULL;
	size_t nt = 0, nr = 0;

	fp_hex_of(self, fp);
	write_pair("self", self, k, crt, key);
	/* not trusted yet: refused at the handshake */
	assert_int_equal(handshake(crt, key, NULL, NULL), -1);
	/* --sha256 names another certificate: refused */
	PASTE = pem;
	assert_int_equal(run("client trust", "vcs --sha256 "
					     "0000000000000000000000000000000000000000000000000000000000000000"),
			 CF_E_AUTH);
	assert_int_equal(store_client_by_name(F->con.st, "vcs", &sc), CF_E_NOT_FOUND);
	/* declined at the confirmation: nothing */
	PASTE = pem;
	CONFIRM = false;
	assert_int_equal(run("client trust", "vcs"), CF_E_CANCELLED);
	CONFIRM = true;
	assert_int_equal(store_client_by_name(F->con.st, "vcs", &sc), CF_E_NOT_FOUND);
	/* trusted, with the right --sha256 (colon form accepted) */
	PASTE = pem;
	snprintf(arg, sizeof arg, "vcs --tenant vct --sha256 sha256:%s", fp);
	assert_int_equal(run("client trust", arg), CF_OK);
	assert_int_equal(store_client_by_name(F->con.st, "vcs", &sc), CF_OK);
	assert_string_equal(sc.kind, "trusted");
	assert_string_equal(sc.tenant, "vct");
	uint8_t fpb[32];
	assert_int_equal(tls_fp_parse(fp, fpb), CF_OK);
	assert_true(tls_trust_is_trusted(TR, fpb));
	/* authz maps it by fingerprint (chain_ok false) */
	assert_int_equal(resolve(self, false, &p), CF_OK);
	assert_string_equal(p.tenant, "vct");
	/* the handshake accepts it now, and a ticket resumes */
	assert_int_equal(handshake(crt, key, NULL, &sess), 0);
	assert_non_null(sess);
	assert_int_equal(handshake(crt, key, sess, NULL), 1);
	/* trusting the same certificate under another name is refused */
	PASTE = pem;
	assert_int_equal(run("client trust", "vcs2"), CF_E_EXISTS);

	/* list shows it */
	assert_int_equal(run("client list", ""), CF_OK);
	assert_non_null(strstr(OUT, "vcs "));
	assert_non_null(strstr(OUT, fp));
	assert_non_null(strstr(OUT, "trusted"));

	/* revoke: refused at once at the handshake, on resumption and by authz */
	CONFIRM = false;
	assert_int_equal(run("client revoke", "vcs"), CF_E_CANCELLED);
	CONFIRM = true;
	assert_true(tls_trust_is_trusted(TR, fpb));
	assert_int_equal(run("client revoke", "vcs"), CF_OK);
	assert_string_equal(LAST_AUDIT_OP, "client_revoke");
	assert_false(tls_trust_is_trusted(TR, fpb));
	assert_true(tls_trust_is_revoked(TR, fpb));
	tls_trust_counts(TR, &nt, &nr);
	assert_int_equal(nt, 0);
	assert_true(nr >= 1);
	assert_int_equal(handshake(crt, key, sess, NULL), -1);
	assert_int_equal(handshake(crt, key, NULL, NULL), -1);
	assert_int_equal(resolve(self, false, &p), CF_E_AUTH);
	assert_int_equal(run("client revoke", "vcs"), CF_E_NOT_FOUND);
	assert_int_equal(run("client list", ""), CF_OK);
	assert_non_null(strstr(OUT, "revoked"));
	/* the name is free again; trusting the revoked certificate again is an explicit
	 * re-admission */
	PASTE = pem;
	assert_int_equal(run("client trust", "vcs"), CF_OK);
	assert_non_null(strstr(OUT, "was revoked"));
	assert_true(tls_trust_is_trusted(TR, fpb));
	assert_false(tls_trust_is_revoked(TR, fpb));
	assert_int_equal(handshake(crt, key, NULL, NULL), 0);
	/* a pin removed without a revoke (row deleted) also stops resumption */
	SSL_SESSION_free(sess);
	sess = NULL;
	assert_int_equal(handshake(crt, key, NULL, &sess), 0);
	assert_int_equal(handshake(crt, key, sess, NULL), 1);
	assert_int_equal(store_client_delete_name(F->con.st, "vcs"), CF_OK);
	assert_int_equal(authz_trust_reload(F->svc.authz, F->con.st), CF_OK);
	assert_false(tls_trust_is_trusted(TR, fpb));
	assert_int_equal(handshake(crt, key, sess, NULL), -1);
	SSL_SESSION_free(sess);
	X509_free(self);
	free(pem);
	EVP_PKEY_free(k);
}

static void test_trust_refusals(void **state)
{
	(void)state;
	EVP_PKEY *rk = tu_key_ec(), *ik = tu_key_ec(), *ek = tu_key_ec(), *sk = tu_key_ec();
	X509 *root = tu_cert(rk, "other root", NULL, NULL, -3600, 86400, TU_CA);
	X509 *inter = tu_cert(ik, "other intermediate", root, rk, -3600, 86400, TU_CA);
	X509 *expired = tu_cert(ek, "old", NULL, NULL, -30 * 86400, -86400, TU_CLIENT);
	X509 *future = tu_cert(sk, "future", NULL, NULL, 86400, 2 * 86400, TU_CLIENT);
	X509 *srvonly = tu_cert(sk, "server only", NULL, NULL, -3600, 86400, TU_SERVER);
	char *p;

	p = pem_of_cert(inter);
	PASTE = p;
	assert_int_equal(run("client trust", "x1"), CF_E_BAD_VALUE);
	assert_non_null(strstr(OUT, "CA certificate issued by another CA"));
	free(p);
	p = pem_of_cert(expired);
	PASTE = p;
	assert_int_equal(run("client trust", "x1"), CF_E_BAD_VALUE);
	assert_non_null(strstr(OUT, "expired"));
	free(p);
	p = pem_of_cert(future);
	PASTE = p;
	assert_int_equal(run("client trust", "x1"), CF_E_BAD_VALUE);
	assert_non_null(strstr(OUT, "not valid yet"));
	free(p);
	PASTE = "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n";
	assert_int_equal(run("client trust", "x1"), CF_E_BAD_MESSAGE);
	assert_non_null(strstr(OUT, "not a PEM certificate"));
	assert_string_equal(LAST_AUDIT_OP, "client_trust");
	assert_int_not_equal(LAST_AUDIT_RC, CF_OK);
	assert_int_equal(store_client_by_name(F->con.st, "x1", &(struct store_client){ 0 }),
			 CF_E_NOT_FOUND);
	/* a real CA certificate (keyCertSign only) cannot sign a TLS handshake: refused */
	p = pem_of_cert(root);
	PASTE = p;
	assert_int_equal(run("client trust", "x-root"), CF_E_BAD_VALUE);
	assert_non_null(strstr(OUT, "digitalSignature"));
	free(p);
	/* what `openssl req -x509` makes (self-signed, CA:TRUE, no key usage) is accepted with a
	 * note; a certificate without clientAuth with a warning */
	EVP_PKEY *qk = tu_key_ec();
	X509 *q = req_x509(qk, "req-x509");
	p = pem_of_cert(q);
	PASTE = p;
	assert_int_equal(run("client trust", "x-req"), CF_OK);
	assert_non_null(strstr(OUT, "note: a self-signed CA certificate"));
	free(p);
	X509_free(q);
	EVP_PKEY_free(qk);
	p = pem_of_cert(srvonly);
	PASTE = p;
	assert_int_equal(run("client trust", "x-srv"), CF_OK);
	assert_non_null(strstr(OUT, "does not include clientAuth"));
	free(p);
	PASTE = NULL;
	X509_free(root);
	X509_free(inter);
	X509_free(expired);
	X509_free(future);
	X509_free(srvonly);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(ek);
	EVP_PKEY_free(sk);
}

/* A revoked CA-signed certificate: refused at the handshake (it chains), on resumption, and
 * by authz even though a config DN rule names its subject and issuer. */
static void test_revoke_signed(void **state)
{
	(void)state;
	EVP_PKEY *k = tu_key_ec();
	char *pem = csr_pem(k, "vc-dn", false);
	char crt[128], key[128];
	struct authz_principal p;
	SSL_SESSION *sess = NULL;

	PASTE = pem;
	assert_int_equal(run("client sign-csr", "vc-dn"), CF_OK);
	X509 *x = out_cert();
	write_pair("vc-dn", x, k, crt, key);
	assert_int_equal(handshake(crt, key, NULL, &sess), 0);
	assert_int_equal(handshake(crt, key, sess, NULL), 1);
	struct config_client *cc = &F->cfg->clients[F->cfg->n_clients++];
	memset(cc, 0, sizeof *cc);
	strcpy(cc->subject, "CN=vc-dn");
	strcpy(cc->issuer, "CN=Coffre Test CA");
	strcpy(cc->tenant, "dn-tenant");
	cc->role = CONFIG_ROLE_USER;
	assert_int_equal(resolve(x, true, &p), CF_OK);
	assert_string_equal(p.tenant, "dn-tenant"); /* config first, as before */
	assert_int_equal(run("client revoke", "vc-dn"), CF_OK);
	assert_int_equal(resolve(x, true, &p), CF_E_AUTH);
	assert_int_equal(handshake(crt, key, sess, NULL), -1);
	assert_int_equal(handshake(crt, key, NULL, NULL), -1);
	/* the same name can be used again (a new CSR from the same vCenter) */
	EVP_PKEY *k2 = tu_key_ec();
	char *pem2 = csr_pem(k2, "vc-dn", false);
	PASTE = pem2;
	assert_int_equal(run("client sign-csr", "vc-dn"), CF_OK);
	X509 *x2 = out_cert();
	assert_int_equal(resolve(x2, true, &p), CF_OK);
	F->cfg->n_clients--;
	assert_int_equal(resolve(x2, true, &p), CF_OK);
	assert_string_equal(p.tenant, "vc-dn");
	/* store DN fallback: a CA-chained certificate the store does not know, same DN as the
	 * active row, maps; never to a revoked or trusted row */
	SSL_SESSION_free(sess);
	X509_free(x);
	X509_free(x2);
	free(pem);
	free(pem2);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

static void test_trust_snapshot(void **state)
{
	(void)state;
	uint8_t a[3][TLS_FP_LEN], r[1][TLS_FP_LEN], x[TLS_FP_LEN];
	size_t nt, nr;

	memset(a, 0, sizeof a);
	a[0][0] = 3;
	a[1][0] = 1;
	a[2][0] = 3; /* duplicate */
	memset(r, 0, sizeof r);
	r[0][0] = 9;
	assert_int_equal(tls_trust_replace(TR, (const uint8_t (*)[TLS_FP_LEN])a, 3,
					   (const uint8_t (*)[TLS_FP_LEN])r, 1), CF_OK);
	tls_trust_counts(TR, &nt, &nr);
	assert_int_equal(nt, 2);
	assert_int_equal(nr, 1);
	memset(x, 0, sizeof x);
	x[0] = 1;
	assert_true(tls_trust_is_trusted(TR, x));
	x[0] = 2;
	assert_false(tls_trust_is_trusted(TR, x));
	x[0] = 9;
	assert_true(tls_trust_is_revoked(TR, x));
	assert_false(tls_trust_is_trusted(TR, x));
	assert_int_equal(tls_trust_replace(TR, NULL, TLS_TRUST_MAX + 1, NULL, 0), CF_E_INVALID_ARG);
	tls_trust_counts(TR, &nt, &nr);
	assert_int_equal(nt, 2); /* unchanged */
	/* back to the store's view */
	assert_int_equal(authz_trust_reload(F->svc.authz, F->con.st), CF_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trust_snapshot),
		cmocka_unit_test(test_cert_show),
		cmocka_unit_test(test_sign_csr),
		cmocka_unit_test(test_sign_csr_bad),
		cmocka_unit_test(test_issue),
		cmocka_unit_test(test_client_allow),
		cmocka_unit_test(test_trust_and_revoke),
		cmocka_unit_test(test_trust_refusals),
		cmocka_unit_test(test_revoke_signed),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
