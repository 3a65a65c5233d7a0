/* The KMIP network layer (net.h): listener, epoll workers, connection state machine.
 *
 * One listening socket shared by every worker's epoll with EPOLLEXCLUSIVE (the kernel wakes
 * one waiting worker per connection, so a worker busy in a handler does not hold new
 * connections back, unlike SO_REUSEPORT's hashing). Each connection belongs to the worker
 * that accepted it for its whole life: no locks on the connection path. Epoll is
 * level-triggered; after every event a connection is driven until OpenSSL reports WANT_READ
 * or WANT_WRITE, so bytes buffered inside OpenSSL are never forgotten.
 *
 * Deadlines are checked by a sweep every tick (tick = shortest timeout / 8, between 10 and
 * 250 ms), so a timeout fires at most one tick late. */
#include "firmware/net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "board/fair.h"
#include "board/log.h"
#include "board/sec.h"
#include "kmip/kmip_tags.h"
#include "kmip/ttlv.h"

#define NET_MAX_WORKERS 64
#define NET_ACCEPT_BATCH 64
#define NET_EVENTS 64
#define NET_ACCEPT_PAUSE_MS 100
#define NET_TARPIT_MS 1000   /* a connection refused by fair share is held this long, then reset */
#define NET_TARPIT_MAX 512   /* ... at most this many per worker (fewer with few descriptors) */
#define NET_PREAUTH_LOG_BURST 30   /* pre-authentication lines: 30 at once, then */
#define NET_PREAUTH_LOG_PER_MIN 60 /* one a second; the rest are counted in status */
#define NET_REFUSE_LOG_MS 10000  /* at most one "refused from outside [kmip] allow" line per 10 s */
#define NET_ALERT_MAX 64    /* bytes: more written in a handshake = the server's flight, not an alert */
#define NET_DRIVE_BUDGET 4 /* requests served per connection before the others get a turn */

enum conn_state { CS_HANDSHAKE, CS_READ_HDR, CS_READ_BODY, CS_WRITE, CS_HELD };
enum step { STEP_PROGRESS, STEP_WANT_READ, STEP_WANT_WRITE, STEP_CLOSE, STEP_YIELD, STEP_HELD };

struct conn {
	struct conn *prev, *next;
	struct conn *ready_next;   /* worker's ready list: yielded with work left */
	bool in_ready;
	struct conn *held_prev, *held_next; /* worker's held list (CS_HELD), oldest first */
	int fd;
	SSL *ssl;
	enum conn_state st;
	uint32_t ev;               /* events registered in epoll */
	uint64_t deadline;         /* monotonic ms */
	bool fatal;                /* SSL fatal error: no SSL_shutdown */
	bool established;          /* handshake completed */
	bool close_after_write;
	bool fair_held;            /* counted in the source table: fair_release once at close */
	bool spared;               /* no fair-share penalty at close: it sent bytes after the
				    * handshake, or its deadline closed it */
	struct fair_key src;       /* its source (fair share) */
	uint8_t hdr[TTLV_HDR_LEN];
	size_t hdr_got;
	uint8_t *req;              /* request buffer: exactly need bytes, header included */
	size_t need, got;
	const uint8_t *out;        /* response being written: worker buffer or out_own */
	uint8_t *out_own;
	size_t out_len;
	uint64_t n_requests;
	uint64_t swept_requests;   /* n_requests at the previous sweep */
	bool bufs_freed;           /* SSL_free_buffers done since the last request */
	struct net_conn_info ci;
	struct identity id;
};

struct worker {
	struct net_server *srv;
	unsigned idx;
	pthread_t th;
	bool th_started;
	int ep;
	void *warg;
	uint8_t *resp;
	size_t resp_cap;
	struct conn *conns;
	struct conn *ready;        /* connections to drive again without waiting for epoll */
	bool listening;
	uint64_t accept_resume;
	uint64_t last_accept_warn;
	struct conn *held, *held_tail;      /* responses waiting for their ticket, and deferred
					     * requests (NET_HOLD_DEFER), in arrival order */
	unsigned need_flush;                /* held with NET_HOLD_FLUSH or NET_HOLD_COMMIT */
	unsigned n_deferred;                /* held with NET_HOLD_DEFER */
	const struct net_hold_ops *hold_ops;
	int wake_fd;                        /* hold_ops->wake_fd, in our epoll set; -1 = none */
	_Atomic uint64_t beat_ms;           /* top of the loop last passed (net_server_stalled) */
	/* connections refused by fair share, held unread (no TLS, no epoll) until tp_until, then
	 * reset: a client that reconnects as soon as it is closed waits instead of spinning. A
	 * FIFO ring, oldest first; full: the oldest is reset early */
	int tp_fd[NET_TARPIT_MAX];
	uint64_t tp_until[NET_TARPIT_MAX];
	unsigned tp_head, tp_n;
};

struct net_server {
	struct net_config cfg;     /* defaults applied */
	char address[64];
	struct tls_ctx *tls;
	SSL_CTX *sctx;
	pthread_mutex_t *key_lock;
	struct net_handler h;
	struct kmip_limits lim;
	int lfd;
	int stopfd;
	uint16_t port;
	unsigned tick_ms;
	struct worker *w;
	unsigned nw;
	bool started, joined;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned n_ready, n_failed;
	_Atomic uint64_t next_conn_id;
	struct {
		_Atomic uint64_t accepted, handshakes_ok, handshakes_failed, timeouts, bad_frames,
			requests, refused_busy, refused_source, refused_busy_source, refused_rate,
			refused_handshaking, handshaking, open, max_req_alloc;
	} st;
	/* fair share: per-source table (under mu, touched on accept and close only) and its
	 * rate-limited refusal log line */
	struct fair_table fair;
	uint64_t fair_unlogged;
	uint64_t fair_logged_ms;
	/* source allow-list and its rate-limited refusal log line (under mu) */
	struct cidr_list allow;
	uint64_t allow_unlogged;   /* refusals since the last log line */
	uint64_t allow_logged_ms;  /* when that line was written; 0 = never */
	/* lines about one connection that any peer can cause before it is authenticated (failed
	 * handshakes, handshake timeouts): a bounded rate (under mu) */
	struct log_rate preauth_log;
	unsigned tarpit_cap;       /* per worker: NET_TARPIT_MAX, or fewer with few descriptors */
};

#define STAT_INC(s, f) atomic_fetch_add_explicit(&(s)->st.f, 1, memory_order_relaxed)

/* Whether a line about a connection not authenticated yet may be written now (a bounded rate:
 * a flood of failed handshakes must not flood the log); *more gets the text that says how many
 * such lines were not written since the last one ("" when none). */
static bool preauth_log_ok(struct net_server *s, char *more, size_t cap);

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- connection -------------------------------------------------------------------- */

static void conn_set_events(struct worker *w, struct conn *c, uint32_t ev)
{
	if (c->ev == ev)
		return;
	struct epoll_event e = { .events = ev, .data.ptr = c };
	if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->ev = ev;
	else
		log_warn("net: conn %llu: epoll_ctl: %s", (unsigned long long)c->ci.conn_id,
			 strerror(errno));
}

static void conn_out_release(struct worker *w, struct conn *c)
{
	if (c->out_own != NULL)
		sec_freezero(c->out_own, c->out_len);
	else if (c->out != NULL)
		sec_wipe(w->resp, c->out_len);
	c->out_own = NULL;
	c->out = NULL;
	c->out_len = 0;
}

static bool hold_flushes(uint64_t hold)
{
	return hold == NET_HOLD_FLUSH || hold == NET_HOLD_COMMIT;
}

static void held_unlink(struct worker *w, struct conn *c)
{
	if (hold_flushes(c->ci.hold) && w->need_flush > 0)
		w->need_flush--;
	if (c->ci.hold == NET_HOLD_DEFER && w->n_deferred > 0)
		w->n_deferred--;
	if (c->held_prev != NULL)
		c->held_prev->held_next = c->held_next;
	else
		w->held = c->held_next;
	if (c->held_next != NULL)
		c->held_next->held_prev = c->held_prev;
	else
		w->held_tail = c->held_prev;
	c->held_prev = c->held_next = NULL;
}

static void conn_close(struct worker *w, struct conn *c, bool graceful)
{
	struct net_server *s = w->srv;
	/* fair-share penalty: the server did its handshake work (it sent its flight, more than an
	 * alert) for a connection that brought no request nor byte after it and was not closed by
	 * its deadline */
	BIO *wb = c->ssl != NULL ? SSL_get_wbio(c->ssl) : NULL;
	bool pay = c->fair_held && c->n_requests == 0 && !c->spared && wb != NULL &&
		   BIO_number_written(wb) > NET_ALERT_MAX;
	if (c->established && s->h.conn_closed != NULL)
		s->h.conn_closed(w->warg != NULL ? w->warg : s->h.arg, &c->ci);
	if (graceful && c->established && !c->fatal) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl); /* one close_notify, best effort, never waited for */
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	close(c->fd); /* also leaves the epoll set */
	if (c->req != NULL)
		sec_freezero(c->req, c->need);
	conn_out_release(w, c);
	if (c->st == CS_HELD)
		held_unlink(w, c);
	if (c->in_ready) {
		for (struct conn **pp = &w->ready; *pp != NULL; pp = &(*pp)->ready_next) {
			if (*pp == c) {
				*pp = c->ready_next;
				break;
			}
		}
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->st == CS_HANDSHAKE)
		atomic_fetch_sub_explicit(&s->st.handshaking, 1, memory_order_relaxed);
	if (c->fair_held) {
		c->fair_held = false;
		pthread_mutex_lock(&s->mu);
		if (c->st == CS_HANDSHAKE)
			fair_handshake_done(&s->fair, &c->src);
		if (pay)
			fair_penalize(&s->fair, &c->src, FAIR_PENALTY);
		fair_release(&s->fair, &c->src);
		pthread_mutex_unlock(&s->mu);
	}
	atomic_fetch_sub_explicit(&s->st.open, 1, memory_order_relaxed);
	free(c);
}

static void peer_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof a);
		port = ntohs(in->sin_port);
		snprintf(out, cap, "%s:%u", a, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof a);
		port = ntohs(in6->sin6_port);
		snprintf(out, cap, "[%s]:%u", a, port);
	} else {
		snprintf(out, cap, "?");
	}
}

static cf_err conn_new(struct worker *w, int fd, const struct sockaddr_storage *ss,
		       const struct fair_key *src, bool fair_held)
{
	struct net_server *s = w->srv;
	struct conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CF_E_NOMEM;
	c->fd = fd;
	if ((c->ssl = SSL_new(s->sctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		SSL_free(c->ssl);
		ERR_clear_error();
		free(c);
		return CF_E_NOMEM;
	}
	SSL_set_accept_state(c->ssl);
	SSL_set_mode(c->ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* A busy connection keeps its record buffers (releasing them after every record cost a
	 * malloc, a free and a 16 KiB cleanse per request); the sweep frees those of connections
	 * that went idle (worker_sweep), which keeps 1,000 idle clients cheap. Read-ahead: one
	 * read(2) per record instead of two (header, then body). */
	SSL_clear_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
	SSL_set_read_ahead(c->ssl, 1);
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	peer_text(ss, c->ci.peer, sizeof c->ci.peer);
	c->ci.conn_id = atomic_fetch_add_explicit(&s->next_conn_id, 1, memory_order_relaxed);
	c->ci.worker = w->idx;
	c->ci.id = &c->id;
	c->ci.can_hold = true;
	c->st = CS_HANDSHAKE;
	c->deadline = now_ms() + s->cfg.handshake_timeout_ms;
	c->ev = EPOLLIN;
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
		log_warn("net: epoll_ctl add: %s", strerror(errno));
		SSL_free(c->ssl);
		free(c);
		return CF_E_IO;
	}
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	c->src = *src;
	c->fair_held = fair_held;
	atomic_fetch_add_explicit(&s->st.handshaking, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->st.open, 1, memory_order_relaxed);
	return CF_OK;
}

/* Text for a failed TLS call: the OpenSSL reason plus the certificate verdict. */
static void tls_fail_text(struct conn *c, int e, int sys_errno, char *out, size_t cap)
{
	unsigned long code = ERR_peek_last_error();
	long vr = SSL_get_verify_result(c->ssl);
	if (code != 0) {
		char eb[200];
		ERR_error_string_n(code, eb, sizeof eb);
		if (vr != X509_V_OK)
			snprintf(out, cap, "%s (%s)", eb, X509_verify_cert_error_string(vr));
		else
			snprintf(out, cap, "%s", eb);
	} else if (e == SSL_ERROR_SYSCALL) {
		snprintf(out, cap, "%s", sys_errno != 0 ? strerror(sys_errno) : "peer closed");
	} else if (e == SSL_ERROR_ZERO_RETURN) {
		snprintf(out, cap, "peer closed");
	} else {
		snprintf(out, cap, "TLS error %d", e);
	}
	ERR_clear_error();
}

static enum step step_want(int e)
{
	return e == SSL_ERROR_WANT_WRITE ? STEP_WANT_WRITE : STEP_WANT_READ;
}

static bool preauth_log_ok(struct net_server *s, char *more, size_t cap)
{
	uint64_t dropped = 0;

	pthread_mutex_lock(&s->mu);
	bool ok = log_rate_take(&s->preauth_log, now_ms(), &dropped);
	pthread_mutex_unlock(&s->mu);
	more[0] = '\0';
	if (ok && dropped > 0)
		(void)snprintf(more, cap, " (%llu earlier line(s) of failed or timed-out handshakes "
			       "not logged: at most %d a minute after %d; status counts them all)",
			       (unsigned long long)dropped, NET_PREAUTH_LOG_PER_MIN,
			       NET_PREAUTH_LOG_BURST);
	return ok;
}

static enum step conn_handshake(struct worker *w, struct conn *c)
{
	struct net_server *s = w->srv;
	ERR_clear_error();
	errno = 0;
	if (s->key_lock != NULL)
		pthread_mutex_lock(s->key_lock);
	int r = SSL_do_handshake(c->ssl);
	int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
	int sys_errno = errno;
	if (s->key_lock != NULL)
		pthread_mutex_unlock(s->key_lock);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return step_want(e);
	if (r != 1) {
		char why[400], more[160];
		c->fatal = true;
		unsigned long ec = ERR_peek_last_error();
		bool eof = (e == SSL_ERROR_SYSCALL && sys_errno == 0 && ec == 0) ||
			   (ERR_GET_LIB(ec) == ERR_LIB_SSL &&
			    ERR_GET_REASON(ec) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
		tls_fail_text(c, e, sys_errno, why, sizeof why);
		STAT_INC(s, handshakes_failed);
		/* failed handshakes are normal (probes, untrusted clients): one line, never fatal,
		 * at a bounded rate; a plain TCP connect-and-close (port checks) only at info */
		if (!preauth_log_ok(s, more, sizeof more))
			return STEP_CLOSE;
		if (eof)
			log_info("net: conn %llu %s: closed by the peer during the TLS handshake%s",
				 (unsigned long long)c->ci.conn_id, c->ci.peer, more);
		else
			log_warn("net: conn %llu %s: TLS handshake failed: %s%s",
				 (unsigned long long)c->ci.conn_id, c->ci.peer, why, more);
		return STEP_CLOSE;
	}
	cf_err rc = identity_from_ssl(c->ssl, &c->id);
	if (rc != CF_OK) {
		char more[160];
		STAT_INC(s, handshakes_failed);
		if (preauth_log_ok(s, more, sizeof more))
			log_warn_r(rc, "net: conn %llu %s: client certificate unusable%s",
				   (unsigned long long)c->ci.conn_id, c->ci.peer, more);
		return STEP_CLOSE;
	}
	STAT_INC(s, handshakes_ok);
	c->established = true;
	/* one line per connection is too much at vCenter's connection rates: debug level */
	log_dbg("net: conn %llu %s: %s %s client \"%s\" sha256:%s (%s%s)",
		 (unsigned long long)c->ci.conn_id, c->ci.peer, SSL_get_version(c->ssl),
		 SSL_get_cipher_name(c->ssl), c->id.cn, c->id.fp_hex,
		 c->id.chain_ok ? "CA-verified" : "pinned",
		 SSL_session_reused(c->ssl) == 1 ? ", resumed" : "");
	c->st = CS_READ_HDR;
	atomic_fetch_sub_explicit(&s->st.handshaking, 1, memory_order_relaxed);
	if (c->fair_held) { /* the source's share of handshakes in progress */
		bool resumed = SSL_session_reused(c->ssl) == 1;
		pthread_mutex_lock(&s->mu);
		fair_handshake_done(&s->fair, &c->src);
		if (resumed)
			fair_refund(&s->fair, &c->src);
		pthread_mutex_unlock(&s->mu);
	}
	c->hdr_got = 0;
	c->deadline = now_ms() + s->cfg.idle_timeout_ms;
	return STEP_PROGRESS;
}

/* One SSL_read_ex. *got > 0 on data; otherwise the step to take. */
static enum step conn_read(struct worker *w, struct conn *c, uint8_t *p, size_t n, size_t *got,
			   const char *what)
{
	*got = 0;
	ERR_clear_error();
	errno = 0;
	int r = SSL_read_ex(c->ssl, p, n, got);
	if (r == 1)
		return STEP_PROGRESS;
	int e = SSL_get_error(c->ssl, r);
	int sys_errno = errno;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return step_want(e);
	/* OpenSSL 3 reports a TCP close without close_notify as SSL_R_UNEXPECTED_EOF_WHILE_READING;
	 * our own framing tells whether a message was cut, so both are an end of stream */
	unsigned long ec = ERR_peek_error();
	bool eof = e == SSL_ERROR_ZERO_RETURN ||
		   (e == SSL_ERROR_SYSCALL && sys_errno == 0 && ec == 0) ||
		   (e == SSL_ERROR_SSL && ERR_GET_LIB(ec) == ERR_LIB_SSL &&
		    ERR_GET_REASON(ec) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
	if (e != SSL_ERROR_ZERO_RETURN)
		c->fatal = true;
	/* A TCP reset before the first byte of a request is an end of stream too: with TLS 1.3
	 * the server sends its session ticket after the handshake, and a client that closes
	 * without reading it (port probes, health checks) makes its kernel answer with a RST. */
	bool reset = e == SSL_ERROR_SYSCALL && (sys_errno == ECONNRESET || sys_errno == EPIPE);
	if ((eof || reset) && what == NULL) {
		/* between messages: a normal end. A close right after the handshake is a probe. */
		if (c->n_requests == 0)
			log_info("net: conn %llu %s: %s after the handshake without a request",
				 (unsigned long long)c->ci.conn_id, c->ci.peer,
				 reset ? "reset" : "closed");
		else
			log_dbg("net: conn %llu %s: %s after %llu requests",
				(unsigned long long)c->ci.conn_id, c->ci.peer, reset ? "reset" : "closed",
				(unsigned long long)c->n_requests);
		ERR_clear_error();
		return STEP_CLOSE;
	}
	char why[400];
	if (eof)
		snprintf(why, sizeof why, "peer closed");
	else
		tls_fail_text(c, e, sys_errno, why, sizeof why);
	ERR_clear_error();
	log_warn("net: conn %llu %s: %s %s", (unsigned long long)c->ci.conn_id, c->ci.peer, why,
		 what != NULL ? what : "while waiting for a request");
	return STEP_CLOSE;
}

static enum step conn_start_write(struct worker *w, struct conn *c, size_t len)
{
	if (len == 0 || len > w->resp_cap)
		return STEP_CLOSE;
	c->out = w->resp;
	c->out_own = NULL;
	c->out_len = len;
	c->st = CS_WRITE;
	c->deadline = now_ms() + w->srv->cfg.read_timeout_ms;
	return STEP_PROGRESS;
}

static void worker_hold_ops_set(struct worker *w, const struct net_hold_ops *ho)
{
	if (w->hold_ops != NULL)
		return;
	w->hold_ops = ho;
	int fd = ho->wake_fd != NULL ? ho->wake_fd(w->warg) : -1;
	if (fd >= 0) {
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &w->wake_fd };
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &e) == 0)
			w->wake_fd = fd;
		else
			log_warn("net: worker %u: epoll_ctl wake fd: %s", w->idx, strerror(errno));
	}
}

static void held_append(struct worker *w, struct conn *c)
{
	c->st = CS_HELD;
	c->held_prev = w->held_tail;
	c->held_next = NULL;
	if (w->held_tail != NULL)
		w->held_tail->held_next = c;
	else
		w->held = c;
	w->held_tail = c;
}

/* Keep the response until its ticket is durable (net.h "Held responses"). */
static enum step conn_hold(struct worker *w, struct conn *c, size_t len)
{
	struct net_server *s = w->srv;
	worker_hold_ops_set(w, c->ci.hold_ops);
	if ((c->out_own = malloc(len)) == NULL) {
		sec_wipe(w->resp, len);
		return STEP_CLOSE;
	}
	memcpy(c->out_own, w->resp, len);
	sec_wipe(w->resp, len);
	c->out = c->out_own;
	c->out_len = len;
	c->deadline = now_ms() + s->cfg.read_timeout_ms;
	if (hold_flushes(c->ci.hold))
		w->need_flush++;
	held_append(w, c);
	return STEP_HELD;
}

/* Keep the request (c->req) for the end of the loop turn (net.h NET_HOLD_DEFER). */
static enum step conn_defer(struct worker *w, struct conn *c)
{
	worker_hold_ops_set(w, c->ci.hold_ops);
	c->deadline = now_ms() + w->srv->cfg.read_timeout_ms;
	w->n_deferred++;
	held_append(w, c);
	return STEP_HELD;
}

static enum step conn_bad_frame(struct worker *w, struct conn *c, cf_err why)
{
	struct net_server *s = w->srv;
	STAT_INC(s, bad_frames);
	log_warn("net: conn %llu %s: message header refused (%s), closing",
		 (unsigned long long)c->ci.conn_id, c->ci.peer, cf_err_str(why));
	if (s->h.on_bad_frame == NULL)
		return STEP_CLOSE;
	size_t len = 0;
	cf_err rc = s->h.on_bad_frame(w->warg != NULL ? w->warg : s->h.arg, &c->ci, why, c->hdr,
				      w->resp, w->resp_cap, &len);
	if (rc != CF_OK || len == 0) {
		sec_wipe(w->resp, len < w->resp_cap ? len : w->resp_cap);
		return STEP_CLOSE;
	}
	c->close_after_write = true;
	return conn_start_write(w, c, len);
}

static enum step conn_read_hdr(struct worker *w, struct conn *c)
{
	struct net_server *s = w->srv;
	while (c->hdr_got < TTLV_HDR_LEN) {
		size_t got;
		enum step st = conn_read(w, c, c->hdr + c->hdr_got, TTLV_HDR_LEN - c->hdr_got, &got,
					 c->hdr_got == 0 ? NULL : "in the middle of a message header");
		if (st != STEP_PROGRESS)
			return st;
		if (c->hdr_got == 0) /* the message has started: the read timeout now runs */
			c->deadline = now_ms() + s->cfg.read_timeout_ms;
		c->hdr_got += got;
		c->spared = true;
	}
	size_t total = 0;
	cf_err rc = ttlv_msg_len(c->hdr, sizeof c->hdr, KMIP_TAG_REQUEST_MESSAGE, &s->lim, &total);
	if (rc != CF_OK)
		return conn_bad_frame(w, c, rc);
	/* total <= max_message (checked above): the only allocation sized by the peer */
	if ((c->req = malloc(total)) == NULL) {
		log_warn("net: conn %llu: no memory for a %zu-byte request",
			 (unsigned long long)c->ci.conn_id, total);
		return STEP_CLOSE;
	}
	uint64_t prev = atomic_load_explicit(&s->st.max_req_alloc, memory_order_relaxed);
	while (total > prev && !atomic_compare_exchange_weak(&s->st.max_req_alloc, &prev, total))
		;
	memcpy(c->req, c->hdr, TTLV_HDR_LEN);
	c->need = total;
	c->got = TTLV_HDR_LEN;
	c->st = CS_READ_BODY;
	return STEP_PROGRESS;
}

static enum step conn_handle(struct worker *w, struct conn *c);

static enum step conn_read_body(struct worker *w, struct conn *c)
{
	struct net_server *s = w->srv;
	while (c->got < c->need) {
		size_t got;
		enum step st = conn_read(w, c, c->req + c->got, c->need - c->got, &got,
					 "in the middle of a message body");
		if (st != STEP_PROGRESS)
			return st;
		c->got += got;
	}
	STAT_INC(s, requests);
	c->n_requests++;
	return conn_handle(w, c);
}

/* Call the handler on the request in c->req (read whole), then answer, hold or defer. */
static enum step conn_handle(struct worker *w, struct conn *c)
{
	struct net_server *s = w->srv;
	size_t len = 0;
	c->ci.hold = 0;
	c->ci.hold_ops = NULL;
	cf_err rc = s->h.handle(w->warg != NULL ? w->warg : s->h.arg, &c->ci, c->req, c->need,
				w->resp, w->resp_cap, &len);
	if (rc == CF_OK && len == 0 && c->ci.hold == NET_HOLD_DEFER && c->ci.hold_ops != NULL &&
	    !c->ci.run_deferred)
		return conn_defer(w, c);
	sec_freezero(c->req, c->need);
	c->req = NULL;
	c->need = c->got = 0;
	if (c->ci.hold == NET_HOLD_DEFER)
		c->ci.hold = 0; /* (a second deferral is not honoured) */
	if (rc != CF_OK || len == 0 || len > w->resp_cap) {
		if (rc != CF_OK)
			log_warn_r(rc, "net: conn %llu %s: request handler failed, closing",
				   (unsigned long long)c->ci.conn_id, c->ci.peer);
		else
			log_dbg("net: conn %llu: handler gave no response, closing",
				(unsigned long long)c->ci.conn_id);
		sec_wipe(w->resp, len < w->resp_cap ? len : w->resp_cap);
		return STEP_CLOSE;
	}
	if (c->ci.hold != 0 && c->ci.hold_ops != NULL)
		return conn_hold(w, c, len);
	return conn_start_write(w, c, len);
}

static enum step conn_write(struct worker *w, struct conn *c)
{
	struct net_server *s = w->srv;
	size_t wr = 0;
	ERR_clear_error();
	errno = 0;
	int r = SSL_write_ex(c->ssl, c->out, c->out_len, &wr);
	if (r == 1) {
		conn_out_release(w, c);
		if (c->close_after_write)
			return STEP_CLOSE;
		c->st = CS_READ_HDR;
		c->hdr_got = 0;
		c->deadline = now_ms() + s->cfg.idle_timeout_ms;
		/* A client that waits for each answer has sent nothing yet: a read now would only
		 * cost a read(2) that says EAGAIN. Bytes OpenSSL already holds are read at once;
		 * bytes in the socket make the (level-triggered) EPOLLIN fire. */
		if (!SSL_has_pending(c->ssl) && c->ev == EPOLLIN)
			return STEP_WANT_READ;
		return STEP_PROGRESS;
	}
	int e = SSL_get_error(c->ssl, r);
	int sys_errno = errno;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		if (c->out_own == NULL) {
			/* the worker buffer serves the next connection: keep a private copy
			 * (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows the retry from it) */
			if ((c->out_own = malloc(c->out_len)) == NULL) {
				conn_out_release(w, c);
				return STEP_CLOSE;
			}
			memcpy(c->out_own, c->out, c->out_len);
			sec_wipe(w->resp, c->out_len);
			c->out = c->out_own;
		}
		return step_want(e);
	}
	c->fatal = true;
	char why[400];
	tls_fail_text(c, e, sys_errno, why, sizeof why);
	log_warn("net: conn %llu %s: %s while writing a response", (unsigned long long)c->ci.conn_id,
		 c->ci.peer, why);
	return STEP_CLOSE;
}

/* Drive a connection until it blocks or closes. */
static void conn_drive(struct worker *w, struct conn *c)
{
	uint64_t served0 = c->n_requests;
	for (;;) {
		enum step st;
		switch (c->st) {
		case CS_HANDSHAKE:
			st = conn_handshake(w, c);
			break;
		case CS_READ_HDR:
			st = conn_read_hdr(w, c);
			break;
		case CS_READ_BODY:
			st = conn_read_body(w, c);
			break;
		case CS_WRITE:
			st = conn_write(w, c);
			break;
		case CS_HELD:
			return; /* released by worker_held_run */
		default:
			st = STEP_CLOSE;
			break;
		}
		/* a client that keeps its pipe full must not starve the worker's other
		 * connections: after a budget of requests, come back on the next loop turn
		 * (bytes may sit inside OpenSSL, where epoll cannot see them) */
		if (st == STEP_PROGRESS && c->st == CS_READ_HDR && c->hdr_got == 0 &&
		    c->n_requests - served0 >= NET_DRIVE_BUDGET)
			st = STEP_YIELD;
		switch (st) {
		case STEP_PROGRESS:
			continue;
		case STEP_YIELD:
			if (!c->in_ready) {
				c->in_ready = true;
				c->ready_next = w->ready;
				w->ready = c;
			}
			return;
		case STEP_WANT_READ:
			conn_set_events(w, c, EPOLLIN);
			return;
		case STEP_WANT_WRITE:
			conn_set_events(w, c, EPOLLOUT);
			return;
		case STEP_HELD:
			/* nothing is read while the response waits; EPOLLIN stays registered (two
			 * epoll_ctl calls a request saved) until it fires while held: then it is
			 * switched off (worker_main) */
			return;
		case STEP_CLOSE:
		default:
			conn_close(w, c, true);
			return;
		}
	}
}

/* ---- tarpit ------------------------------------------------------------------------- */

/* Reset (RST, no FIN exchange, no TIME_WAIT here) and close a connection never served. */
static void close_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

static void tarpit_pop(struct worker *w)
{
	close_reset(w->tp_fd[w->tp_head]);
	w->tp_head = (w->tp_head + 1) % NET_TARPIT_MAX;
	w->tp_n--;
}

/* Hold fd, refused before TLS, for NET_TARPIT_MS (or close it now when there is no room). */
static void tarpit_add(struct worker *w, int fd, uint64_t now)
{
	unsigned cap = w->srv->tarpit_cap;
	if (cap == 0) {
		close_reset(fd);
		return;
	}
	if (w->tp_n >= cap)
		tarpit_pop(w);
	unsigned i = (w->tp_head + w->tp_n) % NET_TARPIT_MAX;
	w->tp_fd[i] = fd;
	w->tp_until[i] = now + NET_TARPIT_MS;
	w->tp_n++;
}

/* Reset the held connections whose time is up (all of them with flush). */
static void tarpit_sweep(struct worker *w, uint64_t now, bool flush)
{
	while (w->tp_n > 0 && (flush || w->tp_until[w->tp_head] <= now))
		tarpit_pop(w);
}

/* ---- worker ------------------------------------------------------------------------ */

static void worker_sweep(struct worker *w, uint64_t now)
{
	struct net_server *s = w->srv;
	struct conn *next;
	char more[160];
	uint64_t untold = 0;
	tarpit_sweep(w, now, false);
	pthread_mutex_lock(&s->mu);
	bool tell = log_rate_flush(&s->preauth_log, now, &untold);
	pthread_mutex_unlock(&s->mu);
	if (tell)
		log_warn("net: %llu earlier line(s) of failed or timed-out handshakes not logged: at "
			 "most %d a minute after %d; status counts them all", (unsigned long long)untold,
			 NET_PREAUTH_LOG_PER_MIN, NET_PREAUTH_LOG_BURST);
	for (struct conn *c = w->conns; c != NULL; c = next) {
		next = c->next;
		/* a connection that served nothing for a whole tick gives its record buffers back
		 * (OpenSSL refuses while bytes are pending; it allocates again on the next read) */
		if (c->n_requests != c->swept_requests) {
			c->swept_requests = c->n_requests;
			c->bufs_freed = false;
		} else if (!c->bufs_freed && c->established && c->st == CS_READ_HDR &&
			   c->hdr_got == 0) {
			c->bufs_freed = SSL_free_buffers(c->ssl) == 1;
		}
		if (now < c->deadline)
			continue;
		STAT_INC(s, timeouts);
		c->spared = true; /* bounded by the deadline (and the handshake share): no penalty */
		const char *what = c->st == CS_HANDSHAKE                      ? "TLS handshake"
				   : c->st == CS_READ_HDR && c->hdr_got == 0 ? "idle"
				   : c->st == CS_WRITE                         ? "response write"
				   : c->st == CS_HELD                          ? "commit"
									       : "request read";
		if (c->st == CS_READ_HDR && c->hdr_got == 0)
			log_info("net: conn %llu %s: idle timeout, closing",
				 (unsigned long long)c->ci.conn_id, c->ci.peer);
		else if (c->st != CS_HANDSHAKE)
			log_warn("net: conn %llu %s: %s timeout, closing",
				 (unsigned long long)c->ci.conn_id, c->ci.peer, what);
		else {
			STAT_INC(s, handshakes_failed); /* a handshake never finished */
			if (preauth_log_ok(s, more, sizeof more))
				log_warn("net: conn %llu %s: %s timeout, closing%s",
					 (unsigned long long)c->ci.conn_id, c->ci.peer, what, more);
		}
		conn_close(w, c, c->st == CS_READ_HDR && c->hdr_got == 0);
	}
	if (!w->listening && now >= w->accept_resume) {
		struct epoll_event e = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &s->lfd };
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, s->lfd, &e) == 0)
			w->listening = true;
		else
			w->accept_resume = now + NET_ACCEPT_PAUSE_MS;
	}
}

/* The source of an accepted connection is in the allow-list; a refusal is counted and logged
 * at most once per NET_REFUSE_LOG_MS with the count since the previous line. */
static bool allow_source(struct net_server *s, const struct sockaddr_storage *ss)
{
	uint64_t n = 0, now = 0;
	char peer[NET_PEER_MAX];

	pthread_mutex_lock(&s->mu);
	bool ok = cidr_list_match(&s->allow, (const struct sockaddr *)ss);
	if (!ok) {
		s->allow_unlogged++;
		now = now_ms();
		if (s->allow_logged_ms == 0 || now - s->allow_logged_ms >= NET_REFUSE_LOG_MS) {
			n = s->allow_unlogged;
			s->allow_unlogged = 0;
			s->allow_logged_ms = now;
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (ok)
		return true;
	STAT_INC(s, refused_source);
	if (n > 0) {
		peer_text(ss, peer, sizeof peer);
		log_warn("net: refused %llu connection(s) from outside [kmip] allow (latest from %s; "
			 "at most one such line per %d s)", (unsigned long long)n, peer,
			 NET_REFUSE_LOG_MS / 1000);
	}
	return false;
}

/* Fair share: the global cap on connections in handshake, then the source's open count and
 * token bucket (board/fair.h). A refusal is counted and logged at most once per
 * NET_REFUSE_LOG_MS with the count since the previous line; *held says fair_release is due. */
static bool fair_source(struct net_server *s, const struct sockaddr_storage *ss,
			struct fair_key *src, bool *held)
{
	enum fair_verdict v = FAIR_UNTRACKED;
	uint64_t n = 0, now = now_ms();
	char peer[NET_PEER_MAX];

	bool keyed = fair_key_of((const struct sockaddr *)ss, src);
	bool hs_full = atomic_load_explicit(&s->st.handshaking, memory_order_relaxed) >=
		       s->cfg.max_handshaking;
	pthread_mutex_lock(&s->mu);
	if (!hs_full && keyed)
		v = fair_admit(&s->fair, src, now);
	bool ok = !hs_full && (v == FAIR_OK || v == FAIR_UNTRACKED);
	if (!ok) {
		s->fair_unlogged++;
		if (s->fair_logged_ms == 0 || now - s->fair_logged_ms >= NET_REFUSE_LOG_MS) {
			n = s->fair_unlogged;
			s->fair_unlogged = 0;
			s->fair_logged_ms = now;
		}
	}
	pthread_mutex_unlock(&s->mu);
	*held = v == FAIR_OK;
	if (ok)
		return true;
	const char *why = hs_full		  ? "max_handshaking connections in handshake"
			  : v == FAIR_BUSY	  ? "max_conns_per_source open from that source"
			  : v == FAIR_HANDSHAKING ? "max_handshaking_per_source in handshake from that source"
						  : "over handshake_rate_per_source";
	if (hs_full || v == FAIR_HANDSHAKING)
		STAT_INC(s, refused_handshaking);
	else if (v == FAIR_BUSY)
		STAT_INC(s, refused_busy_source);
	else
		STAT_INC(s, refused_rate);
	if (n > 0) {
		peer_text(ss, peer, sizeof peer);
		log_warn("net: refused %llu connection(s) by [kmip] fair share (latest from %s: %s; "
			 "at most one such line per %d s)", (unsigned long long)n, peer, why,
			 NET_REFUSE_LOG_MS / 1000);
	}
	return false;
}

static void fair_undo(struct net_server *s, const struct fair_key *src, bool held)
{
	if (!held)
		return;
	pthread_mutex_lock(&s->mu);
	fair_release(&s->fair, src);
	pthread_mutex_unlock(&s->mu);
}

void net_server_set_allow(struct net_server *s, const struct cidr_list *allow)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	if (allow != NULL)
		s->allow = *allow;
	else
		memset(&s->allow, 0, sizeof s->allow);
	pthread_mutex_unlock(&s->mu);
}

void net_server_get_allow(struct net_server *s, struct cidr_list *out)
{
	memset(out, 0, sizeof *out);
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	*out = s->allow;
	pthread_mutex_unlock(&s->mu);
}

static void worker_accept(struct worker *w)
{
	struct net_server *s = w->srv;
	for (int i = 0; i < NET_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			/* out of descriptors with some held in the tarpit: those go first */
			if ((errno == EMFILE || errno == ENFILE) && w->tp_n > 0) {
				tarpit_sweep(w, 0, true);
				continue;
			}
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM: stop accepting for a moment rather than
			 * spin on a listener that stays readable */
			uint64_t now = now_ms();
			if (now - w->last_accept_warn >= 1000 || w->last_accept_warn == 0) {
				log_warn("net: accept: %s; pausing accepts for %d ms", strerror(errno),
					 NET_ACCEPT_PAUSE_MS);
				w->last_accept_warn = now;
			}
			if (epoll_ctl(w->ep, EPOLL_CTL_DEL, s->lfd, NULL) == 0)
				w->listening = false;
			w->accept_resume = now + NET_ACCEPT_PAUSE_MS;
			return;
		}
		STAT_INC(s, accepted);
		if (!allow_source(s, &ss)) {
			close(fd); /* before any TLS work: no SSL object, no handshake */
			continue;
		}
		if (atomic_load_explicit(&s->st.open, memory_order_relaxed) >= s->cfg.max_conns) {
			STAT_INC(s, refused_busy);
			uint64_t now = now_ms();
			if (now - w->last_accept_warn >= 1000 || w->last_accept_warn == 0) {
				log_warn("net: %u connections open: refusing new ones", s->cfg.max_conns);
				w->last_accept_warn = now;
			}
			close(fd);
			continue;
		}
		struct fair_key src;
		bool held;
		if (!fair_source(s, &ss, &src, &held)) {
			tarpit_add(w, fd, now_ms()); /* before any TLS work; reset a second later */
			continue;
		}
		if (conn_new(w, fd, &ss, &src, held) != CF_OK) {
			fair_undo(s, &src, held);
			close(fd);
		}
	}
}

/* The held response of c will never be acknowledged: send the handler's failure answer in its
 * place (hold_ops->failed), or close the connection unanswered when there is none. */
static void held_failed(struct worker *w, struct conn *c, const char *why)
{
	const struct net_hold_ops *ho = w->hold_ops;
	size_t len = 0;
	uint8_t *out;

	c->ci.hold = 0;
	c->st = CS_WRITE; /* (not held any more) */
	if (ho->failed == NULL || c->out == NULL ||
	    ho->failed(w->warg, c->out, c->out_len, w->resp, w->resp_cap, &len) != CF_OK ||
	    len == 0 || (out = malloc(len)) == NULL) {
		sec_wipe(w->resp, w->resp_cap);
		log_warn("net: conn %llu %s: %s, closing unanswered", (unsigned long long)c->ci.conn_id,
			 c->ci.peer, why);
		conn_close(w, c, false);
		return;
	}
	memcpy(out, w->resp, len);
	sec_wipe(w->resp, len);
	if (c->out_own != NULL) {
		sec_wipe(c->out_own, c->out_len);
		free(c->out_own);
	}
	c->out = c->out_own = out;
	c->out_len = len;
	log_warn("net: conn %llu %s: %s, answered Operation Failed", (unsigned long long)c->ci.conn_id,
		 c->ci.peer, why);
	c->deadline = now_ms() + w->srv->cfg.read_timeout_ms;
	conn_drive(w, c);
}

/* Flush what the handler batched this turn, then send every held response whose ticket is
 * durable (in arrival order) and answer Operation Failed (or close) where it failed. */
static void worker_held_run(struct worker *w)
{
	const struct net_hold_ops *ho = w->hold_ops;
	bool ran_deferred = false;
	if (ho == NULL || w->held == NULL)
		return;
	if (w->n_deferred > 0) {
		/* the turn's deferred requests, in arrival order: the handler batches them */
		struct conn *next;
		for (struct conn *c = w->held; c != NULL; c = next) {
			next = c->held_next;
			if (c->ci.hold != NET_HOLD_DEFER)
				continue;
			held_unlink(w, c);
			ran_deferred = true;
			c->st = CS_READ_BODY;
			c->ci.run_deferred = true;
			enum step st = conn_handle(w, c);
			c->ci.run_deferred = false;
			if (st == STEP_PROGRESS)
				conn_drive(w, c); /* answered at once (CS_WRITE) */
			else if (st == STEP_CLOSE)
				conn_close(w, c, true);
			/* STEP_HELD: appended to the held list, flushed below */
		}
	}
	/* (after deferred requests even when none of them is held: their transaction is open) */
	if (w->need_flush > 0 || ran_deferred) {
		uint64_t t = 0;
		cf_err rc = ho->flush != NULL ? ho->flush(w->warg, &t) : CF_E_INTERNAL;
		struct conn *next;
		for (struct conn *c = w->held; c != NULL; c = next) {
			next = c->held_next;
			if (!hold_flushes(c->ci.hold))
				continue;
			w->need_flush--;
			/* NET_HOLD_COMMIT: committed is enough, send without waiting for the sync */
			c->ci.hold = c->ci.hold == NET_HOLD_COMMIT ? 0 : t;
			if (rc != CF_OK) {
				held_unlink(w, c);
				held_failed(w, c, cf_err_str(rc));
			}
		}
	}
	struct conn *next;
	for (struct conn *c = w->held; c != NULL; c = next) {
		next = c->held_next;
		if (hold_flushes(c->ci.hold) || c->ci.hold == NET_HOLD_DEFER)
			continue;
		int r = c->ci.hold == 0 ? 1 : ho->state(w->warg, c->ci.hold);
		if (r == 0)
			continue;
		held_unlink(w, c);
		c->ci.hold = 0;
		if (r < 0) {
			held_failed(w, c, "commit not durable");
			continue;
		}
		c->st = CS_WRITE;
		c->deadline = now_ms() + w->srv->cfg.read_timeout_ms;
		conn_drive(w, c);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct net_server *s = w->srv;
	bool ok = true;

	if (s->h.worker_new != NULL) {
		w->warg = s->h.worker_new(s->h.arg, w->idx);
		ok = w->warg != NULL;
	}
	pthread_mutex_lock(&s->mu);
	if (ok)
		s->n_ready++;
	else
		s->n_failed++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (!ok) {
		log_err("net: worker %u: per-worker state could not be created", w->idx);
		return NULL;
	}

	struct epoll_event ev[NET_EVENTS];
	uint64_t next_sweep = now_ms() + s->tick_ms;
	bool stop = false;
	while (!stop) {
		uint64_t now = now_ms();
		atomic_store_explicit(&w->beat_ms, now, memory_order_relaxed);
		int timeout = now >= next_sweep || w->ready != NULL || w->need_flush > 0 ||
					      w->n_deferred > 0
				      ? 0 : (int)(next_sweep - now);
		int n = epoll_wait(w->ep, ev, NET_EVENTS, timeout);
		if (n < 0 && errno != EINTR) {
			log_err("net: worker %u: epoll_wait: %s", w->idx, strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;
			if (p == &s->stopfd) {
				stop = true; /* the eventfd stays readable: every worker sees it */
			} else if (p == &s->lfd) {
				worker_accept(w);
			} else if (p == &w->wake_fd) {
				uint64_t v;
				ssize_t r = read(w->wake_fd, &v, sizeof v); /* reset; EAGAIN is fine */
				(void)r;
			} else {
				struct conn *c = p;
				if (c->st != CS_HELD)
					conn_drive(w, c);
				else if (ev[i].events & (EPOLLERR | EPOLLHUP))
					conn_close(w, c, false); /* the peer left while we committed */
				else
					conn_set_events(w, c, 0); /* bytes (or EOF) wait for the answer */
			}
		}
		/* connections that yielded: one more turn each (they may yield again) */
		struct conn *rl = w->ready;
		w->ready = NULL;
		while (rl != NULL && !stop) {
			struct conn *c = rl;
			rl = c->ready_next;
			c->in_ready = false;
			c->ready_next = NULL;
			conn_drive(w, c);
		}
		while (rl != NULL) { /* stopping: the rest are closed below */
			struct conn *c = rl;
			rl = c->ready_next;
			c->in_ready = false;
			c->ready_next = NULL;
		}
		if (!stop)
			worker_held_run(w);
		now = now_ms();
		if (now >= next_sweep) {
			worker_sweep(w, now);
			if (s->h.worker_tick != NULL && w->warg != NULL)
				s->h.worker_tick(w->warg);
			next_sweep = now + s->tick_ms;
		}
	}
	/* held responses are not sent: nothing promised them (their commits finish or not) */
	while (w->conns != NULL)
		conn_close(w, w->conns, true);
	tarpit_sweep(w, 0, true);
	if (s->h.worker_free != NULL && w->warg != NULL)
		s->h.worker_free(w->warg);
	w->warg = NULL;
	ERR_clear_error();
	OPENSSL_thread_stop();
	return NULL;
}

/* ---- server ------------------------------------------------------------------------ */

static cf_err net_listen(struct net_server *s)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, s->address, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(s->cfg.port);
		sl = sizeof *in;
	} else if (inet_pton(AF_INET6, s->address, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(s->cfg.port);
		sl = sizeof *in6;
	} else {
		log_err("net: address \"%s\" is not a numeric IPv4 or IPv6 address", s->address);
		return CF_E_CONFIG;
	}
	s->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		log_err("net: socket: %s", strerror(errno));
		return CF_E_IO;
	}
	int one = 1;
	(void)setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(s->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(s->lfd, (struct sockaddr *)&ss, sl) != 0) {
		log_err("net: bind %s:%u: %s", s->address, (unsigned)s->cfg.port, strerror(errno));
		return CF_E_IO;
	}
	if (listen(s->lfd, 1024) != 0) {
		log_err("net: listen: %s", strerror(errno));
		return CF_E_IO;
	}
	struct sockaddr_storage bound;
	socklen_t bl = sizeof bound;
	if (getsockname(s->lfd, (struct sockaddr *)&bound, &bl) != 0)
		return CF_E_IO;
	s->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
						   : ((struct sockaddr_in6 *)&bound)->sin6_port);
	return CF_OK;
}

cf_err net_server_new(const struct net_config *cfg, struct tls_ctx *tls,
		      const struct net_handler *h, struct net_server **out)
{
	cf_err rc = CF_E_INTERNAL;
	struct net_server *s = NULL;

	if (out != NULL)
		*out = NULL;
	if (cfg == NULL || tls == NULL || h == NULL || h->handle == NULL || out == NULL)
		return CF_E_INVALID_ARG;
	if ((s = calloc(1, sizeof *s)) == NULL)
		return CF_E_NOMEM;
	s->lfd = -1;
	s->stopfd = -1;
	s->cfg = *cfg;
	s->cfg.address = NULL;
	s->cfg.allow = NULL;
	if (cfg->allow != NULL)
		s->allow = *cfg->allow;
	snprintf(s->address, sizeof s->address, "%s", cfg->address != NULL ? cfg->address : "127.0.0.1");
	if (s->cfg.workers == 0)
		s->cfg.workers = 4;
	if (s->cfg.max_message == 0)
		s->cfg.max_message = 1u << 20;
	if (s->cfg.max_response == 0)
		s->cfg.max_response = s->cfg.max_message;
	if (s->cfg.max_conns == 0)
		s->cfg.max_conns = 4096;
	if (s->cfg.max_conns_per_source == 0)
		s->cfg.max_conns_per_source = 1024;
	if (s->cfg.handshake_rate_per_source == 0)
		s->cfg.handshake_rate_per_source = 1000;
	if (s->cfg.handshake_burst_per_source == 0)
		s->cfg.handshake_burst_per_source = 2000;
	if (s->cfg.max_handshaking == 0)
		s->cfg.max_handshaking = 256;
	if (s->cfg.max_handshaking_per_source == 0)
		s->cfg.max_handshaking_per_source = (s->cfg.max_handshaking + 1) / 2;
	fair_table_init(&s->fair, &(struct fair_limits){
					  .max_conns = s->cfg.max_conns_per_source,
					  .rate = s->cfg.handshake_rate_per_source,
					  .burst = s->cfg.handshake_burst_per_source,
					  .max_handshaking = s->cfg.max_handshaking_per_source });
	if (s->cfg.handshake_timeout_ms == 0)
		s->cfg.handshake_timeout_ms = 10000;
	if (s->cfg.read_timeout_ms == 0)
		s->cfg.read_timeout_ms = 30000;
	if (s->cfg.idle_timeout_ms == 0)
		s->cfg.idle_timeout_ms = 300000;
	if (s->cfg.workers > NET_MAX_WORKERS || s->cfg.max_message < 2 * TTLV_HDR_LEN ||
	    s->cfg.max_message > (1u << 30) || s->cfg.max_response > (1u << 30)) {
		log_err("net: workers 1..%d, max_message and max_response 16 B..1 GiB",
			NET_MAX_WORKERS);
		free(s);
		return CF_E_CONFIG;
	}
	unsigned shortest = s->cfg.handshake_timeout_ms;
	if (s->cfg.read_timeout_ms < shortest)
		shortest = s->cfg.read_timeout_ms;
	if (s->cfg.idle_timeout_ms < shortest)
		shortest = s->cfg.idle_timeout_ms;
	s->tick_ms = shortest / 8;
	if (s->tick_ms < 10)
		s->tick_ms = 10;
	if (s->tick_ms > 250)
		s->tick_ms = 250;
	s->tls = tls;
	s->sctx = tls_ctx_ssl(tls);
	s->key_lock = tls_ctx_key_lock(tls);
	s->h = *h;
	s->lim = KMIP_LIMITS_DEFAULT;
	s->lim.max_message = s->cfg.max_message;
	s->next_conn_id = 1;
	s->preauth_log = (struct log_rate){ .burst = NET_PREAUTH_LOG_BURST,
					    .per_min = NET_PREAUTH_LOG_PER_MIN };
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		return CF_E_INTERNAL;
	}
	if (pthread_cond_init(&s->cv, NULL) != 0) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return CF_E_INTERNAL;
	}
	if ((s->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		rc = CF_E_IO;
		goto out;
	}
	if ((rc = net_listen(s)) != CF_OK)
		goto out;
	*out = s;
	s = NULL;
	rc = CF_OK;
out:
	net_server_free(s);
	return rc;
}

uint16_t net_server_port(const struct net_server *s)
{
	return s != NULL ? s->port : 0;
}

/* Threads start with every asynchronous signal blocked: SIGTERM & co. go to main, and a
 * write to a closed socket gives EPIPE instead of a process-killing SIGPIPE. */
static void block_signals(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGSYS); /* the sandbox's trap: its handler names the call */
	pthread_sigmask(SIG_BLOCK, &all, old);
}

/* The tarpit's room per worker: a quarter of the descriptors, shared by the workers, at most
 * NET_TARPIT_MAX each. The soft limit on descriptors is raised to the hard one first (at most
 * 65536): a server of thousands of connections needs them (a service unit would set
 * LimitNOFILE). */
static unsigned tarpit_capacity(unsigned nw)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	rlim_t per = (rl.rlim_cur == RLIM_INFINITY ? 65536 : rl.rlim_cur) / 4 / (nw ? nw : 1);
	return per > NET_TARPIT_MAX ? NET_TARPIT_MAX : (unsigned)per;
}

cf_err net_server_start(struct net_server *s)
{
	cf_err rc = CF_E_INTERNAL;
	if (s == NULL || s->started)
		return CF_E_INVALID_ARG;
	s->started = true;
	if ((s->w = calloc(s->cfg.workers, sizeof *s->w)) == NULL)
		return CF_E_NOMEM;
	for (unsigned i = 0; i < s->cfg.workers; i++) {
		struct worker *w = &s->w[i];
		w->srv = s;
		w->idx = i;
		w->ep = -1;
		w->wake_fd = -1;
	}
	s->nw = s->cfg.workers;
	s->tarpit_cap = tarpit_capacity(s->nw);
	for (unsigned i = 0; i < s->nw; i++) {
		struct worker *w = &s->w[i];
		w->resp_cap = s->cfg.max_response;
		if ((w->resp = malloc(w->resp_cap)) == NULL) {
			rc = CF_E_NOMEM;
			goto fail;
		}
		if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
			rc = CF_E_IO;
			goto fail;
		}
		struct epoll_event es = { .events = EPOLLIN, .data.ptr = &s->stopfd };
		struct epoll_event el = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &s->lfd };
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, s->stopfd, &es) != 0 ||
		    epoll_ctl(w->ep, EPOLL_CTL_ADD, s->lfd, &el) != 0) {
			log_err("net: epoll_ctl: %s", strerror(errno));
			rc = CF_E_IO;
			goto fail;
		}
		w->listening = true;
	}
	sigset_t old;
	block_signals(&old);
	for (unsigned i = 0; i < s->nw; i++) {
		if (pthread_create(&s->w[i].th, NULL, worker_main, &s->w[i]) != 0) {
			log_err("net: cannot create worker thread %u", i);
			break;
		}
		s->w[i].th_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	unsigned created = 0;
	for (unsigned i = 0; i < s->nw; i++)
		created += s->w[i].th_started;
	pthread_mutex_lock(&s->mu);
	while (s->n_ready + s->n_failed < created)
		pthread_cond_wait(&s->cv, &s->mu);
	bool bad = s->n_failed > 0 || created < s->nw;
	pthread_mutex_unlock(&s->mu);
	if (bad) {
		rc = CF_E_INTERNAL;
		goto fail;
	}
	log_info("net: listening on %s:%u with %u workers", s->address, (unsigned)s->port, s->nw);
	return CF_OK;
fail:
	net_server_stop(s);
	net_server_join(s);
	return rc;
}

void net_server_stop(struct net_server *s)
{
	if (s == NULL || s->stopfd < 0)
		return;
	uint64_t one = 1;
	ssize_t r = write(s->stopfd, &one, sizeof one); /* async-signal-safe */
	(void)r;
}

void net_server_join(struct net_server *s)
{
	if (s == NULL || s->w == NULL || s->joined)
		return;
	for (unsigned i = 0; i < s->nw; i++)
		if (s->w[i].th_started)
			pthread_join(s->w[i].th, NULL);
	s->joined = true;
	for (unsigned i = 0; i < s->nw; i++) {
		struct worker *w = &s->w[i];
		if (w->ep >= 0)
			close(w->ep);
		w->ep = -1;
		free(w->resp); /* wiped after every use */
		w->resp = NULL;
	}
}

void net_server_stats(const struct net_server *s, struct net_stats *o)
{
	memset(o, 0, sizeof *o);
	if (s == NULL)
		return;
	struct net_server *m = (struct net_server *)s; /* atomics: loads only */
	o->accepted = atomic_load(&m->st.accepted);
	o->handshakes_ok = atomic_load(&m->st.handshakes_ok);
	o->handshakes_failed = atomic_load(&m->st.handshakes_failed);
	o->timeouts = atomic_load(&m->st.timeouts);
	o->bad_frames = atomic_load(&m->st.bad_frames);
	o->requests = atomic_load(&m->st.requests);
	o->refused_busy = atomic_load(&m->st.refused_busy);
	o->refused_source = atomic_load(&m->st.refused_source);
	o->refused_busy_source = atomic_load(&m->st.refused_busy_source);
	o->refused_rate = atomic_load(&m->st.refused_rate);
	o->refused_handshaking = atomic_load(&m->st.refused_handshaking);
	o->handshaking = atomic_load(&m->st.handshaking);
	o->open = atomic_load(&m->st.open);
	o->max_req_alloc = atomic_load(&m->st.max_req_alloc);
}

unsigned net_server_stalled(const struct net_server *s, uint64_t max_ms, uint64_t *stalled_ms)
{
	uint64_t now = now_ms();

	*stalled_ms = 0;
	if (s == NULL || s->w == NULL)
		return 0;
	for (unsigned i = 0; i < s->nw; i++) {
		const struct worker *w = &s->w[i];
		uint64_t beat = atomic_load_explicit(&w->beat_ms, memory_order_relaxed);
		if (beat == 0 || now <= beat || now - beat <= max_ms)
			continue;
		*stalled_ms = now - beat;
		return i + 1;
	}
	return 0;
}

void net_server_free(struct net_server *s)
{
	if (s == NULL)
		return;
	net_server_stop(s);
	net_server_join(s);
	free(s->w);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->stopfd >= 0)
		close(s->stopfd);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
