# build/coffred: the KMIP service (firmware/main.c + the module archives).
#   $(BUILD)/coffred              production binary (in PROGRAMS)
#   $(BUILD)/tests/coffred_th     the same with -DCOFFRE_TEST_HOOKS (svc.c + libhsm_th):
#                                 COFFRE_TEST_SELFTEST_FAIL=<self-test> makes that power-up
#                                 self-test fail (tests/integration/test_boot.sh);
#                                 COFFRE_TEST_CLOCK=FILE runs the service clock FILE's
#                                 integer seconds ahead (re-read at every call)
COFFRED_LDLIBS := $(FIRMWARE_LDLIBS)
COFFRED_OBJS := $(BUILD)/obj/firmware/main.o
$(BUILD)/obj/firmware/main.o: firmware/main.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@
$(BUILD)/coffred: $(COFFRED_OBJS) $(FIRMWARE_ARCHIVES) $(BUILD)/libhsm.a $(BUILD)/libkmip.a $(BUILD)/libboard.a
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COFFRED_LDLIBS)
ALL_OBJS += $(COFFRED_OBJS)
PROGRAMS += $(BUILD)/coffred

COFFRED_TH_OBJS := $(BUILD)/thobj/firmware/svc/svc.o
$(COFFRED_TH_OBJS): $(BUILD)/thobj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -DCOFFRE_TEST_HOOKS -MMD -MP -c $< -o $@
$(BUILD)/tests/coffred_th: $(COFFRED_OBJS) $(COFFRED_TH_OBJS) $(FIRMWARE_ARCHIVES) $(BUILD)/libhsm_th.a $(BUILD)/libkmip.a $(BUILD)/libboard.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(COFFRED_LDLIBS)
ALL_OBJS += $(COFFRED_TH_OBJS)
TEST_EXTRAS += $(BUILD)/tests/coffred_th
