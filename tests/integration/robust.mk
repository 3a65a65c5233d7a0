# Robustness tests over real mutual TLS : wire abuse, durability under SIGKILL,
# secrets at rest. Each runs as `bash tests/integration/run_py.sh BUILD_DIR SCRIPT` (tests/
# run-unit.sh), against $(BUILD)/coffred, so `make test-asan` runs them on the ASan/UBSan build too.
SCRIPT_TESTS += tests/integration/test_wire_abuse.py
SCRIPT_TESTS += tests/integration/test_durability.py
SCRIPT_TESTS += tests/integration/test_secrets.py

# `make soak`: the durability loop with SOAK_KILLS SIGKILLs (>= 1,000;
# `make test` runs 20). Other soak stages can add themselves as prerequisites of `soak`.
SOAK_KILLS ?= 1000
.PHONY: soak soak-durability
soak: soak-durability
soak-durability: deps-check $(BUILD)/coffred
	bash tests/integration/run_py.sh $(BUILD) tests/integration/test_durability.py --kills $(SOAK_KILLS) --sample 100
