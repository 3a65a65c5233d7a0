"""Dual control end to end over a real pty (docs/console/accounts.md "Dual control",
docs/backup.md), on a QA instance run by BUILD_DIR/tests/coffred_th (COFFRE_TEST_CLOCK moves
its clock so that each login has a fresh TOTP step without waiting) with
[console] dual_control = zeroize, backup export:

  1. admin adds a second administrator bob; bob's first login: own password, TOTP enrolment
  2. admin's `backup export` is held (an operation id, no SO PIN asked), `pending` lists it;
     bob approves it and answers the export's questions (SO PIN, passphrase twice): the
     armored backup is printed and `status` stops warning about a missing backup
  3. admin's `zeroize` is held; admin cannot approve it; bob approves, confirms -> the program
     restarts UNINITIALIZED
  4. a fresh appliance restores the armored text with the passphrase -> READY; bob logs in
     there with his password and a code of the same TOTP secret (account and sealed TOTP came
     through the backup)

usage: test_console_dual.py BUILD_DIR"""
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_lib as cl  # noqa: E402
import robust_lib as rl  # noqa: E402

BOB_TEMP = "Bob-temporary-1"
BOB_PW = "bob's own Passw0rd"
PASS = "Dual-Control-42-Passphrase"
BEGIN = "-----BEGIN COFFRE BACKUP-----"
END = "-----END COFFRE BACKUP-----"
ANY_PROMPT = re.compile(rb"coffre(\([A-Z]+\))?> |login: ")


class Clock:
    """The service's clock: time.time() + the offset in COFFRE_TEST_CLOCK's file."""

    def __init__(self, path):
        self.path = path
        self.set(0)

    def set(self, offset):
        self.offset = offset
        with open(self.path, "w") as f:
            f.write("%d\n" % offset)

    def now(self):
        return time.time() + self.offset


class Totp:
    """bob's authenticator. Codes are single-use: before each login the service clock is moved
    one step past the last step used (no waiting)."""

    def __init__(self, secret, clock, last):
        self.secret, self.clock, self.last = secret, clock, last

    def code(self):
        if int(self.clock.now() // 30) <= self.last:
            self.clock.set(self.clock.offset + 30 * (self.last + 1 - int(self.clock.now() // 30)))
        step = int(self.clock.now() // 30)
        self.last = step
        return cl.totp_now(self.secret, step * 30)


def logout(con):
    con.send("logout")
    con.expect("login: ")


def login_raw(con, user, password, code=None):
    """At "login: ": the text up to the next command prompt or "login: "."""
    con.send(user)
    con.expect("Password: ")
    con.send(password)
    if code is not None:
        con.expect("TOTP code: ")
        con.send(code)
    return con.expect(ANY_PROMPT, 30).replace("\r\n", "\n")


def held(t, out, what):
    m = re.search(r"operation ([0-9a-f]{8}) pending: a second administrator must log in and run "
                  r"`approve \1` within 15 minutes", out)
    t.check("%s under dual control is held (an operation id, nothing asked)" % what,
            m is not None and "PIN" not in out and "[y/N]" not in out, out)
    return m.group(1) if m else "00000000"


def paste(con, text):
    """Pasted lines, reading the echo as it comes (a full pty would block both sides)."""
    for line in text.splitlines():
        con.send(line)
        con._fill(time.monotonic() + 0.002)


def main():
    build = rl.parse_build(sys.argv)
    rl.require_built(build)
    t = rl.Tally()
    t0 = time.monotonic()
    th = os.path.join(build, "tests", "coffred_th")
    if not os.access(th, os.X_OK):
        t.bad("no %s (make BUILD=%s build-tests)" % (th, build))
        t.done()
    a = cl.Appliance(build, name="dual")
    # the export runs its HSM helper `coffre` found next to the running program
    # (/proc/self/exe): give coffred_th a directory with a `coffre` beside it
    bindir = os.path.join(a.tmp, "bin")
    os.mkdir(bindir)
    th_copy = os.path.join(bindir, "coffred_th")
    shutil.copy2(th, th_copy)
    os.symlink(os.path.abspath(os.path.join(build, "coffre")), os.path.join(bindir, "coffre"))
    th = th_copy
    a.coffred = th
    so_pin = a._read(os.path.join(a.dir, "hsm-so.pin"))
    a.set_section("console", {"dual_control": "zeroize, backup export"})
    clock = Clock(os.path.join(a.tmp, "clock"))
    os.environ["COFFRE_TEST_CLOCK"] = clock.path
    a.start()
    con = a.console

    # ---- 1. a second administrator ---------------------------------------------------------
    out = a.login()
    t.check("QA admin logs in", "login incorrect" not in out, out[-300:])
    con.send("user add bob")
    con.expect("Temporary password: ")
    con.send(BOB_TEMP)
    con.expect("Repeat temporary password: ")
    con.send(BOB_TEMP)
    out = con.prompt().replace("\r\n", "\n")
    t.check("user add bob", "administrator bob created" in out, out)
    logout(con)
    con.send("bob")
    con.expect("Password: ")
    con.send(BOB_TEMP)
    con.expect("New password: ")
    con.send(BOB_PW)
    con.expect("Repeat new password: ")
    con.send(BOB_PW)
    enrol = con.expect("TOTP code: ").replace("\r\n", "\n")
    m = re.search(r"otpauth://totp/Coffre:bob\?secret=([A-Z2-7]+)", enrol)
    t.check("bob's first login: TOTP enrolment shows the otpauth URI", m is not None, enrol[-500:])
    secret = m.group(1) if m else "A" * 32
    step = int(clock.now() // 30)
    con.send(cl.totp_now(secret, step * 30))
    out = con.prompt().replace("\r\n", "\n")
    t.check("bob enrolled and logged in", "TOTP enrolled" in out, out)
    totp = Totp(secret, clock, step)
    logout(con)

    # ---- 2. backup export, held then approved ------------------------------------------------
    a.console.send("")
    con.expect("login: ")
    out = login_raw(con, "admin", a.admin_password)
    status = con.cmd("status")
    t.check("status warns before the first backup", "no backup has been exported" in status,
            status)
    con.send("backup export")
    out = con.expect(ANY_PROMPT, 20).replace("\r\n", "\n")
    t.check("backup export does not ask for the SO PIN when held", "SO PIN" not in out, out)
    op_exp = held(t, out, "backup export")
    out = con.cmd("pending")
    t.check("pending lists the export", op_exp in out and "backup export" in out and "admin" in out,
            out)
    logout(con)
    out = login_raw(con, "bob", BOB_PW, totp.code())
    t.check("bob logs in with TOTP; the login says an operation waits",
            "login incorrect" not in out and "wait for a second administrator" in out, out)
    con.send("approve " + op_exp)
    out = con.expect("HSM SO PIN: ", 20).replace("\r\n", "\n")
    t.check("bob's approve runs the export, which asks bob for the SO PIN",
            "running it now" in out, out)
    con.send(so_pin)
    out += con.expect("New backup passphrase: ", 30)
    con.send(PASS)
    out += con.expect("Repeat the backup passphrase: ", 30)
    con.send(PASS)
    out += con.prompt(90)
    out = out.replace("\r\n", "\n")
    m = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), out, re.S)
    armor = m.group(0) if m else ""
    t.check("the approved export prints the armored backup (BEGIN/END lines)",
            m is not None and "backup exported" in out, out[-800:])
    t.check("the passphrase is not in the output", PASS not in out)
    status = con.cmd("status")
    t.check("status no longer warns about a missing backup",
            "no backup has been exported" not in status and "last export" in status, status)
    out = con.cmd("pending")
    t.check("the export is no longer pending", op_exp not in out, out)
    logout(con)

    # ---- 3. zeroize: the requester cannot approve; bob does -----------------------------------
    out = login_raw(con, "admin", a.admin_password)
    con.send("zeroize")
    out = con.expect(ANY_PROMPT, 20).replace("\r\n", "\n")
    op_z = held(t, out, "zeroize")
    out = con.cmd("approve " + op_z)
    t.check("admin cannot approve its own zeroize",
            cl.has_line(out, "you requested operation %s: another administrator must approve it"
                        % op_z) and "[y/N]" not in out, out)
    out = con.cmd("status")
    t.check("... still READY", "state: READY" in out, out)
    logout(con)
    out = login_raw(con, "bob", BOB_PW, totp.code())
    t.check("bob logs in again", "login incorrect" not in out, out)
    pid = a.proc.pid
    con.send("approve " + op_z)
    out = con.expect("[y/N] ", 20)
    t.check("bob's approve runs zeroize, which asks for its confirmation",
            "running it now" in out, out)
    con.send("y")
    con.expect("to confirm: ")
    con.send("ZEROIZE")
    # the old program shows no prompt after it: the next one on the TTY is the new program's
    out = con.expect("restarting...\r\n", timeout=60)
    t.check("zeroize -> UNINITIALIZED", "zeroized" in out and "coffre" not in out.split("zeroized")[-1], out)
    deadline = time.monotonic() + 30
    pat = r"zeroized: restarting\n(.*\n)*coffred: UNINITIALIZED: "
    while time.monotonic() < deadline and not re.search(pat, a.stderr()):
        time.sleep(0.1)
    err = a.stderr()
    t.check("... the program restarts (same pid) and boots UNINITIALIZED",
            a.alive() and a.proc.pid == pid and re.search(pat, err) is not None, err[-600:])
    out = con.expect("coffre(UNINITIALIZED)> ", timeout=30)  # the new program's prompt
    t.check("... the new program greets the console: banner, then its prompt",
            "State: UNINITIALIZED." in out and "coffre(" not in out, out)
    con.drain(0.3)
    out = con.cmd("status")
    t.check("status after the approved zeroize: UNINITIALIZED", "state: UNINITIALIZED" in out, out)
    a.stop()

    # ---- 4. restore on a fresh appliance; bob's account and TOTP came through ----------------
    b = cl.Appliance(build, fresh=True, name="dualB")
    b.coffred = th
    b.start()
    con = b.console
    con.prompt()
    con.send("backup import")
    con.expect("(Ctrl-C cancels):")
    paste(con, armor)
    con.expect("Backup passphrase: ", 30)
    con.send(PASS)
    out = con.expect("HSM SO PIN: ", 60)
    con.send("so-b-12345678")
    con.expect("Repeat the HSM SO PIN: ")
    con.send("so-b-12345678")
    con.expect("New HSM user PIN: ")
    con.send("pin-b-12345678")
    con.expect("Repeat the HSM user PIN: ")
    con.send("pin-b-12345678")
    out += con.expect("[y/N] ")
    con.send("y")
    out += con.expect("login: ", 60)
    out = out.replace("\r\n", "\n")
    t.check("the armored backup restores on a fresh appliance -> READY",
            "restored:" in out and "READY" in out, out[-800:])
    b.wait_ready()
    out = login_raw(con, "bob", BOB_PW, "000000" if totp.code() != "000000" else "111111")
    t.check("on the restored appliance bob with a wrong TOTP code is refused",
            out.strip() == "login incorrect", out)
    out = login_raw(con, "bob", BOB_PW, totp.code())
    t.check("on the restored appliance bob logs in with his password and a code of the same "
            "TOTP secret", "login incorrect" not in out and
            re.search(r"coffre> $", con.log[-20:].decode(errors="replace")) is not None, out)
    out = con.cmd("user list")
    t.check("user list there shows admin and bob (bob with TOTP)",
            re.search(r"^admin\s", out, re.M) is not None and
            re.search(r"^bob\s.*\byes\b", out, re.M) is not None, out)
    b.stop()
    print("elapsed %.1f s" % (time.monotonic() - t0))
    t.done()


if __name__ == "__main__":
    main()
