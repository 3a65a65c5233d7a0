/* Wrapped keys: Get with a Key Wrapping Specification (the key answered wrapped under another
 * managed AES key) and Register of a Key Block with Key Wrapping Data (unwrapped, then kept
 * under the KEK). The wrapping runs in the HSM (hsm_kw_wrap / hsm_kw_unwrap); no plaintext
 * key reaches this file. docs/kmip-server.md "Wrapped keys".
 *
 *= kmip-spec-v1.4 section 2.1.6: If Cryptographic Parameters are specified in the
 *# Encryption Key Information [...] the server SHALL verify that they match one of the
 *# instances of the Cryptographic Parameters attribute of the corresponding key. If
 *# Cryptographic Parameters are omitted, then the server SHALL use the Cryptographic
 *# Parameters attribute with the lowest Attribute Index of the corresponding key. */
#include <string.h>

#include "firmware/ops/ops_int.h"
#include "kmip/kmip_wrap.h"

#define ROW_CRYPTO_PARAMS "Cryptographic Parameters"
#define WRAP_RSA_OAEP 100 /* beside enum hsm_kw_mech: hsm_kw_wrap_rsa */

static bool params_match(const struct kmip_crypto_params *want,
			 const struct kmip_crypto_params *have)
{
	return (!want->has_mode || (have->has_mode && have->mode == want->mode)) &&
	       (!want->has_padding || (have->has_padding && have->padding == want->padding)) &&
	       (!want->has_hash || (have->has_hash && have->hash == want->hash)) &&
	       (!want->has_alg || (have->has_alg && have->alg == want->alg));
}

/* The Cryptographic Parameters to wrap with: the request's, which must match one instance of
 * the key's attribute, or the key's lowest-index instance. A key without the attribute
 * takes the request's as they are (documented leniency); with neither it is refused. */
static cf_err params_choose(struct ops_req *r, struct ops_item *it, const char *wuid,
			    const struct kmip_key_info *ki, struct kmip_crypto_params *out)
{
	struct store_attr_list l = { 0 };
	const char *names[1] = { ROW_CRYPTO_PARAMS };
	cf_err rc;

	TRY(store_attr_get(r->w->st, r->who.tenant, wuid, names, 1, &l));
	rc = CF_E_NOT_FOUND;
	for (size_t i = 0; i < l.n && rc != CF_OK; i++) {
		struct kmip_crypto_params have;
		void *p;
		if (l.a[i].v_blob == NULL ||
		    kmip_crypto_params_decode((struct kmip_bytes){ l.a[i].v_blob, l.a[i].v_blob_len },
					      &have) != CF_OK)
			continue;
		if (ki->has_params && !params_match(&ki->params, &have))
			continue;
		if (ki->has_params) {
			*out = ki->params;
			rc = CF_OK;
		} else if ((rc = ops_dup(r, l.a[i].v_blob, l.a[i].v_blob_len, &p)) == CF_OK) {
			rc = kmip_crypto_params_decode((struct kmip_bytes){ p, l.a[i].v_blob_len }, out);
		}
	}
	if (rc == CF_E_NOT_FOUND && l.n == 0 && ki->has_params) {
		*out = ki->params;
		rc = CF_OK;
	}
	store_attr_list_free(&l);
	if (rc == CF_E_NOT_FOUND)
		return ops_fail(it, CF_E_BAD_VALUE,
				ops_why(r, KMIP_RESULT_REASON_ILLEGAL_OPERATION,
				    KMIP_RESULT_REASON_BAD_CRYPTOGRAPHIC_PARAMETERS),
				"Cryptographic Parameters do not match the wrapping key's");
	return rc;
}

/* Load the wrapping key named by ki and check that it may wrap (need = Wrap Key) or unwrap
 * (Unwrap Key); *mech (enum hsm_kw_mech, or WRAP_RSA_OAEP for an RSA Public Key, which only
 * wraps) from its Cryptographic Parameters, *used = those parameters. */
static cf_err wrapping_key(struct ops_req *r, struct ops_item *it, const struct kmip_key_info *ki,
			   uint32_t need, struct store_object *wo, int *mech,
			   struct kmip_crypto_params *used)
{
	char wuid[STORE_UID_MAX + 1];
	cf_err rc;

	if (!ki->present)
		return ops_fail(it, CF_E_MISSING, KMIP_RESULT_REASON_MISSING_DATA,
				"Encryption Key Information required");
	if (ki->uid.n == 0 || ki->uid.n > STORE_UID_MAX ||
	    memchr(ki->uid.p, '\0', ki->uid.n) != NULL)
		rc = CF_E_NOT_FOUND;
	else {
		memcpy(wuid, ki->uid.p, ki->uid.n);
		wuid[ki->uid.n] = '\0';
		rc = ops_object_load(r, wuid, wo);
	}
	if (rc == CF_E_NOT_FOUND)
		return ops_fail(it, rc, ops_why(r, KMIP_RESULT_REASON_ITEM_NOT_FOUND,
					    KMIP_RESULT_REASON_WRAPPING_OBJECT_NOT_FOUND),
				"wrapping key not found");
	TRY(rc);
	if (wo->state == STORE_STATE_DESTROYED || wo->state == STORE_STATE_DESTROYED_COMPROMISED ||
	    wo->wrapped == NULL)
		return ops_fail(it, CF_E_NOT_FOUND, ops_why(r, KMIP_RESULT_REASON_ITEM_NOT_FOUND,
							KMIP_RESULT_REASON_WRAPPING_OBJECT_DESTROYED),
				"wrapping key destroyed");
	bool rsa = need == KMIP_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY &&
		   wo->object_type == KMIP_OBJECT_TYPE_PUBLIC_KEY &&
		   wo->crypto_alg == KMIP_CRYPTOGRAPHIC_ALGORITHM_RSA;
	if (!rsa && (wo->object_type != KMIP_OBJECT_TYPE_SYMMETRIC_KEY ||
		     wo->crypto_alg != KMIP_CRYPTOGRAPHIC_ALGORITHM_AES))
		return ops_fail(it, CF_E_BAD_OBJECT, ops_why(r, KMIP_RESULT_REASON_ILLEGAL_OPERATION,
							 KMIP_RESULT_REASON_INVALID_OBJECT_TYPE),
				need == KMIP_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY
					? "wrapping key is not an AES key nor an RSA public key"
					: "unwrapping key is not an AES symmetric key");
	if ((wo->usage_mask & need) == 0)
		return ops_fail(it, CF_E_PERMISSION,
				ops_why(r, KMIP_RESULT_REASON_PERMISSION_DENIED,
				    KMIP_RESULT_REASON_INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK),
				need == KMIP_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY
					? "wrapping key lacks the Wrap Key usage"
					: "wrapping key lacks the Unwrap Key usage");
	/* protect (wrap) only while Active; process (unwrap) also once Deactivated */
	if (wo->state != STORE_STATE_ACTIVE &&
	    (need == KMIP_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY || wo->state != STORE_STATE_DEACTIVATED))
		return ops_fail(it, CF_E_STATE, ops_why(r, KMIP_RESULT_REASON_PERMISSION_DENIED,
						    KMIP_RESULT_REASON_WRONG_KEY_LIFECYCLE_STATE),
				"wrapping key is not Active");
	TRY(params_choose(r, it, wuid, ki, used));
	if (rsa && (!used->has_padding || used->padding == KMIP_PADDING_METHOD_OAEP) &&
	    (!used->has_hash || used->hash == KMIP_HASHING_ALGORITHM_SHA_1) && !used->other &&
	    !used->has_mode)
		*mech = WRAP_RSA_OAEP;
	else if (rsa)
		return ops_fail(it, CF_E_BAD_VALUE,
				ops_why(r, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				    KMIP_RESULT_REASON_UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
				"RSA wrapping: Padding Method OAEP with SHA-1 only");
	else if (used->has_mode && used->mode == KMIP_BLOCK_CIPHER_MODE_NISTKEYWRAP)
		*mech = HSM_KW_AES;
	else if (used->has_mode && used->mode == KMIP_BLOCK_CIPHER_MODE_AESKEYWRAPPADDING)
		*mech = HSM_KW_AES_PAD;
	else
		return ops_fail(it, CF_E_BAD_VALUE,
				ops_why(r, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				    KMIP_RESULT_REASON_UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
				"Block Cipher Mode: NISTKeyWrap or AESKeyWrapPadding");
	return CF_OK;
}

/* What both directions refuse in a Key Wrapping Specification / Data. */
static cf_err wrapping_check(struct ops_req *r, struct ops_item *it, const struct kmip_wrapping *w)
{
	if (w->method != KMIP_WRAPPING_METHOD_ENCRYPT)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				"Wrapping Method: only Encrypt");
	if (w->mac.present || w->mac_sig.p != NULL)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				"MAC/signature wrapping not supported");
	if (w->n_attr_names > 0 && w->has_encoding &&
	    w->encoding == KMIP_ENCODING_OPTION_NO_ENCODING)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_ENCODING_OPTION_ERROR,
				"No Encoding with attribute names");
	if (w->n_attr_names > 0)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				"wrapping attributes with the key not supported");
	if (w->has_encoding && w->encoding != KMIP_ENCODING_OPTION_NO_ENCODING)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_ENCODING_OPTION_ERROR,
				"Encoding Option: only No Encoding");
	if (w->iv.p != NULL)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				"AES key wrap takes no IV/Counter/Nonce");
	return CF_OK;
}

static cf_err hsm_refused(struct ops_req *r, struct ops_item *it, int mech, cf_err rc)
{
	if (rc == CF_E_HSM_MECH && mech == WRAP_RSA_OAEP)
		return ops_fail(it, rc, ops_why(r, KMIP_RESULT_REASON_ILLEGAL_OPERATION,
					    KMIP_RESULT_REASON_BAD_CRYPTOGRAPHIC_PARAMETERS),
				"RSA public key not usable (RSA 2048-4096), or the key is too long "
				"for OAEP with it");
	if (rc == CF_E_HSM_MECH && mech == HSM_KW_AES_PAD)
		return ops_fail(it, rc, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
				"the HSM's AESKeyWrapPadding is wrong for this key length "
				"(not a multiple of 8 bytes)");
	if (rc == CF_E_HSM_MECH)
		return ops_fail(it, rc, ops_why(r, KMIP_RESULT_REASON_ILLEGAL_OPERATION,
					    KMIP_RESULT_REASON_BAD_CRYPTOGRAPHIC_PARAMETERS),
				"key length not wrappable with this Block Cipher Mode "
				"(NISTKeyWrap needs a multiple of 8 bytes, at least 16)");
	return rc;
}

/* RSA-OAEP under a managed Public Key: its material (SubjectPublicKeyInfo DER, public) is
 * opened from its blob, then the HSM wraps (hsm_kw_wrap_rsa). */
static cf_err wrap_rsa(struct ops_req *r, hsm_sess *sess, const struct hsm_kw_key *wk,
		       const struct hsm_kw_key *k, uint8_t *out, size_t cap, size_t *out_n)
{
	uint8_t *spki;
	size_t n = 0;
	TRY(ops_keybuf(r, HSM_DEK_MAX, &spki));
	TRY(hsm_dek_unwrap(sess, wk->blob, wk->n, &wk->bind, spki, HSM_DEK_MAX, &n));
	return hsm_kw_wrap_rsa(sess, spki, n, k, out, cap, out_n);
}

cf_err ops_wrap_type_check(struct ops_req *r, struct ops_item *it, const struct kmip_req_get *q)
{
	/* keys are kept unwrapped (in KMIP's sense): Not Wrapped is what Get answers anyway */
	if (q->has_wrap_type && (q->wrap_type != KMIP_KEY_WRAP_TYPE_NOT_WRAPPED ||
				 q->wrap_spec.p != NULL))
		return ops_fail(it, CF_E_BAD_VALUE, ops_why(r, KMIP_RESULT_REASON_FEATURE_NOT_SUPPORTED,
							KMIP_RESULT_REASON_KEY_WRAP_TYPE_NOT_SUPPORTED),
				"Key Wrap Type: only Not Wrapped, without a Key Wrapping Specification");
	return CF_OK;
}

cf_err ops_wrap_get(struct ops_req *r, struct ops_item *it, const struct store_object *o,
		    uint32_t format, struct kmip_rsp_get *s)
{
	const struct kmip_req_get *q = &it->rq->pl.u.get_req;
	struct kmip_key_block *kb = &s->obj.kb;
	struct store_object wo = { 0 };
	struct kmip_wrapping w;
	int mech = HSM_KW_AES;
	hsm_sess *sess;
	size_t out_n = 0;
	void *out;
	cf_err rc;

	if (kmip_wrapping_decode(q->wrap_spec, false, &w) != CF_OK)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD,
				"Key Wrapping Specification");
	TRY(wrapping_check(r, it, &w));
	if (o->object_type != KMIP_OBJECT_TYPE_SYMMETRIC_KEY &&
	    o->object_type != KMIP_OBJECT_TYPE_SECRET_DATA)
		return ops_fail(it, CF_E_BAD_OBJECT, ops_why(r, KMIP_RESULT_REASON_ILLEGAL_OPERATION,
							 KMIP_RESULT_REASON_INVALID_OBJECT_TYPE),
				"only keys (Key Block objects) can be wrapped");
	if (format == KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED,
				"a wrapped symmetric key is answered in Raw format");
	if ((rc = wrapping_key(r, it, &w.enc, KMIP_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY, &wo, &mech,
			       &w.enc.params)) != CF_OK)
		goto out;
	w.enc.has_params = true;
	if ((rc = ops_sess(r, &sess)) != CF_OK ||
	    (rc = kmip_arena_alloc(&r->w->arena, HSM_KW_OUT_MAX, 1, &out)) != CF_OK)
		goto out;
	struct hsm_kw_key wk = { wo.wrapped, wo.wrapped_len,
				 { (const uint8_t *)wo.uid, strlen(wo.uid), wo.object_type } };
	struct hsm_kw_key k = { o->wrapped, o->wrapped_len,
				{ (const uint8_t *)o->uid, strlen(o->uid), o->object_type } };
	if (mech == WRAP_RSA_OAEP)
		rc = wrap_rsa(r, sess, &wk, &k, out, HSM_KW_OUT_MAX, &out_n);
	else
		rc = hsm_kw_wrap(sess, (enum hsm_kw_mech)mech, &wk, &k, out, HSM_KW_OUT_MAX, &out_n);
	if (rc != CF_OK) {
		rc = hsm_refused(r, it, mech, rc);
		goto out;
	}
	if ((rc = kmip_wrapping_data_encode(&w, r->ver, &r->w->arena, &kb->wrapping)) != CF_OK)
		goto out;
	s->object_type = o->object_type;
	if ((rc = ops_text(r, o->uid, &s->uid)) != CF_OK)
		goto out;
	s->obj.type = o->object_type;
	kb->format = format;
	kb->has_value = true;
	kb->value_wrapped = true;
	kb->wrapped_value = (struct kmip_bytes){ out, out_n };
	kb->has_alg = o->crypto_alg != 0;
	kb->alg = o->crypto_alg;
	kb->has_len = o->crypto_len != 0;
	kb->len = o->crypto_len;
out:
	store_object_free(&wo);
	return rc;
}

cf_err ops_wrap_register(struct ops_req *r, struct ops_item *it, const struct kmip_key_block *kb,
			 const struct hsm_bind *b, uint8_t *blob, size_t cap, size_t *blob_n,
			 size_t *dek_n)
{
	struct store_object wo = { 0 };
	struct kmip_wrapping w;
	int mech = HSM_KW_AES;
	struct kmip_crypto_params used;
	hsm_sess *sess;
	cf_err rc;

	if (kmip_wrapping_decode(kb->wrapping, true, &w) != CF_OK)
		return ops_fail(it, CF_E_BAD_VALUE, KMIP_RESULT_REASON_INVALID_FIELD,
				"Key Wrapping Data");
	TRY(wrapping_check(r, it, &w));
	/* the spec's form is a Byte String Key Value; PyKMIP sends a Key Value structure whose
	 * Key Material holds the wrapped bytes (as its server answers): both are accepted */
	struct kmip_bytes wv = kb->value_wrapped ? kb->wrapped_value : kb->material;
	if (!kb->value_wrapped && (kb->material_type != TTLV_BYTE_STRING || kb->attrs.a.n > 0))
		return ops_fail(it, CF_E_BAD_OBJECT, KMIP_RESULT_REASON_INVALID_FIELD,
				"wrapped Key Value: a Byte String");
	if ((rc = wrapping_key(r, it, &w.enc, KMIP_CRYPTOGRAPHIC_USAGE_MASK_UNWRAP_KEY, &wo, &mech,
			       &used)) != CF_OK)
		goto out;
	if ((rc = ops_sess(r, &sess)) != CF_OK)
		goto out;
	struct hsm_kw_key wk = { wo.wrapped, wo.wrapped_len,
				 { (const uint8_t *)wo.uid, strlen(wo.uid), wo.object_type } };
	rc = hsm_kw_unwrap(sess, (enum hsm_kw_mech)mech, &wk, wv.p, wv.n, b, blob, cap,
			   blob_n, dek_n);
	if (rc == CF_E_HSM_UNWRAP)
		rc = ops_fail(it, rc, KMIP_RESULT_REASON_CRYPTOGRAPHIC_FAILURE,
			      "unwrap failed: wrong wrapping key or mode, or altered bytes");
out:
	store_object_free(&wo);
	return rc;
}
