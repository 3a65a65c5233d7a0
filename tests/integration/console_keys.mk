# Console `keys` / `kek` / `audit` commands over a real pty (tests/integration/test_console_keys.py).
SCRIPT_TESTS += tests/integration/test_console_keys.py

# $(BUILD)/tests/coffred_keys_th: coffred with the re-wrap job built with -DCOFFRE_TEST_HOOKS
# (COFFRE_TEST_REWRAP_DELAY_MS slows each batch, so the test can restart coffred part-way
# through a re-wrap). Its own object directory: independent of coffred_th's object list. The
# hook object comes before the firmware archives, so the archive's kekjob.o is never pulled in.
KEYS_TH_OBJS := $(BUILD)/thobj-keys/firmware/svc/kekjob.o
$(KEYS_TH_OBJS): $(BUILD)/thobj-keys/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -DCOFFRE_TEST_HOOKS -MMD -MP -c $< -o $@
$(BUILD)/tests/coffred_keys_th: $(COFFRED_OBJS) $(KEYS_TH_OBJS) $(FIRMWARE_ARCHIVES) $(BUILD)/libhsm.a $(BUILD)/libkmip.a $(BUILD)/libboard.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COFFRED_LDLIBS)
ALL_OBJS += $(KEYS_TH_OBJS)
TEST_EXTRAS += $(BUILD)/tests/coffred_keys_th
