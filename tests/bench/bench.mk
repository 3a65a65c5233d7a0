# make bench-hsm: hsm/ layer vs the raw PKCS#11 calls (SoftHSMv2). Not part of make test.
BENCH_HSM_OBJS := $(BUILD)/bobj/tests/bench/bench_hsm.o
$(BENCH_HSM_OBJS): $(BUILD)/bobj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(HSM_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/bench_hsm: $(BENCH_HSM_OBJS) $(BUILD)/libhsm.a $(BUILD)/libboard.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(HSM_LDLIBS)
ALL_OBJS += $(BENCH_HSM_OBJS)

bench-hsm: deps-check $(BUILD)/bench_hsm
	@$(BUILD)/bench_hsm
