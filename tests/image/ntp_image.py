"""NTP on the appliance image (docs/console/board.md "time ntp, NTP"), called by
tests/image/test_image.py after its `time set`: a fake NTP server on the host (UDP, a free
port on 0.0.0.0; the guest reaches the host as 10.0.2.2 through qemu's user network) answers
with the host's time + 300 s; `time ntp 10.0.2.2:PORT` on the guest's console; `time show`
shows the guest's clock stepped about 300 s ahead and the sync's status; `time ntp off`, and
`time set` puts the clock back on the host's time for the rest of the test."""
import calendar
import re
import socket
import struct
import threading
import time

NTP_AHEAD = 300              # seconds the fake server's clock is ahead of the host's
NTP_EPOCH = 2208988800       # 1900 -> 1970
CMD_TIMEOUT = 120
SYNC_TIMEOUT = 150           # TCG: the first poll is at once, each query waits 2 s at most


def _ntp_ts(t):
    sec = int(t)
    return ((sec + NTP_EPOCH) & 0xffffffff) << 32 | int((t - sec) * (1 << 32)) & 0xffffffff


class FakeNtp:
    """An SNTP server (stratum 1, version 4, mode 4) whose clock runs `ahead` seconds ahead."""

    def __init__(self, ahead):
        self.ahead = ahead
        self.requests = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                req, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(req) < 48:
                continue
            self.requests.append(req[0])
            now = _ntp_ts(time.time() + self.ahead)
            rep = struct.pack(">BBbbII4s", 0 << 6 | 4 << 3 | 4, 1, 6, -20, 0, 0x10, b"GPS\0")
            rep += struct.pack(">Q", now - (16 << 32)) + req[40:48] + struct.pack(">QQ", now, now)
            self.sock.sendto(rep, peer)

    def close(self):
        self.stop.set()
        self.th.join(5)
        self.sock.close()


def _answer(con, line):
    con.send(line)
    out = con.expect("[y/N] ", timeout=CMD_TIMEOUT)
    con.send("y")
    return (out + con.prompt(timeout=CMD_TIMEOUT)).replace("\r\n", "\n")


def _guest_time(con):
    out = con.cmd("time show", timeout=CMD_TIMEOUT)
    m = re.search(r"time: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", out)
    return (calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ"))
            if m else None), out


def ntp_check(t, con, vm):
    """`time ntp` against a fake server on the host: the guest's clock follows it, then back."""
    srv = FakeNtp(NTP_AHEAD)
    try:
        server = "10.0.2.2:%d" % srv.port
        out = _answer(con, "time ntp " + server)
        t.check("time ntp %s: saved and applied at once (no reboot)" % server,
                "ntp: %s: saved; synchronising" % server in out, out)
        deadline, now, shown = time.monotonic() + SYNC_TIMEOUT, None, ""
        while time.monotonic() < deadline:
            now, shown = _guest_time(con)
            if "ntp status: synchronised" in shown:
                break
            time.sleep(3)
        m = re.search(r"ntp status: synchronised with (\S+) at \S+: offset ([+-][0-9.]+) s "
                      r"\((\w+)\)", shown)
        t.check("time show: synchronised with %s, the clock stepped about %d s ahead (%s)" %
                (server, NTP_AHEAD, shown.strip().replace("\n", " | ")),
                m is not None and m.group(1) == server and m.group(3) == "stepped" and
                abs(float(m.group(2)) - NTP_AHEAD) < 30 and now is not None and
                abs(now - (time.time() + NTP_AHEAD)) < 30 and
                "\nntp: %s\n" % server in shown, shown)
        t.check("the fake server saw SNTP client requests (LI 0, version 4, mode 3): %d" %
                len(srv.requests), srv.requests and all(b == 0x23 for b in srv.requests),
                repr(srv.requests[:5]))
        out = _answer(con, "time ntp off")
        t.check("time ntp off", "ntp: off: saved" in out, out)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time()))
        _answer(con, "time set " + when)
        now, shown = _guest_time(con)
        t.check("time set %s: the guest's clock is back on the host's time, NTP off (%s)" %
                (when, shown.strip().replace("\n", " | ")),
                now is not None and abs(now - time.time()) < 30 and "\nntp: off\n" in shown and
                "ntp status" not in shown, shown)
    except Exception as e:      # noqa: BLE001 (a console timeout: said, the test goes on)
        t.bad("ntp: %s: %s" % (type(e).__name__, e))
        log = getattr(getattr(vm, "console", None), "log", b"")
        print(log[-1500:].decode(errors="replace") if isinstance(log, bytes) else "", flush=True)
    finally:
        srv.close()
