# sys part (owner: sys): the console's `init`, `unseal`, `status`, `selftest`, `zeroize`
# (firmware/console/con_sys.c; the state changes are svc.c's). svc.c speaks PKCS#11 itself for
# one thing hsm/ has no call for (zeroize: destroy every object on the token), hence the
# p11-kit include path for svc.o (the test-hooks copy is built by firmware/coffred.mk).
FIRMWARE_SRCS_PARTS += firmware/console/con_sys.c
$(BUILD)/obj/firmware/svc.o: CFLAGS_BASE += $(P11_CFLAGS)
