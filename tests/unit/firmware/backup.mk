# firmware/backup_fmt.c + bk_verify (firmware/backup.c): format, armor, key, shares; no HSM.
$(eval $(call unit_test,test_backup,tests/unit/firmware/test_backup.c,firmware hsm kmip board,$(HSM_CFLAGS),$(FIRMWARE_LDLIBS)))
