# firmware/ network layer: tls.c, net.c, identity.c over real OpenSSL mutual TLS on
# 127.0.0.1 (port 0); the engine test makes a throw-away SoftHSMv2 token (softhsm2-util,
# pkcs11-tool from opensc) and loads the server key through libp11's pkcs11 engine.
$(eval $(call unit_test,test_net,tests/unit/firmware/test_net.c tests/unit/firmware/tls_testutil.c,$(FIRMWARE_LIBS) kmip board,,-lssl -lcrypto -lpthread))
