/* Target: ttlv_msg_len ttlv_rd_* ttlv_wr_* (kmip/ttlv_rd.c, kmip/ttlv_wr.c)
 *
 * Raw recursive tree walk of the input with the reader, twice: once with ttlv_rd_next and
 * once with the typed getters (which must agree with next item by item). When the walk
 * succeeds, the tree is re-encoded with the typed writer into an exact-size heap buffer and
 * must equal the input byte for byte; one byte less must fail with CF_E_NO_SPACE. Any
 * disagreement, or an error outside the parse block, calls abort(). Deterministic: no
 * globals, no time, no randomness. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kmip/ttlv.h"
#include "tests/fuzz/ttlv_walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parse_err(cf_err rc)
{
	if (rc == CF_OK)
		return;
	if (rc > CF_OK || rc < -31)
		abort(); /* only parse errors may come out of the reader */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	size_t total = 0;

	lim.max_bytes = 4096; /* so that "over the cap" is reachable with small inputs */

	/* the header check sees only the first 8 bytes */
	cf_err mrc = ttlv_msg_len(data, size, 0, &lim, &total);
	check_parse_err(mrc);
	if (mrc == CF_OK && (total < TTLV_HDR_LEN || total > lim.max_message || (total & 7u) != 0))
		abort();

	uint8_t *out = malloc(size ? size : 1);
	if (out == NULL)
		abort();
	ttlv_wr w;
	ttlv_wr_init(&w, out, size);
	struct ttlv_walk wk = { .w = &w };
	cf_err rc = ttlv_walk(data, size, &lim, &wk);
	check_parse_err(rc);

	/* the typed getters must give the same verdict */
	struct ttlv_walk tk = { .typed = true };
	cf_err trc = ttlv_walk(data, size, &lim, &tk);
	if (trc != rc || (rc == CF_OK && tk.items != wk.items))
		abort();

	if (rc == CF_OK) {
		if (wk.wr_rc != CF_OK || ttlv_wr_len(&w) != size || memcmp(out, data, size) != 0)
			abort();
		if (mrc == CF_OK && data[3] == TTLV_STRUCTURE && total > size)
			abort(); /* a complete walk means the outer length fit */
		/* one byte short: the writer must refuse, never overrun */
		ttlv_wr_init(&w, out, size - 1);
		struct ttlv_walk sk = { .w = &w };
		if (ttlv_walk(data, size, &lim, &sk) != CF_OK || sk.wr_rc != CF_E_NO_SPACE)
			abort();
	}
	free(out);
	return 0;
}
