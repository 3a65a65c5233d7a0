# Key backup export / restore (issue 7, docs/backup.md). backup_fmt.c is pure (no HSM, no store):
# tools/coffre links it on its own for `coffre backup inspect|verify`.
FIRMWARE_SRCS_PARTS += firmware/backup_fmt.c firmware/backup.c firmware/store_backup.c
# The console's `backup export|import` (firmware/console/con_backup.c).
FIRMWARE_SRCS_PARTS += firmware/console/con_backup.c
