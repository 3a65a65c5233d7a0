/* Dual control (accounts.h "dual control"): which commands need a second administrator, the
 * operations waiting for one, and who may approve them. */
#include "firmware/accounts/acct_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "board/sec.h"

/* "zeroize, backup export" names cmd? */
static bool list_names(const char *list, const char *cmd)
{
	size_t lc = strlen(cmd);
	const char *p = list;
	while (*p != '\0') {
		const char *e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		const char *a = p, *b = e;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if ((size_t)(b - a) == lc && strncasecmp(a, cmd, lc) == 0)
			return true;
		p = *e == ',' ? e + 1 : e;
	}
	return false;
}

bool acct_dual_required(const char *list, const char *cmd, bool flagged)
{
	static const char *const never[] = { "approve", "pending", "logout", "help" };
	if (list == NULL || cmd == NULL)
		return false;
	for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
		if (strcmp(cmd, never[i]) == 0)
			return false;
	if (list_names(list, "all") && flagged)
		return true;
	return list_names(list, cmd);
}

void acct_op_clear(struct acct_op *op)
{
	for (int i = 0; i < op->argc; i++)
		if (op->argv[i] != NULL)
			sec_freezero(op->argv[i], strlen(op->argv[i]));
	memset(op, 0, sizeof *op);
}

void acct_op_describe(const struct acct_op *op, char *out, size_t cap)
{
	size_t l = 0;
	int r = snprintf(out, cap, "%s", op->cmd);
	l = r < 0 ? 0 : (size_t)r;
	for (int i = 0; i < op->argc && l < cap; i++) {
		r = snprintf(out + l, cap - l, " %s", op->argv[i]);
		if (r < 0)
			break;
		l += (size_t)r;
	}
}

/* A short id that is not already pending. */
static MUST_USE cf_err op_id(struct accounts *a, struct acct_op *op)
{
	for (int tries = 0; tries <= 8; tries++) {
		uint8_t r[ACCT_DUAL_ID_LEN / 2];
		bool dup = false;
		TRY(acct_random(r, sizeof r));
		for (size_t i = 0; i < sizeof r; i++)
			snprintf(op->id + 2 * i, 3, "%02x", r[i]);
		for (size_t i = 0; i < ACCT_DUAL_MAX; i++)
			dup |= &a->ops[i] != op && a->ops[i].used && strcmp(a->ops[i].id, op->id) == 0;
		if (!dup)
			return CF_OK;
	}
	return CF_E_INTERNAL;
}

cf_err acct_dual_submit(struct accounts *a, const char *cmd, const void *ref, int argc,
			char **argv, const char *requester, int64_t now, const struct acct_op **out)
{
	struct acct_op *op = NULL;

	*out = NULL;
	if (argc < 0 || argc > ACCT_DUAL_ARGS_MAX || cmd == NULL)
		return CF_E_INVALID_ARG;
	for (size_t i = 0; i < ACCT_DUAL_MAX && op == NULL; i++)
		if (!a->ops[i].used)
			op = &a->ops[i];
	if (op == NULL)
		return CF_E_TOO_MANY;
	memset(op, 0, sizeof *op);
	TRY(op_id(a, op));
	op->cmd = cmd;
	op->ref = ref;
	for (int i = 0; i < argc; i++) {
		if ((op->argv[i] = strdup(argv[i])) == NULL) {
			acct_op_clear(op);
			return CF_E_NOMEM;
		}
		op->argc = i + 1;
	}
	snprintf(op->requester, sizeof op->requester, "%s", requester);
	op->time = now;
	op->used = true;
	*out = op;
	return CF_OK;
}

bool acct_dual_expire_next(struct accounts *a, int64_t now, struct acct_op *out)
{
	for (size_t i = 0; i < ACCT_DUAL_MAX; i++) {
		struct acct_op *op = &a->ops[i];
		if (op->used && now - op->time > ACCT_DUAL_TTL_S) {
			acct_dual_take(a, op, out);
			return true;
		}
	}
	return false;
}

const struct acct_op *acct_dual_find(const struct accounts *a, const char *id)
{
	for (size_t i = 0; i < ACCT_DUAL_MAX; i++)
		if (a->ops[i].used && strcasecmp(a->ops[i].id, id) == 0)
			return &a->ops[i];
	return NULL;
}

cf_err acct_dual_may_approve(const struct acct_op *op, const char *user)
{
	return strcmp(op->requester, user) == 0 ? CF_E_PERMISSION : CF_OK;
}

void acct_dual_take(struct accounts *a, const struct acct_op *op, struct acct_op *out)
{
	size_t i = (size_t)(op - a->ops);
	*out = a->ops[i];
	memset(&a->ops[i], 0, sizeof a->ops[i]);
}

const struct acct_op *acct_dual_slot(const struct accounts *a, size_t i)
{
	return i < ACCT_DUAL_MAX && a->ops[i].used ? &a->ops[i] : NULL;
}

unsigned acct_dual_count(const struct accounts *a)
{
	unsigned n = 0;
	for (size_t i = 0; i < ACCT_DUAL_MAX; i++)
		n += a->ops[i].used;
	return n;
}
