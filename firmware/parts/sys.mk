# sys part (owner: sys): the console's `init`, `unseal`, `status`, `selftest`, `zeroize`
# (firmware/console/con_sys.c; the state changes are svc.c's).
FIRMWARE_SRCS_PARTS += firmware/console/con_sys.c
