/* The console thread, as firmware/main.c sees it (the parts' contract is
 * firmware/console/con.h).
 *
 * main.c opens the board's TTY (board_console_open) and hands its descriptors to
 * console_start; the thread owns them from then on (it does not close them: main.c does,
 * after console_stop). State changes made elsewhere (READY, ERROR...) are announced with
 * console_notify (main.c forwards the service's notify hook, svc/run.h, to it): the text is
 * printed on its own line and the current prompt repeated, so a person typing is not
 * confused and a QA script reading prompts is not either. */
#ifndef COFFRE_FIRMWARE_CONSOLE_CONSOLE_H
#define COFFRE_FIRMWARE_CONSOLE_CONSOLE_H

#include "board/err.h"

struct svc;
struct console;

/* Start the console thread on fd_in / fd_out (may be equal). */
MUST_USE cf_err console_start(struct svc *svc, int fd_in, int fd_out, struct console **out);
/* Print a line asynchronously (thread-safe; at most 256 bytes; "\n" is added). NULL no-op. */
void console_notify(struct console *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Stop the thread (wakes it from a blocking read), join it, wipe and free. NULL no-op. */
void console_stop(struct console *k);

#endif
