# firmware/pki/: the appliance CA and certificates signed with keys inside the HSM.
$(eval $(call fw_module,pki,firmware/pki/ca.c firmware/pki/appliance.c firmware/pki/certpol.c))
