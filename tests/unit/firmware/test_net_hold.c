/* firmware/net/net.c held responses (net.h "Held responses", the group commit's side in the
 * network layer), over real mutual TLS on 127.0.0.1 with one worker:
 *   - a response held on a ticket is not sent before the ticket is durable, and is sent once
 *     it is and the wake fd fires;
 *   - NET_HOLD_FLUSH: the handler's flush runs at the end of the loop turn, and the response
 *     waits for the ticket the flush returned;
 *   - while one connection's response is held, the worker serves another connection;
 *   - a ticket that fails closes the connection without the response, or, when the handler
 *     gives one (hold_ops->failed), sends its failure answer instead;
 *   - net_server_stalled names a worker stuck in a call, and no worker otherwise;
 *   - a response never released is closed by the read timeout (counted as a timeout);
 *   - NET_HOLD_DEFER: the request is handed back to the handler at the end of the loop turn
 *     (run_deferred), before the flush, and its answer then waits like any other;
 *   - NET_HOLD_COMMIT: the answer goes out once the flush returned, without waiting for the
 *     ticket to be durable. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/ssl.h>

#include "board/log.h"
#include "firmware/net/net.h"
#include "firmware/net/tls.h"
#include "tls_testutil.h"

static char dir[64];
static char ca[128], srv_crt[128], srv_key[128], cli_crt[128], cli_key[128];

/* the fake commit machinery the handler's hold_ops report */
static _Atomic uint64_t durable_upto, next_ticket, fail_ticket = 0;
static atomic_int flush_calls;
static atomic_int defer_calls, run_calls, runs_at_flush; /* NET_HOLD_DEFER */
static int wake_fd = -1;

static cf_err h_flush(void *warg, uint64_t *ticket)
{
	(void)warg;
	atomic_fetch_add(&flush_calls, 1);
	atomic_store(&runs_at_flush, atomic_load(&run_calls));
	*ticket = atomic_fetch_add(&next_ticket, 1) + 1;
	return CF_OK;
}

static int h_state(void *warg, uint64_t t)
{
	(void)warg;
	if (t == atomic_load(&fail_ticket))
		return -1;
	return t <= atomic_load(&durable_upto) ? 1 : 0;
}

static int h_wake_fd(void *warg)
{
	(void)warg;
	return wake_fd;
}

static const struct net_hold_ops hold_ops = { h_flush, h_state, h_wake_fd, NULL };

/* the failure answer: the held message with its command byte turned into 'Z' */
static cf_err h_failed(void *warg, const uint8_t *held, size_t n, uint8_t *out, size_t cap,
		       size_t *out_len)
{
	(void)warg;
	if (n > cap || n < 9)
		return CF_E_NO_SPACE;
	memcpy(out, held, n);
	out[8] = 'Z';
	*out_len = n;
	return CF_OK;
}

static const struct net_hold_ops hold_ops_failed = { h_flush, h_state, h_wake_fd, h_failed };

/* body[0]: 'N' answer now, 'T' hold on a new ticket, 'F' hold for the flush, 'X' hold on the
 * failing ticket, 'Y' the same with a failure answer, 'C' hold for the flush's commit only,
 * 'D' defer, then hold for the flush, 'd' defer, then answer at once, 'S' sleep 3 s (a
 * worker stuck in a call), then answer */
static cf_err h_handle(void *arg, struct net_conn_info *ci, const uint8_t *req, size_t n,
		       uint8_t *resp, size_t cap, size_t *resp_len)
{
	(void)arg;
	if (n > cap || n < 9 || !ci->can_hold)
		return CF_E_INVALID_ARG;
	if ((req[8] == 'D' || req[8] == 'd') && !ci->run_deferred) {
		atomic_fetch_add(&defer_calls, 1);
		*resp_len = 0;
		ci->hold = NET_HOLD_DEFER;
		ci->hold_ops = &hold_ops;
		return CF_OK;
	}
	if (ci->run_deferred)
		atomic_fetch_add(&run_calls, 1);
	memcpy(resp, req, n);
	*resp_len = n;
	switch (req[8]) {
	case 'T':
		ci->hold = atomic_fetch_add(&next_ticket, 1) + 1;
		break;
	case 'F':
	case 'D':
		ci->hold = NET_HOLD_FLUSH;
		break;
	case 'C':
		ci->hold = NET_HOLD_COMMIT;
		break;
	case 'X':
	case 'Y':
		ci->hold = atomic_fetch_add(&next_ticket, 1) + 1;
		atomic_store(&fail_ticket, ci->hold);
		ci->hold_ops = req[8] == 'Y' ? &hold_ops_failed : &hold_ops;
		return CF_OK;
	case 'S':
		usleep(3000000);
		return CF_OK;
	default:
		return CF_OK;
	}
	ci->hold_ops = &hold_ops;
	return CF_OK;
}

static void release(uint64_t upto)
{
	atomic_store(&durable_upto, upto);
	uint64_t one = 1;
	assert_int_equal(write(wake_fd, &one, sizeof one), (ssize_t)sizeof one);
}

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	static const struct log_sink sink = { .fn = NULL, .level = LOG_LVL_ERR };
	log_set_sink(&sink);
	if (tu_dir_new(dir) != 0)
		return -1;
	snprintf(ca, sizeof ca, "%s/ca.crt", dir);
	snprintf(srv_crt, sizeof srv_crt, "%s/srv.crt", dir);
	snprintf(srv_key, sizeof srv_key, "%s/srv.key", dir);
	snprintf(cli_crt, sizeof cli_crt, "%s/cli.crt", dir);
	snprintf(cli_key, sizeof cli_key, "%s/cli.key", dir);
	const long day = 86400;
	EVP_PKEY *cak = tu_key_ec(), *sk = tu_key_ec(), *ck = tu_key_ec();
	X509 *cax = tu_cert(cak, "Hold Test CA", NULL, NULL, -day, day, TU_CA);
	X509 *sx = tu_cert(sk, "kmip.test", cax, cak, -day, day, TU_SERVER | TU_CLIENT);
	X509 *cx = tu_cert(ck, "client", cax, cak, -day, day, TU_CLIENT);
	int rc = cax && sx && cx ? 0 : -1;
	rc |= tu_write_cert(ca, cax) | tu_write_cert(srv_crt, sx) | tu_write_key(srv_key, sk);
	rc |= tu_write_cert(cli_crt, cx) | tu_write_key(cli_key, ck);
	X509_free(cax);
	X509_free(sx);
	X509_free(cx);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(ck);
	wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return rc == 0 && wake_fd >= 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	tu_dir_rm(dir);
	close(wake_fd);
	return 0;
}

struct srv {
	struct tls_ctx *tls;
	struct net_server *ns;
	uint16_t port;
	SSL_CTX *cctx;
};

static void srv_start(struct srv *s, unsigned read_timeout_ms)
{
	memset(s, 0, sizeof *s);
	struct tls_config tc = { .cert_file = srv_crt, .key_file = srv_key, .ca_file = ca };
	assert_int_equal(tls_ctx_new(&tc, &s->tls), CF_OK);
	struct net_handler h = { .handle = h_handle };
	struct net_config nc = { .address = "127.0.0.1", .workers = 1,
				 .handshake_timeout_ms = 2000, .read_timeout_ms = read_timeout_ms,
				 .idle_timeout_ms = 10000 };
	assert_int_equal(net_server_new(&nc, s->tls, &h, &s->ns), CF_OK);
	s->port = net_server_port(s->ns);
	assert_int_equal(net_server_start(s->ns), CF_OK);
	s->cctx = tu_client_ctx(cli_crt, cli_key, 0, 0, NULL, ca);
	assert_non_null(s->cctx);
}

static void srv_stop(struct srv *s)
{
	SSL_CTX_free(s->cctx);
	net_server_free(s->ns);
	tls_ctx_free(s->tls);
}

/* a request whose body starts with cmd (body 16 bytes) */
static size_t req(uint8_t *buf, char cmd)
{
	size_t n = tu_msg(buf, 16, (uint32_t)cmd);
	buf[8] = (uint8_t)cmd;
	return n;
}

struct client {
	SSL *ssl;
	char cmd;
	int rc;            /* 0 = echoed back */
	_Atomic uint64_t t_done; /* when the answer (or the failure) came */
	pthread_t th;
};

static void *client_main(void *p)
{
	struct client *c = p;
	uint8_t out[64], in[64], want[64];
	size_t n = req(out, c->cmd);
	c->rc = -1;
	memcpy(want, out, n);
	if (c->cmd == 'Y')
		want[8] = 'Z'; /* what must come back: the failure answer */
	if (tu_ssl_write_all(c->ssl, out, n) == 0 && tu_ssl_read_all(c->ssl, in, n) == 0 &&
	    memcmp(in, want, n) == 0)
		c->rc = 0;
	c->t_done = tu_now_ms();
	return NULL;
}

static void client_go(struct srv *s, struct client *c, char cmd)
{
	memset(c, 0, sizeof *c);
	c->cmd = cmd;
	c->ssl = tu_tls_connect(s->cctx, s->port);
	assert_non_null(c->ssl);
	assert_int_equal(pthread_create(&c->th, NULL, client_main, c), 0);
}

static void client_end(struct client *c)
{
	pthread_join(c->th, NULL);
	tu_tls_close(c->ssl);
}

static void t_held_until_durable(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, 5000);
	atomic_store(&durable_upto, atomic_load(&next_ticket));
	uint64_t base = atomic_load(&next_ticket);
	struct client a, b;
	client_go(&s, &a, 'T');
	usleep(250000);
	/* meanwhile another connection is served at once by the same (only) worker */
	client_go(&s, &b, 'N');
	client_end(&b);
	assert_int_equal(b.rc, 0);
	assert_int_equal(a.t_done, 0); /* still held */
	uint64_t t_rel = tu_now_ms();
	release(base + 1);
	client_end(&a);
	assert_int_equal(a.rc, 0);
	assert_true(a.t_done >= t_rel);
	srv_stop(&s);
}

static void t_flush_ticket(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, 5000);
	atomic_store(&durable_upto, atomic_load(&next_ticket));
	int f0 = atomic_load(&flush_calls);
	uint64_t base = atomic_load(&next_ticket);
	struct client a;
	client_go(&s, &a, 'F');
	usleep(250000);
	assert_int_equal(atomic_load(&flush_calls), f0 + 1); /* flushed at the end of the turn */
	assert_int_equal(a.t_done, 0);                       /* waiting for its ticket */
	uint64_t t_rel = tu_now_ms();
	release(base + 1); /* the ticket the flush returned */
	client_end(&a);
	assert_int_equal(a.rc, 0);
	assert_true(a.t_done >= t_rel);
	srv_stop(&s);
}

static void t_failed_ticket_closes(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, 5000);
	struct client a;
	client_go(&s, &a, 'X');
	usleep(100000);
	release(atomic_load(&durable_upto)); /* a wake-up: the worker looks and sees the failure */
	client_end(&a);
	assert_int_equal(a.rc, -1); /* no answer: closed */
	atomic_store(&fail_ticket, 0);
	struct net_stats st;
	net_server_stats(s.ns, &st);
	assert_int_equal(st.open, 0);
	srv_stop(&s);
}

static void t_failed_ticket_answers(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, 5000);
	struct client a;
	client_go(&s, &a, 'Y');
	usleep(100000);
	release(atomic_load(&durable_upto));
	client_end(&a);
	assert_int_equal(a.rc, 0); /* the failure answer ('Z'), not the held one, not closed */
	atomic_store(&fail_ticket, 0);
	srv_stop(&s);
}

static void t_stalled_worker(void **state)
{
	(void)state;
	struct srv s;
	uint64_t age = 1;
	srv_start(&s, 5000);
	assert_int_equal(net_server_stalled(s.ns, 500, &age), 0u);
	assert_int_equal(age, 0u);
	struct client a;
	client_go(&s, &a, 'S');
	/* (the handshake runs on the worker first: poll until the handler has held it 500 ms) */
	unsigned who = 0;
	for (int i = 0; i < 300 && a.t_done == 0 && who == 0; i++) {
		usleep(10000);
		who = net_server_stalled(s.ns, 500, &age);
	}
	assert_int_equal(who, 1u); /* worker 0, stuck */
	assert_true(age > 500);
	client_end(&a);
	assert_int_equal(a.rc, 0);
	usleep(100000);
	assert_int_equal(net_server_stalled(s.ns, 500, &age), 0u); /* moving again */
	srv_stop(&s);
}

static void t_never_released_times_out(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, 300);
	atomic_store(&durable_upto, atomic_load(&next_ticket));
	struct client a;
	uint64_t t0 = tu_now_ms();
	client_go(&s, &a, 'T');
	client_end(&a);
	assert_int_equal(a.rc, -1);
	assert_true(a.t_done - t0 >= 250);
	struct net_stats st;
	net_server_stats(s.ns, &st);
	assert_true(st.timeouts >= 1);
	srv_stop(&s);
}

static void t_deferred(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, 5000);
	atomic_store(&durable_upto, atomic_load(&next_ticket));
	int d0 = atomic_load(&defer_calls), r0 = atomic_load(&run_calls);
	int f0 = atomic_load(&flush_calls);
	uint64_t base = atomic_load(&next_ticket);
	struct client a, b;
	client_go(&s, &a, 'D');
	usleep(250000);
	assert_int_equal(atomic_load(&defer_calls), d0 + 1); /* first call: deferred */
	assert_int_equal(atomic_load(&run_calls), r0 + 1);   /* run at the end of the same turn */
	assert_int_equal(atomic_load(&flush_calls), f0 + 1); /* then flushed ... */
	assert_int_equal(atomic_load(&runs_at_flush), r0 + 1); /* ... after the run */
	assert_int_equal(a.t_done, 0);                       /* waiting for the flush's ticket */
	uint64_t t_rel = tu_now_ms();
	release(base + 1);
	client_end(&a);
	assert_int_equal(a.rc, 0);
	assert_true(a.t_done >= t_rel);
	/* answered at once by its run: still flushed (the handler's batch may be open), sent
	 * without a ticket */
	client_go(&s, &b, 'd');
	client_end(&b);
	assert_int_equal(b.rc, 0);
	assert_int_equal(atomic_load(&run_calls), r0 + 2);
	/* the answer went out before the flush that ends the turn: wait for that flush */
	for (int i = 0; i < 500 && atomic_load(&flush_calls) < f0 + 2; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&flush_calls), f0 + 2);
	srv_stop(&s);
}

static void t_commit_only(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, 5000);
	atomic_store(&durable_upto, atomic_load(&next_ticket));
	uint64_t durable0 = atomic_load(&durable_upto);
	int f0 = atomic_load(&flush_calls);
	struct client a;
	client_go(&s, &a, 'C');
	client_end(&a); /* answered with nothing made durable */
	assert_int_equal(a.rc, 0);
	assert_int_equal(atomic_load(&flush_calls), f0 + 1);
	assert_true(atomic_load(&next_ticket) > durable0);   /* the flush's ticket ... */
	assert_int_equal(atomic_load(&durable_upto), durable0); /* ... was never durable */
	srv_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_held_until_durable),
		cmocka_unit_test(t_flush_ticket),
		cmocka_unit_test(t_failed_ticket_closes),
		cmocka_unit_test(t_failed_ticket_answers),
		cmocka_unit_test(t_stalled_worker),
		cmocka_unit_test(t_never_released_times_out),
		cmocka_unit_test(t_deferred),
		cmocka_unit_test(t_commit_only),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
