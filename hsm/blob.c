/* The wrapped-blob header: parsing and serialising, nothing else (no HSM, no allocation), so
 * that it can be fuzzed on its own (tests/fuzz/fuzz_hsm_blob.c). Blobs come back from SQLite:
 * untrusted input. Layout in wrap.c. Bounds: the length check subtracts from n, never adds to
 * dek_len. */
#include <string.h>

#include "hsm/hsm.h"

#define BLOB_MAGIC "CFKW"
#define BLOB_NONCE_N 12u
#define BLOB_TAG_N 16u

static uint32_t be32_get(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

cf_err hsm_blob_parse(const uint8_t *blob, size_t n, struct hsm_blob_hdr *out)
{
	if (out == NULL)
		return CF_E_INVALID_ARG;
	memset(out, 0, sizeof *out);
	if (blob == NULL || n < HSM_BLOB_HDR_LEN + BLOB_NONCE_N + BLOB_TAG_N)
		return CF_E_HSM_BLOB;
	if (memcmp(blob, BLOB_MAGIC, 4) != 0 || blob[4] != HSM_BLOB_FORMAT ||
	    (blob[5] != HSM_BLOB_MECH_AES_GCM && blob[5] != HSM_BLOB_MECH_KWP_GCM) ||
	    blob[6] != 0 || blob[7] != 0)
		return CF_E_HSM_BLOB;
	uint32_t kv = be32_get(blob + 8), dl = be32_get(blob + 12);
	if (kv == 0 || dl == 0 || dl > HSM_DEK_MAX)
		return CF_E_HSM_BLOB;
	/* RFC 5649 output: whole 64-bit blocks, at least two */
	if (blob[5] == HSM_BLOB_MECH_KWP_GCM && (dl % 8u != 0 || dl < 16u))
		return CF_E_HSM_BLOB;
	if (n - (HSM_BLOB_HDR_LEN + BLOB_NONCE_N + BLOB_TAG_N) != dl)
		return CF_E_HSM_BLOB;
	out->format = blob[4];
	out->mech = blob[5];
	out->reserved = 0;
	out->kek_version = kv;
	out->dek_len = dl;
	return CF_OK;
}

void hsm_blob_hdr_write(const struct hsm_blob_hdr *hdr, uint8_t out[HSM_BLOB_HDR_LEN])
{
	memcpy(out, BLOB_MAGIC, 4);
	out[4] = hdr->format;
	out[5] = hdr->mech;
	out[6] = (uint8_t)(hdr->reserved >> 8);
	out[7] = (uint8_t)hdr->reserved;
	be32_put(out + 8, hdr->kek_version);
	be32_put(out + 12, hdr->dek_len);
}

cf_err hsm_blob_info_get(const uint8_t *blob, size_t n, struct hsm_blob_info *out)
{
	if (out == NULL)
		return CF_E_INVALID_ARG;
	memset(out, 0, sizeof *out);
	struct hsm_blob_hdr h;
	TRY(hsm_blob_parse(blob, n, &h));
	out->format = h.format;
	out->mech = h.mech;
	out->kek_version = h.kek_version;
	out->dek_len = h.dek_len;
	return CF_OK;
}
