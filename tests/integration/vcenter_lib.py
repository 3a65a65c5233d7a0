"""Replay the two captured vCenter 7.0.3 sessions (../shared/vectors/vcenter-7.0.3/requests.txt)
against a running coffred over mutual TLS; shared by test_vcenter_replay.py, test_console_keys.py
and test_backup.py.

    import vcenter_lib as vl
    r = vl.replay(port, ca, cert, key)   # -> Replay
    r.bad                  # requests that did not get a Success (session, op, ok, detail)
    r.mapping              # captured id "1" / "2" -> the uid our server returned
    r.get_material         # captured id -> key bytes of every Get vCenter made of it
    vl.EXPECT[cid]         # the x- attributes vCenter set on that key

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

# ../shared beside the checkout (the repository root is two levels above this file)
VECTORS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                        "..", "shared", "vectors", "vcenter-7.0.3",
                                        "requests.txt"))

# What vCenter set on each key (Add Attribute), from the capture (../shared/vectors): key "1" is
# the VM key, key "2" the host key.
EXPECT = {
    "1": {"x-Product_Version": "7.0.3 build-19480866", "x-Vendor": "VMware, Inc.",
          "x-Product": "VMware vSphere", "x-Identifier": "4226f566-3ed5-1c8f-cda3-b0b037b6dc97",
          "x-Component": "Virtual Machine", "x-Name": "test01"},
    "2": {"x-Product_Version": "7.0.3 build-19480866", "x-Vendor": "VMware, Inc.",
          "x-Product": "VMware vSphere", "x-Identifier": "8c164d56-7f1c-5960-63e6-4451c6181844",
          "x-Component": "ESXi Server", "x-Name": "172.16.220.132"},
}


def load(path=VECTORS):
    """-> (sessions {session: [(line index, op, hex)]}, order [session], creates {index: cid})"""
    sessions, order, creates = {}, [], {}
    n_create = 0
    with open(path) as f:
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
    return sessions, order, creates


class Replay:
    def __init__(self, port, ca, cert, key, host="127.0.0.1", path=VECTORS):
        self.conn_args = (port, ca, cert, key)
        self.host = host
        self.sessions, self.order, self.creates = load(path)
        self.n_requests = sum(len(v) for v in self.sessions.values())
        self.lock = threading.Lock()
        self.errors = []       # probe failures
        self.results = []      # (session, op, ok, detail)
        self.mapping = {}      # captured id -> our uid
        self.mapped = {cid: threading.Event() for cid in self.creates.values()}
        self.get_material = {cid: [] for cid in self.creates.values()}
        self.elapsed = None

    def conn(self):
        return kw.Conn(*self.conn_args, host=self.host)

    @property
    def bad(self):
        return [r for r in self.results if not r[2]]

    @property
    def ok(self):
        """Every request answered with Success, every probe accepted, two distinct keys."""
        return (not self.bad and len(self.results) == self.n_requests and not self.errors
                and len(set(self.mapping.values())) == len(self.mapped))

    def _captured_ids(self, tree):
        return {v for (t, ty, v) in kw.walk(tree)
                if t == kw.T_UID and ty == kw.TEXT and v in self.mapped}

    def _probe(self):
        try:
            self.conn().close()
        except Exception as e:  # noqa: BLE001
            with self.lock:
                self.errors.append("probe: %r" % e)

    def _result(self, *r):
        with self.lock:
            self.results.append(r)

    def _session(self, sess):
        try:
            conn = self.conn()
        except Exception as e:  # noqa: BLE001
            self._result(sess, "connect", False, repr(e))
            return
        try:
            for idx, op, hexmsg in self.sessions[sess]:
                tree = kw.decode(bytes.fromhex(hexmsg))
                for cid in sorted(self._captured_ids(tree)):
                    if not self.mapped[cid].wait(30):
                        self._result(sess, op, False,
                                     "Create of captured id %s never answered" % cid)
                        return
                tree = kw.rewrite_uids(tree, self.mapping)
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
                self._result(sess, op, ok, detail)
                if not ok:
                    return
                if op == "CREATE":
                    cid = self.creates[idx]
                    self.mapping[cid] = kw.find(resp, kw.T_UID)
                    self.mapped[cid].set()
                if op == "GET":
                    uid = kw.find(resp, kw.T_UID)
                    for cid, u in list(self.mapping.items()):
                        if u == uid:
                            with self.lock:
                                self.get_material[cid].append(kw.find(resp, kw.T_KEY_MATERIAL))
        except Exception as e:  # noqa: BLE001
            self._result(sess, "?", False, repr(e))
        finally:
            conn.close()

    def run(self, timeout=120):
        threads = []
        t0 = time.time()
        for n, sess in enumerate(self.order):
            if n % 2 == 0:
                pt = threading.Thread(target=self._probe)  # a probe in parallel with the session
                pt.start()
                threads.append(pt)
            else:
                self._probe()                              # a probe right before it
            t = threading.Thread(target=self._session, args=(sess,))
            t.start()
            threads.append(t)
            time.sleep(0.02)
        deadline = time.time() + timeout
        for t in threads:
            t.join(max(0.1, deadline - time.time()))
        self.elapsed = time.time() - t0
        return self

    def describe(self, n=10):
        """A short account of what went wrong (for a FAIL detail)."""
        lines = ["   | %s %s: %s" % (r[0], r[1], r[3]) for r in self.bad[:n]]
        lines += ["   | " + e for e in self.errors[:n]]
        if len(self.results) != self.n_requests:
            lines.append("   | %d responses for %d requests" % (len(self.results), self.n_requests))
        return "\n".join(lines)

    def get_attributes(self, uid, names):
        """Get Attributes by name over a new connection -> {name: value} (first instance)."""
        c = self.conn()
        try:
            resp = c.call(kw.request(0x0B, kw.attr_names_payload(uid, list(names))))
        finally:
            c.close()
        attrs = {}
        for a in kw.find_all(resp, kw.T_ATTRIBUTE):
            attrs.setdefault(kw.find(a[2], kw.T_ATTR_NAME), kw.find(a[2], kw.T_ATTR_VALUE))
        return attrs

    def get(self, uid):
        """Get over a new connection -> key material bytes (None when refused)."""
        c = self.conn()
        try:
            return kw.find(c.call(kw.request(0x0A, [(kw.T_UID, kw.TEXT, uid)])),
                           kw.T_KEY_MATERIAL)
        finally:
            c.close()


def replay(port, ca, cert, key, host="127.0.0.1", path=VECTORS, timeout=120):
    return Replay(port, ca, cert, key, host, path).run(timeout)


def replay_instance(inst, who="qa"):
    """Replay against a robust_lib.Instance / console_lib.Appliance with its QA client cert."""
    pki = os.path.join(inst.dir, "pki")
    return replay(inst.port, os.path.join(pki, "ca.crt"), os.path.join(pki, who + ".crt"),
                  os.path.join(pki, who + ".key"), host=inst.host)
