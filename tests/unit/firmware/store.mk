# firmware/ store, audit log and config: real SQLite files in a mkdtemp directory.
FIRMWARE_STORE_LDLIBS := $(FIRMWARE_LDLIBS)
$(eval $(call unit_test,test_store,tests/unit/firmware/test_store.c,$(FIRMWARE_LIBS) board,,$(FIRMWARE_STORE_LDLIBS)))
$(eval $(call unit_test,test_audit,tests/unit/firmware/test_audit.c,$(FIRMWARE_LIBS) board,,$(FIRMWARE_STORE_LDLIBS)))
$(eval $(call unit_test,test_config,tests/unit/firmware/test_config.c,$(FIRMWARE_LIBS) board,,$(FIRMWARE_STORE_LDLIBS)))
