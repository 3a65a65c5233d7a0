/* Target: hsm_blob_parse hsm_blob_hdr_write (hsm/blob.c)
 * Wrapped-key blobs come back from SQLite: untrusted bytes. Parse; if the header parses,
 * re-serialise it and compare with the input's first 16 bytes, and check the length law
 * (n == 16 + 12 + dek_len + 16). Deterministic: no RNG, no time, no globals. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/hsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsm_blob_hdr h;
	cf_err rc = hsm_blob_parse(data, size, &h);
	if (rc != CF_OK) {
		if (rc != CF_E_HSM_BLOB)
			abort(); /* the only error for malformed bytes */
		struct hsm_blob_hdr zero;
		memset(&zero, 0, sizeof zero);
		if (memcmp(&h, &zero, sizeof h) != 0)
			abort(); /* zeroed on error */
		return 0;
	}
	uint8_t re[HSM_BLOB_HDR_LEN];
	hsm_blob_hdr_write(&h, re);
	if (size < HSM_BLOB_HDR_LEN || memcmp(re, data, HSM_BLOB_HDR_LEN) != 0)
		abort();
	if (h.format != HSM_BLOB_FORMAT ||
	    (h.mech != HSM_BLOB_MECH_AES_GCM && h.mech != HSM_BLOB_MECH_KWP_GCM) ||
	    h.reserved != 0 || h.kek_version == 0 || h.dek_len == 0 || h.dek_len > HSM_DEK_MAX)
		abort();
	if (h.mech == HSM_BLOB_MECH_KWP_GCM && (h.dek_len % 8 != 0 || h.dek_len < 16))
		abort();
	if (size != (size_t)h.dek_len + HSM_BLOB_OVERHEAD)
		abort();
	struct hsm_blob_info bi;
	if (hsm_blob_info_get(data, size, &bi) != CF_OK || bi.kek_version != h.kek_version ||
	    bi.dek_len != h.dek_len)
		abort();
	return 0;
}
