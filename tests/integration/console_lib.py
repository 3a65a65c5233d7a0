"""Drive coffred's serial console over a real pty, as a person at a cable would.

    import robust_lib as rl, console_lib as cl
    t = rl.Tally()
    a = cl.Appliance(build, fresh=True)      # `coffred provision --fresh DIR` (UNINITIALIZED)
    a = cl.Appliance(build)                  # `coffred provision --qa DIR` (READY, QA admin)
    a.start()                                # coffred -c ... --port 0 --console pty
    con = a.console                          # a Console on the pty coffred created
    con.expect("coffre(UNINITIALIZED)> ")    # waits (timeout) for text; returns what came before
    con.send("status")                       # one line + CR
    out = con.cmd("status")                  # send, then read up to the next command prompt
    a.init_ceremony()                        # runs `init` with the answers a person types
    a.login(user, password)                  # at "login: "
    a.stop()

Prompts are the console contract (docs/console.md): "login: ", "Password: ", "coffre> ",
"coffre(STATE)> ", "[y/N] ". Every coffred started is killed at exit (robust_lib keeps the
list), every temporary directory removed.
"""
import os
import re
import select
import subprocess
import time

import robust_lib as rl

PROMPT_RE = re.compile(rb"coffre(\([A-Z]+\))?> $")
READY_RE = re.compile(rb"^coffred: ready kmip=(\S+):(\d+)$", re.M)


def has_line(out, text):
    """The console output out (CR LF or LF line ends) holds this exact line, or these exact
    consecutive lines when text has several ("\n" between them)."""
    lines, want = out.replace("\r\n", "\n").split("\n"), text.split("\n")
    return any(lines[i:i + len(want)] == want for i in range(len(lines) - len(want) + 1))


class Timeout(Exception):
    pass


class Console:
    """The pty coffred opened ("coffred: console pty=PATH" on its stderr)."""

    def __init__(self, path, timeout=20.0):
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        self.buf = b""
        self.log = b""          # everything read, for failure messages
        self.timeout = timeout

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.fd], [], [], left)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        self.buf += data
        self.log += data
        return True

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        while data:
            n = os.write(self.fd, data)
            data = data[n:]

    def send(self, line):
        """One line as typed: the text and Enter (CR, as a terminal sends)."""
        self.send_raw((line if isinstance(line, bytes) else line.encode()) + b"\r")

    def expect(self, what, timeout=None):
        """Wait for text (str/bytes) or a compiled bytes regex; return the bytes before it
        and consume through it. Raises Timeout with the recent output."""
        deadline = time.monotonic() + (timeout or self.timeout)
        if isinstance(what, str):
            what = what.encode()
        while True:
            if isinstance(what, bytes):
                i = self.buf.find(what)
                if i >= 0:
                    before, self.buf = self.buf[:i], self.buf[i + len(what):]
                    return before.decode(errors="replace")
            else:
                m = what.search(self.buf)
                if m:
                    before, self.buf = self.buf[:m.start()], self.buf[m.end():]
                    return before.decode(errors="replace")
            if not self._fill(deadline):
                raise Timeout("waited for %r; console said:\n%s" %
                              (what if isinstance(what, bytes) else what.pattern,
                               self.log[-3000:].decode(errors="replace")))

    def prompt(self, timeout=None):
        """Wait for a command prompt (coffre> or coffre(STATE)> ); return the output before."""
        return self.expect(PROMPT_RE, timeout)

    def cmd(self, line, timeout=None):
        """Send a command and return its output (CR LF -> LF, the echoed line removed)."""
        self.send(line)
        out = self.prompt(timeout).replace("\r\n", "\n")
        first, _, rest = out.partition("\n")
        return rest if first.strip() == line.strip() else out

    def drain(self, secs=0.2):
        """Read whatever arrives within secs (nothing consumed from expect's view: returned)."""
        deadline = time.monotonic() + secs
        while self._fill(deadline):
            pass
        out, self.buf = self.buf, b""
        return out.decode(errors="replace")


class Appliance(rl.Instance):
    """A coffred instance with its console on a pty."""

    def __init__(self, build, fresh=False, clients=1, name="console"):
        self.fresh = fresh
        if not fresh:
            super().__init__(build, clients=clients, name=name)
            self.admin_password = self._read(os.path.join(self.dir, "admin.pw"))
            self.admin_user = "admin"
        else:
            import tempfile
            self.build = build
            self.coffred = os.path.join(build, "coffred")
            self.tmp = tempfile.mkdtemp(prefix="coffre-%s." % name)
            rl._TMPDIRS.append(self.tmp)
            self.dir = os.path.join(self.tmp, "fresh")
            self.proc = None
            self.port = None
            self.starts = 0
            self.errfiles = []
            r = subprocess.run([self.coffred, "provision", "--fresh", self.dir],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
            self.provision_log = r.stdout.decode(errors="replace")
            if r.returncode != 0:
                raise RuntimeError("provision --fresh failed (rc=%d):\n%s" %
                                   (r.returncode, self.provision_log))
            self.conf = os.path.join(self.dir, "coffred.conf")
            self.admin_user = self.admin_password = None
        self.console = None

    @staticmethod
    def _read(path):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return None

    def set_section(self, section, kv):
        """Add key = value lines to [section] of coffred.conf (appended when absent)."""
        with open(self.conf) as f:
            text = f.read()
        lines = "".join("%s = %s\n" % (k, v) for k, v in kv.items())
        hdr = "[%s]\n" % section
        if hdr in text:
            text = text.replace(hdr, hdr + lines, 1)
        else:
            text += "\n" + hdr + lines
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, timeout=30, wait_ready=None):
        """Start with --console pty; wait for the pty line (and for the ready line when the
        instance is expected to serve: wait_ready None = not fresh)."""
        if wait_ready is None:
            wait_ready = not self.fresh
        self.starts += 1
        err = os.path.join(self.tmp, "coffred.%d.err" % self.starts)
        self.errfiles.append(err)
        self.errfile = err
        with open(err, "wb") as ef:
            self.proc = subprocess.Popen([self.coffred, "-c", self.conf, "--port", "0",
                                          "--console", "pty"],
                                         stdin=subprocess.DEVNULL, stdout=ef, stderr=ef)
        rl._PROCS.append(self.proc)
        deadline = time.monotonic() + timeout
        pty = None
        while time.monotonic() < deadline:
            with open(err, "rb") as f:
                text = f.read()
            if pty is None:
                m = re.search(rb"^coffred: console pty=(\S+)$", text, re.M)
                if m:
                    pty = m.group(1).decode()
                    self.console = Console(pty)
            if pty is not None and not wait_ready:
                return None
            m = re.search(rb"^coffred: ready kmip=(\S+):(\d+)$", text, re.M)
            if m and pty is not None:
                self.host, self.port = m.group(1).decode(), int(m.group(2))
                return self.port
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("coffred did not start (rc=%s):\n%s" % (self.proc.poll(), self.stderr()))

    def ready_count(self):
        """How many ready lines this run has logged (a zeroize restarts the program in the
        same process: each init after it adds one)."""
        with open(self.errfile, "rb") as f:
            return len(READY_RE.findall(f.read()))

    def wait_ready(self, timeout=30, seen=0):
        """After `init` / `unseal`: wait until this run has logged more than `seen` ready
        lines; the port of the last one -> self.port (returned)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.errfile, "rb") as f:
                m = READY_RE.findall(f.read())
            if len(m) > seen:
                self.host, self.port = m[-1][0].decode(), int(m[-1][1])
                return self.port
            time.sleep(0.05)
        raise RuntimeError("no ready line:\n%s" % self.stderr())

    def init_ceremony(self, admin="admin", password=None, so_pin=None, user_pin=None,
                      timeout=90, clock=time.time):
        """At "coffre(UNINITIALIZED)> ": run `init` with the answers a person types (HSM SO
        and user PINs, the confirmation, the first administrator's name, password and TOTP
        enrolment) and wait for the ready line. A token that already exists (after a zeroize)
        is re-initialised with self.so_pin, the SO PIN of the previous ceremony. Sets
        admin_user, admin_password, totp_secret, so_pin, user_pin, port; returns the console
        output of `init` up to the "login: " that follows (READY). clock: the service's time
        for the TOTP code (a coffred_th run with COFFRE_TEST_CLOCK is ahead of time.time).
        The enrolment uses the code of the current step: the first login needs a later one."""
        import secrets
        con = self.console
        prev_so = getattr(self, "so_pin", None)
        self.so_pin = so_pin or prev_so or "so-" + secrets.token_hex(8)
        self.user_pin = user_pin or "pin-" + secrets.token_hex(8)
        self.admin_user = admin
        self.admin_password = password or "Adm1n-" + secrets.token_urlsafe(12)
        out = []
        seen = self.ready_count()
        con.send("init")
        before = con.expect("HSM SO PIN: ")  # "Current HSM SO PIN: " or "New HSM SO PIN: "
        out.append(before)
        if before.endswith("Current "):
            con.send(prev_so or self.so_pin)
        else:
            con.send(self.so_pin)
            out.append(con.expect("Repeat the HSM SO PIN: "))
            con.send(self.so_pin)
        out.append(con.expect("New HSM user PIN: "))
        con.send(self.user_pin)
        out.append(con.expect("Repeat the HSM user PIN: "))
        con.send(self.user_pin)
        out.append(con.expect("[y/N] "))
        con.send("y")
        out.append(con.expect("Administrator name: ", timeout=timeout))
        con.send(admin)
        out.append(con.expect("New password: "))
        con.send(self.admin_password)
        out.append(con.expect("Repeat new password: "))
        con.send(self.admin_password)
        enrol = con.expect("TOTP code: ")
        out.append(enrol)
        m = re.search(r"otpauth://totp/[^\s]*[?&]secret=([A-Z2-7]+)", enrol)
        if not m:
            raise RuntimeError("no otpauth URI in the enrolment:\n" + enrol)
        self.totp_secret = m.group(1)
        con.send(totp_now(self.totp_secret, clock()))
        out.append(con.expect("login: ", timeout=timeout))
        self.wait_ready(timeout, seen)
        return "".join(out).replace("\r\n", "\n")

    def login(self, user=None, password=None, totp=None):
        """At "login: " (sends Enter first to get one): log in; returns the output up to the
        command prompt."""
        con = self.console
        con.send("")
        con.expect("login: ")
        con.send(user or self.admin_user)
        con.expect("Password: ")
        con.send(password or self.admin_password)
        if totp is not None:
            con.expect("TOTP code: ")
            con.send(totp() if callable(totp) else totp)
        return con.prompt()

    def stop(self, timeout=10):
        if self.console is not None:
            self.console.close()
            self.console = None
        return super().stop(timeout)


def totp_now(secret_b32, t=None, step=30, digits=6):
    """RFC 6238 TOTP (HMAC-SHA1) for a base32 secret, computed independently of coffred."""
    import base64
    import hashlib
    import hmac
    import struct as st
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if t is None else t) // step)
    h = hmac.new(key, st.pack(">Q", counter), hashlib.sha1).digest()
    o = h[-1] & 0x0F
    code = (st.unpack(">I", h[o:o + 4])[0] & 0x7FFFFFFF) % (10 ** digits)
    return "%0*d" % (digits, code)
