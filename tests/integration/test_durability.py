"""Durability under SIGKILL ("kill -9"): several client
connections stream Creates (each followed by a Get that records the key's 32 bytes) and
Destroys; coffred is killed with SIGKILL at a random point, restarted, and then
  - every key whose Create was acknowledged is there, with the bytes its first Get returned;
  - no key whose Destroy was acknowledged came back (Get fails);
  - a Destroy in flight at the kill resolves one way and stays that way;
  - every restart reaches the ready line (coffred's own integrity check at boot), and every
    few kills `PRAGMA quick_check` on the store says ok.
After each restart the keys of the last round plus a random sample of older ones are checked;
at the end every key is checked.

    python3 tests/integration/test_durability.py BUILD_DIR [--kills N]   (default 20)
Environment: ROBUST_SEED, ROBUST_KILLS, ROBUST_CLIENTS (default 3), ROBUST_KEEP=1.
"""
import argparse
import os
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--kills", type=int, default=int(os.environ.get("ROBUST_KILLS", "20")))
ap.add_argument("--clients", type=int, default=int(os.environ.get("ROBUST_CLIENTS", "3")))
ap.add_argument("--sample", type=int, default=200, help="older keys re-checked per restart")
ap.add_argument("--quick-check-every", type=int, default=5)
args = ap.parse_args()
rl.require_built(args.build)
t = rl.Tally()
r = rl.rng()

inst = rl.Instance(args.build, name="durab")
store_db = os.path.join(inst.dir, "data", "store.db")

# uid -> 32 bytes (None: Create acknowledged, Get not answered before the kill)
live = {}
destroyed = set()      # Destroy acknowledged
doubt = set()          # Destroy sent, no answer before the kill
lock = threading.Lock()
stats = dict(creates=0, destroys=0, gets=0, kills=0, restarts=0, checked=0, quick_checks=0)
problems = []          # (what, uid, detail) -- the invariant violations


def problem(what, uid, detail=""):
    problems.append((what, uid, detail))
    if len(problems) <= 20:
        print("  VIOLATION %s %s %s" % (what, uid, detail), flush=True)


def load_thread(idx, stop, round_new, round_destroyed):
    rr = rl.random.Random(r.random())
    mine = []   # uids this thread created this round, with known bytes (destroy candidates)
    try:
        c = inst.client(timeout=10)
    except (OSError, rl.Closed) as e:
        if not stop.is_set():   # no kill yet: the server must accept the connection
            problem("connection refused under load", "", "%s: %s" % (type(e).__name__, e))
        return
    try:
        while not stop.is_set():
            if mine and rr.random() < 0.25:
                uid = mine.pop(rr.randrange(len(mine)))
                with lock:
                    doubt.add(uid)
                c.destroy(uid)
                with lock:
                    doubt.discard(uid)
                    live.pop(uid, None)
                    destroyed.add(uid)
                    round_destroyed.append(uid)
                    stats["destroys"] += 1
                continue
            uid = c.create_aes(256)
            with lock:
                live[uid] = None
                round_new.append(uid)
                stats["creates"] += 1
            key = c.get(uid)
            if len(key) != 32:
                problem("Get after Create returned %d bytes" % len(key), uid)
            with lock:
                live[uid] = key
                stats["gets"] += 1
            mine.append(uid)
    except rl.KmipError as e:
        if not stop.is_set():
            problem("KMIP failure under load", "", str(e))
    except (OSError, rl.Closed, rl.DecodeError) as e:
        # the kill (stop is set before it): connection reset / EOF / TLS error; before it,
        # the connection must not fail
        if not stop.is_set():
            problem("connection failed under load", "", "%s: %s" % (type(e).__name__, e))
    finally:
        c.close()


def get_many(c, uids):
    """-> {uid: bytes | KmipError}; batches of 32 Gets, one at a time where a batch fails."""
    out = {}
    for k in range(0, len(uids), 32):
        part = uids[k:k + 32]
        req = rl.request([(rl.OP_GET, [rl.Tx(rl.TAG["UNIQUE_IDENTIFIER"], u)]) for u in part])
        resp = c.call(req)
        if resp.ok and len(resp.items) == len(part):
            for u, it in zip(part, resp.items):
                out[u] = it[3].find(rl.TAG["KEY_MATERIAL"]).value
            continue
        for u in part:
            try:
                out[u] = c.get(u)
            except rl.KmipError as e:
                out[u] = e
    return out


def is_destroyed(v):
    """Get's answer (1.4) for a destroyed key: Item Not Found 'object destroyed'."""
    return isinstance(v, rl.KmipError) and (v.status, v.reason, v.message) == (
        rl.ST_OPERATION_FAILED, rl.R_ITEM_NOT_FOUND, "object destroyed")


def verify(uids_live, uids_destroyed, label):
    """Check live keys (same bytes) and destroyed keys (Get fails); resolve doubts."""
    with inst.client(timeout=30) as c:
        todo = sorted(set(uids_live) | set(uids_destroyed) | set(doubt))
        res = get_many(c, todo)
    for u in todo:
        v = res[u]
        stats["checked"] += 1
        if u in doubt:
            if isinstance(v, rl.KmipError) and not is_destroyed(v):
                problem("in-doubt key: Get failed, not as for a destroyed key (%s)" % label, u, str(v))
                doubt.discard(u)
            elif isinstance(v, rl.KmipError):
                doubt.discard(u)
                live.pop(u, None)
                destroyed.add(u)
            else:
                if live.get(u) is not None and v != live[u]:
                    problem("in-doubt key changed bytes", u)
                doubt.discard(u)
                live[u] = v
        elif u in destroyed:
            if not isinstance(v, rl.KmipError):
                problem("destroyed key came back (%s)" % label, u)
            elif not is_destroyed(v):
                problem("destroyed key: Get failed, not with Item Not Found 'object destroyed' "
                        "(%s)" % label, u, str(v))
        elif u in live:
            if isinstance(v, rl.KmipError):
                problem("acknowledged key lost (%s)" % label, u, str(v))
            elif live[u] is None:
                live[u] = v     # its first Get is this one
            elif v != live[u]:
                problem("key material changed (%s)" % label, u, "%s != %s" % (v.hex(), live[u].hex()))


def quick_check():
    p = subprocess.run(["sqlite3", store_db, "PRAGMA quick_check;"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    stats["quick_checks"] += 1
    out = p.stdout.decode(errors="replace").strip()
    if p.returncode != 0 or out != "ok":
        problem("PRAGMA quick_check", store_db, out)


t0 = time.monotonic()
start_fail = None
try:
    inst.start()
except Exception as e:
    start_fail = str(e)
for n in range(args.kills):
    if start_fail:
        break
    round_new, round_destroyed = [], []
    stop = threading.Event()
    ths = [threading.Thread(target=load_thread, args=(i, stop, round_new, round_destroyed))
           for i in range(args.clients)]
    for th in ths:
        th.start()
    time.sleep(r.uniform(0.02, 0.5))
    stop.set()
    inst.kill()
    stats["kills"] += 1
    for th in ths:
        th.join(30)
    if args.quick_check_every and (n + 1) % args.quick_check_every == 0:
        quick_check()
    try:
        inst.start()
        stats["restarts"] += 1
    except Exception as e:
        start_fail = "restart after kill %d: %s" % (n + 1, e)
        break
    with lock:
        older_live = [u for u in live if u not in set(round_new)]
        older_dead = [u for u in destroyed if u not in set(round_destroyed)]
    sample = r.sample(older_live, min(args.sample, len(older_live))) + \
        r.sample(older_dead, min(args.sample // 4, len(older_dead)))
    try:
        verify(round_new + sample, round_destroyed, "after kill %d" % (n + 1))
    except Exception as e:
        problem("verification connection failed after kill %d" % (n + 1), "", repr(e))
        break
    if (n + 1) % 50 == 0 or n + 1 == args.kills:
        print("  kill %d/%d: %d live keys, %d destroyed, %d in doubt, %.0f s" % (
            n + 1, args.kills, len(live), len(destroyed), len(doubt), time.monotonic() - t0), flush=True)

t.check("coffred started and restarted after every kill (%d kills, %d restarts)" % (
    stats["kills"], stats["restarts"]), start_fail is None and stats["kills"] == args.kills, start_fail or "")
if start_fail is None:
    try:
        verify(list(live), list(destroyed), "final full check")
        final_ok = True
    except Exception as e:
        final_ok = False
        problem("final verification failed", "", repr(e))
    t.check("final check of every key ran (%d live, %d destroyed)" % (len(live), len(destroyed)), final_ok)
    # control: the checker itself flags a lost key, a changed key and a resurrected key
    real = list(problems)
    some = [u for u, k in live.items() if k is not None][:2]
    if final_ok and len(some) == 2:
        saved_live, saved_dead = dict(live), set(destroyed)
        live["robust-control-no-such-key"] = b"\0" * 32
        live[some[0]] = bytes(32)
        live.pop(some[1])
        destroyed.add(some[1])
        verify(["robust-control-no-such-key", some[0]], [some[1]], "control, expected")
        caught = problems[len(real):]
        del problems[len(real):]
        live.clear(); live.update(saved_live)
        destroyed.clear(); destroyed.update(saved_dead)
        t.check("control: the checker catches a lost, a changed and a resurrected key (%d caught)"
                % len(caught), len(caught) == 3, str(caught))
    rc = inst.stop(timeout=20)
    t.check("SIGTERM stops it cleanly at the end (rc=%s)" % rc, rc == 0, rl.sanitizer_digest(inst))
    quick_check()
print("  stats: %s, %.1f s" % (stats, time.monotonic() - t0), flush=True)
t.check("the load made progress (%d acknowledged Creates, %d Destroys)" % (stats["creates"], stats["destroys"]),
        stats["creates"] >= args.kills and stats["destroys"] > 0)
t.check("no acknowledged key lost, none changed, no destroyed key back, store ok (%d checks)" % stats["checked"],
        not problems, "%d violations, first: %s" % (len(problems), problems[:3]))
san = inst.sanitizer_errors()
t.check("no sanitizer report on coffred's stderr over %d runs" % inst.starts, not san, "; ".join(san[:3]))
t.done()
