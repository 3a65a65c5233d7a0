# KMIP message layer (kmip_msg.c, kmip_payload.c, kmip_attr.c, kmip_obj.c, kmip_err.c)
$(eval $(call unit_test,test_kmip_vectors,tests/unit/kmip/test_kmip_vectors.c,kmip board,,))
$(eval $(call unit_test,test_kmip_msg,tests/unit/kmip/test_kmip_msg.c,kmip board,,))
$(eval $(call unit_test,test_kmip_kp,tests/unit/kmip/test_kmip_kp.c,kmip board,,))
$(eval $(call unit_test,test_kmip_crypto,tests/unit/kmip/test_kmip_crypto.c,kmip board,,))
$(eval $(call unit_test,test_kmip_life,tests/unit/kmip/test_kmip_life.c,kmip board,,))
$(eval $(call unit_test,test_kmip_split,tests/unit/kmip/test_kmip_split.c,kmip board,,))
$(eval $(call unit_test,test_kmip_cert,tests/unit/kmip/test_kmip_cert.c,kmip board,,))
# The same binary, in its --decode mode, decodes the OASIS 1.4 cryptographic services test
# cases' messages (encoded by tools/kmipxml.py): test_kmip_crypto_oasis.py.
SCRIPT_TESTS += tests/unit/kmip/test_kmip_crypto_oasis.py
TEST_EXTRAS += $(BUILD)/tests/test_kmip_crypto
