# The bootable image (docs/appliance.md), behind its own targets; nothing here runs in
# `make test`. Its Debian packages are the `image` group of tools/deps.sh.
#   make image       build/image/{vmlinuz,initramfs.img,run-qemu}
#   make run-image   boots it on this terminal: KMIP on 127.0.0.1:5696, disk var/image/data.img
#   make test-image  tests/image/test_image.py under qemu (TCG where KVM cannot run it), on
#                    build/image and build/image-th (IMAGE_TEST_HOOKS=1)
# The image's coffred and coffre are built for board/appliance (board/host while the tree has
# no board/appliance) in a build directory of their own.
IMAGE_DIR := $(BUILD)/image
IMAGE_BOARD := $(if $(wildcard board/appliance/board_appliance.c),appliance,host)
IMAGE_BUILD := $(BUILD)/board-$(IMAGE_BOARD)
IMAGE_OPT := $(OPT)
# IMAGE_TEST_HOOKS=1: the same image with coffred built with -DCOFFRE_IMAGE_TEST_HOOKS (the
# console's `test hang`, `test fill`, `test unfill`, `test rss`), in build directories of its
# own: build/image-th; test-image uses both
ifeq ($(IMAGE_TEST_HOOKS),1)
  IMAGE_DIR := $(BUILD)/image-th
  IMAGE_BUILD := $(BUILD)/board-$(IMAGE_BOARD)-th
  IMAGE_OPT := $(OPT) -DCOFFRE_IMAGE_TEST_HOOKS
endif

image: deps-check
	@bash tools/deps.sh ensure image
	@$(MAKE) --no-print-directory -j$(JOBS) BOARD=$(IMAGE_BOARD) BUILD=$(IMAGE_BUILD) OPT="$(IMAGE_OPT)" \
	  $(IMAGE_BUILD)/coffred $(IMAGE_BUILD)/coffre
	@bash image/build.sh $(IMAGE_BUILD) $(IMAGE_DIR)

run-image: image
	@$(IMAGE_DIR)/run-qemu --disk var/image/data.img --kmip-port 5696 --serial stdio

test-image: image
	@$(MAKE) --no-print-directory image IMAGE_TEST_HOOKS=1
	@/usr/bin/python3 tests/image/test_image.py $(BUILD)
