# keys part (owner: keys): the console's `kek`, `keys` and `audit` commands, the KEK re-wrap
# job and the store's administration queries.
FIRMWARE_SRCS_PARTS += firmware/console/con_keys.c firmware/kekjob.c firmware/store_admin.c
