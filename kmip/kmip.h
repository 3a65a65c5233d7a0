/* KMIP message layer: typed requests and responses, payloads, attributes, managed objects.
 *
 * Decoding fills plain C structs in one pass. Every string, byte string and
 * nested structure in a decoded struct is a VIEW into the caller's message buffer (STYLE
 * 2.5 rule 1): keep the buffer alive while the decoded struct is used. Arrays (batch items,
 * attributes, lists) come from a caller-provided arena (struct kmip_arena); every count is
 * checked against struct kmip_limits BEFORE the arena is asked for memory, so no allocation
 * size is ever driven by input beyond the caller's limits.
 *
 * Versions: the request's Protocol Version selects the form of every version-dependent
 * field (1.x Template-Attribute / Attribute{Name,Index,Value} vs 2.0 Attributes with one
 * tag per attribute). Encoders write the version in the header's Protocol Version and never
 * emit a field that version lacks: optional fields the version lacks are silently left out
 * (e.g. Located Items in 1.2, Nonce in 1.1), enumeration values the version lacks are an
 * error (CF_E_BAD_ENUM).
 *
 * Supported typed payloads (request and response, both directions): Discover Versions,
 * Query, Create, Register, Re-key, Get, Get Attributes, Get Attribute List, Add Attribute, Modify
 * Attribute, Delete Attribute, Locate, Activate, Revoke, Destroy, Create Key Pair,
 * Re-key Key Pair, Encrypt, Decrypt, Sign, Signature Verify, MAC, MAC Verify, Hash, RNG
 * Retrieve, RNG Seed, Derive Key (the last ones: issue 15, kmip_crypto.c), Archive, Recover,
 * Obtain Lease, Get Usage Allocation, Poll (request only), Cancel (kmip_life.c), Create Split
 * Key, Join Split Key (kmip_split.c), Certify, Re-certify (kmip_cert.c). Any other operation's
 * payload is validated by a generic walk (known tags valid in the version, types as the
 * tag table says, enumerations valid) and kept as a raw view re-encoded verbatim.
 *
 * Strictness: header and response header fields are accepted in any order (duplicates of
 * single-valued fields are CF_E_DUPLICATE); batch items and payloads follow the order the
 * specification requires. Types, lengths, padding, duplicates, unknown tags inside typed
 * payloads and enumeration validity per version are enforced.
 *
 * Secrets: the Password of a Username/Password credential and Key Material are views into
 * the request buffer; this layer never logs or copies them. The caller wipes the buffer.
 *
 * No I/O, no globals (only static const tables), no malloc. */
#ifndef COFFRE_KMIP_KMIP_H
#define COFFRE_KMIP_KMIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "board/err.h"
#include "kmip/ttlv.h"
#include "kmip/kmip_tags.h"

/* ---- arena ---------------------------------------------------------------------------- */

/* A bump allocator over a caller-owned buffer (per-request state).
 * Allocations are zeroed and aligned to max_align_t; there is no per-object free. */
struct kmip_arena {
	uint8_t *p;
	size_t cap;
	size_t off;
};

void kmip_arena_init(struct kmip_arena *a, void *buf, size_t cap);
/* count * size bytes, zeroed; CF_E_NOMEM when the arena is full or count * size overflows.
 * count == 0 succeeds with *out = NULL. */
MUST_USE cf_err kmip_arena_alloc(struct kmip_arena *a, size_t count, size_t size, void **out);
/* Wipe what was used and start over. */
void kmip_arena_reset(struct kmip_arena *a);

/* ---- views ---------------------------------------------------------------------------- */

/* A Text String value (no NUL terminator). p == NULL means "absent"; an empty string that
 * was present has p != NULL and n == 0. */
struct kmip_text {
	const char *p;
	size_t n;
};

/* A Byte String value, or the encoded contents of a Structure (items with headers and
 * padding). p == NULL means absent. */
struct kmip_bytes {
	const uint8_t *p;
	size_t n;
};

struct kmip_pv {
	int32_t major;
	int32_t minor;
};

/* ---- attributes ----------------------------------------------------------------------- */

/* One attribute, in either wire form.
 *   1.x: Attribute { Attribute Name, [Attribute Index], Attribute Value }.
 *        Names resolve to tags through the tag table (kmip_tag_by_name); custom names
 *        "x-..." / "y-..." are accepted with a value of any type and have tag == 0.
 *   2.0: each attribute is its own tag inside Attributes (0x420125); a Vendor Attribute is
 *        Attribute { Vendor Identification, Attribute Name, Attribute Value } and has
 *        tag == 0 with vendor set. A 1.x "x-Foo" is the 2.0 vendor "x", name "Foo".
 * Encoding converts between the forms (custom <-> vendor "x"/"y"). */
struct kmip_attr {
	uint32_t tag;            /* attribute tag, 0 for custom / vendor attributes */
	struct kmip_text vendor; /* 2.0 Vendor Identification (vendor attributes only) */
	struct kmip_text name;   /* 1.x Attribute Name as sent, or 2.0 vendor Attribute Name */
	bool has_index;          /* 1.x Attribute Index */
	int32_t index;
	uint8_t type;            /* enum ttlv_type of the value */
	struct kmip_bytes val;   /* value bytes without padding; a Structure: its encoded contents */
};

struct kmip_attrs {
	struct kmip_attr *v;
	size_t n;
};

/* 1.x Template-Attribute (or, in Locate, the bare Attribute list) / 2.0 Attributes. */
struct kmip_tmpl {
	bool present;
	struct kmip_bytes names;   /* 1.x: the Name items (template names) verbatim; usually empty */
	struct kmip_attrs a;
};

/* An attribute named without a value: 1.x Attribute Name, 2.0 Attribute Reference
 * (Enumeration = a tag, or Structure = Vendor Identification + Attribute Name). */
struct kmip_attr_ref {
	uint32_t tag;            /* known attribute tag, 0 for custom / vendor */
	struct kmip_text vendor; /* 2.0 structure form */
	struct kmip_text name;   /* 1.x name as sent, or 2.0 vendor attribute name */
};

struct kmip_attr_refs {
	struct kmip_attr_ref *v;
	size_t n;
};

/* Attribute policy: one static const row per KMIP attribute. */
enum kmip_attr_flag {
	KMIP_AF_MULTI = 1u << 0,       /* multiple instances permitted */
	KMIP_AF_CLIENT_INIT = 1u << 1, /* client may set it in Create / Register templates */
	KMIP_AF_CLIENT_ADD = 1u << 2,  /* client may add it (Add Attribute) */
	KMIP_AF_CLIENT_MOD = 1u << 3,  /* client may modify it */
	KMIP_AF_CLIENT_DEL = 1u << 4,  /* client may delete it */
	KMIP_AF_SENSITIVE = 1u << 5,   /* value never logged */
};

struct kmip_attr_rule {
	uint32_t tag;
	uint8_t versions;        /* KMIP_VMASK bits in which it is an attribute */
	uint16_t flags;          /* enum kmip_attr_flag */
};

/* The table (sorted by tag) and its size: for iteration in tests and Query. */
const struct kmip_attr_rule *kmip_attr_rules(size_t *n);
/* Rule of a tag that is an attribute in this version; NULL otherwise. */
const struct kmip_attr_rule *kmip_attr_rule_for(uint32_t tag, int version);
/* Rule for custom (1.x x-/y-) and vendor (2.0) attributes. */
const struct kmip_attr_rule *kmip_attr_rule_custom(void);
/* May a client do this to the attribute? op: KMIP_OPERATION_CREATE / REGISTER (initial
 * template), ADD_ATTRIBUTE, MODIFY_ATTRIBUTE, DELETE_ATTRIBUTE. CF_OK, CF_E_PERMISSION
 * (server-only / read-only attribute), or CF_E_BAD_ATTR (not an attribute in the version).
 * Custom names: clients may use "x-" only (and vendor "x"), "y-" is the server's. */
MUST_USE cf_err kmip_attr_client_may(const struct kmip_attr *a, uint32_t op, int version);
/* Find the first attribute with this tag (index ignored); NULL if none. */
const struct kmip_attr *kmip_attrs_find(const struct kmip_attrs *as, uint32_t tag);
/* The value of an Enumeration or Integer attribute: CF_E_BAD_ATTR for any other type. */
MUST_USE cf_err kmip_attr_get_u32(const struct kmip_attr *a, uint32_t *v);
/* Build an attribute with a primitive value (the value bytes are written to buf[8]). */
void kmip_attr_set_enum(struct kmip_attr *a, uint32_t tag, uint32_t v, uint8_t buf[static 8]);
void kmip_attr_set_int(struct kmip_attr *a, uint32_t tag, int32_t v, uint8_t buf[static 8]);
void kmip_attr_set_text(struct kmip_attr *a, uint32_t tag, const char *s, size_t n);

/* ---- managed objects ------------------------------------------------------------------ */

/* Key Block. Key Material is a view; the key bytes stay in the message buffer.
 *   format Raw / Opaque / PKCS#1 / PKCS#8 / X.509 / ECPrivateKey / PKCS#12: Byte String.
 *   format Transparent Symmetric Key: Structure { Key }: material = the Key bytes.
 *   other Transparent formats: material = the Structure's encoded contents (validated).
 *   wrapped keys: Key Value may be a Byte String (value_wrapped); Key Wrapping Data is kept
 *   verbatim (wrapping = encoded contents of the Key Wrapping Data structure). */
struct kmip_key_block {
	uint32_t format;               /* Key Format Type */
	bool has_compression;
	uint32_t compression;          /* Key Compression Type */
	bool has_value;                /* Key Value present */
	bool value_wrapped;            /* Key Value is a Byte String (wrapped): see wrapped_value */
	struct kmip_bytes wrapped_value;
	uint8_t material_type;         /* TTLV_BYTE_STRING or TTLV_STRUCTURE */
	struct kmip_bytes material;    /* see above */
	struct kmip_tmpl attrs;        /* attributes inside Key Value (1.x list / 2.0 Attributes) */
	bool has_alg;
	uint32_t alg;                  /* Cryptographic Algorithm */
	bool has_len;
	int32_t len;                   /* Cryptographic Length */
	struct kmip_bytes wrapping;    /* Key Wrapping Data contents, p == NULL if absent */
};

/* A managed object: `type` (Object Type enumeration) says which members are used.
 *   Symmetric Key, Public Key, Private Key: kb.
 *   Secret Data: secret_type + kb.   Opaque Object: opaque_type + opaque.
 *   Certificate: cert_type + cert.   Split Key: split + kb.   PGP Key: pgp_version + kb.
 *   Template, Certificate Request: raw (validated contents, verbatim). */
struct kmip_split {
	int32_t parts;                 /* Split Key Parts */
	int32_t part_id;               /* Key Part Identifier */
	int32_t threshold;             /* Split Key Threshold */
	uint32_t method;               /* Split Key Method */
	struct kmip_bytes prime;       /* Prime Field Size (Big Integer value), p == NULL if absent */
};
struct kmip_object {
	uint32_t type;                 /* KMIP_OBJECT_TYPE_*, 0 = absent */
	struct kmip_key_block kb;
	uint32_t secret_type;          /* Secret Data Type */
	uint32_t opaque_type;          /* Opaque Data Type */
	struct kmip_bytes opaque;      /* Opaque Data Value */
	uint32_t cert_type;            /* Certificate Type */
	struct kmip_bytes cert;        /* Certificate Value */
	struct kmip_split split;       /* Split Key fields (kb holds its Key Block) */
	int32_t pgp_version;           /* PGP Key Version (kb holds its Key Block) */
	struct kmip_bytes raw;
};

/* Tag of the object structure for an Object Type (0 if none in this version). */
uint32_t kmip_object_tag(uint32_t object_type, int version);

/* ---- payloads ------------------------------------------------------------------------- */

struct kmip_req_discover { struct kmip_pv *v; size_t n; };
struct kmip_rsp_discover { struct kmip_pv *v; size_t n; };

struct kmip_req_query { uint32_t *fn; size_t n; };
struct kmip_rsp_query {
	uint32_t *ops; size_t n_ops;
	uint32_t *types; size_t n_types;
	struct kmip_text vendor;            /* Vendor Identification */
	struct kmip_bytes server_info;      /* Server Information contents, p == NULL if absent */
	struct kmip_text *ns; size_t n_ns;  /* Application Namespace */
	struct kmip_bytes rest;             /* later fields (Extension Information, Attestation
					     * Type, RNG Parameters, Profile/Validation/Capability
					     * Information, ...) as validated encoded items */
};

struct kmip_req_create {
	uint32_t object_type;
	struct kmip_tmpl t;                 /* 1.x Template-Attribute, 2.0 Attributes */
	struct kmip_bytes psm;              /* 2.0 Protection Storage Masks contents (optional) */
};
struct kmip_rsp_create {
	uint32_t object_type;
	struct kmip_text uid;
	struct kmip_tmpl t;                 /* 1.x optional Template-Attribute */
};

struct kmip_req_register {
	uint32_t object_type;
	struct kmip_tmpl t;
	struct kmip_object obj;
	struct kmip_bytes psm;              /* 2.0 */
};
struct kmip_rsp_register {
	struct kmip_text uid;
	struct kmip_tmpl t;                 /* 1.x optional */
};

/* Re-key (the response has Register's fields: u.rekey_rsp). */
struct kmip_req_rekey {
	struct kmip_text uid;
	bool has_offset; uint32_t offset;   /* Offset (Interval, seconds) */
	struct kmip_tmpl t;                 /* 1.x Template-Attribute, 2.0 Attributes (optional) */
	struct kmip_bytes psm;              /* 2.0 */
};

struct kmip_req_get {
	struct kmip_text uid;
	bool has_format; uint32_t format;           /* Key Format Type */
	bool has_wrap_type; uint32_t wrap_type;     /* Key Wrap Type (1.4+) */
	bool has_compression; uint32_t compression; /* Key Compression Type */
	struct kmip_bytes wrap_spec;                /* Key Wrapping Specification contents */
};
struct kmip_rsp_get {
	uint32_t object_type;
	struct kmip_text uid;
	struct kmip_object obj;
};

struct kmip_req_get_attrs {
	struct kmip_text uid;
	struct kmip_attr_refs refs;         /* 1.x Attribute Name*, 2.0 Attribute Reference* */
};
struct kmip_rsp_get_attrs {
	struct kmip_text uid;
	struct kmip_tmpl t;                 /* 1.x Attribute*, 2.0 Attributes */
};

struct kmip_uid_only { struct kmip_text uid; };  /* Activate, Destroy, Get Attribute List
						  * request; most responses in 2.0 */

struct kmip_rsp_get_attr_list {
	struct kmip_text uid;
	struct kmip_attr_refs refs;
};

/* Add / Modify / Delete Attribute. 1.x: the Attribute (Delete: name + index in `ref`,
 * attr.has_index); 2.0: New Attribute / Current Attribute / Attribute Reference. 2.0 Set
 * Attribute: New Attribute; 2.0 Adjust Attribute: Attribute Reference, Adjustment Type,
 * optional Adjustment Value (any numeric type, kept as sent). */
struct kmip_req_attr_change {
	struct kmip_text uid;
	bool has_current; struct kmip_attr current;   /* 2.0 Modify/Delete */
	bool has_new; struct kmip_attr attr;          /* 1.x Attribute, 2.0 New Attribute */
	bool has_ref; struct kmip_attr_ref ref;       /* Delete: 1.x name, 2.0 reference */
	bool has_index; int32_t index;                /* Delete 1.x Attribute Index */
	uint32_t adjust_type;                         /* Adjust: Adjustment Type */
	bool has_adjust_value; uint8_t adjust_vtype;  /* Adjust: Adjustment Value, its type */
	struct kmip_bytes adjust_value;
};
struct kmip_rsp_attr_change {
	struct kmip_text uid;
	bool has_attr; struct kmip_attr attr;         /* 1.x only (required there) */
};

struct kmip_req_locate {
	bool has_max; int32_t max_items;
	bool has_offset; int32_t offset_items;        /* 1.3+ */
	bool has_ssm; int32_t storage_status_mask;
	bool has_ogm; uint32_t object_group_member;   /* 1.1+ */
	struct kmip_tmpl t;                           /* 1.x Attribute*, 2.0 Attributes */
};
struct kmip_rsp_locate {
	bool has_located; int32_t located_items;      /* 1.3+ */
	struct kmip_text *uids; size_t n;
};

struct kmip_req_revoke {
	struct kmip_text uid;
	uint32_t reason_code;                         /* Revocation Reason Code */
	struct kmip_text reason_msg;                  /* Revocation Message (optional) */
	bool has_cod; int64_t compromise_date;        /* Compromise Occurrence Date */
};

/* Create Key Pair and Re-key Key Pair (kmip_kp.c). 1.x: Common / Private Key / Public Key
 * Template-Attribute; 2.0: Common / Private Key / Public Key Attributes. */
struct kmip_req_create_kp {
	struct kmip_text priv_uid;          /* Re-key Key Pair: Private Key Unique Identifier */
	bool has_offset; uint32_t offset;   /* Re-key Key Pair: Offset (Interval, seconds) */
	struct kmip_tmpl common, priv, pub;
	struct kmip_bytes common_psm, priv_psm, pub_psm; /* 2.0 Protection Storage Masks */
};
struct kmip_rsp_create_kp {
	struct kmip_text priv_uid;          /* Private Key Unique Identifier */
	struct kmip_text pub_uid;           /* Public Key Unique Identifier */
	struct kmip_tmpl priv_t, pub_t;     /* 1.x optional Private / Public Key Template-Attribute */
};

/* Check (1.x and 2.0 alike): the request's values to check; the answer names the values
 * refused (none on success). */
struct kmip_check {
	struct kmip_text uid;
	bool has_count; int64_t usage_limits_count;   /* Usage Limits Count */
	bool has_mask; int32_t usage_mask;            /* Cryptographic Usage Mask */
	bool has_lease; uint32_t lease_time;          /* Lease Time (an Interval) */
};

/* Cryptographic services (kmip_crypto.c): Encrypt, Decrypt, Sign, Signature Verify, MAC, MAC
 * Verify, Hash share one struct for their request and response payloads; each operation
 * accepts only its own fields, in the specification's order (1.4 sections 4.29-4.35, 2.0
 * sections 6.1.18 ff.). Byte strings: p == NULL = absent. Cryptographic Parameters stay the
 * validated encoded contents (kmip_wrap.h kmip_crypto_params_decode reads them). A required
 * field missing is CF_E_MISSING on decode and encode alike (rules: kmip_crypto.c, docs/codec.md
 * "Typed payloads"): e.g. Data in a single-part request (no Correlation Value / Init / Final
 * Indicator), the Unique Identifier of every response but Hash's, a 1.x verify response's
 * Validity Indicator. */
struct kmip_crypt {
	struct kmip_text uid;               /* Unique Identifier (optional in requests) */
	bool has_params; struct kmip_bytes params;   /* Cryptographic Parameters contents */
	struct kmip_bytes data;             /* Data */
	struct kmip_bytes digested;         /* Digested Data (Sign / Signature Verify, 1.4+) */
	struct kmip_bytes iv;               /* IV/Counter/Nonce (Encrypt / Decrypt) */
	struct kmip_bytes sig;              /* Signature Data */
	struct kmip_bytes mac;              /* MAC Data */
	struct kmip_bytes corr;             /* Correlation Value (1.3+) */
	bool has_init; bool init;           /* Init Indicator (1.3+) */
	bool has_final; bool final;         /* Final Indicator (1.3+) */
	struct kmip_bytes aad;              /* Authenticated Encryption Additional Data (1.4+) */
	struct kmip_bytes tag;              /* Authenticated Encryption Tag (1.4+) */
	bool has_validity; uint32_t validity;   /* Validity Indicator (verify responses) */
};

/* RNG Retrieve (request: Data Length; response: Data) and RNG Seed (request: Data;
 * response: Data Length). */
struct kmip_rng {
	bool has_len; int32_t len;          /* Data Length */
	struct kmip_bytes data;             /* Data */
};

/* Derive Key request (1.4 section 4.6, 2.0 section 6.1.13); the response has Create's fields
 * without Object Type (u.rekey_rsp's struct). Derivation Parameters are decoded in place. */
struct kmip_deriv_params {
	bool has_params; struct kmip_bytes params;  /* Cryptographic Parameters contents */
	struct kmip_bytes iv;               /* Initialization Vector */
	struct kmip_bytes data;             /* Derivation Data */
	struct kmip_bytes data_more;        /* 2.0: the further Derivation Data items (repeatable
					     * there), encoded with their headers; p == NULL if none */
	struct kmip_bytes salt;             /* Salt */
	bool has_iterations; int32_t iterations;   /* Iteration Count */
};
struct kmip_req_derive {
	uint32_t object_type;
	struct kmip_text *uids; size_t n_uids;     /* Unique Identifier, 1 or more */
	uint32_t method;                    /* Derivation Method */
	struct kmip_deriv_params dp;        /* Derivation Parameters */
	struct kmip_tmpl t;                 /* 1.x Template-Attribute, 2.0 Attributes */
};

/* Create Split Key (kmip_split.c; 1.4 section 4.38, 2.0 6.1.10). Request: Object Type, the
 * key to split (optional), Split Key Parts, Threshold, Method (required), Prime Field Size
 * (optional), Template-Attribute / 2.0 Attributes (required). Response: one Unique Identifier
 * per part (1 or more), 1.x optional Template-Attribute. */
struct kmip_req_create_split {
	uint32_t object_type;
	struct kmip_text uid;               /* the key to split, p == NULL if absent */
	int32_t parts;                      /* Split Key Parts (>= 1) */
	int32_t threshold;                  /* Split Key Threshold (>= 1) */
	uint32_t method;                    /* Split Key Method */
	struct kmip_bytes prime;            /* Prime Field Size (Big Integer value), or absent */
	struct kmip_tmpl t;
	struct kmip_bytes psm;              /* 2.0 Protection Storage Masks contents */
};
struct kmip_rsp_create_split {
	struct kmip_text *uids; size_t n_uids;
	struct kmip_tmpl t;                 /* 1.x optional */
};
/* Join Split Key request (kmip_split.c; 1.4 section 4.39, 2.0 6.1.26); the response has
 * Register's fields (u.rekey_rsp). */
struct kmip_req_join_split {
	uint32_t object_type;
	struct kmip_text *uids; size_t n_uids;     /* the parts, 1 or more */
	bool has_secret_type; uint32_t secret_type; /* Secret Data Type (optional) */
	struct kmip_tmpl t;                 /* optional */
	struct kmip_bytes psm;              /* 2.0 */
};
/* Certify and Re-certify requests (kmip_cert.c); the responses have Register's fields
 * (u.rekey_rsp). The Certificate Request (2.0: Certificate Request Value) and its Type come
 * together or not at all. */
struct kmip_req_certify {
	struct kmip_text uid;               /* Public Key (Certify) / Certificate (Re-certify) */
	bool has_req_type; uint32_t req_type;   /* Certificate Request Type */
	struct kmip_bytes req;              /* Certificate Request bytes (PKCS#10 DER, PEM) */
	bool has_offset; uint32_t offset;   /* Re-certify: Offset (Interval, seconds) */
	struct kmip_tmpl t;                 /* 1.x Template-Attribute, 2.0 Attributes */
	struct kmip_bytes psm;              /* 2.0 Protection Storage Masks contents */
};

/* Obtain Lease (kmip_life.c): request [Unique Identifier]; response Unique Identifier, Lease
 * Time, Last Change Date (all required). */
struct kmip_lease {
	struct kmip_text uid;
	bool has_lease; uint32_t lease_time;          /* Lease Time (an Interval) */
	bool has_last_change; int64_t last_change;    /* Last Change Date */
};

/* Get Usage Allocation (kmip_life.c): request [Unique Identifier], Usage Limits Count
 * (required, >= 0); response Unique Identifier (required). */
struct kmip_usage_alloc {
	struct kmip_text uid;
	bool has_count; int64_t count;                /* Usage Limits Count */
};

/* Poll request, Cancel request and response (kmip_life.c): the Asynchronous Correlation Value
 * (required) and, in a Cancel response, the Cancellation Result (required). A Poll response
 * holds the polled operation's payload: untyped. */
struct kmip_async {
	struct kmip_bytes corr;                       /* Asynchronous Correlation Value */
	bool has_result; uint32_t cancel_result;      /* Cancellation Result */
};

struct kmip_payload {
	uint32_t op;               /* Operation of the batch item */
	bool typed;                /* false: only `raw` is meaningful, re-encoded verbatim */
	struct kmip_bytes raw;     /* payload Structure contents as received (decode) */
	union {
		struct kmip_req_discover discover_req;
		struct kmip_rsp_discover discover_rsp;
		struct kmip_req_query query_req;
		struct kmip_rsp_query query_rsp;
		struct kmip_req_create create_req;
		struct kmip_rsp_create create_rsp;
		struct kmip_req_register register_req;
		struct kmip_rsp_register register_rsp;
		struct kmip_req_rekey rekey_req;
		struct kmip_rsp_register rekey_rsp;       /* same fields as Register's */
		struct kmip_req_get get_req;
		struct kmip_rsp_get get_rsp;
		struct kmip_req_get_attrs get_attrs_req;
		struct kmip_rsp_get_attrs get_attrs_rsp;
		struct kmip_uid_only uid_req;             /* Get Attribute List, Activate, Destroy,
							   * Archive, Recover */
		struct kmip_rsp_get_attr_list get_attr_list_rsp;
		struct kmip_req_attr_change attr_req;     /* Add / Modify / Delete / Set / Adjust */
		struct kmip_rsp_attr_change attr_rsp;
		struct kmip_req_locate locate_req;
		struct kmip_rsp_locate locate_rsp;
		struct kmip_req_revoke revoke_req;
		struct kmip_uid_only uid_rsp;             /* Activate, Revoke, Destroy, Archive,
							   * Recover */
		struct kmip_req_create_kp kp_req;         /* Create Key Pair, Re-key Key Pair */
		struct kmip_rsp_create_kp kp_rsp;
		struct kmip_check check_req;
		struct kmip_check check_rsp;
		struct kmip_crypt crypt;                  /* Encrypt ... Hash, request and response */
		struct kmip_rng rng;                      /* RNG Retrieve / RNG Seed, both */
		struct kmip_req_derive derive_req;        /* Derive Key (response: rekey_rsp) */
		struct kmip_lease lease;                  /* Obtain Lease, both */
		struct kmip_usage_alloc usage_alloc;      /* Get Usage Allocation, both */
		struct kmip_async async;                  /* Poll request, Cancel both */
		struct kmip_req_create_split split_req;   /* Create Split Key */
		struct kmip_rsp_create_split split_rsp;
		struct kmip_req_join_split join_req;      /* Join Split Key (response: rekey_rsp) */
		struct kmip_req_certify certify_req;      /* Certify, Re-certify (response:
							   * rekey_rsp) */
	} u;
};

/* True for the operations with typed payloads listed above. */
bool kmip_op_typed(uint32_t op);

/* ---- messages ------------------------------------------------------------------------- */

#define KMIP_MAX_CREDENTIALS 4
#define KMIP_MAX_ATTEST_TYPES 8

struct kmip_credential {
	uint32_t type;               /* Credential Type */
	struct kmip_text username;   /* Username and Password */
	struct kmip_text password;   /* SECRET view: never log, never copy */
	struct kmip_bytes value;     /* other types: Credential Value item (header included) */
};

struct kmip_req_header {
	struct kmip_pv pv;
	int version;                 /* enum kmip_version of pv (decode: filled; encode: from pv) */
	bool has_max_response_size; int32_t max_response_size;
	struct kmip_text client_corr;        /* 1.4+ */
	struct kmip_text server_corr;        /* 1.4+ */
	bool has_async; bool async;
	bool has_attest_capable; bool attest_capable;    /* 1.2+ */
	uint32_t attest_types[KMIP_MAX_ATTEST_TYPES]; size_t n_attest_types; /* 1.2+ */
	bool has_auth;
	struct kmip_credential creds[KMIP_MAX_CREDENTIALS]; size_t n_creds;
	bool has_bec; uint32_t bec;          /* Batch Error Continuation Option */
	bool has_boo; bool boo;              /* Batch Order Option */
	bool has_time_stamp; int64_t time_stamp;
	int32_t batch_count;                 /* decode: as sent (== n_items); encode: ignored */
};

struct kmip_rsp_header {
	struct kmip_pv pv;
	int version;
	int64_t time_stamp;
	struct kmip_bytes nonce;             /* 1.2+: Nonce contents (Nonce ID, Nonce Value) */
	struct kmip_bytes server_hashed_password;   /* 2.0 */
	uint32_t attest_types[KMIP_MAX_ATTEST_TYPES]; size_t n_attest_types; /* 1.2+ */
	struct kmip_text client_corr;        /* 1.4+ */
	struct kmip_text server_corr;        /* 1.4+ */
	int32_t batch_count;
};

struct kmip_req_item {
	uint32_t op;
	bool has_ephemeral; bool ephemeral;  /* 2.0 */
	struct kmip_bytes id;                /* Unique Batch Item ID, p == NULL if absent */
	struct kmip_payload pl;
	struct kmip_bytes ext;               /* Message Extension items, encoded (verbatim) */
};

struct kmip_rsp_item {
	bool has_op; uint32_t op;            /* absent in some failure responses */
	struct kmip_bytes id;                /* echo of the request's Unique Batch Item ID */
	uint32_t status;                     /* Result Status */
	bool has_reason; uint32_t reason;    /* Result Reason */
	struct kmip_text message;            /* Result Message */
	struct kmip_bytes async_corr;        /* Asynchronous Correlation Value */
	bool has_payload; struct kmip_payload pl;
	struct kmip_bytes ext;
};

struct kmip_request {
	struct kmip_req_header h;
	struct kmip_req_item *items;
	size_t n_items;
};

struct kmip_response {
	struct kmip_rsp_header h;
	struct kmip_rsp_item *items;
	size_t n_items;
};

/* What a failed decode had parsed, so the server can answer in the right version. */
struct kmip_decode_error {
	cf_err rc;
	bool has_pv; struct kmip_pv pv;   /* Protocol Version, once it parsed */
	int version;                      /* enum kmip_version, -1 if unknown */
	long item;                        /* 0-based batch item index, -1 if not in an item */
	struct kmip_bytes item_id;        /* that item's Unique Batch Item ID if parsed */
	bool has_op; uint32_t op;         /* that item's Operation if parsed */
	bool has_pos; size_t offset;      /* absolute offset of the failing item's header */
	uint32_t tag;                     /* its tag (0 if unknown) */
	uint32_t status, reason;          /* Result Status / Reason to send (kmip_result_for_version) */
};

/* Decode a whole Request Message of exactly n bytes. On failure *out is zeroed and err (if
 * not NULL) says what parsed; on success err->rc == CF_OK. lim NULL = KMIP_LIMITS_DEFAULT. */
MUST_USE cf_err kmip_decode_request(const uint8_t *buf, size_t n, const struct kmip_limits *lim,
				    struct kmip_arena *a, struct kmip_request *out,
				    struct kmip_decode_error *err);
MUST_USE cf_err kmip_decode_response(const uint8_t *buf, size_t n, const struct kmip_limits *lim,
				     struct kmip_arena *a, struct kmip_response *out,
				     struct kmip_decode_error *err);
/* Encode in the version of h.pv; Batch Count is n_items. CF_E_NO_SPACE when w is too small.
 * On any failure the writer's contents are unusable (discard them). Errors: CF_E_BAD_VERSION
 * (pv not 1.0-2.0), CF_E_BAD_ENUM (an enumeration value the version lacks, e.g. a 2.0
 * Result Reason in a 1.x response), CF_E_BAD_ATTR (an attribute with no form in the
 * version), CF_E_MISSING (a field the version requires), CF_E_INVALID_ARG.
 * Limitation: Unique Identifier is a Text String in typed payloads (the 2.0 Enumeration /
 * Integer forms of Unique Identifier decode as CF_E_BAD_TYPE). */
MUST_USE cf_err kmip_encode_request(ttlv_wr *w, const struct kmip_request *req);
MUST_USE cf_err kmip_encode_response(ttlv_wr *w, const struct kmip_response *r);

/* Payload alone (e.g. for tools): decode the contents of a Request/Response Payload. */
MUST_USE cf_err kmip_payload_decode(const uint8_t *p, size_t n, uint32_t op, bool response,
				    int version, const struct kmip_limits *lim,
				    struct kmip_arena *a, struct kmip_payload *out);
/* Write a Request Payload / Response Payload structure (tag chosen by `response`). */
MUST_USE cf_err kmip_payload_encode(ttlv_wr *w, const struct kmip_payload *pl, bool response,
				    int version);

/* ---- results (kmip_err.c) ------------------------------------------------------------- */

/* cf_err -> Result Status / Result Reason, valid in every version (1.0 - 2.0). CF_OK gives
 * Success / 0. */
void kmip_result_for(cf_err rc, uint32_t *status, uint32_t *reason);
/* The same, using the finer 2.0 reasons (Unknown Tag, Unsupported Protocol Version, ...)
 * when version >= KMIP_V2_0. */
void kmip_result_for_version(cf_err rc, int version, uint32_t *status, uint32_t *reason);

#endif
