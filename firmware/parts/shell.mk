# Console shell part (owner: shell): the line editor and output (con_io.c), the console thread,
# its loop, help and logout (con_shell.c). docs/console/shell.md.
FIRMWARE_SRCS_PARTS += firmware/console/con_io.c firmware/console/con_shell.c
