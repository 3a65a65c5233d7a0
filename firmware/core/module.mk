# firmware/core/: the service context (struct svc, states, clock) and the config loader. The
# bottom of firmware/: every other folder may use it; it uses only board/, hsm/ and kmip/ types.
$(eval $(call fw_module,core,firmware/core/context.c firmware/core/config.c))
