# libFuzzer target for the backup importer's parsers (tests/fuzz/fuzz_backup_import.c): armor,
# header, AES-GCM open with a fixed key, body walker (firmware/backup/backup_fmt.c alone: no HSM, no
# store), plus a seal / armor / decode / open round trip of every body that walks.
#   make SAN=fuzz CC=clang BUILD=build/fuzz build/fuzz/fuzz/fuzz_backup_import
#   build/fuzz/fuzz/fuzz_backup_import -max_len=65536 -max_total_time=60 <scratch dir> \
#       tests/fuzz/corpus/backup_import
#   $(BUILD)/fuzz/replay_backup_import FILE|DIR...   every build: replays without libFuzzer
# Like hsm_blob.mk, this fragment hooks its binaries into fuzz-bins and TEST_EXTRAS itself
# (fuzz.mk computes its lists before it is included); tests/fuzz/replay.sh replays
# tests/fuzz/corpus/backup_import in test-unit.
FUZZ_BACKUP_IMPORT_OBJ := $(BUILD)/tobj/tests/fuzz/fuzz_backup_import.o
FUZZ_BACKUP_IMPORT_DEPS := $(BUILD)/obj/firmware/backup/backup_fmt.o $(BUILD)/libboard.a
FUZZ_BACKUP_IMPORT_LDLIBS := -lcrypto -largon2 -lpthread
$(FUZZ_BACKUP_IMPORT_OBJ): tests/fuzz/fuzz_backup_import.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@
ALL_OBJS += $(FUZZ_BACKUP_IMPORT_OBJ)
FUZZ_TARGETS += backup_import

ifeq ($(SAN),fuzz)
$(BUILD)/fuzz/fuzz_backup_import: $(FUZZ_BACKUP_IMPORT_OBJ) $(FUZZ_BACKUP_IMPORT_DEPS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -fsanitize=fuzzer,address,undefined -o $@ $^ $(FUZZ_BACKUP_IMPORT_LDLIBS)
fuzz-bins: $(BUILD)/fuzz/fuzz_backup_import
endif

ifneq ($(wildcard tests/fuzz/replay.c),)
$(BUILD)/fuzz/replay_backup_import: $(FUZZ_BACKUP_IMPORT_OBJ) $(BUILD)/tobj/tests/fuzz/replay.o \
                                    $(FUZZ_BACKUP_IMPORT_DEPS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(FUZZ_BACKUP_IMPORT_LDLIBS)
TEST_EXTRAS += $(BUILD)/fuzz/replay_backup_import
fuzz-bins: $(BUILD)/fuzz/replay_backup_import
endif
