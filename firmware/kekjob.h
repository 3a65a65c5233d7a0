/* KEK rotation's background re-wrap (ARCHITECTURE "Process shape": main thread jobs; the
 * console's `kek rotate`; docs/console.md "KEK rotation").
 *
 * After `kek rotate` makes a new KEK current, every object still wrapped under an older KEK
 * is re-wrapped inside the HSM (hsm_rewrap) and its row updated, in small transactions, by
 * one background thread. Progress lives in the store itself (each row's kek_version), so a
 * restart in the middle simply resumes: kek_job_start finds the remaining rows. An old KEK
 * is destroyed only when no row (objects, console accounts) uses it any more and its
 * destruction was asked for (`kek destroy`) or the rotation finished.
 *
 * Owned by firmware/kekjob.c. svc.c starts the job when the service becomes READY and stops
 * it before it tears the HSM or the store down (zeroize, shutdown). */
#ifndef COFFRE_FIRMWARE_KEKJOB_H
#define COFFRE_FIRMWARE_KEKJOB_H

#include <stdbool.h>
#include <stdint.h>

#include "board/err.h"

struct svc;
struct kek_job;

struct kek_job_status {
	uint32_t current;        /* current KEK version */
	uint64_t remaining;      /* objects still wrapped under an older KEK */
	uint64_t done;           /* re-wrapped since this job started */
	bool running;            /* the thread is working (false = idle, nothing to do) */
	cf_err last_error;       /* CF_OK, or why the last batch failed (it is retried) */
};

/* Start the thread (it resumes any unfinished re-wrap at once). */
MUST_USE cf_err kek_job_start(struct svc *svc, struct kek_job **out);
/* Wake it after a rotation. NULL is a no-op. */
void kek_job_kick(struct kek_job *j);
void kek_job_status(struct kek_job *j, struct kek_job_status *out);
/* Stop and join (a batch in flight is finished or rolled back). NULL is a no-op. */
void kek_job_stop(struct kek_job *j);

#endif
