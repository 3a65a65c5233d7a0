# firmware/net/tls.c handshake savings: client chain verification cache (revoked,
# unpinned, expired and reloaded trust still refused), tickets only for clients asking for
# them, the server chain built once; in-memory handshakes, no network.
$(eval $(call unit_test,test_tls_cache,tests/unit/firmware/test_tls_cache.c tests/unit/firmware/tls_cache_tu.c,$(FIRMWARE_LIBS) kmip board,,-lssl -lcrypto -lpthread))
