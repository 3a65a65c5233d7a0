# coffre-bench: histogram, request encoding and response checks (no network).
$(eval $(call unit_test,test_bench,tests/unit/tools/test_bench.c tools/bench_hist.c tools/bench_req.c,kmip board,,))
