/* Fair share per source address (docs/security.md "Fair share"): a bounded table of sources
 * (IPv4 /32, IPv6 /64; an IPv4-mapped IPv6 address is its IPv4 source) with, per source, the
 * connections open now, those of them still in the TLS handshake, and a token bucket on new
 * handshakes. Pure: no I/O, no locks, no
 * allocation after fair_table_init; the caller serialises (firmware/net/net.c: one small
 * mutex held on accept and close only). */
#ifndef COFFRE_BOARD_FAIR_H
#define COFFRE_BOARD_FAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

struct sockaddr;

#define FAIR_WAYS 8            /* sources per set (LRU among the idle ones) */
#define FAIR_SETS 512          /* FAIR_WAYS * FAIR_SETS = 4096 sources remembered */
/* Extra handshake tokens a connection costs its source when the server did its handshake work
 * (sent its flight: key exchange and signature) and the connection then ended without a request
 * nor a byte after the handshake, other than by its deadline (net.c conn_close: a failed
 * handshake, a full handshake for nothing; a silent or partial connection costs the server no
 * crypto and is bounded by the per-source handshake share and the handshake timeout instead):
 * a flood of handshakes that come to nothing runs at rate / (1 + FAIR_PENALTY) per second (the debt stops at -burst: with a burst
 * below FAIR_PENALTY, rate / (1 + burst)), a client that sends requests at rate. */
#define FAIR_PENALTY 32

/* One source: 16 key bytes (IPv4: 4 bytes then zeros and a 4 marker; IPv6: the /64). */
struct fair_key {
	uint8_t b[17];
};

struct fair_src {
	struct fair_key key;
	bool used;
	uint32_t conns;        /* open now */
	uint32_t hs;           /* of those, in the TLS handshake now */
	int64_t milli;         /* tokens * 1000; below 0 = in debt (penalties), down to -burst */
	uint64_t last_ms;      /* bucket refilled up to then */
	uint64_t touched;      /* LRU stamp */
};

struct fair_limits {
	unsigned max_conns;    /* open connections per source */
	unsigned rate;         /* new handshakes per second per source (refill) */
	unsigned burst;        /* bucket size */
	unsigned max_handshaking; /* in handshake at once per source; 0 = no per-source cap */
};

struct fair_table {
	struct fair_limits lim;
	uint64_t clock;        /* LRU stamps */
	uint64_t untracked;    /* admitted without an entry: the set was full of busy sources */
	uint64_t evicted;      /* idle sources forgotten to make room */
	struct fair_src s[FAIR_SETS][FAIR_WAYS];
};

enum fair_verdict {
	FAIR_OK,               /* admitted and counted: fair_release once at close */
	FAIR_UNTRACKED,        /* admitted, not counted (table set full): no release */
	FAIR_BUSY,             /* max_conns open from this source */
	FAIR_RATE,             /* no handshake token left */
	FAIR_HANDSHAKING,      /* max_handshaking of this source's connections in handshake */
};

void fair_table_init(struct fair_table *t, const struct fair_limits *lim);
/* The source key of an address; false for a family other than IPv4 / IPv6. */
bool fair_key_of(const struct sockaddr *sa, struct fair_key *out);
/* A new connection from key at now_ms (monotonic): checks the open count, then the count in
 * handshake, then takes one token; on FAIR_OK counts the connection, open and in handshake.
 * A refusal changes no count and takes no token. */
enum fair_verdict fair_admit(struct fair_table *t, const struct fair_key *key, uint64_t now_ms);
/* A connection admitted with FAIR_OK finished its handshake (or closes during it: then
 * before fair_release): its source's count in handshake drops by one. */
void fair_handshake_done(struct fair_table *t, const struct fair_key *key);
/* A connection admitted with FAIR_OK ends without having served a request: its source's
 * bucket loses tokens more tokens, into debt down to -burst (the refill pays the debt first,
 * so the penalty holds even for a source that keeps its bucket empty). */
void fair_penalize(struct fair_table *t, const struct fair_key *key, unsigned tokens);
/* A connection admitted with FAIR_OK resumed a TLS session (a ticket the server gave an
 * authenticated client; no signature, a tenth of a full handshake's CPU): its token goes back
 * (never above the burst), so a client that resumes is never throttled by the bucket, only
 * by the counts of connections open and in handshake. */
void fair_refund(struct fair_table *t, const struct fair_key *key);
/* The connection admitted with FAIR_OK closed: its source's count drops by one. */
void fair_release(struct fair_table *t, const struct fair_key *key);
/* Open connections counted for key (0 when not in the table). */
unsigned fair_conns(const struct fair_table *t, const struct fair_key *key);
/* Connections of key counted in handshake (0 when not in the table). */
unsigned fair_handshaking(const struct fair_table *t, const struct fair_key *key);

#endif
