/* board/host: a development host. What it shares with the appliance is in board/posix.c and
 * board/netconf.c; here: no hardware watchdog (a no-op), and a clock that is the host's, not
 * the appliance's (`time set` refuses), and NTP servers kept but not applied. */
#include "board/board.h"
#include "board/ntp.h"

#include <string.h>
#include <unistd.h>

const char *board_name(void)
{
	return "host";
}

cf_err board_init(struct board *b, const char *data_dir)
{
	return board_setup_dir(b, data_dir);
}

void board_free(struct board *b)
{
	if (b == NULL)
		return;
	ntpsync_free(b->ntp);
	board_watchdog_close(b);
	memset(b, 0, sizeof *b);
	b->watchdog_fd = -1;
}

cf_err board_watchdog_open(struct board *b, unsigned timeout_s)
{
	if (b == NULL || timeout_s == 0)
		return CF_E_INVALID_ARG;
	b->watchdog_fd = -1; /* the host board has no hardware watchdog */
	return CF_OK;
}

void board_watchdog_kick(struct board *b)
{
	if (b != NULL && b->watchdog_fd >= 0) {
		ssize_t r = write(b->watchdog_fd, "k", 1);
		(void)r;
	}
}

void board_watchdog_close(struct board *b)
{
	if (b != NULL && b->watchdog_fd >= 0) {
		ssize_t r = write(b->watchdog_fd, "V", 1); /* magic close */
		(void)r;
		close(b->watchdog_fd);
		b->watchdog_fd = -1;
	}
}

cf_err board_privileges_drop(void)
{
	return CF_OK;
}

bool board_clock_settable(const struct board *b)
{
	(void)b;
	return false;
}

cf_err board_clock_set(struct board *b, int64_t t)
{
	(void)b;
	(void)t;
	return CF_E_PERMISSION; /* the development host's clock is not the appliance's */
}

cf_err board_ntp_apply(struct board *b, const struct board_ntp_server *servers, unsigned n)
{
	if (b == NULL)
		return CF_E_INVALID_ARG;
	return ntpsync_apply(&b->ntp, servers, n, NULL, NULL); /* the list only: not our clock */
}
