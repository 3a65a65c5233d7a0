# Robustness tests over real mutual TLS (issue 4 "Tests"): wire abuse, durability under SIGKILL,
# secrets at rest. Each runs as `bash SCRIPT BUILD_DIR` from the repo root (tests/run-unit.sh),
# against $(BUILD)/coffred, so `make test-asan` runs them on the ASan/UBSan build too.
SCRIPT_TESTS += tests/integration/test_wire_abuse.sh
SCRIPT_TESTS += tests/integration/test_durability.sh
SCRIPT_TESTS += tests/integration/test_secrets.sh

# `make soak`: the durability loop with SOAK_KILLS SIGKILLs (RELIABILITY.md: >= 1,000;
# `make test` runs 20). Other soak stages can add themselves as prerequisites of `soak`.
SOAK_KILLS ?= 1000
.PHONY: soak soak-durability
soak: soak-durability
soak-durability: deps-check $(BUILD)/coffred
	bash tests/integration/test_durability.sh $(BUILD) --kills $(SOAK_KILLS) --sample 100
