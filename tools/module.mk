# build/coffre: operator / QA command line
COFFRE_SRCS := tools/coffre.c
COFFRE_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(COFFRE_SRCS))
$(COFFRE_OBJS): $(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@
# backup inspect / verify use the pure format code (firmware/backup/backup_fmt.c, no store), and the
# export ceremony's HSM helper (`coffre backup hsm-helper`, hsm/backup.c) needs libhsm
$(BUILD)/coffre: $(COFFRE_OBJS) $(BUILD)/obj/firmware/backup/backup_fmt.o $(BUILD)/libhsm.a \
                 $(BUILD)/libkmip.a $(BUILD)/libboard.a
	$(CC) $(LDFLAGS_BASE) -o $@ $^ -lcrypto -largon2 $(HSM_LDLIBS)
ALL_OBJS += $(COFFRE_OBJS)
PROGRAMS += $(BUILD)/coffre
include tools/bench.mk
