# firmware/console/: the TTY user interface: line editing and output (con_io.c), the thread,
# its loop and dispatch (con_shell.c), and the commands, each calling the folders below.
$(eval $(call fw_module,console,firmware/console/con_io.c firmware/console/con_shell.c \
	firmware/console/con_auth.c firmware/console/con_sys.c firmware/console/con_keys.c \
	firmware/console/con_pki.c firmware/console/con_backup.c firmware/console/con_net.c))
