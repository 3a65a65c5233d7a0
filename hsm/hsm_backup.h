/* Backup ceremonies in the HSM (docs/backup.md "Why a helper process").
 *
 * Export: the KEKs are CKA_EXTRACTABLE only with CKA_WRAP_WITH_TRUSTED, so they can be wrapped
 * only under a CKA_TRUSTED key, and only the Security Officer can set CKA_TRUSTED. PKCS#11
 * login state is per application: logging the service's user out to log the SO in would void
 * every private object handle the service and libp11 (the TLS key) hold (SoftHSMv2 drops them
 * at C_Logout). So the wrap runs in a separate application: a helper process (`coffre backup
 * hsm-helper`, exec'd, not forked) loads the module, logs in as SO, creates the trusted
 * wrapping key as a SESSION object (never on the token's disk) from the backup wrap key, logs
 * out, logs in as the user, wraps every KEK ("coffre-kek-N") and every token private key
 * (CA, TLS server) with CKM_AES_KEY_WRAP_PAD, and exits. The service's own sessions and login
 * are untouched: KMIP keeps serving. Secrets (SO PIN, user PIN, wrap key) go to the helper
 * over a pipe, never argv or the environment; only wrapped bytes come back.
 *
 * Restore: unwrapping needs no trust: a session object holds the wrap key (CKA_UNWRAP) for
 * the duration of one job, and C_UnwrapKey creates the KEK / private key on the token with
 * the same label, sensitive, and extractable only under a trusted key when backups are enabled
 * (so the replacement can itself be backed up). */
#ifndef COFFRE_HSM_HSM_BACKUP_H
#define COFFRE_HSM_HSM_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"
#include "hsm/hsm.h"

#define HSM_BK_WRAP_KEY_LEN 32u
#define HSM_BK_ITEMS_MAX (HSM_KEK_MAX + 16u)
#define HSM_BK_WRAPPED_MAX 8192u
#define HSM_BK_PUB_MAX 1024u
#define HSM_BK_KT_EC 3ul   /* CKK_EC */
#define HSM_BK_KT_RSA 0ul  /* CKK_RSA */

enum hsm_bk_kind { HSM_BK_KEK = 1, HSM_BK_KEYPAIR = 2 };

struct hsm_bk_item {
	enum hsm_bk_kind kind;
	uint32_t version;                /* KEK */
	char label[64];                  /* key pair: CKA_LABEL of the private key */
	uint8_t id[HSM_KP_ID_MAX];
	size_t id_n;
	unsigned long key_type;          /* CKK_EC / CKK_RSA */
	uint8_t wrapped[HSM_BK_WRAPPED_MAX];
	size_t wrapped_n;
	uint8_t pub_a[HSM_BK_PUB_MAX];   /* EC: CKA_EC_PARAMS; RSA: CKA_MODULUS */
	size_t pub_a_n;
	uint8_t pub_b[HSM_BK_PUB_MAX];   /* EC: CKA_EC_POINT; RSA: CKA_PUBLIC_EXPONENT */
	size_t pub_b_n;
};

struct hsm_bk_set {
	struct hsm_bk_item *items;       /* malloc'd */
	size_t n;
};
void hsm_bk_set_free(struct hsm_bk_set *s);

/* Run the export ceremony through the helper program `helper` (argv: helper "backup"
 * "hsm-helper"). h must be logged in (its PIN is passed on). Errors: CF_E_HSM_PIN (wrong SO
 * PIN), CF_E_HSM_POLICY (a KEK is not extractable: backups were not enabled when it was made),
 * CF_E_HSM_TIMEOUT (the helper was killed at the deadline), CF_E_IO (helper missing). */
MUST_USE cf_err hsm_bk_wrap_all(hsm *h, const char *helper, const uint8_t *so_pin, size_t so_n,
				const uint8_t wrap_key[HSM_BK_WRAP_KEY_LEN], unsigned timeout_ms,
				struct hsm_bk_set *out);
/* The helper's main: request on fd 0, answer on fd 1. Returns the exit status. */
int hsm_bk_helper_main(void);

/* Restore: unwrap a KEK as "coffre-kek-<version>" (CF_E_EXISTS when that label is taken). */
MUST_USE cf_err hsm_bk_unwrap_kek(hsm_sess *s, const uint8_t wrap_key[HSM_BK_WRAP_KEY_LEN],
				  uint32_t version, const uint8_t *wrapped, size_t n);
/* Restore a key pair: the private key unwrapped, the public key created from pub_a/pub_b,
 * both with the item's label and id (CF_E_EXISTS when either is taken). */
MUST_USE cf_err hsm_bk_unwrap_keypair(hsm_sess *s, const uint8_t wrap_key[HSM_BK_WRAP_KEY_LEN],
				      const struct hsm_bk_item *it);
/* Dry run: unwrap into session objects only (nothing on the token), then destroy them: proves
 * the wrapped bytes and the key without changing anything. CF_E_EXISTS: it unwraps, but its
 * label or id is taken on the token, so the real restore would be refused (a merge dry run
 * reports that and goes on; CF_E_HSM_UNWRAP and the others: it does not unwrap). */
MUST_USE cf_err hsm_bk_unwrap_check(hsm_sess *s, const uint8_t wrap_key[HSM_BK_WRAP_KEY_LEN],
				    const struct hsm_bk_item *it);

#endif
