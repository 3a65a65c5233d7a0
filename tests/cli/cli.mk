# Command-line tools' own tests: tools/archcheck.py (make lint's architecture check) against
# altered copies of docs/architecture.md, on the build's objects.
SCRIPT_TESTS += tests/cli/test_archcheck.sh
