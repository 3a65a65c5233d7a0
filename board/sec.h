/* Secret-handling primitives shared by every module. */
#ifndef COFFRE_BOARD_SEC_H
#define COFFRE_BOARD_SEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "err.h"

/* Wipe n bytes in a way the compiler cannot elide. NULL or n == 0 is a no-op. */
void sec_wipe(void *p, size_t n);

/* Locked, non-dumpable allocation: mmap + mlock + MADV_DONTDUMP, zero-filled.
 * Fails (returns CF_E_NOMEM) if any step fails, including mlock. */
MUST_USE cf_err sec_alloc(size_t n, void **out);
/* Wipe then release a sec_alloc block; NULL is a no-op. n must be the size allocated. */
void sec_free(void *p, size_t n);
/* Wipe every live sec_alloc block (fatal paths, zeroize). Async-signal-safe. */
void sec_wipe_all(void);
/* Bytes currently held in sec_alloc blocks (for tests and status). */
size_t sec_in_use(void);

/* n bytes from the kernel's generator (getrandom(2), retried when short or interrupted): the
 * one way the tree draws random bytes outside the HSM. CF_E_IO when the kernel refuses. */
MUST_USE cf_err sec_random(void *buf, size_t n);

/* wipe + free for ordinary heap buffers that held secrets */
void sec_freezero(void *p, size_t n);

/* Constant-time equality: true when the n bytes are equal. Time depends only on n. */
MUST_USE bool ct_memeq(const void *a, const void *b, size_t n);

/* Process hardening for secrets: RLIMIT_CORE 0 and PR_SET_DUMPABLE 0. */
MUST_USE cf_err sec_harden_process(void);

#endif
