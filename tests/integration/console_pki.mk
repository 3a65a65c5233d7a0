# console PKI commands (cert show, client sign-csr|issue|trust|list|revoke) with PyKMIP
SCRIPT_TESTS += tests/integration/test_console_pki.py
