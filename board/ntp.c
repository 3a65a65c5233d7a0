/* SNTP client packets (RFC 4330, RFC 5905 client mode): the request, the reply's checks and
 * the offset / delay arithmetic. Pure: no I/O, no clock (board/ntp.h). */
#include "board/ntp.h"

#include <string.h>

#define NTP_MODE_CLIENT 3
#define NTP_MODE_SERVER 4
#define NTP_VERSION 4
#define NTP_LI_UNSYNC 3
#define NTP_STRATUM_MAX 15
#define NTP_FRAC_MASK ((1u << NTP_XMT_RANDOM_BITS) - 1u)

/* Offsets in a packet (RFC 5905 figure 8). */
#define NTP_OFF_ROOT_DELAY 4
#define NTP_OFF_ROOT_DISP 8
#define NTP_OFF_REFID 12
#define NTP_OFF_ORIGIN 24
#define NTP_OFF_RECV 32
#define NTP_OFF_XMT 40

uint64_t ntp_ts_from_unix(int64_t sec, uint32_t nsec)
{
	/* seconds modulo 2^32: the era wraps on its own (2036-02-07T06:28:16Z is era 1's 0) */
	uint32_t s = (uint32_t)((uint64_t)sec + NTP_UNIX_EPOCH);
	uint32_t f = (uint32_t)(((uint64_t)(nsec % 1000000000u) << 32) / 1000000000u);

	return ((uint64_t)s << 32) | f;
}

uint64_t ntp_xmt_mix(uint64_t t1, uint32_t rnd)
{
	return (t1 & ~(uint64_t)NTP_FRAC_MASK) | (rnd & NTP_FRAC_MASK);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void ntp_request_build(uint8_t out[NTP_PACKET_LEN], uint64_t xmt)
{
	memset(out, 0, NTP_PACKET_LEN);
	out[0] = (uint8_t)(0u << 6 | NTP_VERSION << 3 | NTP_MODE_CLIENT);
	put64(out + NTP_OFF_XMT, xmt);
}

/* a - b as a signed 32.32 value (modulo 2^64: right across the era wrap within 68 years). */
static int64_t ts_diff(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b);
}

/* A signed 32.32 value (held in 128 bits) in nanoseconds, rounded toward zero. */
static int64_t fix_to_ns(__int128 v)
{
	return (int64_t)(v * 1000000000 / ((__int128)1 << 32));
}

/* 16.16 unsigned (NTP short format) in nanoseconds. */
static int64_t short_to_ns(uint32_t v)
{
	return (int64_t)(((uint64_t)v * 1000000000u) >> 16);
}

static enum ntp_verdict ntp_kiss(uint32_t code)
{
	if (code == 0x52415445u) /* "RATE" */
		return NTP_E_KOD_RATE;
	if (code == 0x44454e59u) /* "DENY" */
		return NTP_E_KOD_DENY;
	if (code == 0x52535452u) /* "RSTR" */
		return NTP_E_KOD_RSTR;
	return NTP_E_KOD_OTHER;
}

/* The header's checks, up to the timestamps. */
static enum ntp_verdict ntp_header_check(const uint8_t *pkt, size_t n, uint64_t xmt)
{
	unsigned li, vn, mode, stratum;

	if (pkt == NULL || n != NTP_PACKET_LEN)
		return NTP_E_LENGTH;
	li = pkt[0] >> 6;
	vn = (pkt[0] >> 3) & 7u;
	mode = pkt[0] & 7u;
	stratum = pkt[1];
	if (mode != NTP_MODE_SERVER)
		return NTP_E_MODE;
	if (vn != 3 && vn != 4)
		return NTP_E_VERSION;
	if (get64(pkt + NTP_OFF_ORIGIN) != xmt)
		return NTP_E_ORIGIN;
	if (stratum == 0)
		return ntp_kiss(get32(pkt + NTP_OFF_REFID));
	if (li == NTP_LI_UNSYNC)
		return NTP_E_UNSYNC;
	if (stratum > NTP_STRATUM_MAX)
		return NTP_E_STRATUM;
	if (get64(pkt + NTP_OFF_XMT) == 0)
		return NTP_E_XMT_ZERO;
	if (get64(pkt + NTP_OFF_RECV) == 0)
		return NTP_E_RECV_ZERO;
	if (short_to_ns(get32(pkt + NTP_OFF_ROOT_DELAY)) / 2 +
		    short_to_ns(get32(pkt + NTP_OFF_ROOT_DISP)) > NTP_MAXDIST_NS)
		return NTP_E_ROOT;
	return NTP_OK;
}

enum ntp_verdict ntp_reply_parse(const uint8_t *pkt, size_t n, uint64_t xmt, uint64_t t1,
				 uint64_t t4, struct ntp_sample *out)
{
	enum ntp_verdict v = ntp_header_check(pkt, n, xmt);
	uint64_t t2, t3;
	__int128 delay, offset;

	memset(out, 0, sizeof *out);
	if (v != NTP_OK)
		return v;
	t2 = get64(pkt + NTP_OFF_RECV);
	t3 = get64(pkt + NTP_OFF_XMT);
	if (ts_diff(t3, t2) < 0)
		return NTP_E_TIMES;
	delay = (__int128)ts_diff(t4, t1) - ts_diff(t3, t2);
	if (delay < 0)
		return NTP_E_DELAY;
	offset = ((__int128)ts_diff(t2, t1) + ts_diff(t3, t4)) / 2;
	out->offset_ns = fix_to_ns(offset);
	out->delay_ns = fix_to_ns(delay);
	out->root_dist_ns = short_to_ns(get32(pkt + NTP_OFF_ROOT_DELAY)) / 2 +
			    short_to_ns(get32(pkt + NTP_OFF_ROOT_DISP));
	out->stratum = pkt[1];
	out->version = (pkt[0] >> 3) & 7u;
	out->refid = get32(pkt + NTP_OFF_REFID);
	return NTP_OK;
}

const char *ntp_verdict_str(enum ntp_verdict v)
{
	static const char *const text[NTP_VERDICT_COUNT] = {
		[NTP_OK] = "ok",
		[NTP_E_LENGTH] = "not a 48-byte NTP packet",
		[NTP_E_MODE] = "not a server reply (mode 4)",
		[NTP_E_VERSION] = "not NTP version 3 or 4",
		[NTP_E_ORIGIN] = "not an answer to our request (origin timestamp)",
		[NTP_E_KOD_RATE] = "kiss-o'-death RATE: polling less often",
		[NTP_E_KOD_DENY] = "kiss-o'-death DENY: server dropped until the list is set again",
		[NTP_E_KOD_RSTR] = "kiss-o'-death RSTR: server dropped until the list is set again",
		[NTP_E_KOD_OTHER] = "kiss-o'-death (stratum 0): no time given",
		[NTP_E_UNSYNC] = "the server is not synchronised (leap indicator 3)",
		[NTP_E_STRATUM] = "the server is not synchronised (stratum 16 or more)",
		[NTP_E_XMT_ZERO] = "the reply's transmit timestamp is zero",
		[NTP_E_RECV_ZERO] = "the reply's receive timestamp is zero",
		[NTP_E_ROOT] = "the server's root distance is over 1.5 s",
		[NTP_E_TIMES] = "the server sent its reply before receiving the request",
		[NTP_E_DELAY] = "negative round trip delay",
	};

	return (unsigned)v < NTP_VERDICT_COUNT ? text[v] : "no such verdict";
}

enum ntp_action ntp_action_for(int64_t offset_ns, bool first)
{
	/* |offset| without overflow on INT64_MIN */
	uint64_t mag = offset_ns < 0 ? (uint64_t)0 - (uint64_t)offset_ns : (uint64_t)offset_ns;

	if (first)
		return mag > (uint64_t)NTP_STEP_NS ? NTP_ACT_STEP : NTP_ACT_SLEW;
	return mag > (uint64_t)NTP_PANIC_NS ? NTP_ACT_PANIC : NTP_ACT_SLEW;
}
