# firmware/provision/: QA and fresh-appliance provisioning (`coffred provision`).
$(eval $(call fw_module,provision,firmware/provision/provision.c))
