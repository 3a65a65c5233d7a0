# libFuzzer target for the DER that hsm/crypto.c reads (hsm/der.c: der_spki_parse,
# der_pkcs8_kind, der_ecdsa_sig_parse). Like hsm_blob.mk: only der.o is pulled from libhsm.a;
# the fragment hooks its own binaries into fuzz-bins and its replay tool into TEST_EXTRAS
# (tests/fuzz/replay.sh replays tests/fuzz/corpus/hsm_der in test-unit).
#   make SAN=fuzz build/fuzz/fuzz/fuzz_hsm_der
#   build/fuzz/fuzz/fuzz_hsm_der -max_total_time=30 <scratch dir> tests/fuzz/corpus/hsm_der
FUZZ_HSM_DER_OBJ := $(BUILD)/tobj/tests/fuzz/fuzz_hsm_der.o
$(FUZZ_HSM_DER_OBJ): tests/fuzz/fuzz_hsm_der.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(P11_CFLAGS) -MMD -MP -c $< -o $@
ALL_OBJS += $(FUZZ_HSM_DER_OBJ)
FUZZ_TARGETS += hsm_der

ifeq ($(SAN),fuzz)
$(BUILD)/fuzz/fuzz_hsm_der: $(FUZZ_HSM_DER_OBJ) $(BUILD)/libhsm.a $(BUILD)/libboard.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -fsanitize=fuzzer,address,undefined -o $@ $^ $(HSM_LDLIBS)
fuzz-bins: $(BUILD)/fuzz/fuzz_hsm_der
endif

ifneq ($(wildcard tests/fuzz/replay.c),)
$(BUILD)/fuzz/replay_hsm_der: $(FUZZ_HSM_DER_OBJ) $(BUILD)/tobj/tests/fuzz/replay.o \
                              $(BUILD)/libhsm.a $(BUILD)/libboard.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(HSM_LDLIBS)
TEST_EXTRAS += $(BUILD)/fuzz/replay_hsm_der
fuzz-bins: $(BUILD)/fuzz/replay_hsm_der
endif
