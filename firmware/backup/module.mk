# firmware/backup/: key backup export, import and merge (backup.c, and the import's steps in
# backup_import.c), the store's tables in a body (backup_store.c), and the file format alone
# (backup_fmt.c: no HSM, no store), which tools/coffre links for `coffre backup inspect|verify`.
$(eval $(call fw_module,backup,firmware/backup/backup_fmt.c firmware/backup/backup.c \
	firmware/backup/backup_import.c firmware/backup/backup_store.c))
