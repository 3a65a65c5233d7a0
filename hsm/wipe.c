/* Zeroize: destroy every object on the token (hsm.h hsm_token_wipe).
 *
 * hsm_kek_destroy refuses the current KEK and knows only the objects hsm/ made; zeroize must
 * leave nothing: KEKs, key pairs, backup keys, left-overs of another tool. A new session on
 * the token inherits the user login of the process's other sessions (PKCS#11 2.40 5.5), so
 * private objects are visible and can be destroyed. */
#include <string.h>

#include "board/log.h"
#include "hsm/hsm_int.h"

#define WIPE_BATCH 64
#define WIPE_ROUNDS 64 /* bounded: a token whose objects keep appearing is an error */

cf_err hsm_token_wipe(hsm *h, unsigned *destroyed)
{
	CK_SESSION_HANDLE sh = CK_INVALID_HANDLE;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = { { CKA_TOKEN, &yes, sizeof yes } };
	cf_err rc = CF_E_HSM;
	CK_RV rv;

	if (destroyed == NULL)
		return CF_E_INVALID_ARG;
	*destroyed = 0;
	if (h == NULL || h->f == NULL)
		return CF_E_INVALID_ARG;
	rv = h->f->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &sh);
	if (rv != CKR_OK)
		return p11_rv_to_err(rv);
	for (unsigned round = 0; round < WIPE_ROUNDS; round++) {
		CK_OBJECT_HANDLE objs[WIPE_BATCH];
		CK_ULONG got = 0;

		rv = h->f->C_FindObjectsInit(sh, tmpl, 1);
		if (rv == CKR_OK) {
			rv = h->f->C_FindObjects(sh, objs, WIPE_BATCH, &got);
			(void)h->f->C_FindObjectsFinal(sh);
		}
		if (rv != CKR_OK) {
			rc = p11_rv_to_err(rv);
			goto out;
		}
		if (got == 0) {
			rc = CF_OK;
			goto out;
		}
		for (CK_ULONG i = 0; i < got; i++) {
			if ((rv = h->f->C_DestroyObject(sh, objs[i])) != CKR_OK) {
				log_err("hsm: zeroize: C_DestroyObject failed (0x%lx)", (unsigned long)rv);
				rc = p11_rv_to_err(rv);
				goto out;
			}
			(*destroyed)++;
		}
	}
	log_err("hsm: zeroize: objects keep appearing on the token");
out:
	(void)h->f->C_CloseSession(sh);
	pthread_mutex_lock(&h->lock);
	h->kek_n = 0;
	h->kek_current = 0;
	pthread_mutex_unlock(&h->lock);
	return rc;
}
