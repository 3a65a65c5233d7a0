# firmware/console/con_auth.c (accounts, TOTP, lockout, dual control) and firmware/store/store_users.c:
# real SQLite store in a mkdtemp directory, console I/O replaced by a script in the test.
$(eval $(call unit_test,test_con_auth,tests/unit/firmware/test_con_auth.c,$(FIRMWARE_LIBS) board,,$(FIRMWARE_LDLIBS)))
