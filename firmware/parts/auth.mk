# Console accounts (owner: auth): con_auth.c (login, TOTP, lockout, dual control, `user`,
# `approve`, `pending`) and the typed SQL of the users table.
FIRMWARE_SRCS_PARTS += firmware/console/con_auth.c firmware/store_users.c
