/* The log sink. Never pass key bytes, PINs or passwords. */
#ifndef COFFRE_BOARD_LOG_H
#define COFFRE_BOARD_LOG_H

#include <stdarg.h>
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

#endif
