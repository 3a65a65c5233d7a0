/* The remote audit sender (firmware/svc/auditfwd.h; docs/security.md "Remote audit"):
 * store -> RFC 5424 lines -> RFC 5425 frames -> TLS client -> the collector. */
#include "firmware/svc/auditfwd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "board/hex.h"
#include "board/log.h"
#include "board/sec.h"
#include "firmware/net/tls.h"
#include "firmware/store/audit.h"
#include "firmware/store/store.h"

#define FWD_BATCH 256              /* records read per statement */
#define FWD_REC_MAX 8192           /* one framed record, escapes included */
#define FWD_BUF_MAX (64 * 1024)    /* one TLS write */
#define FWD_IO_TIMEOUT_MS 5000     /* connect, handshake, one write */
#define FWD_IDLE_MS 50             /* how often an idle sender looks for new records */
/* RFC 5612: 32473 is the enterprise number for documentation examples; a deployment with its
 * own PEN changes it here (docs/security.md "Remote audit"). */
#define FWD_SD_ID "coffre@32473"
#define FWD_PRI_OK 85              /* facility authpriv (10) * 8 + notice (5) */
#define FWD_PRI_FAIL 84            /* ... + warning (4): the operation failed */

struct audit_fwd {
	struct audit_fwd_opts o;
	struct audit_fwd_dest d;       /* o.dest copied: its strings and key reference are ours */
	pthread_t th;
	pthread_mutex_t mu;            /* the fields below the thread shares, and stop */
	pthread_cond_t cv;             /* CLOCK_MONOTONIC: stop wakes the thread */
	bool stop;
	struct audit_fwd_status st;
	_Atomic bool full;
	/* the thread's own */
	struct store *store;
	struct addrinfo *ai;
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	char host[64];                 /* our HOSTNAME field (RFC 5424 PRINTUSASCII) */
	long pid;
	uint64_t delivered, written, head;
	uint64_t mark_seq;             /* written seq waiting for the settle time; 0 = none */
	int64_t mark_at, next_try;     /* monotonic ms */
	unsigned backoff_ms;
	uint8_t *buf;                  /* FWD_BUF_MAX */
	size_t n_buf;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fwd_error(struct audit_fwd *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fwd_error(struct audit_fwd *f, const char *fmt, ...)
{
	va_list ap;
	char msg[sizeof f->st.last_error];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&f->mu);
	bool same = strcmp(msg, f->st.last_error) == 0;
	memcpy(f->st.last_error, msg, sizeof msg);
	f->st.last_error_at = time(NULL);
	pthread_mutex_unlock(&f->mu);
	if (!same) /* a collector away for an hour is one line, not one per retry */
		log_warn("audit: remote %s: %s", f->st.collector, msg);
}

/* ---- the collector's address and the TLS client context ---------------------------------- */

static cf_err fwd_resolve(struct audit_fwd *f)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	char port[8];
	int r;

	if (f->ai != NULL)
		return CF_OK;
	snprintf(port, sizeof port, "%u", (unsigned)f->d.port);
	if ((r = getaddrinfo(f->d.host, port, &hints, &f->ai)) != 0) {
		f->ai = NULL;
		fwd_error(f, "cannot resolve %s: %s", f->d.host, gai_strerror(r));
		return CF_E_IO;
	}
	return CF_OK;
}

static const char *ssl_err(char *buf, size_t n)
{
	unsigned long e = ERR_get_error();
	if (e == 0)
		snprintf(buf, n, "%s", errno != 0 ? strerror(errno) : "closed");
	else
		ERR_error_string_n(e, buf, n);
	ERR_clear_error();
	return buf;
}

/* The pasted CA bundle into the context's trust store. */
static cf_err fwd_ca_pem(SSL_CTX *c, const char *pem)
{
	X509_STORE *xs = SSL_CTX_get_cert_store(c);
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x;
	unsigned n = 0;

	if (b == NULL || xs == NULL) {
		BIO_free(b);
		return CF_E_NOMEM;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_cert(xs, x);
		X509_free(x);
		if (ok != 1)
			break;
		n++;
	}
	BIO_free(b);
	ERR_clear_error();
	return n > 0 ? CF_OK : CF_E_BAD_VALUE;
}

static cf_err fwd_ctx(struct audit_fwd *f)
{
	const struct config *cfg = f->o.cfg;
	char e[120];

	if (f->ctx != NULL)
		return CF_OK;
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	if (c == NULL)
		return CF_E_NOMEM;
	SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	if (f->d.ca_pem != NULL ? fwd_ca_pem(c, f->d.ca_pem) != CF_OK
				: SSL_CTX_load_verify_locations(c, f->d.ca_file, NULL) != 1) {
		fwd_error(f, "the collector's CA (%s): %s", f->d.ca_pem != NULL ? "set at the console"
			  : f->d.ca_file, ssl_err(e, sizeof e));
		goto bad;
	}
	if (SSL_CTX_use_certificate_chain_file(c, f->d.cert_file) != 1) {
		fwd_error(f, "client certificate %s: %s", f->d.cert_file, ssl_err(e, sizeof e));
		goto bad;
	}
	if (f->d.key == NULL) {
		fwd_error(f, "no client key (see the log of the start)");
		goto bad;
	}
	if (SSL_CTX_use_PrivateKey(c, tls_key_pkey(f->d.key)) != 1 ||
	    SSL_CTX_check_private_key(c) != 1) {
		fwd_error(f, "client key does not fit %s: %s", f->d.cert_file, ssl_err(e, sizeof e));
		goto bad;
	}
	if (cfg->tls.ciphers[0] != '\0')
		(void)SSL_CTX_set_cipher_list(c, cfg->tls.ciphers);
	f->ctx = c;
	return CF_OK;
bad:
	SSL_CTX_free(c);
	return CF_E_TLS;
}

/* ---- one connection ------------------------------------------------------------------------ */

static void fwd_set_connected(struct audit_fwd *f, bool up)
{
	pthread_mutex_lock(&f->mu);
	f->st.connected = up;
	f->st.since = time(NULL);
	if (up)
		f->st.last_error[0] = '\0';
	pthread_mutex_unlock(&f->mu);
}

/* Close the connection; what was written after the cursor will be sent again. */
static void fwd_drop(struct audit_fwd *f)
{
	if (f->ssl != NULL)
		SSL_free(f->ssl); /* no close_notify: the peer is gone or misbehaved */
	f->ssl = NULL;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->st.connected) {
		log_info("audit: remote %s: disconnected; resending from seq %" PRIu64,
			 f->st.collector, f->delivered + 1);
		fwd_set_connected(f, false);
	}
	f->written = f->delivered;
	f->mark_seq = 0;
	f->next_try = mono_ms() + f->backoff_ms;
	f->backoff_ms = f->backoff_ms * 2 > AUDIT_FWD_BACKOFF_MAX_MS ? AUDIT_FWD_BACKOFF_MAX_MS
								     : f->backoff_ms * 2;
}

/* TCP connect within FWD_IO_TIMEOUT_MS; the socket stays non-blocking (fwd_wait). */
static int fwd_tcp(struct audit_fwd *f)
{
	int err = ECONNREFUSED;

	for (struct addrinfo *a = f->ai; a != NULL; a = a->ai_next) {
		int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
			err = errno;
			close(fd);
			continue;
		}
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		socklen_t sl = sizeof err;
		int r = poll(&p, 1, FWD_IO_TIMEOUT_MS);
		if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err == 0)
			return fd;
		if (r == 0)
			err = ETIMEDOUT;
		close(fd);
	}
	fwd_error(f, "connect: %s", strerror(err));
	return -1;
}

/* After an SSL call returned r: wait (at most FWD_IO_TIMEOUT_MS) for what it wants. true =
 * call it again; false = it failed (or timed out). */
static bool fwd_wait(struct audit_fwd *f, int r)
{
	int e = SSL_get_error(f->ssl, r);
	struct pollfd p = { .fd = f->fd };

	if (e == SSL_ERROR_WANT_READ)
		p.events = POLLIN;
	else if (e == SSL_ERROR_WANT_WRITE)
		p.events = POLLOUT;
	else
		return false;
	if (poll(&p, 1, FWD_IO_TIMEOUT_MS) == 1)
		return true;
	errno = ETIMEDOUT;
	return false;
}

static cf_err fwd_connect(struct audit_fwd *f)
{
	const char *name = f->d.name[0] != '\0' ? f->d.name : f->d.host;
	pthread_mutex_t *kl = tls_key_lock(f->d.key);
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
	char e[120];

	TRY(fwd_resolve(f));
	TRY(fwd_ctx(f));
	if ((f->fd = fwd_tcp(f)) < 0)
		return CF_E_IO;
	if ((f->ssl = SSL_new(f->ctx)) == NULL || SSL_set_fd(f->ssl, f->fd) != 1)
		return CF_E_NOMEM;
	/* the collector's certificate must name it: an IP address SAN, or a DNS name */
	if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(f->ssl), name) != 1
		  : (SSL_set1_host(f->ssl, name) != 1 || SSL_set_tlsext_host_name(f->ssl, name) != 1))
		return CF_E_TLS;
	ERR_clear_error();
	errno = 0;
	int r;
	for (;;) {
		/* an engine key that is not EC: its signature must not run beside a handshake step
		 * of the KMIP server (tls.h tls_key_lock) */
		if (kl != NULL)
			pthread_mutex_lock(kl);
		r = SSL_connect(f->ssl);
		if (kl != NULL)
			pthread_mutex_unlock(kl);
		if (r == 1 || !fwd_wait(f, r))
			break;
	}
	if (r != 1) {
		long v = SSL_get_verify_result(f->ssl);
		if (v != X509_V_OK)
			fwd_error(f, "TLS: collector certificate refused: %s",
				  X509_verify_cert_error_string(v));
		else
			fwd_error(f, "TLS handshake: %s", ssl_err(e, sizeof e));
		return CF_E_TLS;
	}
	return CF_OK;
}

/* The peer closed, reset, or failed: the connection is over. A collector has nothing to say,
 * but TLS 1.3 servers send session tickets after the handshake: those are read and dropped
 * here, as is any application data. */
static bool fwd_peer_gone(struct audit_fwd *f)
{
	char b[512];
	int r;

	ERR_clear_error();
	errno = 0;
	while ((r = SSL_read(f->ssl, b, sizeof b)) > 0)
		;
	int e = SSL_get_error(f->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return false;
	ERR_clear_error();
	fwd_error(f, "the collector closed the connection");
	return true;
}

/* ---- RFC 5424 over RFC 5425 ------------------------------------------------------------------ */

struct out {
	char *p;
	size_t n, cap;
	bool over;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->over || n > o->cap - o->n) {
		o->over = true;
		return;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= o->cap - o->n)
		o->over = true;
	else
		o->n += (size_t)r;
}

/* An SD-PARAM: name="value" with '"', '\' and ']' escaped (RFC 5424 6.3.3). */
static void put_param(struct out *o, const char *name, const char *v)
{
	putf(o, " %s=\"", name);
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\' || *v == ']')
			put(o, "\\", 1);
		put(o, v, 1);
	}
	put(o, "\"", 1);
}

static void put_hash(struct out *o, const char *name, const uint8_t h[STORE_HASH_LEN])
{
	char hx[2 * STORE_HASH_LEN + 1];
	if (hex_encode(h, STORE_HASH_LEN, HEX_LOWER, hx, sizeof hx) != CF_OK)
		hx[0] = '\0';
	put_param(o, name, hx);
}

/* One record as an RFC 5424 message: every field of the chain in the structured data, so the
 * collector can recompute the hashes; the free-form MSG part is a short ASCII summary. */
static size_t fwd_format(const struct audit_fwd *f, const struct store_audit_row *r, char *p,
			 size_t cap)
{
	struct out o = { p, 0, cap, false };
	struct tm tm;
	time_t t = (time_t)r->time;
	char ts[32], num[24], op[AUDIT_OP_MAX + 1];

	if (gmtime_r(&t, &tm) == NULL || strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(ts, sizeof ts, "-");
	putf(&o, "<%d>1 %s %s coffred %ld audit [" FWD_SD_ID, r->result == 0 ? FWD_PRI_OK
		    : FWD_PRI_FAIL, ts, f->host, f->pid);
	snprintf(num, sizeof num, "%" PRIu64, r->seq);
	put_param(&o, "seq", num);
	snprintf(num, sizeof num, "%" PRId64, r->time);
	put_param(&o, "time", num);
	put_param(&o, "actor", r->actor);
	put_param(&o, "source", r->source);
	put_param(&o, "op", r->operation);
	put_param(&o, "uid", r->uid);
	snprintf(num, sizeof num, "%" PRId64, r->result);
	put_param(&o, "result", num);
	put_param(&o, "detail", r->detail);
	put_hash(&o, "prev", r->prev_hash);
	put_hash(&o, "hash", r->hash);
	snprintf(op, sizeof op, "%s", r->operation);
	for (char *c = op; *c != '\0'; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c > 0x7e)
			*c = '_'; /* one token: the fields are in the structured data */
	putf(&o, "] audit seq=%" PRIu64 " op=%s result=%" PRId64, r->seq, op, r->result);
	return o.over ? 0 : o.n;
}

static cf_err fwd_flush(struct audit_fwd *f)
{
	char e[120];

	if (f->n_buf == 0)
		return CF_OK;
	ERR_clear_error();
	errno = 0;
	int r;
	while ((r = SSL_write(f->ssl, f->buf, (int)f->n_buf)) <= 0 && fwd_wait(f, r))
		;
	f->n_buf = 0;
	if (r <= 0) {
		fwd_error(f, "write: %s", ssl_err(e, sizeof e));
		return CF_E_IO;
	}
	return CF_OK;
}

/* store_audit_fn: frame one record into the batch (RFC 5425: MSG-LEN SP SYSLOG-MSG). */
static cf_err fwd_one(void *arg, const struct store_audit_row *r)
{
	struct audit_fwd *f = arg;
	char msg[FWD_REC_MAX];
	char len[16];

	if (r->seq != f->written + 1)
		return CF_E_STORE; /* the chain has a hole: audit verify says where */
	size_t n = fwd_format(f, r, msg, sizeof msg);
	if (n == 0)
		return CF_E_INTERNAL;
	int ln = snprintf(len, sizeof len, "%zu ", n);
	if (f->n_buf + (size_t)ln + n > FWD_BUF_MAX)
		TRY(fwd_flush(f));
	memcpy(f->buf + f->n_buf, len, (size_t)ln);
	memcpy(f->buf + f->n_buf + (size_t)ln, msg, n);
	f->n_buf += (size_t)ln + n;
	f->written = r->seq;
	return CF_OK;
}

/* Send up to FWD_BATCH records after f->written. true when there may be more. */
static bool fwd_send(struct audit_fwd *f)
{
	unsigned n = 0;
	uint64_t from = f->written;
	cf_err rc = audit_read_after(f->store, from, FWD_BATCH, fwd_one, f, &n);

	if (rc == CF_OK)
		rc = fwd_flush(f);
	f->n_buf = 0;
	if (rc != CF_OK) {
		if (rc != CF_E_IO)
			fwd_error(f, "cannot send the records after seq %" PRIu64 " (%s)", from,
				  cf_err_str(rc));
		fwd_drop(f); /* resend from the cursor on the next connection */
		return false;
	}
	return n == FWD_BATCH;
}

/* ---- the backlog, the policy and the thread -------------------------------------------------- */

static void fwd_audit(struct audit_fwd *f, const char *op, const char *detail)
{
	struct audit_record r = {
		.time = f->o.now(f->o.now_arg), .actor = "coffred", .source = "local",
		.operation = op, .uid = NULL, .result = 0, .detail = detail,
	};
	if (audit_append(f->store, &r, NULL) != CF_OK)
		log_warn("audit: could not record %s", op);
}

static void fwd_backlog(struct audit_fwd *f)
{
	const struct config *cfg = f->o.cfg;
	uint8_t h[STORE_HASH_LEN];
	uint64_t head = 0;
	char detail[AUDIT_DETAIL_MAX + 1];

	if (store_audit_head(f->store, &head, h) == CF_OK)
		f->head = head;
	uint64_t queued = f->head > f->delivered ? f->head - f->delivered : 0;
	bool was = atomic_load(&f->full);
	bool full = was ? queued > cfg->audit.queue_max / 2 : queued >= cfg->audit.queue_max;
	pthread_mutex_lock(&f->mu);
	f->st.delivered = f->delivered;
	f->st.written = f->written;
	f->st.head = f->head;
	f->st.queued = queued;
	f->st.full = full;
	pthread_mutex_unlock(&f->mu);
	if (full == was)
		return;
	atomic_store(&f->full, full);
	if (cfg->audit.queue_stop)
		atomic_store(f->o.hold, full);
	snprintf(detail, sizeof detail, "%" PRIu64 " records not delivered to %s (queue_max %u, "
		 "on_queue_full %s)", queued, f->st.collector, cfg->audit.queue_max,
		 cfg->audit.queue_stop ? "stop" : "continue");
	if (full)
		log_err("audit: remote backlog full: %s", detail);
	else
		log_info("audit: remote backlog drained: %s", detail);
	fwd_audit(f, full ? "audit:remote-full" : "audit:remote-drained", detail);
}

/* The cursor moves to what was written once the connection lasted the settle time after it. */
static void fwd_settle(struct audit_fwd *f, int64_t now)
{
	if (f->mark_seq == 0) {
		if (f->written > f->delivered) {
			f->mark_seq = f->written;
			f->mark_at = now;
		}
		return;
	}
	if (now - f->mark_at < AUDIT_FWD_SETTLE_MS)
		return;
	if (audit_sent_set(f->store, f->mark_seq) == CF_OK)
		f->delivered = f->mark_seq;
	f->mark_seq = 0;
}

/* One turn: connect when due, notice a closed peer, send, settle. true = more to send now. */
static bool fwd_turn(struct audit_fwd *f)
{
	int64_t now = mono_ms();
	bool more = false;

	fwd_backlog(f);
	if (f->ssl == NULL && now >= f->next_try) {
		if (fwd_connect(f) != CF_OK) {
			fwd_drop(f);
			return false;
		}
		log_info("audit: remote %s: connected; sending from seq %" PRIu64, f->st.collector,
			 f->delivered + 1);
		f->backoff_ms = AUDIT_FWD_BACKOFF_MIN_MS;
		f->written = f->delivered;
		fwd_set_connected(f, true);
	}
	if (f->ssl == NULL)
		return false;
	if (fwd_peer_gone(f)) {
		fwd_drop(f);
		return false;
	}
	if (f->written < f->head)
		more = fwd_send(f);
	if (f->ssl != NULL)
		fwd_settle(f, mono_ms());
	return more;
}

static void *fwd_main(void *arg)
{
	struct audit_fwd *f = arg;
	struct timespec dl;

	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		pthread_mutex_unlock(&f->mu);
		bool more = fwd_turn(f);
		pthread_mutex_lock(&f->mu);
		if (more || f->stop)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_nsec += FWD_IDLE_MS * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&f->cv, &f->mu, &dl);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

static void fwd_free(struct audit_fwd *f)
{
	if (f->ssl != NULL)
		SSL_free(f->ssl);
	if (f->fd >= 0)
		close(f->fd);
	SSL_CTX_free(f->ctx);
	if (f->ai != NULL)
		freeaddrinfo(f->ai);
	store_close(f->store);
	free(f->buf);
	free((char *)f->d.ca_file);
	free((char *)f->d.ca_pem);
	free((char *)f->d.cert_file);
	free((char *)f->d.source);
	tls_key_free(f->d.key);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/* Our HOSTNAME field: the host name, printable US-ASCII only (RFC 5424 6.2.4). */
static void fwd_hostname(struct audit_fwd *f)
{
	if (gethostname(f->host, sizeof f->host) != 0 || f->host[0] == '\0')
		snprintf(f->host, sizeof f->host, "-");
	f->host[sizeof f->host - 1] = '\0';
	for (char *c = f->host; *c != '\0'; c++)
		if ((unsigned char)*c < 33 || (unsigned char)*c > 126)
			*c = '_';
}

/* The cursor counts for one collector (meta AUDIT_FWD_CURSOR_OWNER = its HOST:PORT): another
 * collector starts from seq 1 (docs/security.md "Remote audit"). A store without the row
 * (written before it existed) keeps its cursor for the collector in effect now. */
#define AUDIT_FWD_CURSOR_OWNER "audit_remote_sent_to"
static cf_err fwd_cursor_owner(struct audit_fwd *f, bool *reset)
{
	char owner[sizeof f->d.remote];
	cf_err rc = store_meta_get(f->store, AUDIT_FWD_CURSOR_OWNER, owner, sizeof owner);

	*reset = false;
	if (rc == CF_OK && strcmp(owner, f->d.remote) == 0)
		return CF_OK;
	if (rc == CF_OK || rc == CF_E_NO_SPACE) {
		if (f->delivered != 0)
			log_info("audit: remote %s: a new collector (was %s): its copy starts at seq 1",
				 f->d.remote, rc == CF_OK ? owner : "?");
		TRY(audit_sent_set(f->store, 0));
		f->delivered = 0;
		*reset = true;
	} else if (rc != CF_E_NOT_FOUND) {
		return rc;
	}
	return store_meta_set(f->store, AUDIT_FWD_CURSOR_OWNER, f->d.remote);
}

static cf_err fwd_open(const struct audit_fwd_opts *o, struct audit_fwd *f)
{
	const struct config *cfg = o->cfg;
	struct store_opts so = { .busy_timeout_ms = cfg->store.busy_timeout_ms,
				 .audit_syslog = cfg->audit.syslog };
	pthread_condattr_t ca;
	char detail[AUDIT_DETAIL_MAX + 1];

	f->o = *o;
	f->o.dest = NULL;
	f->d = *o->dest;
	f->d.ca_file = f->d.ca_pem = f->d.cert_file = f->d.source = NULL;
	f->d.key = tls_key_ref(o->dest->key);
	f->fd = -1;
	f->pid = (long)getpid();
	f->backoff_ms = AUDIT_FWD_BACKOFF_MIN_MS;
	fwd_hostname(f);
	pthread_mutex_init(&f->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((o->dest->ca_file != NULL && (f->d.ca_file = strdup(o->dest->ca_file)) == NULL) ||
	    (o->dest->ca_pem != NULL && (f->d.ca_pem = strdup(o->dest->ca_pem)) == NULL) ||
	    (f->d.cert_file = strdup(o->dest->cert_file != NULL ? o->dest->cert_file : "")) == NULL ||
	    (f->d.source = strdup(o->dest->source != NULL ? o->dest->source : "")) == NULL)
		return CF_E_NOMEM;
	snprintf(f->st.collector, sizeof f->st.collector, "%s", f->d.remote);
	snprintf(f->st.name, sizeof f->st.name, "%s", f->d.name[0] != '\0' ? f->d.name : f->d.host);
	snprintf(f->st.source, sizeof f->st.source, "%s", f->d.source);
	f->st.queue_max = cfg->audit.queue_max;
	f->st.stop_policy = cfg->audit.queue_stop;
	f->st.since = time(NULL);
	if ((f->buf = malloc(FWD_BUF_MAX)) == NULL)
		return CF_E_NOMEM;
	TRY(store_open(o->store_path, &so, &f->store));
	TRY(audit_sent_get(f->store, &f->delivered));
	bool reset = false;
	TRY(fwd_cursor_owner(f, &reset));
	f->written = f->delivered;
	(void)fwd_resolve(f); /* once here; the thread retries when it failed */
	snprintf(detail, sizeof detail, "collector %s name %s (%s) queue_max %u on_queue_full %s; "
		 "%s %" PRIu64, f->d.remote, f->st.name, f->st.source, cfg->audit.queue_max,
		 cfg->audit.queue_stop ? "stop" : "continue",
		 reset ? "a new collector: sending from seq 1, delivered" : "delivered up to seq",
		 f->delivered);
	fwd_audit(f, "audit:remote-start", detail);
	return CF_OK;
}

cf_err audit_fwd_start(const struct audit_fwd_opts *o, struct audit_fwd **out)
{
	struct audit_fwd *f;
	cf_err rc;

	if (out == NULL)
		return CF_E_INVALID_ARG;
	*out = NULL;
	if (o == NULL || o->cfg == NULL || o->dest == NULL || o->store_path == NULL ||
	    o->now == NULL || o->hold == NULL)
		return CF_E_INVALID_ARG;
	if (o->dest->remote[0] == '\0')
		return CF_OK;
	if ((f = calloc(1, sizeof *f)) == NULL)
		return CF_E_NOMEM;
	if ((rc = fwd_open(o, f)) != CF_OK) {
		fwd_free(f);
		return rc;
	}
	if (pthread_create(&f->th, NULL, fwd_main, f) != 0) {
		fwd_free(f);
		return CF_E_NOMEM;
	}
	log_info("audit: remote %s: sender started (delivered up to seq %" PRIu64 ")",
		 f->st.collector, f->delivered);
	*out = f;
	return CF_OK;
}

void audit_fwd_stop(struct audit_fwd *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->th, NULL);
	atomic_store(f->o.hold, false);
	fwd_free(f);
}

void audit_fwd_status_get(struct audit_fwd *f, struct audit_fwd_status *out)
{
	memset(out, 0, sizeof *out);
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	*out = f->st;
	pthread_mutex_unlock(&f->mu);
}

bool audit_fwd_full(struct audit_fwd *f)
{
	return f != NULL && atomic_load(&f->full);
}

/* ---- the console's setting (auditfwd.h) ------------------------------------------------------ */

#define PEM_BEGIN "-----BEGIN "
#define PEM_BEGIN_CERT "-----BEGIN CERTIFICATE-----"

/* Every PEM block of the text is a certificate: how many there are (*n), or false. */
static bool ca_blocks(const char *pem, size_t n, unsigned *count)
{
	size_t bl = strlen(PEM_BEGIN), cl = strlen(PEM_BEGIN_CERT);

	*count = 0;
	for (size_t i = 0; i < n;) {
		const char *eol = memchr(pem + i, '\n', n - i);
		size_t l = eol != NULL ? (size_t)(eol - (pem + i)) : n - i;
		if (l >= bl && memcmp(pem + i, PEM_BEGIN, bl) == 0) {
			if (l < cl || memcmp(pem + i, PEM_BEGIN_CERT, cl) != 0)
				return false;
			(*count)++;
		}
		i += l + 1;
	}
	return true;
}

static bool ca_usable(X509 *x)
{
	int k = X509_check_ca(x);
	return k == 1 || k == 3; /* CA:TRUE (keyCertSign if key usage says), or a v1 root */
}

cf_err audit_ca_check(const char *pem, size_t n, struct audit_ca_info *info, const char **why)
{
	unsigned blocks = 0;
	BIO *b = NULL;
	X509 *x = NULL;
	cf_err rc = CF_E_BAD_VALUE;

	memset(info, 0, sizeof *info);
	*why = NULL;
	if (pem == NULL || n == 0 || memchr(pem, '\0', n) != NULL) {
		*why = "nothing was pasted";
		return CF_E_BAD_VALUE;
	}
	if (n > AUDIT_CA_PEM_MAX) {
		*why = "the bundle is too large";
		return CF_E_TOO_LARGE;
	}
	if (!ca_blocks(pem, n, &blocks)) {
		*why = "a PEM block that is not a certificate (never paste a private key)";
		return CF_E_BAD_VALUE;
	}
	if (blocks == 0) {
		*why = "no PEM certificate (-----BEGIN CERTIFICATE-----)";
		return CF_E_BAD_VALUE;
	}
	if (blocks > AUDIT_CA_CERTS_MAX) {
		*why = "too many certificates (at most 8)";
		return CF_E_BAD_VALUE;
	}
	if ((b = BIO_new_mem_buf(pem, (int)n)) == NULL)
		return CF_E_NOMEM;
	while (info->n < blocks) {
		if ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
			*why = "a certificate that does not parse (cut or altered?)";
			goto out;
		}
		if (!ca_usable(x)) {
			*why = "not a CA certificate (basic constraints CA:TRUE and keyCertSign "
			       "needed): paste the CA that issued the collector's certificate";
			goto out;
		}
		if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0 ||
		    X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
			info->expired = true;
		if (info->n == 0) {
			unsigned char md[EVP_MAX_MD_SIZE];
			unsigned mdl = 0;
			if (X509_digest(x, EVP_sha256(), md, &mdl) != 1 || mdl != 32 ||
			    hex_encode(md, 32, HEX_LOWER, info->fp, sizeof info->fp) != CF_OK) {
				rc = CF_E_INTERNAL;
				goto out;
			}
			X509_NAME_oneline(X509_get_subject_name(x), info->subject, sizeof info->subject);
		}
		info->n++;
		X509_free(x);
		x = NULL;
	}
	rc = CF_OK;
out:
	X509_free(x);
	BIO_free(b);
	ERR_clear_error();
	if (rc != CF_OK)
		info->n = 0;
	return rc;
}

bool audit_remote_name_ok(const char *name)
{
	size_t l = strlen(name);
	if (l == 0 || l > CONFIG_REMOTE_MAX)
		return false;
	for (size_t i = 0; i < l; i++)
		if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7f)
			return false;
	return true;
}

cf_err audit_remote_format(const char *remote, const char *name, const char *ca_pem, char **out)
{
	char host[CONFIG_REMOTE_MAX + 1];
	uint16_t port = 0;

	*out = NULL;
	if (remote == NULL)
		return (*out = strdup("off")) != NULL ? CF_OK : CF_E_NOMEM;
	if (strlen(remote) > CONFIG_REMOTE_MAX + 7 || !config_hostport(remote, host, &port) ||
	    name == NULL || !audit_remote_name_ok(name) || ca_pem == NULL ||
	    strlen(ca_pem) > AUDIT_CA_PEM_MAX)
		return CF_E_BAD_VALUE;
	size_t n = strlen(remote) + strlen(name) + strlen(ca_pem) + 3;
	if ((*out = malloc(n)) == NULL)
		return CF_E_NOMEM;
	snprintf(*out, n, "%s %s\n%s", remote, name, ca_pem);
	return CF_OK;
}

cf_err audit_remote_parse(const char *text, struct audit_remote_saved *out)
{
	memset(out, 0, sizeof *out);
	if (strcmp(text, "off") == 0) {
		out->off = true;
		return CF_OK;
	}
	const char *nl = strchr(text, '\n'), *sp = strchr(text, ' ');
	if (nl == NULL || sp == NULL || sp > nl || (size_t)(sp - text) >= sizeof out->remote ||
	    (size_t)(nl - sp - 1) >= sizeof out->name)
		return CF_E_BAD_VALUE;
	memcpy(out->remote, text, (size_t)(sp - text));
	memcpy(out->name, sp + 1, (size_t)(nl - sp - 1));
	if (!config_hostport(out->remote, out->host, &out->port) ||
	    !audit_remote_name_ok(out->name) || nl[1] == '\0')
		return CF_E_BAD_VALUE;
	out->ca_pem = nl + 1;
	return CF_OK;
}
