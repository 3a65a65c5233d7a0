# firmware/ KMIP operation handlers: real SoftHSMv2 token + real SQLite store, no TLS.
OPS_TEST_LDLIBS := $(FIRMWARE_LDLIBS)
$(eval $(call unit_test,test_ops,tests/unit/firmware/test_ops.c,$(FIRMWARE_LIBS) hsm kmip board,$(HSM_CFLAGS),$(OPS_TEST_LDLIBS)))
