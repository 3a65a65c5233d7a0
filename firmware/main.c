/* coffred: the KMIP key server (docs/architecture.md "Process shape").
 *
 *   coffred -c CONFIG [--console PATH|pty|stdio] [--port N]
 *   coffred provision --qa DIR [--port PORT] [--clients N] [--server-key ec|ec-p384|rsa] [--module SO]
 *                     [--user NAME]
 *   coffred provision --fresh DIR [--port PORT] [--module SO] [--user NAME]
 *
 * --port overrides [kmip] port; 0 binds any free port (tests read it from the ready line).
 *
 * The process wiring: the service (firmware/svc, svc/run.h) is opened and booted; the console
 * thread (firmware/console) starts once the boot has decided the state and hears of later
 * state changes through the service's notify hook; the main thread kicks the board's
 * watchdog and waits for SIGTERM / SIGINT, a zeroize's request to start the program again,
 * or a power request from the console (`shutdown`, `reboot`), then stops the console first,
 * the service next, and releases everything in reverse order. A power request ends the
 * process with COFFRED_EXIT_POWEROFF / COFFRED_EXIT_REBOOT, which the appliance's init turns
 * into the power action (docs/appliance.md). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "board/board.h"
#include "board/log.h"
#include "board/sec.h"
#include "firmware/console/console.h"
#include "firmware/core/context.h"
#include "firmware/provision/provision.h"
#include "firmware/svc/run.h"

#define COFFRED_EXIT_OK 0
#define COFFRED_EXIT_FAIL 1        /* could not start: config, HSM, store, TLS */
#define COFFRED_EXIT_USAGE 64
#define COFFRED_EXIT_ERROR_STATE 3 /* stopped while latched in ERROR */
#define COFFRED_EXIT_POWEROFF 10   /* stopped cleanly for `shutdown`: init powers off */
#define COFFRED_EXIT_REBOOT 11     /* stopped cleanly for `reboot`: init reboots */

/* The board's watchdog timeout: the main thread kicks it every second. */
#define MAIN_WATCHDOG_S 30

_Static_assert(PROVISION_EXIT_OK == COFFRED_EXIT_OK && PROVISION_EXIT_FAIL == COFFRED_EXIT_FAIL &&
	       PROVISION_EXIT_USAGE == COFFRED_EXIT_USAGE, "one set of exit statuses");

/* The console pty survives a restart: its descriptor is passed on (the person or the script
 * on the other side stays connected); a device path is simply opened again, stdio is
 * inherited. */
#define MAIN_ENV_CONSOLE_FD "COFFRED_RESTART_CONSOLE_FD"

/* The one mutable global of the process: the stop flag, set by SIGTERM / SIGINT. */
static volatile sig_atomic_t main_stop_flag;

struct main_opts {
	struct svc_run_opts svc;
	bool console;                     /* --console given */
	enum board_console_kind console_kind;
	const char *console_path;         /* for BOARD_CONSOLE_PATH */
	char *const *argv;                /* a zeroize restarts the program with it */
};

/* What main wires together. */
struct main_wiring {
	const struct main_opts *o;
	struct svc *svc;
	struct board_console con;
	bool con_ok;
	struct console *console;          /* the console thread (NULL without --console); set
	                                     and read under the service's control lock */
};

static void main_on_signal(int sig)
{
	(void)sig;
	main_stop_flag = 1;
}

static cf_err main_signals_setup(sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = main_on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
		return CF_E_INTERNAL;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return CF_E_INTERNAL;
	/* Block them everywhere (threads started later inherit this mask); the main thread
	 * unblocks them only inside ppoll, so the flag cannot be missed. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &block, wait_mask) != 0)
		return CF_E_INTERNAL;
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	return CF_OK;
}

/* The pty a restarted program was handed (MAIN_ENV_CONSOLE_FD "FD:PATH"). */
static bool main_console_adopt(struct main_wiring *w)
{
	const char *v = getenv(MAIN_ENV_CONSOLE_FD);
	char *end;
	long fd;

	if (v == NULL)
		return false;
	fd = strtol(v, &end, 10);
	if (end == v || *end != ':' || fd <= STDERR_FILENO || fd > 1024 || !isatty((int)fd)) {
		(void)unsetenv(MAIN_ENV_CONSOLE_FD);
		return false;
	}
	memset(&w->con, 0, sizeof w->con);
	w->con.fd = w->con.fd_out = (int)fd;
	w->con.is_tty = true;
	(void)snprintf(w->con.path, sizeof w->con.path, "%s", end + 1);
	(void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	(void)unsetenv(MAIN_ENV_CONSOLE_FD);
	return true;
}

/* Open the console's TTY (--console) on the service's board. */
static cf_err main_console_open(struct main_wiring *w)
{
	const struct main_opts *o = w->o;
	cf_err rc;

	if (!o->console)
		return CF_OK;
	if ((o->console_kind != BOARD_CONSOLE_PTY || !main_console_adopt(w)) &&
	    (rc = board_console_open(&w->svc->board, o->console_kind, o->console_path,
				     &w->con)) != CF_OK) {
		fprintf(stderr, "coffred: cannot open the console: %s\n", cf_err_str(rc));
		return rc;
	}
	w->con_ok = true;
	if (o->console_kind == BOARD_CONSOLE_PTY)
		fprintf(stderr, "coffred: console pty=%s\n", w->con.path);
	fflush(stderr);
	return CF_OK;
}

/* The service's notify hook: the line goes to the console (no-op before it starts). */
static void main_notify(void *arg, const char *line)
{
	struct main_wiring *w = arg;

	console_notify(w->console, "%s", line);
}

/* svc_boot's continuation (the service's control lock held): the console thread starts once
 * the boot has decided the state: before that there is no right prompt (a password typed for
 * "login: " must never be taken for a command). What is typed meanwhile waits in the TTY. */
static cf_err main_console_start(void *arg)
{
	struct main_wiring *w = arg;
	cf_err rc;

	if (!w->con_ok)
		return CF_OK;
	if ((rc = console_start(w->svc, w->con.fd, w->con.fd_out, &w->console)) != CF_OK)
		fprintf(stderr, "coffred: cannot start the console: %s\n", cf_err_str(rc));
	return rc;
}

/* Stop the console thread (first: no control call can start once it is joined). */
static void main_console_stop(struct main_wiring *w)
{
	if (w->console == NULL)
		return;
	console_stop(w->console);
	/* the hook runs only under the control lock, and no control call runs any more */
	svc_set_notify(w->svc, NULL, NULL);
	w->console = NULL;
}

/* Release the service and the console's TTY (unless it was handed to the next program). */
static void main_release(struct main_wiring *w)
{
	main_console_stop(w);
	if (w->con_ok)
		board_console_close(&w->con);
	w->con_ok = false;
	svc_close(w->svc);
	w->svc = NULL;
}

/* After a zeroize (everything released but the console pty): the same program, same
 * arguments, same pid. Returns only on failure. */
static void main_restart(struct main_wiring *w)
{
	char v[300];

	if (w->con_ok && w->o->console_kind == BOARD_CONSOLE_PTY) {
		(void)snprintf(v, sizeof v, "%d:%s", w->con.fd, w->con.path);
		if (fcntl(w->con.fd, F_SETFD, 0) != 0 || setenv(MAIN_ENV_CONSOLE_FD, v, 1) != 0)
			log_warn("svc: restart: the console pty will be a new one");
		w->con_ok = false; /* kept open across exec */
	}
	main_release(w);
	fprintf(stderr, "coffred: zeroized: restarting\n");
	fflush(stderr);
	execv(board_sandbox_exec_path("/proc/self/exe"), w->o->argv);
	fprintf(stderr, "coffred: restart failed: %s\n", strerror(errno));
}

/* Sleep until SIGTERM / SIGINT, a zeroize's restart request or a power request, kicking the
 * watchdog. */
static void main_wait(struct main_wiring *w, const sigset_t *wait_mask)
{
	cf_err rc = board_watchdog_open(&w->svc->board, MAIN_WATCHDOG_S);

	if (rc != CF_OK)
		log_warn_r(rc, "board: no watchdog: a hung coffred is not noticed");
	while (!main_stop_flag && !atomic_load(&w->svc->restarting) &&
	       board_power_requested(&w->svc->board) == BOARD_POWER_NONE) {
		struct timespec ts = { .tv_sec = 1, .tv_nsec = 0 };

		(void)ppoll(NULL, 0, &ts, wait_mask);
		if (svc_health_tick(w->svc))
			board_watchdog_kick(&w->svc->board);
	}
}

/* The NTP servers saved in network.conf (beside coffred.conf) go to the board: the appliance
 * starts its sync thread, the host keeps the list (board_ntp_apply). A damaged file was
 * already said by `net show`; here only a warning. */
static void main_ntp_start(struct svc *svc)
{
	struct board_net n;
	const char *why = NULL;
	cf_err rc = board_net_load(svc->cfg->dir, &n, &why);

	if (rc == CF_E_BAD_VALUE)
		log_warn("ntp: %s/%s is damaged (%s): no NTP", svc->cfg->dir, BOARD_NET_FILE,
			 why != NULL ? why : "?");
	if (rc == CF_OK && n.n_ntp > 0 && (rc = board_ntp_apply(&svc->board, n.ntp, n.n_ntp)) != CF_OK)
		log_warn_r(rc, "ntp: the NTP sync was not started");
}

/* coffred -c CONFIG: the whole life of the process. Returns the exit status. */
static int main_serve(const struct main_opts *o)
{
	struct main_wiring w = { .o = o };
	enum board_power power;
	sigset_t wait_mask;
	int ret;
	cf_err rc;

	if ((rc = board_privileges_drop()) != CF_OK) {
		fprintf(stderr, "coffred: cannot drop privileges: %s\n", cf_err_str(rc));
		return COFFRED_EXIT_FAIL;
	}
	if ((rc = sec_harden_process()) != CF_OK) {
		fprintf(stderr, "coffred: cannot disable core dumps: %s\n", cf_err_str(rc));
		return COFFRED_EXIT_FAIL;
	}
	if (main_signals_setup(&wait_mask) != CF_OK) {
		fprintf(stderr, "coffred: cannot install signal handlers\n");
		return COFFRED_EXIT_FAIL;
	}
	if (svc_open(&o->svc, &w.svc) != CF_OK)
		return COFFRED_EXIT_FAIL;
	main_ntp_start(w.svc);
	if (main_console_open(&w) != CF_OK)
		goto fail;
	svc_set_notify(w.svc, main_notify, &w);
	if (svc_boot(w.svc, main_console_start, &w) != CF_OK)
		goto fail;
	fflush(stderr);

	main_wait(&w, &wait_mask);
	log_info("svc: stopping (state %s)", svc_state_name((enum svc_state)atomic_load(&w.svc->state)));
	main_console_stop(&w);
	power = board_power_requested(&w.svc->board);
	ret = power == BOARD_POWER_OFF ? COFFRED_EXIT_POWEROFF
	      : power == BOARD_POWER_REBOOT ? COFFRED_EXIT_REBOOT
	      : atomic_load(&w.svc->state) == SVC_ERROR ? COFFRED_EXIT_ERROR_STATE : COFFRED_EXIT_OK;
	svc_stop(w.svc);
	if (atomic_load(&w.svc->restarting) && main_stop_flag == 0 && power == BOARD_POWER_NONE) {
		main_restart(&w); /* returns only on failure */
		return COFFRED_EXIT_FAIL;
	}
	main_release(&w);
	if (ret == COFFRED_EXIT_OK)
		fprintf(stderr, "coffred: stopped\n");
	else if (power != BOARD_POWER_NONE)
		fprintf(stderr, "coffred: stopped for %s\n", power == BOARD_POWER_OFF ? "power-off"
										  : "reboot");
	return ret;
fail:
	main_release(&w);
	return COFFRED_EXIT_FAIL;
}

static int usage(FILE *f, int ret)
{
	fprintf(f, "usage: coffred -c CONFIG [--console PATH|pty|stdio] [--port N]\n"
		   "       coffred provision --qa DIR [--port PORT] [--clients N] "
		   "[--server-key ec|ec-p384|rsa] [--module PKCS11_SO] [--user NAME]\n"
		   "       coffred provision --fresh DIR [--port PORT] [--module PKCS11_SO] "
		   "[--user NAME]\n");
	return ret;
}

static bool main_port(const char *v, uint16_t *out)
{
	char *end;
	unsigned long p;

	errno = 0;
	p = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || v[0] < '0' || v[0] > '9' || p > 65535)
		return false;
	*out = (uint16_t)p;
	return true;
}

int main(int argc, char **argv)
{
	struct main_opts o = { .svc.restart = true, .argv = argv };

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
			o.svc.config_path = v;
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
			if (!main_port(v, &o.svc.port))
				return usage(stderr, COFFRED_EXIT_USAGE);
			o.svc.port_override = true;
		} else {
			return usage(stderr, COFFRED_EXIT_USAGE);
		}
		i++;
	}
	if (o.svc.config_path == NULL)
		return usage(stderr, COFFRED_EXIT_USAGE);
	return main_serve(&o);
}
