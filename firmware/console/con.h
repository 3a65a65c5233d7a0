/* The serial console (docs/architecture.md "Process shape": console thread; docs/console.md).
 *
 * One console thread serves the board's TTY: it reads bytes, edits one line at a time, looks
 * the command up in the static command tables and runs its handler. This header is the
 * contract between the parts of the console:
 *
 *   con_io.c        line editor, prompts, secret entry, confirmations, paste blocks, output;
 *                   the clock, store connection and audit every part shares
 *   con_shell.c     the loop: prompt by state, login gate, tokenizer, dispatch, help
 *   con_auth.c      the login, enrolment and dual-control dialogues over firmware/accounts;
 *                   `user`, `approve`, `pending`
 *   con_sys.c       `init`, `unseal`, `status`, `selftest`, `zeroize` (with svc.c)
 *   con_pki.c       `cert show`, `client sign-csr|issue|trust|list|revoke`
 *   con_keys.c      `keys ...`, `kek ...`, `audit tail|verify`
 *   con_backup.c    `backup export|import`
 *   con_net.c       `net ...`, `time ...`, `reboot`, `shutdown` (the board's settings)
 *
 * Everything a handler prints goes through con_printf (LF becomes CR LF for the TTY). A
 * handler reads further input only through con_readline / con_read_secret / con_confirm /
 * con_read_paste, so Ctrl-C, the line bound and the idle timeout apply everywhere. Secrets
 * (PINs, passwords, passphrases, shares) are read with con_read_secret into sec_alloc memory,
 * never echoed, and wiped by the caller once used. */
#ifndef COFFRE_FIRMWARE_CONSOLE_CON_H
#define COFFRE_FIRMWARE_CONSOLE_CON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"
#include "firmware/svc/svc.h"
#include "firmware/store/store.h"

#define CON_LINE_MAX 1024        /* an input line, without the terminator; longer = rejected */
#define CON_ARGS_MAX 16          /* words in a command line */
#define CON_USER_MAX 32          /* administrator name: [a-z][a-z0-9._-]{0,31} */
#define CON_SECRET_MAX 256       /* a PIN, password, passphrase or share line */
#define CON_PASTE_MAX (1u << 20) /* a pasted block (PEM, CSR, armored backup) */

struct accounts;                 /* firmware/accounts: lockout windows, pending dual-control
                                    operations */

/* One console. Fields are read by every part; each part writes only its own. */
struct con {
	struct svc *svc;             /* the service (state, cfg, hsm, store_path) */
	int fd_in, fd_out;           /* the TTY (same fd for a pty or serial device) */

	/* con_io.c: bytes read but not yet consumed (a paste may bring several lines at once) */
	uint8_t rbuf[4096];
	size_t rlen, rpos;
	bool eof;                    /* the TTY hung up / stdin closed */
	/* the console thread's wake-up: fd_wake is polled with fd_in when on_wake is set;
	 * on_wake returns CF_OK (nothing to do), CF_E_AGAIN (it printed: redraw the line) or
	 * an error that ends the read. A zeroed struct con has no wake-up. */
	int fd_wake;
	cf_err (*on_wake)(struct con *c, bool mid_line);

	/* con_shell.c: the session */
	bool authed;                 /* an administrator is logged in */
	char user[CON_USER_MAX + 1]; /* who ("" when none) */
	int64_t last_input;          /* svc->now() of the last complete line */
	struct store *st;            /* the console's own store connection (con_store) */

	struct accounts *auth;       /* con_auth.c */
};

/* ---- output (con_io.c) ------------------------------------------------------------------ */

/* printf to the TTY; every "\n" goes out as "\r\n". Output errors are ignored (a console
 * cable may be unplugged). */
void con_printf(struct con *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* n bytes verbatim (LF -> CR LF). */
void con_write(struct con *c, const char *s, size_t n);

/* ---- input (con_io.c) ------------------------------------------------------------------- */

/* Print prompt, then read one line with echo and editing: printable ASCII is kept, Backspace
 * (0x08 / 0x7f) deletes a character, Ctrl-U deletes the line, Ctrl-C cancels, CR, LF or CR LF
 * ends the line; other control bytes and non-ASCII bytes are dropped. On success buf holds
 * the line, NUL-terminated (cap >= 2, at most min(cap - 1, CON_LINE_MAX) characters).
 *   CF_E_CANCELLED   Ctrl-C (prints "^C" and a newline)
 *   CF_E_TOO_LARGE   the line was longer than allowed: every byte up to its end is discarded
 *                    and buf is empty; prints "line too long (max N characters); ignored"
 *   CF_E_TIMEOUT     no complete line within the idle timeout (timeout_s; 0 = none)
 *   CF_E_CLOSED      end of input (hang-up)
 * The bytes of a rejected or cancelled line are wiped from the read buffer. */
MUST_USE cf_err con_readline(struct con *c, const char *prompt, char *buf, size_t cap,
			     unsigned timeout_s);
/* As con_readline without echo (each key prints nothing; Enter prints a newline). buf should
 * be sec_alloc memory; the caller wipes it after use. The read buffer is wiped as it is
 * consumed. */
MUST_USE cf_err con_read_secret(struct con *c, const char *prompt, char *buf, size_t cap,
				unsigned timeout_s);
/* Read a new password twice with the administrators' rules (accounts.h acct_pw_rules: at
 * least ACCT_PW_MIN characters, two kinds, not the name; different from avoid[n_avoid] when
 * avoid != NULL); three attempts. pw is a CON_SECRET_MAX sec_alloc buffer; *n its length.
 * CF_E_CANCELLED after three failures (said on the console), or the reader's error. */
MUST_USE cf_err con_read_new_password(struct con *c, const char *name, const char *prompt,
				      const char *again_prompt, const char *avoid,
				      size_t n_avoid, char *pw, size_t *n);
/* Print "question [y/N] " and read a line: true only for "y" or "yes" (any case). Ctrl-C,
 * timeouts and anything else: false. */
bool con_confirm(struct con *c, const char *question);
/* Read pasted lines until (and including) a line that starts with end_prefix (e.g.
 * "-----END "); lines before begin_prefix are skipped when begin_prefix is not NULL. The
 * lines are joined with "\n" (trailing CR and blanks removed) into a malloc'd NUL-terminated
 * text of at most max bytes (*out, *n). Errors as con_readline; CF_E_TOO_LARGE when the
 * paste exceeds max (the rest up to the end line is discarded). */
MUST_USE cf_err con_read_paste(struct con *c, const char *prompt, const char *begin_prefix,
			       const char *end_prefix, size_t max, char **out, size_t *n);
/* The same for a PEM bundle: from the first "-----BEGIN" line, every line up to an empty line
 * that follows a "-----END " line (so several certificates can be pasted at once; the empty
 * line ends the paste). */
MUST_USE cf_err con_read_pem_bundle(struct con *c, const char *prompt, size_t max, char **out,
				    size_t *n);

/* ---- commands (con_shell.c dispatches; each part defines its table) -------------------- */

enum con_flags {
	CON_F_UNINIT = 1u << 0,  /* available on an UNINITIALIZED appliance (no login there) */
	CON_F_SEALED = 1u << 1,  /* available while SEALED without a login (the HSM PIN is the
	                            credential) */
	CON_F_NOAUTH = 1u << 2,  /* available without a login in every state (help) */
	CON_F_AUTH = 1u << 3,    /* needs a logged-in administrator */
	CON_F_HSM = 1u << 4,     /* needs the HSM logged in (READY, or ERROR for selftest) */
	CON_F_DUAL = 1u << 5,    /* may need a second administrator ([console] dual_control) */
};

/* A handler: argv[0] is the first word AFTER the command name (options included, in
 * order); argc counts them. Returns CF_OK, or an error after printing one clear line that
 * says what went wrong and what to do. The shell audits every command ("console:NAME",
 * actor "console:USER", the result). */
typedef cf_err (*con_handler)(struct con *c, int argc, char **argv);

struct con_cmd {
	const char *name;            /* "status", "client sign-csr": one or two words */
	unsigned min_args, max_args; /* words after the name */
	unsigned flags;              /* enum con_flags */
	const char *usage;           /* "client sign-csr NAME [--tenant T] [--days N]" */
	const char *help;            /* what it does, for `help COMMAND` (may span lines) */
	con_handler fn;
};

/* The tables, each ending with a zeroed entry. */
extern const struct con_cmd con_cmds_shell[];  /* help, logout (con_shell.c) */
extern const struct con_cmd con_cmds_auth[];   /* user ..., approve, pending (con_auth.c) */
extern const struct con_cmd con_cmds_sys[];    /* init, unseal, status, selftest, zeroize */
extern const struct con_cmd con_cmds_pki[];    /* cert show, client ... */
extern const struct con_cmd con_cmds_keys[];   /* keys ..., kek ..., audit ... */
extern const struct con_cmd con_cmds_backup[]; /* backup export, backup import */
extern const struct con_cmd con_cmds_net[];    /* net ..., time ..., reboot, shutdown */

/* Find "NAME" in an argument vector: returns the value after "--NAME" (and removes both
 * words from argv / *argc), NULL when absent. *bad is set when the option is present
 * without a value. */
const char *con_opt_take(int *argc, char **argv, const char *name, bool *bad);
/* Remove a flag "--NAME" (no value): true when it was there. */
bool con_flag_take(int *argc, char **argv, const char *name);

/* ---- shared services (con_io.c) --------------------------------------------------------- */

/* The console's own store connection, opened on first use (NULL when there is no store
 * yet, e.g. before `init`). con_store_close drops it (zeroize, restore). */
struct store *con_store(struct con *c);
void con_store_close(struct con *c);
/* Append an audit record for a console action: actor "console:USER" (or "console" when
 * nobody is logged in), source "console". No-op when there is no store yet. */
void con_audit(struct con *c, const char *op, const char *uid, cf_err result, const char *detail);
/* Current time (svc->now). */
int64_t con_now(const struct con *c);

/* ---- HSM PINs (con_sys.c), used by `init` and `backup import` --------------------------- */

#define CON_PIN_MIN 8u           /* HSM PINs: CON_PIN_MIN..HSM_PIN_MAX characters */
/* Read a new PIN ("New WHAT: ", "Repeat the WHAT: ") into pin, checking its length and that
 * both entries agree; 3 tries. pin and again are sec_alloc buffers of CON_SECRET_MAX + 1
 * bytes. Prints why on failure; CF_E_CANCELLED after 3 failures. */
MUST_USE cf_err con_pin_new(struct con *c, const char *what, char *pin, char *again);

/* ---- accounts (con_auth.c), used by the shell and by `init` ----------------------------- */

/* The login dialogue: "login: ", "Password: ", and "TOTP code: " when the account has one.
 * On success sets c->authed and c->user; a first login with must_change forces a new
 * password and TOTP enrolment. Wrong credentials: one line "login incorrect", counted
 * against the account (lockout), audited. */
MUST_USE cf_err con_login(struct con *c);
/* Create an administrator interactively (name checked, password read twice with strength
 * rules). first_admin (`init`): the person typing is the new administrator: they choose
 * their password and enrol TOTP now (otpauth URI + QR, confirmed with one code).
 * Otherwise (`user add`): the logged-in administrator sets a temporary password and the
 * account must change it, and enrol TOTP, at its first login. */
MUST_USE cf_err con_user_create_interactive(struct con *c, const char *name, bool first_admin);
/* Dual control: when [console] dual_control names cmd->name, the shell calls this instead
 * of running the command: it records the operation (id, argv, requester, time) and prints
 * its id; it returns CF_E_CANCELLED-free CF_OK ("pending"). `approve ID` by another
 * administrator runs it within 15 minutes. */
bool con_dual_required(const struct con *c, const struct con_cmd *cmd);
MUST_USE cf_err con_dual_submit(struct con *c, const struct con_cmd *cmd, int argc, char **argv);
MUST_USE cf_err con_auth_new(struct con *c); /* allocate c->auth */
void con_auth_free(struct con *c);

#endif
