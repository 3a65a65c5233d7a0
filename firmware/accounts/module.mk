# firmware/accounts/: console administrators: Argon2id passwords, TOTP, lockout, the login
# verdict, dual control. Uses store (the users rows) and board only.
$(eval $(call fw_module,accounts,firmware/accounts/accounts.c firmware/accounts/acct_pw.c \
	firmware/accounts/acct_totp.c firmware/accounts/acct_lockout.c \
	firmware/accounts/acct_login.c firmware/accounts/acct_dual.c))
