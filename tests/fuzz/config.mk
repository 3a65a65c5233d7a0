# libFuzzer target for the service configuration loader (tests/fuzz/fuzz_config.c):
# firmware/core/config.c alone (config_load_mem over libinih), no other firmware code.
#   make SAN=fuzz CC=clang BUILD=build/fuzz build/fuzz/fuzz/fuzz_config
#   build/fuzz/fuzz/fuzz_config -dict=tests/fuzz/dict/config.dict -max_total_time=60 \
#       <scratch dir> tests/fuzz/corpus/config
#   $(BUILD)/fuzz/replay_config FILE|DIR...   every build: replays without libFuzzer
# Like backup_import.mk, this fragment hooks its binaries into fuzz-bins and TEST_EXTRAS itself
# (fuzz.mk computes its lists before it is included); tests/fuzz/replay.sh replays
# tests/fuzz/corpus/config in test-unit.
FUZZ_CONFIG_OBJ := $(BUILD)/tobj/tests/fuzz/fuzz_config.o
FUZZ_CONFIG_DEPS := $(BUILD)/obj/firmware/core/config.o $(BUILD)/libboard.a
FUZZ_CONFIG_LDLIBS := -linih
$(FUZZ_CONFIG_OBJ): tests/fuzz/fuzz_config.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@
ALL_OBJS += $(FUZZ_CONFIG_OBJ)
FUZZ_TARGETS += config

ifeq ($(SAN),fuzz)
$(BUILD)/fuzz/fuzz_config: $(FUZZ_CONFIG_OBJ) $(FUZZ_CONFIG_DEPS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -fsanitize=fuzzer,address,undefined -o $@ $^ $(FUZZ_CONFIG_LDLIBS)
fuzz-bins: $(BUILD)/fuzz/fuzz_config
endif

ifneq ($(wildcard tests/fuzz/replay.c),)
$(BUILD)/fuzz/replay_config: $(FUZZ_CONFIG_OBJ) $(BUILD)/tobj/tests/fuzz/replay.o $(FUZZ_CONFIG_DEPS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(FUZZ_CONFIG_LDLIBS)
TEST_EXTRAS += $(BUILD)/fuzz/replay_config
fuzz-bins: $(BUILD)/fuzz/replay_config
endif
