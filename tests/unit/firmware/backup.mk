# firmware/backup/backup_fmt.c + bk_verify (firmware/backup/backup.c): format, armor, key, shares; no HSM.
$(eval $(call unit_test,test_backup,tests/unit/firmware/test_backup.c,$(FIRMWARE_LIBS) hsm kmip board,$(HSM_CFLAGS),$(FIRMWARE_LDLIBS)))
