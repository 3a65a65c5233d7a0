# The bootable image (docs/appliance.md), behind its own targets; nothing here runs in
# `make test`. Its Debian packages are the `image` group of tools/deps.sh.
#   make image       build/image/{vmlinuz,initramfs.img,run-qemu}
#   make run-image   boots it on this terminal: KMIP on 127.0.0.1:5696, disk var/image/data.img
#   make test-image  tests/image/test_image.py under qemu (TCG where there is no KVM)
IMAGE_DIR := $(BUILD)/image

image: deps-check $(BUILD)/coffred $(BUILD)/coffre
	@bash tools/deps.sh ensure image
	@bash image/build.sh $(BUILD) $(IMAGE_DIR)

run-image: image
	@$(IMAGE_DIR)/run-qemu --disk var/image/data.img --kmip-port 5696 --serial stdio

test-image: image
	@/usr/bin/python3 tests/image/test_image.py $(BUILD)
