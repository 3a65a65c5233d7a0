/* bench_fill: fill a coffred store with many keys for the Locate benchmark
 * (`make bench`). Benchmark fixture only: links firmware's store, never part of coffred.
 *
 *   bench_fill DB TENANT N ATTR PREFIX MAX_SECONDS
 *
 * Inserts up to N Active AES-256 symmetric-key rows for TENANT into the store at DB (the
 * running coffred's data/store.db: SQLite WAL lets this second connection write while the
 * service is idle), each with the custom attribute ATTR = PREFIX<i> (i zero-padded to 7
 * digits, unique per key), through store_object_insert in transactions of FILL_TX keys.
 * Stops early once MAX_SECONDS have passed, so the caller gets the largest N that fits its
 * time budget. Prints `filled=N secs=S rate=R/s` on stdout; exit 0 when N > 0.
 *
 * The rows carry a dummy wrapped blob (no key material, never unwrapped: Locate reads only
 * the attribute index and the objects table) and no audit records; UIDs are UUID-shaped
 * but ordered (counter in the first 8 hex digits) so the B-trees fill by appending. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "board/err.h"
#include "firmware/store/store.h"
#include "kmip/kmip.h"

#define FILL_TX 20000u
#define FILL_BLOB_LEN 76u   /* AES-256 DEK + hsm/ blob overhead (16 header, 12 nonce, 16 tag) */
#define FILL_VALUE_MAX 96u

static double fill_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fill_usage(void)
{
	fprintf(stderr, "usage: bench_fill DB TENANT N ATTR PREFIX MAX_SECONDS\n");
	return 2;
}

static MUST_USE cf_err fill_one(struct store *st, const char *tenant, const char *attr,
				const char *prefix, unsigned long i, int64_t now,
				const uint8_t *blob)
{
	char value[FILL_VALUE_MAX];
	struct store_object o;
	struct store_attr a;
	int n;

	memset(&o, 0, sizeof o);
	n = snprintf(o.uid, sizeof o.uid, "%08lx-0000-4000-8000-%012lx", i, i);
	if (n < 0 || (size_t)n >= sizeof o.uid)
		return CF_E_INVALID_ARG;
	n = snprintf(value, sizeof value, "%s%07lu", prefix, i);
	if (n < 0 || (size_t)n >= sizeof value)
		return CF_E_INVALID_ARG;
	o.object_type = KMIP_OBJECT_TYPE_SYMMETRIC_KEY;
	o.state = STORE_STATE_ACTIVE;
	snprintf(o.tenant, sizeof o.tenant, "%s", tenant);
	snprintf(o.owner, sizeof o.owner, "bench-fill");
	o.kek_version = 1;
	o.wrapped = (uint8_t *)blob;
	o.wrapped_len = FILL_BLOB_LEN;
	o.crypto_alg = KMIP_CRYPTOGRAPHIC_ALGORITHM_AES;
	o.crypto_len = 256;
	o.usage_mask = 12;
	o.created = now;
	o.activation = now;
	o.last_change = now;
	memset(&a, 0, sizeof a);
	a.name = attr;
	a.value_type = TTLV_TEXT_STRING;
	a.v_text = value;
	return store_object_insert(st, &o, &a, 1);
}

int main(int argc, char **argv)
{
	struct store *st = NULL;
	uint8_t blob[FILL_BLOB_LEN];
	unsigned long want, done = 0;
	double max_s, t0, secs;
	char *end;
	cf_err rc = CF_E_INTERNAL;

	if (argc != 7)
		return fill_usage();
	errno = 0;
	want = strtoul(argv[3], &end, 10);
	if (errno != 0 || *end != '\0' || want == 0 || want > 100000000ul)
		return fill_usage();
	max_s = strtod(argv[6], &end);
	if (*end != '\0' || !(max_s > 0.0))
		return fill_usage();
	if (strlen(argv[2]) > STORE_TENANT_MAX || strlen(argv[4]) > STORE_NAME_MAX ||
	    strlen(argv[5]) > FILL_VALUE_MAX - 16)
		return fill_usage();
	memset(blob, 0xa5, sizeof blob);

	t0 = fill_now();
	if ((rc = store_open(argv[1], NULL, &st)) != CF_OK) {
		fprintf(stderr, "bench_fill: cannot open %s: %s\n", argv[1], cf_err_str(rc));
		return 1;
	}
	int64_t now = (int64_t)time(NULL);
	while (done < want && fill_now() - t0 < max_s) {
		unsigned long stop = want - done > FILL_TX ? done + FILL_TX : want;
		if ((rc = store_tx_begin(st)) != CF_OK)
			goto out;
		for (unsigned long i = done; i < stop; i++) {
			if ((rc = fill_one(st, argv[2], argv[4], argv[5], i, now, blob)) != CF_OK) {
				store_tx_rollback(st);
				goto out;
			}
		}
		if ((rc = store_tx_commit(st)) != CF_OK)
			goto out;
		done = stop;
	}
	rc = store_checkpoint(st);
	if (rc == CF_E_AGAIN)
		rc = CF_OK;          /* a reader held the WAL: the service checkpoints later */
out:
	if (rc != CF_OK)
		fprintf(stderr, "bench_fill: stopped after %lu keys: %s\n", done, cf_err_str(rc));
	store_close(st);
	secs = fill_now() - t0;
	printf("filled=%lu secs=%.1f rate=%.0f/s\n", done, secs, secs > 0.0 ? (double)done / secs : 0.0);
	return done > 0 ? 0 : 1;
}
