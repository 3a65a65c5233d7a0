# libFuzzer target for the SNTP reply parser (tests/fuzz/fuzz_ntp_packet.c): ntp_reply_parse in
# board/ntp.c alone (pure: no socket, no clock).
#   make SAN=fuzz CC=clang BUILD=build/fuzz build/fuzz/fuzz/fuzz_ntp_packet
#   build/fuzz/fuzz/fuzz_ntp_packet -dict=tests/fuzz/dict/ntp_packet.dict -max_total_time=60 \
#       <scratch dir> tests/fuzz/corpus/ntp_packet
#   $(BUILD)/fuzz/replay_ntp_packet FILE|DIR...   every build: replays without libFuzzer
# Like hsm_blob.mk, this fragment hooks its binaries into fuzz-bins and TEST_EXTRAS itself
# (fuzz.mk computes its lists before it is included); tests/fuzz/replay.sh replays
# tests/fuzz/corpus/ntp_packet in test-unit.
FUZZ_NTP_PACKET_OBJ := $(BUILD)/tobj/tests/fuzz/fuzz_ntp_packet.o
$(FUZZ_NTP_PACKET_OBJ): tests/fuzz/fuzz_ntp_packet.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@
ALL_OBJS += $(FUZZ_NTP_PACKET_OBJ)
FUZZ_TARGETS += ntp_packet

ifeq ($(SAN),fuzz)
$(BUILD)/fuzz/fuzz_ntp_packet: $(FUZZ_NTP_PACKET_OBJ) $(BUILD)/libboard.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -fsanitize=fuzzer,address,undefined -o $@ $^
fuzz-bins: $(BUILD)/fuzz/fuzz_ntp_packet
endif

ifneq ($(wildcard tests/fuzz/replay.c),)
$(BUILD)/fuzz/replay_ntp_packet: $(FUZZ_NTP_PACKET_OBJ) $(BUILD)/tobj/tests/fuzz/replay.o \
                                 $(BUILD)/libboard.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^
TEST_EXTRAS += $(BUILD)/fuzz/replay_ntp_packet
fuzz-bins: $(BUILD)/fuzz/replay_ntp_packet
endif
