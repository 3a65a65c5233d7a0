/* The log sink. One process-wide sink, set once at start-up before any thread. */
#include "board/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static struct log_sink log_cur = { NULL, NULL, LOG_LVL_INFO };

static const char *const log_lvl_names[] = { "error", "warn", "info", "debug" };

void log_set_sink(const struct log_sink *s)
{
	if (s == NULL) {
		log_cur = (struct log_sink){ NULL, NULL, LOG_LVL_INFO };
		return;
	}
	log_cur = *s;
}

enum log_level log_get_level(void)
{
	return log_cur.level;
}

static void log_stderr(enum log_level lvl, const char *line)
{
	/* one write per line, so that lines from threads do not interleave */
	char out[1200];
	int n = snprintf(out, sizeof out, "coffred: %s: %s\n", log_lvl_names[lvl], line);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof out ? (size_t)n : sizeof out - 1;
	if (fwrite(out, 1, len, stderr) != len)
		return;
}

void log_msg(enum log_level lvl, cf_err rc, const char *file, int line, const char *func,
	     const char *fmt, ...)
{
	if (lvl > log_cur.level)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	size_t used = strlen(msg);
	if (rc != CF_OK && used < sizeof msg)
		snprintf(msg + used, sizeof msg - used, ": %s", cf_err_str(rc));
	char full[1100];
	if (log_cur.level >= LOG_LVL_DBG)
		snprintf(full, sizeof full, "%s (%s:%d %s)", msg, file, line, func);
	else
		snprintf(full, sizeof full, "%s", msg);
	if (log_cur.fn != NULL)
		log_cur.fn(log_cur.arg, lvl, full);
	else
		log_stderr(lvl, full);
}

static void log_rate_refill(struct log_rate *r, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)r->burst * 1000;

	if (r->t_ms == 0) {
		r->milli = cap;
	} else if (now_ms > r->t_ms) {
		uint64_t add = (now_ms - r->t_ms) * r->per_min / 60; /* milli-tokens */
		r->milli = add >= cap - r->milli ? cap : r->milli + add;
	}
	r->t_ms = now_ms > r->t_ms ? now_ms : r->t_ms;
}

bool log_rate_flush(struct log_rate *r, uint64_t now_ms, uint64_t *dropped)
{
	*dropped = 0;
	if (r->dropped == 0)
		return false;
	log_rate_refill(r, now_ms);
	if (r->milli < 1000)
		return false;
	r->milli -= 1000;
	*dropped = r->dropped;
	r->dropped = 0;
	return true;
}

bool log_rate_take(struct log_rate *r, uint64_t now_ms, uint64_t *dropped)
{
	log_rate_refill(r, now_ms);
	if (r->milli < 1000) {
		r->dropped++;
		*dropped = 0;
		return false;
	}
	r->milli -= 1000;
	*dropped = r->dropped;
	r->dropped = 0;
	return true;
}
