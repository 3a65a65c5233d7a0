"""The sandbox (docs/security.md "Sandbox"): seccomp allow-list on every thread.

usage: test_sandbox.py BUILD_DIR

1. A QA instance (the product build, [service] sandbox at its default): every thread of the
   process has NO_NEW_PRIVS and a seccomp filter (/proc/PID/task/*/status), the console's
   `status` says `sandbox: seccomp active (N system calls allowed)`, KMIP serves a Create and
   a Get, the console answers.
2. The test-hook build (BUILD_DIR/tests/coffred_th) with COFFRE_TEST_SYSCALL=execve: the KMIP
   worker that takes the first request calls execve("/bin/true"): the process ends with SIGSYS
   and its log names the call. The same with ptrace (not in a sanitizer build, whose leak
   checker needs ptrace: the filter allows it there).
3. `[service] sandbox = off` (diagnosis only): no filter, and `status` says so.
Backup export, the console's commands and the KMIP suites run under the filter in their own
tests (the filter is on by default)."""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import console_lib as cl  # noqa: E402
import robust_lib as rl  # noqa: E402

build = rl.parse_build(sys.argv)
rl.require_built(build)
t = rl.Tally()
th = os.path.join(build, "tests", "coffred_th")


def task_fields(pid):
    """{tid: (Seccomp, NoNewPrivs)} for every thread of pid."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        f = {}
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as fh:
                for line in fh:
                    k, _, v = line.partition(":")
                    f[k] = v.strip()
        except OSError:
            continue
        out[tid] = (f.get("Seccomp"), f.get("NoNewPrivs"))
    return out


def sanitizer_build(path):
    with open(path, "rb") as fh:
        return b"__asan_init" in fh.read() or b"__tsan_init" in fh.read()


# ---- 1. the product build: on every thread, KMIP and the console work ------------------------
a = cl.Appliance(build, name="sandbox")
a.start()
tasks = task_fields(a.pid)
t.check("%d threads, every one with seccomp filter mode (2) and NoNewPrivs 1" % len(tasks),
        len(tasks) > 3 and all(v == ("2", "1") for v in tasks.values()), repr(tasks))
a.login()
out = a.console.cmd("status")
m = re.search(r"^sandbox: seccomp active \((\d+) system calls allowed\)$", out, re.M)
t.check("status: sandbox: seccomp active (%s system calls allowed)" % (m.group(1) if m else "?"),
        m is not None and 60 < int(m.group(1)) < 200, out)
with a.client() as c:
    uid = c.create_aes(256)
    r = c.call(rl.uid_req(rl.OP_GET, uid))
    t.check("KMIP under the filter: Create then Get (%s)" % uid, r.ok, r.describe())
out = a.console.cmd("client issue sbx1")
t.check("the console under the filter: client issue (a key pair and a certificate)",
        "-----BEGIN CERTIFICATE-----" in out, out[-300:])
tasks = task_fields(a.pid)
t.check("threads started since carry the filter too (%d)" % len(tasks),
        all(v == ("2", "1") for v in tasks.values()), repr(tasks))
t.check("clean stop (rc=0)", a.stop() == 0, a.stderr()[-500:])
t.check("no sandbox kill in the log", "forbidden system call" not in a.stderr(), a.stderr()[-500:])

# ---- 2. a forbidden call from a KMIP worker: SIGSYS, the log names it -------------------------
if not os.access(th, os.X_OK):
    t.bad("no %s (make BUILD=%s build-tests)" % (th, build))
    t.done()
calls = [("execve", 59)]
if not sanitizer_build(th):
    calls.append(("ptrace", 101))
a.coffred = th
for name, nr in calls:
    os.environ["COFFRE_TEST_SYSCALL"] = name
    try:
        a.start()
    finally:
        del os.environ["COFFRE_TEST_SYSCALL"]
    try:
        with a.client() as c:
            how = c.outcome(rl.discover_versions_req(), timeout=10)[0]
    except Exception as e:  # noqa: BLE001
        how = repr(e)
    try:
        rc = a.proc.wait(20)
    except Exception:  # noqa: BLE001
        rc = a.stop()
    err = a.stderr()
    t.check("%s from a KMIP worker: no response (%s), the process ended with SIGSYS (rc=%s)"
            % (name, how, rc), how != "response" and rc == -signal.SIGSYS, err[-600:])
    line = "coffred: error: sandbox: forbidden system call %s (%d): the process stops" % (name, nr)
    t.check("the log names the call: %r" % line, line in err.splitlines(), err[-600:])
    t.check("the hook's call never returned", "returned" not in err, err[-300:])

# ---- 3. [service] sandbox = off: no filter, status says so -----------------------------------
a.coffred = os.path.join(build, "coffred")
a.set_section("service", {"sandbox": "off"})
a.start()
tasks = task_fields(a.pid)
t.check("sandbox = off: no thread has a filter", all(v[0] == "0" for v in tasks.values()),
        repr(tasks))
a.login()
out = a.console.cmd("status")
t.check("status: sandbox: OFF", cl.has_line(out, "sandbox: OFF ([service] sandbox = off)"), out)
t.check("the log warns that it is off", "[service] sandbox = off: no seccomp filter" in a.stderr())
t.check("clean stop (rc=0)", a.stop() == 0)
t.done()
