/* The service's run, called from firmware/main.c. Exit statuses are those of the process. */
#ifndef COFFRE_FIRMWARE_SVC_RUN_H
#define COFFRE_FIRMWARE_SVC_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "board/board.h"
#include "firmware/svc/svc.h"

#define COFFRED_EXIT_OK 0
#define COFFRED_EXIT_FAIL 1     /* could not start: config, HSM, store, TLS */
#define COFFRED_EXIT_USAGE 64
#define COFFRED_EXIT_ERROR_STATE 3 /* stopped while latched in ERROR */

#define COFFRED_VENDOR "Coffre KMIP appliance"

struct svc_run_opts {
	const char *config_path;          /* -c FILE, required */
	bool console;                     /* --console given */
	enum board_console_kind console_kind;
	const char *console_path;         /* for BOARD_CONSOLE_PATH */
	bool port_override;               /* --port N (0 = any free port) */
	uint16_t port;
	char *const *argv;                /* main's argv: a zeroize restarts the program with it */
};

/* Boot (board -> hardening -> config -> HSM -> login -> self-tests -> store -> KEK), serve
 * KMIP while READY, stop cleanly on SIGTERM/SIGINT. Prints "coffred: ready kmip=ADDR:PORT" on
 * stderr once it serves. Returns the exit status. */
int svc_run(const struct svc_run_opts *o);

#endif
