/* Private to firmware/ops/: the worker, the per-request and per-item contexts, the handler
 * type, the helpers the operation families share (ops_util.c) and the worker's audit and
 * commit functions the dispatch uses (ops_worker.c). The handlers call helpers only (these and
 * the attribute conversions of ops_attr.c), never the dispatch (ops.c). */
#ifndef COFFRE_FIRMWARE_OPS_INT_H
#define COFFRE_FIRMWARE_OPS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"
#include "firmware/ops/authz.h"
#include "firmware/ops/ops.h"
#include "firmware/store/store.h"
#include "hsm/hsm.h"
#include "kmip/kmip.h"
#include "kmip/kmip_wrap.h"

#define OPS_ARENA_SIZE (4u << 20)         /* decoded request + response structures */
#define OPS_KEYBUF_SIZE (64u << 10) /* unwrapped / converted key material of one response */
#define OPS_SYM_MAX 64u                   /* largest symmetric key Create generates (bytes) */
#define OPS_SYM_BLOB_MAX (OPS_SYM_MAX + HSM_BLOB_OVERHEAD)
#define OPS_HSM_WAIT_MS 2000u
#define OPS_SKEW_S 120                    /* request Time Stamp skew that is logged */
#define OPS_VENDOR_DEFAULT "Coffre KMIP server"

/* An audit record of a read-only request, kept until the worker's next flush (docs/
 * kmip-server.md "Durability and group commit"). */
struct ops_aq_ent {
	int64_t time;
	int64_t result;
	const char *operation;           /* static name */
	char *detail;                    /* malloc'd copy or NULL */
	char actor[STORE_OWNER_MAX + 1];
	char source[NET_PEER_MAX];
	char uid[STORE_UID_MAX + 1];
	bool stale;                      /* the Get returned uid's material: Fresh ends */
};
#define OPS_AQ_MAX 256u

struct ops_prep_ent {
	uint64_t conn_id;
	size_t item;
	char uid[STORE_UUID_LEN + 1];
	uint8_t blob[OPS_SYM_BLOB_MAX];
	size_t blob_n;
	char uid2[STORE_UUID_LEN + 1]; /* key pairs: as in struct ops_item */
	size_t split;
	uint32_t kind;
	uint8_t digest[HSM_SHA256_LEN];   /* the key's Digest Value (ops_srvattr.c) */
};
#define OPS_PREP_MAX 128u

struct ops_worker {
	struct svc *svc;
	unsigned index;
	struct store *st;           /* opened on the first READY request */
	hsm *hsm_of_sess;           /* the hsm the session came from */
	hsm_sess *sess;             /* acquired on the first READY request, kept */
	uint8_t *arena_buf;
	struct kmip_arena arena;
	uint8_t *keybuf;            /* sec_alloc, OPS_KEYBUF_SIZE */
	size_t keybuf_off;
	int wake_fd;                /* eventfd: the store's group syncs wake the net worker */
	struct ops_aq_ent *aq;      /* OPS_AQ_MAX queued read audit records */
	size_t aq_n, aq_cap;        /* grows past OPS_AQ_MAX only for one huge batch */
	/* the write transaction of the loop turn's deferred requests (docs/kmip-server.md
	 * "Batched writes"): opened by the first of them, committed by ops_flush */
	bool batch_open;
	/* Creates prepared (key generated and wrapped) when their request was deferred, taken by
	 * its run; what is left is dropped by ops_flush at the end of the turn */
	struct ops_prep_ent *prep;  /* OPS_PREP_MAX, allocated on first use */
	size_t prep_n;
	bool cs_forget;             /* ops_cs_forget since the last commit */
};

/* Per request. */
struct ops_req {
	struct ops_worker *w;
	struct net_conn_info *ci;
	struct authz_principal who;
	int ver;                          /* enum kmip_version of the request */
	int64_t now;
	char placeholder[STORE_UID_MAX + 1]; /* ID Placeholder: uid of the last Create/Register */
	bool audit_queue;                 /* read-only request: audit records go to w->aq */
	bool stale;                       /* this item returned a Fresh object's material: its
					   * audit record ends Fresh (ops_srvattr.c) */
	const uint32_t *supported;        /* the dispatch table's operations, for Query */
	size_t n_supported;
	struct ops_item *item;            /* the item running (ops_object_load's archive rule);
					   * NULL outside an item's run */
};

/* Per batch item. */
struct ops_item {
	const struct kmip_req_item *rq;
	struct kmip_rsp_item *rs;
	char uid[STORE_UID_MAX + 1];  /* for the audit record ("" = none) */
	const char *msg;              /* Result Message on failure (static text, no secrets) */
	uint32_t reason;              /* explicit Result Reason on failure, 0 = from the cf_err */
	bool fail_payload;            /* the failure keeps the handler's payload (Check: the
				       * values refused, 1.4 section 4.10) */
	/* Create prepared before the write transaction (ops_create_prep): the HSM work, which
	 * needs nothing from the store, done without the write lock */
	bool prepped;
	char prep_uid[STORE_UUID_LEN + 1];
	uint8_t *prep_blob;           /* wrapped blob in the arena (wiped with it) */
	size_t prep_blob_n;
	/* Create Key Pair / Re-key Key Pair (ops_keypair_prep): prep_uid = the private key's,
	 * prep_uid2 = the public key's, prep_blob = private blob || public blob split at
	 * prep_split, prep_kind = the enum hsm_kp_type it was made for */
	char prep_uid2[STORE_UUID_LEN + 1];
	size_t prep_split;
	uint32_t prep_kind;
	uint8_t prep_digest[HSM_SHA256_LEN]; /* SHA-256 of the key material, by the HSM */
};

typedef MUST_USE cf_err (*ops_fn)(struct ops_req *r, struct ops_item *it);

/* Failure with an explicit reason and message: returns rc. */
static inline MUST_USE cf_err ops_fail(struct ops_item *it, cf_err rc, uint32_t reason,
				       const char *msg)
{
	it->reason = reason;
	it->msg = msg;
	return rc;
}

/* ---- server-kept attributes (ops_srvattr.c) ------------------------------------------- */

/* Our lease policy (1.4 section 3.15, Lease Time; Check): a client may use key material for
 * an hour without checking back. Advisory: coffred keeps no client-side lease state. */
#define OPS_LEASE_SECONDS 3600u

/* How many ops_srvattr_add can append at most; whether name is one of them. */
size_t ops_srvattr_max(void);
bool ops_srvattr_is(const char *name);
/* hsm_dek_make flags for a key of this Cryptographic Algorithm (digest; DES parity). */
unsigned ops_srvattr_make_flags(uint32_t alg);
/* A Get of o ended with rc: if it returned the key material, its audit record ends Fresh
 * (ops_audit). */
void ops_srvattr_got(struct ops_req *r, const struct store_object *o, cf_err rc);
/* Append o's server-kept attributes (name NULL = all, else that one) to v[cap], leaving out
 * names present in rows (a client-set value wins; rows may be NULL). */
MUST_USE cf_err ops_srvattr_add(struct ops_req *r, const struct store_object *o, const char *name,
				const struct store_attr_list *rows, struct kmip_attr *v, size_t cap,
				size_t *n);
/* The tags of o's server-kept attributes in this version. */
MUST_USE cf_err ops_srvattr_names(struct ops_req *r, const struct store_object *o, uint32_t *tags,
				  size_t cap, size_t *n);

/* ---- helpers (ops_util.c) ------------------------------------------------------------ */

/* The Result Reason for the request's version: the 1.x value, or the finer 2.0 one. */
static inline uint32_t ops_why(const struct ops_req *r, uint32_t v1, uint32_t v2)
{
	return r->ver >= KMIP_V2_0 ? v2 : v1;
}
/* KMIP Hashing Algorithm -> enum hsm_hash; HSM_HASH_NONE for one the HSM layer does not do. */
enum hsm_hash ops_hash_of(uint32_t kmip_hash);
/* Cryptographic Algorithm HMAC-SHA* -> its hash; HSM_HASH_NONE for any other algorithm. */
enum hsm_hash ops_hmac_hash_of(uint32_t alg);
/* A Link attribute row (Link Type + Linked Object Identifier, its TTLV contents) in the
 * arena. */
MUST_USE cf_err ops_link_row(struct ops_req *r, uint32_t type, const char *to,
			     struct store_attr *sa);

/* Arena copies. */
MUST_USE cf_err ops_dup(struct ops_req *r, const void *p, size_t n, void **out);
MUST_USE cf_err ops_text(struct ops_req *r, const char *s, struct kmip_text *out);
MUST_USE cf_err ops_cstr(struct ops_req *r, const char *p, size_t n, char **out);
/* The item's Unique Identifier (or the ID Placeholder when absent) as a C string; also
 * recorded in it->uid. A uid we could never have issued is CF_E_NOT_FOUND. */
MUST_USE cf_err ops_uid(struct ops_req *r, struct ops_item *it, struct kmip_text uid,
			char out[static STORE_UID_MAX + 1]);
/* Load the tenant's object (CF_E_NOT_FOUND for absent or another tenant's). An archived
 * object is refused with Object Archived (CF_E_STATE) unless the running item's operation
 * serves archived objects (ops_serves_archived, ops_life.c). */
MUST_USE cf_err ops_object_load(struct ops_req *r, const char *uid, struct store_object *o);
/* Session (acquired lazily); the random source for store_uid_new (kernel CSPRNG). */
MUST_USE cf_err ops_sess(struct ops_req *r, hsm_sess **out);
MUST_USE cf_err ops_rng(void *arg, void *buf, size_t n);
/* n bytes of the worker's locked key buffer, wiped after the response is encoded. */
MUST_USE cf_err ops_keybuf(struct ops_req *r, size_t n, uint8_t **out);
/* Give back the unused tail of the last ops_keybuf block p (asked bytes, used kept). */
void ops_keybuf_trim(struct ops_req *r, const uint8_t *p, size_t asked, size_t used);
/* The operation's KMIP name (audit records, logs); "Unknown" for a value KMIP does not
 * name. */
const char *ops_op_name(uint32_t op);

/* ---- the worker (ops_worker.c), for the dispatch --------------------------------------- */

/* An object's right to be used changes (revoke, destroy, archive, re-key, an attribute): every
 * session's cached HSM objects of managed keys go (hsm_cs_cache_invalidate) now, and again once
 * the change is committed (ops_cs_forget_committed), so a worker that read the old state before
 * the commit cannot keep a key it cached in between. */
void ops_cs_forget(struct ops_req *r);
/* After a commit: the second invalidation if one is due and no transaction is open. */
void ops_cs_forget_committed(struct ops_worker *w);

/* Does one of the request's items write (its operation's access is OPS_WRITE)? Such a request
 * runs in a write transaction, one that does not in a read snapshot (ops.c). */
bool ops_request_writes(const struct kmip_request *rq);

/* Open the worker's store connection if it is not open (registers wake_fd for its syncs). */
MUST_USE cf_err ops_worker_store(struct ops_worker *w);
/* Audit one record for the item in the currently open transaction (or on its own); for a
 * read-only request, queued for the worker's next flush. */
MUST_USE cf_err ops_audit(struct ops_req *r, uint32_t op, const char *uid, int64_t result,
			  const char *detail);
/* Commit the queued read audit records (one transaction) and the loop turn's write batch;
 * *ticket = what to wait for. */
MUST_USE cf_err ops_flush(struct ops_worker *w, uint64_t *ticket);
/* The held answer held[n] (an encoded Response Message of this worker) will never be
 * acknowledged: write in out[cap] the same message with every item Operation Failed, General
 * Failure, "store commit failed" (net.h struct net_hold_ops .failed). */
MUST_USE cf_err ops_answer_unacknowledged(struct ops_worker *w, const uint8_t *held, size_t n,
					  uint8_t *out, size_t cap, size_t *out_len);
/* After a store write or commit returned rc: a full data disk sets svc->disk_full, a write
 * that commits clears it (the console says both, once). */
void ops_disk_note(struct ops_worker *w, cf_err rc);
/* Hold ci's answer until ticket (a group commit ticket or NET_HOLD_*) through the worker's
 * hold ops. */
void ops_hold(struct net_conn_info *ci, uint64_t ticket);

/* ---- attributes (ops_attr.c) ----------------------------------------------------------- */

/* The stored name of an attribute: the spec name for known tags, "x-Name" for custom and
 * 2.0 vendor attributes. CF_E_BAD_ATTR if it cannot be named. */
MUST_USE cf_err ops_attr_name(const struct kmip_attr *a, char out[static STORE_NAME_MAX + 1]);
MUST_USE cf_err ops_ref_name(const struct kmip_attr_ref *ref, char out[static STORE_NAME_MAX + 1]);
/* kmip_attr -> store_attr (text values copied NUL-terminated into the arena). */
MUST_USE cf_err ops_attr_to_store(struct ops_req *r, const struct kmip_attr *a, const char *name,
				  struct store_attr *sa);
/* store_attr -> kmip_attr (value bytes in the arena). CF_E_BAD_ATTR when the stored row is
 * not an attribute in this version (internal rows): the caller skips it. */
MUST_USE cf_err ops_attr_from_store(struct ops_req *r, const struct store_attr *sa,
				    struct kmip_attr *a);
/* Attributes kept as object columns, for the object o, named `name` (NULL = all), appended to
 * v[*n] (cap entries). */
MUST_USE cf_err ops_attr_columns(struct ops_req *r, const struct store_object *o, const char *name,
				 struct kmip_attr *v, size_t cap, size_t *n);
/* True when `name` is one of the column-backed attributes. */
bool ops_attr_is_column(const char *name);
/* Name Value from a Name structure's contents. */
MUST_USE cf_err ops_name_value(const struct kmip_bytes *contents, struct kmip_text *out);

/* ---- key formats and certificates (ops_keyfmt.c, OpenSSL 3) -------------------------- */

/* What a registered key or certificate is, learned from its DER. */
struct ops_keyinfo {
	uint32_t alg;      /* KMIP Cryptographic Algorithm, 0 = unknown */
	int32_t len;       /* Cryptographic Length in bits, 0 = unknown */
	uint32_t format;   /* the registered Key Format Type */
};
/* A Public or Private Key's Key Block (any supported Key Format Type) -> its canonical DER
 * (SubjectPublicKeyInfo / PKCS#8 PrivateKeyInfo) in out[cap] (locked memory); refusals carry
 * their Result Reason (Key Format Type Not Supported, Invalid Field). */
MUST_USE cf_err ops_keyfmt_import(struct ops_req *r, struct ops_item *it, uint32_t type,
				  const struct kmip_key_block *kb, uint8_t *out, size_t cap,
				  size_t *out_n, struct ops_keyinfo *ki);
/* The canonical DER der[n] of a Public or Private Key -> kb->format, kb->material (and
 * material_type) in `format` (0: PKCS#1 for RSA, else PKCS#8 / X.509), converted in the
 * worker's key buffer; Key Format Type Not Supported when this key has no such form.
 * kb->material may point into der. */
MUST_USE cf_err ops_keyfmt_export(struct ops_req *r, struct ops_item *it, uint32_t type,
				  const uint8_t *der, size_t n, uint32_t format,
				  struct kmip_key_block *kb);
/* Check an X.509 certificate's DER and append the attributes the server keeps for it
 * (Certificate Type / Length, X.509 and 1.x Certificate Identifier / Subject / Issuer,
 * Digital Signature Algorithm) to rows[*n_rows..cap); its public key in *ki. */
MUST_USE cf_err ops_cert_rows(struct ops_req *r, struct ops_item *it, const uint8_t *der,
			      size_t n, struct store_attr *rows, size_t cap, size_t *n_rows,
			      struct ops_keyinfo *ki);
/* The Digest Value of a Public or Private Key the server made, from its canonical DER: SHA-256
 * of the PKCS#1 form for RSA (Key Format Type PKCS#1, as the AKLC test cases show), of the
 * canonical DER otherwise (PKCS#8 / X.509); ops_srvattr.c names the format when asked. */
MUST_USE cf_err ops_keyfmt_digest(struct ops_req *r, uint32_t type, const uint8_t *der,
				  size_t n, uint8_t md[HSM_SHA256_LEN]);
/* The Digest Value of a registered key in its registered Key Format Type (KMIP 1.4 section
 * 3.17): SHA-256 of the Key Material Byte String, or of the TTLV-encoded Key Material structure
 * (Transparent formats). Used for a key a client registers; ops_keyfmt_digest for the keys the
 * server makes. */
MUST_USE cf_err ops_keyfmt_digest_reg(const struct kmip_key_block *kb,
				      uint8_t md[HSM_SHA256_LEN]);

/* ---- handlers ------------------------------------------------------------------------ */
MUST_USE cf_err ops_discover_versions(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_query(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_check(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_create(struct ops_req *r, struct ops_item *it);
/* Generate the key of a Create item ahead of its transaction; any failure leaves the item
 * unprepared (ops_create then does it all and reports the error). */
void ops_create_prep(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_register(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_get(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_get_attributes(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_get_attribute_list(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_add_attribute(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_modify_attribute(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_delete_attribute(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_set_attribute(struct ops_req *r, struct ops_item *it);    /* ops_attr_set.c */
MUST_USE cf_err ops_adjust_attribute(struct ops_req *r, struct ops_item *it); /* ops_attr_set.c */
MUST_USE cf_err ops_check(struct ops_req *r, struct ops_item *it);            /* ops_check.c */
MUST_USE cf_err ops_locate(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_activate(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_revoke(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_destroy(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_create_key_pair(struct ops_req *r, struct ops_item *it);
/* The key pair of a Create Key Pair / Re-key Key Pair item made ahead of its transaction (as
 * ops_create_prep; a Re-key reads the existing key outside the transaction, and its run makes
 * the pair again if what it finds then asks for another type). */
void ops_keypair_prep(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_rekey_key_pair(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_rekey(struct ops_req *r, struct ops_item *it);
/* ops_life.c: Archive, Recover, Obtain Lease, Get Usage Allocation, Poll, Cancel; the operations that serve an
 * archived object. */
MUST_USE cf_err ops_archive(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_recover(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_obtain_lease(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_get_usage_allocation(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_poll(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_cancel(struct ops_req *r, struct ops_item *it);
bool ops_serves_archived(uint32_t op);
/* ops_certify.c: certificates issued by the KMIP Certify CA (not the appliance CA). */
MUST_USE cf_err ops_certify(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_recertify(struct ops_req *r, struct ops_item *it);

/* ---- cryptographic services (ops_crypto.c, ops_derive.c) ------------------------------ */

/* What a key's rows say beyond its object columns (one store read). */
struct ops_cs_rows {
	struct store_attr_list l;          /* owned: store_attr_list_free */
	const struct store_attr *params;   /* lowest-index Cryptographic Parameters, or NULL */
	const struct store_attr *limits;   /* Usage Limits, or NULL */
	bool has_process_start, has_protect_stop;
	int64_t process_start, protect_stop;
};
MUST_USE cf_err ops_cs_rows_load(struct ops_req *r, const char *uid, struct ops_cs_rows *k);
/* May key o be used for `mask` now (process: a use that processes protected data, allowed
 * when Deactivated / Compromised and after Protect Stop Date)? Refusals carry their reason. */
MUST_USE cf_err ops_cs_policy(struct ops_req *r, struct ops_item *it, const struct store_object *o,
			      uint32_t mask, bool process, const struct ops_cs_rows *k);
/* Usage Limits row a: refuse when exhausted, else count one use of n bytes down. */
MUST_USE cf_err ops_cs_limits_take(struct ops_req *r, struct ops_item *it, const char *uid,
				   const struct store_attr *a, size_t n);
/* Usage Limits row a: refuse when what is left does not cover `cost` units (Get Usage
 * Allocation, ops_life.c), else count them down; a row without a Count or Total is Illegal
 * Operation (2.0 Attribute Not Found). */
MUST_USE cf_err ops_cs_limits_take_units(struct ops_req *r, struct ops_item *it, const char *uid,
					 const struct store_attr *a, int64_t cost);
/* AES Block Cipher Mode / Padding / Tag Length / Counter Length -> p (mech, tag_n, ctr_bits);
 * *streamable set for CBC / CTR / ECB. */
MUST_USE cf_err ops_cs_aes_map(struct ops_req *r, struct ops_item *it,
			       const struct kmip_crypto_params *cp, struct hsm_cs_params *p,
			       bool *streamable);
MUST_USE cf_err ops_crypt(struct ops_req *r, struct ops_item *it); /* Encrypt .. MAC Verify */
MUST_USE cf_err ops_hash(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_rng_retrieve(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_rng_seed(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_derive_key(struct ops_req *r, struct ops_item *it);   /* ops_derive.c */
/* Derive Key's new object (ops_create.c): the template checked as Create's (type Symmetric
 * Key or Secret Data, Cryptographic Length required), then make() seals out_len bytes bound
 * to the new uid into blob; the object inserted with its rows plus `extra` (Links). */
typedef MUST_USE cf_err (*ops_make_fn)(struct ops_req *r, struct ops_item *it, void *arg,
				       size_t out_len, const struct hsm_bind *b, uint8_t *blob,
				       size_t cap, size_t *blob_n, uint8_t digest[HSM_SHA256_LEN]);
MUST_USE cf_err ops_create_derived(struct ops_req *r, struct ops_item *it, uint32_t type,
				   const struct kmip_tmpl *tmpl, const struct store_attr *extra,
				   size_t n_extra, ops_make_fn make, void *arg,
				   char uid_out[static STORE_UUID_LEN + 1], struct kmip_text *uid_txt);

/* ---- split keys (ops_split.c) -------------------------------------------------------- */
MUST_USE cf_err ops_create_split_key(struct ops_req *r, struct ops_item *it);
MUST_USE cf_err ops_join_split_key(struct ops_req *r, struct ops_item *it);
/* A new object of Create Split Key / Join Split Key, stored as Register stores (ops_create.c):
 * the template checked as Create's, the key's algorithm / length / usage mask (when given)
 * taking precedence over it, `extra` rows added, the material (locked memory, the caller
 * wipes it) wrapped under the current KEK bound to the new uid; digest: the HSM takes its
 * SHA-256 in the wrapping job (a Symmetric Key's Digest). */
struct ops_new_obj {
	uint32_t type;                       /* Object Type */
	const struct kmip_tmpl *tmpl;        /* the request's attributes, NULL = none */
	bool has_alg, has_len, has_mask;
	uint32_t alg;
	int32_t len;
	uint32_t mask;
	const struct store_attr *extra;
	size_t n_extra;
	const uint8_t *material;
	size_t n;
	bool digest;
};
/* uid: the new object's Unique Identifier (store_uid_new); the ID Placeholder becomes it. */
MUST_USE cf_err ops_create_obj(struct ops_req *r, struct ops_item *it, const struct ops_new_obj *nw,
			       const char *uid, struct kmip_text *uid_txt);

/* ---- wrapped keys (ops_wrap.c) ------------------------------------------------------- */
/* Get's Key Wrap Type: Not Wrapped (without a Key Wrapping Specification) passes; anything else
 * is refused (Key Wrap Type Not Supported in 2.0). */
MUST_USE cf_err ops_wrap_type_check(struct ops_req *r, struct ops_item *it,
				    const struct kmip_req_get *q);
/* Get with a Key Wrapping Specification: answer o (in `format`) wrapped in the HSM under the
 * managed key the specification names; fills s. Refusals carry their Result Reason. */
MUST_USE cf_err ops_wrap_get(struct ops_req *r, struct ops_item *it, const struct store_object *o,
			     uint32_t format, struct kmip_rsp_get *s);
/* Register of a Key Block with Key Wrapping Data: unwrap it in the HSM and seal it under the
 * current KEK bound to b into blob[cap]; *dek_n = the key's length in bytes. */
MUST_USE cf_err ops_wrap_register(struct ops_req *r, struct ops_item *it,
				  const struct kmip_key_block *kb, const struct hsm_bind *b,
				  uint8_t *blob, size_t cap, size_t *blob_n, size_t *dek_n);

#endif
