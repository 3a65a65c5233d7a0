# HSM fault tests through the fault-injecting PKCS#11 shim (tests/shim/shim.mk):
#   test_p11shim      the shim on its own (raw PKCS#11, SoftHSMv2 behind it)
#   test_hsm_faults   hsm/ with the shim as its module: clean errors on time, recovery
# Both dlopen $(P11SHIM_SO) by absolute path (P11SHIM_PATH); the order-only prerequisite makes
# `make <test>` build it too.
P11SHIM_TEST_CFLAGS := $(P11_CFLAGS) -DP11SHIM_PATH='"$(CURDIR)/$(P11SHIM_SO)"'
$(eval $(call unit_test,test_p11shim,tests/unit/hsm/test_p11shim.c,,$(P11SHIM_TEST_CFLAGS),-ldl -lpthread))
$(BUILD)/tests/test_p11shim: | $(P11SHIM_SO)
ifneq ($(wildcard hsm/hsm.h),)
$(eval $(call unit_test,test_hsm_faults,tests/unit/hsm/test_hsm_faults.c,hsm_th board,$(HSM_CFLAGS) $(P11SHIM_TEST_CFLAGS),$(HSM_LDLIBS)))
$(BUILD)/tests/test_hsm_faults: | $(P11SHIM_SO)
# hsm/crypto.c: the cryptographic services (KATs, OpenSSL interop, faults mid-operation)
$(eval $(call unit_test,test_hsm_crypto,tests/unit/hsm/test_hsm_crypto.c,hsm_th board,$(HSM_CFLAGS) $(P11SHIM_TEST_CFLAGS),$(HSM_LDLIBS) -lcrypto))
$(BUILD)/tests/test_hsm_crypto: | $(P11SHIM_SO)
endif
