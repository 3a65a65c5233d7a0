/* The process sandbox (board.h "sandbox"; docs/security.md "Sandbox"): PR_SET_NO_NEW_PRIVS,
 * then one seccomp-bpf allow-list (libseccomp) put on every thread at once (TSYNC) when
 * start-up is done. Threads made later inherit it from the thread that makes them, a program
 * exec'd inherits it too (and NO_NEW_PRIVS: no set-uid gain), and it cannot be removed.
 *
 * A call outside the list is trapped (SCMP_ACT_TRAP): the SIGSYS handler below writes the
 * call's name to stderr (the board's log) with async-signal-safe calls only, then lets the
 * SIGSYS it re-raises kill the process. SCMP_ACT_KILL_PROCESS would kill just as surely but
 * cannot say which call it was. A trapped call never runs, so a handler an attacker installs
 * instead of ours gains nothing. One call answers an error instead (sandbox_errno below). */
#include "board/board.h"
#include "board/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/rtc.h>
#include <linux/random.h>
#include <linux/watchdog.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

/* ---- the list ---------------------------------------------------------------------------- */

/* Calls allowed whatever their arguments, grouped by who needs them. One list for the whole
 * life of the process: a zeroize restarts coffred with execve, and the new image boots under
 * this filter (it stacks its own on top), so its start-up calls are here too. */
static const char *const sandbox_allow[] = {
	/* memory: malloc, the dynamic loader (dlopen of the PKCS#11 module, OpenSSL's
	 * providers), sec_alloc (mlock, MADV_DONTDUMP), thread stacks */
	"brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "mlock", "munlock",
	/* files: the store (SQLite: its journal/WAL, locks, fsync, ftruncate, fchown of a
	 * journal when running as root), SoftHSMv2's token directory (object files, lock
	 * files, directory scans), the config and PKI files, `backup export`/`import` files,
	 * network.conf, the data disk's free space (statfs) */
	"openat", "open", "close", "read", "write", "pread64", "pwrite64", "readv", "writev",
	"lseek", "fstat", "newfstatat", "stat", "lstat", "statx", "fstatfs", "statfs",
	"fsync", "fdatasync", "ftruncate", "fallocate", "rename", "renameat", "renameat2",
	"unlink", "unlinkat", "mkdir", "mkdirat", "rmdir", "getdents64", "readlink",
	"readlinkat", "access", "faccessat", "faccessat2", "fchmod", "fchmodat", "fchown",
	"fcntl", "flock", "dup", "dup2", "dup3", "pipe2", "umask", "getcwd", "utimensat",
	/* sockets: the KMIP listener and its connections (accept4, epoll, eventfd wake-ups),
	 * NTP's UDP queries, syslog's unix socket ([audit] syslog); socket itself is checked
	 * below (by family) */
	"bind", "listen", "accept", "accept4", "connect", "getsockname",
	"getpeername", "setsockopt", "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg",
	"sendmmsg", "shutdown", "poll", "ppoll", "select", "pselect6", "epoll_create1",
	"epoll_ctl", "epoll_wait", "epoll_pwait", "eventfd2",
	/* time: the clocks, sleeps, the service clock; the appliance's `time set` and NTP
	 * step/slew (they need CAP_SYS_TIME, which only the appliance keeps) */
	"clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep",
	"clock_nanosleep", "clock_settime", "settimeofday", "clock_adjtime", "adjtimex",
	/* threads and their locks (glibc's pthreads, the HSM executor, the KMIP workers, the
	 * console, the NTP and KEK jobs); clone is checked below */
	"futex", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
	"sched_yield", "sched_getaffinity", "gettid", "getpid", "getppid", "tgkill", "tkill",
	"exit", "exit_group", "restart_syscall", "membarrier",
	/* signals: SIGTERM/SIGINT and this file's SIGSYS handler, the main loop's ppoll
	 * mask, the backup helper (killed at its deadline, reaped) */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "sigaltstack",
	"kill", "wait4", "waitid",
	/* identity and limits: file ownership checks, getrlimit (glibc, OpenSSL), the
	 * restarted image's RLIMIT_CORE 0, the appliance's capability check */
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
	"capget", "prlimit64", "getrlimit", "setrlimit", "uname", "sysinfo", "getrandom",
	/* a program exec'd (the zeroize restart, the backup helper; execve is checked below):
	 * what the dynamic loader does first, and the new image's own NO_NEW_PRIVS + filter
	 * (a filter can only narrow what this one allows) */
	"arch_prctl", "seccomp",
};

/* Calls allowed with some arguments only; with others they are trapped like any call outside
 * the list. */
struct sandbox_arg_rule {
	const char *name;
	unsigned arg;
	unsigned long value;
};
static const struct sandbox_arg_rule sandbox_allow_args[] = {
	/* prctl: thread names (glibc, OpenSSL), dumpability and NO_NEW_PRIVS (a restarted
	 * image), and what the sanitizers' leak checker does (below) */
	{ "prctl", 0, PR_SET_NAME }, { "prctl", 0, PR_GET_NAME },
	{ "prctl", 0, PR_SET_NO_NEW_PRIVS }, { "prctl", 0, PR_GET_NO_NEW_PRIVS },
	{ "prctl", 0, PR_SET_DUMPABLE }, { "prctl", 0, PR_GET_DUMPABLE },
	{ "prctl", 0, PR_SET_VMA },
	/* ioctl: the console's TTY (termios, the pty's number and lock, window size), the
	 * socket and pipe probes libraries make, the appliance's watchdog, RTC and RNG */
	{ "ioctl", 1, TCGETS }, { "ioctl", 1, TCSETS }, { "ioctl", 1, TCSETSW },
	{ "ioctl", 1, TCSETSF }, { "ioctl", 1, TCFLSH }, { "ioctl", 1, TIOCGWINSZ },
	{ "ioctl", 1, TIOCGPTN }, { "ioctl", 1, TIOCSPTLCK }, { "ioctl", 1, TIOCGPGRP },
	{ "ioctl", 1, FIONREAD }, { "ioctl", 1, FIONBIO }, { "ioctl", 1, FIOCLEX },
	{ "ioctl", 1, FIONCLEX }, { "ioctl", 1, WDIOC_SETTIMEOUT },
	{ "ioctl", 1, WDIOC_KEEPALIVE }, { "ioctl", 1, RTC_SET_TIME },
	{ "ioctl", 1, RNDADDENTROPY },
	/* socket families: IPv4 and IPv6 (KMIP, NTP), unix (syslog); no raw, packet or
	 * netlink sockets */
	{ "socket", 0, AF_INET }, { "socket", 0, AF_INET6 }, { "socket", 0, AF_UNIX },
};

/* Calls that answer an errno instead of killing: the library that makes them has a path for
 * the error, and killing would stop the service for a probe. */
struct sandbox_errno_rule {
	const char *name;
	int err;
};
static const struct sandbox_errno_rule sandbox_errno[] = {
	/* glibc's pthread_create and posix_spawn try clone3 first and fall back to clone on
	 * ENOSYS: clone3 passes its flags in memory, which the filter cannot read; clone
	 * passes them in a register, checked below */
	{ "clone3", ENOSYS },
};

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* The sanitizer build only (ASan/UBSan in `make test`): LeakSanitizer stops the world at exit
 * with a tracer task that ptraces every thread, and a report may read /proc or spawn the
 * symbolizer. Never in the product build. */
static const char *const sandbox_allow_san[] = {
	"ptrace", "process_vm_readv", "sched_getparam", "sched_getscheduler", "getdents",
};
static const struct sandbox_arg_rule sandbox_allow_san_args[] = {
	{ "prctl", 0, PR_SET_PDEATHSIG }, { "prctl", 0, PR_SET_PTRACER },
	{ "prctl", 0, PR_GET_PDEATHSIG },
};
#endif

/* ---- state ------------------------------------------------------------------------------- */

#define SANDBOX_NR_MAX 512        /* system call numbers the SIGSYS handler can name */
#define SANDBOX_NAME_MAX 24
#define SANDBOX_EXEC_MAX 4        /* programs execve may start */

/* Set by board_sandbox_exec_allow / board_sandbox_enter on the main thread before the
 * filter (and before the threads that read them exist, or under the filter, read only). */
static char sandbox_names[SANDBOX_NR_MAX][SANDBOX_NAME_MAX];
static char *sandbox_exec_page;   /* one page of NUL-separated paths, read-only once entered */
static size_t sandbox_exec_used;
static const char *sandbox_exec[SANDBOX_EXEC_MAX];
static unsigned sandbox_n_exec;
static _Atomic unsigned sandbox_n_allowed; /* 0: no filter */

cf_err board_sandbox_exec_allow(const char *path)
{
	size_t n = path != NULL ? strlen(path) + 1 : 0;
	long page = sysconf(_SC_PAGESIZE);

	if (n <= 1 || path[0] != '/' || atomic_load(&sandbox_n_allowed) != 0)
		return CF_E_INVALID_ARG;
	for (unsigned i = 0; i < sandbox_n_exec; i++)
		if (strcmp(sandbox_exec[i], path) == 0)
			return CF_OK;
	if (sandbox_exec_page == NULL) {
		void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return CF_E_NOMEM;
		sandbox_exec_page = p;
	}
	if (sandbox_n_exec == SANDBOX_EXEC_MAX || n > (size_t)page - sandbox_exec_used)
		return CF_E_TOO_MANY;
	memcpy(sandbox_exec_page + sandbox_exec_used, path, n);
	sandbox_exec[sandbox_n_exec++] = sandbox_exec_page + sandbox_exec_used;
	sandbox_exec_used += n;
	return CF_OK;
}

const char *board_sandbox_exec_path(const char *path)
{
	for (unsigned i = 0; path != NULL && i < sandbox_n_exec; i++)
		if (strcmp(sandbox_exec[i], path) == 0)
			return sandbox_exec[i];
	return path;
}

unsigned board_sandbox_active(void)
{
	return atomic_load(&sandbox_n_allowed);
}

/* ---- the SIGSYS handler (async-signal-safe only) ----------------------------------------- */

static size_t sandbox_put(char *out, size_t o, size_t cap, const char *s)
{
	while (*s != '\0' && o < cap)
		out[o++] = *s++;
	return o;
}

static size_t sandbox_put_uint(char *out, size_t o, size_t cap, unsigned long v)
{
	char d[24];
	size_t n = 0;

	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && n < sizeof d);
	while (n > 0 && o < cap)
		out[o++] = d[--n];
	return o;
}

static void sandbox_on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	char line[160];
	size_t o = 0;
	int nr = si != NULL ? si->si_syscall : -1;
	ssize_t w;

	(void)uctx;
	o = sandbox_put(line, o, sizeof line, "coffred: error: sandbox: forbidden system call ");
	if (nr >= 0 && nr < SANDBOX_NR_MAX && sandbox_names[nr][0] != '\0')
		o = sandbox_put(line, o, sizeof line, sandbox_names[nr]);
	else
		o = sandbox_put(line, o, sizeof line, "?");
	o = sandbox_put(line, o, sizeof line, " (");
	o = sandbox_put_uint(line, o, sizeof line, nr >= 0 ? (unsigned long)nr : 0ul);
	o = sandbox_put(line, o, sizeof line, "): the process stops\n");
	w = write(STDERR_FILENO, line, o); /* nothing to do if it fails: the process ends */
	(void)w;
	/* SA_RESETHAND made the disposition the default again and SA_NODEFER left SIGSYS
	 * unblocked: this kills the process with SIGSYS, as the filter's own kill would */
	(void)syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
	_exit(128 + SIGSYS); /* not reached */
}

/* ---- building the filter ----------------------------------------------------------------- */

static void sandbox_names_init(void)
{
	for (int nr = 0; nr < SANDBOX_NR_MAX; nr++) {
		char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (s != NULL) {
			size_t n = strlen(s);

			if (n >= SANDBOX_NAME_MAX)
				n = SANDBOX_NAME_MAX - 1;
			memcpy(sandbox_names[nr], s, n);
			sandbox_names[nr][n] = '\0';
			free(s);
		}
	}
}

/* Count a call once however many rules name it. */
static void sandbox_count(int nr, unsigned char seen[SANDBOX_NR_MAX], unsigned *n)
{
	if (nr >= 0 && nr < SANDBOX_NR_MAX && !seen[nr]) {
		seen[nr] = 1;
		(*n)++;
	}
}

static cf_err sandbox_add_plain(scmp_filter_ctx ctx, const char *const *names, size_t n,
				unsigned char *seen, unsigned *count)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);

		if (nr == __NR_SCMP_ERROR) {
			log_err("sandbox: unknown system call %s", names[i]);
			return CF_E_INTERNAL;
		}
		if (nr < 0)
			continue; /* not on this architecture (open, stat... on aarch64) */
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0) {
			log_err("sandbox: cannot allow %s", names[i]);
			return CF_E_INTERNAL;
		}
		sandbox_count(nr, seen, count);
	}
	return CF_OK;
}

static cf_err sandbox_add_args(scmp_filter_ctx ctx, const struct sandbox_arg_rule *r, size_t n,
			       unsigned char *seen, unsigned *count)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(r[i].name);
		struct scmp_arg_cmp cmp = { r[i].arg, SCMP_CMP_EQ, r[i].value, 0 };

		if (nr < 0 || seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp) != 0) {
			log_err("sandbox: cannot allow %s with argument %u = %#lx", r[i].name,
				r[i].arg, r[i].value);
			return CF_E_INTERNAL;
		}
		sandbox_count(nr, seen, count);
	}
	return CF_OK;
}

/* clone only with CLONE_VM: a thread (pthread_create), posix_spawn's vfork-like child (the
 * backup helper), the leak checker's tracer; never a fork (a copy of the process with its
 * secrets). execve only with a path registered by board_sandbox_exec_allow: the pointer
 * itself is compared (the filter cannot read memory), and it points into a read-only page. */
static cf_err sandbox_add_spawn(scmp_filter_ctx ctx, unsigned char *seen, unsigned *count)
{
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_VM, CLONE_VM)) != 0)
		return CF_E_INTERNAL;
	sandbox_count(SCMP_SYS(clone), seen, count);
	for (unsigned i = 0; i < sandbox_n_exec; i++) {
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(execve), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)(uintptr_t)sandbox_exec[i], 0)) != 0)
			return CF_E_INTERNAL;
		sandbox_count(SCMP_SYS(execve), seen, count);
	}
	for (size_t i = 0; i < sizeof sandbox_errno / sizeof sandbox_errno[0]; i++) {
		int nr = seccomp_syscall_resolve_name(sandbox_errno[i].name);

		if (nr >= 0 && seccomp_rule_add(ctx, SCMP_ACT_ERRNO((uint16_t)sandbox_errno[i].err),
						nr, 0) != 0)
			return CF_E_INTERNAL;
	}
	return CF_OK;
}

static cf_err sandbox_build(scmp_filter_ctx ctx, unsigned *count)
{
	static unsigned char seen[SANDBOX_NR_MAX];
	cf_err rc;

	memset(seen, 0, sizeof seen);
	*count = 0;
	if ((rc = sandbox_add_plain(ctx, sandbox_allow, sizeof sandbox_allow / sizeof sandbox_allow[0],
				    seen, count)) != CF_OK ||
	    (rc = sandbox_add_args(ctx, sandbox_allow_args,
				   sizeof sandbox_allow_args / sizeof sandbox_allow_args[0], seen,
				   count)) != CF_OK ||
	    (rc = sandbox_add_spawn(ctx, seen, count)) != CF_OK)
		return rc;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	if ((rc = sandbox_add_plain(ctx, sandbox_allow_san,
				    sizeof sandbox_allow_san / sizeof sandbox_allow_san[0], seen,
				    count)) != CF_OK ||
	    (rc = sandbox_add_args(ctx, sandbox_allow_san_args,
				   sizeof sandbox_allow_san_args / sizeof sandbox_allow_san_args[0],
				   seen, count)) != CF_OK)
		return rc;
#endif
	return CF_OK;
}

cf_err board_sandbox_enter(void)
{
	struct sigaction sa;
	scmp_filter_ctx ctx;
	unsigned count = 0;
	cf_err rc;
	int r;

	if (atomic_load(&sandbox_n_allowed) != 0)
		return CF_OK;
	sandbox_names_init();
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = sandbox_on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) != 0)
		return CF_E_INTERNAL;
	if (sandbox_exec_page != NULL &&
	    mprotect(sandbox_exec_page, (size_t)sysconf(_SC_PAGESIZE), PROT_READ) != 0)
		return CF_E_INTERNAL;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0) {
		log_err("sandbox: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return CF_E_PERMISSION;
	}
	if ((ctx = seccomp_init(SCMP_ACT_TRAP)) == NULL)
		return CF_E_NOMEM;
	/* every thread at once: the KMIP workers, the console, the HSM executor, the NTP and
	 * KEK jobs already run (TSYNC also gives them NO_NEW_PRIVS) */
	rc = CF_E_INTERNAL;
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) == 0 &&
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) == 0)
		rc = sandbox_build(ctx, &count);
	/* a binary tree over the syscall numbers rather than a linear list: every system call of
	 * the process pays the filter (libseccomp >= 2.5; without it, the linear list) */
	if (rc == CF_OK && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) != 0)
		log_info("sandbox: libseccomp cannot build a binary-tree filter: a linear one");
	if (rc == CF_OK && (r = seccomp_load(ctx)) != 0) {
		log_err("sandbox: the filter was not loaded: %s", strerror(-r));
		rc = CF_E_PERMISSION;
	}
	seccomp_release(ctx);
	if (rc != CF_OK)
		return rc;
	atomic_store(&sandbox_n_allowed, count);
	log_info("sandbox: seccomp filter on every thread (%u system calls allowed)", count);
	return CF_OK;
}
