/* board/ntpsync.c: the UDP query and the sync loop against fake NTP servers on UDP loopback
 * (a thread each, answering with a chosen offset, delay or refusal), with the test's clock
 * functions recording steps and slews instead of touching the clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "board/ntp.h"

enum fake_mode { FAKE_OK, FAKE_SILENT, FAKE_DENY, FAKE_RATE, FAKE_UNSYNC, FAKE_FORGE_FIRST };

struct fake {
	int fd;
	uint16_t port;
	pthread_t th;
	atomic_bool stop;
	atomic_int mode;
	_Atomic int64_t offset_ns;
	atomic_int delay_ms;
	atomic_uint requests;
	uint8_t last_req[NTP_PACKET_LEN];
};

struct fclock {
	pthread_mutex_t mu;
	unsigned steps, slews;
	int64_t last_step, last_slew;
};

static uint64_t now_ts(int64_t offset_ns)
{
	struct timespec ts;
	__int128 off = (__int128)offset_ns * ((__int128)1 << 32) / 1000000000;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ntp_ts_from_unix((int64_t)ts.tv_sec, (uint32_t)ts.tv_nsec) + (uint64_t)(int64_t)off;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void fake_answer(struct fake *f, const uint8_t *req, const struct sockaddr_in *from)
{
	int mode = atomic_load(&f->mode);
	uint8_t rep[NTP_PACKET_LEN];
	uint64_t t;

	if (mode == FAKE_SILENT)
		return;
	if (atomic_load(&f->delay_ms) > 0)
		usleep((useconds_t)atomic_load(&f->delay_ms) * 1000);
	memset(rep, 0, sizeof rep);
	rep[0] = (uint8_t)((mode == FAKE_UNSYNC || mode == FAKE_DENY || mode == FAKE_RATE ? 3 : 0) << 6 |
			   4 << 3 | 4);
	rep[1] = mode == FAKE_DENY || mode == FAKE_RATE ? 0 : 1;
	memcpy(rep + 12, mode == FAKE_DENY ? "DENY" : mode == FAKE_RATE ? "RATE" : "GPS\0", 4);
	memcpy(rep + 24, req + 40, 8); /* origin = the request's transmit timestamp */
	t = now_ts(atomic_load(&f->offset_ns));
	put64(rep + 32, t);
	put64(rep + 40, t);
	if (mode == FAKE_FORGE_FIRST) { /* a forged reply first: another origin, a wild time */
		uint8_t forged[NTP_PACKET_LEN];

		memcpy(forged, rep, sizeof forged);
		forged[31] ^= 0x01;
		put64(forged + 32, t + (5000ull << 32));
		put64(forged + 40, t + (5000ull << 32));
		(void)sendto(f->fd, forged, sizeof forged, 0, (const struct sockaddr *)from, sizeof *from);
	}
	(void)sendto(f->fd, rep, sizeof rep, 0, (const struct sockaddr *)from, sizeof *from);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd p = { .fd = f->fd, .events = POLLIN };
	struct sockaddr_in from;
	socklen_t fl;
	uint8_t req[512];
	ssize_t n;

	while (!atomic_load(&f->stop)) {
		if (poll(&p, 1, 20) <= 0)
			continue;
		fl = sizeof from;
		n = recvfrom(f->fd, req, sizeof req, 0, (struct sockaddr *)&from, &fl);
		if (n != NTP_PACKET_LEN)
			continue;
		memcpy(f->last_req, req, NTP_PACKET_LEN);
		atomic_fetch_add(&f->requests, 1);
		fake_answer(f, req, &from);
	}
	return NULL;
}

static void fake_start(struct fake *f, enum fake_mode mode, double offset_s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	socklen_t al = sizeof a;

	memset(f, 0, sizeof *f);
	atomic_store(&f->mode, (int)mode);
	atomic_store(&f->offset_ns, (int64_t)(offset_s * 1e9));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &al), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	atomic_store(&f->stop, true);
	pthread_join(f->th, NULL);
	close(f->fd);
}

static struct board_ntp_server srv_of(const struct fake *f)
{
	struct board_ntp_server s;

	memset(&s, 0, sizeof s);
	strcpy(s.addr, "127.0.0.1"); /* loopback: the parser refuses it, the loop does not care */
	s.port = f->port;
	return s;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void near_s(int64_t ns, double want, double tol)
{
	double got = (double)ns / 1e9;

	if (got < want - tol || got > want + tol)
		fail_msg("%.6f s, expected %.6f +- %.3f", got, want, tol);
}

/* ---- the fake clock ------------------------------------------------------------------- */

static cf_err fc_step(void *arg, int64_t off)
{
	struct fclock *c = arg;

	pthread_mutex_lock(&c->mu);
	c->steps++;
	c->last_step = off;
	pthread_mutex_unlock(&c->mu);
	return CF_OK;
}

static cf_err fc_slew(void *arg, int64_t off)
{
	struct fclock *c = arg;

	pthread_mutex_lock(&c->mu);
	c->slews++;
	c->last_slew = off;
	pthread_mutex_unlock(&c->mu);
	return CF_OK;
}

static void fc_get(struct fclock *c, struct fclock *out)
{
	pthread_mutex_lock(&c->mu);
	out->steps = c->steps;
	out->slews = c->slews;
	out->last_step = c->last_step;
	out->last_slew = c->last_slew;
	pthread_mutex_unlock(&c->mu);
}

static struct fclock fclk = { .mu = PTHREAD_MUTEX_INITIALIZER };
static const struct ntpsync_clock clk = { fc_step, fc_slew, &fclk };
static const struct ntpsync_timing fast = { 1, 2, 3, 500 };

static void fc_reset(void)
{
	pthread_mutex_lock(&fclk.mu);
	fclk.steps = fclk.slews = 0;
	fclk.last_step = fclk.last_slew = 0;
	pthread_mutex_unlock(&fclk.mu);
}

/* Wait up to secs for the status to satisfy pred. */
static void wait_status(struct ntpsync *s, bool (*pred)(const struct board_ntp_status *, unsigned),
			unsigned arg, double secs, struct board_ntp_status *st)
{
	double end = mono_s() + secs;

	do {
		ntpsync_status(s, st);
		if (pred(st, arg))
			return;
		usleep(20000);
	} while (mono_s() < end);
	fail_msg("status not reached in %.1f s (polls %u, synced %d, error '%s')", secs, st->polls,
		 st->synced, st->error);
}

static bool polls_at_least(const struct board_ntp_status *st, unsigned n)
{
	return st->polls >= n;
}

static bool synced(const struct board_ntp_status *st, unsigned n)
{
	(void)n;
	return st->synced;
}

/* ---- the query ------------------------------------------------------------------------ */

static void t_query(void **s)
{
	struct board_ntp_server srv;
	struct ntp_sample smp;
	enum ntp_verdict v;
	struct fake f;
	uint64_t sent;

	(void)s;
	fake_start(&f, FAKE_OK, 300.0);
	srv = srv_of(&f);
	assert_int_equal(ntp_query(&srv, 2000, &smp, &v), CF_OK);
	near_s(smp.offset_ns, 300.0, 0.05);
	assert_true(smp.delay_ns >= 0 && smp.delay_ns < 100000000);
	assert_int_equal(smp.stratum, 1);
	/* the request: LI 0, version 4, mode 3, our time in its transmit timestamp's seconds */
	assert_int_equal(f.last_req[0], 0x23);
	sent = 0;
	for (int i = 0; i < 8; i++)
		sent = sent << 8 | f.last_req[40 + i];
	assert_true((uint32_t)(sent >> 32) - (uint32_t)(now_ts(0) >> 32) + 2u <= 4u);
	/* behind */
	atomic_store(&f.offset_ns, -5000000000LL);
	assert_int_equal(ntp_query(&srv, 2000, &smp, &v), CF_OK);
	near_s(smp.offset_ns, -5.0, 0.05);
	/* a forged reply (wrong origin) first: skipped, the real one taken */
	atomic_store(&f.mode, FAKE_FORGE_FIRST);
	atomic_store(&f.offset_ns, 7000000000LL);
	assert_int_equal(ntp_query(&srv, 2000, &smp, &v), CF_OK);
	near_s(smp.offset_ns, 7.0, 0.05);
	/* refused replies */
	atomic_store(&f.mode, FAKE_UNSYNC);
	assert_int_equal(ntp_query(&srv, 2000, &smp, &v), CF_E_BAD_VALUE);
	assert_int_equal(v, NTP_E_UNSYNC);
	atomic_store(&f.mode, FAKE_DENY);
	assert_int_equal(ntp_query(&srv, 2000, &smp, &v), CF_E_BAD_VALUE);
	assert_int_equal(v, NTP_E_KOD_DENY);
	/* no answer: the timeout, not longer */
	atomic_store(&f.mode, FAKE_SILENT);
	double t0 = mono_s();
	assert_int_equal(ntp_query(&srv, 300, &smp, &v), CF_E_TIMEOUT);
	assert_true(mono_s() - t0 >= 0.29 && mono_s() - t0 < 1.0);
	/* nobody on the port: refused at once (ICMP port unreachable on loopback) */
	fake_stop(&f);
	t0 = mono_s();
	assert_int_equal(ntp_query(&srv, 2000, &smp, &v), CF_E_CLOSED);
	assert_true(mono_s() - t0 < 1.0);
	assert_int_equal(ntp_query(NULL, 2000, &smp, &v), CF_E_INVALID_ARG);
}

/* ---- the loop ------------------------------------------------------------------------- */

static void t_loop_step_slew_panic(void **s)
{
	struct board_ntp_server srv;
	struct board_ntp_status st;
	struct ntpsync *ns = NULL;
	struct fclock c;
	struct fake f;
	char text[BOARD_NTP_TEXT];

	(void)s;
	fc_reset();
	fake_start(&f, FAKE_OK, 300.0);
	srv = srv_of(&f);
	assert_int_equal(ntpsync_apply(&ns, &srv, 1, &clk, &fast), CF_OK);
	wait_status(ns, synced, 0, 3, &st);
	fc_get(&fclk, &c);
	assert_int_equal(c.steps, 1); /* the first sync steps */
	assert_int_equal(c.slews, 0);
	near_s(c.last_step, 300.0, 0.05);
	assert_true(st.active && st.stepped);
	assert_int_equal(st.n_servers, 1);
	board_ntp_server_format(&srv, text);
	assert_string_equal(st.server, text);
	near_s(st.offset_us * 1000, 300.0, 0.05);
	assert_int_equal(st.error[0], '\0');
	assert_int_equal(st.interval_s, 1); /* the first polls: first_s */
	/* later: slew, even over 0.5 s */
	atomic_store(&f.offset_ns, 200000000LL);
	wait_status(ns, polls_at_least, 2, 3, &st);
	fc_get(&fclk, &c);
	assert_int_equal(c.steps, 1);
	assert_int_equal(c.slews, 1);
	near_s(c.last_slew, 0.2, 0.05);
	assert_false(st.stepped);
	assert_int_equal(st.interval_s, 3); /* after first_polls: steady_s */
	/* over 1000 s: the panic threshold, nothing applied, said */
	atomic_store(&f.offset_ns, 2000000000000LL);
	wait_status(ns, polls_at_least, 3, 5, &st);
	fc_get(&fclk, &c);
	assert_int_equal(c.steps, 1);
	assert_int_equal(c.slews, 1);
	assert_non_null(strstr(st.error, "panic threshold"));
	assert_true(st.error_at > 0);
	assert_true(st.synced); /* the last good sync is still shown */
	near_s(st.offset_us * 1000, 0.2, 0.05);
	/* stopping ends the slew still running in the kernel */
	ntpsync_free(ns);
	fc_get(&fclk, &c);
	assert_int_equal(c.slews, 2);
	assert_int_equal(c.last_slew, 0);
	fake_stop(&f);
}

static void t_loop_smallest_delay(void **s)
{
	struct board_ntp_server srv[2];
	struct board_ntp_status st;
	struct ntpsync *ns = NULL;
	struct fake a, b;
	struct fclock c;
	char text[BOARD_NTP_TEXT];

	(void)s;
	fc_reset();
	fake_start(&a, FAKE_OK, 50.0);
	atomic_store(&a.delay_ms, 150);
	fake_start(&b, FAKE_OK, 10.0);
	srv[0] = srv_of(&a);
	srv[1] = srv_of(&b);
	assert_int_equal(ntpsync_apply(&ns, srv, 2, &clk, &fast), CF_OK);
	wait_status(ns, synced, 0, 3, &st);
	fc_get(&fclk, &c);
	near_s(c.last_step, 10.0, 0.05); /* b's, the smaller delay */
	board_ntp_server_format(&srv[1], text);
	assert_string_equal(st.server, text);
	assert_true(atomic_load(&a.requests) >= 1 && atomic_load(&b.requests) >= 1);
	ntpsync_free(ns);
	fake_stop(&a);
	fake_stop(&b);
}

static void t_loop_kod_backoff(void **s)
{
	struct board_ntp_server srv;
	struct board_ntp_status st;
	struct ntpsync *ns = NULL;
	struct fake f;
	struct fclock c;
	const struct ntpsync_timing t = { 1, 2, 4, 300 };

	(void)s;
	fc_reset();
	/* DENY: the server is dropped; failures double the interval up to steady_s */
	fake_start(&f, FAKE_DENY, 0);
	srv = srv_of(&f);
	assert_int_equal(ntpsync_apply(&ns, &srv, 1, &clk, &t), CF_OK);
	wait_status(ns, polls_at_least, 1, 2, &st);
	assert_non_null(strstr(st.error, "DENY"));
	assert_int_equal(st.interval_s, 1);
	wait_status(ns, polls_at_least, 2, 3, &st);
	assert_non_null(strstr(st.error, "every server refused"));
	assert_int_equal(st.interval_s, 2);
	wait_status(ns, polls_at_least, 3, 4, &st);
	assert_int_equal(st.interval_s, 4);
	assert_int_equal(atomic_load(&f.requests), 1); /* never asked again */
	assert_false(st.synced);
	/* the list given again: asked again; RATE doubles the interval */
	atomic_store(&f.mode, FAKE_RATE);
	assert_int_equal(ntpsync_apply(&ns, &srv, 1, &clk, &t), CF_OK);
	wait_status(ns, polls_at_least, 1, 2, &st);
	assert_non_null(strstr(st.error, "RATE"));
	assert_int_equal(st.interval_s, 2);
	assert_int_equal(atomic_load(&f.requests), 2);
	fc_get(&fclk, &c);
	assert_int_equal(c.steps + c.slews, 0);
	ntpsync_free(ns);
	fake_stop(&f);
}

static void t_loop_new_list_off(void **s)
{
	struct board_ntp_server srv[2];
	struct board_ntp_status st;
	struct ntpsync *ns = NULL;
	struct fake a, b;
	struct fclock c;
	unsigned before;

	(void)s;
	fc_reset();
	fake_start(&a, FAKE_OK, 300.0);
	fake_start(&b, FAKE_OK, 20.0);
	srv[0] = srv_of(&a);
	srv[1] = srv_of(&b);
	assert_int_equal(ntpsync_apply(&ns, &srv[0], 1, &clk, &fast), CF_OK);
	wait_status(ns, synced, 0, 3, &st);
	/* a new list: taken at once (no reboot), its first sync steps again */
	assert_int_equal(ntpsync_apply(&ns, &srv[1], 1, &clk, &fast), CF_OK);
	ntpsync_status(ns, &st);
	assert_int_equal(st.n_servers, 1);
	assert_int_equal(st.servers[0].port, b.port);
	wait_status(ns, synced, 0, 3, &st);
	fc_get(&fclk, &c);
	assert_int_equal(c.steps, 2);
	near_s(c.last_step, 20.0, 0.05);
	/* off: the thread stops, nobody is asked any more */
	assert_int_equal(ntpsync_apply(&ns, NULL, 0, &clk, &fast), CF_OK);
	ntpsync_status(ns, &st);
	assert_false(st.active);
	assert_int_equal(st.n_servers, 0);
	before = atomic_load(&b.requests);
	usleep(1300000);
	assert_int_equal(atomic_load(&b.requests), before);
	ntpsync_free(ns);
	fake_stop(&a);
	fake_stop(&b);
}

/* A stop does not wait for a query's timeout. */
static void t_free_mid_query(void **s)
{
	const struct ntpsync_timing t = { 1, 2, 3, 5000 };
	struct board_ntp_server srv;
	struct ntpsync *ns = NULL;
	struct fake f;
	double t0;

	(void)s;
	fake_start(&f, FAKE_SILENT, 0);
	srv = srv_of(&f);
	assert_int_equal(ntpsync_apply(&ns, &srv, 1, &clk, &t), CF_OK);
	usleep(200000);
	assert_int_equal(atomic_load(&f.requests), 1);
	t0 = mono_s();
	ntpsync_free(ns);
	assert_true(mono_s() - t0 < 0.5);
	fake_stop(&f);
	ntpsync_free(NULL);
}

/* Without clock functions (the host): the list is kept, nothing is asked or applied. */
static void t_list_only(void **s)
{
	struct board_ntp_server srv;
	struct board_ntp_status st;
	struct ntpsync *ns = NULL;
	struct fake f;

	(void)s;
	fake_start(&f, FAKE_OK, 3.0);
	srv = srv_of(&f);
	assert_int_equal(ntpsync_apply(&ns, &srv, 1, NULL, NULL), CF_OK);
	usleep(300000);
	ntpsync_status(ns, &st);
	assert_int_equal(st.n_servers, 1);
	assert_false(st.active);
	assert_false(st.synced);
	assert_int_equal(atomic_load(&f.requests), 0);
	assert_int_equal(ntpsync_apply(&ns, &srv, BOARD_NTP_MAX + 1, NULL, NULL), CF_E_INVALID_ARG);
	ntpsync_free(ns);
	fake_stop(&f);
	if (strcmp(board_name(), "host") == 0) { /* the host board's API: the same */
		struct board b;

		memset(&b, 0, sizeof b);
		b.watchdog_fd = -1;
		assert_int_equal(board_ntp_apply(&b, &srv, 1), CF_OK);
		board_ntp_status(&b, &st);
		assert_int_equal(st.n_servers, 1);
		assert_false(st.active);
		board_free(&b);
		board_ntp_status(NULL, &st);
		assert_int_equal(st.n_servers, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_query),
		cmocka_unit_test(t_loop_step_slew_panic),
		cmocka_unit_test(t_loop_smallest_delay),
		cmocka_unit_test(t_loop_kod_backoff),
		cmocka_unit_test(t_loop_new_list_off),
		cmocka_unit_test(t_free_mid_query),
		cmocka_unit_test(t_list_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
