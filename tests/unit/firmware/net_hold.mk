# firmware/net/net.c held responses (group commit's side of the network layer) over real mutual TLS.
$(eval $(call unit_test,test_net_hold,tests/unit/firmware/test_net_hold.c tests/unit/firmware/net_hold_tu.c,$(FIRMWARE_LIBS) kmip board,,-lssl -lcrypto -lpthread))
