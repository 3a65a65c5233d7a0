# firmware/store/: all SQL. SQLite store (objects, attributes, meta), group commit, the audit
# chain, and the typed rows of administrators, clients, users and backups.
$(eval $(call fw_module,store,firmware/store/store.c firmware/store/commit.c firmware/store/audit.c \
	firmware/store/store_admin.c firmware/store/store_backup.c firmware/store/store_clients.c \
	firmware/store/store_users.c))
