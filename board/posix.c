/* What every board shares: the data dir, the console TTY (a pty, a device path or stdio),
 * entropy from the kernel (getrandom(2)), LEDs as state (reported by status), tamper as a
 * file's existence, storage paths under the data dir. */
#include "board/board.h"
#include "board/log.h"
#include "board/sec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <grp.h>
#include <termios.h>
#include <unistd.h>

cf_err board_setup_dir(struct board *b, const char *data_dir)
{
	if (b == NULL || data_dir == NULL || data_dir[0] == '\0')
		return CF_E_INVALID_ARG;
	memset(b, 0, sizeof *b);
	b->watchdog_fd = -1;
	atomic_init(&b->power, BOARD_POWER_NONE);
	size_t n = strlen(data_dir);
	if (n >= sizeof b->data_dir)
		return CF_E_INVALID_ARG;
	memcpy(b->data_dir, data_dir, n + 1);
	if (mkdir(data_dir, 0700) != 0 && errno != EEXIST)
		return CF_E_IO;
	struct stat st;
	if (stat(data_dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return CF_E_IO;
	if ((st.st_mode & 0077) != 0)
		return CF_E_PERM_FILE; /* the data dir must not be readable by others */
	b->leds[BOARD_LED_POWER] = BOARD_LED_ON;
	return CF_OK;
}

static cf_err console_raw(int fd)
{
	struct termios t;
	if (tcgetattr(fd, &t) != 0)
		return CF_E_IO;
	cfmakeraw(&t);
	/* 115200 8N1, no flow control */
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
	t.c_cflag |= CS8 | CLOCAL | CREAD;
	if (cfsetispeed(&t, B115200) != 0 || cfsetospeed(&t, B115200) != 0)
		return CF_E_IO;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &t) != 0)
		return CF_E_IO;
	return CF_OK;
}

cf_err board_console_open(struct board *b, enum board_console_kind kind, const char *path,
			  struct board_console *out)
{
	(void)b;
	if (out == NULL)
		return CF_E_INVALID_ARG;
	memset(out, 0, sizeof *out);
	out->fd = out->fd_out = -1;
	switch (kind) {
	case BOARD_CONSOLE_STDIO:
		out->fd = STDIN_FILENO;
		out->fd_out = STDOUT_FILENO;
		out->is_tty = isatty(STDIN_FILENO) == 1;
		if (out->is_tty) {
			/* The console edits and echoes lines itself and must never let the
			 * terminal echo a password: no canonical mode, no echo. ISIG stays, so
			 * Ctrl-C still stops a development coffred (`make run`). */
			struct termios t;

			if (tcgetattr(STDIN_FILENO, &out->saved) != 0)
				return CF_E_IO;
			t = out->saved;
			t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ECHONL | ECHOE | ECHOK | IEXTEN);
			t.c_iflag &= ~(tcflag_t)(ICRNL | INLCR | IGNCR | IXON);
			t.c_cc[VMIN] = 1;
			t.c_cc[VTIME] = 0;
			if (tcsetattr(STDIN_FILENO, TCSANOW, &t) != 0)
				return CF_E_IO;
			out->restore = true;
		}
		return CF_OK;
	case BOARD_CONSOLE_PTY: {
		int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (m < 0)
			return CF_E_IO;
		char name[128];
		if (grantpt(m) != 0 || unlockpt(m) != 0 || ptsname_r(m, name, sizeof name) != 0) {
			close(m);
			return CF_E_IO;
		}
		/* the far end is the operator's side: make it raw so the shell sees bytes as typed */
		int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (s >= 0) {
			(void)console_raw(s);
			close(s);
		}
		out->fd = out->fd_out = m;
		out->is_tty = true;
		snprintf(out->path, sizeof out->path, "%s", name);
		return CF_OK;
	}
	case BOARD_CONSOLE_PATH: {
		if (path == NULL || strlen(path) >= sizeof out->path)
			return CF_E_INVALID_ARG;
		int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return CF_E_IO;
		if (isatty(fd) && console_raw(fd) != CF_OK) {
			close(fd);
			return CF_E_IO;
		}
		out->fd = out->fd_out = fd;
		out->is_tty = isatty(fd) == 1;
		snprintf(out->path, sizeof out->path, "%s", path);
		return CF_OK;
	}
	}
	return CF_E_INVALID_ARG;
}

void board_console_close(struct board_console *c)
{
	if (c == NULL)
		return;
	if (c->restore)
		(void)tcsetattr(c->fd, TCSANOW, &c->saved);
	c->restore = false;
	if (c->fd > STDERR_FILENO)
		close(c->fd);
	c->fd = c->fd_out = -1;
}

cf_err board_entropy(struct board *b, void *buf, size_t n)
{
	(void)b;
	return sec_random(buf, n);
}

void board_led_set(struct board *b, enum board_led led, enum board_led_state st)
{
	if (b != NULL && (unsigned)led < BOARD_LED_COUNT)
		b->leds[led] = st;
}

bool board_tamper_poll(struct board *b)
{
	if (b == NULL)
		return false;
	if (!b->tamper_latched && b->tamper_path[0] != '\0' && access(b->tamper_path, F_OK) == 0)
		b->tamper_latched = true;
	return b->tamper_latched;
}

void board_tamper_clear(struct board *b)
{
	if (b != NULL)
		b->tamper_latched = false;
}

cf_err board_path(const struct board *b, const char *name, char *out, size_t outsz)
{
	if (b == NULL || name == NULL || out == NULL || outsz == 0)
		return CF_E_INVALID_ARG;
	out[0] = '\0';
	if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL)
		return CF_E_INVALID_ARG;
	int n = snprintf(out, outsz, "%s/%s", b->data_dir, name);
	if (n < 0 || (size_t)n >= outsz) {
		out[0] = '\0';
		return CF_E_INVALID_ARG;
	}
	return CF_OK;
}

cf_err board_user_drop(unsigned uid, unsigned gid)
{
	uid_t r, e, sv;

	if (uid == 0)
		return CF_E_INVALID_ARG;
	/* groups first: after the uid changes the process may no longer change them */
	if (setgroups(0, NULL) != 0 || setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0 ||
	    setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) {
		log_err("board: cannot become uid %u gid %u: %s", uid, gid, strerror(errno));
		return CF_E_PERMISSION;
	}
	if (getresuid(&r, &e, &sv) != 0 || r != uid || e != uid || sv != uid ||
	    setuid(0) == 0 || seteuid(0) == 0) {
		log_err("board: still able to become root after dropping privileges");
		return CF_E_PERMISSION;
	}
	return CF_OK;
}
