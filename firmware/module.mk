# firmware/: the service, one folder per concern (docs/architecture.md). Each folder lists its
# sources in its own module.mk and builds one archive, $(BUILD)/libfw_<folder>.a.
#
# FIRMWARE_LIBS names them top first, the order a link needs (an archive only uses the ones
# after it); FIRMWARE_ARCHIVES are their paths. A program or test that links them also links
# FIRMWARE_LDLIBS.
FIRMWARE_LDLIBS := -lsqlite3 -linih -lssl -lcrypto -ldl -lpthread -largon2 -lqrencode -lseccomp
FIRMWARE_DIRS := console provision svc ops net backup pki accounts store core

# fw_module(folder, sources): $(BUILD)/libfw_<folder>.a
define fw_module
$(call module_lib,fw_$(1),$(2),)
FIRMWARE_SRCS += $(2)
endef

FIRMWARE_SRCS :=
$(foreach d,$(FIRMWARE_DIRS),$(eval include firmware/$(d)/module.mk))
FIRMWARE_LIBS := $(patsubst %,fw_%,$(FIRMWARE_DIRS))
FIRMWARE_ARCHIVES := $(patsubst %,$(BUILD)/lib%.a,$(FIRMWARE_LIBS))
include firmware/coffred.mk
