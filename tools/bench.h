/* coffre-bench: a KMIP load generator for any KMIP server. Internal header shared
 * by tools/coffre_bench.c (options, orchestration, report) and tools/bench_*.c.
 *
 * Model: T threads, each with its own epoll loop and conns/T non-blocking mutual-TLS
 * connections; one request in flight per connection; requests are encoded once before the
 * run (bench_req.c) and sent as the same bytes every time; every response is decoded and
 * must be a single batch item with Result Status Success; latencies go into a fixed
 * log-linear histogram per thread (bench_hist.c), merged at the end. No allocation per
 * request. idle: --conns connections are opened and then left silent while one extra client
 * (thread 0) repeatedly connects, handshakes, sends Discover Versions and closes: the
 * latencies recorded are that new client's service times. Uses kmip/ as the client codec and OpenSSL for TLS; never firmware/. */
#ifndef COFFRE_TOOLS_BENCH_H
#define COFFRE_TOOLS_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <openssl/ssl.h>
#include "board/err.h"
#include "kmip/kmip.h"

enum bench_op {
	BENCH_OP_GET,
	BENCH_OP_CREATE,
	BENCH_OP_LOCATE,
	BENCH_OP_GET_ATTRS,
	BENCH_OP_VCENTER,
	BENCH_OP_IDLE,             /* --conns idle connections + a new client every few ms */
	BENCH_OP_ENCRYPT,          /* Encrypt AES-256-GCM of 4 KiB, server-made nonce */
	BENCH_OP_SIGN,             /* Sign ECDSA P-256 with SHA-256 of 64 bytes */
};

#define BENCH_UID_MAX 256
#define BENCH_ATTR_MAX 256

struct bench_cfg {
	const char *host;
	const char *port;
	const char *cert;
	const char *key;
	const char *ca;
	enum bench_op op;
	const char *op_name;
	unsigned conns;
	double seconds;            /* 0 = no time limit (needs --requests) */
	uint64_t requests;         /* 0 = no count limit */
	bool resume;               /* vcenter: TLS session resumption */
	struct kmip_pv pv;         /* protocol version of every request */
	char uid[BENCH_UID_MAX];   /* get / get-attributes / vcenter target ("" = create one) */
	char attr_name[BENCH_ATTR_MAX];   /* --attr NAME=VALUE ("" = none) */
	char attr_value[BENCH_ATTR_MAX];
	unsigned threads;
	double warmup;             /* seconds run before measuring */
	double timeout;            /* seconds: connect, handshake, one request */
	int32_t max_items;         /* locate Maximum Items, 0 = not sent */
	uint64_t max_errors;       /* the run stops early once this many errors occurred */
	bool name_check;           /* verify the server certificate names --host */
};

/* ---- histogram (bench_hist.c) --------------------------------------------------------- */

/* Log-linear buckets over nanoseconds: exact below 128 ns, then 64 sub-buckets per power of
 * two (<= 1.6 % relative error), up to 2^64 ns. Fixed size: no allocation when recording. */
#define BENCH_HIST_SUB 64u
#define BENCH_HIST_BUCKETS (59u * BENCH_HIST_SUB)

struct bench_hist {
	uint64_t n;
	uint64_t b[BENCH_HIST_BUCKETS];
};

void bench_hist_add(struct bench_hist *h, uint64_t ns);
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/* q in [0, 1]; the middle of the bucket holding the rank ceil(q * n), in ms; 0 when empty. */
double bench_hist_quantile_ms(const struct bench_hist *h, double q);
/* Bucket index of a value and the value range [lo, lo + width) of a bucket (for tests). */
size_t bench_hist_index(uint64_t ns);
void bench_hist_range(size_t idx, uint64_t *lo, uint64_t *width);

/* ---- requests and responses (bench_req.c) --------------------------------------------- */

/* One pre-encoded Request Message (heap, made once before the run). */
struct bench_msg {
	uint8_t *p;
	size_t n;
	uint32_t op;               /* KMIP Operation of its single batch item */
};

/* What a response said, for the first-error report. */
struct bench_rsp_info {
	uint32_t status;
	bool has_reason;
	uint32_t reason;
	char message[160];         /* Result Message, printable ASCII only */
	char uid[BENCH_UID_MAX];   /* Create / Get: the Unique Identifier returned */
};

/* Limits used to frame and decode responses. */
struct kmip_limits bench_limits(void);

/* Encode the request for one KMIP operation of the run (Create, Get, Get Attributes,
 * Locate, Discover Versions) in cfg->pv into a new heap buffer. uid: Get / Get Attributes. */
MUST_USE cf_err bench_msg_make(const struct bench_cfg *cfg, uint32_t op, const char *uid,
			       struct bench_msg *out);
void bench_msg_free(struct bench_msg *m);

/* Decode a whole Response Message and check it: one batch item, the expected operation
 * (when the server echoes it), Result Status Success. CF_OK on success; CF_E_STATE when the
 * server answered with a failure (info says which); a decode error otherwise. a is reset. */
MUST_USE cf_err bench_rsp_check(const uint8_t *p, size_t n, uint32_t want_op,
				struct kmip_arena *a, struct bench_rsp_info *info);

/* One line describing a failed check, e.g. "Get: Operation Failed / Item Not Found: ...". */
void bench_rsp_describe(cf_err rc, uint32_t op, const struct bench_rsp_info *info,
			char *buf, size_t n);

/* ---- TLS (bench_tls.c) ---------------------------------------------------------------- */

/* Client context: TLS >= 1.2, our certificate and key, peer verification against --ca (and
 * the --host name unless disabled). resume=false also disables tickets. On failure a clear
 * message is written to err. */
MUST_USE cf_err bench_tls_ctx_new(const struct bench_cfg *cfg, SSL_CTX **out, char *err,
				  size_t errn);
/* Text of the last TLS failure of ssl (OpenSSL error queue + certificate verify result);
 * clears the error queue. */
void bench_tls_error(SSL *ssl, int ret, char *buf, size_t n);
/* One blocking exchange on a new connection (the set-up Create): connect, handshake, send
 * req, read and check the response. */
MUST_USE cf_err bench_tls_call(const struct bench_cfg *cfg, SSL_CTX *ctx,
			       const struct sockaddr_storage *sa, socklen_t salen,
			       const struct bench_msg *req, struct bench_rsp_info *info,
			       char *err, size_t errn);

/* ---- the run (bench_loop.c) ----------------------------------------------------------- */

struct bench_run;

struct bench_thread {
	pthread_t tid;
	struct bench_run *run;
	unsigned first_conn;        /* this thread's connections: [first, first + n) */
	unsigned n_conns;
	struct bench_hist hist;
	uint64_t ops;               /* successes inside the measured window */
	uint64_t errors;
	uint64_t handshakes;
	uint64_t resumed;
	uint64_t idle_held;         /* idle: connections still open when the run ended */
	uint64_t idle_opened;       /* idle: connections whose handshake completed */
	cf_err rc;                  /* set-up failure of the thread itself (epoll, memory) */
};

struct bench_run {
	const struct bench_cfg *cfg;
	SSL_CTX *ctx;
	struct sockaddr_storage sa;
	socklen_t salen;
	struct bench_msg req;       /* the measured request (vcenter: the Get) */
	struct bench_msg dv;        /* vcenter: Discover Versions, sent first */
	pthread_barrier_t ready;    /* threads connected (persistent ops) */
	pthread_barrier_t go;       /* t0 / t_end published */
	_Atomic uint64_t t0;        /* CLOCK_MONOTONIC ns: measuring starts */
	_Atomic uint64_t t_end;     /* measuring stops (UINT64_MAX: no time limit) */
	_Atomic uint64_t stop_ns;   /* set once by whoever stops the run early, else 0 */
	atomic_bool stop;
	_Atomic uint64_t done;      /* counted ops (for --requests) */
	_Atomic uint64_t errors;    /* all threads, for --max-errors */
	pthread_mutex_t err_mu;     /* guards first_err */
	char first_err[512];
	struct bench_thread *th;
	unsigned n_threads;
};

uint64_t bench_now_ns(void);
/* Record an error (the first one's text is kept) and stop the run at max_errors. */
void bench_run_error(struct bench_run *run, struct bench_thread *th, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Ask every thread to stop; the first caller's time is kept as stop_ns. */
void bench_run_stop(struct bench_run *run);
/* Thread body: start the thread's connections, wait on the barriers, run until stop. */
void *bench_thread_main(void *arg);

#endif
