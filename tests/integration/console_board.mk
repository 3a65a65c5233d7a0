# Console `net` / `time` / `reboot` / `shutdown` on the host board over a real pty
# (tests/integration/test_console_board.py).
SCRIPT_TESTS += tests/integration/test_console_board.py
