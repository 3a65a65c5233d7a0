"""Key backup export / restore between two appliances over real ptys (docs/backup.md, issue 7).

  A (QA instance): keys from a real KMIP client (known bytes), an attribute added, some
  revoked, some destroyed, the KEK rotated; `backup export` with a passphrase (to a file in
  [backup] dir), with 3-of-5 shares (armored text on the console) and a second 3-of-5 export
  (its shares are "another backup's").
  B (fresh appliance, its own SoftHSMv2 token): every refusal first (wrong passphrase, a
  foreign share, a duplicated share, a mistyped share, a mistyped armor line, a flipped bit
  with the armor line checksum recomputed, a truncated file, a newer format version with the
  armor recomputed but not the authentication), each leaving it UNINITIALIZED; --dry-run;
  then `backup import --file` with the passphrase -> READY.
  C (fresh): `backup import` of the pasted armor with 3 of the 5 shares -> READY.
  On B and C: every key A served is served with the same bytes, `keys show` says the same
  (state, attributes), destroyed keys stay destroyed, A's client certificate is accepted
  (same CA and server certificate), A's console account logs in.

usage: test_backup.py BUILD_DIR"""
import base64
import os
import re
import shutil
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_lib as cl  # noqa: E402
import robust_lib as rl  # noqa: E402

OP_ADD_ATTRIBUTE = 0x0D
PASS = "Correct-Horse-42-Battery"
BEGIN = "-----BEGIN COFFRE BACKUP-----"
END = "-----END COFFRE BACKUP-----"


def add_attr_req(uid, name, value):
    return rl.request([(OP_ADD_ATTRIBUTE, [
        rl.Tx(rl.TAG["UNIQUE_IDENTIFIER"], uid),
        rl.attr(name, rl.Tx, value),
    ])])


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


def main():
    build = rl.parse_build(sys.argv)
    rl.skip_if_unbuilt(build)
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
    revoked, destroyed = uids[3:5], uids[5:7]
    for uid in revoked + destroyed:
        out = con.cmd("keys revoke %s --reason cessation --message retired" % uid)
        t.check("A: keys revoke", "Deactivated" in out, out)
    for uid in destroyed:
        out = confirm(con, "keys destroy %s" % uid)
        t.check("A: keys destroy", "destroy" in out and "refused" not in out, out)
    live = [u for u in uids if u not in destroyed]
    out = confirm(con, "kek rotate")
    t.check("A: kek rotate", "under KEK 2" in out, out)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if re.search(r"^2\s+current\s+%d" % len(uids), con.cmd("kek list"), re.M):
            break
        time.sleep(0.2)
    shows_a = {u: con.cmd("keys show %s" % u) for u in uids}
    status = con.cmd("status")
    t.check("A: status warns before the first backup", "no backup has been exported" in status,
            status)

    # ---- exports -----------------------------------------------------------------------------
    out, _ = r.export(a, "--file pass.bk", [("New backup passphrase: ", "short"),
                                            ("New backup passphrase: ", PASS),
                                            ("Repeat the backup passphrase: ", PASS)])
    t.check("export: a weak passphrase is refused and asked again", "too short" in out, out)
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
    t.check("A (READY): import without --merge refused", "--merge" in out, out)
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

    def refused(what, out, needle):
        st = state_of(con)
        t.check("B refuses %s (%s), stays UNINITIALIZED" % (what, needle),
                needle in out and "nothing was changed" in out and st == "UNINITIALIZED",
                out + "\nstate: %s" % st)

    import_start(con, "--file pass.bk")
    con.expect("Backup passphrase: ")
    con.send("Wrong-Passphrase-123")
    refused("a wrong passphrase", con.prompt(30), "wrong passphrase")
    out = con.cmd("backup import --file typo.bk")
    refused("a mistyped armor line", out, "checksum mismatch")
    import_start(con, "--file flip.bk")
    con.expect("Backup passphrase: ")
    con.send(PASS)
    refused("a flipped bit", con.prompt(30), "authentication failed")
    out = con.cmd("backup import --file trunc.bk")
    refused("a truncated file", out, "truncated")
    out = con.cmd("backup import --file newer.bk")
    refused("a newer format", out, "newer")
    # shares: foreign, duplicated, mistyped -> each asked again; an empty line cancels
    import_start(con, "", armor)
    con.expect("Share 1 of 3: ", 20)
    con.send(shares2[0])
    out = con.expect("Share 1 of 3: ")
    t.check("a share of another backup is named as such", "another backup" in out, out)
    con.send(shares[0])
    con.expect("Share 2 of 3: ")
    con.send(shares[0].lower())
    out = con.expect("Share 2 of 3: ")
    t.check("a duplicated share is refused", "given already" in out, out)
    typo = shares[1][:25] + ("A" if shares[1][25] != "A" else "B") + shares[1][26:]
    con.send(typo)
    out = con.expect("Share 2 of 3: ")
    t.check("a mistyped share is caught by its checksum", "mistyped" in out, out)
    con.send("")
    refused("an import cancelled at the shares", con.prompt(), "cancelled")
    out = con.cmd("backup import --merge --file pass.bk")
    t.check("--merge refused while UNINITIALIZED", "without --merge" in out, out)

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
            "restored: 2 KEKs, 2 key pairs, 2 certificate files, %d objects" % len(uids) in out
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
            for uid in destroyed:
                rr = c.call(rl.uid_req(rl.OP_GET, uid))
                gone += not rr.ok
        t.check("%s serves every live key of A with the same bytes (%d/%d), over A's client "
                "certificate" % (who, ok_bytes, len(live)), ok_bytes == len(live))
        t.check("%s: destroyed keys stay destroyed (%d/%d)" % (who, gone, len(destroyed)),
                gone == len(destroyed))
        app.admin_user, app.admin_password = a.admin_user, a.admin_password
        app.login()
        same = [u for u in uids if app.console.cmd("keys show %s" % u) == shows_a[u]]
        t.check("%s: keys show (state, attributes, dates) identical to A's (%d/%d)" %
                (who, len(same), len(uids)), len(same) == len(uids),
                "\n".join(app.console.cmd("keys show %s" % u) for u in uids if u not in same)[:1500])
        out = app.console.cmd("kek list")
        t.check("%s: KEK 2 current" % who, re.search(r"^2\s+current", out, re.M) is not None, out)

    # A's client certificate against B: the same CA and server certificate
    b.ssl_context = a.ssl_context
    same_as_a(b, "B")

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
    for x in (a, b, c3):
        x.stop()
    print("elapsed %.1f s" % (time.monotonic() - t0))
    t.done()


def rl_run(argv):
    import subprocess
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    return p.stdout.decode(errors="replace")


if __name__ == "__main__":
    main()
