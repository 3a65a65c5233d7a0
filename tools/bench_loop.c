/* coffre-bench engine: one epoll loop per thread over its non-blocking TLS connections.
 *
 * Persistent ops (get, create, locate, get-attributes): every connection is opened and its
 * handshake done before the clock starts (barrier "ready"); then each connection loops
 * send request -> read whole response -> check -> send again. vcenter: each connection
 * slot loops connect -> full handshake (or resumed with --resume) -> Discover Versions ->
 * Get -> close; one op = one such cycle, its latency from connect() to the Get response.
 * One request is in flight per connection; requests are the pre-encoded bytes of
 * run->req / run->dv; the only allocations after set-up are OpenSSL's per connection.
 * idle: the --conns connections are opened before the clock and then left silent; thread 0
 * owns one more slot, the probe, which every BENCH_PROBE_GAP_NS opens a new connection,
 * handshakes, sends Discover Versions and closes; one op = one probe, timed from connect().
 * Before the clock at most BENCH_RAMP connections per thread are being set up at a time, so
 * a slow server is not asked for a thousand handshakes at once (each would time out). */
#include "tools/bench.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>

enum conn_state {
	CONN_OFF,          /* no socket */
	CONN_CONNECT,      /* TCP connect in progress */
	CONN_HANDSHAKE,
	CONN_IDLE,         /* connected, nothing in flight (before the start) */
	CONN_WRITE,        /* request being written */
	CONN_READ,         /* response being read */
	CONN_DEAD,         /* failed (persistent ops are not reopened) */
};

struct conn {
	int fd;
	SSL *ssl;
	enum conn_state st;
	bool reg;                    /* fd registered with the thread's epoll */
	uint32_t events;             /* current epoll interest */
	const struct bench_msg *msg; /* request in flight */
	uint64_t t_req;              /* request start (ns) */
	uint64_t t_cycle;            /* vcenter: connect() time */
	uint64_t t_state;            /* connect / handshake start, for the timeout */
	uint8_t *rbuf;
	size_t rcap, rhave, rneed;
	SSL_SESSION *sess;           /* vcenter --resume: last session of this slot */
};

struct loop {
	struct bench_thread *th;
	struct bench_run *run;
	const struct bench_cfg *cfg;
	int ep;
	struct conn *c;
	unsigned n;
	bool vcenter;
	bool idle;
	struct conn *probe;          /* idle, thread 0: the new client */
	uint64_t next_probe;         /* earliest time the next probe may start */
	struct kmip_limits lim;
	struct kmip_arena arena;
	uint8_t *arena_buf;
	uint64_t timeout_ns;
};

#define BENCH_RBUF_INIT 16384u
#define BENCH_ARENA_CAP (4u << 20)
#define BENCH_RAMP 32u
#define BENCH_PROBE_GAP_NS 20000000u

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_run_stop(struct bench_run *run)
{
	uint64_t zero = 0;
	(void)atomic_compare_exchange_strong(&run->stop_ns, &zero, bench_now_ns());
	atomic_store(&run->stop, true);
}

void bench_run_error(struct bench_run *run, struct bench_thread *th, const char *fmt, ...)
{
	th->errors++;
	uint64_t total = atomic_fetch_add(&run->errors, 1) + 1;
	if (pthread_mutex_lock(&run->err_mu) == 0) {
		if (run->first_err[0] == '\0') {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(run->first_err, sizeof run->first_err, fmt, ap);
			va_end(ap);
		}
		(void)pthread_mutex_unlock(&run->err_mu);
	}
	if (run->cfg->max_errors > 0 && total >= run->cfg->max_errors)
		bench_run_stop(run);
}

static void conn_want(struct loop *l, struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (c->reg && c->events == ev)
		return;
	if (epoll_ctl(l->ep, c->reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e) == 0) {
		c->reg = true;
		c->events = ev;
	}
}

static void conn_close(struct loop *l, struct conn *c, bool graceful)
{
	if (c->ssl != NULL) {
		if (graceful)
			(void)SSL_shutdown(c->ssl);   /* close_notify; we do not wait for the peer's */
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		if (c->reg)
			(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->reg = false;
	c->events = 0;
	c->st = CONN_OFF;
	ERR_clear_error();
}

/* A failed connection: count it; persistent ones stay dead, vcenter slots start over. */
static void conn_fail(struct loop *l, struct conn *c, const char *what)
{
	bench_run_error(l->run, l->th, "connection to %s:%s: %s", l->cfg->host, l->cfg->port, what);
	conn_close(l, c, false);
	c->st = CONN_DEAD;
}

static void conn_open(struct loop *l, struct conn *c)
{
	int one = 1;
	uint64_t now = bench_now_ns();

	c->fd = socket(l->run->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		c->st = CONN_OFF;
		conn_fail(l, c, strerror(errno));
		return;
	}
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->t_cycle = now;
	c->t_state = now;
	c->st = CONN_CONNECT;
	if (connect(c->fd, (const struct sockaddr *)&l->run->sa, l->run->salen) != 0 &&
	    errno != EINPROGRESS) {
		char m[128];
		snprintf(m, sizeof m, "connect: %s", strerror(errno));
		conn_fail(l, c, m);
		return;
	}
	conn_want(l, c, EPOLLOUT);
}

static void conn_send(struct conn *c, const struct bench_msg *m, uint64_t now)
{
	c->msg = m;
	c->t_req = now;
	c->st = CONN_WRITE;
}

/* A whole response is in c->rbuf: check it, count it, pick the next step. */
static void conn_complete(struct loop *l, struct conn *c)
{
	struct bench_rsp_info info;
	struct bench_run *run = l->run;
	uint64_t now = bench_now_ns();
	cf_err rc = bench_rsp_check(c->rbuf, c->rhave, c->msg->op, &l->arena, &info);
	bool is_dv = l->vcenter && c->msg == &run->dv;

	if (rc != CF_OK) {
		char d[384];
		bench_rsp_describe(rc, c->msg->op, &info, d, sizeof d);
		bench_run_error(run, l->th, "%s", d);
	}
	if (is_dv && rc == CF_OK) {
		conn_send(c, &run->req, now);
		return;
	}
	if (rc == CF_OK) {
		uint64_t t0 = atomic_load(&run->t0), t_end = atomic_load(&run->t_end);
		uint64_t start = l->vcenter || c == l->probe ? c->t_cycle : c->t_req;
		if (now >= t0 && now < t_end) {
			bool count = true;
			if (l->cfg->requests > 0)
				count = atomic_fetch_add(&run->done, 1) < l->cfg->requests;
			if (count) {
				l->th->ops++;
				bench_hist_add(&l->th->hist, now - start);
			}
			if (l->cfg->requests > 0 && atomic_load(&run->done) >= l->cfg->requests)
				bench_run_stop(run);
		}
	}
	if (c == l->probe) {
		conn_close(l, c, true);    /* the main loop opens the next one */
		return;
	}
	if (l->vcenter) {
		if (l->cfg->resume && c->ssl != NULL && rc == CF_OK) {
			SSL_SESSION *s = SSL_get1_session(c->ssl);
			if (s != NULL) {
				SSL_SESSION_free(c->sess);
				c->sess = s;
			}
		}
		conn_close(l, c, true);
		if (!atomic_load(&run->stop))
			conn_open(l, c);
		return;
	}
	conn_send(c, &run->req, now);
}

/* An SSL call returned r <= 0: wait for the socket it wants, or fail the connection with
 * "<what>: <TLS error>". */
static void conn_tls_wait(struct loop *l, struct conn *c, int r, const char *what)
{
	char t[384], m[448];

	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		conn_want(l, c, EPOLLIN);
		return;
	case SSL_ERROR_WANT_WRITE:
		conn_want(l, c, EPOLLOUT);
		return;
	default:
		bench_tls_error(c->ssl, r, t, sizeof t);
		snprintf(m, sizeof m, "%s: %s", what, t);
		conn_fail(l, c, m);
		return;
	}
}

/* The steps of conn_drive, one per state: true = run the state machine again, false = wait
 * for the socket (or the connection is closed or failed). */
static bool step_connect(struct loop *l, struct conn *c)
{
	char m[448];
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return false;
	if (err != 0) {
		snprintf(m, sizeof m, "connect: %s", strerror(err));
		conn_fail(l, c, m);
		return false;
	}
	c->ssl = SSL_new(l->run->ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		conn_fail(l, c, "SSL_new failed");
		return false;
	}
	if (l->cfg->resume && c->sess != NULL)
		(void)SSL_set_session(c->ssl, c->sess);
	c->st = CONN_HANDSHAKE;
	c->t_state = bench_now_ns();
	return true;
}

static bool step_handshake(struct loop *l, struct conn *c)
{
	ERR_clear_error();
	int r = SSL_connect(c->ssl);
	if (r != 1) {
		conn_tls_wait(l, c, r, "TLS handshake failed");
		return false;
	}
	l->th->handshakes++;
	if (SSL_session_reused(c->ssl))
		l->th->resumed++;
	if (l->vcenter)
		conn_send(c, &l->run->dv, bench_now_ns());
	else if (c == l->probe)
		conn_send(c, &l->run->req, bench_now_ns());
	else
		c->st = CONN_IDLE;
	return true;
}

static bool step_write(struct loop *l, struct conn *c)
{
	ERR_clear_error();
	int r = SSL_write(c->ssl, c->msg->p, (int)c->msg->n);
	if (r <= 0) {
		conn_tls_wait(l, c, r, "send");
		return false;
	}
	c->st = CONN_READ;
	c->rhave = 0;
	c->rneed = TTLV_HDR_LEN;
	return true;
}

/* The response header is in c->rbuf: set c->rneed to the whole message, growing c->rbuf
 * if needed. false when the connection failed. */
static bool conn_frame(struct loop *l, struct conn *c)
{
	char m[448];
	size_t total = 0;
	cf_err rc = ttlv_msg_len(c->rbuf, TTLV_HDR_LEN, KMIP_TAG_RESPONSE_MESSAGE, &l->lim, &total);

	if (rc != CF_OK) {
		snprintf(m, sizeof m, "response framing: %s", cf_err_str(rc));
		conn_fail(l, c, m);
		return false;
	}
	if (total > c->rcap) {   /* rare: a big Locate answer */
		uint8_t *nb = realloc(c->rbuf, total);
		if (nb == NULL) {
			conn_fail(l, c, "out of memory");
			return false;
		}
		c->rbuf = nb;
		c->rcap = total;
	}
	c->rneed = total;
	return true;
}

static bool step_read(struct loop *l, struct conn *c)
{
	size_t want = c->rneed - c->rhave;

	ERR_clear_error();
	int r = SSL_read(c->ssl, c->rbuf + c->rhave, want > INT32_MAX ? INT32_MAX : (int)want);
	if (r <= 0) {
		conn_tls_wait(l, c, r, "receive");
		return false;
	}
	c->rhave += (size_t)r;
	if (c->rhave < c->rneed)
		return true;
	if (c->rneed == TTLV_HDR_LEN) {
		if (!conn_frame(l, c))
			return false;
		if (c->rhave < c->rneed)
			return true;
	}
	conn_complete(l, c);
	if (c->st == CONN_OFF || c->st == CONN_DEAD || c->st == CONN_CONNECT)
		return false;
	return !atomic_load(&l->run->stop);
}

/* Run the connection's state machine until it has to wait for the socket. */
static void conn_drive(struct loop *l, struct conn *c)
{
	bool again = true;

	while (again) {
		switch (c->st) {
		case CONN_CONNECT:
			again = step_connect(l, c);
			break;
		case CONN_HANDSHAKE:
			again = step_handshake(l, c);
			break;
		case CONN_IDLE:
			/* nothing to do until the start: edge-triggered, so a TLS 1.3 ticket
			 * or a hang-up wakes us once instead of spinning */
			conn_want(l, c, EPOLLIN | EPOLLET);
			again = false;
			break;
		case CONN_WRITE:
			again = step_write(l, c);
			break;
		case CONN_READ:
			again = step_read(l, c);
			break;
		case CONN_OFF:
		case CONN_DEAD:
		default:
			again = false;
			break;
		}
	}
}

/* Connections stuck longer than --timeout (connect, handshake, a request) fail. */
static void loop_timeouts(struct loop *l, uint64_t now)
{
	for (unsigned i = 0; i < l->n; i++) {
		struct conn *c = &l->c[i];
		uint64_t since;
		const char *what;
		switch (c->st) {
		case CONN_CONNECT:
		case CONN_HANDSHAKE:
			since = c->t_state;
			what = c->st == CONN_CONNECT ? "connect timed out" : "TLS handshake timed out";
			break;
		case CONN_WRITE:
		case CONN_READ:
			since = c->t_req;
			what = "no response within the timeout";
			break;
		default:
			continue;
		}
		if (now - since > l->timeout_ns) {
			conn_fail(l, c, what);
			if (l->vcenter && !atomic_load(&l->run->stop))
				conn_open(l, c);
		}
	}
}

/* One epoll round: dispatch events; vcenter slots that failed are reopened. */
static void loop_poll(struct loop *l, int ms)
{
	struct epoll_event ev[128];
	int n = epoll_wait(l->ep, ev, 128, ms);

	for (int i = 0; i < n; i++) {
		struct conn *c = ev[i].data.ptr;
		conn_drive(l, c);
		if (l->vcenter && c->st == CONN_DEAD && !atomic_load(&l->run->stop))
			conn_open(l, c);
	}
}

static bool loop_all_settled(const struct loop *l)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->c[i].st == CONN_CONNECT || l->c[i].st == CONN_HANDSHAKE)
			return false;
	return true;
}

/* idle: count the silent connections the server still holds open; one it closed is an
 * error (a server must not drop idle clients within the run). */
static void loop_idle_count(struct loop *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		struct conn *c = &l->c[i];
		uint8_t b;
		if (c == l->probe || c->st != CONN_IDLE || c->fd < 0)
			continue;
		ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
			l->th->idle_held++;
		else
			bench_run_error(l->run, l->th, "connection to %s:%s: idle connection closed "
					"by the server (%s)", l->cfg->host, l->cfg->port,
					r == 0 ? "end of stream" : strerror(errno));
	}
}

static cf_err loop_init(struct loop *l, struct bench_thread *th)
{
	memset(l, 0, sizeof *l);
	l->th = th;
	l->run = th->run;
	l->cfg = th->run->cfg;
	l->n = th->n_conns;
	l->vcenter = l->cfg->op == BENCH_OP_VCENTER;
	l->idle = l->cfg->op == BENCH_OP_IDLE;
	if (l->idle && th == &l->run->th[0])
		l->n++;                    /* the probe: the last slot */
	l->lim = bench_limits();
	l->timeout_ns = (uint64_t)(l->cfg->timeout * 1e9);
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	if (l->ep < 0)
		return CF_E_IO;
	l->arena_buf = malloc(BENCH_ARENA_CAP);
	l->c = calloc(l->n ? l->n : 1, sizeof *l->c);
	if (l->arena_buf == NULL || l->c == NULL)
		return CF_E_NOMEM;
	kmip_arena_init(&l->arena, l->arena_buf, BENCH_ARENA_CAP);
	for (unsigned i = 0; i < l->n; i++) {
		l->c[i].fd = -1;
		l->c[i].rbuf = malloc(BENCH_RBUF_INIT);
		if (l->c[i].rbuf == NULL)
			return CF_E_NOMEM;
		l->c[i].rcap = BENCH_RBUF_INIT;
	}
	if (l->idle && th == &l->run->th[0])
		l->probe = &l->c[l->n - 1];
	return CF_OK;
}

static void loop_free(struct loop *l)
{
	if (l->c != NULL) {
		for (unsigned i = 0; i < l->n; i++) {
			conn_close(l, &l->c[i], false);
			SSL_SESSION_free(l->c[i].sess);
			free(l->c[i].rbuf);
		}
	}
	free(l->c);
	if (l->arena_buf != NULL)
		kmip_arena_reset(&l->arena);
	free(l->arena_buf);
	if (l->ep >= 0)
		close(l->ep);
}

void *bench_thread_main(void *arg)
{
	struct bench_thread *th = arg;
	struct bench_run *run = th->run;
	struct loop l;
	cf_err rc = loop_init(&l, th);

	if (rc != CF_OK) {
		th->rc = rc;
		bench_run_error(run, th, "thread set-up failed: %s", cf_err_str(rc));
	}
	/* persistent ops: connect and handshake before the clock starts */
	if (rc == CF_OK && !l.vcenter) {
		unsigned next = 0, n_open = l.probe != NULL ? l.n - 1 : l.n;
		while (!atomic_load(&run->stop)) {
			unsigned busy = 0;
			for (unsigned i = 0; i < next; i++)
				busy += l.c[i].st == CONN_CONNECT || l.c[i].st == CONN_HANDSHAKE;
			while (next < n_open && busy < BENCH_RAMP) {
				conn_open(&l, &l.c[next++]);
				busy++;
			}
			if (next >= n_open && loop_all_settled(&l))
				break;
			loop_poll(&l, 50);
			loop_timeouts(&l, bench_now_ns());
		}
		for (unsigned i = 0; i < n_open && l.idle; i++)
			th->idle_opened += l.c[i].st == CONN_IDLE;
	}
	(void)pthread_barrier_wait(&run->ready);
	(void)pthread_barrier_wait(&run->go);
	if (rc == CF_OK) {
		uint64_t now = bench_now_ns(), last_check = now;
		for (unsigned i = 0; i < l.n; i++) {
			struct conn *c = &l.c[i];
			if (l.vcenter) {
				conn_open(&l, c);
			} else if (c->st == CONN_IDLE && !l.idle) {
				conn_send(c, &run->req, now);
				conn_drive(&l, c);
			}
		}
		uint64_t t_end = atomic_load(&run->t_end);
		while (!atomic_load(&run->stop)) {
			if (l.probe != NULL && (l.probe->st == CONN_OFF || l.probe->st == CONN_DEAD) &&
			    now >= l.next_probe) {
				l.next_probe = now + BENCH_PROBE_GAP_NS;
				conn_open(&l, l.probe);
			}
			loop_poll(&l, l.probe != NULL ? 5 : 20);
			now = bench_now_ns();
			if (now >= t_end)
				break;
			if (now - last_check > 100000000u) {
				loop_timeouts(&l, now);
				last_check = now;
				for (unsigned i = 0; i < l.n && l.vcenter; i++)
					if (l.c[i].st == CONN_DEAD && !atomic_load(&run->stop))
						conn_open(&l, &l.c[i]);
				bool any = false;
				for (unsigned i = 0; i < l.n && !any; i++)
					any = l.c[i].st != CONN_DEAD;
				if (!any)
					break;      /* every persistent connection failed */
			}
		}
	}
	if (rc == CF_OK && l.idle)
		loop_idle_count(&l);
	loop_free(&l);
	return NULL;
}
