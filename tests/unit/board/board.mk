$(eval $(call unit_test,test_board_sec,tests/unit/board/test_sec.c,board,,))
$(eval $(call unit_test,test_board_hex,tests/unit/board/test_hex.c,board,,))
$(eval $(call unit_test,test_board_netconf,tests/unit/board/test_netconf.c,board,,))
# the host board's own behaviour (no watchdog device, the clock refused)
ifeq ($(BOARD),host)
$(eval $(call unit_test,test_board_host,tests/unit/board/test_board_host.c,board,,))
endif
# NTP: the packet and its arithmetic (pure), the query and the sync loop against a fake server
# on UDP loopback (every board: the loop runs with the test's clock functions)
$(eval $(call unit_test,test_board_ntp,tests/unit/board/test_ntp.c,board,,))
$(eval $(call unit_test,test_board_ntpsync,tests/unit/board/test_ntpsync.c,board,,-lpthread))
# source allow-lists: the CIDR parser and matcher (pure)
$(eval $(call unit_test,test_board_cidr,tests/unit/board/test_cidr.c,board,,))
