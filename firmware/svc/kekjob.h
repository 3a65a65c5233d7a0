/* KEK rotation's background re-wrap (docs/architecture.md "Process shape": main thread jobs; the
 * console's `kek rotate`; docs/console.md "KEK rotation").
 *
 * After `kek rotate` makes a new KEK current, every object still wrapped under an older KEK
 * is re-wrapped inside the HSM (hsm_rewrap) and its row updated, in small transactions, by
 * one background thread. Progress lives in the store itself (each row's kek_version), so a
 * restart in the middle simply resumes: kek_job_start finds the remaining rows. Each row is
 * updated only if it still holds the blob the job read (same kek_version, not destroyed), so
 * a concurrent Destroy or state change is never overwritten.
 *
 * The job never destroys a KEK: an old KEK goes only with `kek destroy V`, which refuses
 * while any row still uses V or V is current (a backup taken before the rotation may still
 * need it, so the operator decides when).
 *
 * Owned by firmware/svc/kekjob.c. svc.c starts the job when the service becomes READY and stops
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
	uint64_t failed;         /* objects the last pass could not re-wrap (blob corrupt, its
	                            KEK gone): left as they are, retried at the next pass */
	bool running;            /* the thread is working (false = idle, nothing to do) */
	cf_err last_error;       /* CF_OK, or why the last batch failed (it is retried) */
	int64_t last_error_at;   /* CLOCK_REALTIME seconds of last_error, 0 = none */
};

/* Tuning; zero = defaults. */
struct kek_job_opts {
	unsigned batch;          /* objects per transaction; 0 = 64 (max 1024) */
	unsigned pause_ms;       /* pause between batches so KMIP writers get the write lock
	                            (0 = 5 ms). Under COFFRE_TEST_HOOKS the environment variable
	                            COFFRE_TEST_REWRAP_DELAY_MS overrides it (restart tests). */
	unsigned recheck_s;      /* idle: look again this often for rows wrapped under an old KEK
	                            (a KMIP Create that wrapped just before a rotation commits
	                            after the pass); 0 = 60 */
};

/* Start the thread (it resumes any unfinished re-wrap at once). Uses svc->hsm and its own
 * store connection to svc->store_path. */
MUST_USE cf_err kek_job_start(struct svc *svc, struct kek_job **out);
/* The same with tuning (tests); opts may be NULL. */
MUST_USE cf_err kek_job_start_opts(struct svc *svc, const struct kek_job_opts *opts,
				   struct kek_job **out);
/* Wake it after a rotation. NULL is a no-op. */
void kek_job_kick(struct kek_job *j);
void kek_job_status(struct kek_job *j, struct kek_job_status *out);
/* Stop and join (a batch in flight is finished or rolled back). NULL is a no-op. */
void kek_job_stop(struct kek_job *j);

#endif
