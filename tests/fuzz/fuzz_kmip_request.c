/* Target: kmip_decode_request kmip_encode_request kmip_decode_response kmip_encode_response
 *         kmip_result_for (kmip/kmip.h, over ttlv_rd_* / ttlv_wr_*)
 *
 * The input is decoded as a Request Message; on success it is re-encoded into an exact-size
 * heap buffer and must equal the input byte for byte, except that the message header's fields,
 * which the decoder takes in any order, come out in the specification's order: the header must
 * then hold the same items, byte for byte (then one byte less must fail with CF_E_NO_SPACE). The same input is then decoded as a Response Message with the same rule.
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

/* The items of a structure's value v[0..n) (its children, in order): 0 = well formed. */
#define MAX_HDR_ITEMS 64
struct span {
	const uint8_t *p;
	size_t n;
};

static int children(const uint8_t *v, size_t n, struct span *out, size_t *count)
{
	size_t off = 0, k = 0;
	while (off < n) {
		if (n - off < 8 || k == MAX_HDR_ITEMS)
			return -1;
		size_t len = (size_t)v[off + 4] << 24 | (size_t)v[off + 5] << 16 |
			     (size_t)v[off + 6] << 8 | v[off + 7];
		size_t total = 8 + ((len + 7) & ~(size_t)7);
		if (total > n - off)
			return -1;
		out[k++] = (struct span){ v + off, total };
		off += total;
	}
	*count = k;
	return 0;
}

/* a and b (same size) are equal but for the order of the items of the message header (the
 * first child of the top-level structure). */
static bool same_but_header_order(const uint8_t *a, const uint8_t *b, size_t size)
{
	if (size < 16 || memcmp(a, b, 16) != 0)
		return false;
	size_t hlen = (size_t)a[12] << 24 | (size_t)a[13] << 16 | (size_t)a[14] << 8 | a[15];
	if (hlen > size - 16 || memcmp(a + 16 + hlen, b + 16 + hlen, size - 16 - hlen) != 0)
		return false;
	static struct span sa[MAX_HDR_ITEMS], sb[MAX_HDR_ITEMS];
	size_t na, nb;
	if (children(a + 16, hlen, sa, &na) != 0 || children(b + 16, hlen, sb, &nb) != 0 || na != nb)
		return false;
	bool used[MAX_HDR_ITEMS] = { false };
	for (size_t i = 0; i < na; i++) {
		size_t j = 0;
		while (j < nb && (used[j] || sb[j].n != sa[i].n || memcmp(sb[j].p, sa[i].p, sa[i].n) != 0))
			j++;
		if (j == nb)
			return false;
		used[j] = true;
	}
	return true;
}

/* Re-encode: exact size must reproduce the input (header fields in canonical order); one byte
 * less must be refused. */
#define ROUND_TRIP(encode, msg) do { \
	uint8_t *out_ = malloc(size); \
	ttlv_wr w_; \
	if (out_ == NULL) \
		abort(); \
	ttlv_wr_init(&w_, out_, size); \
	if (encode(&w_, (msg)) != CF_OK || ttlv_wr_len(&w_) != size || \
	    (memcmp(out_, data, size) != 0 && !same_but_header_order(out_, data, size))) \
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
