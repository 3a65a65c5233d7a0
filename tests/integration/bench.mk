# coffre-bench (the KMIP load tool) against PyKMIP's server on loopback.
SCRIPT_TESTS += tests/integration/test_bench_pykmip.sh
