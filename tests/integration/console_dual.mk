# Dual control end to end over a real pty: a second administrator approves `backup export` and
# `zeroize`, then the export restores on a fresh appliance with the account and its TOTP
# (tests/integration/test_console_dual.py; needs $(BUILD)/tests/coffred_th).
SCRIPT_TESTS += tests/integration/test_console_dual.py
