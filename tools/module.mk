# build/coffre: operator / QA command line
COFFRE_SRCS := tools/coffre.c
COFFRE_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(COFFRE_SRCS))
$(COFFRE_OBJS): $(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@
$(BUILD)/coffre: $(COFFRE_OBJS) $(BUILD)/libkmip.a $(BUILD)/libboard.a
	$(CC) $(LDFLAGS_BASE) -o $@ $^
ALL_OBJS += $(COFFRE_OBJS)
PROGRAMS += $(BUILD)/coffre
include tools/bench.mk
