/* The log sink. Never pass key bytes, PINs or passwords. */
#ifndef COFFRE_BOARD_LOG_H
#define COFFRE_BOARD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include "err.h"

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN = 1, LOG_LVL_INFO = 2, LOG_LVL_DBG = 3 };

/* A sink receives one formatted line (no trailing newline). */
typedef void (*log_sink_fn)(void *arg, enum log_level lvl, const char *line);

struct log_sink {
	log_sink_fn fn;       /* NULL = stderr */
	void *arg;
	enum log_level level; /* messages above this level are dropped */
};

/* Set the process sink (called once at start-up, before threads); NULL restores stderr. */
void log_set_sink(const struct log_sink *s);
enum log_level log_get_level(void);

void log_msg(enum log_level lvl, cf_err rc, const char *file, int line, const char *func,
	     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#define log_err(...)  log_msg(LOG_LVL_ERR, CF_OK, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, CF_OK, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, CF_OK, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_dbg(...)  log_msg(LOG_LVL_DBG, CF_OK, __FILE__, __LINE__, __func__, __VA_ARGS__)
/* _r forms append ": <cf_err_str(rc)>" */
#define log_err_r(rc, ...)  log_msg(LOG_LVL_ERR, (rc), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_warn_r(rc, ...) log_msg(LOG_LVL_WARN, (rc), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* A bounded rate for lines any peer can cause (one per failed handshake, ...): a token bucket
 * of `burst` lines refilled at `per_min` lines a minute. Not thread-safe (the caller locks).
 * log_rate_take: true when this line may be written; *dropped then says how many lines were
 * not written since the previous one that was (to be said in that line). */
struct log_rate {
	unsigned burst;
	unsigned per_min;
	uint64_t t_ms;        /* when the bucket was last refilled; 0 = never used */
	uint64_t milli;       /* tokens x 1000 */
	uint64_t dropped;     /* lines not written since the last one written */
};

bool log_rate_take(struct log_rate *r, uint64_t now_ms, uint64_t *dropped);
/* When lines were left out and the bucket has a token again: true, the token taken and
 * *dropped = how many, to be said in a line of its own (so a burst that ends is still told,
 * within a refill). Call it periodically; false (and *dropped 0) otherwise. */
bool log_rate_flush(struct log_rate *r, uint64_t now_ms, uint64_t *dropped);

#endif
