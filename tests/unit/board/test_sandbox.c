/* board/sandbox.c: each case runs in a child process that enters the sandbox (a filter cannot
 * be removed, so never in the test runner itself) and reports by its exit status or the
 * signal that ended it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "board/board.h"

/* fn in a child after board_sandbox_enter; its wait status */
static int in_sandbox(int (*fn)(void))
{
	pid_t pid = fork();
	int st = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		if (devnull >= 0)
			(void)dup2(devnull, STDERR_FILENO); /* the handler's line */
		if (board_sandbox_exec_allow("/bin/true") != CF_OK || board_sandbox_enter() != CF_OK)
			_exit(90);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static int c_allowed(void)
{
	char buf[8];
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || read(fd, buf, sizeof buf) != 0 || s < 0)
		return 1;
	close(fd);
	close(s);
	return board_sandbox_active() > 50 ? 0 : 2;
}

static void *c_thread_main(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)getpid();
}

/* pthread_create: clone3 answers ENOSYS, glibc falls back to clone with CLONE_VM */
static int c_thread(void)
{
	pthread_t th;
	void *ret = NULL;

	if (pthread_create(&th, NULL, c_thread_main, NULL) != 0 || pthread_join(th, &ret) != 0)
		return 1;
	return (intptr_t)ret == getpid() ? 0 : 2;
}

/* the registered copy of the path: execve allowed (the program exits 0) */
static int c_exec_registered(void)
{
	char *const argv[] = { (char *)"true", NULL };

	(void)execve(board_sandbox_exec_path("/bin/true"), argv, NULL);
	return 3;
}

/* the same text at another address: the filter compares the pointer, so this is trapped */
static int c_exec_other_pointer(void)
{
	char path[] = "/bin/true";
	char *const argv[] = { (char *)"true", NULL };

	(void)execve(path, argv, NULL);
	return 3;
}

static int c_fork(void)
{
	return (int)syscall(SYS_fork) >= 0 ? 0 : 4;
}

static int c_ptrace(void)
{
	(void)syscall(SYS_ptrace, 0L, 0L, 0L, 0L);
	return 5;
}

static int c_raw_socket(void)
{
	(void)socket(AF_PACKET, SOCK_RAW, 0);
	return 6;
}

static void t_allowed(void **s)
{
	(void)s;
	int st = in_sandbox(c_allowed);

	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	st = in_sandbox(c_thread);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	st = in_sandbox(c_exec_registered);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void t_forbidden(void **s)
{
	(void)s;
	int (*const cases[])(void) = { c_exec_other_pointer, c_fork, c_raw_socket,
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
				       c_ptrace, /* the sanitizer build allows it (LSan) */
#endif
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int st = in_sandbox(cases[i]);

		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
			fail_msg("case %zu: status %#x, not killed by SIGSYS", i, st);
	}
}

static void t_exec_registry(void **s)
{
	(void)s;
	const char *p = "/usr/bin/example-not-registered";

	/* not registered: the path itself */
	assert_ptr_equal(board_sandbox_exec_path(p), p);
	assert_int_equal(board_sandbox_exec_allow("relative"), CF_E_INVALID_ARG);
	assert_int_equal(board_sandbox_exec_allow(""), CF_E_INVALID_ARG);
	assert_int_equal(board_sandbox_exec_allow("/a"), CF_OK);
	assert_int_equal(board_sandbox_exec_allow("/a"), CF_OK); /* once */
	assert_ptr_not_equal(board_sandbox_exec_path("/a"), "/a");
	assert_string_equal(board_sandbox_exec_path("/a"), "/a");
	assert_int_equal(board_sandbox_exec_allow("/b"), CF_OK);
	assert_int_equal(board_sandbox_exec_allow("/c"), CF_OK);
	assert_int_equal(board_sandbox_exec_allow("/d"), CF_OK);
	assert_int_equal(board_sandbox_exec_allow("/e"), CF_E_TOO_MANY);
	assert_int_equal(board_sandbox_active(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_allowed),
		cmocka_unit_test(t_forbidden),
		cmocka_unit_test(t_exec_registry), /* last: it fills this process's registry */
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
