# firmware/: the service. Each line is owned by one part of the service.
FIRMWARE_SRCS_STORE := firmware/store.c firmware/audit.c firmware/config.c
FIRMWARE_SRCS_NET   := firmware/tls.c firmware/net.c firmware/identity.c
FIRMWARE_SRCS_SVC   := firmware/svc.c firmware/ca.c firmware/provision.c
FIRMWARE_SRCS_OPS   := firmware/authz.c firmware/ops.c firmware/ops_attr.c firmware/ops_create.c \
                       firmware/ops_discover.c firmware/ops_get.c firmware/ops_locate.c firmware/ops_state.c
# Every program or test that links libfirmware.a links these.
FIRMWARE_LDLIBS := -lsqlite3 -linih -lssl -lcrypto -ldl -lpthread -largon2 -lqrencode -lgfshare
# One fragment per part that adds sources: firmware/parts/*.mk, each appending to
# FIRMWARE_SRCS_PARTS (console shell, accounts, PKI commands, keys, KEK job, backup...).
FIRMWARE_SRCS_PARTS :=
-include $(sort $(wildcard firmware/parts/*.mk))
FIRMWARE_SRCS := $(FIRMWARE_SRCS_STORE) $(FIRMWARE_SRCS_NET) $(FIRMWARE_SRCS_OPS) $(FIRMWARE_SRCS_SVC) \
                 $(FIRMWARE_SRCS_PARTS)
$(eval $(call module_lib,firmware,$(FIRMWARE_SRCS),))
-include firmware/coffred.mk
