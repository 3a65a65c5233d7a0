# firmware/accounts/ (passwords, TOTP, lockout, login verdict, dual control) with a real SQLite
# store in a mkdtemp directory; no console.
$(eval $(call unit_test,test_accounts,tests/unit/firmware/test_accounts.c,fw_accounts fw_store board kmip,,$(FIRMWARE_LDLIBS)))
