/* board/host: data dir, paths, entropy, console (a real pty), LEDs, tamper, watchdog, and a
 * clock that is not the appliance's (time set refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board/board.h"

static char tmpl[64];

static int setup(void **s)
{
	(void)s;
	snprintf(tmpl, sizeof tmpl, "/tmp/coffre-board-XXXXXX");
	return mkdtemp(tmpl) ? 0 : -1;
}

static int teardown(void **s)
{
	(void)s;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
	return system(cmd) == 0 ? 0 : -1;
}

static void t_init_creates_private_dir(void **s)
{
	(void)s;
	struct board b;
	char dir[128];
	snprintf(dir, sizeof dir, "%s/data", tmpl);
	assert_int_equal(board_init(&b, dir), CF_OK);
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(b.leds[BOARD_LED_POWER], BOARD_LED_ON);
	board_free(&b);
	/* a world-readable data dir is refused */
	snprintf(dir, sizeof dir, "%s/open", tmpl);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(board_init(&b, dir), CF_E_PERM_FILE);
	assert_int_equal(board_init(&b, ""), CF_E_INVALID_ARG);
}

static void t_paths(void **s)
{
	(void)s;
	struct board b;
	char dir[128], out[256];
	snprintf(dir, sizeof dir, "%s/p", tmpl);
	assert_int_equal(board_init(&b, dir), CF_OK);
	assert_int_equal(board_path(&b, "store.db", out, sizeof out), CF_OK);
	char want[256];
	snprintf(want, sizeof want, "%s/store.db", dir);
	assert_string_equal(out, want);
	assert_int_equal(board_path(&b, "../etc/passwd", out, sizeof out), CF_E_INVALID_ARG);
	assert_string_equal(out, "");
	assert_int_equal(board_path(&b, "/abs", out, sizeof out), CF_E_INVALID_ARG);
	assert_int_equal(board_path(&b, "store.db", out, 8), CF_E_INVALID_ARG); /* truncation */
	board_free(&b);
}

static void t_entropy(void **s)
{
	(void)s;
	uint8_t a[64] = { 0 }, b2[64] = { 0 };
	assert_int_equal(board_entropy(NULL, a, sizeof a), CF_OK);
	assert_int_equal(board_entropy(NULL, b2, sizeof b2), CF_OK);
	assert_memory_not_equal(a, b2, sizeof a);
	int zeros = 0;
	for (size_t i = 0; i < sizeof a; i++)
		zeros += a[i] == 0;
	assert_true(zeros < 16);
}

static void t_console_pty(void **s)
{
	(void)s;
	struct board_console c;
	assert_int_equal(board_console_open(NULL, BOARD_CONSOLE_PTY, NULL, &c), CF_OK);
	assert_true(c.is_tty);
	assert_true(strncmp(c.path, "/dev/pts/", 9) == 0);
	int peer = open(c.path, O_RDWR | O_NOCTTY);
	assert_true(peer >= 0);
	/* bytes typed on the operator side arrive unchanged (raw mode, no echo processing) */
	assert_int_equal(write(peer, "help\r", 5), 5);
	char buf[16] = { 0 };
	ssize_t n = read(c.fd, buf, sizeof buf);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "help\r", 5);
	assert_int_equal(write(c.fd_out, "ok\r\n", 4), 4);
	n = read(peer, buf, sizeof buf);
	assert_true(n >= 2);
	assert_memory_equal(buf, "ok", 2);
	close(peer);
	board_console_close(&c);
	assert_int_equal(c.fd, -1);
	/* a path that does not exist fails cleanly */
	assert_int_equal(board_console_open(NULL, BOARD_CONSOLE_PATH, "/nonexistent/tty", &c), CF_E_IO);
}

static void t_leds_tamper_watchdog(void **s)
{
	(void)s;
	struct board b;
	char dir[128];
	snprintf(dir, sizeof dir, "%s/t", tmpl);
	assert_int_equal(board_init(&b, dir), CF_OK);
	board_led_set(&b, BOARD_LED_ERROR, BOARD_LED_BLINK);
	assert_int_equal(b.leds[BOARD_LED_ERROR], BOARD_LED_BLINK);
	board_led_set(&b, BOARD_LED_COUNT, BOARD_LED_ON); /* out of range: ignored */
	snprintf(b.tamper_path, sizeof b.tamper_path, "%s/tamper", tmpl);
	assert_false(board_tamper_poll(&b));
	FILE *f = fopen(b.tamper_path, "w");
	assert_non_null(f);
	fclose(f);
	assert_true(board_tamper_poll(&b));
	unlink(b.tamper_path);
	assert_true(board_tamper_poll(&b)); /* latched */
	board_tamper_clear(&b);
	assert_false(board_tamper_poll(&b));
	assert_int_equal(board_watchdog_open(&b, 30), CF_OK);
	board_watchdog_kick(&b);
	assert_int_equal(board_watchdog_open(&b, 0), CF_E_INVALID_ARG);
	board_free(&b);
}

static void t_clock_refused(void **s)
{
	(void)s;
	struct board b;
	char dir[128];
	snprintf(dir, sizeof dir, "%s/clock", tmpl);
	assert_int_equal(board_init(&b, dir), CF_OK);
	assert_string_equal(board_name(), "host");
	assert_false(board_clock_settable(&b));
	assert_int_equal(board_clock_set(&b, 946684800), CF_E_PERMISSION);
	board_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_init_creates_private_dir),
		cmocka_unit_test(t_paths),
		cmocka_unit_test(t_entropy),
		cmocka_unit_test(t_console_pty),
		cmocka_unit_test(t_leds_tamper_watchdog),
		cmocka_unit_test(t_clock_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
