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
4. `[service] user`: as root, `coffred provision --qa DIR --user nobody` gives every file to
   uid 65534 and a coffred started as root runs as it on every thread (ids, no capability,
   filtered) and serves; an unknown user stops the start. Not root: provision --user is
   refused.
Backup export, the console's commands and the KMIP suites run under the filter in their own
tests (the filter is on by default)."""
import os
import pwd
import re
import signal
import subprocess
import sys
import tempfile

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

# ---- 4. [service] user: started as root, coffred becomes that user (uid 65534 `nobody`) -----
NOBODY = 65534


def provision_for(user):
    """A QA instance provisioned with --user user, in a temporary dir others may traverse."""
    u = rl.Instance.__new__(rl.Instance)
    u.build, u.coffred = build, os.path.join(build, "coffred")
    u.tmp = tempfile.mkdtemp(prefix="coffre-sbxuser.")
    rl._TMPDIRS.append(u.tmp)
    os.chmod(u.tmp, 0o711)
    u.dir, u.conf = os.path.join(u.tmp, "qa"), os.path.join(u.tmp, "qa", "coffred.conf")
    u.proc, u.port, u.starts, u.errfiles = None, None, 0, []
    r = subprocess.run([u.coffred, "provision", "--qa", u.dir, "--user", user],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    return u, r.returncode, r.stdout.decode(errors="replace")


if os.geteuid() == 0 and pwd.getpwuid(NOBODY).pw_name:
    name = pwd.getpwuid(NOBODY).pw_name
    u, rc, out = provision_for(name)
    owners = {os.lstat(os.path.join(d, f)).st_uid for d, ds, fs in os.walk(u.dir)
              for f in ds + fs} | {os.stat(u.dir).st_uid}
    t.check("provision --user %s: rc 0, every file under the instance is %s's" % (name, name),
            rc == 0 and owners == {NOBODY}, out[-300:] + repr(owners))
    with open(u.conf) as f:
        t.check("coffred.conf says [service] user = %s" % name,
                "[service]\ndata_dir = data\nuser = %s\n" % name in f.read())
    u.start()
    st = {}
    for tid in os.listdir("/proc/%d/task" % u.pid):
        with open("/proc/%d/task/%s/status" % (u.pid, tid)) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Uid", "Gid", "CapEff", "CapPrm", "Seccomp"):
                    st.setdefault(k, set()).add(" ".join(v.split()))
    t.check("started as root: every thread runs as %d (real, effective, saved, fs), no "
            "capability, filtered" % NOBODY,
            st.get("Uid") == {"%d %d %d %d" % ((NOBODY,) * 4)}
            and st.get("Gid") == {"%d %d %d %d" % ((NOBODY,) * 4)}
            and st.get("CapEff") == {"0000000000000000"}
            and st.get("CapPrm") == {"0000000000000000"} and st.get("Seccomp") == {"2"},
            repr(st))
    with u.client() as c:
        uid = c.create_aes(256)
        t.check("KMIP as %s: Create then Get" % name, len(c.get(uid)) == 32)
    t.check("the store's files are %s's" % name,
            {os.stat(os.path.join(u.dir, "data", f)).st_uid
             for f in os.listdir(os.path.join(u.dir, "data"))} == {NOBODY})
    t.check("clean stop (rc=0)", u.stop() == 0, u.stderr()[-400:])
    # an unknown user is a config error
    with open(u.conf) as f:
        good = f.read()
    with open(u.conf, "w") as f:
        f.write(good.replace("user = %s\n" % name, "user = no-such-user-x\n", 1))
    r = subprocess.run([u.coffred, "-c", u.conf, "--port", "0"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = r.stdout.decode(errors="replace")
    t.check("[service] user = an unknown user: start refused, said",
            r.returncode != 0 and "[service] user no-such-user-x: no such user" in out, out[-300:])
    with open(u.conf, "w") as f:
        f.write(good)
else:
    # not root: provision --user is refused (it could not give the files away), and so is a
    # start as another user than [service] user
    u, rc, out = provision_for("nobody")
    t.check("not root: provision --user refused", rc != 0 and "--user needs root" in out, out)
t.done()
