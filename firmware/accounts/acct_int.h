/* Internals of firmware/accounts/: the state struct shared by its files. */
#ifndef COFFRE_FIRMWARE_ACCOUNTS_ACCT_INT_H
#define COFFRE_FIRMWARE_ACCOUNTS_ACCT_INT_H

#include "firmware/accounts/accounts.h"

/* A failure window: failures of one account within ACCT_LOCK_WINDOW_S. */
struct acct_lk {
	char name[ACCT_NAME_MAX + 1];  /* "" = free slot */
	int64_t win_start;
	uint32_t win_count;
	uint64_t tick;                 /* LRU */
};

struct accounts {
	struct acct_lk lk[ACCT_LK_SLOTS];
	uint64_t tick;
	struct acct_op ops[ACCT_DUAL_MAX];
};

#endif
