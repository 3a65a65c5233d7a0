# firmware/svc/auditfwd.c's pure helpers (the console's setting): no store, no network.
$(eval $(call unit_test,test_auditfwd,tests/unit/firmware/test_auditfwd.c,$(FIRMWARE_LIBS) hsm kmip board,,$(FIRMWARE_LDLIBS)))
