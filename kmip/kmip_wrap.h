/* Key Wrapping Specification (Get request) and Key Wrapping Data (Key Block) as typed
 * values: the payload decoder keeps both as validated encoded contents (kmip.h
 * kmip_req_get.wrap_spec, kmip_key_block.wrapping); these read and write them.
 *
 *= kmip-spec-v1.4 section 2.1.5 Table 9 (Key Wrapping Data), Table 10 (Encryption Key
 *# Information), section 2.1.6 Table 12 (Key Wrapping Specification); 2.0 sections 2.1.5-2.1.6. */
#ifndef COFFRE_KMIP_KMIP_WRAP_H
#define COFFRE_KMIP_KMIP_WRAP_H

#include "kmip/kmip.h"

/* The Cryptographic Parameters fields a key wrap uses; anything else sets `other`. */
struct kmip_crypto_params {
	bool has_mode; uint32_t mode;         /* Block Cipher Mode */
	bool has_padding; uint32_t padding;   /* Padding Method */
	bool has_hash; uint32_t hash;         /* Hashing Algorithm */
	bool has_alg; uint32_t alg;           /* Cryptographic Algorithm (1.2+) */
	bool other;                           /* another field is present (any below included:
					       * key wrapping uses only the four above) */
	/* the other fields (1.2+ / 1.4+), for the cryptographic services */
	bool has_role; uint32_t role;         /* Key Role Type */
	bool has_dsa; uint32_t dsa;           /* Digital Signature Algorithm */
	bool has_random_iv; bool random_iv;   /* Random IV */
	bool has_iv_len; int32_t iv_len;      /* IV Length (bits) */
	bool has_tag_len; int32_t tag_len;    /* Tag Length (bytes) */
	bool has_fixed_len; int32_t fixed_len;         /* Fixed Field Length (bits) */
	bool has_invocation_len; int32_t invocation_len; /* Invocation Field Length (bits) */
	bool has_counter_len; int32_t counter_len;     /* Counter Length (bits) */
	bool has_initial_counter; int32_t initial_counter; /* Initial Counter Value */
	bool has_salt_len; int32_t salt_len;  /* Salt Length (bits, 1.4) */
	bool has_mgf; uint32_t mgf;           /* Mask Generator */
	bool has_mgf_hash; uint32_t mgf_hash; /* Mask Generator Hashing Algorithm */
	struct kmip_bytes p_source;           /* P Source (OAEP label), p == NULL if absent */
	bool has_trailer; int32_t trailer;    /* Trailer Field */
	struct kmip_bytes raw;                /* the structure's encoded contents */
};

/* Encryption Key Information / MAC/Signature Key Information. */
struct kmip_key_info {
	bool present;
	struct kmip_text uid;
	bool has_params;
	struct kmip_crypto_params params;
};

/* Key Wrapping Specification, or Key Wrapping Data (then mac_sig / iv may be set and
 * n_attr_names is 0). */
struct kmip_wrapping {
	uint32_t method;                      /* Wrapping Method */
	struct kmip_key_info enc;
	struct kmip_key_info mac;
	size_t n_attr_names;                  /* Attribute Name items (Specification) */
	struct kmip_bytes mac_sig;            /* MAC/Signature (Data) */
	struct kmip_bytes iv;                 /* IV/Counter/Nonce (Data) */
	bool has_encoding; uint32_t encoding; /* Encoding Option */
};

/* Decode the contents of a Key Wrapping Specification (data == false) or Key Wrapping Data
 * (data == true), already validated by the payload decoder (tags, types). Views into the
 * contents. CF_E_MISSING (Wrapping Method, or a key information without Unique
 * Identifier), CF_E_UNEXPECTED_TAG (a field that structure does not have), CF_E_DUPLICATE. */
MUST_USE cf_err kmip_wrapping_decode(struct kmip_bytes contents, bool data, struct kmip_wrapping *out);
/* Cryptographic Parameters contents (e.g. an attribute value) into *out. */
MUST_USE cf_err kmip_crypto_params_decode(struct kmip_bytes contents, struct kmip_crypto_params *out);
/* Encode Key Wrapping Data contents (method, Encryption Key Information with its raw
 * parameters, Encoding Option) into the arena: *out = the contents for kmip_key_block.wrapping. */
MUST_USE cf_err kmip_wrapping_data_encode(const struct kmip_wrapping *w, int version,
					  struct kmip_arena *a, struct kmip_bytes *out);

#endif
