/* The console's output and line editor (con.h "output" and "input";
 * docs/console/shell.md).
 *
 * Input bytes are hostile. They arrive in c->rbuf and each one is wiped there as soon as it is
 * consumed; a line is built in the caller's fixed buffer, and a line longer than that buffer
 * is discarded up to its end, never truncated into a different command.
 *
 * CR, LF and CR LF end a line: an LF right after the CR that ended the previous line is that
 * line's tail. To know "right after a CR" across reads and across calls without more state,
 * a consumed CR is not wiped (it is no secret) and the buffer is compacted keeping the last
 * consumed byte: the byte before rbuf[rpos] is always the one consumed last.
 *
 * Waits are poll(2) on fd_in and, on the console thread, a wake-up descriptor (con_shell.c:
 * a notice to print, a state change, console_stop): c->fd_wake with c->on_wake. A zeroed
 * struct con (a test) has none.
 *
 * The shared services at the end (con_now, con_store, con_audit) live here, below every
 * command file and the shell, so that calls between the console files go one way. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "board/log.h"
#include "board/sec.h"
#include "firmware/console/con.h"
#include "firmware/store/audit.h"

/* How long one write may wait for the far end to read before output is dropped. */
#define CON_OUT_WAIT_MS 5000

/* ---- output ------------------------------------------------------------------------------ */

static void con_out(struct con *c, const char *p, size_t n)
{
	while (n > 0 && c->fd_out >= 0) {
		struct pollfd pf = { .fd = c->fd_out, .events = POLLOUT };
		int r = poll(&pf, 1, CON_OUT_WAIT_MS);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return; /* nobody reads (cable unplugged): drop rather than hang the console */
		ssize_t w = write(c->fd_out, p, n);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void con_write(struct con *c, const char *s, size_t n)
{
	char out[512];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (k + 2 > sizeof out) {
			con_out(c, out, k);
			k = 0;
		}
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			out[k++] = '\r';
		out[k++] = s[i];
	}
	con_out(c, out, k);
	sec_wipe(out, sizeof out); /* it may have carried a share shown to its custodian */
}

void con_printf(struct con *c, const char *fmt, ...)
{
	char small[512], *big = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof small && (big = malloc((size_t)n + 1)) != NULL) {
		va_start(ap, fmt);
		(void)vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	if (big != NULL) {
		con_write(c, big, (size_t)n);
		sec_wipe(big, (size_t)n);
		free(big);
	} else {
		con_write(c, small, (size_t)n < sizeof small ? (size_t)n : sizeof small - 1);
	}
	sec_wipe(small, sizeof small);
}

/* ---- input ------------------------------------------------------------------------------- */

/* The line being edited, for redrawing it after a notice. */
struct con_edit {
	const char *prompt;
	char *buf;
	size_t max, n;
	bool echo;
	bool too_long;  /* over max: everything up to the end of the line is discarded */
	bool shown;     /* the prompt is on screen */
	char echo_buf[256]; /* echo goes out in one write per read, not one per key */
	size_t echo_n;
};

static void con_echo_flush(struct con *c, struct con_edit *e)
{
	con_write(c, e->echo_buf, e->echo_n);
	e->echo_n = 0;
}

static void con_echo(struct con *c, struct con_edit *e, const char *s, size_t n)
{
	if (!e->echo)
		return;
	if (e->echo_n + n > sizeof e->echo_buf)
		con_echo_flush(c, e);
	memcpy(e->echo_buf + e->echo_n, s, n);
	e->echo_n += n;
}

static int64_t con_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static cf_err con_woken(struct con *c, struct con_edit *e)
{
	cf_err rc = c->on_wake(c, e->shown);

	if (rc != CF_E_AGAIN)
		return rc;
	if (e->shown) {
		con_write(c, e->prompt, strlen(e->prompt));
		if (e->echo && !e->too_long)
			con_write(c, e->buf, e->n);
	}
	return CF_OK;
}

/* Read more bytes into the (fully consumed) buffer, keeping the last consumed byte. */
static cf_err con_fill(struct con *c, struct con_edit *e, int64_t deadline)
{
	con_echo_flush(c, e);
	if (c->rpos > 0) {
		c->rbuf[0] = c->rbuf[c->rpos - 1];
		c->rpos = c->rlen = 1;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = c->fd_in, .events = POLLIN },
				       { .fd = c->on_wake != NULL ? c->fd_wake : -1, .events = POLLIN } };
		int wait = -1, r;
		ssize_t n;

		if (c->eof || c->fd_in < 0)
			return CF_E_CLOSED;
		if (deadline > 0) {
			int64_t left = deadline - con_mono_ms();

			if (left <= 0)
				return CF_E_TIMEOUT;
			wait = left > INT_MAX ? INT_MAX : (int)left;
		}
		r = poll(p, c->on_wake != NULL ? 2 : 1, wait);
		if (r < 0 && errno != EINTR) {
			c->eof = true;
			return CF_E_CLOSED;
		}
		if (r <= 0)
			continue; /* EINTR, or the deadline: checked above */
		if (p[1].revents != 0) {
			cf_err rc = con_woken(c, e);

			if (rc != CF_OK)
				return rc;
		}
		if (p[0].revents == 0)
			continue;
		n = read(c->fd_in, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
		if (n > 0) {
			c->rlen += (size_t)n;
			return CF_OK;
		}
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		/* 0: end of input; EIO: the far side of the pty closed (it may come back: the
		 * shell waits for that, con_shell.c) */
		c->eof = true;
		return CF_E_CLOSED;
	}
}

/* Cursor and function keys send ESC [ params final or ESC O x: dropped whole, so that an
 * arrow key does not type "[A". Returns the next state (0: none); *drop: b belonged to it. */
static int con_esc(int st, uint8_t b, bool *drop)
{
	*drop = true;
	if (st == 1 && (b == '[' || b == 'O'))
		return b;
	if (st == '[' && b >= 0x20 && b <= 0x3f)
		return st;
	if (st != 1 && b >= 0x40 && b <= 0x7e)
		return 0;
	*drop = false; /* not a sequence after all: b is an ordinary key */
	return 0;
}

static cf_err con_getline(struct con *c, const char *prompt, char *buf, size_t cap,
			  unsigned timeout_s, bool echo)
{
	struct con_edit e = { .prompt = prompt != NULL ? prompt : "", .buf = buf, .echo = echo };
	int64_t deadline = timeout_s > 0 ? con_mono_ms() + (int64_t)timeout_s * 1000 : 0;
	int esc = 0;
	cf_err rc;

	if (buf == NULL || cap < 2)
		return CF_E_INVALID_ARG;
	e.max = cap - 1 < CON_LINE_MAX ? cap - 1 : CON_LINE_MAX;
	buf[0] = '\0';
	if (c->on_wake != NULL && (rc = con_woken(c, &e)) != CF_OK)
		return rc; /* queued notices go out before the prompt */
	con_write(c, e.prompt, strlen(e.prompt));
	e.shown = true;
	for (;;) {
		uint8_t b;
		bool after_cr, drop;

		if (c->rpos == c->rlen && (rc = con_fill(c, &e, deadline)) != CF_OK)
			goto fail;
		b = c->rbuf[c->rpos];
		after_cr = c->rpos > 0 && c->rbuf[c->rpos - 1] == '\r';
		c->rbuf[c->rpos++] = b == '\r' ? '\r' : 0;
		if (esc != 0) {
			esc = con_esc(esc, b, &drop);
			if (drop)
				continue;
		}
		if (b == '\n' && after_cr)
			continue; /* the tail of a CR LF */
		switch (b) {
		case '\n':
		case '\r':
			if (e.too_long) {
				rc = CF_E_TOO_LARGE;
				goto fail;
			}
			buf[e.n] = '\0';
			con_echo_flush(c, &e);
			con_write(c, "\n", 1);
			return CF_OK;
		case 0x03: /* Ctrl-C */
			rc = CF_E_CANCELLED;
			goto fail;
		case 0x08:
		case 0x7f:
			if (e.n > 0 && !e.too_long) {
				buf[--e.n] = '\0';
				con_echo(c, &e, "\b \b", 3);
			}
			continue;
		case 0x15: /* Ctrl-U */
			while (e.n > 0 && !e.too_long) {
				buf[--e.n] = '\0';
				con_echo(c, &e, "\b \b", 3);
			}
			continue;
		case 0x1b:
			esc = 1;
			continue;
		}
		if (b < 0x20 || b > 0x7e || e.too_long)
			continue;
		if (e.n == e.max) {
			e.too_long = true;
			sec_wipe(buf, e.n);
			e.n = 0;
			continue;
		}
		buf[e.n++] = (char)b;
		con_echo(c, &e, (const char *)&b, 1);
	}
fail:
	con_echo_flush(c, &e);
	sec_wipe(buf, e.max + 1);
	switch (rc) {
	case CF_E_CANCELLED:
		con_write(c, "^C\n", 3);
		break;
	case CF_E_TOO_LARGE:
		con_printf(c, "\nline too long (max %zu characters); ignored\n", e.max);
		break;
	case CF_E_TIMEOUT:
		con_write(c, "\n", 1);
		break;
	default:
		break;
	}
	return rc;
}

cf_err con_readline(struct con *c, const char *prompt, char *buf, size_t cap, unsigned timeout_s)
{
	return con_getline(c, prompt, buf, cap, timeout_s, true);
}

cf_err con_read_secret(struct con *c, const char *prompt, char *buf, size_t cap,
		       unsigned timeout_s)
{
	return con_getline(c, prompt, buf, cap, timeout_s, false);
}

/* The session's idle limit, also the limit for one answer inside a command. */
static unsigned con_idle_s(const struct con *c)
{
	return c->svc != NULL && c->svc->cfg != NULL ? c->svc->cfg->console.idle_logout_s : 0;
}

static size_t con_trim(char *s)
{
	size_t n = strlen(s), i = 0;

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	memmove(s, s + i, n - i + 1);
	return n - i;
}

bool con_confirm(struct con *c, const char *question)
{
	char prompt[512], line[64];
	bool yes;

	(void)snprintf(prompt, sizeof prompt, "%s [y/N] ", question);
	if (con_readline(c, prompt, line, sizeof line, con_idle_s(c)) != CF_OK)
		return false;
	con_trim(line);
	yes = strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
	sec_wipe(line, sizeof line);
	return yes;
}

/* Append line + "\n" to a buffer grown by hand (realloc would leave unwiped copies). */
static cf_err con_append(char **text, size_t *len, size_t *cap, const char *line, size_t n)
{
	if (*len + n + 2 > *cap) {
		size_t ncap = *cap > 0 ? *cap : 4096;
		char *p;

		while (*len + n + 2 > ncap)
			ncap *= 2;
		if ((p = malloc(ncap)) == NULL)
			return CF_E_NOMEM;
		if (*text != NULL) {
			memcpy(p, *text, *len);
			sec_wipe(*text, *cap);
			free(*text);
		}
		*text = p;
		*cap = ncap;
	}
	memcpy(*text + *len, line, n);
	*len += n;
	(*text)[(*len)++] = '\n';
	(*text)[*len] = '\0';
	return CF_OK;
}

/* con_read_paste, and con_read_pem_bundle when bundle: then the paste ends at an empty line
 * that follows an end line (a bundle has several end lines). */
static cf_err con_paste(struct con *c, const char *prompt, const char *begin_prefix,
			const char *end_prefix, bool bundle, size_t max, char **out, size_t *n);

cf_err con_read_paste(struct con *c, const char *prompt, const char *begin_prefix,
		      const char *end_prefix, size_t max, char **out, size_t *n)
{
	return con_paste(c, prompt, begin_prefix, end_prefix, false, max, out, n);
}

cf_err con_read_pem_bundle(struct con *c, const char *prompt, size_t max, char **out, size_t *n)
{
	return con_paste(c, prompt, "-----BEGIN", "-----END ", true, max, out, n);
}

static cf_err con_paste(struct con *c, const char *prompt, const char *begin_prefix,
			const char *end_prefix, bool bundle, size_t max, char **out, size_t *n)
{
	char line[CON_LINE_MAX + 1];
	char *text = NULL;
	size_t len = 0, cap = 0;
	bool begun = begin_prefix == NULL, over = false, after_end = false;
	const char *p = prompt != NULL ? prompt : "";
	cf_err rc;

	*out = NULL;
	*n = 0;
	if (end_prefix == NULL || end_prefix[0] == '\0' || max == 0)
		return CF_E_INVALID_ARG;
	if (max > CON_PASTE_MAX)
		max = CON_PASTE_MAX;
	for (;; p = "") {
		size_t l;
		bool end;

		rc = con_readline(c, p, line, sizeof line, con_idle_s(c));
		if (rc == CF_E_TOO_LARGE) {
			over = true; /* the paste is refused whole: read on to its end line */
			continue;
		}
		if (rc != CF_OK)
			goto out;
		if (!begun && strncmp(line, begin_prefix, strlen(begin_prefix)) != 0)
			continue;
		begun = true;
		end = strncmp(line, end_prefix, strlen(end_prefix)) == 0;
		l = strlen(line);
		if (bundle) {
			size_t k = l;
			while (k > 0 && (line[k - 1] == ' ' || line[k - 1] == '\t'))
				k--;
			if (k == 0 && after_end)
				break; /* the empty line after the last end line */
			after_end = end;
			end = false;
		}
		while (l > 0 && (line[l - 1] == ' ' || line[l - 1] == '\t'))
			l--;
		if (!over && l + 1 > max - len)
			over = true;
		if (!over && (rc = con_append(&text, &len, &cap, line, l)) != CF_OK)
			goto out;
		if (end)
			break;
	}
	if (over) {
		con_printf(c, "paste too large (max %zu bytes); ignored\n", max);
		rc = CF_E_TOO_LARGE;
		goto out;
	}
	*out = text;
	*n = len;
	text = NULL;
out:
	sec_wipe(line, sizeof line);
	if (text != NULL) {
		sec_wipe(text, cap);
		free(text);
	}
	return rc;
}

/* ---- shared services (con.h): the clock, the store connection, the audit --------------- */

int64_t con_now(const struct con *c)
{
	if (c->svc != NULL && c->svc->now != NULL)
		return c->svc->now(c->svc->now_arg);
	return (int64_t)time(NULL);
}

struct store *con_store(struct con *c)
{
	const struct config *cfg;
	struct store_opts so = { 0 };

	if (c->st != NULL || c->svc == NULL || c->svc->store_path[0] == '\0')
		return c->st;
	if ((cfg = c->svc->cfg) != NULL) {
		so.busy_timeout_ms = cfg->store.busy_timeout_ms;
		so.audit_syslog = cfg->audit.syslog;
	}
	if (store_open(c->svc->store_path, &so, &c->st) != CF_OK) {
		log_warn("console: cannot open the store");
		c->st = NULL;
	}
	return c->st;
}

void con_store_close(struct con *c)
{
	store_close(c->st);
	c->st = NULL;
}

void con_audit(struct con *c, const char *op, const char *uid, cf_err result, const char *detail)
{
	char actor[8 + CON_USER_MAX + 1];
	struct store *st = con_store(c);
	struct audit_record r = {
		.time = con_now(c), .actor = actor, .source = "console", .operation = op,
		.uid = uid, .result = result, .detail = detail,
	};

	if (st == NULL)
		return;
	(void)snprintf(actor, sizeof actor, c->user[0] != '\0' ? "console:%s" : "console", c->user);
	if (audit_append(st, &r, NULL) != CF_OK)
		log_warn("console: could not audit %s", op);
}

/* ---- options ------------------------------------------------------------------------------- */
