# Console accounts over a real pty: login, first-login password change and TOTP enrolment,
# lockout, dual control with the clock moved by COFFRE_TEST_CLOCK (tests/integration/
# test_console_auth.py; needs $(BUILD)/tests/coffred_th).
SCRIPT_TESTS += tests/integration/test_console_auth.py
