# build/coffre-bench: the KMIP load generator. Client side only: kmip/ as the
# codec, OpenSSL for TLS, one epoll loop per thread; never links firmware/.
BENCH_SRCS := tools/coffre_bench.c tools/bench_loop.c tools/bench_req.c tools/bench_tls.c \
              tools/bench_hist.c
BENCH_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(BENCH_SRCS))
$(BENCH_OBJS): $(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -pthread -MMD -MP -c $< -o $@
$(BUILD)/coffre-bench: $(BENCH_OBJS) $(BUILD)/libkmip.a $(BUILD)/libboard.a
	$(CC) $(LDFLAGS_BASE) -pthread -o $@ $^ -lssl -lcrypto -lpthread
ALL_OBJS += $(BENCH_OBJS)
PROGRAMS += $(BUILD)/coffre-bench
# build/coffre-flood: the abusive client of the fair-share figures (silent / partial
# connections, TLS handshakes with and without a certificate, from a chosen source address).
FLOOD_OBJS := $(BUILD)/obj/tools/coffre_flood.o
$(FLOOD_OBJS): $(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -pthread -MMD -MP -c $< -o $@
$(BUILD)/coffre-flood: $(FLOOD_OBJS)
	$(CC) $(LDFLAGS_BASE) -pthread -o $@ $^ -lssl -lcrypto -lpthread
ALL_OBJS += $(FLOOD_OBJS)
PROGRAMS += $(BUILD)/coffre-flood
