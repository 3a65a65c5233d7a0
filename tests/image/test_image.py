"""The appliance image under qemu, driven over its serial console as an operator would
(docs/appliance.md). Run by `make test-image`, never by `make test`:

    /usr/bin/python3 tests/image/test_image.py BUILD_DIR      (uses BUILD_DIR/image)

1. first boot on an empty disk: `coffre(UNINITIALIZED)> `; `init` over the serial line;
   `cert show` gives the CA, `client issue` a certificate and key; Create + Get 20 keys
   through the forwarded port;
2. a clean stop: the console's `shutdown` (the ACPI power button through QMP when this build
   has no `shutdown`): qemu exits by itself within 30 s; the next boot needs no disk repair,
   shows SEALED, `unseal`, the 20 keys are there;
3. the plug pulled (`kill -9` of qemu, the pid run-qemu exec'd) during a stream of Creates;
   boot again: SEALED, `unseal`, every acknowledged key is there with the same bytes;
   the ACPI power button powers it off;
4. data disk faults: a disk that is neither blank nor ext4 stops the boot with a clear
   message and no reboot loop (the power button still powers off); a full disk says so;
   a coffred that cannot start (a damaged coffred.conf) is restarted with a counter and its
   log lines on the console;
5. the test build (BUILD_DIR/image-th, `make image IMAGE_TEST_HOOKS=1`) on the disk of 1-3:
   coffred's VmRSS (console `test rss`) SEALED, after unseal, after 1,000 Creates; `test fill`
   fills the data disk while serving: Creates until one fails with KMIP Operation Failed, no
   hang, and the console says DATA DISK FULL (and `status` too); `test unfill`, the keys are
   intact and the console says the disk has space again; `test hang` makes the next KMIP
   request hang its worker: the main loop notices the stuck worker (10 s in the test build),
   stops kicking the watchdog, the i6300esb resets the guest (QMP WATCHDOG event), it boots
   again, SEALED, unseal, every acknowledged key is there.
Figures printed: seconds from qemu's start to the first prompt, initramfs size, coffred's
VmRSS, seconds from the hang to the prompt again, run time.
"""
import calendar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tty

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import robust_lib as rl      # noqa: E402
import console_lib as cl     # noqa: E402
import vcenter_lib as vl     # noqa: E402
from ntp_image import ntp_check  # noqa: E402

BOOT_TIMEOUT = 240           # TCG on a loaded 2-core machine
CMD_TIMEOUT = 120
PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)
PEM_KEY = re.compile(r"-----BEGIN (EC |)PRIVATE KEY-----.*?-----END (EC |)PRIVATE KEY-----", re.S)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class VM:
    """One boot: build/image/run-qemu --serial pty, its console and its QMP socket."""

    def __init__(self, image, tmp, disk, port, n):
        self.qmp_path = os.path.join(tmp, "qmp.%d" % n)
        self.errpath = os.path.join(tmp, "qemu.%d.err" % n)
        self.t0 = time.monotonic()
        with open(self.errpath, "wb") as ef:
            self.proc = subprocess.Popen(
                [os.path.join(image, "run-qemu"), "--disk", disk, "--kmip-port", str(port),
                 "--serial", "pty", "--memory", "512", "--qmp", self.qmp_path],
                stdin=subprocess.DEVNULL, stdout=ef, stderr=ef)
        rl._PROCS.append(self.proc)
        self.console = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.console is None:
            m = re.search(r"^run-qemu: console pty=(\S+)$", self.stderr(), re.M)
            if m:
                self.console = cl.Console(m.group(1), timeout=CMD_TIMEOUT)
                tty.setraw(self.console.fd)
            elif self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if self.console is None:
            raise RuntimeError("no console pty line (rc=%s):\n%s" % (self.proc.poll(), self.stderr()))

    def stderr(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode(errors="replace")

    def comm(self):
        try:
            with open("/proc/%d/comm" % self.proc.pid) as f:
                return f.read().strip()
        except OSError:
            return None

    def qmp(self, command):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(self.qmp_path)
        f = s.makefile("rw")
        f.readline()                                  # the greeting
        for cmd in ("qmp_capabilities", command):
            f.write(json.dumps({"execute": cmd}) + "\n")
            f.flush()
            while True:
                r = json.loads(f.readline())
                if "return" in r or "error" in r:
                    break
        s.close()
        return r

    def wait_exit(self, timeout):
        """Wait for qemu to exit, reading the console meanwhile (its last lines stay in
        console.log); -> its exit status, None on timeout."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            if self.console is not None:
                self.console.buf += self.console.drain(0.2).encode()
            else:
                time.sleep(0.2)
        return self.proc.poll()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        if self.console is not None:
            self.console.close()
            self.console = None


class Guest:
    """What a KMIP client needs (robust_lib.Client): the forwarded port and pki/ files."""

    def __init__(self, tmp, port):
        self.dir = tmp
        self.host = "127.0.0.1"
        self.port = port
        os.makedirs(os.path.join(tmp, "pki"), exist_ok=True)

    ssl_context = rl.Instance.ssl_context

    def client(self, who="c1", timeout=30.0):
        return rl.Client(self, who, timeout)

    def write(self, name, text, mode=0o644):
        path = os.path.join(self.dir, "pki", name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")

    def wait_serving(self, timeout=60):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                with self.client() as c:
                    c.discover_versions()
                return True
            except Exception as e:     # the forwarder accepts, the guest may not listen yet
                last = e
                time.sleep(1)
        raise RuntimeError("KMIP not served through the forwarded port: %s" % last)


class Operator:
    """The person at the console: the ceremony's secrets and the TOTP steps used."""

    def __init__(self):
        import secrets
        self.so_pin = "so-" + secrets.token_hex(8)
        self.user_pin = "pin-" + secrets.token_hex(8)
        self.admin = "admin"
        self.password = "Adm1n-" + secrets.token_urlsafe(12)
        self.totp_secret = None
        self.last_step = None

    def init_ceremony(self, con):
        con.send("init")
        con.expect("New HSM SO PIN: ")
        con.send(self.so_pin)
        con.expect("Repeat the HSM SO PIN: ")
        con.send(self.so_pin)
        con.expect("New HSM user PIN: ")
        con.send(self.user_pin)
        con.expect("Repeat the HSM user PIN: ")
        con.send(self.user_pin)
        con.expect("[y/N] ")
        con.send("y")
        # a board that proposes the saved names for the server certificate asks once more
        out = con.expect(re.compile(rb"Administrator name: |\[y/N\] "), timeout=CMD_TIMEOUT)
        if "Name the server certificate" in out:
            con.send("n")
            con.expect("Administrator name: ", timeout=CMD_TIMEOUT)
        con.send(self.admin)
        con.expect("New password: ")
        con.send(self.password)
        con.expect("Repeat new password: ")
        con.send(self.password)
        enrol = con.expect("TOTP code: ", timeout=CMD_TIMEOUT)
        m = re.search(r"otpauth://totp/[^\s]*[?&]secret=([A-Z2-7]+)", enrol)
        if not m:
            raise RuntimeError("no otpauth URI in the enrolment:\n" + enrol)
        self.totp_secret = m.group(1)
        self.last_step = int(time.time() // 30)
        con.send(cl.totp_now(self.totp_secret))
        return con.expect("login: ", timeout=CMD_TIMEOUT)

    def login(self, con):
        while self.last_step is not None and int(time.time() // 30) <= self.last_step:
            time.sleep(0.5)
        self.last_step = int(time.time() // 30)
        con.send("")
        con.expect("login: ")
        con.send(self.admin)
        con.expect("Password: ")
        con.send(self.password)
        out = con.expect(re.compile(rb"TOTP code: |coffre(\([A-Z]+\))?> $"), timeout=CMD_TIMEOUT)
        con.send(cl.totp_now(self.totp_secret))
        return out + con.prompt(CMD_TIMEOUT)

    def unseal(self, con):
        con.send("unseal")
        con.expect("HSM user PIN: ")
        con.send(self.user_pin)
        return con.expect("login: ", timeout=CMD_TIMEOUT)


def first_prompt(vm, want):
    """Wait for the prompt `want` after a boot; -> (console output before it, seconds)."""
    try:
        out = vm.console.expect(want, timeout=BOOT_TIMEOUT)
    except cl.Timeout:
        vm.console.send("")       # the prompt may have been printed before the pty was opened
        out = vm.console.expect(want, timeout=30)
    return out, time.monotonic() - vm.t0


def create_get(guest, n):
    """n Create + Get: -> {uid: key bytes}."""
    keys = {}
    with guest.client() as c:
        for _ in range(n):
            uid = c.create_aes()
            keys[uid] = c.get(uid)
    return keys


def all_there(guest, keys):
    """Every key Gets (with the same bytes when they are known: not None)."""
    bad = []
    with guest.client() as c:
        for uid, key in keys.items():
            try:
                got = c.get(uid)
                if key is not None and got != key:
                    bad.append(uid + " (other bytes)")
            except Exception as e:
                bad.append("%s (%s)" % (uid, e))
    return bad


def creates_until_killed(guest, acked, stop):
    """Create + Get in a loop; each acknowledged key recorded before the next request."""
    try:
        with guest.client() as c:
            while not stop.is_set():
                uid = c.create_aes()
                acked[uid] = c.get(uid)
    except Exception:
        pass


def full_disk(tmp):
    """An ext4 data disk (32 MiB) with less than 1 MiB free: mke2fs -d with a filler file."""
    img, d = os.path.join(tmp, "full.img"), os.path.join(tmp, "full.d")
    os.makedirs(d, exist_ok=True)
    mk = ["mke2fs", "-q", "-F", "-t", "ext4", "-L", "coffre-data", "-m", "0", "-d", d, img, "32M"]
    subprocess.run(mk, check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run(["dumpe2fs", "-h", img], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, check=True).stdout.decode()
    free = int(re.search(r"^Free blocks:\s+(\d+)", out, re.M).group(1))
    bsize = int(re.search(r"^Block size:\s+(\d+)", out, re.M).group(1))
    with open(os.path.join(d, "filler"), "wb") as f:
        f.write(os.urandom(free * bsize - (640 << 10)))
    subprocess.run(mk, check=True, stdout=subprocess.DEVNULL)
    return img


def bad_config_disk(tmp):
    """An ext4 data disk whose coffred.conf does not parse."""
    img, d = os.path.join(tmp, "badconf.img"), os.path.join(tmp, "badconf.d")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "coffred.conf"), "w") as f:
        f.write("not a configuration\n")
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "coffre-data", "-d", d, img, "64M"],
                   check=True, stdout=subprocess.DEVNULL)
    return img


def qmp_wait_event(vm, name, timeout):
    """Listen on the QMP socket until the event `name`; -> seconds waited, None on timeout."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(vm.qmp_path)
    f = s.makefile("rw")
    f.readline()
    f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
    f.flush()
    try:
        while time.monotonic() - t0 < timeout:
            s.settimeout(max(0.1, timeout - (time.monotonic() - t0)))
            line = f.readline()
            if not line:
                return None
            if json.loads(line).get("event") == name:
                return time.monotonic() - t0
    except (socket.timeout, OSError, ValueError):
        return None
    finally:
        s.close()
    return None


def guest_rss(con):
    """coffred's VmRSS through the test build's console command `test rss`."""
    out = con.cmd("test rss", timeout=CMD_TIMEOUT)
    m = re.search(r"VmRSS:\s*(\d+) kB", out)
    return m.group(1) if m else "? (%s)" % out.strip()[-200:]


def test_hooks(t, image_th, tmp, disk, port, guest, op, keys):
    """The test build (make image IMAGE_TEST_HOOKS=1) on the disk of parts 1-3: coffred's
    memory, a data disk that fills while serving, a main loop that stops kicking the watchdog.
    """
    vm = VM(image_th, tmp, disk, port, 7)
    try:
        first_prompt(vm, "coffre(SEALED)> ")
        con = vm.console
        rss0 = guest_rss(con)
        out = op.unseal(con)
        t.check("test build: unseal: READY", "unsealed: READY" in out, out)
        op.login(con)
        guest.wait_serving()
        rss1 = guest_rss(con)
        print("figure: coffred VmRSS in the guest, SEALED: %s kB; right after unseal with %d keys: %s kB"
              % (rss0, len(keys), rss1), flush=True)
        t0 = time.monotonic()
        n = 0
        with guest.client() as c:
            while n < 1000:
                c.create_aes()
                n += 1
        secs = time.monotonic() - t0
        print("figure: coffred VmRSS in the guest after %d more Creates (%.1f s, %.0f/s): %s kB"
              % (n, secs, n / secs, guest_rss(con)), flush=True)

        # ---- a data disk that fills while serving ----
        more = create_get(guest, 5)
        out = con.cmd("test fill", timeout=CMD_TIMEOUT)
        t.check("test fill: the data disk is full", "bytes written" in out, out)
        # a commit may still fit in the write-ahead log's space: Creates until one fails
        full_acked, first_fail, t1, el = {}, None, time.monotonic(), 0.0
        with guest.client() as c:
            while first_fail is None and len(full_acked) < 3000:
                t2 = time.monotonic()
                kind, r = c.outcome(rl.create_aes_req(), timeout=60)
                el = max(el, time.monotonic() - t2)
                if kind != "response" or not r.ok:
                    first_fail = r.describe() if kind == "response" else "%s %s" % (kind, r)
                    break
                uid = r.items[0][3].find(rl.TAG["UNIQUE_IDENTIFIER"]).value
                full_acked[uid] = None      # acknowledged: it must Get later
                # a Get writes its audit record: it may be the request that fails
                kind, r = c.outcome(rl.uid_req(rl.OP_GET, uid), timeout=60)
                if kind != "response" or not r.ok:
                    first_fail = "(a Get) " + (r.describe() if kind == "response" else
                                               "%s %s" % (kind, r))
                    break
                km = r.items[0][3].find(rl.TAG["KEY_MATERIAL"])
                full_acked[uid] = km.value if km is not None else None
        # a commit that fails is never acknowledged (docs/kmip-server.md): the answer is
        # Operation Failed, whether the request failed before its commit or the commit failed
        t.check("a full disk while serving: after %d acknowledged Creates (%.1f s) one fails "
                "with Operation Failed, no hang (slowest answer %.1f s): %s"
                % (len(full_acked), time.monotonic() - t1, el, first_fail),
                first_fail is not None and
                re.match(r"(\(a Get\) )?status=1 ", first_fail), first_fail)
        try:
            con.expect("DATA DISK FULL", timeout=15)
            said = True
        except cl.Timeout:
            said = False
        t.check("... the console says DATA DISK FULL while serving", said,
                con.drain(1).strip()[-300:])
        out = con.cmd("status", timeout=CMD_TIMEOUT)
        t.check("... status: data disk: FULL", "data disk: FULL" in out, out)
        more.update(full_acked)
        out = con.cmd("test unfill", timeout=CMD_TIMEOUT)
        bad = all_there(guest, dict(keys, **more))
        t.check("... space freed: the earlier keys Get with the same bytes (%d)" %
                (len(keys) + len(more)), not bad, ", ".join(bad[:5]))
        again = create_get(guest, 5)
        more.update(again)
        try:
            con.expect("the data disk has space again", timeout=15)
            said = True
        except cl.Timeout:
            said = False
        t.check("... the console says the data disk has space again", said)
        t.check("... and Create works again", len(again) == 5)

        # ---- the watchdog: a KMIP worker stuck in a call ----
        out = con.cmd("test hang", timeout=CMD_TIMEOUT)
        t_hang = time.monotonic()
        stuck = threading.Thread(target=hang_one_request, args=(guest,), daemon=True)
        stuck.start()
        try:
            con.expect("WATCHDOG: KMIP worker", timeout=60)
            noticed = time.monotonic() - t_hang
        except cl.Timeout:
            noticed = None
        t.check("test hang: a request hangs its worker; the console says the watchdog will "
                "restart the appliance %.1f s later" % (noticed or -1),
                noticed is not None and noticed >= 9)
        waited = qmp_wait_event(vm, "WATCHDOG", 90)
        t.check("... the i6300esb fires (QMP WATCHDOG event) %.1f s later (kicks stopped)"
                % (waited or -1), waited is not None and 20 <= waited <= 45)
        first_prompt(vm, "coffre(SEALED)> ")
        secs = time.monotonic() - t_hang
        t.check("... the appliance boots again (same qemu, pid %d): coffre(SEALED)> %.1f s after "
                "the hang" % (vm.proc.pid, secs), vm.proc.poll() is None)
        print("figure: from the hang to coffre(SEALED)> again: %.1f s" % secs, flush=True)
        out = op.unseal(con)
        t.check("... unseal: READY", "unsealed: READY" in out, out)
        guest.wait_serving()
        bad = all_there(guest, dict(keys, **more))
        t.check("... every acknowledged key is there with the same bytes (%d)" %
                (len(keys) + len(more)), not bad, ", ".join(bad[:5]))
    except (cl.Timeout, RuntimeError, OSError, rl.KmipError) as e:
        t.bad("test build: %s" % e)
    vm.kill()


def guest_time(con):
    out = con.cmd("time show", timeout=CMD_TIMEOUT)
    m = re.search(r"time: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", out)
    return (calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ"))
            if m else None), out


def time_set(t, con):
    """`time set` moves the guest's clock (coffred keeps CAP_SYS_TIME only), then back."""
    for shift in (600, 0):
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + shift))
        con.send("time set " + when)
        con.expect("[y/N] ", timeout=CMD_TIMEOUT)
        con.send("y")
        out = con.prompt(timeout=CMD_TIMEOUT)
        now, shown = guest_time(con)
        t.check("time set %s (%+d s): the guest's clock follows (time show: %s)"
                % (when, shift, shown.strip()),
                "not changed" not in out and now is not None and
                abs(now - (time.time() + shift)) < 30, out)


def hang_one_request(guest):
    """A Create whose worker hangs (`test hang`): no answer is expected; the guest resets."""
    try:
        with guest.client() as c:
            c.outcome(rl.create_aes_req(), timeout=120)
    except Exception:       # noqa: BLE001 (the guest is reset under it)
        pass


def disk_faults(t, image, tmp, port):
    bad = os.path.join(tmp, "unknown.img")
    with open(bad, "wb") as f:
        f.write(os.urandom(1 << 20))
        f.truncate(64 << 20)
    vm = VM(image, tmp, bad, port, 4)
    try:
        vm.console.expect("DATA DISK UNKNOWN", timeout=BOOT_TIMEOUT)
        time.sleep(10)
        log = vm.console.log.decode(errors="replace") + vm.console.drain(1)
        t.check("a disk neither blank nor ext4: a clear console message, no shell, no reboot loop",
                log.count("DATA DISK UNKNOWN") == 1 and "coffre(" not in log and
                vm.proc.poll() is None and "the appliance is stopped" in log, log[-600:])
        vm.qmp("system_powerdown")
        t.check("... the power button powers it off", vm.wait_exit(30) is not None)
    except cl.Timeout as e:
        t.bad("a disk neither blank nor ext4: %s" % e)
    vm.kill()

    vm = VM(image, tmp, bad_config_disk(tmp), port, 6)
    try:
        vm.console.expect("coffred exited (status 1), restart 1", timeout=BOOT_TIMEOUT)
        vm.console.expect("coffred exited (status 1), restart 2", timeout=60)
        log = vm.console.log.decode(errors="replace")
        t.check("a coffred that cannot start: restarted with a counter, its log on the console",
                "syntax error" in log and "coffre(" not in log, log[-600:])
        vm.qmp("system_powerdown")
        t.check("... the power button powers it off", vm.wait_exit(30) is not None)
    except cl.Timeout as e:
        t.bad("a coffred that cannot start: %s" % e)
    vm.kill()

    vm = VM(image, tmp, full_disk(tmp), port, 5)
    try:
        # a first boot on it: provisioning fails for want of space, or coffred starts
        first_prompt(vm, re.compile(rb"coffre\(UNINITIALIZED\)> |the appliance is stopped"))
        time.sleep(5)
        log = vm.console.log.decode(errors="replace") + vm.console.drain(1)
        t.check("a full data disk: 'DATA DISK FULL' on the console, no restart loop",
                "DATA DISK FULL" in log and "coffred exited" not in log, log[-600:])
    except cl.Timeout as e:
        t.bad("a full data disk: %s" % e)
    vm.kill()


def main():
    build = rl.parse_build(sys.argv)
    image = os.path.join(build, "image")
    t = rl.Tally()
    started = time.monotonic()
    for f in ("vmlinuz", "initramfs.img", "run-qemu"):
        if not os.path.exists(os.path.join(image, f)):
            t.bad("not built: %s/%s (make image)" % (image, f))
            t.done()
    tmp = tempfile.mkdtemp(prefix="coffre-image.")
    rl._TMPDIRS.append(tmp)
    disk = os.path.join(tmp, "data.img")
    port = free_port()
    guest = Guest(tmp, port)
    op = Operator()
    size = os.path.getsize(os.path.join(image, "initramfs.img"))
    t.check("initramfs.img is under 64 MiB (%d bytes, %.1f MiB)" % (size, size / 1048576.0),
            size < 64 << 20)

    # ---- 1. first boot -----------------------------------------------------------------
    vm = VM(image, tmp, disk, port, 1)
    t.check("run-qemu execs qemu: its pid is qemu's (%s)" % vm.comm(),
            (vm.comm() or "").startswith("qemu-system"))
    t.check("the data disk is created at 1 GiB", os.path.getsize(disk) == 1 << 30)
    out, secs = first_prompt(vm, "coffre(UNINITIALIZED)> ")
    t.ok("first boot: coffre(UNINITIALIZED)> after %.1f s from qemu's start" % secs)
    con = vm.console
    log = con.log.decode(errors="replace")
    t.check("... the init formatted the new data disk", "formatting the data disk" in log, log[-800:])
    out = op.init_ceremony(con)
    t.ok("init ceremony over the serial line")
    out = op.login(con)
    t.check("the administrator logs in (password + TOTP)", "login incorrect" not in out, out)
    out = con.cmd("cert show", timeout=CMD_TIMEOUT)
    certs = PEM_CERT.findall(out)
    t.check("cert show prints the server and CA certificates", len(certs) >= 2, out[-400:])
    out = con.cmd("client issue c1", timeout=CMD_TIMEOUT)
    crt, key = PEM_CERT.search(out), PEM_KEY.search(out)
    if not t.check("client issue prints a certificate and its key", crt and key and certs,
                   out[-400:]):
        vm.kill()
        t.done()
    guest.write("ca.crt", certs[-1])
    guest.write("c1.crt", crt.group(0))
    guest.write("c1.key", key.group(0), 0o600)
    guest.wait_serving()
    keys = create_get(guest, 20)
    t.check("KMIP through 127.0.0.1:%d: Create + Get 20 keys" % port,
            len(keys) == 20 and all(len(k) == 32 for k in keys.values()))
    pki = os.path.join(tmp, "pki")
    r = vl.replay(port, os.path.join(pki, "ca.crt"), os.path.join(pki, "c1.crt"),
                  os.path.join(pki, "c1.key"), timeout=300)
    t.check("the vCenter replay through the forwarded port: %d requests, all Success (%.1f s)" %
            (r.n_requests, r.elapsed or 0), r.ok, r.describe())
    out = con.cmd("status", timeout=CMD_TIMEOUT)
    t.check("status: READY", "state: READY" in out, out)
    t.check("status: the seccomp sandbox is on (docs/security.md \"Sandbox\")",
            re.search(r"^sandbox: seccomp active \(\d+ system calls allowed\)", out, re.M)
            is not None, out)
    time_set(t, con)
    ntp_check(t, con, vm)

    # ---- 2. a clean stop ---------------------------------------------------------------
    con.send("shutdown")
    out = con.expect(re.compile(rb"\[y/N\] |coffre(\([A-Z]+\))?> $"), timeout=CMD_TIMEOUT)
    how = "the console's shutdown"
    if "power" not in out:
        how = "the ACPI power button (QMP system_powerdown; this build has no shutdown)"
        vm.qmp("system_powerdown")
    else:
        con.send("y")
    t0 = time.monotonic()
    rc = vm.wait_exit(60)
    t.check("%s: qemu exits by itself within 30 s (%.1f s, rc=%s)" %
            (how, time.monotonic() - t0, rc), rc is not None and time.monotonic() - t0 <= 30,
            con.drain(1))
    vm.kill()

    vm = VM(image, tmp, disk, port, 2)
    out, secs = first_prompt(vm, "coffre(SEALED)> ")
    con = vm.console
    log = con.log.decode(errors="replace")
    t.ok("second boot: coffre(SEALED)> after %.1f s" % secs)
    t.check("... the data disk needed no repair", "data disk checked: clean" in log, log[-800:])
    out = op.unseal(con)
    t.check("unseal: READY", "unsealed: READY" in out, out)
    guest.wait_serving()
    bad = all_there(guest, keys)
    t.check("... the 20 keys are there with the same bytes", not bad, ", ".join(bad[:5]))

    # ---- 3. the plug pulled during Creates ---------------------------------------------
    acked, stop = {}, threading.Event()
    th = threading.Thread(target=creates_until_killed, args=(guest, acked, stop))
    th.start()
    deadline = time.monotonic() + 60
    while len(acked) < 30 and th.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(vm.proc.pid, signal.SIGKILL)
    stop.set()
    th.join(30)
    vm.kill()
    t.check("kill -9 of qemu during a stream of Creates (%d acknowledged)" % len(acked),
            len(acked) > 0)

    vm = VM(image, tmp, disk, port, 3)
    out, secs = first_prompt(vm, "coffre(SEALED)> ")
    con = vm.console
    t.ok("boot after the plug was pulled: coffre(SEALED)> after %.1f s (%s)" %
         (secs, ", ".join(re.findall(r"data disk checked: [^\r\n]*", con.log.decode(errors="replace")))))
    out = op.unseal(con)
    t.check("unseal: READY", "unsealed: READY" in out, out)
    guest.wait_serving()
    bad = all_there(guest, dict(keys, **acked))
    t.check("every acknowledged key is there with the same bytes (%d)" % (len(keys) + len(acked)),
            not bad, ", ".join(bad[:5]))
    vm.qmp("system_powerdown")
    t0 = time.monotonic()
    rc = vm.wait_exit(60)
    t.check("the ACPI power button (QMP system_powerdown): qemu exits within 30 s (%.1f s)" %
            (time.monotonic() - t0), rc is not None and time.monotonic() - t0 <= 30)
    log = con.log.decode(errors="replace")
    t.check("... coffred stopped cleanly first, then the power-off",
            "power button: stopping coffred" in log and "coffre: powering off" in log and
            "coffred exited" not in log, log[-600:])
    m = re.search(r"stopping coffred \(VmRSS (\d+) kB\)", log)
    print("figure: coffred VmRSS in the guest with %d keys: %s kB" %
          (len(keys) + len(acked) + 2, m.group(1) if m else "?"), flush=True)
    vm.kill()

    # ---- 4. data disk faults -----------------------------------------------------------
    disk_faults(t, image, tmp, port)

    # ---- 5. the test build: memory, a disk that fills while serving, the watchdog -----
    image_th = os.path.join(build, "image-th")
    if os.path.exists(os.path.join(image_th, "initramfs.img")):
        test_hooks(t, image_th, tmp, disk, port, guest, op, dict(keys, **acked))
    else:
        t.bad("not built: %s (make image IMAGE_TEST_HOOKS=1)" % image_th)
    print("test-image: %.0f s in all" % (time.monotonic() - started), flush=True)
    t.done()


if __name__ == "__main__":
    main()
