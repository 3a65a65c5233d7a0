/* Lockout (accounts.h "lockout"): the persisted failure count and lock of each account (store)
 * plus the in-memory window that says "within a minute". */
#include "firmware/accounts/acct_int.h"

#include <stdio.h>
#include <string.h>

#include "board/sec.h"
#include "firmware/store/store_users.h"

bool acct_locked(const struct store_user *u, int64_t now)
{
	return u->locked_until > now;
}

int64_t acct_lock_duration(uint32_t nth)
{
	int64_t d = ACCT_LOCK_BASE_S;
	for (uint32_t i = 1; i < nth && d < ACCT_LOCK_MAX_S; i++)
		d *= 2;
	return d > ACCT_LOCK_MAX_S ? ACCT_LOCK_MAX_S : d;
}

static struct acct_lk *lk_find(struct accounts *a, const char *name)
{
	for (size_t i = 0; i < ACCT_LK_SLOTS; i++)
		if (a->lk[i].name[0] != '\0' && strcmp(a->lk[i].name, name) == 0)
			return &a->lk[i];
	return NULL;
}

static struct acct_lk *lk_new(struct accounts *a, const char *name)
{
	struct acct_lk *v = &a->lk[0];
	for (size_t i = 0; i < ACCT_LK_SLOTS; i++) {
		if (a->lk[i].name[0] == '\0') {
			v = &a->lk[i];
			break;
		}
		if (a->lk[i].tick < v->tick)
			v = &a->lk[i];
	}
	memset(v, 0, sizeof *v);
	snprintf(v->name, sizeof v->name, "%s", name);
	return v;
}

void acct_lock_forget(struct accounts *a, const char *name)
{
	struct acct_lk *lk = lk_find(a, name);
	if (lk != NULL)
		memset(lk, 0, sizeof *lk);
}

cf_err acct_fail_record(struct accounts *a, struct store *st, struct store_user *u, int64_t now,
			int64_t *locked_for)
{
	*locked_for = 0;
	if (acct_locked(u, now))
		return CF_OK; /* refused anyway; counting it would only lengthen the lock */
	struct acct_lk *lk = lk_find(a, u->name);
	if (lk == NULL) {
		/* no window in memory (first failure since start, or evicted): carry on from the
		 * persisted count, so a restart never hands out a fresh set of attempts */
		lk = lk_new(a, u->name);
		lk->win_start = now;
		lk->win_count = u->failed % ACCT_LOCK_FAILS;
	} else if (now < lk->win_start || now - lk->win_start >= ACCT_LOCK_WINDOW_S) {
		lk->win_start = now;
		lk->win_count = 0;
	}
	lk->tick = ++a->tick;
	lk->win_count++;
	uint32_t failed = u->failed < UINT32_MAX ? u->failed + 1 : UINT32_MAX;
	int64_t until = 0;
	if (lk->win_count >= ACCT_LOCK_FAILS) {
		int64_t d = acct_lock_duration(failed / ACCT_LOCK_FAILS);
		until = now + d;
		*locked_for = d;
		lk->win_count = 0;
	}
	TRY(store_user_set_lockout(st, u->name, failed, until));
	u->failed = failed;
	u->locked_until = until;
	return CF_OK;
}

cf_err acct_success_record(struct accounts *a, struct store *st, struct store_user *u)
{
	acct_lock_forget(a, u->name);
	if (u->failed == 0 && u->locked_until == 0)
		return CF_OK;
	TRY(store_user_set_lockout(st, u->name, 0, 0));
	u->failed = 0;
	u->locked_until = 0;
	return CF_OK;
}
