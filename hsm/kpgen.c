/* Key pairs for KMIP clients (Create Key Pair, Re-key Key Pair): made inside the HSM, handed
 * out only as a HSM_BLOB_MECH_KWP_GCM blob of the private key and the public key's
 * SubjectPublicKeyInfo. Unlike keypair.c's pairs (the TLS and CA keys, token objects that
 * never leave), these are session objects that exist only during one job: generated with the
 * private half sensitive and extractable, checked (pairwise consistency), wrapped out with
 * C_WrapKey under a session copy of the KEK (kwp.c), destroyed. The private key's plaintext
 * never enters this process at creation. */
#include <string.h>

#include "board/log.h"
#include "board/sec.h"
#include "hsm/hsm_int.h"

static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

static bool kp_rsa(enum hsm_kp_type type)
{
	return type == HSM_KP_RSA_2048 || type == HSM_KP_RSA_3072 || type == HSM_KP_RSA_4096;
}

/* C_GenerateKeyPair of session objects for type into *hp / *hv */
static cf_err gen_session_pair(struct hsm_exec *x, enum hsm_kp_type type, CK_OBJECT_HANDLE *hp,
			       CK_OBJECT_HANDLE *hv)
{
	bool rsa = kp_rsa(type);
	CK_ULONG bits = type == HSM_KP_RSA_2048 ? 2048 : type == HSM_KP_RSA_3072 ? 3072 : 4096;
	static const uint8_t e65537[] = { 0x01, 0x00, 0x01 };
	CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
	CK_ATTRIBUTE pub[6], prv[6];
	CK_ULONG np = 0, nv = 0;
	pub[np++] = (CK_ATTRIBUTE){ CKA_TOKEN, &fl, 1 };
	pub[np++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &fl, 1 };
	pub[np++] = (CK_ATTRIBUTE){ CKA_VERIFY, &t, 1 };
	if (rsa) {
		pub[np++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof bits };
		pub[np++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, (void *)e65537, sizeof e65537 };
	} else {
		bool p256 = type == HSM_KP_EC_P256;
		pub[np++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, p256 ? (void *)oid_p256 : (void *)oid_p384,
					    p256 ? sizeof oid_p256 : sizeof oid_p384 };
	}
	prv[nv++] = (CK_ATTRIBUTE){ CKA_TOKEN, &fl, 1 };
	prv[nv++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &t, 1 };
	prv[nv++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &t, 1 };
	prv[nv++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &t, 1 }; /* only to be wrapped, below */
	prv[nv++] = (CK_ATTRIBUTE){ CKA_SIGN, &t, 1 };        /* the pairwise test */
	CK_MECHANISM m = { rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_RV rv = x->h->f->C_GenerateKeyPair(x->sh, &m, pub, np, prv, nv, hp, hv);
	if (rv != CKR_OK) {
		*hp = *hv = CK_INVALID_HANDLE;
		return p11_fail(x, rv);
	}
	bool sens = false;
	TRY(p11_get_bool(x, *hv, CKA_SENSITIVE, &sens));
	return sens ? CF_OK : CF_E_HSM_POLICY;
}

/* io->ul[0] = type, io->ul[1] = KEK version. Out: io->out = SPKI, io->in = KWP(PKCS#8).
 * Session objects only: a retry after a fault starts over (they went with the session). */
static cf_err job_kp_gen(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	enum hsm_kp_type type = (enum hsm_kp_type)io->ul[0];
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE, hp = CK_INVALID_HANDLE, hv = CK_INVALID_HANDLE;
	io->in_n = io->out_n = 0;
	cf_err rc = hsm_kwp_kek(x, (uint32_t)io->ul[1], &kek);
	if (rc == CF_OK)
		rc = gen_session_pair(x, type, &hp, &hv);
	if (rc == CF_OK && hsm_test_fault_take(x->h, HSM_TF_KP_AFTER_CREATE))
		(void)x->h->f->C_CloseSession(x->sh); /* the session dies with the pair in it */
	if (rc == CF_OK)
		rc = hsm_kp_pairwise(x, hp, hv, kp_rsa(type));
	if (rc == CF_OK)
		rc = hsm_kp_spki(x, hp);
	if (rc == CF_OK)
		rc = hsm_kwp_wrap_io(x, kek, hv, io->in, &io->in_n);
	if (rc != CF_OK)
		io->in_n = io->out_n = 0;
	hsm_kwp_drop(x, &hv);
	hsm_kwp_drop(x, &hp);
	hsm_kwp_drop(x, &kek);
	return rc;
}

cf_err hsm_kp_generate_wrapped(hsm_sess *s, enum hsm_kp_type type, const struct hsm_bind *priv,
			       uint8_t *blob, size_t cap, size_t *blob_n, uint8_t *spki,
			       size_t spki_cap, size_t *spki_n)
{
	if (blob_n != NULL)
		*blob_n = 0;
	if (spki_n != NULL)
		*spki_n = 0;
	if (s == NULL || priv == NULL || blob == NULL || blob_n == NULL || spki == NULL ||
	    spki_n == NULL || type < HSM_KP_RSA_2048 || type > HSM_KP_EC_P384)
		return CF_E_INVALID_ARG;
	uint32_t kv = hsm_kek_current(s->h);
	if (kv == 0)
		return CF_E_HSM_NOT_FOUND;
	struct timespec dl;
	hsm_deadline(&dl, s->h->cfg.keygen_timeout_ms);
	TRY(hsm_sess_ready(s, &dl));
	struct hsm_io *io = s->x->io;
	io->ul[0] = (CK_ULONG)type;
	io->ul[1] = kv;
	cf_err rc = hsm_sess_run(s, job_kp_gen, &dl);
	uint8_t *ct = NULL;
	size_t ct_n = 0;
	if (rc == CF_OK) {
		io = s->x->io;
		if (io->out_n > spki_cap)
			rc = CF_E_NO_SPACE;
		else if ((rc = sec_alloc(io->in_n, (void **)&ct)) == CF_OK) {
			memcpy(spki, io->out, io->out_n);
			*spki_n = io->out_n;
			memcpy(ct, io->in, io->in_n); /* a KWP ciphertext: nothing secret */
			ct_n = io->in_n;
		}
	}
	if (rc == CF_OK)
		rc = hsm_blob_seal(s, HSM_BLOB_MECH_KWP_GCM, kv, ct, ct_n, priv, blob, cap, blob_n);
	if (ct != NULL)
		sec_free(ct, ct_n);
	if (rc != CF_OK) {
		*spki_n = 0;
		log_err_r(rc, "hsm: client key pair generation failed");
	}
	return rc;
}
