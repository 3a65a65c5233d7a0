# firmware/backup/: key backup export, import and merge (backup.c); the file format alone
# (backup_fmt.c: no HSM, no store), which tools/coffre links for `coffre backup inspect|verify`.
$(eval $(call fw_module,backup,firmware/backup/backup_fmt.c firmware/backup/backup.c))
