/* board/fair.c: the per-source key (IPv4 /32, IPv6 /64, IPv4-mapped), the open-connection cap,
 * the token bucket (burst, refill, cap), the bounded table (LRU eviction of idle sources only,
 * exact counts, the full-set case). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "board/fair.h"

static struct fair_key key(const char *addr)
{
	struct sockaddr_storage ss;
	struct fair_key k;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
	}
	assert_true(fair_key_of((const struct sockaddr *)&ss, &k));
	return k;
}

static struct fair_table *table(unsigned conns, unsigned rate, unsigned burst)
{
	struct fair_table *t = malloc(sizeof *t);
	assert_non_null(t);
	fair_table_init(t, &(struct fair_limits){ .max_conns = conns, .rate = rate, .burst = burst });
	return t;
}

static void test_keys(void **st)
{
	(void)st;
	struct fair_key a = key("192.0.2.7"), b = key("::ffff:192.0.2.7"), c = key("192.0.2.8");
	assert_memory_equal(&a, &b, sizeof a);
	assert_memory_not_equal(&a, &c, sizeof a);
	/* one IPv6 /64 is one source */
	struct fair_key d = key("2001:db8:1:2::1"), e = key("2001:db8:1:2:ffff:1:2:3");
	struct fair_key f = key("2001:db8:1:3::1");
	assert_memory_equal(&d, &e, sizeof d);
	assert_memory_not_equal(&d, &f, sizeof d);
	/* an IPv4 address never equals the IPv6 /64 with the same first bytes */
	struct fair_key g = key("c000:207::");
	assert_memory_not_equal(&a, &g, sizeof a);
	struct sockaddr_storage un;
	memset(&un, 0, sizeof un);
	un.ss_family = AF_UNIX;
	struct fair_key k;
	assert_false(fair_key_of((const struct sockaddr *)&un, &k));
}

static void test_conn_cap(void **st)
{
	(void)st;
	struct fair_table *t = table(4, 1000, 1000);
	struct fair_key a = key("127.0.0.2"), b = key("127.0.0.1");
	for (int i = 0; i < 4; i++)
		assert_int_equal(fair_admit(t, &a, 0), FAIR_OK);
	assert_int_equal(fair_conns(t, &a), 4);
	assert_int_equal(fair_admit(t, &a, 0), FAIR_BUSY);
	assert_int_equal(fair_admit(t, &a, 0), FAIR_BUSY);
	assert_int_equal(fair_conns(t, &a), 4);     /* a refusal counts nothing */
	assert_int_equal(fair_admit(t, &b, 0), FAIR_OK); /* other sources unaffected */
	fair_release(t, &a);
	assert_int_equal(fair_conns(t, &a), 3);
	assert_int_equal(fair_admit(t, &a, 0), FAIR_OK);
	assert_int_equal(fair_admit(t, &a, 0), FAIR_BUSY);
	for (int i = 0; i < 4; i++)
		fair_release(t, &a);
	assert_int_equal(fair_conns(t, &a), 0);
	fair_release(t, &a); /* never below zero */
	assert_int_equal(fair_conns(t, &a), 0);
	assert_int_equal(fair_conns(t, &b), 1);
	free(t);
}

static void test_bucket(void **st)
{
	(void)st;
	/* 10 per second, burst 5 */
	struct fair_table *t = table(1000, 10, 5);
	struct fair_key a = key("198.51.100.1");
	uint64_t now = 1000000;
	for (int i = 0; i < 5; i++)
		assert_int_equal(fair_admit(t, &a, now), FAIR_OK);
	assert_int_equal(fair_admit(t, &a, now), FAIR_RATE);
	assert_int_equal(fair_conns(t, &a), 5);        /* the refused one is not counted */
	/* 99 ms: 0.99 token, still refused; 100 ms: one token */
	assert_int_equal(fair_admit(t, &a, now + 99), FAIR_RATE);
	assert_int_equal(fair_admit(t, &a, now + 100), FAIR_OK);
	assert_int_equal(fair_admit(t, &a, now + 100), FAIR_RATE);
	/* a long pause refills to the burst, never beyond */
	now += 100000;
	for (int i = 0; i < 5; i++)
		assert_int_equal(fair_admit(t, &a, now), FAIR_OK);
	assert_int_equal(fair_admit(t, &a, now), FAIR_RATE);
	/* a clock that does not move forward adds nothing */
	assert_int_equal(fair_admit(t, &a, now - 50), FAIR_RATE);
	/* the conn cap is checked first and takes no token */
	struct fair_table *c = table(1, 1, 2);
	assert_int_equal(fair_admit(c, &a, now), FAIR_OK);
	assert_int_equal(fair_admit(c, &a, now), FAIR_BUSY);
	fair_release(c, &a);
	assert_int_equal(fair_admit(c, &a, now), FAIR_OK); /* second token still there */
	fair_release(c, &a);
	assert_int_equal(fair_admit(c, &a, now), FAIR_RATE);
	free(c);
	free(t);
}

/* The per-source cap on connections in handshake: a source holding its share of half-open
 * connections is refused (no token taken), the others are not; a finished handshake or a
 * close gives the slot back. */
static void test_handshake_share(void **st)
{
	(void)st;
	struct fair_table *t = malloc(sizeof *t);
	assert_non_null(t);
	fair_table_init(t, &(struct fair_limits){ .max_conns = 100, .rate = 1000, .burst = 1000,
						  .max_handshaking = 3 });
	struct fair_key a = key("198.51.100.1"), b = key("198.51.100.2");
	uint64_t now = 1000000;
	for (int i = 0; i < 3; i++)
		assert_int_equal(fair_admit(t, &a, now), FAIR_OK);
	assert_int_equal(fair_handshaking(t, &a), 3);
	assert_int_equal(fair_admit(t, &a, now), FAIR_HANDSHAKING);
	assert_int_equal(fair_admit(t, &b, now), FAIR_OK);  /* another source: its own share */
	fair_handshake_done(t, &a);                            /* one finished its handshake */
	assert_int_equal(fair_handshaking(t, &a), 2);
	assert_int_equal(fair_conns(t, &a), 3);
	assert_int_equal(fair_admit(t, &a, now), FAIR_OK);
	assert_int_equal(fair_admit(t, &a, now), FAIR_HANDSHAKING);
	fair_handshake_done(t, &a);                            /* closed during its handshake */
	fair_release(t, &a);
	assert_int_equal(fair_handshaking(t, &a), 2);
	assert_int_equal(fair_conns(t, &a), 3);
	assert_int_equal(fair_admit(t, &a, now), FAIR_OK);
	/* closing every connection never leaves more in handshake than open */
	for (int i = 0; i < 10; i++)
		fair_release(t, &a);
	assert_int_equal(fair_conns(t, &a), 0);
	assert_int_equal(fair_handshaking(t, &a), 0);
	free(t);
}

/* A connection that ends without a request costs FAIR_PENALTY more tokens, into debt: a
 * source whose handshakes come to nothing gets rate / (1 + FAIR_PENALTY) per second (when the
 * burst is above FAIR_PENALTY), one that sends requests gets rate. */
static void test_penalty(void **st)
{
	(void)st;
	struct fair_table *t = table(1000, 1000, 100);   /* burst > FAIR_PENALTY */
	struct fair_key bad = key("198.51.100.1"), good = key("198.51.100.2");
	uint64_t now = 1000000;
	unsigned nb = 0, ng = 0;
	for (unsigned ms = 0; ms < 9000; ms++) {
		for (int i = 0; i < 4; i++) {
			if (fair_admit(t, &bad, now + ms) == FAIR_OK) {
				nb++;
				fair_handshake_done(t, &bad);
				fair_penalize(t, &bad, FAIR_PENALTY);
				fair_release(t, &bad);
			}
			if (fair_admit(t, &good, now + ms) == FAIR_OK) {
				ng++;
				fair_handshake_done(t, &good);
				fair_release(t, &good);
			}
		}
	}
	/* 8.999 s at 1000/s (+ the burst of 100): good gets 9099, bad a (1 + FAIR_PENALTY)th */
	assert_int_equal(ng, 9099);
	assert_true(nb >= 8999 / (1 + FAIR_PENALTY) && nb <= 9099 / (1 + FAIR_PENALTY) + 2);
	/* the debt is bounded by the burst (100 tokens): 100 ms at 1000/s clear it, the next
	 * millisecond brings one token */
	fair_penalize(t, &bad, 1000000);
	assert_int_equal(fair_admit(t, &bad, now + 8999 + 100), FAIR_RATE);
	assert_int_equal(fair_admit(t, &bad, now + 8999 + 101), FAIR_OK);
	free(t);
}

/* A resumed session gives its token back: a resuming client is never out of tokens, however
 * fast it reconnects; a full-handshake client at the same pace is throttled to the rate; the
 * refund never lifts the bucket above its burst. */
static void test_refund(void **st)
{
	(void)st;
	struct fair_table *t = table(1000, 100, 10);   /* 100/s, burst 10 */
	struct fair_key res = key("198.51.100.7"), full = key("198.51.100.8");
	uint64_t now = 5000000;
	unsigned nr = 0, nf = 0;
	for (unsigned ms = 0; ms < 1000; ms++) {
		for (int i = 0; i < 2; i++) {   /* 2000/s each, 20 times the rate */
			if (fair_admit(t, &res, now + ms) == FAIR_OK) {
				nr++;
				fair_handshake_done(t, &res);
				fair_refund(t, &res);
				fair_release(t, &res);
			}
			if (fair_admit(t, &full, now + ms) == FAIR_OK) {
				nf++;
				fair_handshake_done(t, &full);
				fair_release(t, &full);
			}
		}
	}
	assert_int_equal(nr, 2000);
	assert_true(nf >= 10 + 99 && nf <= 10 + 100);
	/* at the burst: refunds do not add (10 admitted without refund, the 11th refused) */
	for (int i = 0; i < 5; i++)
		fair_refund(t, &res);
	unsigned n = 0;
	while (fair_admit(t, &res, now + 1000) == FAIR_OK) {
		fair_handshake_done(t, &res);
		fair_release(t, &res);
		n++;
	}
	assert_int_equal(n, 10);
	free(t);
}

/* n distinct IPv4 sources 10.x.y.z */
static void many_keys(struct fair_key *out, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char s[32];
		snprintf(s, sizeof s, "10.%u.%u.%u", ((i + 1) >> 16) & 255, ((i + 1) >> 8) & 255,
			 (i + 1) & 255);
		out[i] = key(s);
	}
}

static void test_bounded_eviction(void **st)
{
	(void)st;
	enum { N = FAIR_SETS * FAIR_WAYS * 3 };
	static struct fair_key ks[N];
	struct fair_table *t = table(2, 1, 1);
	struct fair_key busy = key("203.0.113.9");
	assert_int_equal(fair_admit(t, &busy, 0), FAIR_OK);
	many_keys(ks, N);
	/* three times the table's size of distinct idle sources, each admitted once: the table
	 * stays bounded, idle ones are forgotten, the busy source keeps its exact count */
	uint64_t untracked = 0;
	for (unsigned i = 0; i < N; i++) {
		enum fair_verdict v = fair_admit(t, &ks[i], 1);
		assert_true(v == FAIR_OK || v == FAIR_UNTRACKED);
		if (v == FAIR_OK)
			fair_release(t, &ks[i]);
		else
			untracked++;
	}
	assert_int_equal(untracked, 0); /* released sources are idle: always evictable */
	assert_int_equal(t->untracked, 0);
	assert_true(t->evicted >= N - FAIR_SETS * FAIR_WAYS);
	assert_int_equal(fair_conns(t, &busy), 1);
	assert_int_equal(fair_admit(t, &busy, 1), FAIR_RATE); /* its bucket was kept too */
	/* a forgotten source starts again with a full bucket */
	assert_int_equal(fair_conns(t, &ks[0]), 0);
	assert_int_equal(fair_admit(t, &ks[0], 2), FAIR_OK);
	free(t);
}

static void test_full_set_untracked(void **st)
{
	(void)st;
	enum { N = FAIR_SETS * FAIR_WAYS + 64 };
	static struct fair_key ks[N];
	struct fair_table *t = table(1, 1, 1);
	many_keys(ks, N);
	/* more busy sources than the table holds: every extra one is admitted untracked (fail
	 * open: the global caps still apply), and no busy entry is ever evicted */
	unsigned ok = 0, untracked = 0;
	for (unsigned i = 0; i < N; i++) {
		enum fair_verdict v = fair_admit(t, &ks[i], 0);
		if (v == FAIR_OK)
			ok++;
		else if (v == FAIR_UNTRACKED)
			untracked++;
		else
			fail_msg("source %u: verdict %d", i, (int)v);
	}
	assert_int_equal(ok + untracked, N);
	assert_true(ok <= FAIR_SETS * FAIR_WAYS);
	assert_true(untracked >= 64);
	assert_int_equal(t->evicted, 0);
	assert_int_equal(t->untracked, untracked);
	/* every tracked one still holds exactly its one connection */
	unsigned counted = 0;
	for (unsigned i = 0; i < N; i++)
		counted += fair_conns(t, &ks[i]);
	assert_int_equal(counted, ok);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_conn_cap),
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_handshake_share),
		cmocka_unit_test(test_penalty),
		cmocka_unit_test(test_refund),
		cmocka_unit_test(test_bounded_eviction),
		cmocka_unit_test(test_full_set_untracked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
