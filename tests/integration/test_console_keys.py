"""The console's key commands over a real pty (docs/console/keys.md), against a QA instance
whose keys come from a real KMIP client over mutual TLS:

  - keys list --attr x-Name=VALUE finds exactly the right key; --limit says how many more
  - after a replay of vCenter 7.0.3's captured sessions (vcenter_lib.py), keys list --attr
    finds exactly the keys vCenter created by the x- attributes it set (x-Name, x-Identifier,
    x-Component, x-Vendor), and keys show prints them
  - keys show prints attributes and dates, never key material
  - kek rotate: every key Get returns the same bytes afterwards; kek list shows the move
  - coffred killed part-way through a re-wrap finishes it after the restart
  - kek destroy: refused for the current KEK and while objects use it, accepted after
  - keys revoke / keys destroy follow the KMIP rules and are audited
  - audit tail; audit verify intact, then BROKEN at the row edited with sqlite3

usage: test_console_keys.py BUILD_DIR
The restart step uses BUILD_DIR/tests/coffred_keys_th (tests/integration/console_keys.mk):
COFFRE_TEST_REWRAP_DELAY_MS slows each re-wrap batch there."""
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_lib as cl  # noqa: E402
import robust_lib as rl  # noqa: E402
import vcenter_lib as vl  # noqa: E402

OP_ADD_ATTRIBUTE = 0x0D
N_NAMED = 40     # registered keys, known bytes, x-Name "vm-<i>"
N_CREATED = 160  # created keys (three 64-object batches of the re-wrap job in all)


def register_named_req(key, name):
    return rl.request([(rl.OP_REGISTER, [
        rl.E(rl.TAG["OBJECT_TYPE"], 2),
        rl.S(rl.TAG["TEMPLATE_ATTRIBUTE"],
             rl.attr("Cryptographic Usage Mask", rl.I, 12),
             rl.attr("x-Name", rl.Tx, name)),
        rl.S(rl.TAG["SYMMETRIC_KEY"],
             rl.S(rl.TAG["KEY_BLOCK"],
                  rl.E(rl.TAG["KEY_FORMAT_TYPE"], 1),
                  rl.S(rl.TAG["KEY_VALUE"], rl.B(rl.TAG["KEY_MATERIAL"], key)),
                  rl.E(rl.TAG["CRYPTO_ALG"], 3),
                  rl.I(rl.TAG["CRYPTO_LEN"], 8 * len(key)))),
    ])])


def add_attr_req(uid, name, value):
    return rl.request([(OP_ADD_ATTRIBUTE, [
        rl.Tx(rl.TAG["UNIQUE_IDENTIFIER"], uid),
        rl.attr(name, rl.Tx, value),
    ])])


def listed(out):
    """`keys list` output -> its object lines"""
    return [l for l in out.splitlines() if re.match(r"^[0-9a-f]{8}-", l)]


def confirm(con, line, answer="y", timeout=None):
    """A command that asks [y/N]: answer it, return all output up to the next prompt."""
    con.send(line)
    before = con.expect("[y/N] ", timeout)
    con.send(answer)
    return before + con.prompt(timeout).replace("\r\n", "\n")


def kek_table(out):
    """`kek list` -> {version: (state, objects)}"""
    t = {}
    for m in re.finditer(r"^(\d+)\s+(current|old|MISSING)\s+(\d+)", out, re.M):
        t[int(m.group(1))] = (m.group(2), int(m.group(3)))
    return t


def wait_kek(con, pred, timeout=60):
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = con.cmd("kek list")
        if pred(kek_table(out)):
            return True, out
        time.sleep(0.3)
    return False, out


def main():
    build = rl.parse_build(sys.argv)
    rl.require_built(build)
    th = os.path.join(build, "tests", "coffred_keys_th")
    t = rl.Tally()
    rnd = rl.rng()

    a = cl.Appliance(build, name="keys")
    if os.path.exists(th):
        a.coffred = th
    a.start()
    out = a.login()
    con = a.console

    # ---- keys from a real KMIP client -----------------------------------------------------
    known = {}   # uid -> key bytes
    named = {}   # x-Name -> uid
    with a.client() as c:
        for i in range(N_NAMED):
            key = bytes(rnd.getrandbits(8) for _ in range(32))
            r = c.call(register_named_req(key, "vm-%d" % i))
            if not r.ok:   # custom attribute in the template refused: add it afterwards
                uid = c.register_aes(key)
                r2 = c.call(add_attr_req(uid, "x-Name", "vm-%d" % i))
                if not r2.ok:
                    t.bad("Add Attribute x-Name: %s" % r2.describe())
            else:
                uid = r.items[0][3].find(rl.TAG["UNIQUE_IDENTIFIER"]).value
            known[uid] = key
            named["vm-%d" % i] = uid
        for _ in range(N_CREATED):
            uid = c.create_aes()
            known[uid] = c.get(uid)
    t.check("%d keys registered / created" % len(known), len(known) == N_NAMED + N_CREATED)

    # ---- keys vCenter 7.0.3 created: its captured sessions replayed over mutual TLS ---------
    vc = vl.replay_instance(a)
    t.check("vCenter replay: %d requests in %d sessions, every one Success, 2 keys created"
            % (vc.n_requests, len(vc.order)), vc.ok, vc.describe())
    vc_uids = {cid: vc.mapping.get(cid) for cid in ("1", "2")}
    for cid, uid in vc_uids.items():
        if uid is not None:
            key = vc.get(uid)
            t.check("vCenter key %s: Get returns what vCenter got" % cid,
                    isinstance(key, bytes) and len(key) == 32 and vc.get_material[cid]
                    and all(m == key for m in vc.get_material[cid]))
            known[uid] = key

    # ---- keys list / show -------------------------------------------------------------------
    out = con.cmd("keys list --attr x-Name=vm-17")
    lines = [l for l in out.splitlines() if re.match(r"^[0-9a-f]{8}-", l)]
    t.check("keys list --attr x-Name=vm-17 finds exactly that key",
            len(lines) == 1 and lines[0].startswith(named["vm-17"]) and "vm-17" in lines[0],
            out)
    out = con.cmd("keys list --attr x-Name=vm-1")
    lines = [l for l in out.splitlines() if re.match(r"^[0-9a-f]{8}-", l)]
    t.check("--attr matches the whole value (vm-1 is not vm-17)",
            len(lines) == 1 and lines[0].startswith(named["vm-1"]), out)
    out = con.cmd("keys list --attr x-Name=nobody")
    t.check("no match says so", "no objects match" in out, out)
    out = con.cmd("keys list --limit 5")
    lines = [l for l in out.splitlines() if re.match(r"^[0-9a-f]{8}-", l)]
    total = len(known)   # N_NAMED + N_CREATED + vCenter's two keys
    t.check("keys list --limit 5: 5 lines and how many more",
            len(lines) == 5 and ("%d more" % (total - 5)) in out, out)
    out = con.cmd("keys list")
    lines = [l for l in out.splitlines() if re.match(r"^[0-9a-f]{8}-", l)]
    t.check("keys list caps at 100 by default", len(lines) == 100 and "more" in out, out[-300:])
    out = con.cmd("keys list --state destroyed")
    t.check("keys list --state destroyed: none yet", "no objects match" in out, out)
    out = con.cmd("keys list --state bogus")
    t.check("unknown state refused", cl.has_line(
        out, "unknown state 'bogus': pre-active, active, deactivated, compromised, destroyed, "
        "destroyed-compromised"), out)

    uid17 = named["vm-17"]
    out = con.cmd("keys show %s" % uid17)
    key_hex = known[uid17].hex()
    t.check("keys show: attributes, state, dates",
            'x-Name[0] = "vm-17"' in out and "state:" in out and "created:" in out
            and "AES-256" in out, out)
    t.check("keys show: no key material",
            key_hex not in out.lower() and key_hex[:16] not in out.lower()
            and "never shown" in out, out)
    out = con.cmd("keys show 00000000-0000-4000-8000-000000000000")
    t.check("keys show of an unknown uid", cl.has_line(
        out, "no object 00000000-0000-4000-8000-000000000000"), out)

    # ---- keys list --attr / keys show on what vCenter set --------------------------------------
    for cid, uid in vc_uids.items():
        if uid is None:
            t.bad("vCenter key %s was not created: no console checks" % cid)
            continue
        exp = vl.EXPECT[cid]
        name = exp["x-Name"]
        out = con.cmd("keys list --attr x-Name=%s" % name)
        lines = listed(out)
        t.check("keys list --attr x-Name=%s finds exactly vCenter's key %s (Active, AES-256)"
                % (name, cid),
                len(lines) == 1 and lines[0].startswith(uid) and lines[0].rstrip().endswith(name)
                and "Active" in lines[0] and "AES-256" in lines[0], out)
        out = con.cmd("keys list --attr x-Identifier=%s" % exp["x-Identifier"])
        lines = listed(out)
        t.check("keys list --attr x-Identifier=<vCenter's %s UUID> finds exactly that key"
                % exp["x-Component"], len(lines) == 1 and lines[0].startswith(uid), out)
        out = con.cmd('keys list --attr "x-Component=%s"' % exp["x-Component"])
        lines = listed(out)
        t.check('keys list --attr "x-Component=%s" (a blank in the value) finds exactly that key'
                % exp["x-Component"], len(lines) == 1 and lines[0].startswith(uid), out)
        out = con.cmd("keys list --attr x-Name=%s --state active" % name)
        lines = listed(out)
        t.check("--attr x-Name=%s --state active: the same key" % name,
                len(lines) == 1 and lines[0].startswith(uid), out)
        out = con.cmd("keys list --attr x-Name=%s --state pre-active" % name)
        t.check("--attr x-Name=%s --state pre-active: none (vCenter activated it)" % name,
                "no objects match" in out and not listed(out), out)
        out = con.cmd("keys show %s" % uid)
        missing = [k for k, v in exp.items() if '%s[0] = "%s"' % (k, v) not in out]
        t.check("keys show vCenter's key %s: every x- attribute vCenter set, with its value" % cid,
                not missing, "missing %s in:\n%s" % (missing, out))
        t.check("keys show vCenter's key %s: Active, AES-256, no key material" % cid,
                re.search(r"^state:\s+Active", out, re.M) is not None and "AES-256" in out
                and known[uid].hex() not in out.lower()
                and known[uid].hex()[:16] not in out.lower(), out)
    if None not in vc_uids.values():
        out = con.cmd('keys list --attr "x-Vendor=VMware, Inc."')
        lines = listed(out)
        t.check('keys list --attr "x-Vendor=VMware, Inc." finds both vCenter keys and nothing else',
                sorted(l.split()[0] for l in lines) == sorted(vc_uids.values()), out)
        out = con.cmd("keys list --attr x-Name=test0")
        t.check("--attr x-Name=test0 (a prefix of test01) matches nothing",
                "no objects match" in out and not listed(out), out)
        out = con.cmd("keys list --attr x-Component=ESXi")
        t.check("--attr x-Component=ESXi (first word of a value) matches nothing",
                "no objects match" in out and not listed(out), out)

    # ---- kek list / rotate ------------------------------------------------------------------
    out = con.cmd("kek list")
    kt = kek_table(out)
    t.check("kek list: KEK 1 current with every object",
            kt.get(1) == ("current", total), out)
    out = confirm(con, "kek rotate", "n")
    t.check("kek rotate declined changes nothing",
            cl.has_line(out, "cancelled") and
            kek_table(con.cmd("kek list")).get(1) == ("current", total), out)
    out = confirm(con, "kek rotate")
    t.check("kek rotate: progress line",
            re.search(r"re-wrapping %d objects under KEK 2" % total, out) is not None, out)
    ok, out = wait_kek(con, lambda k: k.get(1) == ("old", 0) and k.get(2) == ("current", total))
    t.check("re-wrap finished: KEK 2 holds every object", ok, out)
    with a.client() as c:
        same = sum(1 for uid, key in known.items() if c.get(uid) == key)
    t.check("after the rotation every Get returns the same bytes (%d/%d)" % (same, len(known)),
            same == len(known))

    out = con.cmd("kek destroy 2")
    t.check("kek destroy of the current KEK refused", cl.has_line(
        out, "KEK 2 is the current KEK: `kek rotate` first, then destroy it once nothing uses it"),
        out)

    # ---- a restart part-way through a re-wrap ------------------------------------------------
    # slow batches (coffred_keys_th only): 3 batches of 64 take >= 6 s
    os.environ["COFFRE_TEST_REWRAP_DELAY_MS"] = "3000"
    a.stop()
    a.start()
    a.login()
    con = a.console
    out = confirm(con, "kek rotate")
    t.check("second rotation started", "under KEK 3" in out, out)
    ok, out = wait_kek(con, lambda k: k.get(3, ("", 0))[1] > 0 and k.get(2, ("", 0))[1] > 0, 20)
    t.check("part-way: KEK 2 and KEK 3 both in use", ok, out)
    out = con.cmd("kek destroy 2")
    t.check("kek destroy 2 refused while objects use it", re.search(
        r"^refused: KEK 2 still wraps [1-9][0-9]* objects; wait for the re-wrap to finish "
        r"\(`kek list`\)$", out, re.M) is not None, out)
    a.kill()
    a.console.close()
    del os.environ["COFFRE_TEST_REWRAP_DELAY_MS"]
    a.start()
    a.login()
    con = a.console
    ok, out = wait_kek(con, lambda k: k.get(2) == ("old", 0) and k.get(3) == ("current", total))
    t.check("after the restart the re-wrap finished", ok, out)
    out = confirm(con, "kek destroy 2")
    t.check("kek destroy 2 accepted once unused", "KEK 2 destroyed" in out, out)
    out = confirm(con, "kek destroy 1")
    t.check("kek destroy 1 accepted", "KEK 1 destroyed" in out, out)
    kt = kek_table(con.cmd("kek list"))
    t.check("kek list: only KEK 3 left", list(kt.keys()) == [3], str(kt))
    with a.client() as c:
        same = sum(1 for uid, key in known.items() if c.get(uid) == key)
    t.check("after restart + destroy of old KEKs every Get returns the same bytes (%d/%d)"
            % (same, len(known)), same == len(known))
    if vc_uids["1"] is not None:
        out = con.cmd("keys list --attr x-Name=test01")
        lines = listed(out)
        t.check("after two rotations and a restart --attr x-Name=test01 still finds vCenter's key",
                len(lines) == 1 and lines[0].startswith(vc_uids["1"]), out)

    # ---- keys revoke / destroy ---------------------------------------------------------------
    victim = named["vm-3"]
    with a.client() as c:   # registered keys are Pre-Active: make this one Active
        r = c.call(rl.uid_req(rl.OP_ACTIVATE, victim))
    t.check("Activate over KMIP", r.ok, r.describe())
    out = con.cmd("keys show %s" % victim)
    t.check("keys show: Active", re.search(r"^state:\s+Active", out, re.M) is not None, out)
    out = con.cmd("keys destroy %s" % victim)
    t.check("keys destroy of an Active key refused", cl.has_line(
        out, "%s is Active: revoke it first (`keys revoke %s`)" % (victim, victim)), out)
    out = con.cmd("keys revoke %s --reason cessation --message retired" % victim)
    t.check("keys revoke --reason cessation -> Deactivated", "now Deactivated" in out, out)
    out = con.cmd("keys revoke %s --reason superseded" % victim)
    t.check("a Deactivated key cannot be revoked again without a compromise",
            cl.has_line(out, "%s is already Deactivated (only a compromise can be "
                        "recorded)" % victim), out)
    out = confirm(con, "keys destroy %s" % victim, "n")
    t.check("keys destroy declined", cl.has_line(out, "cancelled"), out)
    out = confirm(con, "keys destroy %s" % victim)
    t.check("keys destroy after revoke", "destroyed" in out, out)
    with a.client() as c:
        r = c.call(rl.uid_req(rl.OP_GET, victim))
    t.check("Get of the destroyed key fails with Item Not Found 'object destroyed'",
            r.failed_with(rl.R_ITEM_NOT_FOUND, "object destroyed"), r.describe())
    out = con.cmd("keys show %s" % victim)
    t.check("keys show: Destroyed, no key material, revocation reason",
            "Destroyed" in out and "none (destroyed)" in out and "Cessation" in out, out)
    other = named["vm-4"]
    out = con.cmd("keys revoke %s --reason cessation" % other)
    t.check("keys revoke --reason cessation of a Pre-Active key refused (the KMIP state diagram)",
            cl.has_line(out, "%s is Pre-Active (only a compromise can be recorded)" % other), out)
    con.send("keys revoke %s" % other)
    con.expect("Is the key compromised? [y/N] ")
    con.send("y")
    out = con.prompt()
    t.check("keys revoke asks; yes -> Compromised", "now Compromised" in out, out)

    # ---- audit ------------------------------------------------------------------------------
    out = con.cmd("audit tail 8")
    rows = [l for l in out.splitlines() if re.match(r"^\d+\s", l)]
    t.check("audit tail 8: 8 records", len(rows) == 8, out)
    t.check("audit tail shows the console revoke with its uid and actor",
            any("Revoke" in l and other in l and "console:admin" in l for l in rows), out)
    out = con.cmd("audit tail 1000")
    t.check("audit records for KEK rotate/destroy and Destroy",
            "KEK Rotate" in out and "KEK Destroy" in out
            and any("Destroy" in l and victim in l for l in out.splitlines()), out[-2000:])
    out = con.cmd("audit verify")
    m = re.search(r"audit chain intact: (\d+) records", out)
    t.check("audit verify: intact", m is not None and int(m.group(1)) > 10, out)

    a.stop()
    db = os.path.join(a.dir, "data", "store.db")
    cx = sqlite3.connect(db)
    cx.execute("DROP TRIGGER IF EXISTS audit_no_update")
    cx.execute("UPDATE audit SET detail = 'tampered' WHERE seq = 5")
    cx.commit()
    cx.close()
    a.start()
    a.login()
    con = a.console
    out = con.cmd("audit verify")
    t.check("audit verify after editing record 5: BROKEN at record 5",
            "audit chain BROKEN at record 5" in out, out)
    a.stop()
    t.done()


if __name__ == "__main__":
    main()
