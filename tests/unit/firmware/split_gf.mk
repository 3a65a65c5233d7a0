# firmware/ops/split_gf.c: XOR and GF(2^8) Shamir secret sharing (Create / Join Split Key).
$(eval $(call unit_test,test_split_gf,tests/unit/firmware/test_split_gf.c,fw_ops board,,))
