"""Replay the two captured vCenter 7.0.3 sessions against a real coffred over mutual TLS.

usage: test_vcenter_replay.py PORT CA CERT KEY
(run by test_vcenter_replay.sh, which provisions and starts the instance)

Connection pattern as captured: one new connection per session id, the sessions started in
capture order and run concurrently where they overlap, probe connections (handshake, then
close) before sessions and in parallel. The captured ids "1" and "2" (the 1st and 2nd Create)
are rewritten to the ids our server returned; a request naming one waits for its Create."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kmipwire as kw  # noqa: E402

VECTORS = "../shared/vectors/vcenter-7.0.3/requests.txt"
port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
passed = failed = 0
lock = threading.Lock()
errors = []


def check(desc, cond):
    global passed, failed
    with lock:
        if cond:
            passed += 1
            print("ok   " + desc)
        else:
            failed += 1
            print("FAIL " + desc)
    return cond


sessions = {}      # session -> list of (index, op, hex)
order = []
n_create = 0
creates = {}       # line index -> captured id
with open(VECTORS) as f:
    for i, line in enumerate(f):
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split()
        sess, hexmsg = parts[0], parts[-1]
        op = parts[1] if len(parts) == 3 else "ADD_ATTRIBUTE"
        if sess not in sessions:
            sessions[sess] = []
            order.append(sess)
        if op == "CREATE":
            n_create += 1
            creates[i] = str(n_create)
        sessions[sess].append((i, op, hexmsg))

mapping = {}
mapped = {"1": threading.Event(), "2": threading.Event()}
get_material = {"1": [], "2": []}
results = []   # (session, op, ok, detail)


def captured_ids(tree):
    return {v for (t, ty, v) in kw.walk(tree) if t == kw.T_UID and ty == kw.TEXT and v in mapped}


def probe():
    try:
        c = kw.Conn(port, ca, cert, key)
        c.close()
        return True
    except Exception as e:  # noqa: BLE001
        with lock:
            errors.append("probe: %r" % e)
        return False


def run_session(sess):
    try:
        conn = kw.Conn(port, ca, cert, key)
    except Exception as e:  # noqa: BLE001
        results.append((sess, "connect", False, repr(e)))
        return
    try:
        for idx, op, hexmsg in sessions[sess]:
            tree = kw.decode(bytes.fromhex(hexmsg))
            for cid in sorted(captured_ids(tree)):
                if not mapped[cid].wait(30):
                    results.append((sess, op, False, "Create of captured id %s never answered" % cid))
                    return
            tree = kw.rewrite_uids(tree, mapping)
            want = kw.find(tree, 0x42000D)
            resp = conn.call(kw.encode(tree))
            items = kw.batch_items(resp)
            ok = len(items) == want
            detail = "%d items for %d" % (len(items), want)
            for it in items:
                st, reason, msg = kw.item_result(it)
                if st != 0:
                    ok = False
                    detail = "status %s reason %s %s" % (st, reason, msg)
            ver = (kw.find(resp, 0x42006A), kw.find(resp, 0x42006B))
            if ver != (1, 1):
                ok, detail = False, "response version %s" % (ver,)
            results.append((sess, op, ok, detail))
            if not ok:
                return
            if op == "CREATE":
                uid = kw.find(resp, kw.T_UID)
                cid = creates[idx]
                mapping[cid] = uid
                mapped[cid].set()
            if op == "GET":
                uid = kw.find(resp, kw.T_UID)
                for cid, u in mapping.items():
                    if u == uid:
                        get_material[cid].append(kw.find(resp, kw.T_KEY_MATERIAL))
    except Exception as e:  # noqa: BLE001
        results.append((sess, "?", False, repr(e)))
    finally:
        conn.close()


threads = []
t0 = time.time()
for n, sess in enumerate(order):
    if n % 2 == 0:
        pt = threading.Thread(target=probe)     # a probe in parallel with the session
        pt.start()
        threads.append(pt)
    else:
        probe()                                 # a probe right before it
    t = threading.Thread(target=run_session, args=(sess,))
    t.start()
    threads.append(t)
    time.sleep(0.02)
for t in threads:
    t.join(120)
print("replayed %d sessions (%d requests) in %.1f s" %
      (len(order), sum(len(v) for v in sessions.values()), time.time() - t0))

bad = [r for r in results if not r[2]]
for r in bad[:10]:
    print("   | %s %s: %s" % (r[0], r[1], r[3]))
check("every replayed request got a Success response in KMIP 1.1 (%d responses)" % len(results),
      not bad and len(results) == sum(len(v) for v in sessions.values()))
check("probe connections (handshake then close) all succeeded", not errors)
check("the two Creates returned two distinct ids", len(set(mapping.values())) == 2)

expect = {
    "1": {"x-Product_Version": "7.0.3 build-19480866", "x-Vendor": "VMware, Inc.",
          "x-Product": "VMware vSphere", "x-Identifier": "4226f566-3ed5-1c8f-cda3-b0b037b6dc97",
          "x-Component": "Virtual Machine", "x-Name": "test01"},
    "2": {"x-Product_Version": "7.0.3 build-19480866", "x-Vendor": "VMware, Inc.",
          "x-Product": "VMware vSphere", "x-Identifier": "8c164d56-7f1c-5960-63e6-4451c6181844",
          "x-Component": "ESXi Server", "x-Name": "172.16.220.132"},
}
for cid in ("1", "2"):
    uid = mapping.get(cid)
    if uid is None:
        check("captured key %s was created" % cid, False)
        continue
    try:
        c = kw.Conn(port, ca, cert, key)
        resp = c.call(kw.request(0x0B, kw.attr_names_payload(uid, ["State"] + list(expect[cid]))))
        attrs = {}
        for a in kw.find_all(resp, kw.T_ATTRIBUTE):
            attrs[kw.find(a[2], kw.T_ATTR_NAME)] = kw.find(a[2], kw.T_ATTR_VALUE)
        c.close()
        check("key %s (%s) ends Active" % (cid, uid), attrs.get("State") == 2)
        check("key %s carries the x- attributes vCenter set" % cid,
              all(attrs.get(k) == v for k, v in expect[cid].items()))
        mats = list(get_material[cid])
        for _ in range(2):
            c = kw.Conn(port, ca, cert, key)
            r = c.call(kw.request(0x0A, [(kw.T_UID, kw.TEXT, uid)]))
            mats.append(kw.find(r, kw.T_KEY_MATERIAL))
            c.close()
        check("key %s: Get returns 32 bytes, the same on %d connections" % (cid, len(mats)),
              len(mats) >= 3 and all(isinstance(m, bytes) and len(m) == 32 for m in mats)
              and len(set(mats)) == 1)
    except Exception as e:  # noqa: BLE001
        check("key %s checks: %r" % (cid, e), False)
if mapping.get("1") and mapping.get("2") and get_material["1"] and get_material["2"]:
    check("the two keys differ", get_material["1"][0] != get_material["2"][0])

print("%d passed, %d failed" % (passed, failed))
sys.exit(0 if failed == 0 else 1)
