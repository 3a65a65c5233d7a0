# The appliance's states driven from the console: provision --fresh, the init
# ceremony, SEALED/unseal, status, selftest, zeroize and init again, over a real pty.
SCRIPT_TESTS += tests/integration/test_console_init.py
