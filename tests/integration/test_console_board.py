"""The console's board commands over a real pty on the host board (docs/console/board.md):
net show / set / dhcp / hostname with their refusals, time show / set (refused: the host's
clock is not the appliance's), the restart counter in status, init proposing the saved
hostname and address for the server certificate; then, logged in on a READY QA instance,
the audit records, and reboot / shutdown: a clean stop with exit status 11 / 10 after [y/N].

    /usr/bin/python3 tests/integration/test_console_board.py BUILD_DIR
Prints "N passed, M failed" last.
"""
import os
import re
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl          # noqa: E402
import console_lib as cl         # noqa: E402

UNINIT = "coffre(UNINITIALIZED)> "
EXIT_POWEROFF = 10
EXIT_REBOOT = 11


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def answer(con, line, yes):
    """Send a command that asks [y/N]; answer; return everything up to the next prompt."""
    con.send(line)
    out = con.expect("[y/N] ")
    con.send("y" if yes else "n")
    return (out + con.prompt()).replace("\r\n", "\n")


def net_refusals(t, con):
    cases = [
        ("net set 10.0.0.300/24", "net set: address '10.0.0.300/24': not an IPv4 or IPv6 "
         "address; nothing was changed\n"),
        ("net set 10.0.0.5", "net set: address '10.0.0.5': write the address as ADDR/PREFIX, "
         "e.g. 192.0.2.10/24; nothing was changed\n"),
        ("net set 010.0.0.5/24", "net set: address '010.0.0.5/24': not an IPv4 or IPv6 "
         "address; nothing was changed\n"),
        ("net set 10.0.0.5/33", "net set: address '10.0.0.5/33': the prefix length of an IPv4 "
         "address is 1 to 32; nothing was changed\n"),
        ("net set 10.0.0.0/24", "net set: address '10.0.0.0/24': that is the network address "
         "of its subnet, not a host address; nothing was changed\n"),
        ("net set 10.0.0.255/24", "net set: address '10.0.0.255/24': that is the broadcast "
         "address of its subnet, not a host address; nothing was changed\n"),
        ("net set 127.0.0.2/8", "net set: address '127.0.0.2/8': 127.0.0.0/8 is the loopback "
         "network; nothing was changed\n"),
        ("net set 10.0.0.5/24 gateway 10.0.1.1", "net set: the gateway is outside the "
         "address's subnet (ADDR/PREFIX); nothing was changed\n"),
        ("net set 10.0.0.5/24 gateway 2001:db8::1", "net set: the gateway must be of the "
         "address's family (IPv4 or IPv6); nothing was changed\n"),
        ("net set 10.0.0.5/24 dns", "net set: dns needs at least one address; nothing was "
         "changed\n"),
        ("net set 10.0.0.5/24 dns 1.1.1.1 8.8.8.8 9.9.9.9 4.4.4.4", "net set: at most 3 name "
         "servers; nothing was changed\n"),
        ("net set 10.0.0.5/24 dns 224.0.0.1", "net set: name server '224.0.0.1': multicast, "
         "reserved and broadcast addresses are not host addresses; nothing was changed\n"),
        ("net hostname -vault", "net hostname: '-vault': a hostname is labels of letters, "
         "digits and '-' separated by dots, each label starting and ending with a letter or "
         "digit; nothing was changed\n"),
        ("net hostname host.123", "net hostname: 'host.123': the last label of a hostname is "
         "not all digits (that reads as an address); nothing was changed\n"),
        ("net hostname " + "a" * 64, "net hostname: '" + "a" * 64 + "': a hostname has 1 to "
         "63 characters; nothing was changed\n"),
    ]
    for line, want in cases:
        out = con.cmd(line)
        t.check("refused: %s" % line[:50], out == want, out)
    out = con.cmd("net set 10.0.0.5/24 frob")
    t.check("net set: an unknown word, with the usage", out.startswith(
        "net set: unexpected 'frob'\nusage: net set ADDR/PREFIX"), out)


def fresh_net(t, a, con, conf_path):
    out = con.cmd("net show")
    t.check("net show: DHCP by default, nothing saved", "mode: dhcp\n" in out and
            "(nothing saved: these are the defaults)" in out and "board host" in out, out)
    net_refusals(t, con)
    t.check("nothing was written by the refusals", read(conf_path) is None, conf_path)
    out = answer(con, "net set 10.0.0.5/24 gateway 10.0.0.1 dns 10.0.0.2 2001:DB8::53", False)
    t.check("net set shows the new settings, then [y/N]: no",
            "address: 10.0.0.5/24\ngateway: 10.0.0.1\ndns: 10.0.0.2 2001:db8::53\n" in out
            and "net set: cancelled; nothing was changed" in out and read(conf_path) is None, out)
    out = answer(con, "net set 10.0.0.5/24 gateway 10.0.0.1 dns 10.0.0.2 2001:DB8::53", True)
    t.check("net set: saved", "saved in %s (board host: nothing is applied)" % conf_path in out,
            out)
    text = read(conf_path) or ""
    t.check("network.conf: key=value lines", "mode=static\naddress=10.0.0.5/24\n"
            "gateway=10.0.0.1\ndns=10.0.0.2 2001:db8::53\n" in text, text)
    t.check("network.conf is private", os.stat(conf_path).st_mode & 0o077 == 0, conf_path)
    out = con.cmd("net hostname Vault1.Example.COM")
    t.check("net hostname: saved (no question)", "saved in" in out and "[y/N]" not in out, out)
    out = con.cmd("net show")
    t.check("net show: the saved settings", "mode: static\naddress: 10.0.0.5/24\n" in out and
            "hostname: vault1.example.com\n" in out and "nothing saved" not in out, out)
    out = answer(con, "net dhcp", True)
    out = con.cmd("net show")
    t.check("net dhcp: DHCP, the hostname stays", "mode: dhcp\n" in out and
            "address:" not in out and "hostname: vault1.example.com\n" in out, out)
    with open(conf_path, "a") as f:
        f.write("frob=1\n")
    out = con.cmd("net show")
    t.check("a damaged network.conf is said", "is damaged (unknown key" in out and
            "mode: dhcp" in out, out)
    out = answer(con, "net set 192.0.2.10/24", True)
    t.check("net set over a damaged file rewrites it", "frob" not in (read(conf_path) or "frob"),
            out)
    con.cmd("net hostname vault1.example.com")


def fresh_ntp(t, con, conf_path):
    """time ntp on the host board: checked, confirmed, saved with the other settings, shown,
    nothing applied."""
    before = read(conf_path)
    for line, want in (
            ("time ntp pool.ntp.org", "time ntp: 'pool.ntp.org': not an IPv4 or IPv6 address; "
             "nothing was changed\n"),
            ("time ntp 192.0.2.1:0", "time ntp: '192.0.2.1:0': an NTP server's port is a "
             "decimal number 1 to 65535 (123 when not written); nothing was changed\n"),
            ("time ntp 127.0.0.1", "time ntp: '127.0.0.1': 127.0.0.0/8 is the loopback network; "
             "nothing was changed\n"),
            ("time ntp 192.0.2.1 192.0.2.1:123", "time ntp: an NTP server is given twice; "
             "nothing was changed\n")):
        out = con.cmd(line)
        t.check("refused: %s" % line, out == want, out)
    out = con.cmd("time ntp 1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4")
    t.check("time ntp: at most 3 servers", out.startswith("usage: time ntp"), out)
    out = answer(con, "time ntp 192.0.2.123", False)
    t.check("time ntp: [y/N] no: nothing saved", "Synchronise the clock with 192.0.2.123 from "
            "now on?" in out and "time ntp: cancelled" in out and read(conf_path) == before, out)
    out = answer(con, "time ntp 192.0.2.123:123 [2001:DB8::7b]:1230", True)
    t.check("time ntp: saved, not applied on the host", "ntp: 192.0.2.123 [2001:db8::7b]:1230: "
            "saved in %s (board host: the clock is not changed)" % conf_path in out, out)
    text = read(conf_path) or ""
    t.check("network.conf: ntp= beside the other settings", "\nntp=192.0.2.123 "
            "[2001:db8::7b]:1230\n" in text and "address=192.0.2.10/24\n" in text and
            "hostname=vault1.example.com\n" in text, text)
    out = con.cmd("time show")
    t.check("time show: the servers, saved only", "\nntp: 192.0.2.123 [2001:db8::7b]:1230\n"
            "(board host: the NTP servers are saved, this machine's clock is not changed)\n"
            in out, out)
    answer(con, "net set 192.0.2.10/24", True)
    t.check("net set keeps the NTP servers", "\nntp=192.0.2.123 [2001:db8::7b]:1230\n" in
            (read(conf_path) or ""), read(conf_path))
    out = answer(con, "time ntp off", True)
    t.check("time ntp off", "Turn NTP off?" in out and "ntp: off: saved" in out and
            "ntp=" not in (read(conf_path) or "ntp="), out)


def fresh_time_status(t, a, con, ddir):
    out = con.cmd("time show")
    t.check("time show: UTC, and whose clock", re.search(
        r"^time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(UTC\)\n\(board host: this is the development "
        r"machine's clock\)\nntp: off\n$", out) is not None, out)
    fresh_ntp(t, con, os.path.join(ddir, "network.conf"))
    out = con.cmd("time set 2026-02-30T00:00:00Z")
    t.check("time set: no such date", out == "time set: '2026-02-30T00:00:00Z': no such date; "
            "the clock was not changed\n", out)
    out = con.cmd("time set 2026-03-01 10:00")
    t.check("time set: usage", out.startswith("usage: time set YYYY-MM-DDTHH:MM:SSZ"), out)
    out = con.cmd("time set 2026-03-01T10:00:00")
    t.check("time set: the format", "write the time as YYYY-MM-DDTHH:MM:SSZ" in out, out)
    out = con.cmd("time set 2026-03-01T10:00:00Z")
    t.check("time set: refused on the host board", out == "time set: board host: this "
            "machine's clock is not the appliance's to set; the clock was not changed\n", out)
    out = con.cmd("status")
    t.check("status: no restart line without a counter", "restarts:" not in out, out)
    with open(os.path.join(ddir, "restarts"), "w") as f:
        f.write("3\n")
    out = con.cmd("status")
    t.check("status: the restart counter", "\nrestarts: 3 " in out, out)


def fresh_init(t, a, con):
    """init proposes the saved names; the server certificate carries them."""
    import secrets
    so, user = "so-" + secrets.token_hex(8), "pin-" + secrets.token_hex(8)
    password = "Adm1n-" + secrets.token_urlsafe(12)
    seen = a.ready_count()
    con.send("init")
    out = con.expect("[y/N] ").replace("\r\n", "\n")
    t.check("init proposes the saved hostname and address", "for vault1.example.com, "
            "192.0.2.10\n" in out and "Name the server certificate vault1.example.com, "
            "192.0.2.10 (the saved hostname and address: net show)?" in out, out)
    con.send("y")
    for prompt, reply in (("New HSM SO PIN: ", so), ("Repeat the HSM SO PIN: ", so),
                          ("New HSM user PIN: ", user), ("Repeat the HSM user PIN: ", user),
                          ("[y/N] ", "y"), ("Administrator name: ", "admin"),
                          ("New password: ", password), ("Repeat new password: ", password)):
        con.expect(prompt, timeout=90)
        con.send(reply)
    enrol = con.expect("TOTP code: ")
    m = re.search(r"otpauth://totp/[^\s]*[?&]secret=([A-Z2-7]+)", enrol)
    con.send(cl.totp_now(m.group(1)) if m else "000000")
    out = con.expect("login: ", timeout=90).replace("\r\n", "\n")
    a.wait_ready(60, seen)
    cert = os.path.join(os.path.dirname(a.conf), "pki", "server.crt")
    sans = ssl._ssl._test_decode_cert(cert).get("subjectAltName", ())
    t.check("the server certificate names the saved hostname and address",
            ("DNS", "vault1.example.com") in sans and ("IP Address", "192.0.2.10") in sans and
            len(sans) == 2, repr(sans))


def fresh_checks(t, build):
    a = cl.Appliance(build, fresh=True, name="board")
    a.start()
    con = a.console
    con.expect(UNINIT)
    ddir = os.path.dirname(a.conf)     # the appliance's directory, beside coffred.conf
    conf_path = os.path.join(ddir, "network.conf")
    out = con.cmd("help")
    t.check("help lists the board commands while UNINITIALIZED", "  net show\n" in out and
            "  net set ADDR/PREFIX [gateway GW] [dns DNS...]\n" in out and "  reboot\n" in out
            and "  shutdown\n" in out and "  time set YYYY-MM-DDTHH:MM:SSZ\n" in out, out)
    fresh_net(t, a, con, conf_path)
    fresh_time_status(t, a, con, ddir)
    out = answer(con, "shutdown", False)
    t.check("shutdown: [y/N] no: still running", "shutdown: cancelled" in out and a.alive(), out)
    fresh_init(t, a, con)
    a.stop()
    t.check("fresh: no sanitizer report", not a.sanitizer_errors(), rl.sanitizer_digest(a))


def ready_checks(t, build):
    a = cl.Appliance(build, name="board-qa")
    a.start()
    con = a.console
    con.send("")
    con.expect("login: ")
    con.send("net show")             # typed at "login: ": a name, not a command
    con.expect("Password: ")
    con.send_raw("\x03")
    con.expect("login: ")
    a.login()
    out = answer(con, "net set 2001:db8:1::10/64 gateway fe80::1 dns 2001:db8::53", True)
    t.check("READY, logged in: net set (IPv6, link-local gateway)", "saved in" in out, out)
    con.cmd("net hostname kmip1")
    out = con.cmd("time set 2026-03-01T10:00:00Z")
    t.check("READY: time set refused on the host", "not the appliance's to set" in out, out)
    out = answer(con, "time ntp 2001:db8::7b", True)
    t.check("READY, logged in: time ntp", "ntp: 2001:db8::7b: saved in" in out, out)
    out = answer(con, "reboot", False)
    t.check("reboot: [y/N] no: still running", "reboot: cancelled" in out and a.alive(), out)
    out = con.cmd("audit tail 16")
    t.check("audit: the net changes and the refusals", all(re.search(p, out) for p in (
        r"console:admin\s+console\s+time:ntp\s.*ok", r"console:admin\s+console\s+console:time ntp"
        r"\s.*ok",
        r"console:admin\s+console\s+net:set\s.*ok", r"console:admin\s+console\s+console:net set"
        r"\s.*ok", r"console:admin\s+console\s+net:hostname\s.*ok",
        r"console:admin\s+console\s+console:time set\s.*CF_E_PERMISSION",
        r"console:admin\s+console\s+console:reboot\s.*CF_E_CANCELLED")), out)
    con.send("reboot")
    con.expect("[y/N] ")
    con.send("y")
    out = con.expect("rebooting...").replace("\r\n", "\n")
    try:
        rc = a.proc.wait(15)
    except Exception:
        rc = None
    t.check("reboot: a clean stop, exit status 11", rc == EXIT_REBOOT and
            "coffred: stopped for reboot" in a.stderr(), "rc=%r\n%s" % (rc, a.stderr()))
    a.console.close()
    a.console = None
    with open(os.path.join(os.path.dirname(a.conf), "restarts"), "w") as f:
        f.write("2\n")              # what the appliance's init keeps
    a.start()
    a.login()
    out = a.console.cmd("audit tail 8")
    t.check("audit: the reboot, then the service stopped and started again", re.search(
        r"power:reboot\s.*ok\n.*console:reboot\s.*ok\n.*\n.*state:STOPPED", out), out)
    t.check("audit: the restart counter with READY", re.search(
        r"state:READY\s.*ok\n.*coffred\s+local\s+board:restarts\s", out), out)
    out = a.console.cmd("status")
    t.check("status: the restart counter", "\nrestarts: 2 " in out, out)
    a.console.send("shutdown")
    a.console.expect("[y/N] ")
    a.console.send("y")
    a.console.expect("powering off...")
    try:
        rc = a.proc.wait(15)
    except Exception:
        rc = None
    t.check("shutdown: a clean stop, exit status 10", rc == EXIT_POWEROFF and
            "coffred: stopped for power-off" in a.stderr(), "rc=%r\n%s" % (rc, a.stderr()))
    a.stop()
    t.check("READY: no sanitizer report in any run", not a.sanitizer_errors(),
            rl.sanitizer_digest(a))


def main():
    build = rl.parse_build(sys.argv)
    rl.require_built(build)
    t = rl.Tally()
    for checks in (fresh_checks, ready_checks):
        try:
            checks(t, build)
        except (cl.Timeout, RuntimeError) as e:
            t.bad("%s: %s" % (checks.__name__, e))
    t.done()


if __name__ == "__main__":
    main()
