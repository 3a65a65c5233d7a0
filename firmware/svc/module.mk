# firmware/svc/: the appliance states (boot, unseal, init, zeroize, self-tests) and the KEK
# re-wrap job, the remote audit sender.
$(eval $(call fw_module,svc,firmware/svc/svc.c firmware/svc/kekjob.c firmware/svc/auditfwd.c))
