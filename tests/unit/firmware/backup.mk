# firmware/backup/backup_fmt.c + bk_verify (firmware/backup/backup.c): format, armor, key, shares; no HSM.
# libgfshare is linked here only: test_shares_libgfshare checks that this build's Shamir shares
# and libgfshare's combine both ways (backups made before the split moved in-house).
$(eval $(call unit_test,test_backup,tests/unit/firmware/test_backup.c,$(FIRMWARE_LIBS) hsm kmip board,$(HSM_CFLAGS),$(FIRMWARE_LDLIBS) -lgfshare))
