"""Replay the two captured vCenter 7.0.3 sessions against a real coffred over mutual TLS.

usage: test_vcenter_replay.py PORT CA CERT KEY
(run by test_vcenter_replay.sh, which provisions and starts the instance)

The replay itself (connection pattern, captured ids rewritten to ours) is vcenter_lib.py, shared
with test_console_keys.py and test_backup.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vcenter_lib as vl  # noqa: E402

port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
passed = failed = 0


def check(desc, cond):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + desc)
    else:
        failed += 1
        print("FAIL " + desc)
    return cond


r = vl.replay(port, ca, cert, key)
print("replayed %d sessions (%d requests) in %.1f s" % (len(r.order), r.n_requests, r.elapsed))
for b in r.bad[:10]:
    print("   | %s %s: %s" % (b[0], b[1], b[3]))
check("every replayed request got a Success response in KMIP 1.1 (%d responses)" % len(r.results),
      not r.bad and len(r.results) == r.n_requests)
check("probe connections (handshake then close) all succeeded", not r.errors)
check("the two Creates returned two distinct ids", len(set(r.mapping.values())) == 2)

for cid in ("1", "2"):
    uid = r.mapping.get(cid)
    if uid is None:
        check("captured key %s was created" % cid, False)
        continue
    try:
        attrs = r.get_attributes(uid, ["State"] + list(vl.EXPECT[cid]))
        check("key %s (%s) ends Active" % (cid, uid), attrs.get("State") == 2)
        check("key %s carries the x- attributes vCenter set" % cid,
              all(attrs.get(k) == v for k, v in vl.EXPECT[cid].items()))
        mats = list(r.get_material[cid]) + [r.get(uid) for _ in range(2)]
        check("key %s: Get returns 32 bytes, the same on %d connections" % (cid, len(mats)),
              len(mats) >= 3 and all(isinstance(m, bytes) and len(m) == 32 for m in mats)
              and len(set(mats)) == 1)
    except Exception as e:  # noqa: BLE001
        check("key %s checks: %r" % (cid, e), False)
if r.mapping.get("1") and r.mapping.get("2") and r.get_material["1"] and r.get_material["2"]:
    check("the two keys differ", r.get_material["1"][0] != r.get_material["2"][0])

print("%d passed, %d failed" % (passed, failed))
sys.exit(0 if failed == 0 else 1)
