"""Console accounts over a real pty (docs/console/accounts.md), on a QA instance run by the test
build of coffred (BUILD_DIR/tests/coffred_th, COFFRE_TEST_CLOCK moves its clock forward):

  - the QA administrator logs in (password only: provisioned without TOTP)
  - `user add bob`: a temporary password; bob's first login forces a new password and TOTP
    enrolment (otpauth URI + ASCII QR code, confirmed by a code); then password + TOTP log in,
    a wrong code is refused, the enrolment code cannot be used again
  - `user list` shows accounts, TOTP, lockout, failures; never a hash
  - dual control ([console] dual_control = kek destroy): the requester cannot approve; a second
    administrator's `approve ID` runs the command with the stored arguments; an operation not
    approved within 15 minutes (clock moved 16 minutes) is cancelled and audited
  - 10 wrong passwords lock the account (audited); the correct password is then refused, also
    after a restart (the lockout is in the store)
  - the store holds Argon2id hashes and sealed TOTP blobs only

usage: test_console_auth.py BUILD_DIR"""
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_lib as cl  # noqa: E402
import robust_lib as rl  # noqa: E402

BOB_TEMP = "Bob-temporary-1"
BOB_PW = "bob's own Passw0rd"


class Clock:
    """The service's clock: time.time() + the offset written to COFFRE_TEST_CLOCK's file."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.set(0)

    def set(self, offset):
        self.offset = offset
        with open(self.path, "w") as f:
            f.write("%d\n" % offset)

    def now(self):
        return time.time() + self.offset


class Totp:
    """bob's authenticator: the next code the service accepts (a step within +-1 of its clock
    and later than the last one used: codes are single-use)."""

    def __init__(self, secret, clock):
        self.secret, self.clock, self.last = secret, clock, 0

    def at(self, step):
        return cl.totp_now(self.secret, step * 30)

    def next(self):
        while True:
            cur = int(self.clock.now() // 30)
            s = max(cur, self.last + 1)
            if s <= cur + 1:
                return s
            time.sleep(30 - self.clock.now() % 30 + 0.2)

    def code(self):
        """A fresh code, marked used (for a login expected to succeed)."""
        s = self.next()
        self.last = s
        return self.at(s)


def audit_rows(a, op=None):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(a.dir, "data", "store.db"), uri=True)
    try:
        q = "SELECT seq, actor, operation, uid, result, detail FROM audit"
        rows = db.execute(q + (" WHERE operation=?" if op else "") + " ORDER BY seq",
                          (op,) if op else ()).fetchall()
    finally:
        db.close()
    return rows


def users_rows(a):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(a.dir, "data", "store.db"), uri=True)
    try:
        return {r[0]: r for r in db.execute(
            "SELECT name, pw_hash, totp, must_change, failed, locked_until FROM users")}
    finally:
        db.close()


def logout(con):
    con.send("logout")
    con.expect("login: ")


def login_raw(con, user, password, code=None):
    """At a fresh "login: " (after logout / a failure): returns the text up to the next
    command prompt or "login: "."""
    con.send(user)
    con.expect("Password: ")
    con.send(password)
    if code is not None:
        con.expect("TOTP code: ")
        con.send(code)
    return con.expect(re.compile(rb"coffre(\([A-Z]+\))?> |login: "), 30).replace("\r\n", "\n")


def main():
    build = rl.parse_build(sys.argv)
    rl.require_built(build)
    t = rl.Tally()
    th = os.path.join(build, "tests", "coffred_th")
    if not os.access(th, os.X_OK):
        t.bad("no %s (make BUILD=%s build-tests)" % (th, build))
        t.done()
    a = cl.Appliance(build, name="auth")
    a.coffred = th
    a.set_section("console", {"dual_control": "kek destroy"})
    clock = Clock(os.path.join(a.tmp, "clock"))
    os.environ["COFFRE_TEST_CLOCK"] = clock.path
    a.start()
    con = a.console

    # ---- the QA administrator ----------------------------------------------------------
    out = a.login()
    t.check("QA admin logs in with the provisioned password (no TOTP prompt)",
            "login incorrect" not in out, out[-300:])
    out = con.cmd("user list")
    t.check("user list shows admin without TOTP", re.search(r"^admin\s.*\bno\b", out, re.M) is not None, out)

    # ---- user add + first login -----------------------------------------------------
    con.send("user add bob")
    con.expect("Temporary password: ")
    con.send("short")
    out = con.expect("Temporary password: ")
    t.check("a weak password is refused with the rule", cl.has_line(
        out, "password refused: a password needs at least 12 characters"), out)
    con.send(BOB_TEMP)
    con.expect("Repeat temporary password: ")
    con.send(BOB_TEMP)
    out = con.prompt().replace("\r\n", "\n")
    t.check("user add bob", "administrator bob created" in out, out)
    out = con.cmd("user list")
    t.check("user list: bob must change his password, no TOTP yet",
            re.search(r"^bob\s.*\bno\b.*must change password", out, re.M) is not None, out)
    t.check("user list shows no hash", "argon2" not in out and "$" not in out, out)
    logout(con)

    con.send("bob")
    con.expect("Password: ")
    con.send(BOB_TEMP)
    out = con.expect("New password: ")
    t.check("first login (no TOTP prompt yet) forces a new password", "First login" in out and
            "TOTP code: " not in out, out[-400:])
    con.send(BOB_TEMP)
    out = con.expect("New password: ")
    t.check("the temporary password cannot be kept", cl.has_line(
        out, "password refused: the new password must differ from the current one"), out)
    con.send(BOB_PW)
    con.expect("Repeat new password: ")
    con.send(BOB_PW)
    enrol = con.expect("TOTP code: ").replace("\r\n", "\n")
    m = re.search(r"otpauth://totp/Coffre:bob\?secret=([A-Z2-7]+)&issuer=Coffre", enrol)
    t.check("enrolment shows the otpauth URI (issuer Coffre)", m is not None, enrol[-500:])
    qr_lines = [ln for ln in enrol.split("\n") if "##" in ln]
    t.check("enrolment shows an ASCII QR code (## modules, <= 80 columns)",
            len(qr_lines) >= 21 and all(len(ln) <= 80 and set(ln) <= {"#", " "} for ln in qr_lines),
            "%d lines" % len(qr_lines))
    secret = m.group(1) if m else "A" * 32
    con.send("000000" if cl.totp_now(secret, clock.now()) != "000000" else "111111")
    out = con.expect("TOTP code: ")
    t.check("a wrong enrolment code is refused",
            cl.has_line(out, "wrong code; check the app's clock and try again"), out)
    totp = Totp(secret, clock)
    enrol_step = int(clock.now() // 30)
    enrol_code = totp.at(enrol_step)
    totp.last = enrol_step
    con.send(enrol_code)
    out = con.prompt().replace("\r\n", "\n")
    t.check("bob enrolled and logged in", "TOTP enrolled" in out, out)
    rows = users_rows(a)
    bob = rows.get("bob")
    t.check("store: bob has an Argon2id hash and a sealed TOTP blob, must_change cleared",
            bob is not None and bob[1].startswith("$argon2id$v=19$m=65536,t=3,p=1$") and
            bob[2] is not None and len(bob[2]) == 75 and bob[3] == 0, repr(bob))
    import base64
    raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    t.check("store: the TOTP secret is not in the blob", bob is not None and raw not in bytes(bob[2]))
    logout(con)

    # the enrolment code is spent; a code of the next step works
    out = login_raw(con, "bob", BOB_PW, enrol_code)
    t.check("the enrolment code cannot log in again", out.strip() == "login incorrect", out)
    out = login_raw(con, "bob", BOB_PW, totp.code())
    t.check("password + TOTP log bob in", "login incorrect" not in out, out)
    logout(con)
    out = login_raw(con, "bob", BOB_PW, totp.at(totp.next() + 10))
    t.check("a wrong TOTP code is refused with the one message", out.strip() == "login incorrect",
            out)
    out = login_raw(con, "bob", "wrong password 1", totp.at(totp.next()))
    t.check("a wrong password with a right code: the same message",
            out.strip() == "login incorrect", out)
    out = login_raw(con, "nosuchuser", "whatever pw 12", "123456")
    t.check("an unknown name gets Password and TOTP prompts and the same message",
            out.strip() == "login incorrect", out)
    fails = audit_rows(a, "console:login")
    details = [r[5] for r in fails if r[4] != 0]
    t.check("failed logins audited with the reason (not shown on the console)",
            any("wrong TOTP code" in d for d in details) and
            any("TOTP code already used" in d for d in details) and
            any("wrong password" in d for d in details) and
            any(d == "no such account" for d in details), repr(details))
    t.check("the unknown name is not recorded", not any("nosuchuser" in (r[3] + r[5]) for r in fails))

    # ---- dual control ---------------------------------------------------------------
    out = login_raw(con, "bob", BOB_PW, totp.code())
    out = con.cmd("kek destroy 99")
    m = re.search(r"operation ([0-9a-f]{8}) pending: a second administrator must log in and run "
                  r"`approve \1` within 15 minutes", out)
    t.check("kek destroy under dual control is held as a pending operation", m is not None, out)
    op1 = m.group(1) if m else "00000000"
    out = con.cmd("approve " + op1)
    t.check("the requester cannot approve", cl.has_line(
        out, "you requested operation %s: another administrator must approve it" % op1), out)
    logout(con)
    out = a.login()
    t.check("login shows operations waiting", "wait for a second administrator" in out, out)
    out = con.cmd("pending")
    t.check("pending lists it", op1 in out and "kek destroy 99" in out and "bob" in out, out)
    out = con.cmd("approve " + op1)
    t.check("approve by a second administrator runs it with the stored arguments",
            "running it now" in out and "no KEK 99" in out, out)
    out = con.cmd("approve " + op1)
    t.check("an approved operation is gone", cl.has_line(
        out, "no pending operation %s (unknown, expired or already approved); see `pending`" % op1),
        out)
    ap = audit_rows(a, "console:dual-approve")
    t.check("approval audited (approver as actor)", any(r[3] == op1 and r[1] == "console:admin"
                                                         for r in ap), repr(ap))

    out = con.cmd("kek destroy 98")
    m = re.search(r"operation ([0-9a-f]{8}) pending", out)
    op2 = m.group(1) if m else "00000000"
    t.check("a second operation pending", m is not None, out)
    logout(con)
    clock.set(16 * 60)
    con.send("")
    out = con.expect("login: ")
    out = login_raw(con, "bob", BOB_PW, totp.code())
    out = con.cmd("approve " + op2)
    t.check("after 16 minutes the operation is cancelled", cl.has_line(
        out, "no pending operation %s (unknown, expired or already approved); see `pending`" % op2),
        out)
    ex = audit_rows(a, "console:dual-expired")
    t.check("the expiry is audited", any(r[3] == op2 for r in ex), repr(ex))
    out = con.cmd("pending")
    t.check("pending is empty", "no operations wait" in out, out)

    # ---- lockout --------------------------------------------------------------------
    logout(con)
    t0 = time.monotonic()
    for i in range(10):
        out = login_raw(con, "admin", "Wrong-password-%d" % i)
    dt = time.monotonic() - t0
    t.check("10 wrong passwords: each answered 'login incorrect' after a delay",
            out.strip() == "login incorrect" and dt >= 10.0, "%.1f s: %s" % (dt, out))
    lk = audit_rows(a, "console:lockout")
    t.check("the lockout is audited", any(r[3] == "admin" for r in lk), repr(lk))
    rows = users_rows(a)
    t.check("store: admin failed=10, locked for 5 minutes",
            rows["admin"][4] == 10 and rows["admin"][5] > clock.now() + 250, repr(rows["admin"]))
    out = login_raw(con, "admin", a.admin_password)
    t.check("the correct password is refused while locked", out.strip() == "login incorrect", out)
    a.stop()
    a.start()
    con = a.console
    con.send("")
    con.expect("login: ")
    out = login_raw(con, "admin", a.admin_password)
    t.check("still locked after a restart", out.strip() == "login incorrect", out)
    out = login_raw(con, "bob", BOB_PW, totp.code())
    out = con.cmd("user list")
    t.check("user list shows admin locked with its failures",
            re.search(r"^admin\s.*until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+1\d\b", out, re.M)
            is not None, out)
    logout(con)
    clock.set(16 * 60 + 301)
    out = login_raw(con, "admin", a.admin_password)
    t.check("the lock ends after 5 minutes", "login incorrect" not in out, out)
    a.stop()
    t.done()


if __name__ == "__main__":
    main()
