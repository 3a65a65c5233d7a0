# Console PKI commands (`cert show`, `client ...`) and the store's clients-table queries.
FIRMWARE_SRCS_PARTS += firmware/console/con_pki.c firmware/store_clients.c
