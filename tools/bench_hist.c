/* coffre-bench latency histogram: fixed log-linear buckets, no allocation (bench.h). */
#include "tools/bench.h"

#include <string.h>

size_t bench_hist_index(uint64_t ns)
{
	if (ns < 2u * BENCH_HIST_SUB)
		return (size_t)ns;
	unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
	unsigned shift = msb - 6u;                 /* ns >> shift in [64, 127] */
	return (size_t)shift * BENCH_HIST_SUB + (size_t)(ns >> shift);
}

void bench_hist_range(size_t idx, uint64_t *lo, uint64_t *width)
{
	if (idx < 2u * BENCH_HIST_SUB) {
		*lo = idx;
		*width = 1;
		return;
	}
	size_t shift = idx / BENCH_HIST_SUB - 1u;
	uint64_t m = (uint64_t)(idx - shift * BENCH_HIST_SUB);
	*lo = m << shift;
	*width = (uint64_t)1 << shift;
}

void bench_hist_add(struct bench_hist *h, uint64_t ns)
{
	size_t i = bench_hist_index(ns);
	if (i >= BENCH_HIST_BUCKETS)
		i = BENCH_HIST_BUCKETS - 1u;
	h->b[i]++;
	h->n++;
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->n += src->n;
}

double bench_hist_quantile_ms(const struct bench_hist *h, double q)
{
	if (h->n == 0)
		return 0.0;
	if (q < 0.0)
		q = 0.0;
	if (q > 1.0)
		q = 1.0;
	uint64_t rank = (uint64_t)(q * (double)h->n);
	if ((double)rank < q * (double)h->n)
		rank++;                                /* ceil */
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t lo, w;
			bench_hist_range(i, &lo, &w);
			return ((double)lo + (double)(w - 1u) / 2.0) / 1e6;
		}
	}
	return 0.0;
}
