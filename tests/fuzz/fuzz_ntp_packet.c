/* Target: ntp_reply_parse (board/ntp.c), the SNTP reply parser: 48 bytes from the network,
 * from anyone. Each input is parsed twice: as it is against a fixed request (every length),
 * and, when it has 48 bytes, with its own origin timestamp taken as ours (so that the checks
 * after the origin run too) and our send / receive times taken from the bytes after the
 * packet. Checked: a refusal zeroes the sample and has a text; an accepted reply is mode 4,
 * version 3 or 4, LI not 3, stratum 1..15, within the root distance limit, a non-negative
 * delay, and its offset and delay agree with the formulas computed here apart. Deterministic:
 * no RNG, no time, no globals. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "board/ntp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void check(const uint8_t *pkt, size_t n, uint64_t xmt, uint64_t t1, uint64_t t4)
{
	struct ntp_sample s, zero;
	enum ntp_verdict v = ntp_reply_parse(pkt, n, xmt, t1, t4, &s);

	memset(&zero, 0, sizeof zero);
	if ((unsigned)v >= NTP_VERDICT_COUNT || ntp_verdict_str(v) == NULL)
		abort();
	if (v != NTP_OK) {
		if (memcmp(&s, &zero, sizeof s) != 0)
			abort();
		return;
	}
	if (n != NTP_PACKET_LEN || (pkt[0] & 7) != 4 || (pkt[0] >> 6) == 3 ||
	    ((pkt[0] >> 3) & 7) < 3 || ((pkt[0] >> 3) & 7) > 4 || pkt[1] == 0 || pkt[1] > 15 ||
	    rd64(pkt + 24) != xmt || rd64(pkt + 40) == 0 || rd64(pkt + 32) == 0)
		abort();
	if (s.delay_ns < 0 || s.root_dist_ns < 0 || s.root_dist_ns > NTP_MAXDIST_NS)
		abort();
	/* the formulas apart, in 128-bit nanoseconds */
	__int128 t2 = (int64_t)(rd64(pkt + 32) - t1), t3 = (int64_t)(rd64(pkt + 40) - t4);
	__int128 d = (__int128)(int64_t)(t4 - t1) - (int64_t)(rd64(pkt + 40) - rd64(pkt + 32));
	__int128 off = (t2 + t3) * 1000000000 / ((__int128)1 << 33);
	__int128 del = d * 1000000000 / ((__int128)1 << 32);
	if (off - s.offset_ns > 2 || s.offset_ns - off > 2 || del - s.delay_ns > 2 ||
	    s.delay_ns - del > 2)
		abort();
	(void)ntp_action_for(s.offset_ns, true);
	(void)ntp_action_for(s.offset_ns, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t req[NTP_PACKET_LEN];
	uint64_t xmt, t1, t4;

	check(data, size, 0xe9b0c5d6a1b2c3d4ull, 0xe9b0c5d6a1000000ull, 0xe9b0c5d6b0000000ull);
	if (size < NTP_PACKET_LEN)
		return 0;
	xmt = rd64(data + 24);
	t1 = size >= NTP_PACKET_LEN + 8 ? rd64(data + 48) : xmt;
	t4 = size >= NTP_PACKET_LEN + 16 ? rd64(data + 56) : rd64(data + 40);
	check(data, NTP_PACKET_LEN, xmt, t1, t4);
	/* our own request is never taken for a reply */
	ntp_request_build(req, xmt);
	if (ntp_reply_parse(req, sizeof req, xmt, t1, t4, &(struct ntp_sample){ 0 }) != NTP_E_MODE)
		abort();
	return 0;
}
