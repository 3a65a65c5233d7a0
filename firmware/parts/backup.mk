# Key backup export / restore (issue 7, docs/backup.md). backup_fmt.c is pure (no HSM, no store):
# tools/coffre links it on its own for `coffre backup inspect|verify`.
FIRMWARE_SRCS_PARTS += firmware/backup_fmt.c firmware/backup.c firmware/store_backup.c
