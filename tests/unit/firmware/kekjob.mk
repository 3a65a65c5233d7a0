# firmware/svc/kekjob.c + firmware/store/store_admin.c: real SoftHSMv2 token + real SQLite store.
KEKJOB_TEST_LDLIBS := $(FIRMWARE_LDLIBS)
$(eval $(call unit_test,test_kekjob,tests/unit/firmware/test_kekjob.c,$(FIRMWARE_LIBS) hsm kmip board,$(HSM_CFLAGS),$(KEKJOB_TEST_LDLIBS)))
