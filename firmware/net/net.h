/* The KMIP network layer: one listening socket, N worker threads each with its own epoll
 * loop, non-blocking sockets and non-blocking TLS handshakes, one KMIP message at a time per
 * connection (docs/tls.md, "Network layer").
 *
 * Per connection: TLS handshake (handshake timeout) -> read the 8-byte TTLV header (idle
 * timeout until its first byte, then the read timeout for the whole message) -> ttlv_msg_len
 * with max_message, BEFORE any allocation -> read the body -> handler -> write the response
 * (read timeout) -> loop. An over-limit or malformed header never reaches the handler: the
 * optional on_bad_frame callback may produce a response, which is sent before closing.
 *
 * Threads: handlers run on the worker threads; worker_new/worker_free run on their worker
 * (so a worker owns its HSM session and SQLite connection). No handler runs after
 * net_server_join returns. */
#ifndef COFFRE_FIRMWARE_NET_H
#define COFFRE_FIRMWARE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/cidr.h"
#include "board/err.h"
#include "firmware/net/identity.h"
#include "firmware/net/tls.h"

#define NET_PEER_MAX 64 /* "[v6addr]:port" */

/* Held responses (group commit, docs/kmip-server.md "Durability and group commit"): a handler
 * may answer with a response that must not be sent before something it committed is durable.
 * It sets ci->hold to a ticket and ci->hold_ops to how to wait for it; the worker then keeps
 * the response (the connection reads nothing meanwhile) and serves its other connections.
 * NET_HOLD_FLUSH asks for the handler's flush at the end of the worker's loop turn (work the
 * handler batched across connections, e.g. audit records of reads): the ticket it returns is
 * the one to wait for. A held response whose ticket fails, or that is not released within the
 * read timeout, closes its connection unsent. */
#define NET_HOLD_FLUSH UINT64_MAX
/* Like NET_HOLD_FLUSH, but the response is sent as soon as the flush has committed, without
 * waiting for its ticket to be durable (what a metadata read's audit record needs:
 * docs/kmip-server.md "Durability and group commit"). */
#define NET_HOLD_COMMIT (UINT64_MAX - 1)
/* Deferred request (docs/kmip-server.md "Batched writes"): the handler answers nothing now
 * (*resp_len = 0) and asks to be called again with the same request at the end of the
 * worker's loop turn, with ci->run_deferred set, together with the turn's other deferred
 * requests (so that it can run them all in one transaction). The second call answers as
 * usual (and may hold). */
#define NET_HOLD_DEFER (UINT64_MAX - 2)

struct net_hold_ops {
	/* commit what was batched this loop turn; *ticket = what to wait for (0 = nothing) */
	cf_err (*flush)(void *warg, uint64_t *ticket);
	/* 1 = durable (send), 0 = not yet, -1 = never (close unsent) */
	int (*state)(void *warg, uint64_t ticket);
	/* a non-blocking eventfd made readable when tickets may have become durable; the worker
	 * reads it to reset it */
	int (*wake_fd)(void *warg);
	/* The held response held[n] will never be acknowledged (its commit failed or is not
	 * durable): write the answer that says so (every item Operation Failed) into out[cap],
	 * *out_len its length. NULL, or an error: the connection closes unanswered. */
	cf_err (*failed)(void *warg, const uint8_t *held, size_t n, uint8_t *out, size_t cap,
			 size_t *out_len);
};

/* What the handler knows about the connection. */
struct net_conn_info {
	char peer[NET_PEER_MAX];   /* "127.0.0.1:40000" or "[::1]:40000" */
	const struct identity *id; /* the verified client (valid for the connection's life) */
	uint64_t conn_id;          /* unique per server, for logs and audit */
	unsigned worker;           /* 0..workers-1 */
	void *conn_arg;            /* the handler's own per-connection pointer; starts NULL */
	bool can_hold;             /* set by the net layer: the handler may hold its response */
	uint64_t hold;             /* set by the handler per response: 0 = send now */
	bool run_deferred;         /* set by the net layer: the second call of a deferred request */
	const struct net_hold_ops *hold_ops; /* with hold != 0 */
};

/* One request -> one response. arg is the worker's worker_arg (or net_handler.arg when there is
 * no worker_new). resp has cap bytes; set *resp_len. CF_OK with *resp_len == 0, or any error,
 * closes the connection without a response. */
typedef cf_err (*net_handle_fn)(void *arg, struct net_conn_info *ci, const uint8_t *req,
				size_t n, uint8_t *resp, size_t cap, size_t *resp_len);
/* A header failed ttlv_msg_len (why: CF_E_TOO_LARGE, CF_E_BAD_MESSAGE, CF_E_BAD_LENGTH). The
 * handler may write an error response (sent, then the connection closes). */
typedef cf_err (*net_bad_frame_fn)(void *arg, struct net_conn_info *ci, cf_err why,
				   const uint8_t hdr[8], uint8_t *resp, size_t cap,
				   size_t *resp_len);

struct net_handler {
	net_handle_fn handle;               /* required */
	net_bad_frame_fn on_bad_frame;      /* optional */
	/* optional per-worker state, created on the worker thread; NULL result = start fails */
	void *(*worker_new)(void *arg, unsigned worker);
	void (*worker_free)(void *worker_arg);
	/* optional: called by each worker at every sweep tick (idle or not), on its thread */
	void (*worker_tick)(void *worker_arg);
	/* optional: a connection is closing (release ci->conn_arg) */
	void (*conn_closed)(void *arg, struct net_conn_info *ci);
	void *arg;
};

struct net_config {
	const char *address;          /* numeric IPv4/IPv6 literal; NULL = "127.0.0.1" */
	uint16_t port;                /* 0 = any free port (see net_server_port) */
	unsigned workers;             /* 1..64; 0 = 4 */
	size_t max_message;           /* request limit incl. header; 0 = 1 MiB */
	size_t max_response;          /* response buffer; 0 = max_message */
	unsigned max_conns;           /* open connections over all workers; 0 = 4096 */
	unsigned handshake_timeout_ms;/* 0 = 10 s */
	unsigned read_timeout_ms;     /* first byte of a message to its last; also writes. 0 = 30 s */
	unsigned idle_timeout_ms;     /* between messages; 0 = 300 s */
	/* source addresses accepted (copied); NULL or empty = any. A connection from elsewhere
	 * is closed right after accept(2), before any TLS work (net_server_set_allow). */
	const struct cidr_list *allow;
	/* fair share (docs/security.md "Fair share"); a refused connection is closed right after
	 * accept(2), before any TLS work. Per source = IPv4 /32, IPv6 /64. */
	unsigned max_conns_per_source;  /* open connections per source; 0 = 1024 */
	unsigned handshake_rate_per_source; /* new connections per second per source; 0 = 1000 */
	unsigned handshake_burst_per_source; /* token bucket size; 0 = 2000 */
	unsigned max_handshaking;       /* connections in TLS handshake at once, all; 0 = 256 */
	unsigned max_handshaking_per_source; /* ... from one source; 0 = max_handshaking / 2 */
};

/* Counters (monotonic except open); read with net_server_stats. */
struct net_stats {
	uint64_t accepted;
	uint64_t handshakes_ok;
	uint64_t handshakes_failed;   /* verification, protocol, peer closed or timed out mid-handshake */
	uint64_t timeouts;            /* handshake, read, idle or write */
	uint64_t bad_frames;          /* headers refused by ttlv_msg_len */
	uint64_t requests;            /* handler calls */
	uint64_t refused_busy;        /* closed at accept: max_conns reached */
	uint64_t refused_source;      /* closed at accept: source outside the allow-list */
	uint64_t refused_busy_source; /* closed at accept: max_conns_per_source from that source */
	uint64_t refused_rate;        /* closed at accept: source over its handshake rate */
	uint64_t refused_handshaking; /* closed at accept: max_handshaking in handshake, or
				       * max_handshaking_per_source from that source */
	uint64_t handshaking;         /* connections in TLS handshake now */
	uint64_t open;                /* connections open now */
	uint64_t max_req_alloc;       /* largest request buffer allocated (bytes) */
};

struct net_server;

/* Create the listening socket (bound and listening when this returns, so the port is known),
 * no threads yet. tls is borrowed and must outlive the server. Errors: CF_E_CONFIG (address,
 * limits), CF_E_IO (bind/listen; logged with errno), CF_E_NOMEM. */
MUST_USE cf_err net_server_new(const struct net_config *cfg, struct tls_ctx *tls,
			       const struct net_handler *h, struct net_server **out);
/* Replace the listener's source allow-list (copied; NULL or empty = any): applies to the
 * connections accepted from now on (open ones stay). Any thread. */
void net_server_set_allow(struct net_server *s, const struct cidr_list *allow);
/* The list in force (copy). */
void net_server_get_allow(struct net_server *s, struct cidr_list *out);
/* The bound port (useful with port 0). */
uint16_t net_server_port(const struct net_server *s);
/* Start the workers; returns when every worker's worker_new has run. If one fails, the others
 * are stopped and joined and the error is returned (CF_E_INTERNAL or CF_E_NOMEM). */
MUST_USE cf_err net_server_start(struct net_server *s);
/* Ask every worker to stop: one write(2) to an eventfd. Async-signal-safe; any thread; idempotent. */
void net_server_stop(struct net_server *s);
/* Wait for the workers to finish (after net_server_stop, or they run forever). Every
 * connection is closed and worker_free has run when this returns. */
void net_server_join(struct net_server *s);
void net_server_stats(const struct net_server *s, struct net_stats *out);
/* Liveness, for the main loop's watchdog (docs/appliance.md "Watchdog"): every worker passes
 * the top of its loop at least once per sweep tick, idle or not. Returns the index + 1 of the
 * first started worker that has not done so for more than max_ms (a thread stuck in a call),
 * with *stalled_ms its age, or 0 when every worker is live. Any thread; lock-free. */
unsigned net_server_stalled(const struct net_server *s, uint64_t max_ms, uint64_t *stalled_ms);
/* Stop, join and release. NULL is a no-op. */
void net_server_free(struct net_server *s);

#endif
