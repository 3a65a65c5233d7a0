/* Secret-handling primitives: wipe, locked allocation, constant-time compare.
 *
 * sec_alloc keeps a small registry of live blocks so that a fatal path (or zeroize) can wipe
 * every one of them: [shsm] SecureMemoryRegistry. The registry is a fixed array guarded by a
 * mutex; a full registry is an allocation failure, never a silent unregistered secret. */
#include "board/sec.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(memory_sanitizer)
#include <sanitizer/msan_interface.h>
#define SEC_MSAN_UNPOISON(p, n) __msan_unpoison((p), (n))
#endif
#endif
#ifndef SEC_MSAN_UNPOISON
#define SEC_MSAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

void sec_wipe(void *p, size_t n)
{
	if (p == NULL || n == 0)
		return;
	explicit_bzero(p, n);
	__asm__ __volatile__("" : : "r"(p) : "memory");
	SEC_MSAN_UNPOISON(p, n);
}

void sec_freezero(void *p, size_t n)
{
	if (p == NULL)
		return;
	sec_wipe(p, n);
	free(p);
}

bool ct_memeq(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= (uint8_t)(x[i] ^ y[i]);
	/* acc == 0 -> 1, else 0, without a data-dependent branch */
	return (bool)(1 & ((uint32_t)(acc - 1) >> 8));
}

/* ---- locked allocations ---------------------------------------------------- */

#define SEC_MAX_BLOCKS 1024

struct sec_block {
	void *map;      /* mmap base */
	size_t maplen;  /* page-rounded length */
};

/* The one mutable file-scope state in board/: the registry of locked secret blocks,
 * needed so sec_wipe_all can reach every secret from a fatal handler. */
static pthread_mutex_t sec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sec_block sec_blocks[SEC_MAX_BLOCKS];
static size_t sec_bytes;

static size_t sec_round(size_t n)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t page = pg > 0 ? (size_t)pg : 4096u;
	if (n > SIZE_MAX - (page - 1))
		return 0;
	return (n + page - 1) / page * page;
}

cf_err sec_alloc(size_t n, void **out)
{
	if (out == NULL)
		return CF_E_INVALID_ARG;
	*out = NULL;
	if (n == 0)
		return CF_E_INVALID_ARG;
	size_t maplen = sec_round(n);
	if (maplen == 0)
		return CF_E_NOMEM;
	void *m = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return CF_E_NOMEM;
	if (mlock(m, maplen) != 0) {
		munmap(m, maplen);
		return CF_E_NOMEM;
	}
	if (madvise(m, maplen, MADV_DONTDUMP) != 0) {
		munlock(m, maplen);
		munmap(m, maplen);
		return CF_E_NOMEM;
	}
	pthread_mutex_lock(&sec_lock);
	size_t i;
	for (i = 0; i < SEC_MAX_BLOCKS; i++)
		if (sec_blocks[i].map == NULL)
			break;
	if (i == SEC_MAX_BLOCKS) {
		pthread_mutex_unlock(&sec_lock);
		munlock(m, maplen);
		munmap(m, maplen);
		return CF_E_NOMEM;
	}
	sec_blocks[i].map = m;
	sec_blocks[i].maplen = maplen;
	sec_bytes += maplen;
	pthread_mutex_unlock(&sec_lock);
	*out = m;
	return CF_OK;
}

void sec_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	size_t maplen = 0;
	pthread_mutex_lock(&sec_lock);
	for (size_t i = 0; i < SEC_MAX_BLOCKS; i++) {
		if (sec_blocks[i].map == p) {
			maplen = sec_blocks[i].maplen;
			sec_blocks[i].map = NULL;
			sec_blocks[i].maplen = 0;
			sec_bytes -= maplen;
			break;
		}
	}
	pthread_mutex_unlock(&sec_lock);
	if (maplen == 0 || n > maplen)
		abort(); /* not a sec_alloc block, or a size larger than allocated: corrupt invariant */
	sec_wipe(p, maplen);
	munlock(p, maplen);
	munmap(p, maplen);
}

void sec_wipe_all(void)
{
	/* No lock: may run from a fatal signal handler; wiping a block twice is harmless. */
	for (size_t i = 0; i < SEC_MAX_BLOCKS; i++) {
		void *m = sec_blocks[i].map;
		if (m != NULL)
			sec_wipe(m, sec_blocks[i].maplen);
	}
}

size_t sec_in_use(void)
{
	pthread_mutex_lock(&sec_lock);
	size_t n = sec_bytes;
	pthread_mutex_unlock(&sec_lock);
	return n;
}

cf_err sec_harden_process(void)
{
	struct rlimit rl = { 0, 0 };
	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		return CF_E_INTERNAL;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return CF_E_INTERNAL;
	return CF_OK;
}

cf_err sec_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return CF_E_IO;
		p += r;
		n -= (size_t)r;
	}
	return CF_OK;
}
