# board/: the platform. BOARD= picks the board at build time (host by default; appliance for
# the image: `make BOARD=appliance`). Only the board's own file differs; posix.c and
# netconf.c are every board's.
BOARD_NAMES := host appliance
ifeq ($(filter $(BOARD),$(BOARD_NAMES)),)
  $(error BOARD=$(BOARD): no such board (one of: $(BOARD_NAMES)))
endif
BOARD_SRCS := board/err.c board/sec.c board/hex.c board/log.c board/posix.c board/netconf.c \
	board/ntp.c board/ntpsync.c board/cidr.c board/fair.c board/sandbox.c \
	board/$(BOARD)/board_$(BOARD).c
$(eval $(call module_lib,board,$(BOARD_SRCS),))

# A build dir remembers its board: when BOARD changes, the board's objects are built again
# (and with them libboard.a and every program that links it), never mixed.
BOARD_STAMP := $(BUILD)/obj/board/board.name
$(shell mkdir -p $(BUILD)/obj/board && { [ "$$(cat $(BOARD_STAMP) 2>/dev/null)" = "$(BOARD)" ] || echo "$(BOARD)" > $(BOARD_STAMP); })
$(board_OBJS): $(BOARD_STAMP)
