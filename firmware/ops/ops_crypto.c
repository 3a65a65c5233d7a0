/* Cryptographic services (KMIP 1.4 sections 4.29-4.35, 2.0 6.1.18 ff.): Encrypt, Decrypt,
 * Sign, Signature Verify, MAC, MAC Verify with a managed key, and Hash, RNG Retrieve, RNG Seed.
 * Each keyed operation is one object load, the policy checks (tenant, state, Cryptographic
 * Usage Mask, Process Start / Protect Stop Date, Usage Limits), the KMIP Cryptographic
 * Parameters mapped to one hsm_cs_run job (the key is opened in the HSM from its blob and
 * destroyed there: its plaintext never reaches this process) and, for a key with Usage Limits,
 * the count written back. docs/kmip-server.md "Cryptographic services".
 *
 * Streaming (Init Indicator / Final Indicator / Correlation Value) is stateless: the
 * Correlation Value the server answers is a sealed state (AES-256-GCM under a per-process
 * random key in locked memory, bound to the tenant) holding the key's uid, the operation, the
 * mechanism and the chaining value (CBC / CTR / ECB: hsm_cs_next_iv), or for GCM the data
 * seen so far (at most HSM_CS_DATA_MAX bytes in all).
 *
 *= kmip-spec-v1.4 section 3.22: [Deactivated] The object SHALL NOT be used for applying
 *# cryptographic protection [...] The object SHALL only be used to process cryptographically
 *# protected information (e.g., decryption, signature verification, unwrapping, MAC
 *# verification under extraordinary circumstances and when special permission is granted. */
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "board/sec.h"
#include "firmware/ops/ops_int.h"
#include "kmip/kmip_wrap.h"

#define ROW_CRYPTO_PARAMS "Cryptographic Parameters"
#define ROW_USAGE_LIMITS "Usage Limits"
#define ROW_PROCESS_START "Process Start Date"
#define ROW_PROTECT_STOP "Protect Stop Date"

#define CS_OUT_SLACK 64u      /* padding, tag: beside the data */
#define CS_ASYM_OUT 1024u     /* RSA 4096 signature / ciphertext, DER ECDSA, MAC */
#define CS_RNG_MAX (64u << 10)
#define CS_SEED_MAX 4096u
#define CS_IV_MAX 64u         /* IV / nonce kept in a Correlation Value */

/* ---- the operations ------------------------------------------------------------------- */

struct cs_op {
	uint32_t op;               /* KMIP Operation */
	enum hsm_cs_op hop;
	uint32_t mask;             /* the Cryptographic Usage Mask bit it needs */
	bool process;              /* processes protected data: allowed when Deactivated or
				    * Compromised (3.22); Process Start Date applies, else Protect
				    * Stop Date */
};

static const struct cs_op cs_ops[] = {
	{ KMIP_OPERATION_ENCRYPT, HSM_CS_ENCRYPT, KMIP_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT, false },
	{ KMIP_OPERATION_DECRYPT, HSM_CS_DECRYPT, KMIP_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT, true },
	{ KMIP_OPERATION_SIGN, HSM_CS_SIGN, KMIP_CRYPTOGRAPHIC_USAGE_MASK_SIGN, false },
	{ KMIP_OPERATION_SIGNATURE_VERIFY, HSM_CS_VERIFY, KMIP_CRYPTOGRAPHIC_USAGE_MASK_VERIFY, true },
	{ KMIP_OPERATION_MAC, HSM_CS_MAC, KMIP_CRYPTOGRAPHIC_USAGE_MASK_MAC_GENERATE, false },
	{ KMIP_OPERATION_MAC_VERIFY, HSM_CS_MAC_VERIFY, KMIP_CRYPTOGRAPHIC_USAGE_MASK_MAC_VERIFY,
	  true },
};

static cf_err unsupported(const struct ops_req *r, struct ops_item *it, const char *msg)
{
	return ops_fail(it, CF_E_BAD_VALUE,
			ops_why(r, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
			    KMIP_RESULT_REASON_UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS), msg);
}

static cf_err invalid_msg(struct ops_item *it, const char *msg)
{
	return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_INVALID_MESSAGE, msg);
}

static cf_err invalid_field(struct ops_item *it, const char *msg)
{
	return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD, msg);
}

/* ---- the key's policy ----------------------------------------------------------------- */


cf_err ops_cs_rows_load(struct ops_req *r, const char *uid, struct ops_cs_rows *k)
{
	const char *names[4] = { ROW_CRYPTO_PARAMS, ROW_USAGE_LIMITS, ROW_PROCESS_START,
				 ROW_PROTECT_STOP };
	memset(k, 0, sizeof *k);
	TRY(store_attr_get(r->w->st, r->who.tenant, uid, names, 4, &k->l));
	for (size_t i = 0; i < k->l.n; i++) {
		const struct store_attr *a = &k->l.a[i];
		if (strcmp(a->name, ROW_CRYPTO_PARAMS) == 0 && a->v_blob != NULL &&
		    (k->params == NULL || a->index < k->params->index))
			k->params = a;
		else if (strcmp(a->name, ROW_USAGE_LIMITS) == 0 && a->v_blob != NULL)
			k->limits = a;
		else if (strcmp(a->name, ROW_PROCESS_START) == 0 && a->has_int) {
			k->has_process_start = true;
			k->process_start = a->v_int;
		} else if (strcmp(a->name, ROW_PROTECT_STOP) == 0 && a->has_int) {
			k->has_protect_stop = true;
			k->protect_stop = a->v_int;
		}
	}
	return CF_OK;
}

/* The Usage Limits structure's values. */
struct cs_limits {
	bool has_total, has_count, has_unit;
	int64_t total, count;
	uint32_t unit;
};

static int64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static void limits_read(const struct store_attr *a, struct cs_limits *u)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	ttlv_rd rd;
	struct ttlv_item ti;

	memset(u, 0, sizeof *u);
	ttlv_rd_init(&rd, a->v_blob, a->v_blob_len, &lim);
	while (!ttlv_rd_done(&rd) && ttlv_rd_next(&rd, &ti) == CF_OK) {
		if (ti.type == TTLV_LONG_INTEGER && ti.len == 8 &&
		    ti.tag == KMIP_TAG_USAGE_LIMITS_TOTAL) {
			u->has_total = true;
			u->total = be64(ti.val);
		} else if (ti.type == TTLV_LONG_INTEGER && ti.len == 8 &&
			   ti.tag == KMIP_TAG_USAGE_LIMITS_COUNT) {
			u->has_count = true;
			u->count = be64(ti.val);
		} else if (ti.type == TTLV_ENUMERATION && ti.len == 4 &&
			   ti.tag == KMIP_TAG_USAGE_LIMITS_UNIT) {
			u->has_unit = true;
			u->unit = (uint32_t)ti.val[0] << 24 | (uint32_t)ti.val[1] << 16 |
				  (uint32_t)ti.val[2] << 8 | ti.val[3];
		}
	}
}

/* The units one use of n bytes costs under u. */
static int64_t limits_cost(const struct cs_limits *u, size_t n)
{
	if (u->has_unit && u->unit == KMIP_USAGE_LIMITS_UNIT_BYTE)
		return (int64_t)n;
	return 1;
}

/* Usage Limits: refuse when what is left does not cover `cost`, else write the count down
 * (inside the item's write transaction: a failure later rolls it back). */
cf_err ops_cs_limits_take(struct ops_req *r, struct ops_item *it, const char *uid,
			  const struct store_attr *a, size_t n)
{
	struct cs_limits u;

	limits_read(a, &u);
	if (!u.has_count && !u.has_total)
		return CF_OK;
	return ops_cs_limits_take_units(r, it, uid, a, limits_cost(&u, n));
}

cf_err ops_cs_limits_take_units(struct ops_req *r, struct ops_item *it, const char *uid,
				const struct store_attr *a, int64_t cost)
{
	struct cs_limits u;
	uint8_t buf[64];
	ttlv_wr w;

	limits_read(a, &u);
	if (!u.has_count && !u.has_total)
		return ops_fail(it, CF_E_BAD_ATTR,
				ops_why(r, KMIP_RESULT_REASON_ILLEGAL_OPERATION,
				    KMIP_RESULT_REASON_ATTRIBUTE_NOT_FOUND),
				"the object has no Usage Limits");
	int64_t left = u.has_count ? u.count : u.total;
	if (left < cost)
		return ops_fail(it, CF_E_PERMISSION,
				ops_why(r, KMIP_RESULT_REASON_PERMISSION_DENIED,
				    KMIP_RESULT_REASON_USAGE_LIMIT_EXCEEDED),
				"Usage Limits exhausted for this key");
	ttlv_wr_init(&w, buf, sizeof buf);
	if (u.has_total)
		TRY(ttlv_wr_long(&w, KMIP_TAG_USAGE_LIMITS_TOTAL, u.total));
	TRY(ttlv_wr_long(&w, KMIP_TAG_USAGE_LIMITS_COUNT, left - cost));
	if (u.has_unit)
		TRY(ttlv_wr_enum(&w, KMIP_TAG_USAGE_LIMITS_UNIT, u.unit));
	void *p;
	TRY(ops_dup(r, buf, ttlv_wr_len(&w), &p));
	struct store_attr na = *a;
	na.v_blob = p;
	na.v_blob_len = ttlv_wr_len(&w);
	return store_attr_modify(r->w->st, r->who.tenant, uid, ROW_USAGE_LIMITS, a->index, &na);
}

/* State, mask and dates of o for a use needing `mask` (process: a use that processes
 * protected data). 1.x answers Permission Denied (the CS-* test cases), 2.0 the precise
 * reason. */
cf_err ops_cs_policy(struct ops_req *r, struct ops_item *it, const struct store_object *o,
		     uint32_t mask, bool process, const struct ops_cs_rows *k)
{
	if (o->state == STORE_STATE_DESTROYED || o->state == STORE_STATE_DESTROYED_COMPROMISED ||
	    o->wrapped == NULL)
		return ops_fail(it, CF_E_NOT_FOUND,
				ops_why(r, KMIP_RESULT_REASON_ITEM_NOT_FOUND,
				    KMIP_RESULT_REASON_OBJECT_DESTROYED), "object destroyed");
	bool ok_state = o->state == STORE_STATE_ACTIVE ||
			(process && (o->state == STORE_STATE_DEACTIVATED ||
				     o->state == STORE_STATE_COMPROMISED));
	if (!ok_state)
		return ops_fail(it, CF_E_STATE,
				ops_why(r, KMIP_RESULT_REASON_PERMISSION_DENIED,
				    KMIP_RESULT_REASON_WRONG_KEY_LIFECYCLE_STATE),
				process ? "key not Active, Deactivated or Compromised"
					: "key not Active");
	if (o->usage_mask != 0 && (o->usage_mask & mask) == 0)
		return ops_fail(it, CF_E_PERMISSION,
				ops_why(r, KMIP_RESULT_REASON_PERMISSION_DENIED,
				    KMIP_RESULT_REASON_INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK),
				"Cryptographic Usage Mask does not allow this operation");
	if (process && k->has_process_start && r->now < k->process_start)
		return ops_fail(it, CF_E_STATE,
				ops_why(r, KMIP_RESULT_REASON_PERMISSION_DENIED,
				    KMIP_RESULT_REASON_WRONG_KEY_LIFECYCLE_STATE),
				"before the key's Process Start Date");
	if (!process && k->has_protect_stop && r->now > k->protect_stop)
		return ops_fail(it, CF_E_STATE,
				ops_why(r, KMIP_RESULT_REASON_PERMISSION_DENIED,
				    KMIP_RESULT_REASON_WRONG_KEY_LIFECYCLE_STATE),
				"after the key's Protect Stop Date");
	return CF_OK;
}

/* ---- Cryptographic Parameters -> the HSM mechanism ------------------------------------ */

enum cs_kind { K_AES, K_HMAC, K_RSA_PUB, K_RSA_PRIV, K_EC_PUB, K_EC_PRIV, K_OTHER };

static enum cs_kind kind_of(const struct store_object *o)
{
	bool ec = o->crypto_alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_EC ||
		  o->crypto_alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_ECDSA;
	switch (o->object_type) {
	case KMIP_OBJECT_TYPE_SYMMETRIC_KEY:
		if (o->crypto_alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_AES)
			return K_AES;
		return ops_hmac_hash_of(o->crypto_alg) != HSM_HASH_NONE ? K_HMAC : K_OTHER;
	case KMIP_OBJECT_TYPE_SECRET_DATA:
		return K_HMAC;
	case KMIP_OBJECT_TYPE_PUBLIC_KEY:
		return o->crypto_alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_RSA ? K_RSA_PUB
		       : ec ? K_EC_PUB : K_OTHER;
	case KMIP_OBJECT_TYPE_PRIVATE_KEY:
		return o->crypto_alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_RSA ? K_RSA_PRIV
		       : ec ? K_EC_PRIV : K_OTHER;
	default:
		return K_OTHER;
	}
}

/* Does a key of kind k serve operation hop at all? */
static bool kind_fits(enum cs_kind k, enum hsm_cs_op hop)
{
	switch (hop) {
	case HSM_CS_ENCRYPT: return k == K_AES || k == K_RSA_PUB;
	case HSM_CS_DECRYPT: return k == K_AES || k == K_RSA_PRIV;
	case HSM_CS_SIGN: return k == K_RSA_PRIV || k == K_EC_PRIV;
	case HSM_CS_VERIFY: return k == K_RSA_PUB || k == K_EC_PUB;
	case HSM_CS_MAC:
	case HSM_CS_MAC_VERIFY: return k == K_AES || k == K_HMAC;
	}
	return false;
}

/* Digital Signature Algorithm -> mechanism and hash. */
static bool dsa_map(uint32_t dsa, enum hsm_cs_mech *mech, enum hsm_hash *h)
{
	switch (dsa) {
	case KMIP_DIGITAL_SIGNATURE_ALGORITHM_SHA_1_WITH_RSA_ENCRYPTION:
		*mech = HSM_CS_RSA_PKCS1, *h = HSM_HASH_SHA1; return true;
	case KMIP_DIGITAL_SIGNATURE_ALGORITHM_SHA_224_WITH_RSA_ENCRYPTION:
		*mech = HSM_CS_RSA_PKCS1, *h = HSM_HASH_SHA224; return true;
	case KMIP_DIGITAL_SIGNATURE_ALGORITHM_SHA_256_WITH_RSA_ENCRYPTION:
		*mech = HSM_CS_RSA_PKCS1, *h = HSM_HASH_SHA256; return true;
	case KMIP_DIGITAL_SIGNATURE_ALGORITHM_SHA_384_WITH_RSA_ENCRYPTION:
		*mech = HSM_CS_RSA_PKCS1, *h = HSM_HASH_SHA384; return true;
	case KMIP_DIGITAL_SIGNATURE_ALGORITHM_SHA_512_WITH_RSA_ENCRYPTION:
		*mech = HSM_CS_RSA_PKCS1, *h = HSM_HASH_SHA512; return true;
	case KMIP_DIGITAL_SIGNATURE_ALGORITHM_RSASSA_PSS:
		*mech = HSM_CS_RSA_PSS, *h = HSM_HASH_NONE; return true;
	case KMIP_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA_1:
		*mech = HSM_CS_ECDSA, *h = HSM_HASH_SHA1; return true;
	case KMIP_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA224:
		*mech = HSM_CS_ECDSA, *h = HSM_HASH_SHA224; return true;
	case KMIP_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA256:
		*mech = HSM_CS_ECDSA, *h = HSM_HASH_SHA256; return true;
	case KMIP_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA384:
		*mech = HSM_CS_ECDSA, *h = HSM_HASH_SHA384; return true;
	case KMIP_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA512:
		*mech = HSM_CS_ECDSA, *h = HSM_HASH_SHA512; return true;
	default:
		return false;
	}
}

/* What the mapping decided beside the hsm parameters. */
struct cs_plan {
	struct hsm_cs_params p;
	bool gen_iv;          /* the server makes the IV / nonce (iv_n bytes) and answers it */
	bool streamable;      /* a block-state mode (CBC, CTR, ECB) */
};

cf_err ops_cs_aes_map(struct ops_req *r, struct ops_item *it, const struct kmip_crypto_params *cp,
		      struct hsm_cs_params *p, bool *streamable)
{
	bool pad = cp->has_padding && cp->padding == KMIP_PADDING_METHOD_PKCS5;

	if (!cp->has_mode)
		return invalid_msg(it, "Block Cipher Mode required for an AES key");
	if (cp->has_padding && cp->padding != KMIP_PADDING_METHOD_PKCS5 &&
	    cp->padding != KMIP_PADDING_METHOD_NONE)
		return unsupported(r, it, "AES Padding Method: PKCS5 or None");
	switch (cp->mode) {
	case KMIP_BLOCK_CIPHER_MODE_GCM:
		if (cp->has_padding && pad)
			return unsupported(r, it, "GCM takes no padding");
		p->mech = HSM_CS_AES_GCM;
		break;
	case KMIP_BLOCK_CIPHER_MODE_CBC:
		p->mech = pad ? HSM_CS_AES_CBC_PAD : HSM_CS_AES_CBC;
		*streamable = true;
		break;
	case KMIP_BLOCK_CIPHER_MODE_CTR:
		if (pad)
			return unsupported(r, it, "CTR takes no padding");
		p->mech = HSM_CS_AES_CTR;
		*streamable = true;
		break;
	case KMIP_BLOCK_CIPHER_MODE_ECB:
		p->mech = pad ? HSM_CS_AES_ECB_PAD : HSM_CS_AES_ECB;
		*streamable = true;
		break;
	default:
		return unsupported(r, it, "Block Cipher Mode: GCM, CBC, CTR or ECB");
	}
	if (p->mech == HSM_CS_AES_GCM) {
		if (cp->has_tag_len && (cp->tag_len < 4 || cp->tag_len > 16))
			/* the GCM test case (CS-BC-M-GCM-1) expects General Failure in 1.x */
			return ops_fail(it, CF_E_BAD_VALUE,
					ops_why(r, KMIP_RESULT_REASON_GENERAL_FAILURE,
					    KMIP_RESULT_REASON_INVALID_FIELD),
					"invalid-tag-length: Tag Length must be 4..16 bytes");
		p->tag_n = cp->has_tag_len ? (size_t)cp->tag_len : 16u;
	}
	if (p->mech == HSM_CS_AES_CTR && cp->has_counter_len) {
		if (cp->counter_len < 1 || cp->counter_len > 128)
			return invalid_field(it, "Counter Length must be 1..128 bits");
		p->ctr_bits = (unsigned)cp->counter_len;
	}
	return CF_OK;
}

static cf_err map_rsa_cipher(struct ops_req *r, struct ops_item *it,
			     const struct kmip_crypto_params *cp, struct hsm_cs_params *p)
{
	if (!cp->has_padding)
		return invalid_msg(it, "Padding Method required for an RSA key (OAEP or PKCS1 v1.5)");
	if (cp->padding == KMIP_PADDING_METHOD_PKCS1_V1_5) {
		p->mech = HSM_CS_RSA_PKCS1;
		return CF_OK;
	}
	if (cp->padding != KMIP_PADDING_METHOD_OAEP)
		return unsupported(r, it, "RSA Padding Method: OAEP or PKCS1 v1.5");
	if (cp->has_mgf && cp->mgf != KMIP_MASK_GENERATOR_MGF1)
		return unsupported(r, it, "Mask Generator: MGF1 only");
	p->mech = HSM_CS_RSA_OAEP;
	/* 1.4 section 3.6: Hashing Algorithm and Mask Generator Hashing Algorithm default to
	 * SHA-1 */
	p->hash = cp->has_hash ? ops_hash_of(cp->hash) : HSM_HASH_SHA1;
	p->mgf_hash = cp->has_mgf_hash ? ops_hash_of(cp->mgf_hash) : HSM_HASH_SHA1;
	if (p->hash == HSM_HASH_NONE || p->mgf_hash == HSM_HASH_NONE)
		return unsupported(r, it, "OAEP hash: SHA-1 or SHA-2");
	if (cp->p_source.p != NULL) {
		p->label = cp->p_source.p;
		p->label_n = cp->p_source.n;
	}
	return CF_OK;
}

static cf_err map_sig(struct ops_req *r, struct ops_item *it, enum cs_kind k,
		      const struct store_object *o, const struct kmip_crypto_params *cp,
		      struct hsm_cs_params *p)
{
	bool ec = k == K_EC_PUB || k == K_EC_PRIV;
	enum hsm_hash h = HSM_HASH_NONE;

	if (cp->has_dsa) {
		if (!dsa_map(cp->dsa, &p->mech, &h))
			return unsupported(r, it, "Digital Signature Algorithm not supported");
	} else if (ec) {
		p->mech = HSM_CS_ECDSA;
	} else if (cp->has_padding && cp->padding == KMIP_PADDING_METHOD_PSS) {
		p->mech = HSM_CS_RSA_PSS;
	} else if (cp->has_padding && cp->padding == KMIP_PADDING_METHOD_PKCS1_V1_5) {
		p->mech = HSM_CS_RSA_PKCS1;
	} else if (cp->has_padding) {
		return unsupported(r, it, "RSA signature Padding Method: PSS or PKCS1 v1.5");
	} else {
		return invalid_msg(it, "Digital Signature Algorithm or Padding Method required");
	}
	if ((p->mech == HSM_CS_ECDSA) != ec)
		return ops_fail(it, CF_E_BAD_OBJECT,
				ops_why(r, KMIP_RESULT_REASON_INVALID_FIELD,
				    KMIP_RESULT_REASON_INVALID_OBJECT_TYPE),
				"Digital Signature Algorithm does not fit the key's algorithm");
	if (h == HSM_HASH_NONE && cp->has_hash)
		h = ops_hash_of(cp->hash);
	else if (h != HSM_HASH_NONE && cp->has_hash && ops_hash_of(cp->hash) != h)
		return invalid_field(it, "Hashing Algorithm contradicts the Digital Signature "
					 "Algorithm");
	if (h == HSM_HASH_NONE && p->mech == HSM_CS_RSA_PSS && !cp->has_hash)
		h = HSM_HASH_SHA256;
	if (h == HSM_HASH_NONE)
		return cp->has_hash ? unsupported(r, it, "signature hash: SHA-1 or SHA-2")
				    : invalid_msg(it, "Hashing Algorithm required");
	p->hash = h;
	if (p->mech == HSM_CS_RSA_PSS) {
		if (cp->has_mgf && cp->mgf != KMIP_MASK_GENERATOR_MGF1)
			return unsupported(r, it, "Mask Generator: MGF1 only");
		p->mgf_hash = cp->has_mgf_hash ? ops_hash_of(cp->mgf_hash) : h;
		if (p->mgf_hash == HSM_HASH_NONE)
			return unsupported(r, it, "PSS mask hash: SHA-1 or SHA-2");
		if (cp->has_salt_len) {
			/* the CS-AC test cases give it in bytes (222 = the largest salt of RSA-2048
			 * with SHA-256) */
			if (cp->salt_len < 0 || cp->salt_len > 1024)
				return invalid_field(it, "Salt Length");
			p->has_salt = true;
			p->salt_n = (size_t)cp->salt_len;
		} else if (o->crypto_len > 0) {
			/* the largest salt for the modulus, as the CS-AC test cases' signatures and
			 * PyKMIP use (emLen - hLen - 2, RFC 8017 9.1.1) */
			size_t em = ((size_t)o->crypto_len + 6) / 8, hl = hsm_hash_len(h);
			if (em > hl + 2) {
				p->has_salt = true;
				p->salt_n = em - hl - 2;
			}
		}
		if (cp->has_trailer && cp->trailer != 1 && cp->trailer != 0xbc)
			return unsupported(r, it, "Trailer Field: the standard one only");
	}
	return CF_OK;
}

static cf_err map_mac(struct ops_req *r, struct ops_item *it, enum cs_kind k,
		      const struct store_object *o, const struct kmip_crypto_params *cp,
		      struct hsm_cs_params *p)
{
	enum hsm_hash h = HSM_HASH_NONE;

	if (cp->has_alg)
		h = ops_hmac_hash_of(cp->alg);
	if (h == HSM_HASH_NONE && k == K_HMAC)
		h = ops_hmac_hash_of(o->crypto_alg);
	if (h == HSM_HASH_NONE && k == K_HMAC && cp->has_hash)
		h = ops_hash_of(cp->hash);
	if (h != HSM_HASH_NONE) {
		p->mech = HSM_CS_HMAC;
		p->hash = h;
		return CF_OK;
	}
	if (k == K_AES && (!cp->has_alg || cp->alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_AES) &&
	    (!cp->has_mode || cp->mode == KMIP_BLOCK_CIPHER_MODE_CMAC)) {
		if (!cp->has_mode && !cp->has_alg)
			return invalid_msg(it, "MAC with an AES key: Block Cipher Mode CMAC or a "
					       "Cryptographic Algorithm HMAC-SHA*");
		p->mech = HSM_CS_CMAC;
		return CF_OK;
	}
	if (k == K_HMAC && !cp->has_alg)
		return invalid_msg(it, "MAC: Cryptographic Algorithm (HMAC-SHA*) required");
	return unsupported(r, it, "MAC: HMAC-SHA-1/224/256/384/512 or CMAC (AES)");
}

/* The request's Cryptographic Parameters, else the key's (lowest Attribute Index; 1.4
 * section 4.29), mapped for operation hop on key o. *plan zeroed first. */
static cf_err params_map(struct ops_req *r, struct ops_item *it, const struct cs_op *cop,
			 const struct store_object *o, const struct kmip_crypt *q,
			 const struct ops_cs_rows *k, struct cs_plan *pl)
{
	struct kmip_crypto_params cp;
	enum cs_kind kd = kind_of(o);

	memset(pl, 0, sizeof *pl);
	memset(&cp, 0, sizeof cp);
	if (q->has_params) {
		if (kmip_crypto_params_decode(q->params, &cp) != CF_OK)
			return invalid_field(it, "Cryptographic Parameters");
	} else if (k->params != NULL) {
		void *cpy;
		TRY(ops_dup(r, k->params->v_blob, k->params->v_blob_len, &cpy));
		if (kmip_crypto_params_decode((struct kmip_bytes){ cpy, k->params->v_blob_len },
					      &cp) != CF_OK)
			return invalid_field(it, "the key's Cryptographic Parameters");
	}
	if (cp.has_alg && cop->hop != HSM_CS_MAC && cop->hop != HSM_CS_MAC_VERIFY &&
	    cp.alg != o->crypto_alg &&
	    !(cp.alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_ECDSA &&
	      o->crypto_alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_EC))
		return invalid_field(it, "Cryptographic Algorithm differs from the key's");
	switch (cop->hop) {
	case HSM_CS_ENCRYPT:
	case HSM_CS_DECRYPT:
		if (kd == K_AES)
			TRY(ops_cs_aes_map(r, it, &cp, &pl->p, &pl->streamable));
		else
			TRY(map_rsa_cipher(r, it, &cp, &pl->p));
		break;
	case HSM_CS_SIGN:
	case HSM_CS_VERIFY:
		TRY(map_sig(r, it, kd, o, &cp, &pl->p));
		break;
	case HSM_CS_MAC:
	case HSM_CS_MAC_VERIFY:
		TRY(map_mac(r, it, kd, o, &cp, &pl->p));
		break;
	}
	/* IV / nonce (block ciphers) */
	struct hsm_cs_params *p = &pl->p;
	bool wants_iv = p->mech == HSM_CS_AES_GCM || p->mech == HSM_CS_AES_CBC ||
			p->mech == HSM_CS_AES_CBC_PAD || p->mech == HSM_CS_AES_CTR;
	if (!wants_iv)
		return CF_OK;
	bool random_iv = cp.has_random_iv && cp.random_iv;
	if (q->iv.p != NULL) {
		if (random_iv && cop->hop == HSM_CS_ENCRYPT)
			return invalid_field(it, "Random IV with an IV/Counter/Nonce");
		p->iv = q->iv.p;
		p->iv_n = q->iv.n;
	} else if (cop->hop == HSM_CS_ENCRYPT &&
		   (random_iv || p->mech == HSM_CS_AES_GCM)) {
		size_t n = p->mech == HSM_CS_AES_GCM ? 12u : 16u;
		if (cp.has_iv_len) {
			if (cp.iv_len <= 0 || cp.iv_len % 8 != 0 ||
			    (size_t)cp.iv_len / 8 > CS_IV_MAX ||
			    (p->mech != HSM_CS_AES_GCM && cp.iv_len != 128))
				return invalid_field(it, "IV Length");
			n = (size_t)cp.iv_len / 8;
		}
		pl->gen_iv = true;
		p->iv_n = n;
	} else if (q->corr.p == NULL) {
		/* the test cases (CS-BC-M-11..13) answer a missing IV with Invalid Message */
		return invalid_msg(it, "missing-iv: IV/Counter/Nonce required");
	}
	return CF_OK;
}

/* ---- Correlation Values: sealed streaming state --------------------------------------- */

static pthread_once_t corr_once = PTHREAD_ONCE_INIT;
static uint8_t *corr_key; /* 32 bytes, sec_alloc (locked, wiped on zeroize), NULL if failed */

static void corr_init(void)
{
	void *p;
	if (sec_alloc(32, &p) != CF_OK)
		return;
	if (getrandom(p, 32, 0) != 32) {
		sec_free(p, 32);
		return;
	}
	corr_key = p;
}

#define CORR_VERSION 1u
#define CORR_NONCE 12u
#define CORR_TAG 16u
/* The state's fixed head (before uid, iv, aad and data). */
struct corr_head {
	uint8_t version, op, mech, tag_n;
	uint8_t uid_n, iv_n, ctr_bits, flags;
	uint32_t aad_n, acc_n;
	uint8_t chain[16];
};
#define CORR_F_GEN_IV 1u

/* AES-256-GCM under the process key; additional data: the tenant. dir 1 = seal. */
static cf_err corr_gcm(int dir, const char *tenant, const uint8_t nonce[CORR_NONCE],
		       const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[CORR_TAG])
{
	EVP_CIPHER_CTX *c;
	int len = 0, ok;
	if (pthread_once(&corr_once, corr_init) != 0 || corr_key == NULL)
		return CF_E_INTERNAL;
	if (n > INT32_MAX || (c = EVP_CIPHER_CTX_new()) == NULL)
		return CF_E_NOMEM;
	ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, corr_key, nonce, dir) == 1 &&
	     EVP_CipherUpdate(c, NULL, &len, (const uint8_t *)tenant, (int)strlen(tenant)) == 1 &&
	     (n == 0 || EVP_CipherUpdate(c, out, &len, in, (int)n) == 1);
	if (ok && dir == 0)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CORR_TAG, tag) == 1;
	if (ok)
		ok = EVP_CipherFinal_ex(c, out + (n == 0 ? 0 : (size_t)len), &len) == 1;
	if (ok && dir == 1)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CORR_TAG, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? CF_OK : CF_E_AUTH;
}

/* An open stream's state, pointing into the arena. */
struct corr_state {
	struct corr_head h;
	const uint8_t *uid;
	const uint8_t *iv;
	const uint8_t *aad;
	const uint8_t *acc;
};

static cf_err corr_seal(struct ops_req *r, const struct corr_state *s, struct kmip_bytes *out)
{
	size_t n = sizeof s->h + s->h.uid_n + s->h.iv_n + s->h.aad_n + s->h.acc_n;
	uint8_t *plain, *sealed;
	void *p;
	TRY(kmip_arena_alloc(&r->w->arena, n, 1, &p));
	plain = p;
	memcpy(plain, &s->h, sizeof s->h);
	size_t off = sizeof s->h;
	memcpy(plain + off, s->uid, s->h.uid_n), off += s->h.uid_n;
	if (s->h.iv_n > 0)
		memcpy(plain + off, s->iv, s->h.iv_n), off += s->h.iv_n;
	if (s->h.aad_n > 0)
		memcpy(plain + off, s->aad, s->h.aad_n), off += s->h.aad_n;
	if (s->h.acc_n > 0)
		memcpy(plain + off, s->acc, s->h.acc_n);
	TRY(kmip_arena_alloc(&r->w->arena, CORR_NONCE + n + CORR_TAG, 1, &p));
	sealed = p;
	if (getrandom(sealed, CORR_NONCE, 0) != CORR_NONCE)
		return CF_E_INTERNAL;
	cf_err rc = corr_gcm(1, r->who.tenant, sealed, plain, n, sealed + CORR_NONCE,
			     sealed + CORR_NONCE + n);
	sec_wipe(plain, n);
	TRY(rc);
	*out = (struct kmip_bytes){ sealed, CORR_NONCE + n + CORR_TAG };
	return CF_OK;
}

static cf_err corr_open(struct ops_req *r, struct ops_item *it, struct kmip_bytes v,
			struct corr_state *s)
{
	const char *msg = "Correlation Value not issued by this server for this client";
	uint32_t reason = ops_why(r, KMIP_RESULT_REASON_INVALID_MESSAGE,
			      KMIP_RESULT_REASON_INVALID_CORRELATION_VALUE);
	void *p;
	if (v.n < CORR_NONCE + sizeof s->h + CORR_TAG)
		return ops_fail(it, CF_E_BAD_VALUE, reason, msg);
	size_t n = v.n - CORR_NONCE - CORR_TAG;
	TRY(kmip_arena_alloc(&r->w->arena, n, 1, &p));
	uint8_t tag[CORR_TAG];
	memcpy(tag, v.p + CORR_NONCE + n, CORR_TAG);
	if (corr_gcm(0, r->who.tenant, v.p, v.p + CORR_NONCE, n, p, tag) != CF_OK)
		return ops_fail(it, CF_E_BAD_VALUE, reason, msg);
	const uint8_t *b = p;
	memcpy(&s->h, b, sizeof s->h);
	size_t need = sizeof s->h + (size_t)s->h.uid_n + s->h.iv_n + (size_t)s->h.aad_n +
		      (size_t)s->h.acc_n;
	if (s->h.version != CORR_VERSION || need != n || s->h.uid_n == 0 ||
	    s->h.uid_n > STORE_UID_MAX)
		return ops_fail(it, CF_E_BAD_VALUE, reason, msg);
	size_t off = sizeof s->h;
	s->uid = b + off, off += s->h.uid_n;
	s->iv = b + off, off += s->h.iv_n;
	s->aad = b + off, off += s->h.aad_n;
	s->acc = b + off;
	return CF_OK;
}

/* ---- the keyed operations ------------------------------------------------------------- */

static const struct cs_op *cs_op_find(uint32_t op)
{
	for (size_t i = 0; i < sizeof cs_ops / sizeof cs_ops[0]; i++)
		if (cs_ops[i].op == op)
			return &cs_ops[i];
	return NULL;
}

static cf_err hsm_refused(struct ops_req *r, struct ops_item *it, cf_err rc)
{
	switch (rc) {
	case CF_E_HSM_CRYPTO:
		return ops_fail(it, rc, KMIP_RESULT_REASON_CRYPTOGRAPHIC_FAILURE,
				"CRYPTO: the data failed its check (tag, padding)");
	case CF_E_HSM_MECH:
		return ops_fail(it, rc, ops_why(r, KMIP_RESULT_REASON_CRYPTOGRAPHIC_FAILURE,
					    KMIP_RESULT_REASON_BAD_CRYPTOGRAPHIC_PARAMETERS),
				"the mechanism does not fit this key (type or size)");
	case CF_E_INVALID_ARG:
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD,
				"a length the mechanism refuses (data not a whole number of blocks, "
				"IV, tag, data too long for the key)");
	default:
		return rc;
	}
}

/* Run one part through the HSM into the arena: *out, res. */
static cf_err cs_exec(struct ops_req *r, struct ops_item *it, const struct store_object *o,
		      enum hsm_cs_op hop, const struct hsm_cs_params *p, const uint8_t *in,
		      size_t n, struct kmip_bytes *out, struct hsm_cs_result *res)
{
	hsm_sess *sess;
	void *buf;
	size_t cap = n + CS_OUT_SLACK < CS_ASYM_OUT ? CS_ASYM_OUT : n + CS_OUT_SLACK;

	TRY(ops_sess(r, &sess));
	TRY(kmip_arena_alloc(&r->w->arena, cap, 1, &buf));
	struct hsm_kw_key k = { o->wrapped, o->wrapped_len,
				{ (const uint8_t *)o->uid, strlen(o->uid), o->object_type } };
	memset(res, 0, sizeof *res);
	cf_err rc = hsm_cs_run(sess, hop, &k, p, in, n, buf, cap, res);
	if (rc != CF_OK)
		return hsm_refused(r, it, rc);
	*out = (struct kmip_bytes){ buf, res->out_n };
	return CF_OK;
}

/* Concatenate a || b in the arena. */
static cf_err cat(struct ops_req *r, const uint8_t *a, size_t an, const uint8_t *b, size_t bn,
		  const uint8_t **out)
{
	void *p;
	TRY(kmip_arena_alloc(&r->w->arena, an + bn + 1, 1, &p));
	if (an > 0)
		memcpy(p, a, an);
	if (bn > 0)
		memcpy((uint8_t *)p + an, b, bn);
	*out = p;
	return CF_OK;
}

/* A streamed GCM part: the state keeps the data seen so far. Encrypt answers each part's
 * ciphertext (GCM's ciphertext of a prefix is the prefix of the ciphertext) and the tag with
 * the last part; Decrypt answers nothing until the last part, then the whole plaintext once
 * the tag verified (no unauthenticated plaintext leaves). */
static cf_err gcm_part(struct ops_req *r, struct ops_item *it, const struct store_object *o,
		       const struct cs_op *cop, struct corr_state *st, const struct kmip_crypt *q,
		       bool final, struct kmip_crypt *s)
{
	struct hsm_cs_params p = { .mech = HSM_CS_AES_GCM, .iv = st->iv, .iv_n = st->h.iv_n,
				   .aad = st->aad, .aad_n = st->h.aad_n, .tag_n = st->h.tag_n };
	const uint8_t *all;
	size_t n_all = (size_t)st->h.acc_n + q->data.n;
	struct hsm_cs_result res;
	struct kmip_bytes out;

	if (n_all > HSM_CS_DATA_MAX)
		return invalid_msg(it, "a GCM stream is at most 64 KiB in all");
	TRY(cat(r, st->acc, st->h.acc_n, q->data.p, q->data.n, &all));
	if (cop->hop == HSM_CS_DECRYPT && !final) {
		s->data = (struct kmip_bytes){ all, 0 };
	} else if (cop->hop == HSM_CS_DECRYPT) {
		if (q->tag.p == NULL)
			return invalid_msg(it, "Authenticated Encryption Tag required");
		if (q->tag.n != st->h.tag_n && !(q->tag.n >= 4 && q->tag.n <= 16))
			return invalid_field(it, "Authenticated Encryption Tag length");
		p.tag = q->tag.p;
		p.tag_n = q->tag.n;
		TRY(cs_exec(r, it, o, cop->hop, &p, all, n_all, &out, &res));
		s->data = out;
	} else {
		TRY(cs_exec(r, it, o, cop->hop, &p, all, n_all, &out, &res));
		s->data = (struct kmip_bytes){ out.p + st->h.acc_n, q->data.n };
		if (final) {
			void *t;
			TRY(ops_dup(r, res.tag, res.tag_n, &t));
			s->tag = (struct kmip_bytes){ t, res.tag_n };
		}
	}
	st->acc = all;
	st->h.acc_n = (uint32_t)n_all;
	return CF_OK;
}

/* A streamed CBC / CTR / ECB part: parts before the last are whole blocks and use the
 * unpadded mechanism; the state keeps the chaining value. */
static cf_err block_part(struct ops_req *r, struct ops_item *it, const struct store_object *o,
			 const struct cs_op *cop, struct corr_state *st, const struct kmip_crypt *q,
			 bool final, struct kmip_crypt *s)
{
	struct hsm_cs_params p = { .mech = (enum hsm_cs_mech)st->h.mech,
				   .ctr_bits = st->h.ctr_bits };
	struct hsm_cs_result res;
	struct kmip_bytes out;

	if (p.mech != HSM_CS_AES_ECB && p.mech != HSM_CS_AES_ECB_PAD) {
		p.iv = st->h.chain;
		p.iv_n = 16;
	}
	if (!final) {
		if (q->data.n % 16 != 0)
			return invalid_msg(it, "streamed parts before the last are whole 16-byte "
					       "blocks");
		if (p.mech == HSM_CS_AES_CBC_PAD)
			p.mech = HSM_CS_AES_CBC;
		else if (p.mech == HSM_CS_AES_ECB_PAD)
			p.mech = HSM_CS_AES_ECB;
	}
	TRY(cs_exec(r, it, o, cop->hop, &p, q->data.p, q->data.n, &out, &res));
	s->data = out;
	if (!final && p.iv != NULL) {
		uint8_t next[16];
		cf_err rc = hsm_cs_next_iv(cop->hop, &p, q->data.p, q->data.n, out.p, out.n, next);
		if (rc != CF_OK)
			return hsm_refused(r, it, rc);
		memcpy(st->h.chain, next, sizeof next);
	}
	return CF_OK;
}

/* The data the operation takes: Data, or for Sign / Signature Verify the Digested Data. */
static cf_err cs_input(struct ops_req *r, struct ops_item *it, const struct cs_op *cop,
		       const struct kmip_crypt *q, struct hsm_cs_params *p, struct kmip_bytes *in)
{
	bool sig = cop->hop == HSM_CS_SIGN || cop->hop == HSM_CS_VERIFY;
	if (sig && q->digested.p != NULL) {
		if (q->data.p != NULL)
			return invalid_field(it, "Data and Digested Data are exclusive");
		if (q->digested.n != hsm_hash_len(p->hash))
			return invalid_field(it, "Digested Data length differs from the hash's");
		p->prehashed = true;
		*in = q->digested;
	} else if (q->data.p != NULL) {
		*in = q->data;
	} else {
		return invalid_msg(it, "Data required");
	}
	if (in->n > HSM_CS_DATA_MAX)
		return ops_fail(it, CF_E_TOO_LARGE, KMIP_RESULT_REASON_INVALID_MESSAGE,
				"Data over 64 KiB in one request: stream it (Init / Final "
				"Indicator) with a CBC, CTR or ECB key");
	(void)r;
	return CF_OK;
}

/* The key an item names: its Unique Identifier, or the one its Correlation Value carries
 * (opened into *st, which must be for this operation and, when the request names a key too,
 * that key). */
static cf_err cs_target(struct ops_req *r, struct ops_item *it, const struct cs_op *cop,
			const struct kmip_crypt *q, struct corr_state *st,
			char uid[static STORE_UID_MAX + 1])
{
	uint32_t bad_corr = ops_why(r, KMIP_RESULT_REASON_INVALID_MESSAGE,
				KMIP_RESULT_REASON_INVALID_CORRELATION_VALUE);

	memset(st, 0, sizeof *st);
	if (q->corr.p == NULL)
		return ops_uid(r, it, q->uid, uid);
	if (q->has_init && q->init)
		return invalid_field(it, "Init Indicator with a Correlation Value");
	TRY(corr_open(r, it, q->corr, st));
	if (st->h.op != (uint8_t)cop->hop)
		return ops_fail(it, CF_E_BAD_VALUE, bad_corr,
				"Correlation Value belongs to another operation");
	if (q->uid.p != NULL &&
	    (q->uid.n != st->h.uid_n || memcmp(q->uid.p, st->uid, st->h.uid_n) != 0))
		return ops_fail(it, CF_E_BAD_VALUE, bad_corr,
				"Correlation Value belongs to another key");
	return ops_uid(r, it, (struct kmip_text){ (const char *)st->uid, st->h.uid_n }, uid);
}

/* A single-part request: tag / additional data / signature to check, the HSM job, the
 * response's fields. */
static cf_err cs_single(struct ops_req *r, struct ops_item *it, const struct store_object *o,
			const struct cs_op *cop, const struct kmip_crypt *q, struct cs_plan *pl,
			struct kmip_bytes in, struct kmip_crypt *s)
{
	struct hsm_cs_result res;
	struct kmip_bytes out;

	if (cop->hop == HSM_CS_DECRYPT && pl->p.mech == HSM_CS_AES_GCM) {
		if (q->tag.p == NULL)
			return invalid_msg(it, "Authenticated Encryption Tag required");
		if (q->tag.n < 4 || q->tag.n > 16 ||
		    (q->has_params && pl->p.tag_n != 16 && pl->p.tag_n != q->tag.n))
			return invalid_field(it, "Authenticated Encryption Tag length");
		pl->p.tag = q->tag.p;
		pl->p.tag_n = q->tag.n;
	}
	if (pl->p.mech == HSM_CS_AES_GCM && q->aad.p != NULL) {
		pl->p.aad = q->aad.p;
		pl->p.aad_n = q->aad.n;
	}
	if (cop->hop == HSM_CS_VERIFY || cop->hop == HSM_CS_MAC_VERIFY) {
		struct kmip_bytes chk = cop->hop == HSM_CS_VERIFY ? q->sig : q->mac;
		if (chk.p == NULL)
			return invalid_msg(it, cop->hop == HSM_CS_VERIFY ? "Signature Data required"
									  : "MAC Data required");
		pl->p.check = chk.p;
		pl->p.check_n = chk.n;
	}
	TRY(cs_exec(r, it, o, cop->hop, &pl->p, in.p, in.n, &out, &res));
	switch (cop->hop) {
	case HSM_CS_ENCRYPT:
	case HSM_CS_DECRYPT:
		s->data = out;
		if (cop->hop == HSM_CS_ENCRYPT && pl->p.mech == HSM_CS_AES_GCM) {
			void *t;
			TRY(ops_dup(r, res.tag, res.tag_n, &t));
			s->tag = (struct kmip_bytes){ t, res.tag_n };
		}
		break;
	case HSM_CS_SIGN:
		s->sig = out;
		break;
	case HSM_CS_MAC:
		s->mac = out;
		break;
	case HSM_CS_VERIFY:
	case HSM_CS_MAC_VERIFY:
		s->has_validity = true;
		s->validity = res.valid ? KMIP_VALIDITY_INDICATOR_VALID
					: KMIP_VALIDITY_INDICATOR_INVALID;
		break;
	}
	return CF_OK;
}

/* The first part of a stream: its state from the request's plan. */
static cf_err cs_stream_open(struct ops_item *it, const struct cs_op *cop,
			     const struct kmip_crypt *q, const struct cs_plan *pl, const char *uid,
			     struct corr_state *st)
{
	if (pl->p.mech != HSM_CS_AES_GCM && !pl->streamable)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				"streaming only with AES GCM, CBC, CTR or ECB");
	if (pl->p.iv_n > CS_IV_MAX || strlen(uid) > STORE_UID_MAX ||
	    (pl->p.mech != HSM_CS_AES_GCM && pl->p.iv != NULL && pl->p.iv_n != 16))
		return invalid_field(it, "IV/Counter/Nonce length");
	st->h.version = CORR_VERSION;
	st->h.op = (uint8_t)cop->hop;
	st->h.mech = (uint8_t)pl->p.mech;
	st->h.tag_n = (uint8_t)pl->p.tag_n;
	st->h.uid_n = (uint8_t)strlen(uid);
	st->h.ctr_bits = (uint8_t)(pl->p.ctr_bits == 128 ? 0 : pl->p.ctr_bits);
	st->uid = (const uint8_t *)uid;
	if (pl->p.mech != HSM_CS_AES_GCM) {
		if (pl->p.iv != NULL)
			memcpy(st->h.chain, pl->p.iv, 16);
		return CF_OK;
	}
	st->h.iv_n = (uint8_t)pl->p.iv_n;
	st->iv = pl->p.iv;
	if (q->aad.p != NULL) {
		if (q->aad.n > HSM_CS_DATA_MAX)
			return invalid_field(it, "Authenticated Encryption Additional Data over 64 KiB");
		st->h.aad_n = (uint32_t)q->aad.n;
		st->aad = q->aad.p;
	}
	return CF_OK;
}

/* One part of a stream (Encrypt / Decrypt), the next Correlation Value unless final. */
static cf_err cs_stream(struct ops_req *r, struct ops_item *it, const struct store_object *o,
			const struct cs_op *cop, const struct kmip_crypt *q, const struct cs_plan *pl,
			const struct ops_cs_rows *k, const char *uid, struct corr_state *st,
			struct kmip_crypt *s)
{
	bool final = q->has_final && q->final;

	if (cop->hop != HSM_CS_ENCRYPT && cop->hop != HSM_CS_DECRYPT)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				"streaming (Init / Final Indicator) only for Encrypt and Decrypt");
	if (q->corr.p == NULL) {
		TRY(cs_stream_open(it, cop, q, pl, uid, st));
	} else {
		if (q->data.p == NULL)
			return invalid_msg(it, "Data required");
		if (q->data.n > HSM_CS_DATA_MAX)
			return ops_fail(it, CF_E_TOO_LARGE, KMIP_RESULT_REASON_INVALID_MESSAGE,
					"Data over 64 KiB in one part");
		if (k->limits != NULL)
			TRY(ops_cs_limits_take(r, it, uid, k->limits, q->data.n));
	}
	if (st->h.mech == HSM_CS_AES_GCM)
		TRY(gcm_part(r, it, o, cop, st, q, final, s));
	else
		TRY(block_part(r, it, o, cop, st, q, final, s));
	return final ? CF_OK : corr_seal(r, st, &s->corr);
}

/* The first (or only) part's plan: Cryptographic Parameters, the input, Usage Limits, the
 * IV the server makes. */
static cf_err cs_plan(struct ops_req *r, struct ops_item *it, const struct cs_op *cop,
		      const struct store_object *o, const struct kmip_crypt *q,
		      const struct ops_cs_rows *k, const char *uid, struct cs_plan *pl,
		      struct kmip_bytes *in, struct kmip_crypt *s)
{
	TRY(params_map(r, it, cop, o, q, k, pl));
	TRY(cs_input(r, it, cop, q, &pl->p, in));
	if (k->limits != NULL)
		TRY(ops_cs_limits_take(r, it, uid, k->limits, in->n));
	if (pl->gen_iv) {
		hsm_sess *sess;
		void *iv;
		TRY(ops_sess(r, &sess));
		TRY(kmip_arena_alloc(&r->w->arena, pl->p.iv_n, 1, &iv));
		TRY(hsm_random(sess, iv, pl->p.iv_n));
		pl->p.iv = iv;
		s->iv = (struct kmip_bytes){ iv, pl->p.iv_n };
	}
	return CF_OK;
}

cf_err ops_crypt(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_crypt *q = &it->rq->pl.u.crypt;
	struct kmip_crypt *s = &it->rs->pl.u.crypt;
	const struct cs_op *cop = cs_op_find(it->rq->op);
	struct store_object o = { 0 };
	struct ops_cs_rows k = { 0 };
	struct corr_state st;
	struct cs_plan pl;
	struct kmip_bytes in = { 0 };
	char uid[STORE_UID_MAX + 1];
	bool streaming = q->corr.p != NULL || (q->has_init && q->init && !(q->has_final && q->final));
	cf_err rc;

	if (cop == NULL)
		return CF_E_UNSUPPORTED_OP;
	memset(&pl, 0, sizeof pl);
	TRY(cs_target(r, it, cop, q, &st, uid));
	if ((rc = ops_object_load(r, uid, &o)) != CF_OK)
		goto out;
	if (o.wrapped != NULL && !kind_fits(kind_of(&o), cop->hop)) {
		rc = ops_fail(it, CF_E_BAD_OBJECT, ops_why(r, KMIP_RESULT_REASON_INVALID_FIELD,
						       KMIP_RESULT_REASON_INVALID_OBJECT_TYPE),
			      "this key's type or algorithm does not serve this operation");
		goto out;
	}
	if ((rc = ops_cs_rows_load(r, uid, &k)) != CF_OK ||
	    (rc = ops_cs_policy(r, it, &o, cop->mask, cop->process, &k)) != CF_OK)
		goto out;
	if (q->corr.p == NULL && (rc = cs_plan(r, it, cop, &o, q, &k, uid, &pl, &in, s)) != CF_OK)
		goto out;
	if (!streaming)
		rc = cs_single(r, it, &o, cop, q, &pl, in, s);
	else
		rc = cs_stream(r, it, &o, cop, q, &pl, &k, uid, &st, s);
	if (rc == CF_OK)
		rc = ops_text(r, uid, &s->uid);
out:
	store_attr_list_free(&k.l);
	store_object_free(&o);
	return rc;
}

/* ---- Hash, RNG ------------------------------------------------------------------------ */

cf_err ops_hash(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_crypt *q = &it->rq->pl.u.crypt;
	struct kmip_crypt *s = &it->rs->pl.u.crypt;
	struct kmip_crypto_params cp;
	enum hsm_hash h = HSM_HASH_NONE;
	hsm_sess *sess;
	size_t n = 0;
	void *out;

	if (q->corr.p != NULL || (q->has_init && q->init && !(q->has_final && q->final)))
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				"Hash streaming not supported: send the data in one request");
	if (!q->has_params)
		return invalid_msg(it, "Cryptographic Parameters with a Hashing Algorithm required");
	if (kmip_crypto_params_decode(q->params, &cp) != CF_OK)
		return invalid_field(it, "Cryptographic Parameters");
	if (cp.has_hash)
		h = ops_hash_of(cp.hash);
	if (!cp.has_hash)
		return invalid_msg(it, "Hashing Algorithm required");
	if (h == HSM_HASH_NONE)
		return unsupported(r, it, "Hashing Algorithm: SHA-1, SHA-224, SHA-256, SHA-384 or "
					  "SHA-512");
	if (q->data.p == NULL)
		return invalid_msg(it, "Data required");
	if (q->data.n > HSM_CS_DATA_MAX)
		return ops_fail(it, CF_E_TOO_LARGE, KMIP_RESULT_REASON_INVALID_MESSAGE,
				"Data over 64 KiB");
	TRY(ops_sess(r, &sess));
	TRY(kmip_arena_alloc(&r->w->arena, 64, 1, &out));
	cf_err rc = hsm_hash(sess, h, q->data.p, q->data.n, out, 64, &n);
	if (rc != CF_OK)
		return hsm_refused(r, it, rc);
	s->data = (struct kmip_bytes){ out, n };
	return CF_OK;
}

cf_err ops_rng_retrieve(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_rng *q = &it->rq->pl.u.rng;
	struct kmip_rng *s = &it->rs->pl.u.rng;
	hsm_sess *sess;
	void *out;

	if (!q->has_len)
		return invalid_msg(it, "Data Length required");
	if (q->len <= 0 || (uint32_t)q->len > CS_RNG_MAX)
		return invalid_field(it, "Data Length must be 1..65536 bytes");
	TRY(ops_sess(r, &sess));
	TRY(kmip_arena_alloc(&r->w->arena, (size_t)q->len, 1, &out));
	TRY(hsm_random(sess, out, (size_t)q->len));
	s->data = (struct kmip_bytes){ out, (size_t)q->len };
	return CF_OK;
}

cf_err ops_rng_seed(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_rng *q = &it->rq->pl.u.rng;
	struct kmip_rng *s = &it->rs->pl.u.rng;
	hsm_sess *sess;
	size_t took = 0;

	if (q->data.p == NULL)
		return invalid_msg(it, "Data required");
	if (q->data.n > CS_SEED_MAX)
		return invalid_field(it, "seed Data over 4096 bytes");
	TRY(ops_sess(r, &sess));
	TRY(hsm_seed_random(sess, q->data.p, q->data.n, &took));
	s->has_len = true;
	s->len = (int32_t)took;
	return CF_OK;
}
