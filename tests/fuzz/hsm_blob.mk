# libFuzzer target for the wrapped-blob header parser (hsm/blob.c: hsm_blob_parse).
#   make SAN=fuzz build/fuzz/fuzz/fuzz_hsm_blob      (clang; libraries with fuzzer-no-link)
#   build/fuzz/fuzz/fuzz_hsm_blob -max_total_time=30 <scratch dir> tests/fuzz/corpus/hsm_blob
# The libFuzzer binary is built only when SAN=fuzz; the run recipes live in tests/fuzz/fuzz.mk,
# which iterates FUZZ_TARGETS. Only blob.o is pulled from libhsm.a (no other dependency).
# fuzz.mk computes its FUZZ_BINS / FUZZ_REPLAY lists with := before this file is included (and
# links only kmip + board), so this fragment hooks its own binary into fuzz-bins and its replay
# tool into TEST_EXTRAS (tests/fuzz/replay.sh replays tests/fuzz/corpus/hsm_blob in test-unit).
FUZZ_HSM_BLOB_OBJ := $(BUILD)/tobj/tests/fuzz/fuzz_hsm_blob.o
$(FUZZ_HSM_BLOB_OBJ): tests/fuzz/fuzz_hsm_blob.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@
ALL_OBJS += $(FUZZ_HSM_BLOB_OBJ)
FUZZ_TARGETS += hsm_blob

ifeq ($(SAN),fuzz)
$(BUILD)/fuzz/fuzz_hsm_blob: $(FUZZ_HSM_BLOB_OBJ) $(BUILD)/libhsm.a $(BUILD)/libboard.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -fsanitize=fuzzer,address,undefined -o $@ $^ $(HSM_LDLIBS)
fuzz-bins: $(BUILD)/fuzz/fuzz_hsm_blob
endif

# the plain replay tool (tests/fuzz/replay.c), in every build
ifneq ($(wildcard tests/fuzz/replay.c),)
$(BUILD)/fuzz/replay_hsm_blob: $(FUZZ_HSM_BLOB_OBJ) $(BUILD)/tobj/tests/fuzz/replay.o \
                               $(BUILD)/libhsm.a $(BUILD)/libboard.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(HSM_LDLIBS)
TEST_EXTRAS += $(BUILD)/fuzz/replay_hsm_blob
fuzz-bins: $(BUILD)/fuzz/replay_hsm_blob
endif
