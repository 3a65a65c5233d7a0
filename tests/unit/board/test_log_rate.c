/* board/log.c log_rate_take / log_rate_flush: the burst is written, then one line per refill;
 * the lines not written are counted and handed to the next line that is, or told on their own
 * by the flush once a token is back; the bucket never holds more than its burst, however long
 * it rested. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "board/log.h"

static void t_burst_then_dropped(void **state)
{
	struct log_rate r = { .burst = 3, .per_min = 60 };
	uint64_t d = 99;

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_true(log_rate_take(&r, 5000, &d));
		assert_int_equal(d, 0);
	}
	for (int i = 0; i < 10; i++) {
		d = 99;
		assert_false(log_rate_take(&r, 5000 + (uint64_t)i * 10, &d));
		assert_int_equal(d, 0);
	}
	/* 999 ms later (from the first refused at 5000): not yet a whole token */
	assert_false(log_rate_take(&r, 5999, &d));
	/* one second after the burst: one line, which says 11 were not written */
	assert_true(log_rate_take(&r, 6000, &d));
	assert_int_equal(d, 11);
	assert_false(log_rate_take(&r, 6001, &d));
	assert_true(log_rate_take(&r, 7001, &d));
	assert_int_equal(d, 1);
}

static void t_rest_refills_to_burst_only(void **state)
{
	struct log_rate r = { .burst = 4, .per_min = 600 };
	uint64_t d;
	int n = 0;

	(void)state;
	assert_true(log_rate_take(&r, 1, &d));
	/* a day of rest: 4 at once, not 864,000 */
	while (log_rate_take(&r, 86400000, &d))
		n++;
	assert_int_equal(n, 4);
	/* 10 a second: 100 ms gives one */
	assert_false(log_rate_take(&r, 86400099, &d));
	assert_true(log_rate_take(&r, 86400100, &d));
	assert_int_equal(d, 2);
}

static void t_clock_backwards_is_harmless(void **state)
{
	struct log_rate r = { .burst = 1, .per_min = 60 };
	uint64_t d;

	(void)state;
	assert_true(log_rate_take(&r, 10000, &d));
	assert_false(log_rate_take(&r, 9000, &d));   /* earlier: no refill, no wrap */
	assert_false(log_rate_take(&r, 10999, &d));
	assert_true(log_rate_take(&r, 11000, &d));
	assert_int_equal(d, 2);
}

/* What was left out is told once a token is back, even with no further line to carry it;
 * nothing to tell: no token taken. */
static void t_flush(void **state)
{
	struct log_rate r = { .burst = 2, .per_min = 60 };
	uint64_t d = 99;

	(void)state;
	assert_false(log_rate_flush(&r, 1000, &d));     /* nothing left out */
	assert_int_equal(d, 0);
	assert_true(log_rate_take(&r, 1000, &d));
	assert_true(log_rate_take(&r, 1000, &d));
	for (int i = 0; i < 5; i++)
		assert_false(log_rate_take(&r, 1000, &d));
	assert_false(log_rate_flush(&r, 1500, &d));     /* no token yet */
	assert_int_equal(d, 0);
	assert_true(log_rate_flush(&r, 2000, &d));      /* one second: told */
	assert_int_equal(d, 5);
	assert_false(log_rate_flush(&r, 9000, &d));     /* told once */
	/* the flush took the token: the bucket is at its burst again 2 s later, not above */
	assert_true(log_rate_take(&r, 9000, &d));
	assert_int_equal(d, 0);
	assert_true(log_rate_take(&r, 9000, &d));
	assert_false(log_rate_take(&r, 9000, &d));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_burst_then_dropped),
		cmocka_unit_test(t_rest_refills_to_burst_only),
		cmocka_unit_test(t_clock_backwards_is_harmless),
		cmocka_unit_test(t_flush),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
