/* Derive Key (KMIP 1.4 section 4.6, 2.0 6.1.13): a new Symmetric Key or Secret Data from a
 * managed base key (or Secret Data) by PBKDF2, HMAC, NIST SP 800-108 counter mode (PRF HMAC)
 * or Encrypt, computed in the HSM and sealed under the KEK in the same job (hsm_derive): the
 * derived bytes never reach this process. Links: Derived Key on the base, Derivation Base
 * Object on the new object. docs/kmip-server.md "Cryptographic services".
 *
 *= kmip-spec-v1.4 section 4.6: The server SHALL perform the derivation function, and then
 *# register the derived object as a new Managed Object, returning the new Unique Identifier
 *# for the new object in the response. */
#include <string.h>

#include "firmware/ops/ops_int.h"
#include "kmip/kmip_wrap.h"

#define DERIVE_ITER_MAX 10000000

struct derive_job {
	const struct store_object *base;
	struct hsm_derive_params p;
	struct hsm_cs_params enc;
};

static cf_err derive_make(struct ops_req *r, struct ops_item *it, void *arg, size_t out_len,
			  const struct hsm_bind *b, uint8_t *blob, size_t cap, size_t *blob_n,
			  uint8_t digest[HSM_SHA256_LEN])
{
	struct derive_job *j = arg;
	hsm_sess *sess;
	TRY(ops_sess(r, &sess));
	struct hsm_kw_key k = { j->base->wrapped, j->base->wrapped_len,
				{ (const uint8_t *)j->base->uid, strlen(j->base->uid),
				  j->base->object_type } };
	cf_err rc = hsm_derive(sess, &k, &j->p, out_len, b, blob, cap, blob_n, digest);
	switch (rc) {
	case CF_E_HSM_MECH:
		return ops_fail(it, rc, ops_why(r, KMIP_RESULT_REASON_CRYPTOGRAPHIC_FAILURE,
					    KMIP_RESULT_REASON_BAD_CRYPTOGRAPHIC_PARAMETERS),
				"the derivation method does not fit the base key");
	case CF_E_INVALID_ARG:
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD,
				"a length the derivation refuses (output length, iterations, "
				"data, IV)");
	case CF_E_HSM_CRYPTO:
		return ops_fail(it, rc, KMIP_RESULT_REASON_CRYPTOGRAPHIC_FAILURE,
				"the derivation failed");
	default:
		return rc;
	}
}

/* Derivation Parameters -> j->p for the method; the base key o tells the HMAC PRF. */
static cf_err plan(struct ops_req *r, struct ops_item *it, const struct kmip_req_derive *q,
		   const struct store_object *o, const struct ops_cs_rows *k,
		   struct derive_job *j)
{
	const struct kmip_deriv_params *dp = &q->dp;
	struct kmip_crypto_params cp;
	bool has_cp = false;

	memset(&cp, 0, sizeof cp);
	if (dp->has_params) {
		if (kmip_crypto_params_decode(dp->params, &cp) != CF_OK)
			return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD,
					"Cryptographic Parameters");
		has_cp = true;
	} else if (k->params != NULL) {
		void *cpy;
		TRY(ops_dup(r, k->params->v_blob, k->params->v_blob_len, &cpy));
		has_cp = kmip_crypto_params_decode(
				 (struct kmip_bytes){ cpy, k->params->v_blob_len }, &cp) == CF_OK;
	}
	j->p.data = dp->data.p;
	j->p.data_n = dp->data.n;
	switch (q->method) {
	case KMIP_DERIVATION_METHOD_PBKDF2:
		j->p.method = HSM_DERIVE_PBKDF2;
		if (!dp->has_iterations || dp->iterations <= 0 || dp->iterations > DERIVE_ITER_MAX)
			return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD,
					"PBKDF2: Iteration Count 1..10000000 required");
		if (dp->salt.p == NULL)
			return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_INVALID_MESSAGE,
					"PBKDF2: Salt required");
		j->p.salt = dp->salt.p;
		j->p.salt_n = dp->salt.n;
		j->p.iterations = (uint32_t)dp->iterations;
		/* the PRF: HMAC with the Hashing Algorithm, SHA-1 when absent (RFC 8018) */
		j->p.hash = has_cp && cp.has_hash ? ops_hash_of(cp.hash) : HSM_HASH_SHA1;
		break;
	case KMIP_DERIVATION_METHOD_HMAC:
	case KMIP_DERIVATION_METHOD_NIST800_108_C:
		j->p.method = q->method == KMIP_DERIVATION_METHOD_HMAC ? HSM_DERIVE_HMAC
									: HSM_DERIVE_SP800_108;
		/* 1.4 4.6: for HMAC "the attributes of the derivation key provide enough
		 * information about the PRF" */
		j->p.hash = ops_hmac_hash_of(o->crypto_alg);
		if (j->p.hash == HSM_HASH_NONE && has_cp && cp.has_alg)
			j->p.hash = ops_hmac_hash_of(cp.alg);
		if (j->p.hash == HSM_HASH_NONE && has_cp && cp.has_hash)
			j->p.hash = ops_hash_of(cp.hash);
		if (dp->data.p == NULL)
			return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_INVALID_MESSAGE,
					"Derivation Data required");
		break;
	case KMIP_DERIVATION_METHOD_ENCRYPT: {
		bool streamable = false;
		j->p.method = HSM_DERIVE_ENCRYPT;
		if (!has_cp)
			return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_INVALID_MESSAGE,
					"Encrypt derivation: Cryptographic Parameters required");
		if (o->object_type != KMIP_OBJECT_TYPE_SYMMETRIC_KEY ||
		    o->crypto_alg != KMIP_CRYPTOGRAPHIC_ALGORITHM_AES)
			return ops_fail(it, CF_E_BAD_OBJECT,
					ops_why(r, KMIP_RESULT_REASON_INVALID_FIELD,
					    KMIP_RESULT_REASON_INVALID_OBJECT_TYPE),
					"Encrypt derivation needs an AES key");
		TRY(ops_cs_aes_map(r, it, &cp, &j->enc, &streamable));
		j->enc.iv = dp->iv.p;
		j->enc.iv_n = dp->iv.n;
		if (j->enc.iv == NULL && j->enc.mech != HSM_CS_AES_ECB &&
		    j->enc.mech != HSM_CS_AES_ECB_PAD)
			return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_INVALID_MESSAGE,
					"Encrypt derivation: Initialization Vector required");
		j->p.enc = &j->enc;
		if (dp->data.p == NULL)
			return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_INVALID_MESSAGE,
					"Derivation Data required");
		break;
	}
	default:
		return ops_fail(it, CF_E_BAD_VALUE,
				ops_why(r, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				    KMIP_RESULT_REASON_INVALID_FIELD),
				"Derivation Method: PBKDF2, HMAC, NIST800-108-C or Encrypt");
	}
	if (j->p.method != HSM_DERIVE_ENCRYPT && j->p.hash == HSM_HASH_NONE)
		return ops_fail(it, CF_E_BAD_VALUE,
				ops_why(r, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				    KMIP_RESULT_REASON_UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
				"PRF hash: an HMAC-SHA* key, or a SHA-1 / SHA-2 Hashing Algorithm");
	if (dp->data.n > HSM_CS_DATA_MAX)
		return ops_fail(it, CF_E_TOO_LARGE, KMIP_RESULT_REASON_INVALID_MESSAGE,
				"Derivation Data over 64 KiB");
	return CF_OK;
}

cf_err ops_derive_key(struct ops_req *r, struct ops_item *it)
{
	const struct kmip_req_derive *q = &it->rq->pl.u.derive_req;
	struct kmip_rsp_register *s = &it->rs->pl.u.rekey_rsp;
	struct store_object o = { 0 };
	struct ops_cs_rows k = { 0 };
	struct derive_job j;
	struct store_attr links[1], back;
	char base[STORE_UID_MAX + 1], nuid[STORE_UUID_LEN + 1];
	cf_err rc;

	memset(&j, 0, sizeof j);
	if (q->n_uids == 0)
		return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_INVALID_MESSAGE,
				"Unique Identifier of the base key required");
	if (q->n_uids > 1)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				"derivation from one base object only");
	/* 1.4 4.6: the ID Placeholder SHALL NOT stand for the base */
	if (q->uids[0].p == NULL)
		return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_INVALID_MESSAGE,
				"Unique Identifier of the base key required");
	TRY(ops_uid(r, it, q->uids[0], base));
	if ((rc = ops_object_load(r, base, &o)) != CF_OK)
		goto out;
	if ((rc = ops_cs_rows_load(r, base, &k)) != CF_OK ||
	    (rc = ops_cs_policy(r, it, &o, KMIP_CRYPTOGRAPHIC_USAGE_MASK_DERIVE_KEY, false, &k)) !=
		    CF_OK)
		goto out;
	if (o.object_type != KMIP_OBJECT_TYPE_SYMMETRIC_KEY &&
	    o.object_type != KMIP_OBJECT_TYPE_SECRET_DATA) {
		rc = ops_fail(it, CF_E_BAD_OBJECT, ops_why(r, KMIP_RESULT_REASON_INVALID_FIELD,
						       KMIP_RESULT_REASON_INVALID_OBJECT_TYPE),
			      "the base object is not a Symmetric Key or Secret Data");
		goto out;
	}
	if ((rc = plan(r, it, q, &o, &k, &j)) != CF_OK)
		goto out;
	if (k.limits != NULL &&
	    (rc = ops_cs_limits_take(r, it, base, k.limits, q->dp.data.n)) != CF_OK)
		goto out;
	j.base = &o;
	if ((rc = ops_link_row(r, KMIP_LINK_TYPE_DERIVATION_BASE_OBJECT_LINK, base, &links[0])) !=
		    CF_OK ||
	    (rc = ops_create_derived(r, it, q->object_type, &q->t, links, 1, derive_make, &j,
				     nuid, &s->uid)) != CF_OK)
		goto out;
	if ((rc = ops_link_row(r, KMIP_LINK_TYPE_DERIVED_KEY_LINK, nuid, &back)) == CF_OK)
		rc = store_attr_add(r->w->st, r->who.tenant, base, &back, NULL);
out:
	store_attr_list_free(&k.l);
	store_object_free(&o);
	return rc;
}
