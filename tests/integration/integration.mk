# End-to-end tests: real coffred processes, SoftHSMv2 and clients on loopback (each script
# provisions its own instance in a mktemp dir and binds port 0). Run by tests/run-unit.sh as
# `bash SCRIPT.sh BUILD_DIR`, or `bash tests/integration/run_py.sh BUILD_DIR SCRIPT.py`; they need $(BUILD)/coffred and $(BUILD)/coffre (PROGRAMS) and,
# for the self-test hook case, $(BUILD)/tests/coffred_th (TEST_EXTRAS, firmware/coffred.mk).
SCRIPT_TESTS += tests/integration/test_boot.sh
SCRIPT_TESTS += tests/integration/test_tls_misuse.sh
SCRIPT_TESTS += tests/integration/test_vcenter_replay.py
SCRIPT_TESTS += tests/integration/test_pykmip_interop.py
SCRIPT_TESTS += tests/integration/test_keypair.py
SCRIPT_TESTS += tests/integration/test_objects.py
SCRIPT_TESTS += tests/integration/test_keypair_get.py
SCRIPT_TESTS += tests/integration/test_keywrap.py
SCRIPT_TESTS += tests/integration/test_crypto.py
SCRIPT_TESTS += tests/integration/test_kmip_semantics.py
SCRIPT_TESTS += tests/integration/test_pykmip_client.py
SCRIPT_TESTS += tests/integration/test_allow.py
SCRIPT_TESTS += tests/integration/test_fair.py
SCRIPT_TESTS += tests/integration/test_audit_remote.py
SCRIPT_TESTS += tests/integration/test_sandbox.py
SCRIPT_TESTS += tests/integration/test_lifecycle_ops.py
SCRIPT_TESTS += tests/integration/test_split.py
SCRIPT_TESTS += tests/integration/test_abuse.py
SCRIPT_TESTS += tests/integration/test_certify.py
