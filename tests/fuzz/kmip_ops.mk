# libFuzzer target for the whole KMIP request path (tests/fuzz/fuzz_kmip_ops.c): decode ->
# ops_handle (authz, handlers, store, audit, SoftHSMv2) -> encode, checked by decoding the
# response.
#   make SAN=fuzz BUILD=build/fuzz build/fuzz/fuzz/fuzz_kmip_ops   (clang; fuzzer-no-link libs)
#   build/fuzz/fuzz/fuzz_kmip_ops -dict=tests/fuzz/dict/kmip.dict -max_len=16384 \
#       -max_total_time=60 <scratch dir> tests/fuzz/corpus/kmip_ops
#   $(BUILD)/fuzz/replay_kmip_ops FILE|DIR...   every build: replays inputs without libFuzzer
# The run recipes live in tests/fuzz/fuzz.mk (they iterate FUZZ_TARGETS); fuzz.mk computes its
# FUZZ_BINS / FUZZ_REPLAY lists with := before this file is included (and links only kmip +
# board), so, like hsm_blob.mk, this fragment hooks its own binaries into fuzz-bins and
# TEST_EXTRAS (tests/fuzz/replay.sh replays tests/fuzz/corpus/kmip_ops in test-unit).
FUZZ_KMIP_OPS_OBJ := $(BUILD)/tobj/tests/fuzz/fuzz_kmip_ops.o
FUZZ_KMIP_OPS_LIBS := $(FIRMWARE_ARCHIVES) $(BUILD)/libhsm.a $(BUILD)/libkmip.a $(BUILD)/libboard.a
FUZZ_KMIP_OPS_LDLIBS := $(FIRMWARE_LDLIBS)
$(FUZZ_KMIP_OPS_OBJ): tests/fuzz/fuzz_kmip_ops.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(HSM_CFLAGS) -MMD -MP -c $< -o $@
ALL_OBJS += $(FUZZ_KMIP_OPS_OBJ)
FUZZ_TARGETS += kmip_ops

ifeq ($(SAN),fuzz)
$(BUILD)/fuzz/fuzz_kmip_ops: $(FUZZ_KMIP_OPS_OBJ) $(FUZZ_KMIP_OPS_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -fsanitize=fuzzer,address,undefined -o $@ $^ $(FUZZ_KMIP_OPS_LDLIBS)
fuzz-bins: $(BUILD)/fuzz/fuzz_kmip_ops
endif

# the plain replay tool (tests/fuzz/replay.c), in every build
ifneq ($(wildcard tests/fuzz/replay.c),)
$(BUILD)/fuzz/replay_kmip_ops: $(FUZZ_KMIP_OPS_OBJ) $(BUILD)/tobj/tests/fuzz/replay.o \
                               $(FUZZ_KMIP_OPS_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(FUZZ_KMIP_OPS_LDLIBS)
TEST_EXTRAS += $(BUILD)/fuzz/replay_kmip_ops
fuzz-bins: $(BUILD)/fuzz/replay_kmip_ops
endif
