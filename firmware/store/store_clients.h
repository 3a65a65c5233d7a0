/* Typed SQL over the store's clients table for the console's `client ...` commands and for
 * the run-time TLS trust snapshot (docs/console/pki.md). Rows are struct store_client
 * (store.h); store_client_put / store_client_get (by fingerprint) stay in store.c.
 *
 * Life of a row:
 *   `client sign-csr` / `client issue`   kind "signed" / "issued", role "user"
 *   `client trust`                       kind "trusted" (pinned by fingerprint), role "user"
 *   `client revoke`                      role becomes "revoked"; the row stays
 * A revoked row is kept, not deleted, so that its fingerprint is refused by name: the TLS
 * layer refuses the handshake (tls_trust_is_revoked) and authz refuses requests before any
 * config or DN rule is consulted, so a [client] rule naming the subject and issuer cannot
 * silently re-admit a revoked certificate. Its name becomes free for a new client. */
#ifndef COFFRE_FIRMWARE_STORE_CLIENTS_H
#define COFFRE_FIRMWARE_STORE_CLIENTS_H

#include <stddef.h>

#include "board/err.h"
#include "firmware/store/store.h"

#define STORE_CLIENT_ROLE_REVOKED "revoked"
#define STORE_CLIENT_KIND_SIGNED "signed"
#define STORE_CLIENT_KIND_ISSUED "issued"
#define STORE_CLIENT_KIND_TRUSTED "trusted"

struct store_client_list {
	struct store_client *v;
	size_t n;
};

/* Every row, ordered by name then created (revoked rows included). */
MUST_USE cf_err store_client_list(struct store *st, struct store_client_list *out);
void store_client_list_free(struct store_client_list *l);

/* The row that is not revoked with this console name (there is at most one: the console
 * refuses a name in use). CF_E_NOT_FOUND when none. */
MUST_USE cf_err store_client_by_name(struct store *st, const char *name, struct store_client *out);

/* Subject + issuer lookup for authz's DN fallback: only rows the CA issued (kind "signed",
 * "issued", or "" for rows written before kinds existed) that are not revoked, newest first.
 * A "trusted" row is a pinned certificate: matched by fingerprint only. */
MUST_USE cf_err store_client_find_active(struct store *st, const char *subject,
					 const char *issuer, struct store_client *out);

/* Mark the row with this fingerprint revoked (CF_E_NOT_FOUND when there is no such row
 * that is not already revoked). */
MUST_USE cf_err store_client_revoke(struct store *st, const char *fingerprint);

/* Set the source allow-list text (`client allow`; "" = any; the console parses it with
 * board/cidr.h, authz parses it again) of the row with this fingerprint that is not revoked.
 * CF_E_NOT_FOUND when there is none. */
MUST_USE cf_err store_client_set_allow(struct store *st, const char *fingerprint,
				       const char *allow);

/* Delete every row with this console name, revoked or not (CF_E_NOT_FOUND when none). For
 * tests and cleanup; the console keeps revoked rows. */
MUST_USE cf_err store_client_delete_name(struct store *st, const char *name);

#endif
