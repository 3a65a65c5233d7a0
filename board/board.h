/* The board: everything that differs between a development host and the appliance.
 * One implementation per board folder (board/host, later board/qemu), chosen by the build. */
#ifndef COFFRE_BOARD_H
#define COFFRE_BOARD_H

#include <stddef.h>
#include <stdint.h>
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
};

/* Set up the board with data_dir as storage root (created 0700 if absent). */
MUST_USE cf_err board_init(struct board *b, const char *data_dir);
void board_free(struct board *b);

/* Console TTY: pty (new pseudo-terminal), a device path, or stdio. Raw 8N1 at 115200 for devices. */
MUST_USE cf_err board_console_open(struct board *b, enum board_console_kind kind,
				   const char *path, struct board_console *out);
void board_console_close(struct board_console *c);

/* Entropy from the board's hardware source (host: getrandom). Fills all n bytes or fails. */
MUST_USE cf_err board_entropy(struct board *b, void *buf, size_t n);

void board_led_set(struct board *b, enum board_led led, enum board_led_state st);

/* Tamper input: true once tamper was seen (latched until board_tamper_clear). */
bool board_tamper_poll(struct board *b);
void board_tamper_clear(struct board *b);

/* Watchdog: open with a timeout in seconds (host: no device, a no-op that succeeds); kick periodically. */
MUST_USE cf_err board_watchdog_open(struct board *b, unsigned timeout_s);
void board_watchdog_kick(struct board *b);
void board_watchdog_close(struct board *b);

/* Storage path under the data dir: out = data_dir + "/" + name; fails on truncation or ".." . */
MUST_USE cf_err board_path(const struct board *b, const char *name, char *out, size_t outsz);

#endif
