/* hsm/: the only code that talks PKCS#11 (docs/architecture.md "Terms").
 *
 * Model
 *   hsm_open()        dlopen the module, C_GetFunctionList (version checked), C_Initialize
 *                     (CKF_OS_LOCKING_OK), select the token by label or RFC 7512 URI.
 *   hsm_login()       copy the user PIN into sec_alloc memory, log in, open the session pool,
 *                     find the KEKs (labels "coffre-kek-<n>") and pick the current one.
 *   hsm_session_*     a fixed pool of PKCS#11 sessions; a worker thread acquires one (bounded
 *                     wait) and keeps it. Every operation below takes the session.
 *   operations        each runs its module calls on the session's executor thread with a
 *                     deadline (cfg.timeout_ms): a call that hangs returns CF_E_HSM_TIMEOUT to
 *                     the caller on time and the session is quarantined (never reused).
 *   faults            CKR_SESSION_HANDLE_INVALID, CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED,
 *                     CKR_TOKEN_NOT_PRESENT, CKR_CRYPTOKI_NOT_INITIALIZED give a clean error
 *                     (CF_E_HSM_SESSION / CF_E_HSM_DEVICE / CF_E_HSM_NOT_INIT) and mark the
 *                     session broken; the next operation on it (or hsm_recover()) reopens the
 *                     session, re-initialises the module if needed (C_Finalize + C_Initialize),
 *                     logs in again and finds the KEKs again by label. No process restart.
 *
 * Errors: cf_err only (the HSM block -64..-95). CK_RV never crosses this header.
 * Secrets: PINs are taken as (ptr, len) and copied; unwrapped DEKs are written only into the
 * caller's sec_alloc buffer. Nothing here logs key bytes or PINs.
 * Thread safety: hsm_* functions taking an hsm are thread-safe except hsm_open/hsm_close;
 * a session is used by one thread at a time (the one that acquired it). */
#ifndef COFFRE_HSM_HSM_H
#define COFFRE_HSM_HSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

typedef struct hsm hsm;           /* opaque client (one per process, in svc_ctx) */
typedef struct hsm_sess hsm_sess; /* opaque pooled session */

#define HSM_DEFAULT_TIMEOUT_MS 5000u   /* a module call past it ends in CF_E_HSM_TIMEOUT */
#define HSM_DEFAULT_KEYGEN_TIMEOUT_MS 120000u
#define HSM_DEFAULT_POOL 4u
#define HSM_POOL_MAX 64u
#define HSM_PIN_MAX 256u
#define HSM_LABEL_MAX 32u              /* PKCS#11 token label field */
#define HSM_KEK_LABEL_PREFIX "coffre-kek-"
#define HSM_KEK_MAX 64u                /* KEK versions tracked */
#define HSM_DEK_MAX 8192u              /* largest DEK / secret (an RSA-4096 PKCS#8, a cert) */
#define HSM_UID_MAX 256u               /* largest unique id bound into a blob */
#define HSM_URI_MAX 512u               /* a key pair URI returned by hsm_keypair_generate */

struct hsm_config {
	const char *module_path;     /* PKCS#11 module (.so), required */
	const char *token;           /* token label, or a "pkcs11:" URI (token=, manufacturer=,
	                                serial=, model=, slot-id= are honoured); required */
	unsigned timeout_ms;         /* deadline per operation's module calls; 0 = default 5000 */
	unsigned keygen_timeout_ms;  /* deadline for key pair generation; 0 = default 120000 */
	unsigned pool_size;          /* sessions in the pool; 0 = 4; max HSM_POOL_MAX */
	bool backup_enabled;         /* new KEKs are CKA_EXTRACTABLE, but only under a
	                                CKA_TRUSTED wrapping key (CKA_WRAP_WITH_TRUSTED) */
	bool direct_calls;           /* run module calls on the caller's thread: no executor
	                                hand-off (faster, see bench-hsm) but a hung call blocks
	                                the caller: timeout_ms is then NOT enforced. Default
	                                false; for modules known not to hang (SoftHSMv2 in QA). */
	bool cs_cache_off;           /* no key object cache for hsm_cs_run / hsm_derive: every
	                                call opens and destroys the key's object (see
	                                HSM_CS_CACHE_MAX). Default false (cache on). */
	unsigned cs_cache_idle_ms;   /* a cached key object unused this long is destroyed at
	                                the session's next operation or sweep; 0 = default
	                                HSM_CS_CACHE_IDLE_MS */
};

/* ---- lifecycle ------------------------------------------------------------------ */

/* Load the module and select the token. Does not log in. *out = NULL on failure.
 * Errors: CF_E_INVALID_ARG, CF_E_HSM_LOAD, CF_E_HSM_NO_TOKEN, CF_E_HSM_NOT_INIT (token not
 * initialised), CF_E_HSM_*, CF_E_NOMEM. */
MUST_USE cf_err hsm_open(const struct hsm_config *cfg, hsm **out);
/* Wait for idle sessions, log out (wiping the PIN), close sessions, C_Finalize, dlclose.
 * Sessions still held by threads must have been released. NULL is a no-op. */
void hsm_close(hsm *h);

/* Copy the PIN (n bytes, 1..HSM_PIN_MAX) into locked memory and log in as the user. A PIN
 * already held is wiped and replaced. On failure the copy is wiped.
 * Errors: CF_E_HSM_PIN (incorrect/invalid), CF_E_HSM_LOCKED, CF_E_HSM_DEVICE, ... */
MUST_USE cf_err hsm_login(hsm *h, const uint8_t *pin, size_t n);
/* Log out, close the pool's sessions (they are reopened at the next login), wipe the PIN. */
void hsm_logout(hsm *h);
/* True while a PIN is held (for tests: the PIN copy is wiped when this is false). */
bool hsm_pin_held(const hsm *h);

/* Provisioning: initialise a token labelled `label` in the first slot whose token is not yet
 * initialised (SoftHSMv2 always offers one), set the SO PIN and the user PIN. Loads and
 * unloads the module itself (call it before hsm_open, or with no hsm open on the module).
 * Errors: CF_E_EXISTS (a token with that label exists), CF_E_HSM_NO_TOKEN (no free slot),
 * CF_E_HSM_PIN, CF_E_HSM_LOAD, ... */
MUST_USE cf_err hsm_token_init(const char *module_path, const char *label,
			       const uint8_t *so_pin, size_t so_n,
			       const uint8_t *user_pin, size_t user_n);

/* Provisioning with a choice of slot, and a guard against wiping a live token.
 *   has_slot     initialise the token in slot `slot_id` (else: the first slot whose token is
 *                not initialised)
 *   force        allow re-initialising a token that is already initialised: it wipes every
 *                object on it (KEKs included). Without force an initialised token is never
 *                touched (CF_E_EXISTS). With force and no slot, the token to re-initialise is
 *                the one labelled `label` (exactly one). C_InitToken still needs the token's
 *                current SO PIN (else CF_E_HSM_PIN).
 * *slot_out (may be NULL) = the slot id the token was initialised in. Informational only:
 * SoftHSMv2 renumbers a freshly initialised token at the next C_Initialize, so select tokens by
 * label or URI, never by a remembered slot id. Errors: CF_E_EXISTS (initialised and !force, or the
 * label is taken by another token), CF_E_HSM_NO_TOKEN (no such slot / no token in it / no
 * free slot), CF_E_HSM_PIN, CF_E_HSM_LOAD, CF_E_INVALID_ARG, CF_E_HSM_*. */
struct hsm_token_init_cfg {
	const char *module_path;
	const char *label;             /* 1..32 bytes */
	const uint8_t *so_pin;
	size_t so_n;
	const uint8_t *user_pin;
	size_t user_n;
	bool has_slot;
	unsigned long slot_id;
	bool force;
};
MUST_USE cf_err hsm_token_init_ex(const struct hsm_token_init_cfg *cfg, unsigned long *slot_out);

/* ---- session pool --------------------------------------------------------------- */

/* Take a session, waiting at most wait_ms (0 = do not wait). A broken session is repaired
 * (reopened, module re-initialised if needed) before it is handed out.
 * Errors: CF_E_HSM_BUSY (pool exhausted for wait_ms), CF_E_HSM_NOT_INIT (not logged in),
 * CF_E_HSM_DEVICE / CF_E_HSM_TIMEOUT (repair failed). */
MUST_USE cf_err hsm_session_acquire(hsm *h, unsigned wait_ms, hsm_sess **out);
/* Give a session back. NULL is a no-op. */
void hsm_session_release(hsm_sess *s);

/* Check the module and every idle session (C_GetSessionInfo), repair what is broken:
 * reopen sessions, C_Finalize + C_Initialize if needed, log in again, find KEKs again.
 * CF_OK when the HSM is usable. */
MUST_USE cf_err hsm_recover(hsm *h);
/* Counters for status and tests. */
struct hsm_stats {
	unsigned sessions_open;    /* sessions in the pool that are usable */
	unsigned sessions_quarantined; /* executors still stuck in a hung call */
	unsigned long reinits;     /* C_Finalize + C_Initialize cycles done by recovery */
	unsigned long reopens;     /* sessions reopened by recovery */
	unsigned long timeouts;    /* operations that hit the deadline */
	unsigned kek_count;
	uint32_t kek_current;      /* 0 = none */
};
void hsm_stats_get(hsm *h, struct hsm_stats *out);

/* ---- KEKs ----------------------------------------------------------------------- */

/* Generate KEK version max+1 (label "coffre-kek-<v>", AES-256, token, private, sensitive,
 * not extractable unless backups are enabled), read back its attributes and destroy it if they
 * violate the policy (CF_E_HSM_POLICY). Does not make it current. *version = new version. */
MUST_USE cf_err hsm_kek_create(hsm_sess *s, uint32_t *version);
/* Find KEK `version` on the token (by label) and check its policy. CF_E_HSM_NOT_FOUND. */
MUST_USE cf_err hsm_kek_find(hsm_sess *s, uint32_t version);
/* Make `version` the KEK new blobs are wrapped under. */
MUST_USE cf_err hsm_kek_make_current(hsm *h, uint32_t version);
/* Current KEK version, 0 if none. After login the highest version found is current. */
uint32_t hsm_kek_current(hsm *h);
/* Versions found on the token (ascending) into out[cap]; *n = how many exist (may be > cap:
 * CF_E_NO_SPACE). */
MUST_USE cf_err hsm_kek_list(hsm_sess *s, uint32_t *out, size_t cap, size_t *n);
/* Destroy KEK `version` on the token. Refuses the current KEK (CF_E_STATE). */
MUST_USE cf_err hsm_kek_destroy(hsm_sess *s, uint32_t version);
/* Zeroize: destroy EVERY object on the token (CKA_TOKEN = true: every KEK, the current one
 * included, key pairs, backup keys, objects hsm/ did not make) through a new session that
 * inherits the user login, and forget the KEK table. *destroyed = objects destroyed (also on
 * error). The caller must have stopped every user of the hsm first (the service restarts
 * after a zeroize). */
MUST_USE cf_err hsm_token_wipe(hsm *h, unsigned *destroyed);

/* ---- wrapped blobs (DEKs) --------------------------------------------------------- */

/* The binding of a blob to its row: unique id and KMIP object type. */
struct hsm_bind {
	const uint8_t *uid;  /* 1..HSM_UID_MAX bytes */
	size_t uid_n;
	uint32_t obj_type;   /* KMIP Object Type enumeration */
};

/* Blob size for a DEK of dek_n bytes (header + nonce + ciphertext + tag). */
size_t hsm_blob_size(size_t dek_n);
#define HSM_BLOB_OVERHEAD 44u  /* 16 header + 12 nonce + 16 tag */

/* Fields of a blob header (parsed without the HSM; for the store and tools). */
struct hsm_blob_info {
	uint8_t format;       /* HSM_BLOB_FORMAT */
	uint8_t mech;         /* HSM_BLOB_MECH_* */
	uint32_t kek_version;
	uint32_t dek_len;
};
#define HSM_BLOB_FORMAT 1u
#define HSM_BLOB_MECH_AES_GCM 1u
/* "KWP then GCM": the payload sealed by the GCM layer is itself the output of C_WrapKey with
 * CKM_AES_KEY_WRAP_PAD (RFC 5649) under the same KEK: a private key made inside the HSM
 * (hsm_kp_generate_wrapped) whose plaintext never left it. dek_len = the KWP ciphertext
 * length (a multiple of 8, >= 16); hsm_dek_unwrap returns the PKCS#8 PrivateKeyInfo DER. */
#define HSM_BLOB_MECH_KWP_GCM 2u
/* CF_E_HSM_BLOB when the header is malformed, its length disagrees with n, or unknown. */
MUST_USE cf_err hsm_blob_info_get(const uint8_t *blob, size_t n, struct hsm_blob_info *out);

/* The header parser on its own: a pure function over untrusted bytes (blobs come back from
 * SQLite), no HSM, no allocation; hsm/blob.c, fuzzed by tests/fuzz/fuzz_hsm_blob.c.
 * Header (16 bytes, big-endian): "CFKW" | format u8 | mech u8 | reserved u16 (0) |
 * kek_version u32 (> 0) | dek_len u32 (1..HSM_DEK_MAX); the blob is exactly
 * header + 12 nonce + dek_len + 16 tag bytes. mech HSM_BLOB_MECH_AES_GCM, or
 * HSM_BLOB_MECH_KWP_GCM with dek_len a multiple of 8 and >= 16. CF_OK or CF_E_HSM_BLOB (then
 * *out is zeroed). */
#define HSM_BLOB_HDR_LEN 16u
struct hsm_blob_hdr {
	uint8_t format;       /* HSM_BLOB_FORMAT */
	uint8_t mech;         /* HSM_BLOB_MECH_* */
	uint16_t reserved;    /* 0 */
	uint32_t kek_version;
	uint32_t dek_len;
};
MUST_USE cf_err hsm_blob_parse(const uint8_t *blob, size_t n, struct hsm_blob_hdr *out);
/* Serialise a header (the inverse of hsm_blob_parse on its first 16 bytes). */
void hsm_blob_hdr_write(const struct hsm_blob_hdr *hdr, uint8_t out[HSM_BLOB_HDR_LEN]);

/* Generate dek_n (1..HSM_DEK_MAX) bytes of key material with the HSM's generator and write it
 * only wrapped under the current KEK into blob[cap]; *blob_n = bytes written.
 * Errors: CF_E_NO_SPACE (cap < hsm_blob_size(dek_n)), CF_E_HSM_NOT_FOUND (no current KEK). */
MUST_USE cf_err hsm_dek_generate(hsm_sess *s, size_t dek_n, const struct hsm_bind *b,
				 uint8_t *blob, size_t cap, size_t *blob_n);
/* What a generate or wrap also does with the plaintext, inside the same executor job (the
 * plaintext exists only in the executor's locked scratch, docs/kmip-server.md "Digest"). */
#define HSM_SHA256_LEN 32u
#define HSM_DEK_DIGEST 1u      /* SHA-256 of the key material by the HSM (C_Digest), to digest */
#define HSM_DEK_DES_PARITY 2u  /* generate only: odd parity in each byte's low bit (DES, 3DES) */
/* hsm_dek_generate / hsm_dek_wrap with flags; digest[HSM_SHA256_LEN] receives the SHA-256
 * when HSM_DEK_DIGEST is set (dek NULL = generate): a created key's Digest. */
MUST_USE cf_err hsm_dek_make(hsm_sess *s, const uint8_t *dek, size_t dek_n, unsigned flags,
			     const struct hsm_bind *b, uint8_t *blob, size_t cap, size_t *blob_n,
			     uint8_t digest[HSM_SHA256_LEN]);
/* Wrap caller-supplied key material (KMIP Register) under the current KEK. */
MUST_USE cf_err hsm_dek_wrap(hsm_sess *s, const uint8_t *dek, size_t dek_n,
			     const struct hsm_bind *b, uint8_t *blob, size_t cap, size_t *blob_n);
/* Unwrap into out[cap] (the caller's sec_alloc buffer); *out_n = DEK length. A
 * HSM_BLOB_MECH_KWP_GCM blob gives the PKCS#8 PrivateKeyInfo DER (its length is known only
 * after the unwrap: at most dek_len - 8).
 * Errors: CF_E_HSM_BLOB (malformed / unknown format or mechanism), CF_E_HSM_WRONG_KEK (the
 * blob names a KEK version we do not have), CF_E_HSM_UNWRAP (tampered, or bound to another
 * uid / object type), CF_E_NO_SPACE. On any error out[] is wiped and *out_n = 0. */
MUST_USE cf_err hsm_dek_unwrap(hsm_sess *s, const uint8_t *blob, size_t n,
			       const struct hsm_bind *b, uint8_t *out, size_t cap, size_t *out_n);
/* Re-wrap a blob under the current KEK (rotation). The DEK exists in plaintext only in the
 * session's locked scratch memory during the call; a HSM_BLOB_MECH_KWP_GCM blob's private key
 * only inside the HSM (C_UnwrapKey under the old KEK, C_WrapKey under the new one). Errors
 * as unwrap + wrap. */
MUST_USE cf_err hsm_dek_rewrap(hsm_sess *s, const uint8_t *blob, size_t n,
			       const struct hsm_bind *b, uint8_t *out, size_t cap, size_t *out_n);

/* ---- key wrapping for KMIP (keywrap.c) -------------------------------------------- */

/* KMIP Get with a Key Wrapping Specification and Register of wrapped key material, with a
 * managed AES key as the wrapping key. Both keys are given as their blobs; inside one job the
 * HSM opens them into session objects (CKA_TOKEN false, sensitive), runs C_WrapKey /
 * C_UnwrapKey and destroys the objects. The plaintext exists only in the executor's locked
 * scratch, never in the caller's memory (docs/hsm.md "Key wrapping for KMIP" says why it
 * passes there at all with SoftHSMv2). */
enum hsm_kw_mech {
	HSM_KW_AES = 1,      /* RFC 3394 AES key wrap, CKM_AES_KEY_WRAP: key length % 8 == 0, >= 16 */
	HSM_KW_AES_PAD = 2,  /* RFC 5649 AES key wrap with padding, CKM_AES_KEY_WRAP_PAD */
};
/* A managed key: its blob and the binding it was sealed with. */
struct hsm_kw_key {
	const uint8_t *blob;
	size_t n;
	struct hsm_bind bind;
};
#define HSM_KW_OUT_MAX (HSM_DEK_MAX + 16u)  /* wrapped length of the largest DEK */
/* Wrap `key`'s DEK with the AES key `wkey` (16/24/32 bytes): out[cap] receives the wrapped
 * bytes (not secret), *out_n their length. Errors: CF_E_HSM_MECH (the mechanism refuses
 * these lengths, e.g. RFC 3394 with a key that is not a multiple of 8 bytes, or a wrapping
 * key that is not an AES key length; or RFC 5649 of a length that is not a multiple of 8,
 * whose output the module gets wrong: checked by unwrapping it again, see keywrap.c), CF_E_HSM_UNWRAP / CF_E_HSM_BLOB / CF_E_HSM_WRONG_KEK
 * (a blob as hsm_dek_unwrap), CF_E_NO_SPACE, CF_E_HSM_*. */
MUST_USE cf_err hsm_kw_wrap(hsm_sess *s, enum hsm_kw_mech mech, const struct hsm_kw_key *wkey,
			    const struct hsm_kw_key *key, uint8_t *out, size_t cap, size_t *out_n);
/* Wrap `key`'s DEK with an RSA public key given as its SubjectPublicKeyInfo DER (RSA
 * 2048..4096; the managed Public Key's material): RSA-OAEP with SHA-1 and MGF1-SHA-1, empty
 * label (CKM_RSA_PKCS_OAEP). out[cap] receives the modulus-length ciphertext. Errors:
 * CF_E_HSM_MECH (not an RSA key, a size we do not take, or a key too long for OAEP with this
 * modulus), CF_E_INVALID_ARG (malformed DER), the blob errors, CF_E_NO_SPACE, CF_E_HSM_*. */
#define HSM_KW_RSA_OUT_MAX 512u
MUST_USE cf_err hsm_kw_wrap_rsa(hsm_sess *s, const uint8_t *spki, size_t spki_n,
				const struct hsm_kw_key *key, uint8_t *out, size_t cap,
				size_t *out_n);
/* Unwrap wrapped[n] with the AES key `wkey` and seal the result under the current KEK bound
 * to b into blob[cap] (*blob_n; *dek_n = the unwrapped key's length, <= HSM_DEK_MAX).
 * Errors: CF_E_HSM_UNWRAP (the integrity check failed: wrong wrapping key, wrong mechanism,
 * tampered bytes, or a length no key wrap produces), the blob errors of the wrapping key,
 * CF_E_NO_SPACE, CF_E_HSM_*. On error blob[] is wiped. */
MUST_USE cf_err hsm_kw_unwrap(hsm_sess *s, enum hsm_kw_mech mech, const struct hsm_kw_key *wkey,
			      const uint8_t *wrapped, size_t n, const struct hsm_bind *b,
			      uint8_t *blob, size_t cap, size_t *blob_n, size_t *dek_n);

/* ---- key pairs -------------------------------------------------------------------- */

enum hsm_kp_type {
	HSM_KP_RSA_2048 = 1,
	HSM_KP_RSA_3072 = 2,
	HSM_KP_RSA_4096 = 3,
	HSM_KP_EC_P256 = 4,
	HSM_KP_EC_P384 = 5,
};
/* Generate a key pair on the token with CKA_LABEL = label and CKA_ID = id[id_n] (1..64 bytes),
 * private key sensitive + not extractable, then run a pairwise-consistency test (sign with the
 * private key, verify with the public key); a failed test destroys the pair
 * (CF_E_HSM_SELFTEST). uri[uri_cap] receives "pkcs11:token=...;object=<label>;id=%..;type=private"
 * for libp11's engine. Errors: CF_E_EXISTS (label or id in use), CF_E_NO_SPACE (uri_cap). */
MUST_USE cf_err hsm_keypair_generate(hsm_sess *s, enum hsm_kp_type type, const char *label,
				     const uint8_t *id, size_t id_n, char *uri, size_t uri_cap);
/* A key pair for a KMIP client (Create Key Pair): generated inside the HSM as session objects
 * (never on the token), the private half sensitive and extractable only so that it can be
 * wrapped; a pairwise-consistency test (as hsm_keypair_generate); then the private key is
 * wrapped out inside the HSM with C_WrapKey, CKM_AES_KEY_WRAP_PAD under a session copy of the
 * current KEK (PKCS#8 inside) and that ciphertext sealed in a HSM_BLOB_MECH_KWP_GCM blob bound
 * to *priv (blob[cap], *blob_n); the public half's SubjectPublicKeyInfo DER into spki[spki_cap]
 * (*spki_n). Both session objects and the KEK copy are destroyed. The private key's plaintext
 * never enters this process. Errors: CF_E_INVALID_ARG, CF_E_NO_SPACE, CF_E_HSM_NOT_FOUND (no
 * current KEK), CF_E_HSM_SELFTEST (pairwise test failed), CF_E_HSM_MECH (the module refused
 * to wrap the key: C_CopyObject / C_WrapKey not permitted), CF_E_HSM_*. */
#define HSM_KP_BLOB_MAX (HSM_DEK_MAX + HSM_BLOB_OVERHEAD)
MUST_USE cf_err hsm_kp_generate_wrapped(hsm_sess *s, enum hsm_kp_type type,
					const struct hsm_bind *priv, uint8_t *blob, size_t cap,
					size_t *blob_n, uint8_t *spki, size_t spki_cap,
					size_t *spki_n);
/* Destroy both halves of the pair with CKA_ID = id (CF_E_HSM_NOT_FOUND if none). */
MUST_USE cf_err hsm_keypair_destroy(hsm_sess *s, const uint8_t *id, size_t id_n);

/* ---- key pairs for the internal CA and TLS: lookup, public key, signing ------------- */

#define HSM_KP_ID_MAX 64u
#define HSM_SPKI_MAX 1024u   /* SubjectPublicKeyInfo DER, RSA-4096: 550 bytes */
#define HSM_SIG_MAX 512u     /* RSA-4096 */
#define HSM_ECDSA_DER_MAX 141u /* SEQUENCE of two INTEGERs of up to 66+1 bytes (P-521) */

/* Names a key pair on the token by CKA_LABEL, by CKA_ID, or by both (both must match). Exactly
 * one object of the wanted class must match: none -> CF_E_HSM_NOT_FOUND, more than one ->
 * CF_E_TOO_MANY (ambiguous: never guess which key signs). */
struct hsm_kp_ref {
	const char *label;    /* NULL = not part of the search; else 1..40 bytes */
	const uint8_t *id;    /* NULL = not part of the search; else id_n = 1..HSM_KP_ID_MAX */
	size_t id_n;
};

struct hsm_kp_info {
	enum hsm_kp_type type;        /* HSM_KP_*, or 0 for an RSA size / curve we do not make */
	unsigned bits;                /* RSA modulus bits, or EC field bits (256, 384) */
	uint8_t id[HSM_KP_ID_MAX];    /* the pair's CKA_ID */
	size_t id_n;
	char uri[HSM_URI_MAX];        /* "pkcs11:token=<t>;object=<label>;id=<%xx..>;type=private" */
};

/* Find the key pair whose private key is labelled `label`: its id, type and PKCS#11 URI (for
 * libp11's engine) into *info, and, when spki != NULL, the SubjectPublicKeyInfo DER of its
 * public half (found by the same CKA_ID) into spki[cap], *spki_n = length. Two-call
 * convention: spki == NULL -> *spki_n = the length needed; cap too small -> CF_E_NO_SPACE with
 * *spki_n = the length needed. Errors: CF_E_HSM_NOT_FOUND, CF_E_TOO_MANY, CF_E_HSM_OUTPUT (the
 * module returned a malformed attribute), CF_E_HSM_MECH (a key type / curve we do not know). */
MUST_USE cf_err hsm_keypair_find(hsm_sess *s, const char *label, struct hsm_kp_info *info,
				 uint8_t *spki, size_t cap, size_t *spki_n);
/* SubjectPublicKeyInfo DER of the public key named by ref (class CKO_PUBLIC_KEY):
 *   RSA: AlgorithmIdentifier rsaEncryption + NULL, RSAPublicKey { modulus, publicExponent }
 *   EC:  AlgorithmIdentifier id-ecPublicKey + namedCurve (CKA_EC_PARAMS, P-256 / P-384 only),
 *        the uncompressed point from CKA_EC_POINT (a DER OCTET STRING per PKCS#11 2.40,
 *        unwrapped; a bare point from older modules is accepted when its length is exact).
 * Every attribute length and byte the module returns is checked (CF_E_HSM_OUTPUT).
 * Two-call convention as above. */
MUST_USE cf_err hsm_pubkey_der(hsm_sess *s, const struct hsm_kp_ref *ref, uint8_t *out, size_t cap,
			       size_t *n);

enum hsm_sig_mech {
	HSM_SIG_ECDSA = 1,            /* in = a message digest, 1..64 bytes (CKM_ECDSA);
	                                 sig = r || s, each the curve's field size (raw) */
	HSM_SIG_RSA_PKCS1_SHA256 = 2, /* in = the SHA-256 digest; the DigestInfo is added here,
	                                 CKM_RSA_PKCS (PKCS#1 v1.5); sig = modulus bytes */
	HSM_SIG_RSA_PKCS1_SHA384 = 3,
	HSM_SIG_RSA_PKCS1_SHA512 = 4,
	HSM_SIG_RSA_PSS_SHA256 = 5,   /* in = the SHA-256 digest; CKM_RSA_PKCS_PSS, MGF1 with the
	                                 same hash, salt length = the hash length */
	HSM_SIG_RSA_PSS_SHA384 = 6,
	HSM_SIG_RSA_PSS_SHA512 = 7,
};
/* Sign the digest in[n] with the private key named by key. Two-call convention: sig == NULL
 * -> *sig_n = the signature length (no signing); cap too small -> CF_E_NO_SPACE with *sig_n =
 * the length needed. The module's signature length is checked against the key (RSA: the
 * modulus length; ECDSA: twice the field size). Errors: CF_E_INVALID_ARG (n wrong for the
 * mechanism), CF_E_HSM_MECH (mechanism does not fit the key), CF_E_HSM_NOT_FOUND,
 * CF_E_TOO_MANY, CF_E_HSM_OUTPUT, CF_E_HSM_*. */
MUST_USE cf_err hsm_sign(hsm_sess *s, const struct hsm_kp_ref *key, enum hsm_sig_mech mech,
			 const uint8_t *in, size_t n, uint8_t *sig, size_t cap, size_t *sig_n);
/* Convert a raw ECDSA signature r || s (n even, 2..132 bytes) to the DER ECDSA-Sig-Value
 * SEQUENCE { INTEGER r, INTEGER s } (X9.62 / RFC 3279) that X.509 and TLS carry. Pure; no
 * HSM. Two-call: out == NULL -> *out_n = length needed; cap too small -> CF_E_NO_SPACE. */
MUST_USE cf_err hsm_ecdsa_sig_to_der(const uint8_t *rs, size_t n, uint8_t *out, size_t cap,
				     size_t *out_n);

/* ---- cryptographic services for KMIP (crypto.c, derive.c) ---------------------------- */

/* KMIP Encrypt / Decrypt / Sign / Signature Verify / MAC / MAC Verify / Hash / RNG / Derive
 * Key with a managed key given as its blob (struct hsm_kw_key: blob + binding). In one job the
 * blob is opened into an HSM session object (CKA_TOKEN false, CKA_SENSITIVE true,
 * CKA_EXTRACTABLE false, only the usage the operation needs), the operation runs in the HSM
 * (C_EncryptInit/C_Encrypt, C_SignInit/C_Sign, ...) and the object is destroyed before the
 * job returns, or kept in the session's key object cache (below) for the next call. Where the plaintext of the key passes through the executor's locked scratch
 * (SoftHSMv2 cannot C_UnwrapKey a GCM blob: keywrap.c), it is wiped at once; docs/hsm.md
 * "Cryptographic services" says which case does what.
 *
 * The key kind comes from the binding's object type and the blob: Symmetric Key (AES for the
 * AES mechanisms and CMAC, a generic secret for HMAC), Secret Data (HMAC / derivation input),
 * Public Key (SubjectPublicKeyInfo DER: RSA or EC P-256 / P-384), Private Key (PKCS#8, or a
 * HSM_BLOB_MECH_KWP_GCM blob, which is unwrapped straight into the HSM). */

enum hsm_hash {
	HSM_HASH_NONE = 0,
	HSM_HASH_SHA1 = 1,
	HSM_HASH_SHA224 = 2,
	HSM_HASH_SHA256 = 3,
	HSM_HASH_SHA384 = 4,
	HSM_HASH_SHA512 = 5,
};
/* Digest length of h (0 for HSM_HASH_NONE or an unknown value). */
size_t hsm_hash_len(enum hsm_hash h);

enum hsm_cs_mech {
	HSM_CS_AES_GCM = 1,     /* enc/dec: iv 1..128 bytes (12 usual), tag_n 4..16 (KMIP Tag
				 * Length), aad optional */
	HSM_CS_AES_CBC = 2,     /* enc/dec, no padding: n % 16 == 0; iv 16 bytes */
	HSM_CS_AES_CBC_PAD = 3, /* enc/dec, PKCS#5 (PKCS#7) padding; iv 16 bytes */
	HSM_CS_AES_CTR = 4,     /* enc/dec: iv = the 16-byte initial counter block, ctr_bits */
	HSM_CS_AES_ECB = 5,     /* enc/dec, no padding, n % 16 == 0, no iv */
	HSM_CS_AES_ECB_PAD = 6, /* enc/dec, PKCS#5 padding (done here around ECB) */
	HSM_CS_RSA_OAEP = 7,    /* enc/dec: hash + mgf_hash (SHA-1 / SHA-2), label */
	HSM_CS_RSA_PKCS1 = 8,   /* enc/dec: PKCS#1 v1.5; sign/verify: PKCS#1 v1.5 with hash */
	HSM_CS_RSA_PSS = 9,     /* sign/verify: hash, mgf_hash, salt_n */
	HSM_CS_ECDSA = 10,      /* sign/verify: hash; signature = DER ECDSA-Sig-Value */
	HSM_CS_HMAC = 11,       /* mac/mac verify: hash (SHA-1 / SHA-2) */
	HSM_CS_CMAC = 12,       /* mac/mac verify: AES-CMAC, 16-byte MAC */
};

enum hsm_cs_op {
	HSM_CS_ENCRYPT = 1,
	HSM_CS_DECRYPT = 2,
	HSM_CS_SIGN = 3,
	HSM_CS_VERIFY = 4,
	HSM_CS_MAC = 5,
	HSM_CS_MAC_VERIFY = 6,
};

struct hsm_cs_params {
	enum hsm_cs_mech mech;
	enum hsm_hash hash;             /* OAEP, PKCS#1 / PSS / ECDSA signatures, HMAC */
	enum hsm_hash mgf_hash;         /* OAEP / PSS MGF1 hash; NONE = the same as hash */
	bool prehashed;                 /* sign / verify: in[] is already the digest (by hash) */
	bool has_salt; size_t salt_n;   /* PSS salt length; default: the hash length */
	const uint8_t *iv; size_t iv_n; /* GCM nonce, CBC IV, CTR initial counter block */
	unsigned ctr_bits;              /* CTR: counter bits of the block, 1..128 (0 = 128) */
	const uint8_t *aad; size_t aad_n;       /* GCM additional authenticated data */
	size_t tag_n;                   /* GCM: tag length to make / expected (0 = 16) */
	const uint8_t *tag;             /* GCM decrypt: the tag to check (tag_n bytes) */
	const uint8_t *label; size_t label_n;   /* OAEP label (KMIP P Source), NULL = empty */
	const uint8_t *check; size_t check_n;   /* verify: the signature; mac verify: the MAC */
};

struct hsm_cs_result {
	size_t out_n;                   /* bytes written to out[] */
	uint8_t tag[16]; size_t tag_n;  /* GCM encrypt: the tag made */
	bool valid;                     /* verify / mac verify: true when it matched */
};

/* Largest data one call takes (KMIP Data of one request; larger data streams). */
#define HSM_CS_DATA_MAX (64u << 10)

/* Run one operation. in[n] = the data (encrypt / decrypt / sign / mac), or for verify the
 * signed data (or its digest when prehashed); out[cap] receives ciphertext / plaintext /
 * signature / MAC (verify: nothing). A wrong signature or MAC is not an error: CF_OK with
 * res->valid false. Decrypt plaintext is client data, not key material: it is the caller's.
 * Errors: CF_E_HSM_MECH (the mechanism does not fit the key kind or size, or the module lacks
 * it), CF_E_INVALID_ARG (a length the mechanism refuses: iv, tag, data not a multiple of the
 * block, data too long for RSA, n > HSM_CS_DATA_MAX), CF_E_HSM_CRYPTO (GCM tag mismatch, bad
 * padding, an RSA decryption that fails its check), the blob errors of hsm_dek_unwrap,
 * CF_E_NO_SPACE (cap too small: res->out_n = the length needed), CF_E_HSM_*. */
MUST_USE cf_err hsm_cs_run(hsm_sess *s, enum hsm_cs_op op, const struct hsm_kw_key *key,
			   const struct hsm_cs_params *p, const uint8_t *in, size_t n,
			   uint8_t *out, size_t cap, struct hsm_cs_result *res);

/* Key object cache (docs/hsm.md "Key object cache"). Each pool session keeps up to
 * HSM_CS_CACHE_MAX key objects that hsm_cs_run / hsm_derive opened (LRU), so that the next
 * call with the same key skips the open. An entry is keyed by a copy of the whole blob
 * (header, nonce, ciphertext, tag: not secret), the binding, the object type and the usage
 * the object was made for, compared in full: a blob re-wrapped under another KEK is other
 * bytes, a miss.
 * The objects are as before: CKA_TOKEN false, sensitive, not extractable, one usage. They
 * are destroyed, in the session that made them:
 *   - at the session's next hsm_cs_run / hsm_derive / hsm_cs_cache_sweep after
 *     hsm_cs_cache_invalidate (a generation number of the client: one atomic add);
 *   - when unused for cfg.cs_cache_idle_ms (default HSM_CS_CACHE_IDLE_MS), at the next
 *     operation or sweep;
 *   - when evicted (the least recently used one, to make room);
 *   - by hsm_session_release (all of them);
 * and they die with their session (reopen after a fault, re-init, quarantine, logout). */
#define HSM_CS_CACHE_MAX 32u
#define HSM_CS_CACHE_IDLE_MS 60000u
/* Every session's cached key objects are to be destroyed (a key revoked, destroyed,
 * re-keyed, archived, its state or usage changed; a KEK rotated or zeroized). Cheap; safe
 * from any thread. Each session acts on it at its next operation or sweep. */
void hsm_cs_cache_invalidate(hsm *h);
/* For a worker's idle tick: destroy the entries of s that hsm_cs_cache_invalidate or the
 * idle limit condemned. One atomic load and a clock read when there is nothing to do; else
 * one job on the session. Never fails (a session it cannot reach loses its objects with it).
 * NULL is a no-op. */
void hsm_cs_cache_sweep(hsm_sess *s);
/* Number of key objects cached in s (tests, status). */
unsigned hsm_cs_cache_count(hsm_sess *s);

/* Streaming (KMIP Init / Final Indicator, Correlation Value) for the AES modes whose state
 * is a block: CBC, CBC_PAD, CTR, ECB. Each part is one hsm_cs_run on the part with p->iv the
 * chaining value; *next_iv (16 bytes) receives the chaining value for the next part (CBC:
 * the last ciphertext block; CTR: the counter block after the last one used). Parts before
 * the last must be a multiple of 16 bytes and use the unpadded mechanism (the caller passes
 * HSM_CS_AES_CBC for the middle parts of a CBC_PAD stream). next_iv may be NULL. */
MUST_USE cf_err hsm_cs_next_iv(enum hsm_cs_op op, const struct hsm_cs_params *p,
			       const uint8_t *in, size_t n, const uint8_t *out, size_t out_n,
			       uint8_t next_iv[16]);

/* Hash: C_Digest in the HSM. out[cap] >= hsm_hash_len(h). */
MUST_USE cf_err hsm_hash(hsm_sess *s, enum hsm_hash h, const uint8_t *in, size_t n,
			 uint8_t *out, size_t cap, size_t *out_n);

/* RNG Seed: C_SeedRandom with in[n] (n <= 4096); *accepted = bytes the module took (n, or 0
 * when the module ignores seeding: CKR_RANDOM_SEED_NOT_SUPPORTED). */
MUST_USE cf_err hsm_seed_random(hsm_sess *s, const uint8_t *in, size_t n, size_t *accepted);

/* Derive Key: a new symmetric key (or secret) of out_len bytes (1..HSM_DEK_MAX) from the
 * managed base key, sealed under the current KEK bound to b into blob[cap] (*blob_n). The
 * derived bytes exist only in the executor's locked scratch (and the HSM), wiped at once;
 * digest (may be NULL) receives their SHA-256 (the new key's Digest).
 *   HSM_DERIVE_PBKDF2:  base = the password (Secret Data / key); salt, iterations, hash (PRF
 *                       HMAC-hash run in the HSM, RFC 8018)
 *   HSM_DERIVE_HMAC:    HMAC-hash(base, data), truncated / output length <= hash length
 *                       (KMIP "HMAC" method)
 *   HSM_DERIVE_SP800_108: NIST SP 800-108 counter mode, PRF HMAC-hash: data = the fixed
 *                       input (Label || 0x00 || Context || [L]2), counter 32 bits before it
 *   HSM_DERIVE_ENCRYPT: the base AES key encrypts data with p (ECB / CBC / GCM ...): the
 *                       ciphertext's first out_len bytes (KMIP "Encrypt" method)
 * Errors: CF_E_INVALID_ARG (out_len, iterations 0 or > 10,000,000, data too long),
 * CF_E_HSM_MECH, the blob errors, CF_E_NO_SPACE, CF_E_HSM_*. */
enum hsm_derive_method {
	HSM_DERIVE_PBKDF2 = 1,
	HSM_DERIVE_HMAC = 2,
	HSM_DERIVE_SP800_108 = 3,
	HSM_DERIVE_ENCRYPT = 4,
};
struct hsm_derive_params {
	enum hsm_derive_method method;
	enum hsm_hash hash;                    /* PBKDF2 / HMAC / SP 800-108 PRF */
	const uint8_t *data; size_t data_n;    /* Derivation Data */
	const uint8_t *salt; size_t salt_n;    /* PBKDF2 */
	uint32_t iterations;                   /* PBKDF2 */
	const struct hsm_cs_params *enc;       /* ENCRYPT: the mechanism, iv */
};
MUST_USE cf_err hsm_derive(hsm_sess *s, const struct hsm_kw_key *base,
			   const struct hsm_derive_params *p, size_t out_len,
			   const struct hsm_bind *b, uint8_t *blob, size_t cap, size_t *blob_n,
			   uint8_t digest[HSM_SHA256_LEN]);

/* ---- random, self-tests ------------------------------------------------------------ */

/* n bytes (<= 1 MiB) from C_GenerateRandom, with a repeated-block check on each 16 bytes. */
MUST_USE cf_err hsm_random(hsm_sess *s, uint8_t *out, size_t n);

enum hsm_selftest_id {
	HSM_ST_NONE = 0,
	HSM_ST_AES_GCM_KAT = 1,   /* AES-256-GCM encrypt + decrypt, known answer (HSM) */
	HSM_ST_SHA256_KAT = 2,    /* SHA-256 digest, known answer (HSM) */
	HSM_ST_HMAC_KAT = 3,      /* HMAC-SHA-256, known answer (HSM) */
	HSM_ST_WRAP_KAT = 4,      /* the blob wrap mechanism (GCM with AAD), known answer */
	HSM_ST_WRAP_ROUNDTRIP = 5,/* wrap + unwrap through a session KEK, tamper must fail */
	HSM_ST_RANDOM = 6,        /* generator not stuck (repeated-block check) */
	HSM_ST_COUNT_ = 7,
};
/* Static name of a self-test ("aes-gcm-kat"...); never NULL. */
const char *hsm_selftest_name(enum hsm_selftest_id id);
/* Run every power-up self-test on session s (key material in session objects only).
 * CF_OK, or CF_E_HSM_SELFTEST with *failed = the first test that failed (failed may be NULL).
 * The caller must refuse to serve on failure. */
MUST_USE cf_err hsm_selftest_run(hsm_sess *s, enum hsm_selftest_id *failed);

#ifdef COFFRE_TEST_HOOKS
/* Corrupt one byte of the expected vector of test `id` for the next hsm_selftest_run calls on
 * this hsm (HSM_ST_NONE restores). Only in objects compiled with -DCOFFRE_TEST_HOOKS: tests
 * build the hsm sources themselves with $(HSM_SRCS) and $(HSM_CFLAGS) (see hsm/module.mk). */
void hsm_test_selftest_corrupt(hsm *h, enum hsm_selftest_id id);
#endif

#endif
