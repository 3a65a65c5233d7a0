/* Key backup: export, verify and restore of the appliance's keys (docs/backup.md).
 *
 * Two layers:
 *   backup_fmt.c  pure format code, no HSM and no store (tools/coffre links it for
 *                 `coffre backup inspect|verify`): the header, the armor, the backup key
 *                 (Argon2id from a passphrase, or a random key split with Shamir's scheme
 *                 over GF(2^8), as libgfshare did), the authenticated encryption of the
 *                 body and the body's record walker. Every parser here takes untrusted bytes (fuzzed by
 *                 tests/fuzz/fuzz_backup_import.c).
 *   backup.c      the appliance side: collect (HSM wraps, store dump, certificates), seal,
 *                 write; and restore (verify everything, then unwrap into the HSM, write the
 *                 certificates, load the store).
 *   backup_import.c  the ordered steps of an import (state, header, dry run, merge, fresh
 *                 restore, current KEK), between which the console calls the service.
 *   backup_store.c   the store's typed rows (firmware/store/store_backup.h) as table records.
 *
 * File = header (BK_HDR_LEN bytes, big-endian, the AAD) || AES-256-GCM(body) || tag (16).
 * Nothing in the file is plaintext key material: KEKs and the appliance's private keys are
 * wrapped by the HSM under a key derived from the backup key (CKM_AES_KEY_WRAP_PAD), managed
 * objects are the store's rows as stored (blobs wrapped under the KEKs), and the whole body is
 * encrypted and authenticated under another key derived from the backup key. */
#ifndef COFFRE_FIRMWARE_BACKUP_H
#define COFFRE_FIRMWARE_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

#define BK_MAGIC "CFBK"
#define BK_FORMAT 1u                 /* the format this build writes and reads */
#define BK_HDR_LEN 160u
#define BK_TAG_LEN 16u
#define BK_KEY_LEN 32u               /* the backup key (master secret) */
#define BK_SALT_LEN 16u
#define BK_SETID_LEN 4u
#define BK_KCV_LEN 16u
#define BK_ID_LEN 36u                /* appliance id: a UUID in text form */
#define BK_BODY_MAX (256u << 20)     /* largest body we write or accept */
#define BK_FILE_MAX (BK_HDR_LEN + BK_BODY_MAX + BK_TAG_LEN)
#define BK_SHARES_MAX 16u
#define BK_PASS_MIN 12u              /* passphrase: at least 12 characters (see bk_pass_check) */
#define BK_ARMOR_BEGIN "-----BEGIN COFFRE BACKUP-----"
#define BK_ARMOR_END "-----END COFFRE BACKUP-----"
#define BK_ARMOR_LINE_BYTES 48u      /* bytes per armor line (64 base64 characters) */
#define BK_SHARE_TEXT_MAX 128u

/* Argon2id cost written by this build; a header asking for more than the maxima (or less than
 * the minima) is refused before any work is done. */
#define BK_ARGON2_T 3u
#define BK_ARGON2_M_KIB 65536u       /* 64 MiB */
#define BK_ARGON2_P 1u
#define BK_ARGON2_T_MIN 2u
#define BK_ARGON2_T_MAX 16u
#define BK_ARGON2_M_MIN 65536u
#define BK_ARGON2_M_MAX (1u << 20)   /* 1 GiB */
#define BK_ARGON2_P_MAX 8u

enum bk_scheme {
	BK_SCHEME_PASSPHRASE = 1,    /* key = Argon2id(passphrase, salt) */
	BK_SCHEME_SHARES = 2,        /* key = random; split M of N (Shamir) */
};

/* What the body holds; recorded in the header and checked against the body. */
struct bk_counts {
	uint32_t keks;               /* wrapped KEK versions */
	uint32_t keypairs;           /* the appliance's key pairs (CA, TLS server) */
	uint32_t files;              /* certificates (server chain, CA bundle) */
	uint32_t objects;            /* managed objects (destroyed ones included) */
	uint32_t attributes;
	uint32_t clients;
	uint32_t users;              /* console accounts */
	uint32_t meta;
	/* bk_restore's results (not in the file, not compared by bk_counts_equal) */
	uint32_t kek_max;            /* the highest KEK version restored (0: none) */
	uint32_t kek_present;        /* merge dry run: KEK versions this HSM holds already */
};

struct bk_header {
	uint16_t format;
	int64_t created;             /* seconds since the epoch */
	uint32_t kek_version;        /* the current KEK when exported */
	char appliance_id[BK_ID_LEN + 1];
	struct bk_counts counts;
	uint8_t scheme;              /* enum bk_scheme */
	uint32_t t_cost, m_kib, lanes;           /* passphrase */
	uint8_t salt[BK_SALT_LEN];
	uint8_t threshold, shares;               /* shares: M of N */
	uint8_t set_id[BK_SETID_LEN];            /* binds shares to this backup */
	uint8_t kcv[BK_KCV_LEN];     /* key check value: tells a wrong key from a damaged file */
	uint8_t nonce[12];
	uint32_t body_len;           /* ciphertext bytes, without the tag */
};

/* A clear message for the operator (no secrets), filled by every function that fails on
 * untrusted input. */
struct bk_diag {
	char msg[192];
};

/* ---- header ------------------------------------------------------------------------- */

void bk_header_encode(const struct bk_header *h, uint8_t out[BK_HDR_LEN]);
/* Parse and check a whole binary file (header, declared lengths, limits). *h is filled;
 * errors: CF_E_TRUNCATED (shorter than declared), CF_E_TRAILING, CF_E_BAD_VERSION (a newer
 * format), CF_E_BAD_MESSAGE (not a backup), CF_E_BAD_VALUE (a field out of range). */
MUST_USE cf_err bk_header_parse(const uint8_t *p, size_t n, struct bk_header *h,
				struct bk_diag *d);

/* ---- armor -------------------------------------------------------------------------- */

/* The armored text of a binary file: BEGIN line, lines "NNNNNN:BASE64:CCCC" (line number,
 * 48 bytes in base64, CRC-16/CCITT of the text before the last colon, hex), END line. *out
 * malloc'd, NUL-terminated. */
MUST_USE cf_err bk_armor_encode(const uint8_t *p, size_t n, char **out, size_t *out_n);
/* Find the armor in text[n] and decode it: every line's checksum and number is verified (a
 * mistyped, missing or repeated line is named). *out malloc'd. CF_E_BAD_MESSAGE when there is
 * no armor at all. */
MUST_USE cf_err bk_armor_decode(const char *text, size_t n, uint8_t **out, size_t *out_n,
				struct bk_diag *d);
/* Either form: armored text (decoded) or a binary file (copied). */
MUST_USE cf_err bk_file_decode(const uint8_t *p, size_t n, uint8_t **out, size_t *out_n,
			       struct bk_diag *d);

/* ---- backup key --------------------------------------------------------------------- */

/* Minimum strength: at least BK_PASS_MIN characters, printable ASCII, and either 3 of the 4
 * classes (lower, upper, digit, other) or at least 20 characters; not mostly one character.
 * false with the reason in d. */
bool bk_pass_check(const char *pw, size_t n, struct bk_diag *d);
/* key = Argon2id(pw, salt) with the header's cost. */
MUST_USE cf_err bk_key_from_pass(const struct bk_header *h, const char *pw, size_t n,
				 uint8_t key[BK_KEY_LEN]);
/* The subkeys: file = body encryption, wrap = the HSM wrapping key, kcv. Domain-separated
 * with HKDF-SHA-256 (salt = the header's set id / salt). */
enum bk_subkey { BK_SUB_FILE = 1, BK_SUB_WRAP = 2, BK_SUB_KCV = 3 };
MUST_USE cf_err bk_subkey(const uint8_t key[BK_KEY_LEN], enum bk_subkey which, uint8_t *out,
			  size_t n);

/* Shamir M of N over the 32-byte key (GF(2^8) as libgfshare, random polynomial from getrandom). The
 * share text is "CFS1-<M>of<N>-<i>-<SETID hex>-<base32 of the share>-<check>", check = the
 * first 3 bytes of SHA-256 of the text before it (hex): a mistyped share is caught before it
 * is used. texts[i] must hold BK_SHARE_TEXT_MAX bytes. */
MUST_USE cf_err bk_shares_split(const uint8_t key[BK_KEY_LEN], unsigned m, unsigned n,
				const uint8_t set_id[BK_SETID_LEN],
				char texts[][BK_SHARE_TEXT_MAX]);
struct bk_share {
	uint8_t index, m, n;
	uint8_t set_id[BK_SETID_LEN];
	uint8_t y[BK_KEY_LEN];
};
/* The value of one base32 character of a share ('A'..'Z' 0..25, '2'..'7' 26..31; upper case
 * only), or -1. Constant time: no branch or table lookup on c's value. */
int bk_b32_value(int c);
/* Parse one typed share (blanks ignored, any case; the base32 part decoded in constant time). CF_E_BAD_VALUE with a message: malformed,
 * or the check does not match (mistyped). */
MUST_USE cf_err bk_share_parse(const char *text, struct bk_share *out, struct bk_diag *d);
/* Combine M shares (checked: same set id as the header, the header's M, distinct indices)
 * into the key. */
MUST_USE cf_err bk_shares_combine(const struct bk_header *h, const struct bk_share *sh,
				  size_t count, uint8_t key[BK_KEY_LEN], struct bk_diag *d);

/* ---- seal / open ---------------------------------------------------------------------- */

/* header (filled by the caller except kcv, nonce, body_len) + body -> the binary file. */
MUST_USE cf_err bk_seal(struct bk_header *h, const uint8_t key[BK_KEY_LEN], const uint8_t *body,
			size_t body_n, uint8_t **out, size_t *out_n);
/* Check the key against the kcv (CF_E_AUTH: wrong passphrase or shares), then decrypt and
 * authenticate (CF_E_BAD_MESSAGE: damaged / tampered). *body malloc'd (bk_free). */
MUST_USE cf_err bk_open(const uint8_t *file, size_t n, const struct bk_header *h,
			const uint8_t key[BK_KEY_LEN], uint8_t **body, size_t *body_n,
			struct bk_diag *d);
/* Wipe and free. */
void bk_free(void *p, size_t n);

/* ---- body ----------------------------------------------------------------------------- */

enum bk_rec {
	BK_REC_KEK = 1,      /* u32 version, bytes wrapped */
	BK_REC_KEYPAIR = 2,  /* str label, bytes id, u32 key type (CKK_*), bytes wrapped private
	                        key (PKCS#8 inside), bytes pub_a, bytes pub_b (EC: params, point;
	                        RSA: modulus, exponent) */
	BK_REC_FILE = 3,     /* str name ("tls.cert", "tls.ca"), bytes content */
	BK_REC_TABLE = 4,    /* str table, u16 ncols, str names..., u32 rows, rows */
	BK_REC_END = 255,
};
#define BK_BODY_MAGIC "CFBB"
#define BK_COLS_MAX 32u

/* A growable buffer (wiped when freed). */
struct bk_buf {
	uint8_t *p;
	size_t n, cap;
	bool oom;
};
void bk_buf_u8(struct bk_buf *b, uint8_t v);
void bk_buf_u16(struct bk_buf *b, uint16_t v);
void bk_buf_u32(struct bk_buf *b, uint32_t v);
void bk_buf_u64(struct bk_buf *b, uint64_t v);
void bk_buf_put(struct bk_buf *b, const void *p, size_t n);
void bk_buf_bytes(struct bk_buf *b, const void *p, size_t n);   /* u32 length + bytes */
void bk_buf_str(struct bk_buf *b, const char *s);               /* u16 length + bytes */
void bk_buf_free(struct bk_buf *b);
/* Begin a record (tag + length placeholder) / patch its length. */
size_t bk_rec_begin(struct bk_buf *b, enum bk_rec tag);
void bk_rec_end(struct bk_buf *b, size_t at);

enum bk_vtype { BK_V_NULL = 0, BK_V_INT = 1, BK_V_TEXT = 2, BK_V_BLOB = 3 };
struct bk_val {
	uint8_t type;        /* enum bk_vtype */
	int64_t i;
	const uint8_t *p;    /* TEXT (no NUL inside, not terminated) / BLOB */
	size_t n;
};
struct bk_kek { uint32_t version; const uint8_t *wrapped; size_t wrapped_n; };
struct bk_keypair {
	char label[64];
	const uint8_t *id; size_t id_n;
	uint32_t key_type;
	const uint8_t *wrapped; size_t wrapped_n;
	const uint8_t *pub_a; size_t pub_a_n;
	const uint8_t *pub_b; size_t pub_b_n;
};
struct bk_file { char name[32]; const uint8_t *p; size_t n; };
struct bk_table {
	char name[32];
	unsigned ncols;
	char cols[BK_COLS_MAX][64];
};
/* Callbacks for bk_body_walk (any may be NULL); a non-CF_OK return stops the walk. */
struct bk_body_cb {
	cf_err (*kek)(void *arg, const struct bk_kek *k);
	cf_err (*keypair)(void *arg, const struct bk_keypair *k);
	cf_err (*file)(void *arg, const struct bk_file *f);
	cf_err (*table)(void *arg, const struct bk_table *t);       /* before its rows */
	cf_err (*row)(void *arg, const struct bk_table *t, const struct bk_val *v);
};
/* Walk the body, checking every length; *counts = what it holds (tables "objects",
 * "attributes", "clients", "users", "meta" are counted by name), *schema = the store schema
 * version it was dumped from. CF_E_BAD_MESSAGE with a message on any malformation. */
MUST_USE cf_err bk_body_walk(const uint8_t *p, size_t n, const struct bk_body_cb *cb, void *arg,
			     struct bk_counts *counts, uint32_t *schema, struct bk_diag *d);
/* Start a body: magic, body version, store schema. */
void bk_body_start(struct bk_buf *b, uint32_t schema);
void bk_body_finish(struct bk_buf *b);

/* One line per header field, for `coffre backup inspect` and the console (no secret). */
void bk_header_describe(const struct bk_header *h, void (*emit)(void *arg, const char *line),
			void *arg);
bool bk_counts_equal(const struct bk_counts *a, const struct bk_counts *b);

/* ---- appliance side (firmware/backup/backup.c) ----------------------------------------------- */
#ifndef COFFRE_BACKUP_FMT_ONLY
#include "firmware/core/config.h"
#include "firmware/core/context.h"
#include "firmware/store/store.h"
#include "hsm/hsm.h"

/* The key the operator gives at restore / verify time. */
struct bk_secret {
	const char *pass;            /* passphrase (BK_SCHEME_PASSPHRASE) */
	size_t pass_n;
	const struct bk_share *shares; /* parsed shares (BK_SCHEME_SHARES) */
	size_t n_shares;
};

/* A verified backup: header checked, key right, body authenticated, counts equal the header's. */
struct bk_opened {
	struct bk_header hdr;
	uint8_t *file;               /* the binary file */
	size_t file_n;
	uint8_t *body;               /* plaintext body (wrapped keys + rows; no plaintext key) */
	size_t body_n;
	uint8_t *key;                /* sec_alloc'd BK_KEY_LEN */
	uint32_t schema;
};
void bk_opened_free(struct bk_opened *o);
/* Decode (armor or binary), parse, derive the key, authenticate, walk, compare the counts.
 * Nothing is changed anywhere. Every refusal has a message in d. */
MUST_USE cf_err bk_verify(const uint8_t *text, size_t n, const struct bk_secret *sec,
			  struct bk_opened *out, struct bk_diag *d);

struct bk_export_in {
	hsm *h;
	struct store *st;
	const struct config *cfg;
	const char *helper;          /* the `coffre` binary that runs the HSM helper */
	const uint8_t *so_pin;       /* the HSM Security Officer PIN (trusted wrapping key) */
	size_t so_n;
	enum bk_scheme scheme;
	const char *pass;            /* passphrase: checked with bk_pass_check */
	size_t pass_n;
	unsigned m, n;               /* shares: M of N */
	int64_t now;
};
struct bk_export_out {
	struct bk_header hdr;
	char *armor;                 /* malloc'd armored text */
	size_t armor_n;
	char (*shares)[BK_SHARE_TEXT_MAX]; /* sec_alloc'd, n entries (shares scheme) */
	unsigned n_shares;
};
void bk_export_out_free(struct bk_export_out *o);
/* Build a backup (nothing is recorded: the caller delivers it first). */
MUST_USE cf_err bk_export(const struct bk_export_in *in, struct bk_export_out *out,
			  struct bk_diag *d);
/* Once the backup was delivered (printed, or written and read back): meta backup.last and
 * backup.last_kek, which `status` compares with the current KEK. */
MUST_USE cf_err bk_export_record(struct store *st, const struct bk_header *h);

/* Restore a verified backup: KEKs and key pairs unwrapped into the HSM (session s, logged in),
 * certificates written to the configured paths (atomically), the store loaded. dry_run: the
 * HSM unwraps are tried in session objects only and nothing is written. merge: the KEKs and
 * the rows are added (existing rows kept; the key pairs and certificates are this
 * appliance's); a KEK version the HSM holds already refuses the merge, and a merge dry run
 * counts those in loaded->kek_present (d says the first) after proving they unwrap. */
MUST_USE cf_err bk_restore(hsm_sess *s, struct store *st, const struct config *cfg,
			   const struct bk_opened *o, bool merge, bool dry_run,
			   struct bk_counts *loaded, struct bk_diag *d);
/* ---- import steps (firmware/backup/backup_import.c) ---- */

/* Which import the appliance state allows: UNINITIALIZED restores (BK_IMPORT_FRESH, not with
 * merge), READY merges (BK_IMPORT_MERGE, only with merge). CF_E_STATE with *kind saying why
 * otherwise (BK_IMPORT_MERGE_UNINIT: merge asked on an UNINITIALIZED appliance). */
enum bk_import_kind {
	BK_IMPORT_REFUSED = 0,
	BK_IMPORT_MERGE_UNINIT = 1,
	BK_IMPORT_FRESH = 2,
	BK_IMPORT_MERGE = 3,
};
MUST_USE cf_err bk_import_plan(enum svc_state state, bool merge, enum bk_import_kind *kind);
/* Decode (armor or binary) and parse the header: a newer format, a truncated or damaged file
 * is named before any secret is asked for. */
MUST_USE cf_err bk_import_header(const uint8_t *text, size_t n, struct bk_header *h,
				 struct bk_diag *d);
/* Can a dry run try the unwraps: h is open and logged in (not yet on a fresh appliance)? */
bool bk_import_can_unwrap(const hsm *h);
/* Dry run: every unwrap tried in session objects of h and what would be restored counted in
 * *would (bk_restore dry_run); nothing is written. CF_E_STATE when !bk_import_can_unwrap. */
MUST_USE cf_err bk_import_dry_run(hsm *h, struct store *st, const struct config *cfg,
				  const struct bk_opened *o, bool merge, struct bk_counts *would,
				  struct bk_diag *d);
/* READY: add the backup's KEKs and rows (bk_restore merge). */
MUST_USE cf_err bk_import_merge(hsm *h, struct store *st, const struct config *cfg,
				const struct bk_opened *o, struct bk_counts *loaded,
				struct bk_diag *d);
/* After a merge: the highest KEK version restored becomes the current KEK when it is above
 * the current one (as the next start would make it); *made = that version, or 0. */
MUST_USE cf_err bk_import_kek_current(hsm *h, const struct bk_counts *loaded, uint32_t *made);
/* UNINITIALIZED, once the token is initialised and h logged in: restore everything into it
 * (every unwrap tried in session objects first), then the backup's current KEK is made
 * current. */
MUST_USE cf_err bk_import_fresh(hsm *h, struct store *st, const struct config *cfg,
				const struct bk_opened *o, struct bk_counts *loaded,
				struct bk_diag *d);

/* The store's tables in a body (firmware/backup/backup_store.c): one BK_REC_TABLE record per
 * table store_backup_dump hands out; and the tables of a verified body loaded in one
 * transaction (all or nothing; merge: existing rows kept, else a row that exists fails with
 * CF_E_EXISTS). A column this schema lacks, or a newer store schema: CF_E_BAD_VERSION.
 * *loaded = rows inserted. */
MUST_USE cf_err bk_tables_dump(struct store *st, struct bk_buf *b);
MUST_USE cf_err bk_tables_load(struct store *st, const uint8_t *body, size_t n, bool merge,
			       struct bk_counts *loaded, struct bk_diag *d);
/* Write data to dir/name atomically (temp, fsync, rename, fsync dir), 0600, no symlinks. */
MUST_USE cf_err bk_write_atomic(const char *dir, const char *name, const void *p, size_t n);
#endif

#endif
