# libFuzzer target for the console's input path (tests/fuzz/fuzz_console_line.c): bytes typed
# at the TTY -> line editor (con_io.c) -> login gate, tokenizer, lookup, state checks, options,
# help, dispatch (con_shell.c) with fake command tables; over a socketpair, no threads.
#   make SAN=fuzz BUILD=build/fuzz build/fuzz/fuzz/fuzz_console_line   (clang)
#   build/fuzz/fuzz/fuzz_console_line -max_total_time=60 <scratch dir> tests/fuzz/corpus/console_line
#   $(BUILD)/fuzz/replay_console_line FILE|DIR...   every build: replays inputs without libFuzzer
# Like hsm_blob.mk, this fragment hooks its own binaries into fuzz-bins and TEST_EXTRAS
# (fuzz.mk's lists are computed before it is included). Only store/audit/config objects are
# pulled from the firmware archives: the harness includes con_io.c and con_shell.c and fakes the rest.
FUZZ_CONSOLE_LINE_OBJ := $(BUILD)/tobj/tests/fuzz/fuzz_console_line.o
FUZZ_CONSOLE_LINE_LIBS := $(FIRMWARE_ARCHIVES) $(BUILD)/libhsm.a $(BUILD)/libkmip.a $(BUILD)/libboard.a
$(FUZZ_CONSOLE_LINE_OBJ): tests/fuzz/fuzz_console_line.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@
ALL_OBJS += $(FUZZ_CONSOLE_LINE_OBJ)
FUZZ_TARGETS += console_line

ifeq ($(SAN),fuzz)
$(BUILD)/fuzz/fuzz_console_line: $(FUZZ_CONSOLE_LINE_OBJ) $(FUZZ_CONSOLE_LINE_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -fsanitize=fuzzer,address,undefined -o $@ $^ $(FIRMWARE_LDLIBS)
fuzz-bins: $(BUILD)/fuzz/fuzz_console_line
endif

ifneq ($(wildcard tests/fuzz/replay.c),)
$(BUILD)/fuzz/replay_console_line: $(FUZZ_CONSOLE_LINE_OBJ) $(BUILD)/tobj/tests/fuzz/replay.o \
                                   $(FUZZ_CONSOLE_LINE_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(FIRMWARE_LDLIBS)
TEST_EXTRAS += $(BUILD)/fuzz/replay_console_line
fuzz-bins: $(BUILD)/fuzz/replay_console_line
endif
