/* tls.c's handshake cost savings (docs/tls.md "Verification cache", "Session
 * tickets"): the client chain verification cache must never accept what a full verification
 * would refuse (revoked, unpinned, expired, trust reloaded), session tickets go only to clients
 * that ask for them (and resumption still works for those), and the server chain built once
 * is the one OpenSSL would send. Handshakes run in memory (BIO pairs), no network. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "firmware/net/identity.h"
#include "firmware/net/tls.h"
#include "tls_testutil.h"

static struct {
	char dir[64];
	char ca[128], srv_crt[128], srv_key[128];
	char cli_crt[128], cli_key[128];   /* chains to the CA */
	char self_crt[128], self_key[128]; /* self-signed */
	char short_crt[128];               /* chains to the CA, expires 2 s after setup */
	X509 *cli_x, *self_x;
	struct tls_trust *trust;           /* the run-time trust every server context reads */
} P;

static int write_pair(const char *crt, const char *key, X509 *x, EVP_PKEY *k)
{
	return (crt != NULL && tu_write_cert(crt, x) != 0) ||
	       (key != NULL && tu_write_key(key, k) != 0);
}

static int setup(void **state)
{
	(void)state;
	if (tu_dir_new(P.dir) != 0 || tls_trust_new(&P.trust) != CF_OK)
		return -1;
	snprintf(P.ca, sizeof P.ca, "%s/ca.crt", P.dir);
	snprintf(P.srv_crt, sizeof P.srv_crt, "%s/srv.crt", P.dir);
	snprintf(P.srv_key, sizeof P.srv_key, "%s/srv.key", P.dir);
	snprintf(P.cli_crt, sizeof P.cli_crt, "%s/cli.crt", P.dir);
	snprintf(P.cli_key, sizeof P.cli_key, "%s/cli.key", P.dir);
	snprintf(P.self_crt, sizeof P.self_crt, "%s/self.crt", P.dir);
	snprintf(P.self_key, sizeof P.self_key, "%s/self.key", P.dir);
	snprintf(P.short_crt, sizeof P.short_crt, "%s/short.crt", P.dir);
	EVP_PKEY *ca_k = tu_key_ec(), *srv_k = tu_key_ec(), *cli_k = tu_key_ec();
	EVP_PKEY *self_k = tu_key_ec();
	if (ca_k == NULL || srv_k == NULL || cli_k == NULL || self_k == NULL)
		return -1;
	X509 *ca = tu_cert(ca_k, "Test CA", NULL, NULL, -100, 86400, TU_CA);
	X509 *srv = tu_cert(srv_k, "kmip.test", ca, ca_k, -100, 86400, TU_SERVER);
	P.cli_x = tu_cert(cli_k, "vcenter", ca, ca_k, -100, 86400, TU_CLIENT);
	P.self_x = tu_cert(self_k, "pinned", NULL, NULL, -100, 86400, TU_CLIENT);
	X509 *shrt = tu_cert(cli_k, "vcenter-short", ca, ca_k, -100, 2, TU_CLIENT);
	if (ca == NULL || srv == NULL || P.cli_x == NULL || P.self_x == NULL || shrt == NULL)
		return -1;
	if (write_pair(P.ca, NULL, ca, NULL) || write_pair(P.srv_crt, P.srv_key, srv, srv_k) ||
	    write_pair(P.cli_crt, P.cli_key, P.cli_x, cli_k) ||
	    write_pair(P.self_crt, P.self_key, P.self_x, self_k) ||
	    write_pair(P.short_crt, NULL, shrt, NULL))
		return -1;
	X509_free(ca);
	X509_free(srv);
	X509_free(shrt);
	EVP_PKEY_free(ca_k);
	EVP_PKEY_free(srv_k);
	EVP_PKEY_free(cli_k);
	EVP_PKEY_free(self_k);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	X509_free(P.cli_x);
	X509_free(P.self_x);
	tls_trust_free(P.trust);
	tu_dir_rm(P.dir);
	return 0;
}

/* every test starts and ends with an empty run-time trust snapshot */
static int trust_empty(void **state)
{
	(void)state;
	return tls_trust_replace(P.trust, NULL, 0, NULL, 0) == CF_OK ? 0 : -1;
}

static void fp_of(X509 *x, uint8_t fp[TLS_FP_LEN])
{
	unsigned int n = 0;
	assert_int_equal(X509_digest(x, EVP_sha256(), fp, &n), 1);
	assert_int_equal(n, TLS_FP_LEN);
}

static struct tls_ctx *server(const char *pin_hex)
{
	const char *pins[1] = { pin_hex };
	struct tls_config tc = { .cert_file = P.srv_crt, .key_file = P.srv_key, .ca_file = P.ca,
				 .pinned = pins, .n_pinned = pin_hex != NULL ? 1 : 0,
				 .trust = P.trust };
	struct tls_ctx *t = NULL;
	assert_int_equal(tls_ctx_new(&tc, &t), CF_OK);
	return t;
}

struct hs {
	bool ok;           /* the server completed the handshake */
	long verify;       /* the server's SSL_get_verify_result */
	bool chain_ok;     /* identity_from_ssl on the server */
	bool resumed;      /* the server resumed a session */
	bool got_ticket;   /* the client received a session ticket */
	int peer_chain;    /* certificates the server sent */
	SSL_SESSION *sess; /* with tickets: the client's session (caller frees) */
};

/* One in-memory handshake of a client (cert/key, tickets asked for or not, optional session
 * to resume) with the server context t; then the client reads what the server sent after the
 * handshake (a TLS 1.3 ticket). */
static struct hs handshake_opt(struct tls_ctx *t, const char *crt, const char *key, bool tickets,
			       SSL_SESSION *resume, bool keep)
{
	struct hs r = { .verify = -1 };
	SSL_CTX *cc = tu_client_ctx(crt, key, 0, 0, NULL, P.ca);
	assert_non_null(cc);
	if (!tickets)
		SSL_CTX_set_options(cc, SSL_OP_NO_TICKET);
	SSL *s = SSL_new(tls_ctx_ssl(t)), *c = SSL_new(cc);
	assert_non_null(s);
	assert_non_null(c);
	r.ok = tu_pair_handshake(c, s, resume) == 1;
	r.verify = SSL_get_verify_result(s);
	if (r.ok) {
		struct identity id;
		assert_int_equal(identity_from_ssl(s, &id), CF_OK);
		r.chain_ok = id.chain_ok;
		r.resumed = SSL_session_reused(s) == 1;
		STACK_OF(X509) *pc = SSL_get_peer_cert_chain(c);
		r.peer_chain = pc != NULL ? sk_X509_num(pc) : 0;
		char b[16];
		/* reads a NewSessionTicket, if any (no application data follows) */
		assert_true(SSL_read(c, b, sizeof b) <= 0);
		r.sess = SSL_get1_session(c);
		r.got_ticket = r.sess != NULL && SSL_SESSION_has_ticket(r.sess) == 1;
		if (!keep) { /* only the ticket tests keep the session */
			SSL_SESSION_free(r.sess);
			r.sess = NULL;
		}
	}
	if (r.ok) { /* a session of a connection freed without close_notify is not resumable */
		(void)SSL_shutdown(c);
		(void)SSL_shutdown(s);
	}
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(cc);
	ERR_clear_error();
	return r;
}

static struct hs handshake(struct tls_ctx *t, const char *crt, const char *key, bool tickets,
			   SSL_SESSION *resume)
{
	return handshake_opt(t, crt, key, tickets, resume, tickets);
}

/* no "session_ticket" extension (SSL_OP_NO_TICKET), resuming resume; keeps the session */
static struct hs handshake_keep(struct tls_ctx *t, const char *crt, const char *key,
				SSL_SESSION *resume)
{
	return handshake_opt(t, crt, key, false, resume, true);
}

static void stats(struct tls_ctx *t, uint64_t *h, uint64_t *m)
{
	tls_ctx_vcache_stats(t, h, m);
}

/* A handshake that completed with the client chain verified (fresh or from the cache). */
static void expect_verified(const struct hs *x)
{
	assert_true(x->ok);
	assert_int_equal(x->verify, X509_V_OK);
	assert_true(x->chain_ok);
}

/* A chained client: the second handshake is served from the cache with the same verdict; a
 * revoke refuses the very next handshake although the cache is warm. */
static void test_cache_hit_then_revoked(void **state)
{
	(void)state;
	struct tls_ctx *t = server(NULL);
	uint64_t h, m;
	struct hs a = handshake(t, P.cli_crt, P.cli_key, false, NULL);
	expect_verified(&a);
	stats(t, &h, &m);
	assert_int_equal(h, 0);
	assert_int_equal(m, 1);
	struct hs b = handshake(t, P.cli_crt, P.cli_key, false, NULL);
	expect_verified(&b);
	stats(t, &h, &m);
	assert_int_equal(h, 1);

	uint8_t fp[TLS_FP_LEN];
	fp_of(P.cli_x, fp);
	assert_int_equal(tls_trust_replace(P.trust,
					   NULL, 0, (const uint8_t (*)[TLS_FP_LEN])fp, 1), CF_OK);
	struct hs c = handshake(t, P.cli_crt, P.cli_key, false, NULL);
	assert_false(c.ok);
	assert_int_equal(c.verify, X509_V_ERR_CERT_REVOKED);
	stats(t, &h, &m);
	assert_int_equal(h, 1); /* the revoke dropped the entry: verified in full, refused */
	/* and it stays refused (a refusal is never cached as a success) */
	assert_false(handshake(t, P.cli_crt, P.cli_key, false, NULL).ok);
	/* un-revoked: accepted again, verified in full first */
	assert_int_equal(tls_trust_replace(P.trust, NULL, 0, NULL, 0), CF_OK);
	assert_true(handshake(t, P.cli_crt, P.cli_key, false, NULL).ok);
	tls_ctx_free(t);
}

/* Any trust reload (even to the same content) empties the cache. */
static void test_cache_dropped_on_reload(void **state)
{
	(void)state;
	struct tls_ctx *t = server(NULL);
	uint64_t h, m;
	assert_true(handshake(t, P.cli_crt, P.cli_key, false, NULL).ok);
	assert_true(handshake(t, P.cli_crt, P.cli_key, false, NULL).ok);
	stats(t, &h, &m);
	assert_int_equal(h, 1);
	assert_int_equal(m, 1);
	assert_int_equal(tls_trust_replace(P.trust, NULL, 0, NULL, 0), CF_OK);
	assert_true(handshake(t, P.cli_crt, P.cli_key, false, NULL).ok);
	stats(t, &h, &m);
	assert_int_equal(h, 1);
	assert_int_equal(m, 2);
	/* a new context (a CA reload) starts empty */
	struct tls_ctx *t2 = server(NULL);
	assert_true(handshake(t2, P.cli_crt, P.cli_key, false, NULL).ok);
	stats(t2, &h, &m);
	assert_int_equal(h, 0);
	assert_int_equal(m, 1);
	tls_ctx_free(t2);
	tls_ctx_free(t);
}

/* A self-signed certificate trusted at run time: cached with its "accepted by pin" verdict
 * (not chain_ok); untrusting it refuses the next handshake. Pinned in the config: the same. */
static void test_cache_pinned(void **state)
{
	(void)state;
	uint8_t fp[TLS_FP_LEN];
	uint64_t h, m;
	fp_of(P.self_x, fp);
	struct tls_ctx *t = server(NULL);
	/* not trusted: refused, twice (nothing cached) */
	assert_false(handshake(t, P.self_crt, P.self_key, false, NULL).ok);
	assert_false(handshake(t, P.self_crt, P.self_key, false, NULL).ok);
	assert_int_equal(tls_trust_replace(P.trust,
					   (const uint8_t (*)[TLS_FP_LEN])fp, 1, NULL, 0), CF_OK);
	for (int i = 0; i < 2; i++) {
		struct hs a = handshake(t, P.self_crt, P.self_key, false, NULL);
		assert_true(a.ok);
		assert_int_not_equal(a.verify, X509_V_OK);
		assert_false(a.chain_ok);
	}
	stats(t, &h, &m);
	assert_int_equal(h, 1);
	assert_int_equal(tls_trust_replace(P.trust, NULL, 0, NULL, 0), CF_OK);
	assert_false(handshake(t, P.self_crt, P.self_key, false, NULL).ok);
	tls_ctx_free(t);

	char hex[65];
	tu_fp_hex(P.self_x, hex);
	t = server(hex);
	assert_true(handshake(t, P.self_crt, P.self_key, false, NULL).ok);
	struct hs b = handshake(t, P.self_crt, P.self_key, false, NULL);
	assert_true(b.ok);
	assert_false(b.chain_ok);
	stats(t, &h, &m);
	assert_int_equal(h, 1);
	/* revoked beats the config pin, warm cache or not */
	assert_int_equal(tls_trust_replace(P.trust,
					   NULL, 0, (const uint8_t (*)[TLS_FP_LEN])fp, 1), CF_OK);
	assert_false(handshake(t, P.self_crt, P.self_key, false, NULL).ok);
	tls_ctx_free(t);
}

/* An entry never outlives the certificate: refused once it has expired. */
static void test_cache_expiry(void **state)
{
	(void)state;
	struct tls_ctx *t = server(NULL);
	assert_true(handshake(t, P.short_crt, P.cli_key, false, NULL).ok);
	assert_true(handshake(t, P.short_crt, P.cli_key, false, NULL).ok);
	uint64_t h, m;
	stats(t, &h, &m);
	assert_int_equal(h, 1);
	sleep(3);
	struct hs a = handshake(t, P.short_crt, P.cli_key, false, NULL);
	assert_false(a.ok);
	assert_int_equal(a.verify, X509_V_ERR_CERT_HAS_EXPIRED);
	stats(t, &h, &m);
	assert_int_equal(h, 1);
	tls_ctx_free(t);
}

/* Tickets: a client asking for them ("session_ticket") always gets one and resumes; a client
 * that offers psk_dhe_ke but not "session_ticket" gets one on the first two full handshakes of
 * its certificate, none after; one that uses it ("pre_shared_key") is renewed. */
static void test_tickets_only_when_asked(void **state)
{
	(void)state;
	struct tls_ctx *t = server(NULL);
	/* OpenSSL's client with SSL_OP_NO_TICKET: psk_key_exchange_modes, no session_ticket */
	for (int i = 0; i < 2; i++) {
		struct hs a = handshake(t, P.cli_crt, P.cli_key, false, NULL);
		assert_true(a.ok);
		assert_true(a.got_ticket);
	}
	for (int i = 0; i < 3; i++) {
		struct hs a = handshake(t, P.cli_crt, P.cli_key, false, NULL);
		assert_true(a.ok);
		assert_false(a.got_ticket);
	}
	/* a trust reload resets the count with the cache: at most two more */
	assert_int_equal(tls_trust_replace(P.trust, NULL, 0, NULL, 0), CF_OK);
	assert_true(handshake(t, P.cli_crt, P.cli_key, false, NULL).got_ticket);

	struct hs b = handshake(t, P.cli_crt, P.cli_key, true, NULL);
	assert_true(b.ok);
	assert_true(b.got_ticket);
	assert_false(b.resumed);
	struct hs c = handshake(t, P.cli_crt, P.cli_key, true, b.sess);
	assert_true(c.ok);
	assert_true(c.resumed);
	assert_true(c.chain_ok);
	assert_true(c.got_ticket); /* renewed */
	SSL_SESSION_free(b.sess);
	SSL_SESSION_free(c.sess);
	tls_ctx_free(t);
}

/* A client that never sends "session_ticket" but resumes with the ticket it got (JDK 11's
 * TLS 1.3 behaves so) keeps resuming, past the probe count. */
static void test_tickets_resumer_without_extension(void **state)
{
	(void)state;
	struct tls_ctx *t = server(NULL);
	for (int i = 0; i < 3; i++) /* use up the probe count of the certificate */
		assert_true(handshake(t, P.cli_crt, P.cli_key, false, NULL).ok);
	assert_false(handshake(t, P.cli_crt, P.cli_key, false, NULL).got_ticket);
	/* take a ticket from a fresh cache (new context), then resume with SSL_OP_NO_TICKET */
	tls_ctx_free(t);
	t = server(NULL);
	struct hs a = handshake(t, P.cli_crt, P.cli_key, true, NULL);
	assert_true(a.got_ticket);
	SSL_SESSION *sess = a.sess;
	for (int i = 0; i < 4; i++) {
		struct hs r = handshake_keep(t, P.cli_crt, P.cli_key, sess);
		assert_true(r.ok);
		assert_true(r.resumed);
		assert_true(r.got_ticket);
		SSL_SESSION_free(sess);
		sess = r.sess;
	}
	SSL_SESSION_free(sess);
	tls_ctx_free(t);
}

/* The server certificate file holds the leaf only: the server still sends leaf + CA, the
 * chain OpenSSL completed from the CA bundle on every handshake before. */
static void test_server_chain(void **state)
{
	(void)state;
	struct tls_ctx *t = server(NULL);
	struct hs a = handshake(t, P.cli_crt, P.cli_key, false, NULL);
	assert_true(a.ok);
	assert_int_equal(a.peer_chain, 2);
	tls_ctx_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, trust_empty, trust_empty)
		T(test_cache_hit_then_revoked),
		T(test_cache_dropped_on_reload),
		T(test_cache_pinned),
		T(test_cache_expiry),
		T(test_tickets_only_when_asked),
		T(test_tickets_resumer_without_extension),
		T(test_server_chain),
#undef T
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
