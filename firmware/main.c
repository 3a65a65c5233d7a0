/* coffred: the KMIP key server (ARCHITECTURE "Process shape", "Contracts").
 *
 *   coffred -c CONFIG [--console PATH|pty|stdio] [--port N]
 *   coffred provision --qa DIR [--port PORT] [--clients N] [--server-key ec|rsa] [--module SO]
 *   coffred provision --fresh DIR [--port PORT] [--module SO]
 *
 * --port overrides [kmip] port; 0 binds any free port (tests read it from the ready line). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/provision/provision.h"
#include "firmware/svc/run.h"

static int usage(FILE *f, int ret)
{
	fprintf(f, "usage: coffred -c CONFIG [--console PATH|pty|stdio] [--port N]\n"
		   "       coffred provision --qa DIR [--port PORT] [--clients N] "
		   "[--server-key ec|rsa] [--module PKCS11_SO]\n"
		   "       coffred provision --fresh DIR [--port PORT] [--module PKCS11_SO]\n");
	return ret;
}

int main(int argc, char **argv)
{
	struct svc_run_opts o = { 0 };

	if (argc >= 2 && strcmp(argv[1], "provision") == 0)
		return provision_main(argc - 1, argv + 1);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return usage(stdout, COFFRED_EXIT_OK);
		if (v == NULL)
			return usage(stderr, COFFRED_EXIT_USAGE);
		if (strcmp(a, "-c") == 0) {
			o.config_path = v;
		} else if (strcmp(a, "--console") == 0) {
			o.console = true;
			if (strcmp(v, "pty") == 0) {
				o.console_kind = BOARD_CONSOLE_PTY;
			} else if (strcmp(v, "stdio") == 0) {
				o.console_kind = BOARD_CONSOLE_STDIO;
			} else {
				o.console_kind = BOARD_CONSOLE_PATH;
				o.console_path = v;
			}
		} else if (strcmp(a, "--port") == 0) {
			char *end;
			unsigned long p;

			errno = 0;
			p = strtoul(v, &end, 10);
			if (errno != 0 || *end != '\0' || v[0] < '0' || v[0] > '9' || p > 65535)
				return usage(stderr, COFFRED_EXIT_USAGE);
			o.port_override = true;
			o.port = (uint16_t)p;
		} else {
			return usage(stderr, COFFRED_EXIT_USAGE);
		}
		i++;
	}
	if (o.config_path == NULL)
		return usage(stderr, COFFRED_EXIT_USAGE);
	o.argv = argv;
	return svc_run(&o);
}
