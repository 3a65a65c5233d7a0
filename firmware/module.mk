# firmware/: the service. Each line is owned by one part of the service.
FIRMWARE_SRCS_STORE := firmware/store.c firmware/audit.c firmware/config.c
FIRMWARE_SRCS_NET   := firmware/tls.c firmware/net.c firmware/identity.c
FIRMWARE_SRCS := $(FIRMWARE_SRCS_STORE) $(FIRMWARE_SRCS_NET)
$(eval $(call module_lib,firmware,$(FIRMWARE_SRCS),))
