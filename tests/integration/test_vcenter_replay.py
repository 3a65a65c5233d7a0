"""Replay the two captured vCenter 7.0.3 sessions against a real coffred over mutual TLS.

usage: test_vcenter_replay.py BUILD_DIR
(provisions a QA instance, starts BUILD_DIR/coffred on port 0, replays with qa.crt, then checks
that coffred is still running and stops cleanly)

The replay itself (connection pattern, captured ids rewritten to ours) is vcenter_lib.py, shared
with test_console_keys.py and test_backup.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl  # noqa: E402
import vcenter_lib as vl  # noqa: E402

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
inst = rl.Instance(build, name="vcenter")
inst.start()

r = vl.replay_instance(inst)
print("replayed %d sessions (%d requests) in %.1f s" % (len(r.order), r.n_requests, r.elapsed))
for b in r.bad[:10]:
    print("   | %s %s: %s" % (b[0], b[1], b[3]))
t.check("every replayed request got a Success response in KMIP 1.1 (%d responses)" % len(r.results),
        not r.bad and len(r.results) == r.n_requests)
t.check("probe connections (handshake then close) all succeeded", not r.errors, "; ".join(r.errors[:3]))
t.check("the two Creates returned two distinct ids", len(set(r.mapping.values())) == 2)

for cid in ("1", "2"):
    uid = r.mapping.get(cid)
    if uid is None:
        t.bad("captured key %s was created" % cid)
        continue
    try:
        attrs = r.get_attributes(uid, ["State"] + list(vl.EXPECT[cid]))
        t.check("key %s (%s) ends Active" % (cid, uid), attrs.get("State") == 2)
        t.check("key %s carries the x- attributes vCenter set" % cid,
                all(attrs.get(k) == v for k, v in vl.EXPECT[cid].items()))
        mats = list(r.get_material[cid]) + [r.get(uid) for _ in range(2)]
        t.check("key %s: Get returns 32 bytes, the same on %d connections" % (cid, len(mats)),
                len(mats) >= 3 and all(isinstance(m, bytes) and len(m) == 32 for m in mats)
                and len(set(mats)) == 1)
    except Exception as e:  # noqa: BLE001  (any error fails the checks of this key)
        t.bad("key %s checks: %r" % (cid, e))
if r.mapping.get("1") and r.mapping.get("2") and r.get_material["1"] and r.get_material["2"]:
    t.check("the two keys differ", r.get_material["1"][0] != r.get_material["2"][0])

t.check("coffred still running after the replay", inst.alive())
rc = inst.stop(5)
t.check("clean stop (rc=%s)" % rc, rc == 0)
if t.failed:
    print("\n".join("   srv| " + line for line in inst.stderr().splitlines()[-30:]))
t.done()
