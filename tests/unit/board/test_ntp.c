/* board/ntp.c: the SNTP packet and its arithmetic, with hand-built replies: the sample of a
 * good reply (offset and delay, across the 2036 era wrap), and one reply for each refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "board/ntp.h"

#define SEC (1ull << 32)                       /* one second as a 32.32 value */
#define MS(x) ((uint64_t)((x) * (double)SEC / 1000.0))

struct reply {
	unsigned li, vn, mode, stratum;
	uint32_t root_delay, root_disp, refid;
	uint64_t org, rec, xmt;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static void build(const struct reply *r, uint8_t p[NTP_PACKET_LEN])
{
	memset(p, 0, NTP_PACKET_LEN);
	p[0] = (uint8_t)(r->li << 6 | r->vn << 3 | r->mode);
	p[1] = (uint8_t)r->stratum;
	p[2] = 6;    /* poll */
	p[3] = 0xec; /* precision */
	put32(p + 4, r->root_delay);
	put32(p + 8, r->root_disp);
	put32(p + 12, r->refid);
	put64(p + 16, r->rec - SEC); /* reference timestamp: not checked */
	put64(p + 24, r->org);
	put64(p + 32, r->rec);
	put64(p + 40, r->xmt);
}

/* The client sent at t1 (xmt on the wire), the server's clock is ahead by ahead (32.32
 * signed), the network takes one_way each way, the server holds the request proc. */
struct exchange {
	uint64_t t1, xmt, t4;
	struct reply r;
};

static void exchange(struct exchange *e, uint64_t t1, int64_t ahead, uint64_t one_way,
		     uint64_t proc)
{
	memset(e, 0, sizeof *e);
	e->t1 = t1;
	e->xmt = ntp_xmt_mix(t1, 0x00abcdefu);
	e->r = (struct reply){ .li = 0, .vn = 4, .mode = 4, .stratum = 2,
			       .root_delay = 0x00000800, .root_disp = 0x00000400,
			       .refid = 0xc0000201, .org = e->xmt };
	e->r.rec = t1 + one_way + (uint64_t)ahead;
	e->r.xmt = e->r.rec + proc;
	e->t4 = e->r.xmt - (uint64_t)ahead + one_way;
}

static enum ntp_verdict run(const struct exchange *e, struct ntp_sample *out)
{
	uint8_t p[NTP_PACKET_LEN];

	build(&e->r, p);
	return ntp_reply_parse(p, sizeof p, e->xmt, e->t1, e->t4, out);
}

/* Within 2 ns (the 32.32 -> ns rounding). */
static void near_ns(int64_t got, int64_t want)
{
	assert_true(got - want <= 2 && want - got <= 2);
}

static void t_timestamps(void **s)
{
	uint8_t p[NTP_PACKET_LEN];
	uint64_t a, b;

	(void)s;
	assert_int_equal(ntp_ts_from_unix(0, 0), (uint64_t)NTP_UNIX_EPOCH << 32);
	assert_int_equal(ntp_ts_from_unix(1, 500000000), ((uint64_t)NTP_UNIX_EPOCH + 1) << 32 | 0x80000000u);
	/* 2036-02-07T06:28:16Z: era 1 starts, its seconds are 0 again */
	assert_int_equal(ntp_ts_from_unix(2085978496, 0), 0);
	assert_int_equal(ntp_ts_from_unix(2085978495, 0), 0xffffffffull << 32);
	/* the transmit timestamp: the seconds and the top 8 fraction bits stay, 24 are random */
	a = ntp_xmt_mix(0x1122334455667788ull, 0);
	b = ntp_xmt_mix(0x1122334455667788ull, 0xffffffffu);
	assert_int_equal(a, 0x1122334455000000ull);
	assert_int_equal(b, 0x1122334455ffffffull);
	ntp_request_build(p, 0x0102030405060708ull);
	assert_int_equal(p[0], 0x23); /* LI 0, version 4, mode 3 (client) */
	for (int i = 1; i < 40; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(p[40], 1);
	assert_int_equal(p[47], 8);
}

static void t_sample(void **s)
{
	struct exchange e;
	struct ntp_sample smp;
	uint64_t t1 = ntp_ts_from_unix(1765000000, 250000000);

	(void)s;
	/* the server 300 s ahead, 5 ms each way, 1 ms inside the server */
	exchange(&e, t1, (int64_t)(300 * SEC), MS(5), MS(1));
	assert_int_equal(run(&e, &smp), NTP_OK);
	near_ns(smp.offset_ns, 300000000000LL);
	near_ns(smp.delay_ns, 10000000);
	assert_int_equal(smp.stratum, 2);
	assert_int_equal(smp.version, 4);
	assert_int_equal(smp.refid, 0xc0000201);
	near_ns(smp.root_dist_ns, 31250000 / 2 + 15625000); /* 0x800 / 2^16 / 2 + 0x400 / 2^16 s */
	/* 2.5 s behind, version 3 */
	exchange(&e, t1, -(int64_t)(5 * SEC / 2), MS(20), 0);
	e.r.vn = 3;
	assert_int_equal(run(&e, &smp), NTP_OK);
	near_ns(smp.offset_ns, -2500000000LL);
	near_ns(smp.delay_ns, 40000000);
	/* asymmetric paths: offset = ((T2-T1) + (T3-T4)) / 2 with the times written out */
	exchange(&e, t1, 0, 0, 0);
	e.r.rec = t1 + MS(30);
	e.r.xmt = t1 + MS(31);
	e.t4 = t1 + MS(41);
	assert_int_equal(run(&e, &smp), NTP_OK);
	near_ns(smp.offset_ns, 10000000);  /* (30 + (31 - 41)) / 2 ms */
	near_ns(smp.delay_ns, 40000000);   /* 41 - 1 ms */
}

static void t_era_wrap(void **s)
{
	struct exchange e;
	struct ntp_sample smp;
	uint64_t t1 = ntp_ts_from_unix(2085978495, 900000000); /* 0.1 s before the wrap */

	(void)s;
	exchange(&e, t1, (int64_t)SEC, MS(2), MS(1)); /* the server is in era 1 already */
	assert_true((e.r.rec >> 32) == 0 && (e.r.xmt >> 32) == 0 && (e.t1 >> 32) == 0xffffffffu);
	assert_int_equal(run(&e, &smp), NTP_OK);
	near_ns(smp.offset_ns, 1000000000LL);
	near_ns(smp.delay_ns, 4000000);
	/* and the other way: the client after the wrap, the server 3 s behind, before it */
	t1 = ntp_ts_from_unix(2085978497, 0);
	exchange(&e, t1, -(int64_t)(3 * SEC), MS(2), 0);
	assert_true((e.r.rec >> 32) == 0xfffffffeu && (e.t1 >> 32) == 1);
	assert_int_equal(run(&e, &smp), NTP_OK);
	near_ns(smp.offset_ns, -3000000000LL);
}

/* Each refusal, the sample zeroed. */
static void refused(struct exchange *e, enum ntp_verdict want)
{
	struct ntp_sample smp;

	memset(&smp, 0x77, sizeof smp);
	assert_int_equal(run(e, &smp), want);
	assert_int_equal(smp.offset_ns, 0);
	assert_int_equal(smp.delay_ns, 0);
	assert_int_equal(smp.stratum, 0);
}

static void t_refusals(void **s)
{
	uint64_t t1 = ntp_ts_from_unix(1765000000, 0);
	uint8_t p[NTP_PACKET_LEN + 1];
	struct ntp_sample smp;
	struct exchange e;

	(void)s;
#define FRESH() exchange(&e, t1, (int64_t)SEC, MS(5), MS(1))
	FRESH();
	build(&e.r, p);
	p[NTP_PACKET_LEN] = 0;
	assert_int_equal(ntp_reply_parse(p, NTP_PACKET_LEN - 1, e.xmt, e.t1, e.t4, &smp), NTP_E_LENGTH);
	assert_int_equal(ntp_reply_parse(p, NTP_PACKET_LEN + 1, e.xmt, e.t1, e.t4, &smp), NTP_E_LENGTH);
	assert_int_equal(ntp_reply_parse(NULL, NTP_PACKET_LEN, e.xmt, e.t1, e.t4, &smp), NTP_E_LENGTH);
	assert_int_equal(ntp_reply_parse(p, NTP_PACKET_LEN, e.xmt, e.t1, e.t4, &smp), NTP_OK);
	const unsigned modes[] = { 0, 1, 2, 3, 5, 6, 7 };
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		FRESH();
		e.r.mode = modes[i];
		refused(&e, NTP_E_MODE);
	}
	const unsigned versions[] = { 0, 1, 2, 5, 6, 7 };
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		FRESH();
		e.r.vn = versions[i];
		refused(&e, NTP_E_VERSION);
	}
	/* not our request: one bit off in the random part, or a reply to another request */
	FRESH();
	e.r.org ^= 1;
	refused(&e, NTP_E_ORIGIN);
	FRESH();
	e.r.org = e.t1; /* our send time without the random bits */
	refused(&e, NTP_E_ORIGIN);
	/* Kiss-o'-Death: believed only with our origin */
	const uint32_t kiss[] = { 0x52415445u, 0x44454e59u, 0x52535452u, 0x494e4954u };
	const enum ntp_verdict kv[] = { NTP_E_KOD_RATE, NTP_E_KOD_DENY, NTP_E_KOD_RSTR, NTP_E_KOD_OTHER };
	for (size_t i = 0; i < 4; i++) {
		FRESH();
		e.r.stratum = 0;
		e.r.li = 3;
		e.r.refid = kiss[i];
		refused(&e, kv[i]);
		e.r.org ^= 0x10;
		refused(&e, NTP_E_ORIGIN);
	}
	FRESH();
	e.r.li = 3;
	refused(&e, NTP_E_UNSYNC);
	FRESH();
	e.r.li = 1; /* a leap second announced: fine */
	assert_int_equal(run(&e, &smp), NTP_OK);
	FRESH();
	e.r.stratum = 15;
	assert_int_equal(run(&e, &smp), NTP_OK);
	const unsigned strata[] = { 16, 17, 255 };
	for (size_t i = 0; i < 3; i++) {
		FRESH();
		e.r.stratum = strata[i];
		refused(&e, NTP_E_STRATUM);
	}
	FRESH();
	e.r.xmt = 0;
	refused(&e, NTP_E_XMT_ZERO);
	FRESH();
	e.r.rec = 0;
	refused(&e, NTP_E_RECV_ZERO);
	/* root distance: delay / 2 + dispersion, over 1.5 s refused */
	FRESH();
	e.r.root_delay = 2u << 16;
	e.r.root_disp = 1u << 15;   /* 1 + 0.5 = 1.5 s: the limit, taken */
	assert_int_equal(run(&e, &smp), NTP_OK);
	e.r.root_disp = (1u << 15) + 1;
	refused(&e, NTP_E_ROOT);
	FRESH();
	e.r.root_delay = 0xffffffffu;
	refused(&e, NTP_E_ROOT);
	FRESH();
	e.r.root_disp = 2u << 16;
	refused(&e, NTP_E_ROOT);
	/* the server sent before it received */
	FRESH();
	e.r.xmt = e.r.rec - 1;
	refused(&e, NTP_E_TIMES);
	/* our clock went back during the query: a negative delay */
	FRESH();
	e.t4 = e.t1 - MS(1);
	refused(&e, NTP_E_DELAY);
	FRESH();
	e.t4 = e.t1 + (e.r.xmt - e.r.rec) - 1; /* the round trip shorter than the server's time */
	refused(&e, NTP_E_DELAY);
	FRESH();
	e.t4 = e.t1 + MS(1) + e.r.xmt - e.r.rec; /* delay exactly 1 ms: fine */
	assert_int_equal(run(&e, &smp), NTP_OK);
#undef FRESH
}

static void t_verdict_text(void **s)
{
	(void)s;
	for (int v = 0; v < NTP_VERDICT_COUNT; v++) {
		assert_non_null(ntp_verdict_str((enum ntp_verdict)v));
		for (int w = 0; w < v; w++)
			assert_string_not_equal(ntp_verdict_str((enum ntp_verdict)v),
						ntp_verdict_str((enum ntp_verdict)w));
	}
	assert_string_equal(ntp_verdict_str(NTP_VERDICT_COUNT), "no such verdict");
}

static void t_action(void **s)
{
	(void)s;
	assert_int_equal(ntp_action_for(0, true), NTP_ACT_SLEW);
	assert_int_equal(ntp_action_for(500000000, true), NTP_ACT_SLEW);
	assert_int_equal(ntp_action_for(500000001, true), NTP_ACT_STEP);
	assert_int_equal(ntp_action_for(-500000001, true), NTP_ACT_STEP);
	assert_int_equal(ntp_action_for(5000000000000LL, true), NTP_ACT_STEP); /* no panic at first */
	assert_int_equal(ntp_action_for(INT64_MIN, true), NTP_ACT_STEP);
	assert_int_equal(ntp_action_for(900000000, false), NTP_ACT_SLEW);
	assert_int_equal(ntp_action_for(1000000000000LL, false), NTP_ACT_SLEW);
	assert_int_equal(ntp_action_for(1000000000001LL, false), NTP_ACT_PANIC);
	assert_int_equal(ntp_action_for(-1000000000001LL, false), NTP_ACT_PANIC);
	assert_int_equal(ntp_action_for(INT64_MIN, false), NTP_ACT_PANIC);
	assert_int_equal(ntp_action_for(INT64_MAX, false), NTP_ACT_PANIC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_timestamps),
		cmocka_unit_test(t_sample),
		cmocka_unit_test(t_era_wrap),
		cmocka_unit_test(t_refusals),
		cmocka_unit_test(t_verdict_text),
		cmocka_unit_test(t_action),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
