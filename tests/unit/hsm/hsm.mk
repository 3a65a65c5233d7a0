# hsm tests: real SoftHSMv2, throw-away token directory per run (see hsm_test_util.h)
# -lcrypto only here: OpenSSL verifies what the HSM signed (hsm/ itself never links it)
$(eval $(call unit_test,test_hsm,tests/unit/hsm/test_hsm.c,hsm_th board,$(HSM_CFLAGS),$(HSM_LDLIBS) -lcrypto))
# client key pairs (hsm_kp_generate_wrapped, KWP-then-GCM blobs); OpenSSL parses the PKCS#8
$(eval $(call unit_test,test_hsm_kp,tests/unit/hsm/test_hsm_kp.c,hsm_th board,$(HSM_CFLAGS),$(HSM_LDLIBS) -lcrypto))
$(eval $(call unit_test,test_hsm_keywrap,tests/unit/hsm/test_hsm_keywrap.c,hsm_th board,$(HSM_CFLAGS),$(HSM_LDLIBS) -lcrypto))
