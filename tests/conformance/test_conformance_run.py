"""make conformance inside make test: runs tools/conformance.py against BUILD_DIR/coffred.

usage: test_conformance_run.py BUILD_DIR

Every case of CONFORMANCE_REQUIRED (environment, exported by tests/conformance/conformance.mk;
when unset, the default written there) is one check that must PASS; the other cases are
printed as information, since the server work they need is in progress. Also checks that the
run covered every test case file once and ended with its summary line, and that a planted
difference is reported and fails the run exactly when its profile is required (--strict).
"""
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VECTORS = os.path.join(ROOT, "..", "shared", "vectors", "oasis", "kmip-1.4-xml")
passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + what, flush=True)
    else:
        failed += 1
        print("FAIL " + what + (": " + detail if detail else ""), flush=True)


def required():
    val = os.environ.get("CONFORMANCE_REQUIRED")
    if val is None:
        with open(os.path.join(HERE, "conformance.mk")) as f:
            m = re.search(r"^CONFORMANCE_REQUIRED \?=((?:.*\\\n)*.*)$", f.read(), re.M)
        val = m.group(1).replace("\\\n", " ") if m else ""
    return {x for x in re.split(r"[,\s]+", val) if x}


build = sys.argv[1] if len(sys.argv) > 1 else "build"
if not os.path.exists(os.path.join(build, "coffred")):
    print("FAIL not built: %s/coffred" % build)
    print("0 passed, 1 failed")
    sys.exit(1)
need = required()
t0 = time.monotonic()
r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "conformance.py"), "--build", build],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
secs = time.monotonic() - t0
out = r.stdout.decode(errors="replace").splitlines()
results = {}
for line in out:
    m = re.match(r"^(PASS|FAIL|N/A) (\S+?)(?::|$)", line)
    if m:
        results[m.group(2)] = (m.group(1), line)
check("the runner ran (rc=%d, %.1f s)" % (r.returncode, secs), r.returncode == 0,
      r.stderr.decode(errors="replace")[-500:])
files = {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(VECTORS, "*", "*.xml"))}
check("one line per test case file (%d)" % len(files), set(results) == files and len(files) > 0,
      "missing %s" % sorted(files - set(results))[:5])
m = re.fullmatch(r"conformance: (\d+) passed, (\d+) failed, (\d+) not applicable", out[-1] if out else "")
counts = [sum(1 for v in results.values() if v[0] == s) for s in ("PASS", "FAIL", "N/A")]
check("last line is the summary and matches the case lines", m is not None and
      [int(x) for x in m.groups()] == counts, out[-1] if out else "no output")
for name in sorted(results):
    status, line = results[name]
    prof = re.match(r"(.+?)-[MO]-", name)
    if name in need or (prof and prof.group(1) in need):
        check("required: " + line, status == "PASS")
    else:
        print("info " + line)

# --strict against a planted difference: a copy of SKFF-M-1-14 whose Create answer expects a
# Secret Data must FAIL at step 1 with that path, and fail the run only when SKFF is required.
with tempfile.TemporaryDirectory(prefix="coffre-conf-plant.") as vec:
    os.mkdir(os.path.join(vec, "mandatory"))
    with open(os.path.join(VECTORS, "mandatory", "SKFF-M-1-14.xml")) as f:
        text = f.read()
    resp = text.index("<ResponseMessage>")
    text = text[:resp] + text[resp:].replace('value="SymmetricKey"', 'value="SecretData"', 1)
    with open(os.path.join(vec, "mandatory", "SKFF-M-1-14.xml"), "w") as f:
        f.write(text)
    base = ["/usr/bin/python3", os.path.join(ROOT, "tools", "conformance.py"), "--build", build, "--vectors", vec]
    rcs = {}
    for flag in ("", "--strict=SKLC", "--strict=SKFF", "--strict"):
        p = subprocess.run(base + ([flag] if flag else []), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        rcs[flag] = (p.returncode, p.stdout.decode(errors="replace").splitlines())
    lines = rcs[""][1]
    check("planted difference reported: %s" % (lines[0] if lines else "no output"), bool(lines) and lines[0] ==
          "FAIL SKFF-M-1-14: step 1 (Create): ResponseMessage/BatchItem/ResponsePayload/ObjectType: "
          "expected SecretData, got SymmetricKey")
    check("exit status 0 without --strict and with --strict=SKLC, 1 with --strict=SKFF and --strict",
          [rcs[k][0] for k in ("", "--strict=SKLC", "--strict=SKFF", "--strict")] == [0, 0, 1, 1],
          str({k: v[0] for k, v in rcs.items()}))
print("%d passed, %d failed" % (passed, failed), flush=True)
sys.exit(0 if failed == 0 else 1)
