/* coffre-flood: an abusive client for the fair-share figures (docs/security.md "Fair share
 * under abuse"; tools/bench.sh's abuse row, tests/integration/test_abuse.py).
 *
 *   coffre-flood --host H --port P --bind SRC --mode MODE --conns N --seconds S
 *                [--pace-ms MS] [--cert C --key K]
 *
 * N blocking threads, each bound to the source address SRC, loop for S seconds:
 *   silent          connect and send nothing; wait until the server closes (its handshake
 *                   deadline, or a refusal at accept), then connect again
 *   partial         the same after sending the first 48 bytes of a ClientHello
 *   handshake       a full TLS handshake without a client certificate, then close
 *   handshake-cert  a full mutual-TLS handshake with --cert / --key, then close
 * The server certificate is not verified (the flood spends its CPU on the server, not on
 * checks). --pace-ms: each thread pauses that long after a refusal before it connects again
 * (default 0: at once); on a test machine shared by the flood, the server and the measured
 * client, it keeps the flood's own CPU from being what is measured. Prints one line on stdout:
 *   mode=M conns=N secs=S attempts=A refused=R served=H failed=F deadline=D
 * refused: closed by the server with no byte sent to us, within 100 ms or by a reset (a refusal
 * at accept: closed at once, or held a second in the server's tarpit and reset);
 * served: handshakes completed (handshake modes); deadline: silent / partial connections the
 * server closed later (its handshake timeout); failed: anything else. Exit 0 unless set-up
 * failed (2). Client side only: never links firmware/. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define FLOOD_MAX_CONNS 4096u
#define FLOOD_REFUSED_MS 100

enum flood_mode { FM_SILENT, FM_PARTIAL, FM_HANDSHAKE, FM_HANDSHAKE_CERT };

struct flood {
	enum flood_mode mode;
	const char *mode_name;
	struct sockaddr_storage dst, src;
	socklen_t dst_len, src_len;
	SSL_CTX *ctx;
	double seconds;
	uint64_t t_end;
	unsigned pace_ms;          /* pause after a refusal (the flood's own CPU on a shared box) */
	_Atomic uint64_t attempts, refused, served, failed, deadline;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A connected socket from the source address, receive timeout 1 s; -1 on failure. */
static int flood_connect(const struct flood *f)
{
	int fd = socket(f->dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	struct timeval tv = { .tv_sec = 1 };
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (bind(fd, (const struct sockaddr *)&f->src, f->src_len) != 0 ||
	    connect(fd, (const struct sockaddr *)&f->dst, f->dst_len) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The first bytes of a TLS 1.2 ClientHello record announcing 512 bytes it never sends. */
static const uint8_t partial_hello[48] = {
	0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
};

/* silent / partial: hold the connection until the server closes it or the run ends; true
 * when that was a refusal. */
static bool flood_hold(struct flood *f, int fd)
{
	uint64_t t0 = now_ms();
	if (f->mode == FM_PARTIAL &&
	    send(fd, partial_hello, sizeof partial_hello, MSG_NOSIGNAL) != (ssize_t)sizeof partial_hello) {
		atomic_fetch_add(&f->failed, 1);
		return false;
	}
	for (;;) {
		uint8_t b[64];
		ssize_t n = recv(fd, b, sizeof b, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if (now_ms() >= f->t_end)
				return false; /* still held at the end: not counted */
			continue;
		}
		if (n > 0) /* an alert: the server gave up on the partial hello */
			continue;
		/* a refusal at accept: closed at once, or held and then reset (the tarpit) */
		bool refused = now_ms() - t0 < FLOOD_REFUSED_MS || (n < 0 && errno == ECONNRESET);
		atomic_fetch_add(refused ? &f->refused : &f->deadline, 1);
		return refused;
	}
}

/* handshake / handshake-cert: one TLS handshake, then close; true when refused. */
static bool flood_tls(struct flood *f, int fd)
{
	bool refused = false;
	SSL *ssl = SSL_new(f->ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		atomic_fetch_add(&f->failed, 1);
		return false;
	}
	int r = SSL_connect(ssl);
	if (r == 1) {
		atomic_fetch_add(&f->served, 1);
	} else {
		BIO *rb = SSL_get_rbio(ssl);
		/* not one byte back: refused at accept (closed at once, or held and reset); a
		 * server that started TLS answers the ClientHello at once */
		refused = rb != NULL && BIO_number_read(rb) == 0;
		atomic_fetch_add(refused ? &f->refused : &f->failed, 1);
	}
	ERR_clear_error();
	SSL_free(ssl);
	return refused;
}

static void *flood_thread(void *arg)
{
	struct flood *f = arg;
	while (now_ms() < f->t_end) {
		atomic_fetch_add(&f->attempts, 1);
		int fd = flood_connect(f);
		if (fd < 0) {
			atomic_fetch_add(&f->failed, 1);
			struct timespec ts = { .tv_nsec = 10 * 1000000L };
			nanosleep(&ts, NULL);
			continue;
		}
		bool refused = f->mode == FM_SILENT || f->mode == FM_PARTIAL ? flood_hold(f, fd)
									    : flood_tls(f, fd);
		close(fd);
		if (f->pace_ms > 0 && refused) {
			struct timespec ts = { .tv_sec = f->pace_ms / 1000,
					       .tv_nsec = (long)(f->pace_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static bool resolve(const char *host, const char *port, struct sockaddr_storage *out,
		    socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST }, *ai;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return false;
	memcpy(out, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return true;
}

static void usage(void)
{
	fprintf(stderr, "usage: coffre-flood --host H --port P --bind SRC "
			"--mode silent|partial|handshake|handshake-cert --conns N --seconds S "
			"[--pace-ms MS] [--cert C --key K]\n");
}

static bool ctx_make(struct flood *f, const char *cert, const char *key)
{
	if (f->mode != FM_HANDSHAKE && f->mode != FM_HANDSHAKE_CERT)
		return true;
	f->ctx = SSL_CTX_new(TLS_client_method());
	if (f->ctx == NULL || SSL_CTX_set_min_proto_version(f->ctx, TLS1_2_VERSION) != 1)
		return false;
	SSL_CTX_set_verify(f->ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(f->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(f->ctx, SSL_OP_NO_TICKET);
	if (f->mode == FM_HANDSHAKE_CERT &&
	    (cert == NULL || key == NULL ||
	     SSL_CTX_use_certificate_chain_file(f->ctx, cert) != 1 ||
	     SSL_CTX_use_PrivateKey_file(f->ctx, key, SSL_FILETYPE_PEM) != 1)) {
		fprintf(stderr, "coffre-flood: handshake-cert needs a usable --cert and --key\n");
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'h' }, { "port", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' }, { "mode", required_argument, NULL, 'm' },
		{ "conns", required_argument, NULL, 'n' }, { "seconds", required_argument, NULL, 's' },
		{ "cert", required_argument, NULL, 'c' }, { "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'a' }, { "pace-ms", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	static struct flood f;
	const char *host = "127.0.0.1", *port = NULL, *src = "127.0.0.2", *cert = NULL,
		   *key = NULL;
	unsigned long conns = 16;
	int o;
	f.mode_name = "silent";
	f.seconds = 5;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'h': host = optarg; break;
		case 'p': port = optarg; break;
		case 'b': src = optarg; break;
		case 'm': f.mode_name = optarg; break;
		case 'n': conns = strtoul(optarg, NULL, 10); break;
		case 's': f.seconds = strtod(optarg, NULL); break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'P': f.pace_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'a': break; /* accepted for symmetry with coffre-bench; not verified */
		default: usage(); return 2;
		}
	}
	static const char *const names[] = { "silent", "partial", "handshake", "handshake-cert" };
	bool known = false;
	for (unsigned i = 0; i < 4; i++) {
		if (strcmp(f.mode_name, names[i]) == 0) {
			f.mode = (enum flood_mode)i;
			known = true;
		}
	}
	if (port == NULL || !known || conns == 0 || conns > FLOOD_MAX_CONNS ||
	    !(f.seconds > 0 && f.seconds < 86400)) {
		usage();
		return 2;
	}
	if (!resolve(host, port, &f.dst, &f.dst_len) || !resolve(src, "0", &f.src, &f.src_len)) {
		fprintf(stderr, "coffre-flood: bad --host or --bind (numeric addresses)\n");
		return 2;
	}
	if (!ctx_make(&f, cert, key))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	f.t_end = now_ms() + (uint64_t)(f.seconds * 1000.0);
	pthread_t *tid = calloc(conns, sizeof *tid);
	pthread_attr_t at;
	if (tid == NULL || pthread_attr_init(&at) != 0)
		return 2;
	(void)pthread_attr_setstacksize(&at, 256 * 1024);
	unsigned long started = 0;
	for (; started < conns; started++)
		if (pthread_create(&tid[started], &at, flood_thread, &f) != 0)
			break;
	for (unsigned long i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	pthread_attr_destroy(&at);
	free(tid);
	SSL_CTX_free(f.ctx);
	printf("mode=%s conns=%lu secs=%.1f attempts=%llu refused=%llu served=%llu failed=%llu "
	       "deadline=%llu\n", f.mode_name, started, f.seconds,
	       (unsigned long long)f.attempts, (unsigned long long)f.refused,
	       (unsigned long long)f.served, (unsigned long long)f.failed,
	       (unsigned long long)f.deadline);
	return started == conns ? 0 : 2;
}
