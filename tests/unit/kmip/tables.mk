# KMIP tag/type/enumeration tables and the TTLV tree printer.
$(eval $(call unit_test,test_kmip_tags,tests/unit/kmip/test_kmip_tags.c,kmip board,,))
$(eval $(call unit_test,test_kmip_dump,tests/unit/kmip/test_kmip_dump.c,kmip board,,))
SCRIPT_TESTS += tests/cli/test_coffre_ttlv.sh
