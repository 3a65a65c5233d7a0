# tests/fuzz: libFuzzer targets (a short run of each in make test).
#
#   make test-fuzz-short   (part of make test) builds the targets with SAN=fuzz in FUZZ_BUILD
#                          (build/fuzz) and runs each on its seed corpus for FUZZ_SHORT_SECONDS
#                          (30), FUZZ_JOBS (nproc) targets at a time; fails on any crash, leak,
#                          UB or timeout; prints execs, exec/s.
#   make fuzz              the same, FUZZ_SECONDS per target (600), the corpus growing in
#                          $(BUILD)/fuzz-corpus/<target>/ from one run to the next.
#   $(BUILD)/fuzz/replay_<target> FILE|DIR...   every build: replays inputs without libFuzzer
#                          (tests/fuzz/replay.sh runs it on tests/fuzz/corpus/ in test-unit).
# Seeds come from ../shared/vectors at run time (tests/fuzz/seed.sh) plus the few hand-made
# inputs and crash regressions in tests/fuzz/corpus/<target>/.

FUZZ_TARGETS := ttlv_walk
# the message layer (kmip/kmip.h, KMIP_SRCS_MSG in kmip/module.mk) joins once it exists
ifneq ($(strip $(KMIP_SRCS_MSG)),)
ifneq ($(wildcard kmip/kmip.h),)
FUZZ_TARGETS += kmip_request
endif
endif

FUZZ_BUILD ?= build/fuzz
FUZZ_SECONDS ?= 600
FUZZ_SHORT_SECONDS ?= 30
FUZZ_LIBS := $(BUILD)/libkmip.a $(BUILD)/libboard.a
FUZZ_TOBJS := $(patsubst %,$(BUILD)/tobj/tests/fuzz/fuzz_%.o,$(FUZZ_TARGETS)) \
              $(BUILD)/tobj/tests/fuzz/replay.o

$(FUZZ_TOBJS): $(BUILD)/tobj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@
ALL_OBJS += $(FUZZ_TOBJS)

# replay tools, in every build
FUZZ_REPLAY := $(patsubst %,$(BUILD)/fuzz/replay_%,$(FUZZ_TARGETS))
$(FUZZ_REPLAY): $(BUILD)/fuzz/replay_%: $(BUILD)/tobj/tests/fuzz/fuzz_%.o \
                $(BUILD)/tobj/tests/fuzz/replay.o $(FUZZ_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^
TEST_EXTRAS += $(FUZZ_REPLAY)
SCRIPT_TESTS += tests/fuzz/replay.sh

# libFuzzer binaries: only in the fuzz build (clang; libraries carry fuzzer-no-link)
ifeq ($(SAN),fuzz)
FUZZ_BINS := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_TARGETS))
$(FUZZ_BINS): $(BUILD)/fuzz/fuzz_%: $(BUILD)/tobj/tests/fuzz/fuzz_%.o $(FUZZ_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -fsanitize=fuzzer,address,undefined -o $@ $^
endif

.PHONY: fuzz-bins
fuzz-bins: $(FUZZ_BINS) $(FUZZ_REPLAY)
	@[[ "$(SAN)" == fuzz ]] || { echo "fuzz-bins: needs SAN=fuzz" >&2; exit 1; }

# Build in FUZZ_BUILD with SAN=fuzz, seed $(BUILD)/fuzz-corpus, then run every target.
define fuzz_run
	@$(MAKE) --no-print-directory -j$(JOBS) SAN=fuzz CC=clang BUILD=$(FUZZ_BUILD) fuzz-bins
	@bash tests/fuzz/seed.sh $(BUILD)/fuzz-corpus $(FUZZ_TARGETS)
	@bash tests/fuzz/run.sh $(1) $(FUZZ_BUILD) $(BUILD) $(2) $(FUZZ_TARGETS)
endef

test-fuzz-short:
	$(call fuzz_run,short,$(FUZZ_SHORT_SECONDS))

fuzz:
	$(call fuzz_run,long,$(FUZZ_SECONDS))
