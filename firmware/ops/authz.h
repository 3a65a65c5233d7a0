/* Authorization: a verified TLS identity -> tenant + role, the optional KMIP Username/Password
 * credential. Which operations a role may run is the dispatch table's (firmware/ops/ops.c).
 *
 * Mapping order (first match wins; vCenter's certificate rotation within a tenant
 * keeps access because rules name the subject + issuer or the tenant, not only one key):
 *   1. the config's client table (config_client_find): fingerprint first, then subject +
 *      issuer (DN rules only for certificates that chained to the CA: a pinned self-signed
 *      certificate can claim any DN, so it is matched by fingerprint only);
 *   2. the store's clients table: by fingerprint ("sha256:<hex>"), then by subject + issuer
 *      (again only when chain_ok, and only rows the CA issued that are not revoked:
 *      store_client_find_active).
 * Before both: when the store holds a REVOKED row for this very fingerprint (`client
 * revoke`), the answer is CF_E_AUTH whatever a config or DN rule says.
 * No match: CF_E_AUTH (the request answers Authentication Not Successful). authz runs for
 * every request, so a revoke also stops the next request of an established connection.
 *
 * Passwords (authz_cred.c): a Username/Password credential in the request header is optional
 * for a certificate-authenticated client. When present it must verify against the record kept
 * in the store's meta table under "kmip_password:<username>":
 *     "<Argon2id encoded hash>$<tenant>"
 * where the hash is the console administrators' one (firmware/accounts/accounts.h,
 * acct_pw_hash): "$argon2id$v=19$m=65536,t=3,p=1$<salt, base64>$<hash, base64>", 16-byte salt,
 * 32-byte hash; the tenant is the text after the sixth '$' (it may hold any character). A hash
 * with other parameters is refused (acct_pw_verify). The record's tenant must be the tenant the
 * certificate maps to. A credential naming an unknown user (answered without running
 * Argon2id: only certificate-authenticated clients get here), a wrong password or another
 * tenant is CF_E_AUTH. The password is a view into the request buffer; Argon2id reads it in
 * place and compares in constant time; the record read from the store is wiped. */
#ifndef COFFRE_FIRMWARE_AUTHZ_H
#define COFFRE_FIRMWARE_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"
#include "firmware/core/config.h"
#include "firmware/net/identity.h"
#include "firmware/store/store.h"
#include "kmip/kmip.h"

#define AUTHZ_USER_MAX 128u

/* The service's authorization state (one per struct svc, svc->authz): the resolved-principal
 * cache of authz_resolve and the TLS layer's run-time trust snapshot that authz_trust_reload
 * fills (struct tls_trust, firmware/net/tls.h; the KMIP server's TLS context borrows it). */
struct authz;
struct tls_trust;

/* An empty cache and an empty trust snapshot. CF_E_NOMEM. */
MUST_USE cf_err authz_new(struct authz **out);
/* NULL is a no-op. Only after the TLS contexts that borrow its trust snapshot are freed. */
void authz_free(struct authz *a);
/* The trust snapshot, for tls_config.trust (NULL for a NULL a). */
struct tls_trust *authz_tls_trust(struct authz *a);

struct authz_principal {
	char tenant[STORE_TENANT_MAX + 1];
	enum config_role role;
	char actor[STORE_OWNER_MAX + 1];   /* "sha256:<fingerprint hex>": audit actor, owner */
	const char *via;                   /* "config" / "store": where the mapping came from */
	bool password_required;            /* the tenant has a KMIP password (authz_cred.c) */
	/* the client's source allow-list (store clients.allow, `client allow`); n == 0 = any */
	struct cidr_list allow;
};

/* The connection's peer ("ADDR:PORT" / "[ADDR]:PORT", net_conn_info.peer) is in p's source
 * allow-list (docs/security.md "Source-address allow-lists"), or the list is empty. A peer
 * that does not parse is not allowed. */
bool authz_source_allowed(const struct authz_principal *p, const char *peer);

/* id -> *out. CF_E_AUTH when no rule maps the identity (out->actor is still filled, for the
 * audit record). st may be NULL (config only). Successes are cached in a, per (cfg, st,
 * certificate) until authz_cache_invalidate / authz_trust_reload, at most a few seconds
 * (authz.c); a NULL a caches nothing. */
MUST_USE cf_err authz_resolve(struct authz *a, const struct config *cfg, struct store *st,
			      const struct identity *id, struct authz_principal *out);

/* The credential policy (docs/kmip-server.md "Identity, tenants, roles"). When p's tenant has
 * a password (p->password_required), the request must carry a Username/Password credential of
 * that tenant that verifies: none, an empty one or a wrong one is CF_E_AUTH. Otherwise a
 * credential is optional; one whose username and password are both empty (PyKMIP sends it
 * when its configuration has `username =` and `password =`) is ignored, any other one must
 * verify. Other credential types: CF_E_AUTH, we do not support them. */
MUST_USE cf_err authz_credential_check(struct store *st, const struct authz_principal *p,
				       const struct kmip_req_header *h);
/* *out = the tenant has a KMIP password (authz_password_set wrote its marker). Any store
 * error is returned (the caller fails closed). authz_resolve fills
 * authz_principal.password_required with it (cached with the principal, so a new password
 * takes effect within the cache's lifetime, a few seconds, or at once after
 * authz_cache_invalidate). */
MUST_USE cf_err authz_tenant_password(struct store *st, const char *tenant, bool *out);

/* Create or replace the password record of user (format above) for tenant; rng fills the
 * 16-byte salt. CF_E_INVALID_ARG for an empty or overlong user or tenant. */
MUST_USE cf_err authz_password_set(struct store *st, const char *user, const char *tenant,
				   const uint8_t *pw, size_t n, store_rng_fn rng, void *rng_arg);

/* Rebuild a's run-time trust snapshot (tls_trust_replace) from the store's clients table:
 * fingerprints of rows of kind "trusted" that are not revoked are pinned, fingerprints of
 * revoked rows are refused at the handshake. Call it when the store opens (before KMIP
 * serves) and after every change of the clients table (the console). st NULL empties the
 * snapshot. A NULL a (no service: console tests) only checks the table's fingerprints. */
MUST_USE cf_err authz_trust_reload(struct authz *a, struct store *st);

/* Drop every resolution a has cached (authz_resolve caches successes per certificate; see
 * authz.c). authz_trust_reload calls it; call it after any other change to the clients table
 * or the config that must take effect on the very next request. Thread-safe; NULL is a
 * no-op. */
void authz_cache_invalidate(struct authz *a);

/* "user" / "readonly" -> role; 0 for anything else. */
enum config_role authz_role_from(const char *s);

#endif
