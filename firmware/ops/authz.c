/* Authorization: identity -> tenant + role, optional password credential (authz.h). */
#include "firmware/ops/authz.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "board/log.h"
#include "board/sec.h"
#include "firmware/store/store_clients.h"
#include "firmware/net/net.h"
#include "firmware/net/tls.h"


enum config_role authz_role_from(const char *s)
{
	if (s == NULL)
		return 0;
	if (strcmp(s, "user") == 0)
		return CONFIG_ROLE_USER;
	if (strcmp(s, "readonly") == 0)
		return CONFIG_ROLE_READONLY;
	return 0;
}

static cf_err principal_set(struct authz_principal *out, const char *tenant, enum config_role role,
			    const char *via)
{
	size_t n = strlen(tenant);

	if (n == 0 || n > STORE_TENANT_MAX || (role != CONFIG_ROLE_USER && role != CONFIG_ROLE_READONLY))
		return CF_E_AUTH;
	memcpy(out->tenant, tenant, n + 1);
	out->role = role;
	out->via = via;
	return CF_OK;
}

/* The store row's source allow-list text (`client allow`) -> out->allow. A text that does not
 * parse (written outside the console) refuses the client: fail closed. */
static cf_err principal_allow(struct authz_principal *out, const char *text)
{
	const char *why = NULL;

	if (cidr_list_parse(text, &out->allow, &why, NULL) == CF_OK)
		return CF_OK;
	log_err("authz: client %s: stored allow-list does not parse (%s): refused", out->actor, why);
	return CF_E_AUTH;
}

bool authz_source_allowed(const struct authz_principal *p, const char *peer)
{
	char addr[NET_PEER_MAX];
	uint8_t a[16];
	const char *end;
	size_t n;

	if (p == NULL)
		return false;
	if (p->allow.n == 0)
		return true;
	if (peer == NULL)
		return false;
	/* "1.2.3.4:port" or "[v6]:port" (net_conn_info.peer) */
	if (peer[0] == '[') {
		peer++;
		end = strchr(peer, ']');
	} else {
		end = strrchr(peer, ':');
	}
	n = end != NULL ? (size_t)(end - peer) : strlen(peer);
	if (n >= sizeof addr)
		return false;
	memcpy(addr, peer, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, a) == 1)
		return cidr_list_match_bytes(&p->allow, 4, a);
	if (inet_pton(AF_INET6, addr, a) == 1)
		return cidr_list_match_bytes(&p->allow, 6, a);
	return false;
}

/* ---- resolved-principal cache ----------------------------------------------------------
 *
 * authz_resolve runs for every request and reads the store's clients table once or twice
 * (SQLite). Each struct authz (one per service) holds its own cache. Successful resolutions
 * are cached by (config, store handle, certificate fingerprint, chain_ok): the fingerprint
 * names the exact certificate, so its subject and issuer are fixed too; the config's rules
 * are matched again on every hit (authz_cache_config_same), so the cache only saves the store
 * reads. Only successes are cached: a client added later (issue, trust) is seen at once.
 * Every entry carries the generation it was resolved under; the generation is read BEFORE
 * the store is, and authz_cache_invalidate (called by authz_trust_reload, which the console
 * runs after every trust/revoke and the service at every boot) bumps it, so a change
 * committed before the bump can never be served from an entry resolved before it: a revoked
 * client is refused on its next request. An entry also expires AUTHZ_CACHE_TTL_S after it was resolved, which bounds any
 * change made to the table without the console (none in the firmware).
 */
#define AUTHZ_CACHE_SLOTS 256u /* power of two; direct-mapped by fingerprint */
#define AUTHZ_CACHE_TTL_S 5

struct authz_cache_ent {
	bool used;
	bool chain_ok;
	enum config_role role;
	uint64_t gen;
	int64_t at;
	const struct config *cfg;
	const struct store *st;
	const char *via;
	char fp_hex[sizeof ((struct identity *)0)->fp_hex];
	char tenant[STORE_TENANT_MAX + 1];
	bool password_required;
	struct cidr_list allow;
};

struct authz {
	pthread_mutex_t cache_lock;
	struct authz_cache_ent cache[AUTHZ_CACHE_SLOTS]; /* under cache_lock */
	_Atomic uint64_t cache_gen;
	struct tls_trust *trust;   /* owned; the TLS contexts borrow it */
};

cf_err authz_new(struct authz **out)
{
	cf_err rc;
	if (out == NULL)
		return CF_E_INVALID_ARG;
	*out = NULL;
	struct authz *a = calloc(1, sizeof *a);
	if (a == NULL)
		return CF_E_NOMEM;
	if (pthread_mutex_init(&a->cache_lock, NULL) != 0) {
		free(a);
		return CF_E_NOMEM;
	}
	if ((rc = tls_trust_new(&a->trust)) != CF_OK) {
		pthread_mutex_destroy(&a->cache_lock);
		free(a);
		return rc;
	}
	atomic_init(&a->cache_gen, 1);
	*out = a;
	return CF_OK;
}

void authz_free(struct authz *a)
{
	if (a == NULL)
		return;
	tls_trust_free(a->trust);
	pthread_mutex_destroy(&a->cache_lock);
	free(a);
}

struct tls_trust *authz_tls_trust(struct authz *a)
{
	return a != NULL ? a->trust : NULL;
}

void authz_cache_invalidate(struct authz *a)
{
	if (a != NULL)
		atomic_fetch_add(&a->cache_gen, 1);
}

static int64_t authz_mono_s(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec;
}

/* by the fingerprint text (what the rules match; a SHA-256, so any bits spread well) */
static struct authz_cache_ent *authz_cache_slot(struct authz *a, const struct identity *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = id->fp_hex; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return &a->cache[h & (AUTHZ_CACHE_SLOTS - 1)];
}

static bool authz_cache_get(struct authz *a, const struct config *cfg, const struct store *st,
			    const struct identity *id, uint64_t gen, int64_t now,
			    struct authz_principal *out)
{
	bool hit = false;
	if (a == NULL || now < 0 || pthread_mutex_lock(&a->cache_lock) != 0)
		return false;
	const struct authz_cache_ent *e = authz_cache_slot(a, id);
	if (e->used && e->gen == gen && e->cfg == cfg && e->st == st && e->chain_ok == id->chain_ok &&
	    now >= e->at && now - e->at <= AUTHZ_CACHE_TTL_S &&
	    strcmp(e->fp_hex, id->fp_hex) == 0) {
		memcpy(out->tenant, e->tenant, sizeof out->tenant);
		out->role = e->role;
		out->via = e->via;
		out->password_required = e->password_required;
		out->allow = e->allow;
		hit = true;
	}
	pthread_mutex_unlock(&a->cache_lock);
	return hit;
}

static void authz_cache_put(struct authz *a, const struct config *cfg, const struct store *st,
			    const struct identity *id, uint64_t gen, int64_t now,
			    const struct authz_principal *p)
{
	if (a == NULL || now < 0 || gen != atomic_load(&a->cache_gen) ||
	    pthread_mutex_lock(&a->cache_lock) != 0)
		return;
	struct authz_cache_ent *e = authz_cache_slot(a, id);
	e->used = true;
	e->chain_ok = id->chain_ok;
	e->role = p->role;
	e->gen = gen;
	e->at = now;
	e->cfg = cfg;
	e->st = st;
	e->via = p->via;
	memcpy(e->fp_hex, id->fp_hex, sizeof e->fp_hex);
	e->fp_hex[sizeof e->fp_hex - 1] = '\0';
	memcpy(e->tenant, p->tenant, sizeof e->tenant);
	e->password_required = p->password_required;
	e->allow = p->allow;
	pthread_mutex_unlock(&a->cache_lock);
}

static cf_err authz_resolve_uncached(const struct config *cfg, struct store *st,
				     const struct identity *id, struct authz_principal *out);

/* The cache stands in for the store reads only: the config's rules (in memory, cheap) are
 * matched again on every hit, so the answer is the one authz_resolve_uncached would give for
 * the store as it was when the entry was made, whatever the config holds now. */
static bool authz_cache_config_same(const struct config *cfg, const struct identity *id,
				    const struct authz_principal *hit)
{
	const struct config_client *cc = NULL;
	if (cfg != NULL)
		cc = config_client_find(cfg, id->fp_hex, id->chain_ok ? id->subject : NULL,
					id->chain_ok ? id->issuer : NULL);
	if (strcmp(hit->via, "config") != 0)
		return cc == NULL;
	return cc != NULL && cc->role == hit->role && strcmp(cc->tenant, hit->tenant) == 0;
}

cf_err authz_resolve(struct authz *a, const struct config *cfg, struct store *st,
		     const struct identity *id, struct authz_principal *out)
{
	memset(out, 0, sizeof *out);
	if (id == NULL)
		return CF_E_AUTH;
	uint64_t gen = a != NULL ? atomic_load(&a->cache_gen) : 0; /* before any read of the store */
	int64_t now = authz_mono_s();
	if (authz_cache_get(a, cfg, st, id, gen, now, out) &&
	    authz_cache_config_same(cfg, id, out)) {
		snprintf(out->actor, sizeof out->actor, "sha256:%s", id->fp_hex);
		return CF_OK;
	}
	memset(out, 0, sizeof *out);
	cf_err rc = authz_resolve_uncached(cfg, st, id, out);
	if (rc == CF_OK && st != NULL)
		rc = authz_tenant_password(st, out->tenant, &out->password_required);
	if (rc == CF_OK)
		authz_cache_put(a, cfg, st, id, gen, now, out);
	return rc;
}

static cf_err authz_resolve_uncached(const struct config *cfg, struct store *st,
				     const struct identity *id, struct authz_principal *out)
{
	const struct config_client *cc;
	struct store_client sc;
	const char *subj, *iss;
	cf_err rc = CF_E_NOT_FOUND;

	memset(out, 0, sizeof *out);
	if (id == NULL)
		return CF_E_AUTH;
	snprintf(out->actor, sizeof out->actor, "sha256:%s", id->fp_hex);
	subj = id->chain_ok ? id->subject : NULL;
	iss = id->chain_ok ? id->issuer : NULL;
	/* The store's row for this very certificate first: a revoked one refuses the request
	 * before any config or DN rule could map the certificate again (`client revoke`). */
	if (st != NULL) {
		rc = store_client_get(st, out->actor, &sc);
		if (rc != CF_OK && rc != CF_E_NOT_FOUND)
			return rc;
		if (rc == CF_OK && strcmp(sc.role, STORE_CLIENT_ROLE_REVOKED) == 0) {
			out->via = "store";
			return CF_E_AUTH;
		}
	}
	if (cfg != NULL) {
		cc = config_client_find(cfg, id->fp_hex, subj, iss);
		if (cc != NULL) {
			/* a console `client allow` on this very certificate's row still applies */
			cf_err prc = principal_set(out, cc->tenant, cc->role, "config");
			return prc == CF_OK && rc == CF_OK ? principal_allow(out, sc.allow) : prc;
		}
	}
	if (st == NULL)
		return CF_E_AUTH;
	/* by subject + issuer only for certificates that chained to the CA, and only rows the
	 * CA issued that are not revoked (store_clients.h) */
	if (rc == CF_E_NOT_FOUND && id->chain_ok)
		rc = store_client_find_active(st, id->subject, id->issuer, &sc);
	if (rc == CF_E_NOT_FOUND)
		return CF_E_AUTH;
	if (rc != CF_OK)
		return rc;
	if ((rc = principal_set(out, sc.tenant, authz_role_from(sc.role), "store")) != CF_OK)
		return rc;
	return principal_allow(out, sc.allow);
}

cf_err authz_trust_reload(struct authz *a, struct store *st)
{
	struct store_client_list l = { 0 };
	uint8_t (*tr)[TLS_FP_LEN] = NULL, (*rv)[TLS_FP_LEN] = NULL;
	size_t nt = 0, nr = 0;
	cf_err rc;

	/* the clients table may have changed: no cached principal survives this call */
	authz_cache_invalidate(a);
	if (st == NULL)
		return a != NULL ? tls_trust_replace(a->trust, NULL, 0, NULL, 0) : CF_OK;
	if ((rc = store_client_list(st, &l)) != CF_OK)
		return rc;
	if (l.n > 0 && ((tr = calloc(l.n, sizeof *tr)) == NULL || (rv = calloc(l.n, sizeof *rv)) == NULL)) {
		rc = CF_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		const struct store_client *c = &l.v[i];
		bool revoked = strcmp(c->role, STORE_CLIENT_ROLE_REVOKED) == 0;
		bool trusted = !revoked && strcmp(c->kind, STORE_CLIENT_KIND_TRUSTED) == 0;
		if (!revoked && !trusted)
			continue;
		/* a row whose fingerprint does not parse can pin nothing; for a revoked row that
		 * would weaken a refusal, so it is an error */
		if (tls_fp_parse(c->fingerprint, revoked ? rv[nr] : tr[nt]) != CF_OK) {
			log_err("authz: client \"%s\" has a malformed fingerprint in the store", c->name);
			if (revoked) {
				rc = CF_E_STORE;
				goto out;
			}
			continue;
		}
		if (revoked)
			nr++;
		else
			nt++;
	}
	if (a == NULL) {
		rc = CF_OK;
		goto out;
	}
	rc = tls_trust_replace(a->trust, (const uint8_t (*)[TLS_FP_LEN])tr, nt,
			       (const uint8_t (*)[TLS_FP_LEN])rv, nr);
	if (rc == CF_OK)
		log_info("authz: TLS trust from the store: %zu pinned, %zu revoked", nt, nr);
out:
	free(tr);
	free(rv);
	store_client_list_free(&l);
	return rc;
}
