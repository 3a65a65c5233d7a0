/* The accounts state (accounts.h) and the random bytes every part uses. */
#include "firmware/accounts/acct_int.h"

#include <openssl/rand.h>
#include <stdlib.h>

#include "board/log.h"
#include "board/sec.h"

cf_err accounts_new(struct accounts **out)
{
	*out = calloc(1, sizeof **out);
	return *out != NULL ? CF_OK : CF_E_NOMEM;
}

void accounts_free(struct accounts *a)
{
	if (a == NULL)
		return;
	/* pending operations live in memory only: they die with the console (docs) */
	for (size_t i = 0; i < ACCT_DUAL_MAX; i++)
		acct_op_clear(&a->ops[i]);
	sec_freezero(a, sizeof *a);
}

cf_err acct_random(void *buf, size_t n)
{
	if (n > 0 && RAND_bytes(buf, (int)n) != 1) {
		log_err("accounts: RAND_bytes failed");
		return CF_E_INTERNAL;
	}
	return CF_OK;
}
