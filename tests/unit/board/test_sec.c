/* board/: secure wipe, locked allocation, constant-time compare, error strings, log sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "board/err.h"
#include "board/log.h"
#include "board/sec.h"

/* sec_random: fills every byte (two 4 KiB draws differ, none is all zero), n = 0 succeeds */
static void t_random(void **s)
{
	static uint8_t a[4096], b[4096], zero[4096];

	(void)s;
	assert_int_equal(sec_random(a, 0), CF_OK);
	assert_int_equal(sec_random(a, sizeof a), CF_OK);
	assert_int_equal(sec_random(b, sizeof b), CF_OK);
	assert_memory_not_equal(a, b, sizeof a);
	assert_memory_not_equal(a, zero, sizeof a);
	assert_memory_not_equal(a + sizeof a - 32, zero, 32); /* the tail was filled too */
}

static void t_wipe_zeroes(void **s)
{
	(void)s;
	uint8_t buf[64];
	memset(buf, 0xA5, sizeof buf);
	sec_wipe(buf, sizeof buf);
	for (size_t i = 0; i < sizeof buf; i++)
		assert_int_equal(buf[i], 0);
	sec_wipe(NULL, 10); /* no-op */
	sec_wipe(buf, 0);
}

static void t_alloc_locked_zeroed(void **s)
{
	(void)s;
	size_t before = sec_in_use();
	uint8_t *p = NULL;
	assert_int_equal(sec_alloc(100, (void **)&p), CF_OK);
	assert_non_null(p);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(p[i], 0);
	assert_true(sec_in_use() >= before + 100);
	/* the page is locked in RAM: mincore says resident */
	unsigned char vec = 0;
	assert_int_equal(mincore(p, 1, &vec), 0);
	assert_true(vec & 1);
	memset(p, 0x5A, 100);
	sec_free(p, 100);
	assert_int_equal(sec_in_use(), before);
	sec_free(NULL, 5);
}

static void t_alloc_rejects(void **s)
{
	(void)s;
	void *p = (void *)1;
	assert_int_equal(sec_alloc(0, &p), CF_E_INVALID_ARG);
	assert_null(p);
	assert_int_equal(sec_alloc(SIZE_MAX, &p), CF_E_NOMEM);
	assert_null(p);
	assert_int_equal(sec_alloc(16, NULL), CF_E_INVALID_ARG);
}

static void t_wipe_all(void **s)
{
	(void)s;
	uint8_t *a = NULL, *b = NULL;
	assert_int_equal(sec_alloc(32, (void **)&a), CF_OK);
	assert_int_equal(sec_alloc(5000, (void **)&b), CF_OK);
	memset(a, 0x11, 32);
	memset(b, 0x22, 5000);
	sec_wipe_all();
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(a[i], 0);
	for (size_t i = 0; i < 5000; i++)
		assert_int_equal(b[i], 0);
	sec_free(a, 32);
	sec_free(b, 5000);
}

static void t_ct_memeq(void **s)
{
	(void)s;
	uint8_t a[33], b[33];
	memset(a, 7, sizeof a);
	memcpy(b, a, sizeof b);
	assert_true(ct_memeq(a, b, sizeof a));
	assert_true(ct_memeq(a, b, 0));
	for (size_t i = 0; i < sizeof a; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1u << bit);
			assert_false(ct_memeq(a, b, sizeof a));
			b[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_true(ct_memeq(a, b, sizeof a));
}

static void t_err_strings(void **s)
{
	(void)s;
	static const cf_err all[] = {
		CF_OK, CF_E_TRUNCATED, CF_E_TOO_LARGE, CF_E_DEPTH, CF_E_BAD_TYPE, CF_E_BAD_LENGTH,
		CF_E_BAD_PADDING, CF_E_UNKNOWN_TAG, CF_E_UNEXPECTED_TAG, CF_E_TRAILING, CF_E_BAD_UTF8,
		CF_E_BAD_VALUE, CF_E_MISSING, CF_E_DUPLICATE, CF_E_BATCH_COUNT, CF_E_TOO_MANY,
		CF_E_BAD_VERSION, CF_E_UNSUPPORTED_OP, CF_E_BAD_ENUM, CF_E_BAD_HEX, CF_E_NO_SPACE,
		CF_E_BAD_MESSAGE, CF_E_BAD_ATTR, CF_E_BAD_OBJECT, CF_E_IO, CF_E_CLOSED, CF_E_TIMEOUT,
		CF_E_AGAIN, CF_E_TLS, CF_E_PERM_FILE, CF_E_HSM, CF_E_HSM_LOAD, CF_E_HSM_NO_TOKEN,
		CF_E_HSM_PIN, CF_E_HSM_LOCKED, CF_E_HSM_DEVICE, CF_E_HSM_TIMEOUT, CF_E_HSM_NOT_FOUND,
		CF_E_HSM_UNWRAP, CF_E_HSM_SELFTEST, CF_E_HSM_SESSION, CF_E_HSM_OUTPUT, CF_E_HSM_BLOB,
		CF_E_HSM_WRONG_KEK, CF_E_HSM_MECH, CF_E_HSM_NOT_INIT, CF_E_HSM_POLICY, CF_E_HSM_BUSY,
		CF_E_NOT_FOUND, CF_E_PERMISSION, CF_E_STATE, CF_E_STORE, CF_E_CONFIG, CF_E_AUTH,
		CF_E_EXISTS, CF_E_INVALID_ARG, CF_E_NOMEM, CF_E_INTERNAL,
	};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		assert_string_not_equal(cf_err_str(all[i]), "unknown error");
		assert_string_not_equal(cf_err_name(all[i]), "CF_E_UNKNOWN");
		for (size_t j = 0; j < i; j++) /* codes are distinct */
			assert_int_not_equal(all[i], all[j]);
		/* blocks */
		if (all[i] < 0)
			assert_true(all[i] >= CF_E_INTERNAL);
	}
	assert_string_equal(cf_err_name(CF_E_TRUNCATED), "CF_E_TRUNCATED");
	assert_string_equal(cf_err_str((cf_err)-55), "unknown error");
	assert_true(CF_E_HSM <= -64 && CF_E_HSM_BUSY >= -95);
	assert_true(CF_E_NOT_FOUND <= -96 && CF_E_EXISTS >= -127);
}

struct cap { char line[2048]; int calls; enum log_level lvl; };
static void cap_sink(void *arg, enum log_level lvl, const char *line)
{
	struct cap *c = arg;
	snprintf(c->line, sizeof c->line, "%s", line);
	c->lvl = lvl;
	c->calls++;
}

static void t_log_sink(void **s)
{
	(void)s;
	struct cap c = { .calls = 0 };
	struct log_sink sink = { cap_sink, &c, LOG_LVL_INFO };
	log_set_sink(&sink);
	log_info("hello %d", 42);
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.line, "hello 42");
	log_dbg("dropped");
	assert_int_equal(c.calls, 1);
	log_err_r(CF_E_HSM_PIN, "login");
	assert_int_equal(c.calls, 2);
	assert_int_equal(c.lvl, LOG_LVL_ERR);
	assert_string_equal(c.line, "login: HSM PIN incorrect");
	/* an over-long message is truncated, never overflows */
	char big[3000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	log_warn("%s", big);
	assert_int_equal(c.calls, 3);
	assert_true(strlen(c.line) < 1100);
	log_set_sink(NULL);
}

static void t_harden(void **s)
{
	(void)s;
	assert_int_equal(sec_harden_process(), CF_OK);
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_wipe_zeroes),
		cmocka_unit_test(t_alloc_locked_zeroed),
		cmocka_unit_test(t_alloc_rejects),
		cmocka_unit_test(t_wipe_all),
		cmocka_unit_test(t_ct_memeq),
		cmocka_unit_test(t_err_strings),
		cmocka_unit_test(t_log_sink),
		cmocka_unit_test(t_harden),
		cmocka_unit_test(t_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
