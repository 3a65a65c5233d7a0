# libFuzzer target for the share text parser (tests/fuzz/fuzz_backup_share.c): bk_share_parse in
# firmware/backup/backup_fmt.c alone (no HSM, no store), with the combine of accepted shares.
#   make SAN=fuzz CC=clang BUILD=build/fuzz build/fuzz/fuzz/fuzz_backup_share
#   build/fuzz/fuzz/fuzz_backup_share -max_len=512 -max_total_time=60 <scratch dir> \
#       tests/fuzz/corpus/backup_share
#   $(BUILD)/fuzz/replay_backup_share FILE|DIR...   every build: replays without libFuzzer
# Like backup_import.mk, this fragment hooks its binaries into fuzz-bins and TEST_EXTRAS itself
# (fuzz.mk computes its lists before it is included); tests/fuzz/replay.sh replays
# tests/fuzz/corpus/backup_share in test-unit.
FUZZ_BACKUP_SHARE_OBJ := $(BUILD)/tobj/tests/fuzz/fuzz_backup_share.o
FUZZ_BACKUP_SHARE_DEPS := $(BUILD)/obj/firmware/backup/backup_fmt.o $(BUILD)/libboard.a
FUZZ_BACKUP_SHARE_LDLIBS := -lcrypto -largon2 -lpthread
$(FUZZ_BACKUP_SHARE_OBJ): tests/fuzz/fuzz_backup_share.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@
ALL_OBJS += $(FUZZ_BACKUP_SHARE_OBJ)
FUZZ_TARGETS += backup_share

ifeq ($(SAN),fuzz)
$(BUILD)/fuzz/fuzz_backup_share: $(FUZZ_BACKUP_SHARE_OBJ) $(FUZZ_BACKUP_SHARE_DEPS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -fsanitize=fuzzer,address,undefined -o $@ $^ $(FUZZ_BACKUP_SHARE_LDLIBS)
fuzz-bins: $(BUILD)/fuzz/fuzz_backup_share
endif

ifneq ($(wildcard tests/fuzz/replay.c),)
$(BUILD)/fuzz/replay_backup_share: $(FUZZ_BACKUP_SHARE_OBJ) $(BUILD)/tobj/tests/fuzz/replay.o \
                                   $(FUZZ_BACKUP_SHARE_DEPS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(FUZZ_BACKUP_SHARE_LDLIBS)
TEST_EXTRAS += $(BUILD)/fuzz/replay_backup_share
fuzz-bins: $(BUILD)/fuzz/replay_backup_share
endif
