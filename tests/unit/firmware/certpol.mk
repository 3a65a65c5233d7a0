# The KMIP Certify CA's acceptance rules (firmware/pki/certpol.c): pure, OpenSSL only.
$(eval $(call unit_test,test_certpol,tests/unit/firmware/test_certpol.c,fw_pki board,,-lcrypto))
