/* Target: kmip_decode_request kmip_encode_request kmip_decode_response kmip_encode_response
 *         kmip_result_for (kmip/kmip.h, over ttlv_rd_* / ttlv_wr_*)
 *
 * The input is decoded as a Request Message; on success it is re-encoded into an exact-size
 * heap buffer and must equal the input byte for byte (then one byte less must fail with
 * CF_E_NO_SPACE). The same input is then decoded as a Response Message with the same rule.
 * On failure the error report must agree with the return code and map to a failure Result
 * Status. Any violation calls abort(). Deterministic: no globals, time or randomness; the
 * arena is a fresh heap buffer per input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kmip/kmip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARENA_SIZE (96u * 1024u) /* < 128 KiB: ASan primary allocator, no mmap per input */

static void check_failure(cf_err rc, const struct kmip_decode_error *e)
{
	uint32_t status = 0, reason = 0;

	if (rc >= CF_OK || e->rc != rc)
		abort();
	if (rc == CF_E_INTERNAL || rc == CF_E_INVALID_ARG)
		abort(); /* hostile input must give an input error, never an internal one */
	kmip_result_for(rc, &status, &reason);
	if (status == 0)
		abort(); /* a failure must never map to Success */
}

static bool view_ok(const void *p, size_t n, const uint8_t *data, size_t size)
{
	const uint8_t *v = p;
	if (v == NULL)
		return n == 0;
	return v >= data && (size_t)(v - data) <= size && n <= size - (size_t)(v - data);
}

/* Re-encode: exact size must reproduce the input; one byte less must be refused. */
#define ROUND_TRIP(encode, msg) do { \
	uint8_t *out_ = malloc(size); \
	ttlv_wr w_; \
	if (out_ == NULL) \
		abort(); \
	ttlv_wr_init(&w_, out_, size); \
	if (encode(&w_, (msg)) != CF_OK || ttlv_wr_len(&w_) != size || \
	    memcmp(out_, data, size) != 0) \
		abort(); \
	ttlv_wr_init(&w_, out_, size - 1); \
	if (encode(&w_, (msg)) != CF_E_NO_SPACE) \
		abort(); \
	free(out_); \
} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	struct kmip_arena a;
	struct kmip_decode_error e;
	uint8_t *abuf = malloc(ARENA_SIZE);

	if (abuf == NULL)
		abort();

	struct kmip_request req;
	kmip_arena_init(&a, abuf, ARENA_SIZE);
	cf_err rc = kmip_decode_request(data, size, &lim, &a, &req, &e);
	if (rc == CF_OK) {
		if (e.rc != CF_OK || req.n_items == 0 || req.n_items > lim.max_batch_items ||
		    req.h.batch_count < 0 || (size_t)req.h.batch_count != req.n_items)
			abort();
		for (size_t i = 0; i < req.n_items; i++)
			if (!view_ok(req.items[i].id.p, req.items[i].id.n, data, size) ||
			    !view_ok(req.items[i].pl.raw.p, req.items[i].pl.raw.n, data, size) ||
			    !view_ok(req.items[i].ext.p, req.items[i].ext.n, data, size))
				abort();
		ROUND_TRIP(kmip_encode_request, &req);
	} else {
		check_failure(rc, &e);
	}

	struct kmip_response rsp;
	kmip_arena_init(&a, abuf, ARENA_SIZE);
	rc = kmip_decode_response(data, size, &lim, &a, &rsp, &e);
	if (rc == CF_OK) {
		if (e.rc != CF_OK || rsp.n_items > lim.max_batch_items ||
		    rsp.h.batch_count < 0 || (size_t)rsp.h.batch_count != rsp.n_items)
			abort();
		ROUND_TRIP(kmip_encode_response, &rsp);
	} else {
		check_failure(rc, &e);
	}
	free(abuf);
	return 0;
}
