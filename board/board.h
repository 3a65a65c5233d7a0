/* The board: everything that differs between a development host and the appliance.
 * One implementation per board folder (board/host, board/appliance), chosen by the build
 * (BOARD= in board/module.mk). What every board shares is in board/posix.c (console TTY,
 * storage paths, entropy from the kernel, LEDs, tamper) and board/netconf.c (the network
 * settings file, the time text, the restart counter, power requests). */
#ifndef COFFRE_BOARD_H
#define COFFRE_BOARD_H

#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <termios.h>
#include "err.h"

enum board_console_kind { BOARD_CONSOLE_STDIO, BOARD_CONSOLE_PTY, BOARD_CONSOLE_PATH };

struct board_console {
	int fd;            /* read/write descriptor of the TTY */
	int fd_out;        /* output descriptor (same as fd except for stdio) */
	char path[256];    /* device or pty path ("" for stdio) */
	bool is_tty;
	bool restore;      /* stdio on a terminal: saved is put back by board_console_close */
	struct termios saved;
};

enum board_led { BOARD_LED_POWER, BOARD_LED_READY, BOARD_LED_ERROR, BOARD_LED_ACTIVITY, BOARD_LED_COUNT };
enum board_led_state { BOARD_LED_OFF, BOARD_LED_ON, BOARD_LED_BLINK };

struct board {
	char data_dir[512];        /* persistent storage root */
	int watchdog_fd;           /* -1 when none */
	enum board_led_state leds[BOARD_LED_COUNT];
	bool tamper_latched;
	char tamper_path[512];     /* host: a file whose existence means "tamper" ("" = none) */
	_Atomic int power;         /* enum board_power: a power-off / reboot request */
	struct ntpsync *ntp;       /* the NTP servers and, on the appliance, their sync (board/ntpsync.c) */
};

/* The board's name: "host" or "appliance". */
const char *board_name(void);

/* Set up the board with data_dir as storage root (created 0700 if absent). The appliance
 * board also mixes bytes of its hardware RNG into the kernel's pool (when it may). */
MUST_USE cf_err board_init(struct board *b, const char *data_dir);
/* The part of board_init every board shares (board/posix.c): *b zeroed, data_dir checked or
 * created 0700, the power LED on. */
MUST_USE cf_err board_setup_dir(struct board *b, const char *data_dir);
void board_free(struct board *b);

/* Console TTY: pty (new pseudo-terminal), a device path, or stdio. Raw 8N1 at 115200 for devices. */
MUST_USE cf_err board_console_open(struct board *b, enum board_console_kind kind,
				   const char *path, struct board_console *out);
void board_console_close(struct board_console *c);

/* Entropy from the kernel (getrandom; on the appliance its pool is fed by the hardware RNG).
 * Fills all n bytes or fails. */
MUST_USE cf_err board_entropy(struct board *b, void *buf, size_t n);

void board_led_set(struct board *b, enum board_led led, enum board_led_state st);

/* Tamper input: true once tamper was seen (latched until board_tamper_clear). */
bool board_tamper_poll(struct board *b);
void board_tamper_clear(struct board *b);

/* Watchdog: open with a timeout in seconds (host: no device, a no-op that succeeds; appliance:
 * /dev/watchdog, CF_E_IO when it cannot be opened); kick periodically (the main thread does);
 * close disarms it (magic close). A process that dies without closing it leaves it armed:
 * the board resets unless a new coffred opens it within the timeout. */
MUST_USE cf_err board_watchdog_open(struct board *b, unsigned timeout_s);
void board_watchdog_kick(struct board *b);
void board_watchdog_close(struct board *b);

/* Storage path under the data dir: out = data_dir + "/" + name; fails on truncation or ".." . */
MUST_USE cf_err board_path(const struct board *b, const char *name, char *out, size_t outsz);

/* ---- network settings (board/netconf.c) ------------------------------------------------- */

/* DIR/network.conf, where DIR is the appliance's directory (the one holding coffred.conf:
 * the data disk's root on the appliance, docs/appliance.md), written by the console (`net
 * ...`), read by the appliance's init at boot. Lines "key=value": mode=dhcp|static,
 * address=ADDR/PREFIX, gateway=GW, dns=D1 D2, hostname=NAME, ntp=S1 S2 (read by coffred: its
 * NTP sync, board/ntpsync.c); "#" starts a comment line. */
#define BOARD_NET_FILE "network.conf"
#define BOARD_IP_MAX 46          /* an address as text, NUL included (INET6_ADDRSTRLEN) */
#define BOARD_HOSTNAME_MAX 63    /* characters of a hostname */
#define BOARD_DNS_MAX 3          /* name servers (what a resolv.conf uses) */
#define BOARD_NTP_MAX 3          /* NTP servers */
#define BOARD_NTP_PORT 123       /* an NTP server's port when none is written */
#define BOARD_NTP_TEXT (BOARD_IP_MAX + 8) /* "[ADDR]:PORT" with its NUL */

/* One NTP server: an address (no hostname: coffred has no resolver) and a UDP port. */
struct board_ntp_server {
	char addr[BOARD_IP_MAX];                /* canonical text (board_ip_parse) */
	uint16_t port;                          /* 1..65535 */
};

struct board_net {
	bool dhcp;                              /* mode=dhcp; else static */
	char address[BOARD_IP_MAX];             /* static: the interface address (canonical) */
	unsigned prefix;                        /* static: its prefix length */
	char gateway[BOARD_IP_MAX];             /* static: "" = none */
	char dns[BOARD_DNS_MAX][BOARD_IP_MAX];
	unsigned n_dns;
	char hostname[BOARD_HOSTNAME_MAX + 1];  /* "" = not set */
	struct board_ntp_server ntp[BOARD_NTP_MAX]; /* ntp=S1 S2 S3 */
	unsigned n_ntp;                         /* 0 = no NTP */
};

/* The settings of a board that has none saved: DHCP, no hostname. */
void board_net_default(struct board_net *n);
/* One unicast address (IPv4 in dotted-quad form exactly, or IPv6): its canonical text in out,
 * its family (AF_INET / AF_INET6) in *family. CF_E_BAD_VALUE with *why (a static text). */
MUST_USE cf_err board_ip_parse(const char *s, char out[BOARD_IP_MAX], int *family,
			       const char **why);
/* "ADDR/PREFIX": a host address of its own subnet (IPv4: prefix 1..32, not the subnet's
 * network or broadcast address below /31; IPv6: prefix 1..128, not link-local). */
MUST_USE cf_err board_cidr_parse(const char *s, char addr[BOARD_IP_MAX], unsigned *prefix,
				 int *family, const char **why);
/* A hostname: 1..63 characters, dot-separated labels of letters, digits and '-' (not first or
 * last), the last label not all digits. Stored lowercase (out may be s). */
MUST_USE cf_err board_hostname_parse(const char *s, char out[BOARD_HOSTNAME_MAX + 1],
				     const char **why);
/* One NTP server: "ADDR" (IPv4 or IPv6, board_ip_parse's rules), "IPV4:PORT", "[IPV6]" or
 * "[IPV6]:PORT"; PORT decimal 1..65535 without leading zeros, BOARD_NTP_PORT when absent.
 * CF_E_BAD_VALUE with *why (a static text); *out untouched then. */
MUST_USE cf_err board_ntp_server_parse(const char *s, struct board_ntp_server *out,
				       const char **why);
/* Its canonical text: "ADDR" when the port is BOARD_NTP_PORT, else "IPV4:PORT" / "[IPV6]:PORT". */
void board_ntp_server_format(const struct board_ntp_server *s, char out[BOARD_NTP_TEXT]);
/* Every field of n checked together (the gateway inside the static address's subnet, or
 * IPv6 link-local; the same family as the address; at most 3 NTP servers, none twice). */
MUST_USE cf_err board_net_check(const struct board_net *n, const char **why);
/* The file's text (at most cap bytes with its NUL) and back. */
MUST_USE cf_err board_net_format(const struct board_net *n, char *out, size_t cap);
MUST_USE cf_err board_net_parse(const char *text, struct board_net *out, const char **why);
/* Load DIR/network.conf (CF_E_NOT_FOUND, *out = the defaults, when there is none;
 * CF_E_BAD_VALUE with *why when it is malformed) / save it atomically (0600). */
MUST_USE cf_err board_net_load(const char *dir, struct board_net *out, const char **why);
MUST_USE cf_err board_net_save(const char *dir, const struct board_net *n);

/* ---- time -------------------------------------------------------------------------------- */

#define BOARD_TIME_TEXT 21       /* "YYYY-MM-DDTHH:MM:SSZ" with its NUL */
/* "YYYY-MM-DDTHH:MM:SSZ" exactly (UTC, years 2000..2099, a real date, no leap second) ->
 * seconds since the epoch. */
MUST_USE cf_err board_time_parse(const char *s, int64_t *out, const char **why);
void board_time_format(int64_t t, char out[BOARD_TIME_TEXT]);
/* Whether this board's clock is the appliance's own (host: false, the development host's
 * clock is not ours to set). */
bool board_clock_settable(const struct board *b);
/* Set the system clock (and the RTC where there is one). Host: CF_E_PERMISSION, nothing done.
 * Appliance: CF_E_PERMISSION when the process may not set the clock (CAP_SYS_TIME). */
MUST_USE cf_err board_clock_set(struct board *b, int64_t t);

/* NTP (board/ntp.c: the SNTP packet and its arithmetic, pure; board/ntpsync.c: the queries and
 * the sync thread; docs/appliance.md "Time and NTP"). board_ntp_apply takes the servers to
 * use (n = 0: none): the appliance starts, re-targets or stops its sync thread at once (the
 * first sync after a start or a new list steps the clock when it is over 0.5 s off, later
 * ones only slew it, and an offset over 1000 s is refused); the host keeps the list for
 * board_ntp_status and applies nothing. board_free stops the thread. */
struct board_ntp_status {
	unsigned n_servers;
	struct board_ntp_server servers[BOARD_NTP_MAX];
	bool active;                 /* this board runs the sync (appliance, servers given) */
	bool synced;                 /* a sample was applied since the list was given */
	int64_t last_sync;           /* when (the clock after the correction), seconds */
	char server[BOARD_NTP_TEXT]; /* the server of the last applied sample */
	int64_t offset_us;           /* its offset (the clock was that much behind), us */
	int64_t delay_us;            /* its round trip delay, us */
	bool stepped;                /* it was applied as a step, not a slew */
	unsigned polls;              /* polls since the list was given */
	unsigned interval_s;         /* seconds from the last poll to the next one */
	int64_t error_at;            /* when the last poll failed or was refused (0: never) */
	char error[160];             /* why ("" none) */
};
MUST_USE cf_err board_ntp_apply(struct board *b, const struct board_ntp_server *servers,
				unsigned n);
void board_ntp_status(struct board *b, struct board_ntp_status *out);

/* The process's privileges, first thing in coffred's main (docs/appliance.md "Privileges").
 * Appliance: when started as root with COFFRE_RUN_AS=UID:GID in the environment (init sets
 * it), become that user and group (no supplementary groups) keeping only CAP_SYS_TIME (for
 * `time set`), permitted and effective, none inheritable or ambient. Not root, or no
 * COFFRE_RUN_AS: nothing to do. Host: nothing to do. CF_E_CONFIG for a malformed
 * COFFRE_RUN_AS or UID 0; CF_E_PERMISSION when a step fails (the caller must not go on). */
MUST_USE cf_err board_privileges_drop(void);
/* Become uid:gid for good (board/posix.c; [service] user on a host): no supplementary
 * groups, real, effective and saved ids all changed, so every capability goes too; checks
 * that root cannot be regained. The process must be root and have no thread yet.
 * CF_E_INVALID_ARG for uid 0, CF_E_PERMISSION when a step fails (the caller must stop). */
MUST_USE cf_err board_user_drop(unsigned uid, unsigned gid);

/* ---- sandbox (board/sandbox.c; docs/security.md "Sandbox") ----------------------------- */

/* A program execve may start once the sandbox is on (at most 4, absolute paths): its path is
 * copied into a page that becomes read-only, and the filter allows execve with that copy's
 * address only. Before board_sandbox_enter; CF_E_TOO_MANY past the bound. */
MUST_USE cf_err board_sandbox_exec_allow(const char *path);
/* The registered copy of path (pass it to execve / posix_spawn), or path itself when it was
 * not registered (execve then kills the process once the sandbox is on). */
const char *board_sandbox_exec_path(const char *path);
/* PR_SET_NO_NEW_PRIVS, then the seccomp allow-list on every thread of the process (TSYNC);
 * threads and programs started later inherit it. A call outside the list kills the process
 * with SIGSYS after a log line naming it. Once start-up is done (nothing after it may need
 * more); a second call does nothing. CF_E_PERMISSION / CF_E_INTERNAL when the filter could
 * not be installed (the caller must not serve then). */
MUST_USE cf_err board_sandbox_enter(void);
/* How many system calls the filter allows; 0 = no filter. */
unsigned board_sandbox_active(void);

/* ---- restarts and power ------------------------------------------------------------------ */

/* DIR/restarts (DIR as for network.conf): how many times init restarted coffred after it
 * exited or died (a decimal and a newline, written by init). false when there is no counter
 * (no such file, or not a decimal). */
#define BOARD_RESTARTS_FILE "restarts"
bool board_restarts(const char *dir, uint64_t *out);

/* A request to power off or reboot: the console records it, the main thread sees it, stops
 * cleanly and exits with the status init turns into the power action (firmware/main.c). */
enum board_power { BOARD_POWER_NONE = 0, BOARD_POWER_OFF = 1, BOARD_POWER_REBOOT = 2 };
void board_power_request(struct board *b, enum board_power p);
enum board_power board_power_requested(struct board *b);

#endif
