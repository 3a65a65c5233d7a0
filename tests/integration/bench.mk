# coffre-bench (the KMIP load tool) against PyKMIP's server on loopback (issue 5).
SCRIPT_TESTS += tests/integration/test_bench_pykmip.sh
