/* Key pairs inside the HSM for the TLS server key and the appliance CA (docs/architecture.md
 * "Security model": OpenSSL reaches them through libp11's pkcs11 engine). Each pair gets a
 * CKA_LABEL and a CKA_ID so that a PKCS#11 URI (RFC 7512) names it; the private half is
 * sensitive and never extractable in the clear (with backups enabled: only wrapped under a
 * CKA_TRUSTED key, CKA_WRAP_WITH_TRUSTED). Every generated pair passes a pairwise-consistency test
 * (sign, verify, and a verify of a modified message must fail) or is destroyed. */
#include <string.h>

#include "board/log.h"
#include "board/sec.h"
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

cf_err hsm_kp_pairwise(struct hsm_exec *x, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv, bool rsa)
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

/* The retry after a recovered fault (hsm_sess_run) of a generation that got as far as
 * C_GenerateKeyPair: the objects carrying our label AND our id were made by that attempt
 * (job_exists had found neither before it), so they are destroyed and the pair is generated
 * again from the start: the pairwise test must run on the pair we hand out. */
static cf_err kp_cleanup_partial(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE q[] = { { CKA_TOKEN, &t, 1 },
			     { CKA_LABEL, io->label, strlen(io->label) },
			     { CKA_ID, io->id, io->id_n } };
	TRY(p11_find(x, q, 3));
	size_t n = io->objs_n;
	CK_OBJECT_HANDLE objs[8];
	if (n > 8)
		return CF_E_TOO_MANY;
	memcpy(objs, io->objs, n * sizeof objs[0]);
	for (size_t i = 0; i < n; i++) {
		CK_ULONG cls = 0;
		TRY(p11_get_ulong(x, objs[i], CKA_CLASS, &cls));
		if (cls != CKO_PUBLIC_KEY && cls != CKO_PRIVATE_KEY)
			continue;
		CK_RV rv = x->h->f->C_DestroyObject(x->sh, objs[i]);
		if (rv != CKR_OK)
			return p11_fail(x, rv);
	}
	if (n > 0)
		log_warn("hsm: removed a half-made key pair left by a faulted attempt");
	return CF_OK;
}

static cf_err job_keypair(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_FUNCTION_LIST *f = x->h->f;
	if (io->attempt > 0 && io->step >= 1)
		TRY(kp_cleanup_partial(x));
	io->step = 0;
	TRY(job_exists(x));
	enum hsm_kp_type type = (enum hsm_kp_type)io->ul[0];
	bool rsa = type == HSM_KP_RSA_2048 || type == HSM_KP_RSA_3072 || type == HSM_KP_RSA_4096;
	CK_ULONG bits = type == HSM_KP_RSA_2048 ? 2048 : type == HSM_KP_RSA_3072 ? 3072 : 4096;
	static const uint8_t e65537[] = { 0x01, 0x00, 0x01 };
	CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
	CK_ATTRIBUTE pub[8], prv[11];
	/* with backups enabled the private key can leave the HSM only wrapped under a
	 * CKA_TRUSTED key (the backup ceremony, hsm/backup.c); else never */
	bool backup = x->h->cfg.backup_enabled;
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
	prv[nv++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, backup ? &t : &fl, 1 };
	if (backup)
		prv[nv++] = (CK_ATTRIBUTE){ CKA_WRAP_WITH_TRUSTED, &t, 1 };
	prv[nv++] = (CK_ATTRIBUTE){ CKA_SIGN, &t, 1 };
	/* RSA key transport for the KMIP 1.x "Basic" TLS suites needs decrypt */
	prv[nv++] = (CK_ATTRIBUTE){ CKA_DECRYPT, rsa ? &t : &fl, 1 };
	prv[nv++] = (CK_ATTRIBUTE){ CKA_LABEL, io->label, ln };
	prv[nv++] = (CK_ATTRIBUTE){ CKA_ID, io->id, io->id_n };
	CK_MECHANISM m = { rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE hp = CK_INVALID_HANDLE, hv = CK_INVALID_HANDLE;
	io->step = 1; /* from here a retry first removes what this attempt may have made */
	CK_RV rv = f->C_GenerateKeyPair(x->sh, &m, pub, np, prv, nv, &hp, &hv);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (hsm_test_fault_take(x->h, HSM_TF_KP_AFTER_CREATE))
		(void)f->C_CloseSession(x->sh); /* the session dies right after the generation */
	bool sens = false, ext = true;
	cf_err rc = p11_get_bool(x, hv, CKA_SENSITIVE, &sens);
	if (rc == CF_OK)
		rc = p11_get_bool(x, hv, CKA_EXTRACTABLE, &ext);
	bool wwt = false;
	if (rc == CF_OK && ext && backup)
		rc = p11_get_bool(x, hv, CKA_WRAP_WITH_TRUSTED, &wwt);
	if (rc == CF_OK && (!sens || (ext && !(backup && wwt))))
		rc = CF_E_HSM_POLICY;
	if (rc == CF_OK)
		rc = hsm_kp_pairwise(x, hp, hv, rsa);
	if (rc != CF_OK && x->fault == HSM_FAULT_NONE) {
		/* on a fault the session may be gone: the retry cleans up (kp_cleanup_partial) */
		(void)f->C_DestroyObject(x->sh, hp);
		(void)f->C_DestroyObject(x->sh, hv);
	}
	return rc;
}

/* "pkcs11:token=<t>;object=<label>;id=<%xx...>;type=private" (RFC 7512) into uri[cap] */
static cf_err kp_uri(struct hsm *h, const char *label, const uint8_t *id, size_t id_n, char *uri,
		     size_t uri_cap)
{
	size_t off = 0;
	static const char pre[] = "pkcs11:token=";
	if (uri_cap < sizeof pre)
		return CF_E_NO_SPACE;
	memcpy(uri, pre, sizeof pre);
	off = sizeof pre - 1;
	cf_err rc = p11_uri_pct((const uint8_t *)h->token_label, strlen(h->token_label), false, uri,
				uri_cap, &off);
	static const char obj[] = ";object=";
	if (rc == CF_OK && uri_cap - off <= sizeof obj)
		rc = CF_E_NO_SPACE;
	if (rc == CF_OK) {
		memcpy(uri + off, obj, sizeof obj);
		off += sizeof obj - 1;
		rc = p11_uri_pct((const uint8_t *)label, strlen(label), false, uri, uri_cap, &off);
	}
	static const char idk[] = ";id=";
	if (rc == CF_OK && uri_cap - off <= sizeof idk)
		rc = CF_E_NO_SPACE;
	if (rc == CF_OK) {
		memcpy(uri + off, idk, sizeof idk);
		off += sizeof idk - 1;
		rc = p11_uri_pct(id, id_n, true, uri, uri_cap, &off);
	}
	static const char typ[] = ";type=private";
	if (rc == CF_OK && uri_cap - off <= sizeof typ)
		rc = CF_E_NO_SPACE;
	if (rc == CF_OK)
		memcpy(uri + off, typ, sizeof typ);
	if (rc != CF_OK)
		uri[0] = '\0';
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
	TRY(kp_uri(h, label, id, id_n, uri, uri_cap));

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

/* ---- lookup, public key, signing ------------------------------------------------------ */

#define KP_REF_LABEL 1
#define KP_REF_ID 2
#define KP_LABEL_MAX (HSM_LABEL_MAX + 8u)

/* stage a reference into io (label -> io->label, id -> io->id, io->kind = which) */
static cf_err kp_ref_stage(struct hsm_io *io, const struct hsm_kp_ref *ref)
{
	if (ref == NULL || (ref->label == NULL && ref->id == NULL))
		return CF_E_INVALID_ARG;
	io->kind = 0;
	memset(io->label, 0, sizeof io->label);
	io->id_n = 0;
	if (ref->label != NULL) {
		size_t ln = strlen(ref->label);
		if (ln == 0 || ln > KP_LABEL_MAX)
			return CF_E_INVALID_ARG;
		memcpy(io->label, ref->label, ln);
		io->kind |= KP_REF_LABEL;
	}
	if (ref->id != NULL) {
		if (ref->id_n == 0 || ref->id_n > HSM_KP_ID_MAX)
			return CF_E_INVALID_ARG;
		memcpy(io->id, ref->id, ref->id_n);
		io->id_n = ref->id_n;
		io->kind |= KP_REF_ID;
	}
	return CF_OK;
}

/* the one token object of class cls matching the staged reference */
static cf_err kp_locate(struct hsm_exec *x, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *o)
{
	struct hsm_io *io = x->io;
	*o = CK_INVALID_HANDLE;
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE q[4];
	CK_ULONG n = 0;
	q[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
	q[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, &t, 1 };
	if (io->kind & KP_REF_LABEL)
		q[n++] = (CK_ATTRIBUTE){ CKA_LABEL, io->label, strlen(io->label) };
	if (io->kind & KP_REF_ID)
		q[n++] = (CK_ATTRIBUTE){ CKA_ID, io->id, io->id_n };
	TRY(p11_find(x, q, n));
	if (io->objs_n == 0)
		return CF_E_HSM_NOT_FOUND;
	if (io->objs_n > 1)
		return CF_E_TOO_MANY;
	*o = io->objs[0];
	return CF_OK;
}

/* significant bits of an unsigned big-endian number */
static size_t be_bits(const uint8_t *p, size_t n)
{
	while (n > 0 && p[0] == 0) {
		p++;
		n--;
	}
	if (n == 0)
		return 0;
	size_t bits = n * 8u;
	for (uint8_t top = p[0]; (top & 0x80u) == 0; top = (uint8_t)(top << 1))
		bits--;
	return bits;
}

/* key size of a key object: RSA modulus bits / EC field bytes (io->ul[2] = bits,
 * io->ul[3] = enum hsm_kp_type or 0, io->ul[4] = CKK_*) */
static cf_err kp_size(struct hsm_exec *x, CK_OBJECT_HANDLE o)
{
	struct hsm_io *io = x->io;
	CK_ULONG kt = 0;
	TRY(p11_get_ulong(x, o, CKA_KEY_TYPE, &kt));
	io->ul[4] = kt;
	if (kt == CKK_RSA) {
		uint8_t mod[HSM_SIG_MAX + 8];
		size_t mn = 0;
		TRY(p11_get_bytes(x, o, CKA_MODULUS, mod, sizeof mod, &mn));
		size_t bits = be_bits(mod, mn);
		if (bits < 2048 || bits > 4096)
			return CF_E_HSM_OUTPUT;
		io->ul[2] = bits;
		io->ul[3] = bits == 2048 ? HSM_KP_RSA_2048 : bits == 3072 ? HSM_KP_RSA_3072
			  : bits == 4096 ? HSM_KP_RSA_4096 : 0;
		return CF_OK;
	}
	if (kt == CKK_EC) {
		uint8_t params[64];
		size_t pn = 0;
		TRY(p11_get_bytes(x, o, CKA_EC_PARAMS, params, sizeof params, &pn));
		size_t field = der_ec_field_bytes(params, pn);
		if (field == 0)
			return CF_E_HSM_MECH;
		io->ul[2] = field * 8u;
		io->ul[3] = field == 32 ? HSM_KP_EC_P256 : HSM_KP_EC_P384;
		return CF_OK;
	}
	return CF_E_HSM_MECH;
}

/* SubjectPublicKeyInfo of public key object o into io->out / io->out_n */
cf_err hsm_kp_spki(struct hsm_exec *x, CK_OBJECT_HANDLE o)
{
	struct hsm_io *io = x->io;
	io->out_n = 0;
	TRY(kp_size(x, o));
	size_t n = 0;
	if (io->ul[4] == CKK_RSA) {
		uint8_t mod[HSM_SIG_MAX + 8], e[16];
		size_t mn = 0, en = 0;
		TRY(p11_get_bytes(x, o, CKA_MODULUS, mod, sizeof mod, &mn));
		TRY(p11_get_bytes(x, o, CKA_PUBLIC_EXPONENT, e, sizeof e, &en));
		TRY(der_spki_rsa(mod, mn, e, en, io->out, sizeof io->out, &n));
	} else {
		uint8_t params[64], pt[3 + 2 * 66 + 1];
		size_t pn = 0, ptn = 0;
		TRY(p11_get_bytes(x, o, CKA_EC_PARAMS, params, sizeof params, &pn));
		TRY(p11_get_bytes(x, o, CKA_EC_POINT, pt, sizeof pt, &ptn));
		TRY(der_spki_ec(params, pn, pt, ptn, io->out, sizeof io->out, &n));
	}
	io->out_n = n;
	return CF_OK;
}

static cf_err job_pubkey(struct hsm_exec *x)
{
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	TRY(kp_locate(x, CKO_PUBLIC_KEY, &o));
	return hsm_kp_spki(x, o);
}

/* private key by label -> its id -> the public key with that id -> SPKI */
static cf_err job_kp_find(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE;
	io->kind = KP_REF_LABEL;
	TRY(kp_locate(x, CKO_PRIVATE_KEY, &priv));
	size_t idn = 0;
	cf_err rc = p11_get_bytes(x, priv, CKA_ID, io->id, HSM_KP_ID_MAX, &idn);
	if (rc == CF_OK && idn == 0)
		rc = CF_E_HSM_OUTPUT; /* a pair without an id cannot be named by a URI */
	TRY(rc);
	io->id_n = idn;
	io->kind = KP_REF_ID;
	TRY(kp_locate(x, CKO_PUBLIC_KEY, &pub));
	return hsm_kp_spki(x, pub);
}

/* copy io->out to the caller with the two-call convention */
static cf_err out_give(const struct hsm_io *io, uint8_t *out, size_t cap, size_t *n)
{
	*n = io->out_n;
	if (out == NULL)
		return CF_OK;
	if (cap < io->out_n)
		return CF_E_NO_SPACE;
	memcpy(out, io->out, io->out_n);
	return CF_OK;
}

cf_err hsm_pubkey_der(hsm_sess *s, const struct hsm_kp_ref *ref, uint8_t *out, size_t cap,
		      size_t *n)
{
	if (n == NULL)
		return CF_E_INVALID_ARG;
	*n = 0;
	if (s == NULL)
		return CF_E_INVALID_ARG;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	cf_err rc = hsm_sess_ready(s, &dl);
	if (rc == CF_OK)
		rc = kp_ref_stage(s->x->io, ref);
	if (rc == CF_OK)
		rc = hsm_sess_run(s, job_pubkey, &dl);
	if (rc == CF_OK)
		rc = out_give(s->x->io, out, cap, n);
	if (rc != CF_OK && out != NULL)
		sec_wipe(out, cap);
	return rc;
}

cf_err hsm_keypair_find(hsm_sess *s, const char *label, struct hsm_kp_info *info, uint8_t *spki,
			size_t cap, size_t *spki_n)
{
	if (info != NULL)
		memset(info, 0, sizeof *info);
	if (spki_n != NULL)
		*spki_n = 0;
	if (s == NULL || label == NULL || info == NULL || (spki != NULL && spki_n == NULL))
		return CF_E_INVALID_ARG;
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	TRY(hsm_sess_ready(s, &dl));
	struct hsm_kp_ref ref = { label, NULL, 0 };
	TRY(kp_ref_stage(s->x->io, &ref));
	TRY(hsm_sess_run(s, job_kp_find, &dl));
	const struct hsm_io *io = s->x->io;
	struct hsm_kp_info tmp;
	memset(&tmp, 0, sizeof tmp);
	tmp.type = (enum hsm_kp_type)io->ul[3];
	tmp.bits = (unsigned)io->ul[2];
	memcpy(tmp.id, io->id, io->id_n);
	tmp.id_n = io->id_n;
	TRY(kp_uri(s->h, label, tmp.id, tmp.id_n, tmp.uri, sizeof tmp.uri));
	if (spki_n != NULL) {
		size_t need = 0;
		cf_err rc = out_give(io, spki, cap, &need);
		*spki_n = need;
		TRY(rc);
	}
	*info = tmp;
	return CF_OK;
}

/* DigestInfo prefixes (RFC 8017 9.2 note 1) */
static const uint8_t di_sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t di_sha384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const uint8_t di_sha512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				     0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };

struct sig_mech_rule {
	bool rsa;
	bool pss;
	size_t hash_n;               /* exact digest length (RSA), 0 = 1..64 (ECDSA) */
	const uint8_t *di;           /* DigestInfo prefix (PKCS#1 v1.5) */
	size_t di_n;
	CK_MECHANISM_TYPE hash;      /* PSS */
	CK_RSA_PKCS_MGF_TYPE mgf;
};

static const struct sig_mech_rule sig_rules[] = {
	[HSM_SIG_ECDSA] = { false, false, 0, NULL, 0, 0, 0 },
	[HSM_SIG_RSA_PKCS1_SHA256] = { true, false, 32, di_sha256, sizeof di_sha256, 0, 0 },
	[HSM_SIG_RSA_PKCS1_SHA384] = { true, false, 48, di_sha384, sizeof di_sha384, 0, 0 },
	[HSM_SIG_RSA_PKCS1_SHA512] = { true, false, 64, di_sha512, sizeof di_sha512, 0, 0 },
	[HSM_SIG_RSA_PSS_SHA256] = { true, true, 32, NULL, 0, CKM_SHA256, CKG_MGF1_SHA256 },
	[HSM_SIG_RSA_PSS_SHA384] = { true, true, 48, NULL, 0, CKM_SHA384, CKG_MGF1_SHA384 },
	[HSM_SIG_RSA_PSS_SHA512] = { true, true, 64, NULL, 0, CKM_SHA512, CKG_MGF1_SHA512 },
};

/* an operation the module left active with an answer we refuse: closing the session is the
 * only portable way to cancel it; the next use reopens one */
static void sess_drop(struct hsm_exec *x)
{
	(void)x->h->f->C_CloseSession(x->sh);
	x->sh_open = false;
}

/* io->ul[0] = mech, io->ul[1] = the caller's capacity (0 for a size query: nothing is signed
 * when the signature would not fit); io->in[in_n] = digest.
 * out: io->ul[5] = signature length, io->out / io->out_n = the signature (if signed) */
static cf_err job_sign(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_FUNCTION_LIST *f = x->h->f;
	const struct sig_mech_rule *r = &sig_rules[io->ul[0]];
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
	io->out_n = 0;
	TRY(kp_locate(x, CKO_PRIVATE_KEY, &k));
	TRY(kp_size(x, k));
	if ((io->ul[4] == CKK_RSA) != r->rsa)
		return CF_E_HSM_MECH;
	size_t want = r->rsa ? (io->ul[2] + 7u) / 8u : 2u * (io->ul[2] / 8u);
	io->ul[5] = want;
	if (io->ul[1] < want)
		return CF_OK;
	uint8_t data[32 + 64];
	size_t dn = 0;
	CK_RSA_PKCS_PSS_PARAMS pss = { r->hash, r->mgf, r->hash_n };
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	if (r->rsa && r->pss) {
		m = (CK_MECHANISM){ CKM_RSA_PKCS_PSS, &pss, sizeof pss };
		memcpy(data, io->in, io->in_n);
		dn = io->in_n;
	} else if (r->rsa) {
		m = (CK_MECHANISM){ CKM_RSA_PKCS, NULL, 0 };
		memcpy(data, r->di, r->di_n);
		memcpy(data + r->di_n, io->in, io->in_n);
		dn = r->di_n + io->in_n;
	} else {
		memcpy(data, io->in, io->in_n);
		dn = io->in_n;
	}
	CK_RV rv = f->C_SignInit(x->sh, &m, k);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	CK_ULONG n = 0;
	rv = f->C_Sign(x->sh, data, dn, NULL, &n); /* size query; the operation stays active */
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (n != want || n > sizeof io->out) { /* untrusted length */
		sess_drop(x);
		return CF_E_HSM_OUTPUT;
	}
	rv = f->C_Sign(x->sh, data, dn, io->out, &n);
	if (rv != CKR_OK)
		return p11_fail(x, rv);
	if (n != want) {
		sec_wipe(io->out, sizeof io->out);
		return CF_E_HSM_OUTPUT;
	}
	io->out_n = n;
	return CF_OK;
}

cf_err hsm_sign(hsm_sess *s, const struct hsm_kp_ref *key, enum hsm_sig_mech mech,
		const uint8_t *in, size_t n, uint8_t *sig, size_t cap, size_t *sig_n)
{
	cf_err rc = CF_E_INTERNAL;
	if (sig_n != NULL)
		*sig_n = 0;
	if (sig_n == NULL || s == NULL || in == NULL || mech < HSM_SIG_ECDSA ||
	    mech > HSM_SIG_RSA_PSS_SHA512) {
		rc = CF_E_INVALID_ARG;
		goto out;
	}
	const struct sig_mech_rule *r = &sig_rules[mech];
	if (r->hash_n != 0 ? n != r->hash_n : (n == 0 || n > 64)) {
		rc = CF_E_INVALID_ARG;
		goto out;
	}
	struct timespec dl;
	hsm_deadline(&dl, hsm_timeout_ms(s->h));
	if ((rc = hsm_sess_ready(s, &dl)) != CF_OK)
		goto out;
	struct hsm_io *io = s->x->io;
	if ((rc = kp_ref_stage(io, key)) != CF_OK)
		goto out;
	io->ul[0] = (CK_ULONG)mech;
	io->ul[1] = sig != NULL ? cap : 0;
	memcpy(io->in, in, n);
	io->in_n = n;
	rc = hsm_sess_run(s, job_sign, &dl);
	size_t want = rc == CF_OK ? s->x->io->ul[5] : 0;
	if (rc == CF_OK && (sig == NULL || cap < want)) {
		*sig_n = want; /* the two-call convention's answer */
		rc = sig == NULL ? CF_OK : CF_E_NO_SPACE;
	} else if (rc == CF_OK) {
		if (s->x->io->out_n != want) {
			rc = CF_E_HSM_OUTPUT;
		} else {
			memcpy(sig, s->x->io->out, want);
			*sig_n = want;
		}
	}
	if (s->x != NULL)
		sec_wipe(s->x->io->out, sizeof s->x->io->out);
out:
	if (rc != CF_OK && sig != NULL)
		sec_wipe(sig, cap); /* never a signature (or a part of one) with an error */
	return rc;
}
