/* Key pairs inside the HSM for the TLS server key and the appliance CA (ARCHITECTURE
 * "Security model": OpenSSL reaches them through libp11's pkcs11 engine). Each pair gets a
 * CKA_LABEL and a CKA_ID so that a PKCS#11 URI (RFC 7512) names it; the private half is
 * sensitive and never extractable. Every generated pair passes a pairwise-consistency test
 * (sign, verify, and a verify of a modified message must fail) or is destroyed. */
#include <string.h>

#include "board/log.h"
#include "hsm/hsm_int.h"

static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

/* io->ul[0] = type, io->label, io->id/id_n; out: io->objs[0] = public, [1] = private */
static cf_err job_exists(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE by_label[] = { { CKA_TOKEN, &t, 1 },
				    { CKA_LABEL, io->label, strlen(io->label) } };
	TRY(p11_find(x, by_label, 2));
	if (io->objs_n > 0)
		return CF_E_EXISTS;
	CK_ATTRIBUTE by_id[] = { { CKA_TOKEN, &t, 1 }, { CKA_ID, io->id, io->id_n } };
	TRY(p11_find(x, by_id, 2));
	return io->objs_n > 0 ? CF_E_EXISTS : CF_OK;
}

static cf_err pairwise(struct hsm_exec *x, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv, bool rsa)
{
	CK_FUNCTION_LIST *f = x->h->f;
	static const uint8_t msg[32] = "coffre pairwise consistency 01!";
	CK_MECHANISM m = { rsa ? CKM_SHA256_RSA_PKCS : CKM_ECDSA, NULL, 0 };
	uint8_t sig[1024];
	CK_RV rv = f->C_SignInit(x->sh, &m, priv);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	CK_ULONG n = 0;
	rv = f->C_Sign(x->sh, (CK_BYTE *)msg, sizeof msg, NULL, &n); /* size query */
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (n == 0 || n > sizeof sig) { /* untrusted length */
		(void)f->C_SignInit(x->sh, &m, priv); /* nothing to cancel safely: reopen later */
		return CF_E_HSM_OUTPUT;
	}
	rv = f->C_Sign(x->sh, (CK_BYTE *)msg, sizeof msg, sig, &n);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (n > sizeof sig)
		return CF_E_HSM_OUTPUT;
	if ((rv = f->C_VerifyInit(x->sh, &m, pub)) != CKR_OK)
		return p11_fail(x, rv);
	if ((rv = f->C_Verify(x->sh, (CK_BYTE *)msg, sizeof msg, sig, n)) != CKR_OK)
		return rv == CKR_SIGNATURE_INVALID ? CF_E_HSM_SELFTEST : p11_fail(x, rv);
	uint8_t bad[32];
	memcpy(bad, msg, sizeof bad);
	bad[0] ^= 1;
	if ((rv = f->C_VerifyInit(x->sh, &m, pub)) != CKR_OK)
		return p11_fail(x, rv);
	rv = f->C_Verify(x->sh, bad, sizeof bad, sig, n);
	if (rv == CKR_OK)
		return CF_E_HSM_SELFTEST;
	if (rv != CKR_SIGNATURE_INVALID && rv != CKR_SIGNATURE_LEN_RANGE)
		return p11_fail(x, rv);
	return CF_OK;
}

static cf_err job_keypair(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_FUNCTION_LIST *f = x->h->f;
	TRY(job_exists(x));
	enum hsm_kp_type type = (enum hsm_kp_type)io->ul[0];
	bool rsa = type == HSM_KP_RSA_2048 || type == HSM_KP_RSA_3072 || type == HSM_KP_RSA_4096;
	CK_ULONG bits = type == HSM_KP_RSA_2048 ? 2048 : type == HSM_KP_RSA_3072 ? 3072 : 4096;
	static const uint8_t e65537[] = { 0x01, 0x00, 0x01 };
	CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
	CK_ATTRIBUTE pub[8], prv[10];
	CK_ULONG np = 0, nv = 0;
	size_t ln = strlen(io->label);
	pub[np++] = (CK_ATTRIBUTE){ CKA_TOKEN, &t, 1 };
	pub[np++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &fl, 1 };
	pub[np++] = (CK_ATTRIBUTE){ CKA_VERIFY, &t, 1 };
	pub[np++] = (CK_ATTRIBUTE){ CKA_LABEL, io->label, ln };
	pub[np++] = (CK_ATTRIBUTE){ CKA_ID, io->id, io->id_n };
	if (rsa) {
		pub[np++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof bits };
		pub[np++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, (void *)e65537, sizeof e65537 };
	} else {
		const uint8_t *oid = type == HSM_KP_EC_P256 ? oid_p256 : oid_p384;
		size_t on = type == HSM_KP_EC_P256 ? sizeof oid_p256 : sizeof oid_p384;
		pub[np++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid, on };
	}
	prv[nv++] = (CK_ATTRIBUTE){ CKA_TOKEN, &t, 1 };
	prv[nv++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &t, 1 };
	prv[nv++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &t, 1 };
	prv[nv++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &fl, 1 };
	prv[nv++] = (CK_ATTRIBUTE){ CKA_SIGN, &t, 1 };
	/* RSA key transport for the KMIP 1.x "Basic" TLS suites needs decrypt */
	prv[nv++] = (CK_ATTRIBUTE){ CKA_DECRYPT, rsa ? &t : &fl, 1 };
	prv[nv++] = (CK_ATTRIBUTE){ CKA_LABEL, io->label, ln };
	prv[nv++] = (CK_ATTRIBUTE){ CKA_ID, io->id, io->id_n };
	CK_MECHANISM m = { rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE hp = CK_INVALID_HANDLE, hv = CK_INVALID_HANDLE;
	CK_RV rv = f->C_GenerateKeyPair(x->sh, &m, pub, np, prv, nv, &hp, &hv);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	bool sens = false, ext = true;
	cf_err rc = p11_get_bool(x, hv, CKA_SENSITIVE, &sens);
	if (rc == CF_OK)
		rc = p11_get_bool(x, hv, CKA_EXTRACTABLE, &ext);
	if (rc == CF_OK && (!sens || ext))
		rc = CF_E_HSM_POLICY;
	if (rc == CF_OK)
		rc = pairwise(x, hp, hv, rsa);
	if (rc != CF_OK) {
		(void)f->C_DestroyObject(x->sh, hp);
		(void)f->C_DestroyObject(x->sh, hv);
	}
	return rc;
}

cf_err hsm_keypair_generate(hsm_sess *s, enum hsm_kp_type type, const char *label,
			    const uint8_t *id, size_t id_n, char *uri, size_t uri_cap)
{
	if (uri != NULL && uri_cap > 0)
		uri[0] = '\0';
	if (s == NULL || label == NULL || label[0] == '\0' || strlen(label) > HSM_LABEL_MAX + 8 ||
	    id == NULL || id_n == 0 || id_n > 64 || uri == NULL || uri_cap == 0)
		return CF_E_INVALID_ARG;
	if (type < HSM_KP_RSA_2048 || type > HSM_KP_EC_P384)
		return CF_E_INVALID_ARG;
	struct hsm *h = s->h;
	/* build the URI first: a pair we cannot name is useless */
	size_t off = 0;
	const char *pre = "pkcs11:token=";
	if (uri_cap <= strlen(pre))
		return CF_E_NO_SPACE;
	strcpy(uri, pre);
	off = strlen(pre);
	TRY(p11_uri_pct((const uint8_t *)h->token_label, strlen(h->token_label), false, uri, uri_cap,
			&off));
	static const char obj[] = ";object=";
	if (uri_cap - off <= sizeof obj)
		return CF_E_NO_SPACE;
	memcpy(uri + off, obj, sizeof obj);
	off += sizeof obj - 1;
	TRY(p11_uri_pct((const uint8_t *)label, strlen(label), false, uri, uri_cap, &off));
	static const char idk[] = ";id=";
	if (uri_cap - off <= sizeof idk)
		return CF_E_NO_SPACE;
	memcpy(uri + off, idk, sizeof idk);
	off += sizeof idk - 1;
	TRY(p11_uri_pct(id, id_n, true, uri, uri_cap, &off));
	static const char typ[] = ";type=private";
	if (uri_cap - off <= sizeof typ) {
		uri[0] = '\0';
		return CF_E_NO_SPACE;
	}
	memcpy(uri + off, typ, sizeof typ);

	struct timespec dl;
	hsm_deadline(&dl, h->cfg.keygen_timeout_ms);
	cf_err rc = hsm_sess_ready(s, &dl);
	if (rc == CF_OK) {
		struct hsm_io *io = s->x->io;
		io->ul[0] = (CK_ULONG)type;
		memset(io->label, 0, sizeof io->label);
		memcpy(io->label, label, strlen(label));
		memcpy(io->id, id, id_n);
		io->id_n = id_n;
		rc = hsm_sess_run(s, job_keypair, &dl);
	}
	if (rc != CF_OK) {
		uri[0] = '\0';
		log_err_r(rc, "hsm: key pair generation failed");
	}
	return rc;
}

static cf_err job_kp_destroy(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE by_id[] = { { CKA_TOKEN, &t, 1 }, { CKA_ID, io->id, io->id_n } };
	TRY(p11_find(x, by_id, 2));
	if (io->objs_n == 0)
		return CF_E_HSM_NOT_FOUND;
	size_t n = io->objs_n;
	for (size_t i = 0; i < n; i++) {
		CK_OBJECT_CLASS cls = 0;
		CK_ULONG c = 0;
		TRY(p11_get_ulong(x, io->objs[i], CKA_CLASS, &c));
		cls = c;
		if (cls != CKO_PUBLIC_KEY && cls != CKO_PRIVATE_KEY)
			continue; /* KEKs carry 4-byte ids too: never touch secret keys here */
		CK_RV rv = x->h->f->C_DestroyObject(x->sh, io->objs[i]);
		if (rv != CKR_OK)
			return p11_fail(x, rv);
	}
	return CF_OK;
}

cf_err hsm_keypair_destroy(hsm_sess *s, const uint8_t *id, size_t id_n)
{
	if (s == NULL || id == NULL || id_n == 0 || id_n > 64)
		return CF_E_INVALID_ARG;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	TRY(hsm_sess_ready(s, &dl));
	memcpy(s->x->io->id, id, id_n);
	s->x->io->id_n = id_n;
	return hsm_sess_run(s, job_kp_destroy, &dl);
}
