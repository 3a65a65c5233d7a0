# TTLV wire reader/writer: unit tests and the table of malformed inputs 
# (malformed input), the latter also through the message layer (kmip_decode_request).
# Both read ../shared/vectors at run time.
$(eval $(call unit_test,test_ttlv,tests/unit/kmip/test_ttlv.c,kmip board,,))
$(eval $(call unit_test,test_ttlv_malformed,tests/unit/kmip/test_ttlv_malformed.c,kmip board,,))
