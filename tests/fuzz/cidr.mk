# libFuzzer target for the source allow-list parser (tests/fuzz/fuzz_cidr.c): cidr_list_parse
# in board/cidr.c alone (pure).
#   make SAN=fuzz CC=clang BUILD=build/fuzz build/fuzz/fuzz/fuzz_cidr
#   build/fuzz/fuzz/fuzz_cidr -max_len=1024 -max_total_time=60 <scratch dir> tests/fuzz/corpus/cidr
#   $(BUILD)/fuzz/replay_cidr FILE|DIR...   every build: replays without libFuzzer
# Like hsm_blob.mk, this fragment hooks its binaries into fuzz-bins and TEST_EXTRAS itself
# (fuzz.mk computes its lists before it is included); tests/fuzz/replay.sh replays
# tests/fuzz/corpus/cidr in test-unit.
FUZZ_CIDR_OBJ := $(BUILD)/tobj/tests/fuzz/fuzz_cidr.o
$(FUZZ_CIDR_OBJ): tests/fuzz/fuzz_cidr.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@
ALL_OBJS += $(FUZZ_CIDR_OBJ)
FUZZ_TARGETS += cidr

ifeq ($(SAN),fuzz)
$(BUILD)/fuzz/fuzz_cidr: $(FUZZ_CIDR_OBJ) $(BUILD)/libboard.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -fsanitize=fuzzer,address,undefined -o $@ $^
fuzz-bins: $(BUILD)/fuzz/fuzz_cidr
endif

ifneq ($(wildcard tests/fuzz/replay.c),)
$(BUILD)/fuzz/replay_cidr: $(FUZZ_CIDR_OBJ) $(BUILD)/tobj/tests/fuzz/replay.o \
                                 $(BUILD)/libboard.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^
TEST_EXTRAS += $(BUILD)/fuzz/replay_cidr
fuzz-bins: $(BUILD)/fuzz/replay_cidr
endif
