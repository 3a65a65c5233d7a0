/* CKM_AES_KEY_WRAP_PAD (RFC 5649) under a KEK: the inner layer of HSM_BLOB_MECH_KWP_GCM blobs,
 * which hold private keys made inside the HSM (kpgen.c; layout in docs/hsm.md "Blobs").
 *
 * The token KEK is made with CKA_WRAP and CKA_UNWRAP false (kek.c) and stays so. A job that
 * needs to wrap or unwrap copies it into a session object with both set (C_CopyObject may set
 * these attributes, PKCS#11 2.40 4.9 footnote 8), uses the copy and destroys it before it
 * returns; a copy left by a session that died goes with the session.
 *
 * SoftHSMv2 2.6.1 (measured): C_WrapKey with CKM_AES_KEY_WRAP_PAD wraps the PKCS#8 encoding of
 * RSA and EC private keys; C_DecryptInit with CKM_AES_KEY_WRAP_PAD is CKR_MECHANISM_INVALID.
 * So a blob is opened with C_UnwrapKey into a generic-secret session object (its CKA_VALUE =
 * the unwrapped bytes, the PKCS#8 DER), which is readable (CKA_SENSITIVE false) only on the
 * Get path, where the DER must reach the client anyway, and destroyed at once; on rotation it
 * stays sensitive and is wrapped again under the new KEK without leaving the HSM.
 * SoftHSMv2 2.6.1 also keeps the RFC 5649 padding in the unwrapped value (CKA_VALUE is the
 * ciphertext length - 8, zeros after the DER): the DER is self-delimiting, so the value is cut
 * at the end of its outer SEQUENCE, and what is cut must be 0..7 zero bytes. */
#include <string.h>

#include "board/sec.h"
#include "hsm/hsm_int.h"

#define KWP_MIN 16u /* RFC 5649: at least two 64-bit blocks */

cf_err hsm_kwp_kek(struct hsm_exec *x, uint32_t v, CK_OBJECT_HANDLE *out)
{
	*out = CK_INVALID_HANDLE;
	/* looked up inside the job: the executor holds mod_lock, so no re-init can void it */
	CK_OBJECT_HANDLE tok = hsm_kek_handle(x->h, v);
	if (tok == CK_INVALID_HANDLE)
		return CF_E_HSM_WRONG_KEK;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = { { CKA_TOKEN, &f, 1 }, { CKA_WRAP, &t, 1 }, { CKA_UNWRAP, &t, 1 } };
	CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
	CK_RV rv = x->h->f->C_CopyObject(x->sh, tok, tmpl, 3, &copy);
	if (rv != CKR_OK) {
		if (p11_rv_fault(rv) != HSM_FAULT_NONE)
			return p11_fail(x, rv);
		return CF_E_HSM_MECH; /* this module will not let a KEK copy wrap */
	}
	if (copy == CK_INVALID_HANDLE)
		return CF_E_HSM_OUTPUT;
	*out = copy;
	return CF_OK;
}

void hsm_kwp_drop(struct hsm_exec *x, CK_OBJECT_HANDLE *o)
{
	if (*o != CK_INVALID_HANDLE)
		(void)x->h->f->C_DestroyObject(x->sh, *o);
	*o = CK_INVALID_HANDLE;
}

cf_err hsm_kwp_wrap_io(struct hsm_exec *x, CK_OBJECT_HANDLE kek, CK_OBJECT_HANDLE key,
		       uint8_t *dst, size_t *dst_n)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ULONG n = HSM_DEK_MAX;
	*dst_n = 0;
	CK_RV rv = x->h->f->C_WrapKey(x->sh, &m, kek, key, dst, &n);
	if (rv != CKR_OK) {
		if (p11_rv_fault(rv) != HSM_FAULT_NONE)
			return p11_fail(x, rv);
		/* not permitted / mechanism or key type not supported for wrapping */
		return rv == CKR_BUFFER_TOO_SMALL ? CF_E_NO_SPACE : CF_E_HSM_MECH;
	}
	if (n < KWP_MIN || n % 8u != 0 || n > HSM_DEK_MAX) /* untrusted length */
		return CF_E_HSM_OUTPUT;
	*dst_n = n;
	return CF_OK;
}

/* C_UnwrapKey(KWP, kek, io->in) as a generic secret session object; readable = CKA_SENSITIVE
 * false (its value can be read), else sensitive and extractable (can only be wrapped again) */
static cf_err kwp_unwrap(struct hsm_exec *x, CK_OBJECT_HANDLE kek, bool readable,
			 CK_OBJECT_HANDLE *out)
{
	struct hsm_io *io = x->io;
	*out = CK_INVALID_HANDLE;
	if (io->in_n < KWP_MIN || io->in_n % 8u != 0 || io->in_n > HSM_DEK_MAX)
		return CF_E_HSM_BLOB;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &f, 1 },            { CKA_PRIVATE, &t, 1 },
		{ CKA_SENSITIVE, readable ? &f : &t, 1 }, { CKA_EXTRACTABLE, &t, 1 },
	};
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_RV rv = x->h->f->C_UnwrapKey(x->sh, &m, kek, io->in, io->in_n, tmpl,
					sizeof tmpl / sizeof tmpl[0], out);
	if (rv != CKR_OK) {
		*out = CK_INVALID_HANDLE;
		/* an integrity failure of the KWP layer (the GCM layer was authentic: only a
		 * wrong KEK could do this) or a refusal: not a fault */
		if (p11_rv_fault(rv) != HSM_FAULT_NONE)
			return p11_fail(x, rv);
		return CF_E_HSM_UNWRAP;
	}
	return *out == CK_INVALID_HANDLE ? CF_E_HSM_OUTPUT : CF_OK;
}

cf_err hsm_job_kwp_open(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE, sec = CK_INVALID_HANDLE;
	io->out_n = 0;
	cf_err rc = hsm_kwp_kek(x, (uint32_t)io->ul[0], &kek);
	if (rc == CF_OK)
		rc = kwp_unwrap(x, kek, true, &sec);
	if (rc == CF_OK) {
		size_t n = 0, der_n = 0;
		rc = p11_get_bytes(x, sec, CKA_VALUE, io->out, io->in_n, &n);
		if (rc == CF_OK && (n == 0 || n > io->in_n - 8u))
			rc = CF_E_HSM_OUTPUT;
		if (rc == CF_OK)
			rc = der_seq_len(io->out, n, &der_n);
		if (rc == CF_OK && n - der_n > 7u)
			rc = CF_E_HSM_OUTPUT;
		for (size_t i = der_n; rc == CF_OK && i < n; i++)
			if (io->out[i] != 0)
				rc = CF_E_HSM_OUTPUT;
		io->out_n = rc == CF_OK ? der_n : 0;
	}
	if (rc != CF_OK)
		sec_wipe(io->out, sizeof io->out);
	hsm_kwp_drop(x, &sec);
	hsm_kwp_drop(x, &kek);
	return rc;
}

cf_err hsm_job_kwp_rewrap(struct hsm_exec *x)
{
	struct hsm_io *io = x->io;
	CK_OBJECT_HANDLE old = CK_INVALID_HANDLE, neu = CK_INVALID_HANDLE, sec = CK_INVALID_HANDLE;
	io->out_n = 0;
	cf_err rc = hsm_kwp_kek(x, (uint32_t)io->ul[0], &old);
	if (rc == CF_OK)
		rc = hsm_kwp_kek(x, (uint32_t)io->ul[1], &neu);
	if (rc == CF_OK)
		rc = kwp_unwrap(x, old, false, &sec);
	if (rc == CF_OK)
		rc = hsm_kwp_wrap_io(x, neu, sec, io->out, &io->out_n);
	hsm_kwp_drop(x, &sec);
	hsm_kwp_drop(x, &neu);
	hsm_kwp_drop(x, &old);
	return rc;
}
