/* SNTP (RFC 4330, RFC 5905 client mode) inside the board: board/ntp.c is the packet and its
 * arithmetic, pure (no I/O, no clock: every time is a parameter); board/ntpsync.c the UDP
 * query and the sync thread the appliance runs (board_ntp_apply in board.h). */
#ifndef COFFRE_BOARD_NTP_H
#define COFFRE_BOARD_NTP_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "board/board.h"

#define NTP_PACKET_LEN 48
#define NTP_UNIX_EPOCH 2208988800u        /* seconds from 1900-01-01 to 1970-01-01 */
#define NTP_XMT_RANDOM_BITS 24            /* random low bits of our transmit timestamp */
#define NTP_STEP_NS 500000000LL           /* the first sync steps the clock beyond 0.5 s */
#define NTP_PANIC_NS 1000000000000LL      /* later, an offset over 1000 s is refused */
#define NTP_MAXDIST_NS 1500000000LL       /* root distance limit (RFC 5905 MAXDIST, 1.5 s) */

/* An NTP timestamp: 32 bits of seconds since 1900 (modulo 2^32: era 1 starts in 2036) and 32
 * bits of fraction. Differences of two timestamps are taken modulo 2^64 as signed 32.32
 * values, so arithmetic across the 2036 wrap needs no era number (RFC 5905 section 6). */
uint64_t ntp_ts_from_unix(int64_t sec, uint32_t nsec);
/* The transmit timestamp a request carries: t1 with the low NTP_XMT_RANDOM_BITS bits of the
 * fraction taken from rnd (so that an off-path attacker cannot guess the origin timestamp a
 * reply must echo; t1 itself stays the local send time in the arithmetic). */
uint64_t ntp_xmt_mix(uint64_t t1, uint32_t rnd);
/* A client request (LI 0, version 4, mode 3) carrying xmt as its transmit timestamp. */
void ntp_request_build(uint8_t out[NTP_PACKET_LEN], uint64_t xmt);

enum ntp_verdict {
	NTP_OK = 0,
	NTP_E_LENGTH,     /* not 48 bytes */
	NTP_E_MODE,       /* not mode 4 (server) */
	NTP_E_VERSION,    /* not version 3 or 4 */
	NTP_E_ORIGIN,     /* origin timestamp is not our transmit timestamp: not our answer */
	NTP_E_KOD_RATE,   /* Kiss-o'-Death RATE: poll less often */
	NTP_E_KOD_DENY,   /* Kiss-o'-Death DENY: stop using this server */
	NTP_E_KOD_RSTR,   /* Kiss-o'-Death RSTR: stop using this server */
	NTP_E_KOD_OTHER,  /* stratum 0 with another kiss code: no time in it */
	NTP_E_UNSYNC,     /* leap indicator 3: the server is not synchronised */
	NTP_E_STRATUM,    /* stratum 16 or more */
	NTP_E_XMT_ZERO,   /* transmit timestamp zero */
	NTP_E_RECV_ZERO,  /* receive timestamp zero */
	NTP_E_ROOT,       /* root delay / 2 + root dispersion over 1.5 s */
	NTP_E_TIMES,      /* the server sent before it received */
	NTP_E_DELAY,      /* negative round trip delay (our clock moved during the query) */
	NTP_VERDICT_COUNT
};

/* One reply's result. offset_ns: how much the local clock is behind the server's (add it to
 * the local clock); delay_ns: the round trip minus the server's own time, >= 0. */
struct ntp_sample {
	int64_t offset_ns;
	int64_t delay_ns;
	int64_t root_dist_ns;
	unsigned stratum;
	unsigned version;
	uint32_t refid;
};

/* Check a reply against the request we sent (xmt: the transmit timestamp on the wire; t1: our
 * send time; t4: our receive time, both NTP timestamps of the local clock) and compute the
 * sample: offset = ((T2 - T1) + (T3 - T4)) / 2, delay = (T4 - T1) - (T3 - T2). The checks run
 * in this order: length, mode, version, origin (so that a Kiss-o'-Death is believed only
 * from our server), stratum 0 (the kiss code), LI 3, stratum 16+, zero timestamps, root
 * distance, T3 < T2, delay < 0. *out is zeroed unless NTP_OK. */
enum ntp_verdict ntp_reply_parse(const uint8_t *pkt, size_t n, uint64_t xmt, uint64_t t1,
				 uint64_t t4, struct ntp_sample *out);
/* A short text for each verdict ("no such verdict" out of range). */
const char *ntp_verdict_str(enum ntp_verdict v);

/* What to do with a sample's offset: the first sync (first) steps beyond NTP_STEP_NS and
 * slews below; later ones slew, and refuse beyond NTP_PANIC_NS (the panic threshold). */
enum ntp_action { NTP_ACT_SLEW, NTP_ACT_STEP, NTP_ACT_PANIC };
enum ntp_action ntp_action_for(int64_t offset_ns, bool first);

/* ---- board/ntpsync.c ------------------------------------------------------------------- */

/* One query: a request to srv over UDP, the first valid reply within timeout_ms (replies
 * that are not ours, wrong origin, are skipped). CF_OK with *out; CF_E_BAD_VALUE with
 * *verdict for a refused reply; CF_E_TIMEOUT when none came; CF_E_IO for a socket error.
 * Uses the real clock (CLOCK_REALTIME) and getrandom. */
MUST_USE cf_err ntp_query(const struct board_ntp_server *srv, unsigned timeout_ms,
			  struct ntp_sample *out, enum ntp_verdict *verdict);

/* How a board corrects its clock: step (clock_settime now + offset, the RTC) or slew
 * (adjtime). NULL functions: nothing is applied (the host). */
struct ntpsync_clock {
	cf_err (*step)(void *arg, int64_t offset_ns);
	cf_err (*slew)(void *arg, int64_t offset_ns);
	void *arg;
};
/* The poll schedule (tests shorten it): first_s for the first first_polls polls, then
 * steady_s; failures double the interval from first_s up to steady_s; query_ms per server. */
struct ntpsync_timing {
	unsigned first_s, first_polls, steady_s, query_ms;
};
#define NTPSYNC_TIMING_DEFAULT ((struct ntpsync_timing){ 64, 4, 1024, 2000 })

/* Set the servers of *s (created on first use). With clk: the sync thread is started (n > 0)
 * or stopped (n = 0), or takes the new list at once; without: only the list is kept. */
MUST_USE cf_err ntpsync_apply(struct ntpsync **s, const struct board_ntp_server *servers,
			      unsigned n, const struct ntpsync_clock *clk,
			      const struct ntpsync_timing *timing);
void ntpsync_status(struct ntpsync *s, struct board_ntp_status *out);
/* Stop the thread and free (s may be NULL). */
void ntpsync_free(struct ntpsync *s);

#endif
