/* Target: der_spki_parse der_pkcs8_kind der_ecdsa_sig_parse (hsm/der.c)
 * The DER that hsm/crypto.c reads: a public key's SubjectPublicKeyInfo and a private key's
 * PKCS#8 header (from a blob: authentic but client-supplied at Register) and an ECDSA
 * signature (straight from a KMIP Signature Verify request). Every pointer handed back lies
 * inside the input; a parsed signature re-encodes to the very bytes given (DER is
 * canonical and the parser takes only the minimal forms). Deterministic. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/hsm_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const uint8_t *data, size_t size, const uint8_t *p, size_t n)
{
	if (p == NULL || p < data || n > size || (size_t)(p - data) > size - n)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct der_pub pub;
	cf_err rc = der_spki_parse(data, size, &pub);
	if (rc == CF_OK) {
		if (pub.kind == DER_PUB_RSA) {
			inside(data, size, pub.mod, pub.mod_n);
			inside(data, size, pub.e, pub.e_n);
			if (pub.mod_n < 128 || pub.mod_n > 512 || pub.e_n == 0 || pub.e_n > 8)
				abort();
		} else if (pub.kind == DER_PUB_EC) {
			inside(data, size, pub.params, pub.params_n);
			inside(data, size, pub.point, pub.point_n);
			if (der_ec_field_bytes(pub.params, pub.params_n) != pub.field ||
			    pub.point_n != 1 + 2 * pub.field || pub.point[0] != 0x04)
				abort();
		} else {
			abort();
		}
	} else if (rc != CF_E_INVALID_ARG && rc != CF_E_HSM_MECH) {
		abort();
	}
	int k = der_pkcs8_kind(data, size);
	if (k != DER_PUB_NONE && k != DER_PUB_RSA && k != DER_PUB_EC)
		abort();
	static const size_t fields[] = { 32, 48 };
	for (unsigned i = 0; i < 2; i++) {
		uint8_t rs[96], re[160];
		size_t rn = 0;
		if (der_ecdsa_sig_parse(data, size, fields[i], rs) != CF_OK)
			continue;
		if (hsm_ecdsa_sig_to_der(rs, 2 * fields[i], re, sizeof re, &rn) != CF_OK ||
		    rn != size || memcmp(re, data, size) != 0)
			abort();
	}
	return 0;
}
