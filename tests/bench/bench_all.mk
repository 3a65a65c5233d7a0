# make bench: Coffre (a QA coffred) and PyKMIP's server side by side under build/coffre-bench,
# the goal table, and bench-hsm's raw PKCS#11 figures (tools/bench.sh; <= 5 min).
# Not part of make test: no timing is asserted anywhere, figures belong to the benchmark.
#   BENCH_SECONDS=S   measured seconds per run (default 5)
#   BENCH_FILL=N      keys in the store for the Locate row (default 1000000; fewer if the
#                     fill does not fit in BENCH_FILL_SECONDS, default 60)
# $(BUILD)/bench_fill: bulk-inserts keys through firmware's store API (a fixture: tests/ may
# link firmware, tools/ may not).
BENCH_FILL_OBJS := $(BUILD)/bobj/tests/bench/bench_fill.o
$(BENCH_FILL_OBJS): $(BUILD)/bobj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@
$(BUILD)/bench_fill: $(BENCH_FILL_OBJS) $(FIRMWARE_ARCHIVES) $(BUILD)/libhsm.a $(BUILD)/libkmip.a $(BUILD)/libboard.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(FIRMWARE_LDLIBS)
ALL_OBJS += $(BENCH_FILL_OBJS)

bench: deps-check $(PROGRAMS) $(BUILD)/bench_hsm $(BUILD)/bench_fill
	@bash tools/bench.sh $(BUILD)
