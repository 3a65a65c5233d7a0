BOARD_SRCS := board/err.c board/sec.c board/hex.c board/log.c board/$(BOARD)/board_$(BOARD).c
$(eval $(call module_lib,board,$(BOARD_SRCS),))
