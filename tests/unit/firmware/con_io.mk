# firmware/console: line editor and shell (con_io.c, con_shell.c included by the test, the other
# console parts replaced by weak fakes) over a socketpair; a real SQLite store for the audit.
$(eval $(call unit_test,test_con_io,tests/unit/firmware/test_con_io.c,$(FIRMWARE_LIBS) hsm kmip board,$(HSM_CFLAGS),$(FIRMWARE_LDLIBS)))
