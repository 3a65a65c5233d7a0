/* The NTP queries and the sync thread (board/ntp.h), every board's code; the host board
 * gives no clock functions, so only the list is kept there. One thread per board: it polls
 * every server of the list (ntp_query, 2 s each), keeps the reply with the smallest delay,
 * and applies it through the board's clock functions: the first sync after a start or a new
 * list steps the clock beyond 0.5 s, later ones slew it, and refuse over 1000 s (a warning:
 * the panic threshold). Polls every 64 s for the first 4 polls, then every 1024 s; failures
 * double the interval from 64 s up to 1024 s; Kiss-o'-Death RATE doubles it, DENY and RSTR
 * drop the server until the list is given again. */
#include "board/ntp.h"
#include "board/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NTP_RECV_MAX 1024

struct ntpsync {
	pthread_mutex_t mu;
	pthread_cond_t cv;                  /* a new list or stop (CLOCK_MONOTONIC waits) */
	pthread_t thread;
	bool running;                       /* the thread was started and not joined */
	bool stop;
	int wake_fd;                        /* eventfd: abandons the queries of a round */
	unsigned gen;                       /* bumped by each new list */
	struct board_ntp_server servers[BOARD_NTP_MAX];
	unsigned n;
	bool dropped[BOARD_NTP_MAX];        /* Kiss-o'-Death DENY / RSTR */
	unsigned failures;                  /* rounds without a sample in a row */
	bool slewed;                        /* a slew may still run in the kernel */
	struct ntpsync_clock clk;
	struct ntpsync_timing timing;
	struct board_ntp_status st;
};

/* One round's result. */
struct ntpsync_round {
	bool ok;
	struct ntp_sample best;
	unsigned best_i;
	bool rate;
	bool drop[BOARD_NTP_MAX];
	char error[sizeof ((struct board_ntp_status *)0)->error];
};

/* ---- one query ------------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t ntp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ntp_ts_from_unix((int64_t)ts.tv_sec, (uint32_t)ts.tv_nsec);
}

/* A connected UDP socket to srv. */
static int ntp_socket(const struct board_ntp_server *srv)
{
	struct sockaddr_in6 a6;
	struct sockaddr_in a4;
	int fd;

	memset(&a4, 0, sizeof a4);
	memset(&a6, 0, sizeof a6);
	if (inet_pton(AF_INET, srv->addr, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		a4.sin_port = htons(srv->port);
		if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&a4, sizeof a4) == 0)
			return fd;
	} else if (inet_pton(AF_INET6, srv->addr, &a6.sin6_addr) == 1) {
		a6.sin6_family = AF_INET6;
		a6.sin6_port = htons(srv->port);
		if ((fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&a6, sizeof a6) == 0)
			return fd;
	} else {
		errno = EINVAL;
		return -1;
	}
	close(fd);
	return -1;
}

/* Wait for fd (or cancel_fd) until deadline: 1 readable, 0 timeout, -1 cancelled / error. */
static int ntp_wait(int fd, int cancel_fd, int64_t deadline)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = cancel_fd, .events = POLLIN } };
	int64_t left;
	int r;

	while ((left = deadline - mono_ms()) > 0) {
		r = poll(p, cancel_fd >= 0 ? 2 : 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (cancel_fd >= 0 && (p[1].revents & POLLIN)))
			return -1;
		if (r > 0)
			return 1;
	}
	return 0;
}

/* The reply loop: replies with another origin are skipped (not ours). */
static cf_err ntp_receive(int fd, int cancel_fd, unsigned timeout_ms, uint64_t xmt, uint64_t t1,
			  struct ntp_sample *out, enum ntp_verdict *verdict)
{
	int64_t deadline = mono_ms() + timeout_ms;
	uint8_t buf[NTP_RECV_MAX];
	ssize_t r;
	int w;

	for (;;) {
		if ((w = ntp_wait(fd, cancel_fd, deadline)) <= 0)
			return w == 0 ? CF_E_TIMEOUT : CF_E_CANCELLED;
		if ((r = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == ECONNREFUSED ? CF_E_CLOSED : CF_E_IO;
		}
		*verdict = ntp_reply_parse(buf, (size_t)r, xmt, t1, ntp_now(), out);
		if (*verdict == NTP_E_ORIGIN)
			continue;
		return *verdict == NTP_OK ? CF_OK : CF_E_BAD_VALUE;
	}
}

static cf_err ntp_query_fd(const struct board_ntp_server *srv, unsigned timeout_ms, int cancel_fd,
			   struct ntp_sample *out, enum ntp_verdict *verdict)
{
	uint8_t req[NTP_PACKET_LEN];
	uint64_t t1, xmt;
	uint32_t rnd;
	cf_err rc;
	int fd;

	memset(out, 0, sizeof *out);
	*verdict = NTP_E_ORIGIN;
	if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		return CF_E_IO;
	if ((fd = ntp_socket(srv)) < 0)
		return CF_E_IO;
	t1 = ntp_now();
	xmt = ntp_xmt_mix(t1, rnd);
	ntp_request_build(req, xmt);
	if (send(fd, req, sizeof req, 0) != (ssize_t)sizeof req)
		rc = errno == ECONNREFUSED ? CF_E_CLOSED : CF_E_IO;
	else
		rc = ntp_receive(fd, cancel_fd, timeout_ms, xmt, t1, out, verdict);
	close(fd);
	return rc;
}

cf_err ntp_query(const struct board_ntp_server *srv, unsigned timeout_ms, struct ntp_sample *out,
		 enum ntp_verdict *verdict)
{
	if (srv == NULL || out == NULL || verdict == NULL || timeout_ms == 0)
		return CF_E_INVALID_ARG;
	return ntp_query_fd(srv, timeout_ms, -1, out, verdict);
}

/* ---- a round: every server once -------------------------------------------------------- */

static void round_error(struct ntpsync_round *r, const struct board_ntp_server *srv, cf_err rc,
			enum ntp_verdict v, unsigned timeout_ms)
{
	char text[BOARD_NTP_TEXT];

	board_ntp_server_format(srv, text);
	if (rc == CF_E_TIMEOUT)
		(void)snprintf(r->error, sizeof r->error, "%s: no answer within %u s", text,
			       (timeout_ms + 999) / 1000);
	else if (rc == CF_E_BAD_VALUE)
		(void)snprintf(r->error, sizeof r->error, "%s: %s", text, ntp_verdict_str(v));
	else if (rc == CF_E_CLOSED)
		(void)snprintf(r->error, sizeof r->error, "%s: no NTP server there (port unreachable)",
			       text);
	else
		(void)snprintf(r->error, sizeof r->error, "%s: %s", text, strerror(errno));
}

/* Query each server not dropped; false when the round was abandoned (a new list, stop). */
static bool ntpsync_round(struct ntpsync *s, const struct board_ntp_server *servers, unsigned n,
			  const bool *dropped, struct ntpsync_round *r)
{
	struct ntp_sample smp;
	enum ntp_verdict v;
	cf_err rc;

	memset(r, 0, sizeof *r);
	(void)snprintf(r->error, sizeof r->error, "every server refused us (kiss-o'-death DENY or "
		       "RSTR); give the list again with time ntp");
	for (unsigned i = 0; i < n; i++) {
		if (dropped[i])
			continue;
		rc = ntp_query_fd(&servers[i], s->timing.query_ms, s->wake_fd, &smp, &v);
		if (rc == CF_E_CANCELLED)
			return false;
		if (rc == CF_OK && (!r->ok || smp.delay_ns < r->best.delay_ns)) {
			r->ok = true;
			r->best = smp;
			r->best_i = i;
		} else if (rc != CF_OK) {
			r->rate = r->rate || (rc == CF_E_BAD_VALUE && v == NTP_E_KOD_RATE);
			r->drop[i] = rc == CF_E_BAD_VALUE && (v == NTP_E_KOD_DENY || v == NTP_E_KOD_RSTR);
			round_error(r, &servers[i], rc, v, s->timing.query_ms);
		}
	}
	return true;
}

/* ---- applying a round (s->mu held) ----------------------------------------------------- */

static void ntpsync_fail(struct ntpsync *s, const char *why)
{
	s->st.error_at = (int64_t)time(NULL);
	(void)snprintf(s->st.error, sizeof s->st.error, "%s", why);
}

/* Step, slew or refuse the best sample. */
static void ntpsync_correct(struct ntpsync *s, const struct ntpsync_round *r)
{
	enum ntp_action act = ntp_action_for(r->best.offset_ns, !s->st.synced);
	char text[BOARD_NTP_TEXT], why[sizeof s->st.error];
	double off = (double)r->best.offset_ns / 1e9;
	cf_err rc = CF_OK;

	board_ntp_server_format(&s->servers[r->best_i], text);
	if (act == NTP_ACT_PANIC) {
		(void)snprintf(why, sizeof why, "%s: offset %+.3f s is over the panic threshold "
			       "(1000 s): not applied (set the time with time set)", text, off);
		log_warn("ntp: %s", why);
		ntpsync_fail(s, why);
		return;
	}
	if (s->clk.step != NULL && act == NTP_ACT_STEP)
		rc = s->clk.step(s->clk.arg, r->best.offset_ns);
	else if (s->clk.slew != NULL)
		rc = s->clk.slew(s->clk.arg, r->best.offset_ns);
	if (rc != CF_OK) {
		(void)snprintf(why, sizeof why, "%s: the clock could not be %s (%s)", text,
			       act == NTP_ACT_STEP ? "stepped" : "slewed", cf_err_str(rc));
		log_warn("ntp: %s", why);
		ntpsync_fail(s, why);
		return;
	}
	s->slewed = s->slewed || act == NTP_ACT_SLEW;
	s->st.synced = true;
	s->st.last_sync = (int64_t)time(NULL);
	(void)snprintf(s->st.server, sizeof s->st.server, "%s", text);
	s->st.offset_us = r->best.offset_ns / 1000;
	s->st.delay_us = r->best.delay_ns / 1000;
	s->st.stepped = act == NTP_ACT_STEP;
	s->st.error[0] = '\0';
	s->st.error_at = 0;
	if (act == NTP_ACT_STEP || off > 0.1 || off < -0.1)
		log_info("ntp: clock %s by %+.3f s (server %s, delay %.3f s)",
			 act == NTP_ACT_STEP ? "stepped" : "slewed", off, text,
			 (double)r->best.delay_ns / 1e9);
}

/* The seconds to the next poll. */
static unsigned ntpsync_interval(struct ntpsync *s, const struct ntpsync_round *r)
{
	const struct ntpsync_timing *t = &s->timing;
	unsigned iv;

	if (r->ok) {
		s->failures = 0;
		iv = s->st.polls < t->first_polls ? t->first_s : t->steady_s;
	} else {
		s->failures++;
		iv = t->first_s;
		for (unsigned i = 1; i < s->failures && iv < t->steady_s; i++)
			iv *= 2;
		iv = iv < t->steady_s ? iv : t->steady_s;
	}
	return r->rate ? iv * 2 : iv;
}

static void ntpsync_take(struct ntpsync *s, const struct ntpsync_round *r)
{
	s->st.polls++;
	for (unsigned i = 0; i < s->n; i++)
		s->dropped[i] = s->dropped[i] || r->drop[i];
	if (r->ok)
		ntpsync_correct(s, r);
	else
		ntpsync_fail(s, r->error);
	s->st.interval_s = ntpsync_interval(s, r);
}

/* ---- the thread ------------------------------------------------------------------------ */

/* Sleep (s->mu held) until the interval passed, a new list came (gen moved) or stop. */
static void ntpsync_sleep(struct ntpsync *s, unsigned gen, unsigned secs)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)secs;
	while (!s->stop && s->gen == gen &&
	       pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT)
		;
}

static void *ntpsync_main(void *arg)
{
	struct ntpsync *s = arg;
	struct board_ntp_server servers[BOARD_NTP_MAX];
	bool dropped[BOARD_NTP_MAX];
	struct ntpsync_round r;
	uint64_t drain;
	unsigned gen, n;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		if (s->n == 0) {
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		ssize_t k = read(s->wake_fd, &drain, sizeof drain); /* a stale wake-up */
		(void)k;
		gen = s->gen;
		n = s->n;
		memcpy(servers, s->servers, sizeof servers);
		memcpy(dropped, s->dropped, sizeof dropped);
		pthread_mutex_unlock(&s->mu);
		bool done = ntpsync_round(s, servers, n, dropped, &r);
		pthread_mutex_lock(&s->mu);
		if (!done || s->stop || s->gen != gen)
			continue;
		ntpsync_take(s, &r);
		ntpsync_sleep(s, gen, s->st.interval_s);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static struct ntpsync *ntpsync_new(void)
{
	struct ntpsync *s = calloc(1, sizeof *s);
	pthread_condattr_t ca;

	if (s == NULL)
		return NULL;
	if ((s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	s->timing = NTPSYNC_TIMING_DEFAULT;
	return s;
}

/* Stop and join the thread (s->mu not held); a slew still running in the kernel is ended. */
static void ntpsync_stop(struct ntpsync *s)
{
	uint64_t one = 1;

	if (!s->running)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	ssize_t k = write(s->wake_fd, &one, sizeof one);
	(void)k;
	pthread_join(s->thread, NULL);
	s->running = false;
	s->stop = false;
	if (s->slewed && s->clk.slew != NULL)
		(void)s->clk.slew(s->clk.arg, 0);
	s->slewed = false;
}

/* The new list (s->mu held): status, drops and failures start again. */
static void ntpsync_set_list(struct ntpsync *s, const struct board_ntp_server *servers, unsigned n,
			     bool active)
{
	uint64_t one = 1;

	memset(&s->st, 0, sizeof s->st);
	memset(s->dropped, 0, sizeof s->dropped);
	memset(s->servers, 0, sizeof s->servers);
	if (n > 0)
		memcpy(s->servers, servers, n * sizeof *servers);
	s->n = n;
	s->st.n_servers = n;
	memcpy(s->st.servers, s->servers, sizeof s->st.servers);
	s->st.active = active;
	s->failures = 0;
	s->gen++;
	pthread_cond_broadcast(&s->cv);
	ssize_t k = write(s->wake_fd, &one, sizeof one);
	(void)k;
}

cf_err ntpsync_apply(struct ntpsync **sp, const struct board_ntp_server *servers, unsigned n,
		     const struct ntpsync_clock *clk, const struct ntpsync_timing *timing)
{
	struct ntpsync *s;

	if (sp == NULL || n > BOARD_NTP_MAX || (n > 0 && servers == NULL))
		return CF_E_INVALID_ARG;
	if (*sp == NULL && (*sp = ntpsync_new()) == NULL)
		return CF_E_NOMEM;
	s = *sp;
	if (clk == NULL || n == 0)
		ntpsync_stop(s);
	pthread_mutex_lock(&s->mu);
	if (clk != NULL)
		s->clk = *clk;
	if (timing != NULL)
		s->timing = *timing;
	ntpsync_set_list(s, servers, n, clk != NULL && n > 0);
	pthread_mutex_unlock(&s->mu);
	if (clk == NULL || n == 0 || s->running)
		return CF_OK;
	if (pthread_create(&s->thread, NULL, ntpsync_main, s) != 0) {
		pthread_mutex_lock(&s->mu);
		s->st.active = false;
		ntpsync_fail(s, "the NTP thread could not be started");
		pthread_mutex_unlock(&s->mu);
		return CF_E_NOMEM;
	}
	s->running = true;
	return CF_OK;
}

void ntpsync_status(struct ntpsync *s, struct board_ntp_status *out)
{
	memset(out, 0, sizeof *out);
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	*out = s->st;
	pthread_mutex_unlock(&s->mu);
}

void ntpsync_free(struct ntpsync *s)
{
	if (s == NULL)
		return;
	ntpsync_stop(s);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	close(s->wake_fd);
	free(s);
}

void board_ntp_status(struct board *b, struct board_ntp_status *out)
{
	ntpsync_status(b != NULL ? b->ntp : NULL, out);
}
