# Key backup export / restore between two appliances (tests/integration/test_backup.py).
SCRIPT_TESTS += tests/integration/test_backup.py
