"""The QA container run by the machine's Docker engine (make test-container; not in make test).

usage: test_container.py ARCHIVE      (build/image/coffre-qa.oci.tar, from make container)

1. skopeo inspect: one gzip'd layer, the config's Entrypoint, ExposedPorts, Volumes and Env;
   the archive is written again from the same staged root filesystem with the same bytes.
2. The archive is loaded into the engine as it is (docker load -i: it carries Docker's
   manifest.json beside the OCI layout) and through skopeo copy to a docker-archive (the way
   for engines that read neither); both give the same image id. Tags of this run.
3. Container A (its own named volume, -p 127.0.0.1:<any>:5696): the first start provisions,
   coffred is pid 1 and runs as uid 100, the console banner is on stdout, the log on stderr;
   qa.crt / qa.key / ca.crt are copied out (docker cp); the vCenter replay
   (tests/integration/vcenter_lib.py) and PyKMIP Creates and Gets go through the published
   port.
4. docker stop (clean exit, status 0) and docker start: no new provisioning, the same
   certificates, every key Gets the same bytes.
5. Container B beside A (its own volume and port): its own CA, A's client certificate is
   refused, B's keys are its own, A keeps serving its keys unchanged.
Containers, volumes and the image tag of this run are removed at the end, also on failure."""
import calendar
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import robust_lib as rl  # noqa: E402
import vcenter_lib as vl  # noqa: E402

from kmip import enums  # noqa: E402
from kmip.pie.client import ProxyKmipClient  # noqa: E402

READY = "coffred: ready"
RUN = "coffre-qa-test-%d" % os.getpid()
NAME = "coffre-qa:latest"                      # the name the archive gives its image
TAG = "coffre-qa-test:%d" % os.getpid()
TAG_SKOPEO = "coffre-qa-test:%d-skopeo" % os.getpid()
PKI_IN = "/var/lib/coffre/pki"
CERTS = ("ca.crt", "qa.crt", "qa.key")
START_TIMEOUT = 90

t = rl.Tally()
created = {"containers": [], "volumes": [], "images": []}


def sh(*args, timeout=180, check=False):
    """Run a command -> CompletedProcess (text, stdout and stderr apart)."""
    r = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def cleanup():
    for c in created["containers"]:
        sh("docker", "rm", "-f", "-v", c)
    for v in created["volumes"]:
        sh("docker", "volume", "rm", "-f", v)
    for i in created["images"]:
        sh("docker", "rmi", "-f", i)
    created["containers"], created["volumes"], created["images"] = [], [], []


def on_signal(sig, frame):
    raise SystemExit("interrupted by signal %d" % sig)


# ---- the archive ------------------------------------------------------------------------------

def inspect(archive):
    r = sh("skopeo", "inspect", "--raw", "oci-archive:" + archive)
    t.check("skopeo inspect reads the archive's manifest", r.returncode == 0, r.stderr.strip())
    if r.returncode != 0:
        return None
    manifest = json.loads(r.stdout)
    layers = manifest.get("layers", [])
    t.check("one layer, a gzip'd tar", len(layers) == 1 and
            layers[0].get("mediaType") == "application/vnd.oci.image.layer.v1.tar+gzip")
    r = sh("skopeo", "inspect", "--config", "oci-archive:" + archive)
    t.check("skopeo inspect --config reads the image config", r.returncode == 0, r.stderr.strip())
    if r.returncode != 0:
        return None
    config = json.loads(r.stdout)
    c = config.get("config", {})
    t.check("Entrypoint /usr/sbin/coffre-entrypoint",
            c.get("Entrypoint") == ["/usr/sbin/coffre-entrypoint"])
    t.check("ExposedPorts 5696/tcp", list(c.get("ExposedPorts", {})) == ["5696/tcp"])
    t.check("Volumes /var/lib/coffre", list(c.get("Volumes", {})) == ["/var/lib/coffre"])
    t.check("Env COFFRE_PORT=5696", "COFFRE_PORT=5696" in c.get("Env", []))
    t.check("no base image: the config lists exactly one layer",
            len(config.get("rootfs", {}).get("diff_ids", [])) == 1)
    return config


def reproducible(archive, config, tmp):
    """oci.py again on the staged root filesystem beside the archive: the same bytes."""
    stage = os.path.join(os.path.dirname(archive), "container-rootfs")
    if not os.path.isdir(stage) or config is None:
        t.bad("reproducibility: no staged root filesystem at %s" % stage)
        return
    epoch = calendar.timegm(time.strptime(config["created"], "%Y-%m-%dT%H:%M:%SZ"))
    again = os.path.join(tmp, "again.oci.tar")
    r = sh("/usr/bin/python3", os.path.join(TOP, "image", "container", "oci.py"), stage,
           os.path.join(TOP, "image", "container", "entrypoint.sh"), again, str(epoch))
    same = r.returncode == 0 and digest_file(again) == digest_file(archive)
    t.check("the archive written again from the same inputs has the same bytes", same,
            r.stderr.strip())


def digest_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def image_id(ref):
    return sh("docker", "image", "inspect", "-f", "{{.Id}}", ref).stdout.strip()


def load_direct(archive):
    """docker load -i of the archive as it is (it carries Docker's manifest.json beside the OCI
    layout), then tagged TAG; the name the archive gives (coffre-qa:latest) is put back as it
    was before. -> the image id, or None."""
    prev = image_id(NAME)
    r = sh("docker", "load", "-i", archive)
    m = re.search(r"Loaded image: (\S+)", r.stdout)
    if not t.check("docker load -i reads the archive as it is (%s)" % (m.group(1) if m else "?"),
                   r.returncode == 0 and m is not None and m.group(1) == NAME,
                   (r.stderr or r.stdout).strip()):
        return None
    sh("docker", "tag", NAME, TAG, check=True)
    created["images"].append(TAG)
    if prev:
        sh("docker", "tag", prev, NAME)
    else:
        sh("docker", "rmi", NAME)   # untags: the image stays as TAG
    return image_id(TAG)


def load_skopeo(archive, tmp):
    """skopeo copy oci-archive: -> docker-archive: (for engines that read neither), then
    docker load, as TAG_SKOPEO. -> the image id, or None."""
    darchive = os.path.join(tmp, "docker-archive.tar")
    r = sh("skopeo", "copy", "-q", "oci-archive:" + archive,
           "docker-archive:%s:%s" % (darchive, TAG_SKOPEO))
    if not t.check("skopeo copy oci-archive: -> docker-archive:", r.returncode == 0, r.stderr.strip()):
        return None
    r = sh("docker", "load", "-i", darchive)
    if r.returncode == 0:
        created["images"].append(TAG_SKOPEO)
    if not t.check("docker load of skopeo's docker-archive", r.returncode == 0, r.stderr.strip()):
        return None
    return image_id(TAG_SKOPEO)


def load(archive, tmp):
    """Both ways into the engine; -> the tag to run (None: neither loaded)."""
    direct, converted = load_direct(archive), load_skopeo(archive, tmp)
    if direct and converted:
        t.check("both ways give the same image id (%s)" % direct[:19], direct == converted,
                "%s != %s" % (direct, converted))
    return TAG if direct else TAG_SKOPEO if converted else None


# ---- containers -------------------------------------------------------------------------------

class Box:
    """One container of the image with its own named volume, KMIP published on 127.0.0.1."""

    def __init__(self, tag, tmp, image):
        self.image = image
        self.name = "%s-%s" % (RUN, tag)
        self.volume = self.name
        self.dir = os.path.join(tmp, tag)
        os.makedirs(self.dir)
        self.port = None

    def run(self):
        created["volumes"].append(self.volume)
        created["containers"].append(self.name)
        sh("docker", "run", "-d", "--name", self.name, "-p", "127.0.0.1::5696",
           "-v", "%s:/var/lib/coffre" % self.volume, self.image, check=True)

    def logs(self):
        r = sh("docker", "logs", self.name)
        return r.stdout, r.stderr

    def wait_ready(self, n):
        """Wait for the n-th ready line of this container (the log survives restarts)."""
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            out, err = self.logs()
            if err.count(READY) >= n:
                self.port = self.published_port()
                return self.port is not None
            if sh("docker", "inspect", "-f", "{{.State.Running}}", self.name).stdout.strip() != "true":
                break
            time.sleep(0.5)
        print("\n".join("   srv| " + line for line in self.logs()[1].splitlines()[-20:]))
        return False

    def published_port(self):
        r = sh("docker", "port", self.name, "5696/tcp")
        m = re.search(r"127\.0\.0\.1:(\d+)", r.stdout)
        return int(m.group(1)) if m else None

    def copy_certs(self, sub):
        out = os.path.join(self.dir, sub)
        os.makedirs(out)
        for f in CERTS:
            sh("docker", "cp", "%s:%s/%s" % (self.name, PKI_IN, f), os.path.join(out, f), check=True)
        return out

    def client(self, pki=None):
        pki = pki or os.path.join(self.dir, "certs")
        return ProxyKmipClient(hostname="127.0.0.1", port=self.port, cert=pki + "/qa.crt",
                               key=pki + "/qa.key", ca=pki + "/ca.crt", config_file="/dev/null")

    def pid1(self):
        """-> (uid, command line) of the container's pid 1."""
        st = sh("docker", "exec", self.name, "cat", "/proc/1/status").stdout
        cmd = sh("docker", "exec", self.name, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
        m = re.search(r"^Uid:\s+(\d+)", st, re.M)
        return (int(m.group(1)) if m else None), cmd.strip()


def files_bytes(d):
    out = {}
    for f in CERTS:
        with open(os.path.join(d, f), "rb") as fh:
            out[f] = fh.read()
    return out


def get_all(box, uids):
    """-> {uid: key bytes or None} through box's published port."""
    got = {}
    with box.client() as c:
        for uid in uids:
            try:
                got[uid] = c.get(uid).value
            except Exception:  # noqa: BLE001  (refused: None)
                got[uid] = None
    return got


def first_start(a):
    a.run()
    if not t.check("first start: coffred ready within %d s" % START_TIMEOUT, a.wait_ready(1)):
        return False
    out, err = a.logs()
    t.check("the entrypoint provisioned a QA instance", "first start: provisioning" in err and
            "provisioned QA instance /var/lib/coffre" in err)
    t.check("KMIP listens on 0.0.0.0:5696 in the container", "ready kmip=0.0.0.0:5696" in err)
    t.check("the console is on stdout (banner, READY)", "State: READY" in out)
    uid, cmd = a.pid1()
    t.check("coffred is pid 1 (%s)" % cmd, cmd.startswith("coffred -c /var/lib/coffre/coffred.conf"))
    t.check("coffred runs as uid 100 (coffre), not root", uid == 100, "uid %s" % uid)
    a.copy_certs("certs")
    t.ok("docker cp copied qa.crt, qa.key, ca.crt out of %s" % PKI_IN)
    return True


def replay(a):
    pki = os.path.join(a.dir, "certs")
    r = vl.replay(a.port, pki + "/ca.crt", pki + "/qa.crt", pki + "/qa.key")
    t.check("vCenter replay through the published port: %d requests, all Success" % r.n_requests,
            r.ok, r.describe())
    keys = {}
    for cid, uid in sorted(r.mapping.items()):
        if r.get_material.get(cid):
            keys[uid] = r.get_material[cid][0]
    t.check("the replay's two keys Get 32 bytes", len(keys) == 2 and
            all(len(v) == 32 for v in keys.values()))
    return keys


def pykmip_keys(a, n=5):
    keys = {}
    with a.client() as c:
        for i in range(n):
            uid = c.create(enums.CryptographicAlgorithm.AES, 256, name="container-%d" % i)
            keys[uid] = c.get(uid).value
    t.check("PyKMIP: %d AES-256 Creates and Gets through the published port" % n,
            len(keys) == n and all(len(v) == 32 for v in keys.values()))
    return keys


def restart(a, keys):
    r = sh("docker", "stop", "-t", "30", a.name)
    code = sh("docker", "inspect", "-f", "{{.State.ExitCode}}", a.name).stdout.strip()
    t.check("docker stop: coffred stops cleanly (exit status 0)", r.returncode == 0 and code == "0",
            "exit status %s" % code)
    sh("docker", "start", a.name, check=True)
    if not t.check("docker start: ready again", a.wait_ready(2)):
        return
    err = a.logs()[1]
    t.check("the restart did not provision again", err.count("first start: provisioning") == 1)
    again = a.copy_certs("certs-restart")
    t.check("the same certificates and client key after the restart",
            files_bytes(again) == files_bytes(os.path.join(a.dir, "certs")))
    got = get_all(a, keys)
    t.check("after the restart all %d keys Get the same bytes" % len(keys), got == keys,
            "%d differ" % sum(1 for u in keys if got.get(u) != keys[u]))


def side_by_side(a, b, keys_a):
    b.run()
    if not t.check("container B beside A: ready", b.wait_ready(1)):
        return
    t.check("A and B on their own ports (%s, %s)" % (a.port, b.port), a.port != b.port)
    pki_b = b.copy_certs("certs")
    ca_a, ca_b = files_bytes(os.path.join(a.dir, "certs")), files_bytes(pki_b)
    t.check("B has its own CA and client certificate", ca_a["ca.crt"] != ca_b["ca.crt"] and
            ca_a["qa.crt"] != ca_b["qa.crt"])
    # A's client certificate and key, B's CA: the client trusts B, B must refuse the client
    mixed = os.path.join(b.dir, "a-client")
    os.makedirs(mixed)
    shutil.copy(os.path.join(pki_b, "ca.crt"), mixed)
    for f in ("qa.crt", "qa.key"):
        shutil.copy(os.path.join(a.dir, "certs", f), mixed)
    try:
        with b.client(pki=mixed) as c:
            c.create(enums.CryptographicAlgorithm.AES, 128)
        t.bad("B refuses A's client certificate: a Create went through")
    except Exception as e:  # noqa: BLE001
        t.ok("B refuses A's client certificate (%s: %s)" % (type(e).__name__, str(e)[:60]))
    keys_b = pykmip_keys(b, 3)
    got = get_all(b, keys_a)
    t.check("none of A's keys is in B (absent or other bytes)",
            all(got[u] is None or got[u] != keys_a[u] for u in keys_a))
    t.check("A's keys are not among B's bytes", not set(keys_a.values()) & set(keys_b.values()))
    got = get_all(a, keys_a)
    t.check("A still serves all its keys unchanged while B runs", got == keys_a)


def main():
    if len(sys.argv) != 2 or not os.path.isfile(sys.argv[1]):
        print("FAIL usage: test_container.py ARCHIVE (build it: make container)")
        print("0 passed, 1 failed", flush=True)
        sys.exit(1)
    archive = os.path.abspath(sys.argv[1])
    for tool in ("docker", "skopeo"):
        if shutil.which(tool) is None:
            print("FAIL %s not found (tools/deps.sh ensure container; a Docker engine)" % tool)
            print("0 passed, 1 failed", flush=True)
            sys.exit(1)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tmp = tempfile.mkdtemp(prefix="coffre-qa-test.")
    logging.basicConfig(filename=os.path.join(tmp, "pykmip.log"), level=logging.INFO)
    t0 = time.time()
    try:
        config = inspect(archive)
        reproducible(archive, config, tmp)
        image = load(archive, tmp)
        if image:
            a, b = Box("a", tmp, image), Box("b", tmp, image)
            if first_start(a):
                keys = replay(a)
                keys.update(pykmip_keys(a))
                restart(a, keys)
                side_by_side(a, b, keys)
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    left = sh("docker", "ps", "-a", "-q", "--filter", "name=" + RUN).stdout.split()
    t.check("containers, volumes and the image tag of this run removed", not left and
            not sh("docker", "volume", "ls", "-q", "--filter", "name=" + RUN).stdout.split() and
            not sh("docker", "images", "-q", TAG).stdout.split() and
            not sh("docker", "images", "-q", TAG_SKOPEO).stdout.split())
    print("test_container: %.1f s" % (time.time() - t0))
    t.done()


if __name__ == "__main__":
    main()
