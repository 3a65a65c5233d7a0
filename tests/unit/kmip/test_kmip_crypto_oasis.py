"""The C decoder on the OASIS KMIP 1.4 cryptographic services test cases' messages.

usage: test_kmip_crypto_oasis.py BUILD_DIR     (run by tests/integration/run_py.sh)

Every Request and Response Message of ../shared/vectors/oasis/kmip-1.4-xml/mandatory/CS-BC-*,
CS-AC-*, CS-RNG-* and optional/CS-RNG-* is encoded to TTLV with the conformance runner's
encoder (tools/kmipxml.py), its placeholders ($UNIQUE_IDENTIFIER_0, $NOW, $DATA, ...) given
stand-in values of their type, and decoded by BUILD_DIR/tests/test_kmip_crypto --decode
(kmip_decode_request / kmip_decode_response). Checks: every message decodes, every batch item
of a cryptographic operation that has a payload decodes typed, and each of Encrypt, Decrypt,
Sign, Signature Verify, MAC, MAC Verify, Hash, RNG Retrieve and RNG Seed is met typed in
requests and in responses.
"""
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import kmipxml as kx  # noqa: E402

VECTORS = os.path.join(ROOT, "..", "shared", "vectors", "oasis", "kmip-1.4-xml")
CRYPTO_OPS = {0x1F: "Encrypt", 0x20: "Decrypt", 0x21: "Sign", 0x22: "Signature Verify",
              0x23: "MAC", 0x24: "MAC Verify", 0x25: "RNG Retrieve", 0x26: "RNG Seed",
              0x27: "Hash"}
passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL " + what + (": " + detail if detail else ""), flush=True)
    return cond


def stand_in(item):
    """The item with each placeholder replaced by a value of its type."""
    tag, typ, val = item
    if typ == kx.STRUCT:
        return kx.Item(tag, typ, [stand_in(c) for c in val])
    if not isinstance(val, kx.Placeholder):
        return item
    if val.is_now:
        return kx.Item(tag, typ, 1700000000 + val.offset)
    if typ == kx.TEXT:
        return kx.Item(tag, typ, "uid-" + val.text.rsplit("_", 1)[-1])
    if typ in (kx.BYTES, kx.BIGINT):
        return kx.Item(tag, typ, bytes(range(16)))
    if typ == kx.BOOL:
        return kx.Item(tag, typ, False)
    return kx.Item(tag, typ, 0)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    binary = os.path.join(build, "tests", "test_kmip_crypto")
    paths = sorted(glob.glob(os.path.join(VECTORS, "mandatory", "CS-BC-*.xml")) +
                   glob.glob(os.path.join(VECTORS, "mandatory", "CS-AC-*.xml")) +
                   glob.glob(os.path.join(VECTORS, "mandatory", "CS-RNG-*.xml")) +
                   glob.glob(os.path.join(VECTORS, "optional", "CS-RNG-*.xml")))
    check("test cases found", len(paths) >= 40, "%d files" % len(paths))
    tables = kx.Tables()
    lines, where = [], []
    for p in paths:
        case = kx.load_case(tables, p)
        for i, (req, rsp) in enumerate(case.steps):
            for kind, msg in (("req", req), ("rsp", rsp)):
                lines.append("%s %s\n" % (kind, kx.encode(stand_in(msg)).hex()))
                where.append("%s step %d %s" % (case.name, i + 1, kind))
    out = subprocess.run([binary, "--decode"], input="".join(lines), capture_output=True,
                         text=True, timeout=120)
    results = out.stdout.splitlines()
    check("one result per message", len(results) == len(lines),
          "%d messages, %d results; stderr: %s" % (len(lines), len(results), out.stderr[-500:]))
    seen = {"req": set(), "rsp": set()}
    for w, r in zip(where, results):
        if not check(w + " decodes", r.startswith("ok"), r):
            continue
        kind = w.rsplit(" ", 1)[1]
        for pair in r.split()[1:]:
            op, typed = pair.split(":")
            op = int(op)
            if op not in CRYPTO_OPS or typed == "-":
                continue
            if check("%s %s typed" % (w, CRYPTO_OPS[op]), typed == "1", pair):
                seen[kind].add(op)
    for kind in ("req", "rsp"):
        missing = sorted(CRYPTO_OPS[o] for o in set(CRYPTO_OPS) - seen[kind])
        check("every cryptographic operation met typed in a %s" % kind, not missing,
              "not met: " + ", ".join(missing))
    print("%d messages of %d test cases decoded" % (len(lines), len(paths)))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
