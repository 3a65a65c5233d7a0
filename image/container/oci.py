"""Write the QA container as an OCI image archive (a tar of an OCI image layout) from a staged
root filesystem, with no base image and no container tool.

usage: oci.py ROOTFS ENTRYPOINT OUT.tar EPOCH

  ROOTFS      the staged root filesystem (image/rootfs.sh)
  ENTRYPOINT  the entrypoint script, added as /usr/sbin/coffre-entrypoint
  OUT.tar     the archive: oci-layout, index.json, blobs/sha256/{manifest, config, layer},
              and manifest.json, the same image described in Docker's `docker save` format, so
              that `docker load -i` reads the archive also on engines that do not read OCI
              layouts (Docker 20.10)
  EPOCH       the mtime of every entry and the image's "created" time (seconds)

One layer: a gzip'd tar of ROOTFS plus the entrypoint, entries sorted by path, owners 0:0
(but /var/lib/coffre, 100:100 = coffre, mode 0700, which a new named volume inherits), mtimes
EPOCH, gzip without a name or a time. The same ROOTFS, ENTRYPOINT and EPOCH give the same
bytes."""
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import time

ENTRYPOINT_PATH = "usr/sbin/coffre-entrypoint"
VOLUME = "var/lib/coffre"
QA_UID = 100
PORT = 5696
REF = "coffre-qa:latest"

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def entry(name, mode, epoch, kind=tarfile.REGTYPE, size=0, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime, ti.size, ti.linkname = kind, mode, epoch, size, link
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def rootfs_entries(root):
    """-> sorted [(archive path, host path)] of everything under root (not root itself)."""
    out = []
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            out.append((os.path.relpath(p, root), p))
    return out


def layer_tar(root, entrypoint, epoch):
    """-> the uncompressed layer tar (bytes)."""
    items = dict(rootfs_entries(root))
    items[ENTRYPOINT_PATH] = entrypoint
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(items):
            src = items[name]
            st = os.lstat(src)
            mode = stat.S_IMODE(st.st_mode) & ~0o022
            if stat.S_ISLNK(st.st_mode):
                tar.addfile(entry(name, 0o777, epoch, tarfile.SYMTYPE, link=os.readlink(src)))
            elif stat.S_ISDIR(st.st_mode):
                ti = entry(name, mode, epoch, tarfile.DIRTYPE)
                if name == VOLUME:
                    ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = 0o700, QA_UID, QA_UID, "coffre", "coffre"
                tar.addfile(ti)
            elif stat.S_ISREG(st.st_mode):
                if name == ENTRYPOINT_PATH:
                    mode = 0o755
                with open(src, "rb") as f:
                    tar.addfile(entry(name, mode, epoch, size=st.st_size), f)
            else:
                sys.exit("oci: %s: not a file, directory or symbolic link" % src)
    return buf.getvalue()


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=buf, mode="wb", compresslevel=9, mtime=0) as g:
        g.write(data)
    return buf.getvalue()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def jbytes(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def image_config(diff_id, epoch):
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "Entrypoint": ["/usr/sbin/coffre-entrypoint"],
            "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "COFFRE_PORT=%d" % PORT],
            "ExposedPorts": {"%d/tcp" % PORT: {}},
            "Volumes": {"/" + VOLUME: {}},
            "WorkingDir": "/" + VOLUME,
            "StopSignal": "SIGTERM",
            "Labels": {
                "org.opencontainers.image.title": "coffre-qa",
                "org.opencontainers.image.description":
                    "Coffre KMIP key vault, QA instance provisioned on first start "
                    "(client certificate in /var/lib/coffre/pki)",
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "image/container/oci.py"}],
    }


def blob_path(data):
    return "blobs/sha256/" + hashlib.sha256(data).hexdigest()


def write_archive(out, config, layer_gz, manifest, index, epoch):
    """The layout as a tar: oci-layout, index.json, manifest.json (Docker's loader: the config
    and the layer by their paths in blobs/), then the blobs; sorted, fixed metadata."""
    docker = [{"Config": blob_path(config), "RepoTags": [REF], "Layers": [blob_path(layer_gz)]}]
    files = {"oci-layout": jbytes({"imageLayoutVersion": "1.0.0"}), "index.json": jbytes(index),
             "manifest.json": jbytes(docker)}
    blobs = (manifest, config, layer_gz)
    for data in blobs:
        files[blob_path(data)] = data
    tmp = out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            tar.addfile(entry(d, 0o755, epoch, tarfile.DIRTYPE))
        for name in sorted(files):
            tar.addfile(entry(name, 0o644, epoch, size=len(files[name])), io.BytesIO(files[name]))
    os.replace(tmp, out)


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    root, entrypoint, out, epoch = argv[1], argv[2], argv[3], int(argv[4])
    for need in ("usr/bin/coffred", "usr/bin/busybox", "usr/sbin", VOLUME):
        if not os.path.lexists(os.path.join(root, need)):
            sys.exit("oci: %s is not a staged root filesystem (no %s)" % (root, need))
    layer = layer_tar(root, entrypoint, epoch)
    layer_gz = gz(layer)
    config = jbytes(image_config(digest(layer), epoch))
    manifest = jbytes({
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": MT_LAYER, "digest": digest(layer_gz), "size": len(layer_gz)}],
    })
    index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [{
            "mediaType": MT_MANIFEST, "digest": digest(manifest), "size": len(manifest),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": REF,
                            "io.containerd.image.name": "docker.io/library/" + REF},
        }],
    }
    write_archive(out, config, layer_gz, manifest, index, epoch)
    print("container: %s %.1f MiB (layer %.1f MiB, %.1f MiB unpacked), image %s" % (
        out, os.path.getsize(out) / 2**20, len(layer_gz) / 2**20, len(layer) / 2**20,
        digest(manifest)))


if __name__ == "__main__":
    main(sys.argv)
