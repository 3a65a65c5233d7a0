# The console's line editor and shell over a real pty (tests/integration/test_console_shell.py).
SCRIPT_TESTS += tests/integration/test_console_shell.py
