"""Key backup export / restore between two appliances over real ptys (docs/backup.md).

  A (QA instance): keys from a real KMIP client (known bytes), an attribute added, some
  revoked, some destroyed; the two keys vCenter 7.0.3 creates (its captured sessions replayed,
  vcenter_lib.py: x- attributes, Active); keys and a secret created / registered with PyKMIP's
  ProxyKmipClient (custom x- attributes in a Create template, activated, revoked for cessation
  and for compromise, destroyed); the KEK rotated; `backup export` with a passphrase (to a file in
  [backup] dir), with 3-of-5 shares (armored text on the console) and a second 3-of-5 export
  (its shares are "another backup's").
  B (fresh appliance, its own SoftHSMv2 token): every refusal first (wrong passphrase, a
  foreign share, a duplicated share, a mistyped share, a mistyped armor line, a flipped bit
  with the armor line checksum recomputed, a truncated file, a newer format version with the
  armor recomputed but not the authentication), each leaving it UNINITIALIZED; --dry-run;
  then `backup import --file` with the passphrase -> READY.
  B (READY): `backup import --merge --dry-run` proves A's KEKs unwrap and says the merge would
  be refused (KEK 1 is on B already); the merge itself is refused and changes nothing.
  C (fresh): `backup import` of the pasted armor with 3 of the 5 shares -> READY.
  D (a QA appliance with its own KEK 1 and key): A destroys KEK 1 and exports again; D's merge
  dry run, then the merge: D serves its own key, A's keys (same bytes) and new Creates, KEK 2
  (A's) is current at once and stays so after a restart, the re-wrap job empties KEK 1.
  On B and C: every key A served is served with the same bytes, `keys show` says the same
  (state, attributes), destroyed keys stay destroyed, A's client certificate is accepted
  (same CA and server certificate), A's console account logs in; PyKMIP against B and C gets
  exactly what it got from A (Get bytes or the same refusal, Get Attributes: State, Name, the
  x- attributes vCenter and PyKMIP set).

usage: test_backup.py BUILD_DIR"""
import base64
import os
import re
import shutil
import sqlite3
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_lib as cl  # noqa: E402
import robust_lib as rl  # noqa: E402
import vcenter_lib as vl  # noqa: E402

from kmip import enums  # noqa: E402  (PyKMIP: /usr/bin/python3)
from kmip.core import objects as cobjects  # noqa: E402
from kmip.core.factories import attributes as attr_factory  # noqa: E402
from kmip.pie import objects as pobjects  # noqa: E402
from kmip.pie.client import ProxyKmipClient  # noqa: E402
from kmip.pie.exceptions import KmipOperationFailure  # noqa: E402

OP_ADD_ATTRIBUTE = 0x0D
PASS = "Correct-Horse-42-Battery"
BEGIN = "-----BEGIN COFFRE BACKUP-----"
END = "-----END COFFRE BACKUP-----"


def add_attr_req(uid, name, value):
    return rl.request([(OP_ADD_ATTRIBUTE, [
        rl.Tx(rl.TAG["UNIQUE_IDENTIFIER"], uid),
        rl.attr(name, rl.Tx, value),
    ])])


# ---- PyKMIP (kmip.pie.ProxyKmipClient), as in test_pykmip_interop.py -------------------------
PK_ATTRS = ["State", "Name", "Cryptographic Algorithm", "Cryptographic Length", "x-Owner",
            "x-Ticket"]
af = attr_factory.AttributeFactory()


def pyclient(inst, pki_of):
    """PyKMIP against inst's port with pki_of's QA client certificate and CA."""
    pki = os.path.join(pki_of.dir, "pki")
    return ProxyKmipClient(hostname=inst.host, port=inst.port, cert=os.path.join(pki, "qa.crt"),
                           key=os.path.join(pki, "qa.key"), ca=os.path.join(pki, "ca.crt"),
                           config_file="/dev/null")


def pk_create_tagged(c, name, tags):
    """Create AES-256 through PyKMIP's KMIPProxy with custom x- text attributes in the template
    (ProxyKmipClient.create has no parameter for them; set_attribute is KMIP 2.0 only)."""
    attrs = [af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM,
                                 enums.CryptographicAlgorithm.AES),
             af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 256),
             af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
                                 [enums.CryptographicUsageMask.ENCRYPT,
                                  enums.CryptographicUsageMask.DECRYPT]),
             af.create_attribute(enums.AttributeType.NAME, name)]
    attrs += [af.create_attribute(k, v) for k, v in tags.items()]
    r = c.proxy.create(enums.ObjectType.SYMMETRIC_KEY, cobjects.TemplateAttribute(attributes=attrs))
    if r.result_status.value != enums.ResultStatus.SUCCESS:
        raise KmipOperationFailure(r.result_status.value, r.result_reason.value,
                                   r.result_message.value)
    return r.uuid


def pk_view(c, uid, names):
    """What a PyKMIP client sees of uid: (Get: key bytes or the failure reason,
    Get Attributes: sorted (name, value) or the failure reason)."""
    try:
        got = c.get(uid).value
    except KmipOperationFailure as e:
        got = "refused: %s %r" % (e.reason, e.message)
    try:
        _, attrs = c.get_attributes(uid, names)
        seen = sorted((a.attribute_name.value, repr(a.attribute_value)) for a in attrs)
    except KmipOperationFailure as e:
        seen = "refused: %s %r" % (e.reason, e.message)
    return got, seen


def confirm(con, line, answer="y", timeout=None):
    con.send(line)
    before = con.expect("[y/N] ", timeout)
    con.send(answer)
    return before + con.prompt(timeout).replace("\r\n", "\n")


# ---- armor (docs/backup.md: NNNNNN:BASE64:CCCC, CRC-16/CCITT-FALSE of the text before the last
# colon), computed here independently of the firmware
def crc16(b):
    crc = 0xFFFF
    for x in b:
        crc ^= x << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def armor_decode(text):
    out = b""
    for line in text.splitlines():
        m = re.match(r"^(\d{6}):([A-Za-z0-9+/=]+):([0-9a-f]{4})$", line.strip())
        if m:
            out += base64.b64decode(m.group(2))
    return out


def armor_encode(data):
    lines = [BEGIN]
    for i in range(0, len(data), 48):
        body = "%06d:%s" % (i // 48 + 1, base64.b64encode(data[i:i + 48]).decode())
        lines.append("%s:%04x" % (body, crc16(body.encode())))
    lines.append(END)
    return "\n".join(lines) + "\n"


class Runner:
    def __init__(self, t):
        self.t = t

    def export(self, a, args, secret_answers, shares=None):
        """backup export ARGS: SO PIN, then passphrase answers or the share ceremony."""
        con = a.console
        con.send("backup export " + args)
        out = con.expect("HSM SO PIN: ")
        con.send(a.so_pin)
        got = []
        if shares is None:
            for prompt, answer in secret_answers:
                out += con.expect(prompt, 30)
                con.send(answer)
        else:
            for i in range(shares):
                out += con.expect("[y/N] ", 30)
                con.send("y")
                before = con.expect("Press Enter once it is written down and checked: ")
                out += before
                m = re.search(r"share %d of %d \(any \d+ restore\):\s+(CFS1-\S+)" % (i + 1, shares),
                              before)
                got.append(m.group(1) if m else None)
                con.send("")
        out += con.prompt(60)
        return out.replace("\r\n", "\n"), got


def paste(con, text):
    """Send pasted lines, reading the echo as it comes (a full pty would block both sides)."""
    for line in text.splitlines():
        con.send(line)
        con._fill(time.monotonic() + 0.002)


def import_start(con, args, armor=None):
    con.send(("backup import " + args).strip())
    if armor is not None:
        con.expect("(Ctrl-C cancels):")
        paste(con, armor)


def state_of(con):
    m = re.search(r"^state: (\w+)", con.cmd("status"), re.M)
    return m.group(1) if m else None


def merge(con, name, dry=False):
    """`backup import --merge [--dry-run] --file NAME`: the passphrase, the confirmation (not
    asked by a dry run); returns the output."""
    import_start(con, ("--merge --dry-run --file " if dry else "--merge --file ") + name)
    con.expect("Backup passphrase: ")
    con.send(PASS)
    if not dry:
        con.expect("[y/N] ", 30)
        con.send("y")
    return con.prompt(60).replace("\r\n", "\n")


def kek1_emptied(con, timeout=30):
    """Wait until `kek list` shows KEK 1 old with no objects (the re-wrap job's end); returns
    the last listing."""
    deadline = time.monotonic() + timeout
    while True:
        kl = con.cmd("kek list")
        if re.search(r"^1\s+old\s+0\b", kl, re.M) or time.monotonic() > deadline:
            return kl
        time.sleep(0.2)


def main():
    build = rl.parse_build(sys.argv)
    rl.require_built(build)
    t = rl.Tally()
    rnd = rl.rng()
    r = Runner(t)
    t0 = time.monotonic()

    # ---- A: keys, states, KEK rotation -------------------------------------------------------
    a = cl.Appliance(build, name="bkA")
    a.so_pin = a._read(os.path.join(a.dir, "hsm-so.pin"))
    bdir_a = os.path.join(a.tmp, "usbA")
    os.mkdir(bdir_a)
    a.set_section("backup", {"dir": bdir_a})
    a.start()
    a.login()
    con = a.console
    known = {}
    with a.client() as c:
        for i in range(6):
            key = bytes(rnd.getrandbits(8) for _ in range(32))
            uid = c.register_aes(key)
            known[uid] = key
        for i in range(4):
            uid = c.create_aes()
            known[uid] = c.get(uid)
        uids = list(known)
        for i, uid in enumerate(uids[:3]):
            rr = c.call(add_attr_req(uid, "x-Name", "vm-%d" % i))
            t.check("Add Attribute x-Name on A", rr.ok, rr.describe())
        for uid in uids[3:7]:   # revoked for cessation below: only an Active key can be
            rr = c.call(rl.uid_req(rl.OP_ACTIVATE, uid))
            t.check("Activate on A", rr.ok, rr.describe())

    # vCenter 7.0.3's captured sessions: two Active keys with its x- attributes
    vc = vl.replay_instance(a)
    t.check("A: vCenter replay, %d requests, every one Success, 2 keys created" % vc.n_requests,
            vc.ok, vc.describe())
    vc_uids = [vc.mapping[cid] for cid in ("1", "2") if cid in vc.mapping]
    pk_names = {}   # uid -> the attribute names PyKMIP reads back
    for cid in ("1", "2"):
        uid = vc.mapping.get(cid)
        if uid is not None:
            known[uid] = vc.get(uid)
            pk_names[uid] = ["State", "Name"] + list(vl.EXPECT[cid])

    # PyKMIP: custom attributes, registered bytes, a secret, every state
    pk = {}         # role -> uid
    pk_secret = b"backup secret 0123456789abcdef!"
    pk_key = bytes(rnd.getrandbits(8) for _ in range(32))
    with pyclient(a, a) as c:
        pk["tagged"] = pk_create_tagged(c, "pk-tagged", {"x-Owner": "team-blue",
                                                         "x-Ticket": "CHG-4711"})
        c.activate(pk["tagged"])
        pk["registered"] = c.register(pobjects.SymmetricKey(
            enums.CryptographicAlgorithm.AES, 256, pk_key, name="pk-registered"))
        pk["secret"] = c.register(pobjects.SecretData(pk_secret, enums.SecretDataType.PASSWORD,
                                                      name="pk-secret"))
        pk["revoked"] = c.create(enums.CryptographicAlgorithm.AES, 128, name="pk-revoked")
        c.activate(pk["revoked"])
        c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, pk["revoked"])
        pk["compromised"] = c.create(enums.CryptographicAlgorithm.AES, 256, name="pk-compromised")
        c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, pk["compromised"])
        pk["destroyed"] = c.create(enums.CryptographicAlgorithm.AES, 256, name="pk-destroyed")
        c.destroy(pk["destroyed"])
        for uid in pk.values():
            pk_names[uid] = PK_ATTRS
        view_a = {uid: pk_view(c, uid, names) for uid, names in pk_names.items()}
    state = {role: dict(view_a[uid][1]).get("State", "") if isinstance(view_a[uid][1], list)
             else view_a[uid][1] for role, uid in pk.items()}
    want = {"tagged": "ACTIVE", "registered": "PRE_ACTIVE", "secret": "PRE_ACTIVE",
            "revoked": "DEACTIVATED", "compromised": "COMPROMISED", "destroyed": "DESTROYED"}
    t.check("A: PyKMIP objects in every state (%s)" % ", ".join(want.values()),
            all(("State." + w + ",") in state[r] for r, w in want.items()), str(state))
    tagged = view_a[pk["tagged"]][1]
    t.check("A: PyKMIP's custom attributes from the Create template are there",
            isinstance(tagged, list) and ("x-Owner", "CustomAttribute(value='team-blue')") in tagged
            and ("x-Ticket", "CustomAttribute(value='CHG-4711')") in tagged, str(tagged))
    t.check("A: PyKMIP Get returns the registered key and secret bytes",
            view_a[pk["registered"]][0] == pk_key and view_a[pk["secret"]][0] == pk_secret)
    t.check("A: PyKMIP Get of the destroyed key is refused",
            view_a[pk["destroyed"]][0] == "refused: ResultReason.ITEM_NOT_FOUND 'object destroyed'",
            str(view_a[pk["destroyed"]][0]))
    for cid, uid in zip(("1", "2"), vc_uids):
        seen = view_a[uid][1]
        t.check("A: PyKMIP reads vCenter key %s: Active, same bytes, its x- attributes" % cid,
                view_a[uid][0] == known[uid] and isinstance(seen, list)
                and any(n == "State" and "State.ACTIVE," in v for n, v in seen)
                and all((k, "CustomAttribute(value=%r)" % v) in seen
                        for k, v in vl.EXPECT[cid].items()), str(view_a[uid]))
    print("     PyKMIP Get on A: " + ", ".join(
        "%s %s" % (r, "%d bytes" % len(view_a[u][0]) if isinstance(view_a[u][0], bytes)
                   else view_a[u][0]) for r, u in pk.items()))
    # PyKMIP's live keys with known bytes join the robust client's checks
    for role in ("tagged", "registered", "secret", "revoked", "compromised"):
        if isinstance(view_a[pk[role]][0], bytes):
            known[pk[role]] = view_a[pk[role]][0]
    revoked, destroyed = uids[3:5], uids[5:7]
    for uid in revoked + destroyed:
        out = con.cmd("keys revoke %s --reason cessation --message retired" % uid)
        t.check("A: keys revoke", "Deactivated" in out, out)
    for uid in destroyed:
        out = confirm(con, "keys destroy %s" % uid)
        t.check("A: keys destroy", "destroy" in out and "refused" not in out, out)
    all_uids = uids + vc_uids + list(pk.values())
    gone_uids = destroyed + [pk["destroyed"]]
    live = [u for u in known if u not in gone_uids]
    n_wrapped = len(all_uids) - len(gone_uids)   # destroyed objects have no blob
    out = confirm(con, "kek rotate")
    t.check("A: kek rotate", "under KEK 2" in out, out)
    kl = kek1_emptied(con)
    t.check("A: re-wrap finished: KEK 2 wraps the %d objects that have key material" % n_wrapped,
            re.search(r"^1\s+old\s+0\b", kl, re.M) is not None
            and re.search(r"^2\s+current\s+%d\b" % n_wrapped, kl, re.M) is not None, kl)
    shows_a = {u: con.cmd("keys show %s" % u) for u in all_uids}
    t.check("A: keys show of vCenter's and PyKMIP's objects prints their x- attributes",
            all('x-Name[0] = "%s"' % vl.EXPECT[cid]["x-Name"] in shows_a[uid]
                for cid, uid in zip(("1", "2"), vc_uids))
            and 'x-Owner[0] = "team-blue"' in shows_a[pk["tagged"]], shows_a[pk["tagged"]])
    status = con.cmd("status")
    t.check("A: status warns before the first backup", "no backup has been exported" in status,
            status)

    # ---- exports -----------------------------------------------------------------------------
    out, _ = r.export(a, "--file pass.bk", [("New backup passphrase: ", "short"),
                                            ("New backup passphrase: ", PASS),
                                            ("Repeat the backup passphrase: ", PASS)])
    t.check("export: a weak passphrase is refused and asked again", cl.has_line(
        out, "passphrase too short: at least 12 characters; try again"), out)
    t.check("export with a passphrase to [backup] dir/pass.bk",
            "read back and checked" in out and "backup exported (KEK 2 current)" in out
            and os.path.exists(os.path.join(bdir_a, "pass.bk")), out)
    t.check("export: the file is 0600",
            os.stat(os.path.join(bdir_a, "pass.bk")).st_mode & 0o777 == 0o600)
    pass_text = open(os.path.join(bdir_a, "pass.bk")).read()
    t.check("export: the passphrase is nowhere in the file", PASS not in pass_text)
    out, shares = r.export(a, "--shares 5 --threshold 3", [], shares=5)
    t.check("export with 3-of-5 shares: 5 distinct shares shown",
            None not in shares and len(set(shares)) == 5, out)
    t.check("export: shares cleared between custodians (blank lines)",
            "\n" * 40 in out, out[-500:])
    m = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), out, re.S)
    armor = m.group(0) if m else ""
    t.check("export: armored text printed", m is not None, out[-800:])
    out, shares2 = r.export(a, "--shares 5 --threshold 3 --file shares2.bk", [], shares=5)
    t.check("second 3-of-5 export to a file", "read back and checked" in out, out)
    status = con.cmd("status")
    t.check("A: status records the last export with KEK 2",
            "last export" in status and "(KEK 2)" in status and "WARNING: no backup" not in status,
            status)
    out = con.cmd("backup import --file pass.bk")
    t.check("A (READY): import without --merge refused", cl.has_line(
        out, "backup import: this appliance is READY: a backup is restored onto an UNINITIALIZED\n"
        "appliance (zeroize first), or added to a READY one with --merge"), out)
    insp = rl_run([os.path.join(build, "coffre"), "backup", "inspect",
                   os.path.join(bdir_a, "pass.bk")])
    t.check("coffre backup inspect: header and counts",
            "current KEK:   2" in insp and "passphrase" in insp, insp)

    # ---- B: refusals, dry run, restore with the passphrase -----------------------------------
    b = cl.Appliance(build, fresh=True, name="bkB")
    with open(a.conf) as f:
        clients = re.findall(r'\[client "[^"]+"\][^\[]*', f.read())
    with open(b.conf, "a") as f:   # the config's clients are configuration, not backup
        f.write("\n" + "".join(clients))
    bdir_b = os.path.join(b.dir, "backup")
    os.makedirs(bdir_b, exist_ok=True)
    shutil.copy(os.path.join(bdir_a, "pass.bk"), bdir_b)
    binf = armor_decode(pass_text)
    lines = pass_text.splitlines()
    bad = dict()
    # a mistyped armor line: one character changed, the line checksum left
    ln = lines[3]
    bad["typo.bk"] = pass_text.replace(ln, ln[:10] + ("A" if ln[10] != "A" else "B") + ln[11:], 1)
    # a flipped bit in the body with every armor checksum recomputed: only AES-GCM can tell
    flipped = bytearray(binf)
    flipped[200] ^= 0x01
    bad["flip.bk"] = armor_encode(bytes(flipped))
    bad["trunc.bk"] = "\n".join(lines[:len(lines) // 2]) + "\n"
    newer = bytearray(binf)
    newer[4:6] = struct.pack(">H", 2)
    bad["newer.bk"] = armor_encode(bytes(newer))
    for name, text in bad.items():
        with open(os.path.join(bdir_b, name), "w") as f:
            f.write(text)
    b.start()
    con = b.console
    con.prompt()

    def refused(what, out, line):
        """The import ends with exactly this line; the appliance stays UNINITIALIZED."""
        st = state_of(con)
        t.check("B refuses %s (%r), stays UNINITIALIZED" % (what, line),
                cl.has_line(out, line) and st == "UNINITIALIZED", out + "\nstate: %s" % st)

    import_start(con, "--file pass.bk")
    con.expect("Backup passphrase: ")
    con.send("Wrong-Passphrase-123")
    refused("a wrong passphrase", con.prompt(30), "backup import: refused: wrong passphrase (or "
            "the backup header was altered); nothing was changed")
    out = con.cmd("backup import --file typo.bk")
    refused("a mistyped armor line", out, "backup import: refused: armor line 3: checksum "
            "mismatch (mistyped or damaged line); nothing was changed")
    import_start(con, "--file flip.bk")
    con.expect("Backup passphrase: ")
    con.send(PASS)
    refused("a flipped bit", con.prompt(30), "backup import: refused: the backup is damaged or "
            "was altered (authentication failed); nothing was changed")
    out = con.cmd("backup import --file trunc.bk")
    refused("a truncated file", out, "backup import: refused: no \"-----END COFFRE BACKUP-----\" "
            "line: the armored backup is truncated; nothing was changed")
    out = con.cmd("backup import --file newer.bk")
    refused("a newer format", out, "backup import: refused: backup format 2 is newer than this "
            "firmware reads (1): update first; nothing was changed")
    # shares: foreign, duplicated, mistyped -> each asked again; an empty line cancels
    import_start(con, "", armor)
    con.expect("Share 1 of 3: ", 20)
    con.send(shares2[0])
    out = con.expect("Share 1 of 3: ")
    t.check("a share of another backup is named as such", re.search(
        r"^share not accepted: it belongs to another backup \(set [0-9A-F]{8}, 3 of 5\)\r?$", out,
        re.M) is not None, out)
    con.send(shares[0])
    con.expect("Share 2 of 3: ")
    con.send(shares[0].lower())
    out = con.expect("Share 2 of 3: ")
    t.check("a duplicated share is refused", cl.has_line(
        out, "share not accepted: share number 1 was given already"), out)
    typo = shares[1][:25] + ("A" if shares[1][25] != "A" else "B") + shares[1][26:]
    con.send(typo)
    out = con.expect("Share 2 of 3: ")
    t.check("a mistyped share is caught by its checksum", cl.has_line(
        out, "share not accepted: share checksum mismatch: the share was mistyped"), out)
    con.send("")
    refused("an import cancelled at the shares", con.prompt(),
            "backup import: cancelled; nothing was changed")
    out = con.cmd("backup import --merge --file pass.bk")
    t.check("--merge refused while UNINITIALIZED", cl.has_line(
        out, "backup import: --merge adds a backup to a READY appliance; this one is "
        "UNINITIALIZED: import without --merge"), out)

    import_start(con, "--dry-run --file pass.bk")
    con.expect("Backup passphrase: ")
    con.send(PASS)
    out = con.prompt(30)
    t.check("dry run: verified, nothing changed",
            "verified: 2 KEKs, 2 key pairs" in out and "Nothing was changed" in out
            and state_of(con) == "UNINITIALIZED", out)

    so_b, pin_b = "so-b-12345678", "pin-b-12345678"

    def restore(app, args, armor_text=None, share_list=None, current_so=None):
        c2 = app.console
        import_start(c2, args, armor_text)
        if share_list is None:
            c2.expect("Backup passphrase: ")
            c2.send(PASS)
        else:
            for i, s in enumerate(share_list):
                c2.expect("Share %d of 3: " % (i + 1), 20)
                c2.send(s)
        out = c2.expect("HSM SO PIN: ", 30)
        if current_so is not None:
            c2.send(current_so)
        else:
            c2.send(so_b)
            c2.expect("Repeat the HSM SO PIN: ")
            c2.send(so_b)
        c2.expect("New HSM user PIN: ")
        c2.send(pin_b)
        c2.expect("Repeat the HSM user PIN: ")
        c2.send(pin_b)
        out += c2.expect("[y/N] ")
        c2.send("y")
        out += c2.expect("login: ", 60)
        return out.replace("\r\n", "\n")

    out = restore(b, "--file pass.bk")
    t.check("B: restore with the passphrase -> READY",
            "restored: 2 KEKs, 2 key pairs, 2 certificate files, %d objects" % len(all_uids) in out
            and "READY" in out, out)
    b.wait_ready()

    def same_as_a(app, who):
        ok_bytes = gone = 0
        with app.client() as c:
            for uid in live:
                try:
                    ok_bytes += c.get(uid) == known[uid]
                except Exception as e:
                    t.bad("%s: Get %s: %s" % (who, uid, e))
            for uid in gone_uids:
                rr = c.call(rl.uid_req(rl.OP_GET, uid))
                gone += rr.failed_with(rl.R_ITEM_NOT_FOUND, "object destroyed")
        t.check("%s serves every live key of A with the same bytes (%d/%d), over A's client "
                "certificate" % (who, ok_bytes, len(live)), ok_bytes == len(live))
        t.check("%s: destroyed keys stay destroyed: Get answers Item Not Found 'object "
                "destroyed' (%d/%d)" % (who, gone, len(gone_uids)),
                gone == len(gone_uids))
        with pyclient(app, a) as c:
            view = {uid: pk_view(c, uid, names) for uid, names in pk_names.items()}
        diff = [u for u in pk_names if view[u] != view_a[u]]
        t.check("%s: PyKMIP Get and Get Attributes (State, Name, x- attributes) answer as on A "
                "for vCenter's and PyKMIP's %d objects (%d differ)"
                % (who, len(pk_names), len(diff)),
                not diff and len(pk_names) == len(vc_uids) + len(pk),
                "\n".join("%s\n  A: %s\n  %s: %s" % (u, view_a[u], who, view[u])
                          for u in diff)[:2000])
        app.admin_user, app.admin_password = a.admin_user, a.admin_password
        app.login()
        same = [u for u in all_uids if app.console.cmd("keys show %s" % u) == shows_a[u]]
        t.check("%s: keys show (state, attributes, dates) identical to A's (%d/%d)" %
                (who, len(same), len(all_uids)), len(same) == len(all_uids),
                "\n".join(app.console.cmd("keys show %s" % u) for u in all_uids
                          if u not in same)[:1500])
        out = app.console.cmd("kek list")
        t.check("%s: KEK 2 current" % who, re.search(r"^2\s+current", out, re.M) is not None, out)

    # A's client certificate against B: the same CA and server certificate
    b.ssl_context = a.ssl_context
    same_as_a(b, "B")

    # ---- merge onto B, which holds A's KEKs 1 and 2 already (docs/backup.md "merge") ----------
    con = b.console
    out = merge(con, "pass.bk", dry=True)
    t.check("B (READY): a merge dry run proves the backup's KEKs unwrap in this HSM and says the "
            "merge would be refused (KEK 1 is here already)",
            "every key unwraps in this HSM" in out
            and "merge itself would be refused: KEK 1 exists on this HSM already" in out
            and "2 of the backup's KEK versions are on this HSM" in out
            and "nothing was changed" in out, out)
    kl_b = con.cmd("kek list")
    out = merge(con, "pass.bk")
    t.check("B: the merge itself is refused (KEK 1 exists), nothing changed, still READY",
            "refused: KEK 1 exists on this HSM already; nothing was changed" in out
            and con.cmd("kek list") == kl_b and state_of(con) == "READY", out)

    # ---- C: the pasted armor with 3 of the 5 shares --------------------------------------------
    c3 = cl.Appliance(build, fresh=True, name="bkC")
    with open(c3.conf, "a") as f:
        f.write("\n" + "".join(clients))
    c3.start()
    c3.console.prompt()
    out = restore(c3, "", armor, [shares[4], shares[1], shares[2]])
    t.check("C: restore of the pasted armor with shares 5, 2, 3 -> READY",
            "restored: 2 KEKs" in out and "READY" in out, out)
    c3.wait_ready()
    c3.ssl_context = a.ssl_context
    same_as_a(c3, "C")
    b.stop()
    c3.stop()

    # ---- D: a merge that adds A's keys to a working appliance ---------------------------------
    # A without KEK 1 (nothing under it since the re-wrap); D is a QA appliance with its own
    # KEK 1, CA and a key of its own; both QA clients are tenant "qa"
    con = a.console
    out = confirm(con, "kek destroy 1")
    t.check("A: kek destroy 1", "KEK 1 destroyed" in out, out)
    out, _ = r.export(a, "--file k2.bk", [("New backup passphrase: ", PASS),
                                          ("Repeat the backup passphrase: ", PASS)])
    t.check("A: export holding KEK 2 only", "backup exported (KEK 2 current)" in out, out)
    a.stop()
    d = cl.Appliance(build, name="bkD")
    bdir_d = os.path.join(d.tmp, "usbD")
    os.mkdir(bdir_d)
    d.set_section("backup", {"dir": bdir_d})
    shutil.copy(os.path.join(bdir_a, "k2.bk"), bdir_d)
    d.start()
    d.login()
    own_key = bytes(rnd.getrandbits(8) for _ in range(32))
    with d.client() as c:
        own_uid = c.register_aes(own_key)
    qa_live = [u for u in live if u not in vc_uids]   # vCenter's keys belong to its own tenant
    con = d.console
    out = merge(con, "k2.bk", dry=True)
    t.check("D: merge dry run: KEK 2 unwraps here, no collision, nothing changed",
            "every key unwraps in this HSM; would restore: 1 KEKs" in out
            and "would be refused" not in out and "nothing was changed" in out, out)
    with d.client() as c:
        rr = c.call(rl.uid_req(rl.OP_GET, qa_live[0]))
    t.check("D: after the dry run A's keys are still unknown here (Item Not Found 'not found')",
            rr.failed_with(rl.R_ITEM_NOT_FOUND, "not found"), rr.describe())
    out = merge(con, "k2.bk")
    t.check("D: merge adds KEK 2 and A's %d objects; KEK 2 is made current at once" % len(all_uids),
            "restored: 1 KEKs, 0 key pairs, 0 certificate files, %d objects" % len(all_uids) in out
            and "KEK 2 from the backup is now the current KEK" in out, out)

    def d_serves(when):
        with d.client() as c:
            own = c.get(own_uid) == own_key
            same = sum(c.get(u) == known[u] for u in qa_live)
            new_uid = c.create_aes()
            fresh = len(c.get(new_uid)) == 32
        t.check("D %s: its own key, A's %d live keys (same bytes: %d) and a new Create are served"
                % (when, len(qa_live), same), own and same == len(qa_live) and fresh)

    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d.dir, "data", "store.db"), uri=True,
                         timeout=10)
    details = [r[0] for r in db.execute("SELECT detail FROM audit WHERE operation = ?",
                                        ("backup:import",))]
    db.close()
    t.check("D: the merge's audit record says that KEK 2 became current",
            len(details) == 1 and details[0].endswith("objects, merge, KEK 2 current"),
            str(details))
    d_serves("after the merge")
    kl = kek1_emptied(con)
    t.check("D: the re-wrap job moves D's own objects under KEK 2 (KEK 1 wraps none)",
            re.search(r"^1\s+old\s+0\b", kl, re.M) is not None
            and re.search(r"^2\s+current\s+\d+", kl, re.M) is not None, kl)
    d.stop()
    d.start()
    d_serves("after a restart")
    d.login()
    kl = d.console.cmd("kek list")
    t.check("D after a restart: KEK 2 still current", re.search(r"^2\s+current", kl, re.M)
            is not None, kl)
    d.stop()
    print("elapsed %.1f s" % (time.monotonic() - t0))
    t.done()


def rl_run(argv):
    import subprocess
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    return p.stdout.decode(errors="replace")


if __name__ == "__main__":
    main()
