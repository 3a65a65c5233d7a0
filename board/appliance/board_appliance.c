/* board/appliance: the virtual appliance booted by image/ (qemu: ttyS0 console, virtio-rng,
 * i6300esb watchdog, a virtio data disk mounted as the data dir). What it shares with the
 * development host is in board/posix.c and board/netconf.c; here:
 *   - board_init credits bytes of the hardware RNG (/dev/hwrng) to the kernel's pool
 *     (RNDADDENTROPY, which needs CAP_SYS_ADMIN, and /dev/hwrng readable: an unprivileged
 *     coffred logs that it could not, and relies on init having mixed them in at boot);
 *   - the watchdog is /dev/watchdog (the i6300esb), kicked by the main thread;
 *   - the clock is the appliance's own: `time set` sets it (CAP_SYS_TIME) and the RTC, and the
 *     NTP sync thread (board/ntpsync.c) steps or slews it with the functions below. */
#include "board/board.h"
#include "board/log.h"
#include "board/ntp.h"
#include "board/sec.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/random.h>
#include <linux/rtc.h>
#include <linux/watchdog.h>
#include <string.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define APPLIANCE_HWRNG "/dev/hwrng"
#define APPLIANCE_RANDOM "/dev/random"
#define APPLIANCE_WATCHDOG "/dev/watchdog"
#define APPLIANCE_RTC "/dev/rtc0"
#define APPLIANCE_MIX_BYTES 64

const char *board_name(void)
{
	return "appliance";
}

/* Read n bytes of the hardware RNG (a virtio-rng read may return fewer). */
static cf_err appliance_hwrng_read(uint8_t *buf, size_t n)
{
	int fd = open(APPLIANCE_HWRNG, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return CF_E_IO;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	return got == n ? CF_OK : CF_E_IO;
}

/* Credit APPLIANCE_MIX_BYTES of /dev/hwrng to the kernel's pool. */
static void appliance_entropy_mix(void)
{
	struct {
		struct rand_pool_info info;
		uint8_t buf[APPLIANCE_MIX_BYTES];
	} req;
	int fd;

	memset(&req, 0, sizeof req);
	if (appliance_hwrng_read(req.buf, sizeof req.buf) != CF_OK) {
		log_info("board: %s not read (%s): init mixes it into the kernel pool at boot",
			 APPLIANCE_HWRNG, strerror(errno));
		return;
	}
	req.info.entropy_count = (int)(8 * sizeof req.buf);
	req.info.buf_size = (int)sizeof req.buf;
	if ((fd = open(APPLIANCE_RANDOM, O_WRONLY | O_CLOEXEC)) < 0 ||
	    ioctl(fd, RNDADDENTROPY, &req.info) != 0)
		log_info("board: %s not credited to the kernel pool (%s): init does it at boot",
			 APPLIANCE_HWRNG, strerror(errno));
	if (fd >= 0)
		close(fd);
	sec_wipe(&req, sizeof req);
}

cf_err board_init(struct board *b, const char *data_dir)
{
	cf_err rc = board_setup_dir(b, data_dir);

	if (rc == CF_OK)
		appliance_entropy_mix();
	return rc;
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
	int t = (int)timeout_s;

	if (b == NULL || timeout_s == 0 || timeout_s > 3600)
		return CF_E_INVALID_ARG;
	if (b->watchdog_fd >= 0)
		return CF_OK;
	if ((b->watchdog_fd = open(APPLIANCE_WATCHDOG, O_WRONLY | O_CLOEXEC)) < 0)
		return CF_E_IO;
	/* the device is armed from here on; a timeout it refuses keeps its default */
	if (ioctl(b->watchdog_fd, WDIOC_SETTIMEOUT, &t) != 0)
		log_warn("board: watchdog timeout %u s refused: %s", timeout_s, strerror(errno));
	board_watchdog_kick(b);
	return CF_OK;
}

void board_watchdog_kick(struct board *b)
{
	int dummy = 0;

	if (b != NULL && b->watchdog_fd >= 0 && ioctl(b->watchdog_fd, WDIOC_KEEPALIVE, &dummy) != 0) {
		ssize_t r = write(b->watchdog_fd, "k", 1);
		(void)r;
	}
}

void board_watchdog_close(struct board *b)
{
	if (b != NULL && b->watchdog_fd >= 0) {
		ssize_t r = write(b->watchdog_fd, "V", 1); /* magic close: disarm */
		(void)r;
		close(b->watchdog_fd);
		b->watchdog_fd = -1;
	}
}

bool board_clock_settable(const struct board *b)
{
	(void)b;
	return true;
}

/* The RTC follows the system clock (best effort: a board without one keeps the kernel's). */
static void appliance_rtc_set(int64_t t)
{
	time_t tt = (time_t)t;
	struct rtc_time rt;
	struct tm tm;
	int fd;

	if (gmtime_r(&tt, &tm) == NULL || (fd = open(APPLIANCE_RTC, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	memset(&rt, 0, sizeof rt);
	rt.tm_sec = tm.tm_sec;
	rt.tm_min = tm.tm_min;
	rt.tm_hour = tm.tm_hour;
	rt.tm_mday = tm.tm_mday;
	rt.tm_mon = tm.tm_mon;
	rt.tm_year = tm.tm_year;
	if (ioctl(fd, RTC_SET_TIME, &rt) != 0)
		log_warn("board: the RTC was not set: %s", strerror(errno));
	close(fd);
}

/* "UID:GID", both decimal, 1..65534. */
static bool run_as_parse(const char *s, uid_t *uid, gid_t *gid)
{
	char *end;
	uintmax_t u, g;

	errno = 0;
	u = strtoumax(s, &end, 10);
	if (errno != 0 || end == s || *end != ':')
		return false;
	s = end + 1;
	g = strtoumax(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || u == 0 || g == 0 || u > 65534 || g > 65534)
		return false;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return true;
}

cf_err board_privileges_drop(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	const char *run_as = getenv("COFFRE_RUN_AS");
	uid_t uid;
	gid_t gid;

	if (run_as == NULL || geteuid() != 0)
		return CF_OK;
	if (!run_as_parse(run_as, &uid, &gid)) {
		log_err("board: COFFRE_RUN_AS='%.20s' is not UID:GID (non-zero)", run_as);
		return CF_E_CONFIG;
	}
	/* keep the permitted set across the change of user, then narrow it to CAP_SYS_TIME */
	if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0 || setgroups(0, NULL) != 0 ||
	    setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
		goto fail;
	memset(data, 0, sizeof data);
	data[0].permitted = data[0].effective = 1u << CAP_SYS_TIME;
	if (syscall(SYS_capset, &hdr, data) != 0 || prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) != 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L) != 0)
		goto fail;
	if (setresuid(0, 0, 0) == 0) { /* must be impossible now */
		log_err("board: still able to become root after dropping privileges");
		return CF_E_PERMISSION;
	}
	unsetenv("COFFRE_RUN_AS");
	return CF_OK;
fail:
	log_err("board: cannot drop privileges to %u:%u: %s", (unsigned)uid, (unsigned)gid,
		strerror(errno));
	return CF_E_PERMISSION;
}

cf_err board_clock_set(struct board *b, int64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)t, .tv_nsec = 0 };

	(void)b;
	if (clock_settime(CLOCK_REALTIME, &ts) != 0)
		return errno == EPERM ? CF_E_PERMISSION : CF_E_IO;
	appliance_rtc_set(t);
	return CF_OK;
}

/* NTP's step: the clock moves by offset_ns at once (and the RTC follows). */
static cf_err appliance_ntp_step(void *arg, int64_t offset_ns)
{
	struct timespec ts;
	int64_t ns;

	(void)arg;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return CF_E_IO;
	ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + offset_ns;
	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	if (clock_settime(CLOCK_REALTIME, &ts) != 0)
		return errno == EPERM ? CF_E_PERMISSION : CF_E_IO;
	appliance_rtc_set((int64_t)ts.tv_sec);
	return CF_OK;
}

/* NTP's slew: the kernel speeds up or slows down the clock until offset_ns is made up
 * (adjtime: 0.5 ms per second); 0 ends a slew still running. */
static cf_err appliance_ntp_slew(void *arg, int64_t offset_ns)
{
	int64_t us = offset_ns / 1000;
	struct timeval tv = { .tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000) };

	(void)arg;
	if (tv.tv_usec < 0) {
		tv.tv_sec -= 1;
		tv.tv_usec += 1000000;
	}
	if (adjtime(&tv, NULL) != 0)
		return errno == EPERM ? CF_E_PERMISSION : CF_E_IO;
	return CF_OK;
}

cf_err board_ntp_apply(struct board *b, const struct board_ntp_server *servers, unsigned n)
{
	static const struct ntpsync_clock clk = { appliance_ntp_step, appliance_ntp_slew, NULL };

	if (b == NULL)
		return CF_E_INVALID_ARG;
	return ntpsync_apply(&b->ntp, servers, n, &clk, NULL);
}
