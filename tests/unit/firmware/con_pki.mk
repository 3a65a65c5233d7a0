# Console PKI commands (con_pki.c) with a real SoftHSMv2 CA key, a real store and tls.c's
# SSL_CTX (in-memory handshakes); the console I/O is stubbed in the test.
$(eval $(call unit_test,test_con_pki,tests/unit/firmware/test_con_pki.c,$(FIRMWARE_LIBS) hsm kmip board,$(HSM_CFLAGS),$(FIRMWARE_LDLIBS)))
