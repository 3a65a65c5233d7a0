# firmware/ops/: KMIP operations: dispatch (ops.c: the table with the role policy, the request
# phases), the worker (ops_worker.c), the handlers' helpers (ops_util.c), policy, one file per
# operation family.
$(eval $(call fw_module,ops,firmware/ops/authz.c firmware/ops/authz_cred.c firmware/ops/ops.c \
	firmware/ops/ops_worker.c firmware/ops/ops_util.c firmware/ops/ops_attr.c firmware/ops/ops_attr_set.c \
	firmware/ops/ops_create.c firmware/ops/ops_discover.c firmware/ops/ops_get.c \
	firmware/ops/ops_locate.c firmware/ops/ops_state.c firmware/ops/ops_wrap.c \
	firmware/ops/ops_rekey.c firmware/ops/ops_check.c firmware/ops/ops_keyfmt.c \
	firmware/ops/ops_srvattr.c firmware/ops/ops_keypair.c \
	firmware/ops/ops_crypto.c firmware/ops/ops_derive.c firmware/ops/ops_life.c \
	firmware/ops/ops_split.c firmware/ops/split_gf.c firmware/ops/ops_certify.c))
