# Coffre: one top-level Makefile. Each module lists its sources in
# <module>/module.mk; each test folder lists its tests in tests/<...>/tests.mk.
#
#   make            build/coffre (and later build/coffred, build/coffre-bench)
#   make test       deps if missing; unit + integration + ASan/UBSan run + short fuzz runs
#   make SAN=asan   the same build with ASan+UBSan, in build/asan
#   make fuzz       longer libFuzzer runs (FUZZ_SECONDS per target, default 600)
#   make deps       install the Debian packages the build and tests need

.DEFAULT_GOAL := all
SHELL := /bin/bash

CC ?= cc
SAN ?=
ifeq ($(SAN),asan)
  BUILD ?= build/asan
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(SAN),tsan)
  BUILD ?= build/tsan
  SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
else ifeq ($(SAN),fuzz)
  CC := clang
  BUILD ?= build/fuzz
  SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
  BUILD ?= build
  SANFLAGS :=
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2 -Wstrict-prototypes \
        -Wimplicit-fallthrough -Wno-unused-parameter
HARDEN := -fstack-protector-strong -fPIE
ifeq ($(SAN),)
  HARDEN += -D_FORTIFY_SOURCE=2
endif
OPT ?= -O2 -g
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) $(SANFLAGS) -I.
LDFLAGS_BASE := -pie -Wl,-z,relro,-z,now $(SANFLAGS)
P11_CFLAGS := -I/usr/include/p11-kit-1

BOARD ?= host
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# where `make test` puts its ASan/UBSan build (build/asan by default)
ASAN_BUILD ?= $(BUILD)/asan

# ---- modules --------------------------------------------------------------
# module_lib(name, sources, extra cflags): $(BUILD)/lib<name>.a
define module_lib
$(1)_OBJS := $$(patsubst %.c,$(BUILD)/obj/%.o,$(2))
$(1)_CFLAGS := $(3)
$(BUILD)/lib$(1).a: $$($(1)_OBJS)
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^
$$($(1)_OBJS): $(BUILD)/obj/%.o: %.c
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) $$($(1)_CFLAGS) -MMD -MP -c $$< -o $$@
ALL_OBJS += $$($(1)_OBJS)
endef

# unit_test(name, sources, libs, extra cflags, extra ldlibs): $(BUILD)/tests/<name>
define unit_test
$(1)_TOBJS := $$(patsubst %.c,$(BUILD)/tobj/%.o,$(2))
$$($(1)_TOBJS): $(BUILD)/tobj/%.o: %.c
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) -Wno-unused-function -DCOFFRE_TEST_HOOKS $(4) -MMD -MP -c $$< -o $$@
$(BUILD)/tests/$(1): $$($(1)_TOBJS) $$(foreach l,$(3),$(BUILD)/lib$$(l).a)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS_BASE) -o $$@ $$^ -lcmocka $(5)
UNIT_TESTS += $(BUILD)/tests/$(1)
ALL_OBJS += $$($(1)_TOBJS)
endef

include board/module.mk
include kmip/module.mk
-include hsm/module.mk
include firmware/module.mk
include tools/module.mk
include image/module.mk
# test fragments: one .mk per test group, each listing its sources explicitly. fuzz.mk comes
# first: it starts FUZZ_TARGETS, which each target's own fragment extends.
-include tests/fuzz/fuzz.mk
-include $(filter-out tests/fuzz/fuzz.mk,$(sort $(wildcard tests/unit/*/*.mk tests/*/*.mk)))

# the QA container (make container, make test-container): not part of make test
-include image/container.mk

-include $(ALL_OBJS:.o=.d)

# ---- top-level targets ----------------------------------------------------
.PHONY: all deps deps-check test test-unit test-asan test-asan-build test-asan-run test-integration test-fuzz-short \
        fuzz bench bench-hsm run lint clean image run-image test-image

all: deps-check $(PROGRAMS)

deps:
	@bash tools/deps.sh install

deps-check:
	@bash tools/deps.sh ensure

build-tests: deps-check $(PROGRAMS) $(UNIT_TESTS) $(TEST_EXTRAS)

test-unit: build-tests
	@SCRIPT_TESTS="$(SCRIPT_TESTS)" bash tests/run-unit.sh $(BUILD) $(UNIT_TESTS)

# the SCRIPT_TESTS alone (integration scripts, CLI and fuzz-replay scripts), no unit binary
test-integration: deps-check $(PROGRAMS) $(TEST_EXTRAS)
	@SCRIPT_TESTS="$(SCRIPT_TESTS)" bash tests/run-unit.sh $(BUILD)

test-asan: test-asan-build
	@$(MAKE) --no-print-directory test-asan-run

test-asan-build: deps-check
	@$(MAKE) --no-print-directory -j$(JOBS) SAN=asan OPT="-O1 -g" BUILD=$(ASAN_BUILD) build-tests

test-asan-run:
	@$(MAKE) --no-print-directory SAN=asan OPT="-O1 -g" BUILD=$(ASAN_BUILD) test-unit

# Builds run on every core (JOBS). Then the plain and the ASan suites run side by side (each
# runs its tests one at a time; every test has its own temporary directory, ports and
# processes), each suite's report printed whole when it ends (--output-sync).
test: deps-check
	@$(MAKE) --no-print-directory -j$(JOBS) build-tests
	@$(MAKE) --no-print-directory test-asan-build
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-unit test-asan-run
	@$(MAKE) --no-print-directory test-fuzz-short
	@$(MAKE) --no-print-directory lint
	@read -r p1 f1 < $(BUILD)/test-summary; read -r p2 f2 < $(ASAN_BUILD)/test-summary; \
	  echo "make test: all stages passed (unit + integration, ASan/UBSan, fuzz smoke, lint)"; \
	  echo "$$((p1 + p2)) passed, $$((f1 + f2)) failed"

# cppcheck, then the architecture check (docs/architecture.md) on the built objects
lint: deps-check $(PROGRAMS)
	@bash tools/lint.sh $(BUILD)

clean:
	rm -rf build

# `make run`: a development appliance on this terminal (tools/run-dev.sh).
run: deps-check $(PROGRAMS)
	@bash tools/run-dev.sh $(BUILD)
