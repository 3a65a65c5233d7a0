# hsm tests: real SoftHSMv2, throw-away token directory per run (see hsm_test_util.h)
$(eval $(call unit_test,test_hsm,tests/unit/hsm/test_hsm.c,hsm_th board,$(HSM_CFLAGS),$(HSM_LDLIBS)))
