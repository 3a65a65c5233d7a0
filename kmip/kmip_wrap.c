/* Key Wrapping Specification and Key Wrapping Data: typed reads and the Key Wrapping Data
 * writer (kmip/kmip_wrap.h). The contents were validated by the payload decoder (every tag
 * known in the version, types and enumerations as the tables say), so this walks them in
 * order and only checks which fields the structure has. */
#include "kmip/kmip_wrap.h"

#include <string.h>

#define T(name) KMIP_TAG_##name

/* One Cryptographic Parameters field: where it goes and its type. */
struct param_slot {
	bool *has;
	uint8_t type;
	uint32_t *e;                /* Enumeration */
	int32_t *i;                 /* Integer */
	bool *b;                    /* Boolean */
	struct kmip_bytes *bytes;   /* Byte String (has == NULL: present when p != NULL) */
};

static bool param_slot(struct kmip_crypto_params *o, uint32_t tag, struct param_slot *s)
{
	memset(s, 0, sizeof *s);
	s->type = TTLV_INTEGER;
	switch (tag) {
	case T(BLOCK_CIPHER_MODE): s->has = &o->has_mode; s->e = &o->mode; break;
	case T(PADDING_METHOD): s->has = &o->has_padding; s->e = &o->padding; break;
	case T(HASHING_ALGORITHM): s->has = &o->has_hash; s->e = &o->hash; break;
	case T(CRYPTOGRAPHIC_ALGORITHM): s->has = &o->has_alg; s->e = &o->alg; break;
	case T(KEY_ROLE_TYPE): s->has = &o->has_role; s->e = &o->role; break;
	case T(DIGITAL_SIGNATURE_ALGORITHM): s->has = &o->has_dsa; s->e = &o->dsa; break;
	case T(MASK_GENERATOR): s->has = &o->has_mgf; s->e = &o->mgf; break;
	case T(MASK_GENERATOR_HASHING_ALGORITHM): s->has = &o->has_mgf_hash; s->e = &o->mgf_hash; break;
	case T(RANDOM_IV): s->has = &o->has_random_iv; s->b = &o->random_iv; break;
	case T(IV_LENGTH): s->has = &o->has_iv_len; s->i = &o->iv_len; break;
	case T(TAG_LENGTH): s->has = &o->has_tag_len; s->i = &o->tag_len; break;
	case T(FIXED_FIELD_LENGTH): s->has = &o->has_fixed_len; s->i = &o->fixed_len; break;
	case T(INVOCATION_FIELD_LENGTH):
		s->has = &o->has_invocation_len; s->i = &o->invocation_len; break;
	case T(COUNTER_LENGTH): s->has = &o->has_counter_len; s->i = &o->counter_len; break;
	case T(INITIAL_COUNTER_VALUE):
		s->has = &o->has_initial_counter; s->i = &o->initial_counter; break;
	case T(SALT_LENGTH): s->has = &o->has_salt_len; s->i = &o->salt_len; break;
	case T(TRAILER_FIELD): s->has = &o->has_trailer; s->i = &o->trailer; break;
	case T(P_SOURCE): s->bytes = &o->p_source; break;
	default: return false;
	}
	if (s->e != NULL)
		s->type = TTLV_ENUMERATION;
	else if (s->b != NULL)
		s->type = TTLV_BOOLEAN;
	else if (s->bytes != NULL)
		s->type = TTLV_BYTE_STRING;
	return true;
}

/* Every field is filled; `other` says a field besides the four a key wrap uses (Block Cipher
 * Mode, Padding Method, Hashing Algorithm, Cryptographic Algorithm) is present, whether or
 * not it is a Cryptographic Parameters field. Unknown tags are not an error here (the payload
 * decoders refuse them where a structure is read from the wire). */
cf_err kmip_crypto_params_decode(struct kmip_bytes contents, struct kmip_crypto_params *out)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	struct ttlv_item it;
	ttlv_rd r;

	memset(out, 0, sizeof *out);
	out->raw = contents;
	ttlv_rd_init(&r, contents.p, contents.n, &lim);
	while (!ttlv_rd_done(&r)) {
		struct param_slot s;
		TRY(ttlv_rd_next(&r, &it));
		bool wrap_field = it.tag == T(BLOCK_CIPHER_MODE) || it.tag == T(PADDING_METHOD) ||
				  it.tag == T(HASHING_ALGORITHM) || it.tag == T(CRYPTOGRAPHIC_ALGORITHM);
		if (!wrap_field)
			out->other = true;
		if (!param_slot(out, it.tag, &s))
			continue;
		if (it.type != s.type)
			return CF_E_BAD_TYPE;
		if (s.has != NULL ? *s.has : s.bytes->p != NULL)
			return CF_E_DUPLICATE;
		if (s.has != NULL)
			*s.has = true;
		if (s.e != NULL)
			*s.e = ttlv_item_u32(&it);
		else if (s.i != NULL)
			*s.i = ttlv_item_int(&it);
		else if (s.b != NULL)
			*s.b = ttlv_item_bool(&it);
		else
			*s.bytes = (struct kmip_bytes){ it.val != NULL ? it.val : (const uint8_t *)"",
							it.len };
	}
	return CF_OK;
}

static cf_err key_info(const struct ttlv_item *st, struct kmip_key_info *ki)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	struct ttlv_item it;
	ttlv_rd r;

	if (ki->present)
		return CF_E_DUPLICATE;
	if (st->type != TTLV_STRUCTURE)
		return CF_E_BAD_TYPE;
	ki->present = true;
	ttlv_rd_init(&r, st->val, st->len, &lim);
	TRY(ttlv_rd_text(&r, T(UNIQUE_IDENTIFIER), &ki->uid.p, &ki->uid.n));
	if (ttlv_rd_done(&r))
		return CF_OK;
	TRY(ttlv_rd_expect(&r, T(CRYPTOGRAPHIC_PARAMETERS), TTLV_STRUCTURE, &it));
	ki->has_params = true;
	TRY(kmip_crypto_params_decode((struct kmip_bytes){ it.val, it.len }, &ki->params));
	return ttlv_rd_done(&r) ? CF_OK : CF_E_TRAILING;
}

cf_err kmip_wrapping_decode(struct kmip_bytes contents, bool data, struct kmip_wrapping *out)
{
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	struct ttlv_item it;
	ttlv_rd r;

	memset(out, 0, sizeof *out);
	if (contents.p == NULL)
		return CF_E_MISSING;
	ttlv_rd_init(&r, contents.p, contents.n, &lim);
	TRY(ttlv_rd_enum(&r, T(WRAPPING_METHOD), &out->method));
	while (!ttlv_rd_done(&r)) {
		TRY(ttlv_rd_next(&r, &it));
		switch (it.tag) {
		case T(ENCRYPTION_KEY_INFORMATION):
			TRY(key_info(&it, &out->enc));
			break;
		case T(MAC_SIGNATURE_KEY_INFORMATION):
			TRY(key_info(&it, &out->mac));
			break;
		case T(ATTRIBUTE_NAME):
			if (data)
				return CF_E_UNEXPECTED_TAG;
			out->n_attr_names++;
			break;
		case T(MAC_SIGNATURE):
		case T(IV_COUNTER_NONCE): {
			struct kmip_bytes *b = it.tag == T(MAC_SIGNATURE) ? &out->mac_sig : &out->iv;
			if (!data)
				return CF_E_UNEXPECTED_TAG;
			if (it.type != TTLV_BYTE_STRING)
				return CF_E_BAD_TYPE;
			if (b->p != NULL)
				return CF_E_DUPLICATE;
			*b = (struct kmip_bytes){ it.val != NULL ? it.val : (const uint8_t *)"", it.len };
			break;
		}
		case T(ENCODING_OPTION):
			if (it.type != TTLV_ENUMERATION)
				return CF_E_BAD_TYPE;
			if (out->has_encoding)
				return CF_E_DUPLICATE;
			out->has_encoding = true;
			out->encoding = ttlv_item_u32(&it);
			break;
		default:
			return CF_E_UNEXPECTED_TAG;
		}
	}
	return CF_OK;
}

cf_err kmip_wrapping_data_encode(const struct kmip_wrapping *w, int version, struct kmip_arena *a,
				 struct kmip_bytes *out)
{
	size_t cap = 64u + w->enc.uid.n + (w->enc.has_params ? w->enc.params.raw.n + 8u : 0u);
	size_t m;
	void *p;
	ttlv_wr wr;

	*out = (struct kmip_bytes){ 0 };
	if (!w->enc.present || w->enc.uid.p == NULL)
		return CF_E_MISSING;
	TRY(kmip_arena_alloc(a, cap, 1, &p));
	ttlv_wr_init(&wr, p, cap);
	TRY(ttlv_wr_enum(&wr, T(WRAPPING_METHOD), w->method));
	TRY(ttlv_wr_begin(&wr, T(ENCRYPTION_KEY_INFORMATION), &m));
	TRY(ttlv_wr_text(&wr, T(UNIQUE_IDENTIFIER), w->enc.uid.p, w->enc.uid.n));
	if (w->enc.has_params) {
		size_t mp;
		TRY(ttlv_wr_begin(&wr, T(CRYPTOGRAPHIC_PARAMETERS), &mp));
		if (w->enc.params.raw.n > 0)
			TRY(ttlv_wr_copy(&wr, w->enc.params.raw.p, w->enc.params.raw.n));
		TRY(ttlv_wr_end(&wr, mp));
	}
	TRY(ttlv_wr_end(&wr, m));
	if (w->has_encoding && version >= KMIP_V1_1)
		TRY(ttlv_wr_enum(&wr, T(ENCODING_OPTION), w->encoding));
	*out = (struct kmip_bytes){ p, ttlv_wr_len(&wr) };
	return CF_OK;
}
