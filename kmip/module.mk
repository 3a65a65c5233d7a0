# kmip/: protocol codec, no I/O. Each line is owned by one part of the codec.
KMIP_SRCS_WIRE   := kmip/ttlv_rd.c kmip/ttlv_wr.c
KMIP_SRCS_TABLES := kmip/kmip_tables_gen.c kmip/kmip_tags.c kmip/kmip_dump.c
KMIP_SRCS_MSG    := kmip/kmip_arena.c kmip/kmip_codec.c kmip/kmip_attr.c kmip/kmip_obj.c kmip/kmip_payload.c kmip/kmip_kp.c kmip/kmip_crypto.c kmip/kmip_life.c kmip/kmip_split.c kmip/kmip_cert.c kmip/kmip_msg.c kmip/kmip_err.c kmip/kmip_wrap.c
KMIP_SRCS := $(KMIP_SRCS_WIRE) $(KMIP_SRCS_TABLES) $(KMIP_SRCS_MSG)
$(eval $(call module_lib,kmip,$(KMIP_SRCS),))
