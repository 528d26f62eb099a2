"""Mount tables, fstab and block-device facts shared by the backup and host-protection collectors.

Pure parsers only (no collector registers here). Mount facts are read as *files* through the transport
(`/proc/self/mountinfo`, `/proc/mounts`, `/etc/fstab`), so the same code answers locally, over SSH and
for an offline `--root` image (where only the image's fstab exists).
"""

from __future__ import annotations

import posixpath
import re

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import BadRecord

#: Filesystems whose data lives on another machine: a copy there is off this host's disks, but a
#: read-write mount is still reachable by anything running here.
NETWORK_FSTYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "davfs", "sshfs",
    "fuse.sshfs", "fuse.glusterfs", "fuse.ceph", "fuse.davfs2", "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse",
})


class Mount(BaseModel):
    """One mounted (or, from fstab, to-be-mounted) filesystem."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mount_point: str
    source: str  # device or remote spec (/dev/sda1, UUID=..., nas:/export)
    fstype: str
    options: list[str] = Field(default_factory=list)
    device: str | None = None  # major:minor, from mountinfo only

    @property
    def read_only(self) -> bool:
        return "ro" in self.options

    @property
    def noexec(self) -> bool:
        return "noexec" in self.options

    @property
    def noauto(self) -> bool:
        return "noauto" in self.options

    @property
    def network(self) -> bool:
        return self.fstype in NETWORK_FSTYPES or self.fstype.startswith(("nfs", "cifs"))


_ESCAPE = re.compile(r"\\([0-7]{3})")


def unescape(field: str) -> str:
    r"""mountinfo and fstab write space as \040, tab \011, newline \012 and backslash \134."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """/proc/<pid>/mountinfo (proc(5)): `id parent maj:min root mountpoint opts [optional...] - fstype source superopts`.

    Total: malformed lines are skipped. The per-mount options and the superblock options are merged, since
    `ro` may be set on either.
    """
    out: list[Mount] = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if sep + 3 > len(fields) or len(fields) < 6:
            continue
        if not re.fullmatch(r"\d+:\d+", fields[2]):
            continue
        opts = [o for o in fields[5].split(",") if o]
        super_opts = [o for o in fields[sep + 3].split(",") if o] if sep + 3 < len(fields) else []
        merged = opts + [o for o in super_opts if o not in opts and o in ("ro", "rw")]
        if "ro" in merged and "rw" in merged:
            merged = [o for o in merged if o != "rw"]  # read-only on either layer wins
        out.append(Mount(
            mount_point=unescape(fields[4]),
            source=unescape(fields[sep + 2]),
            fstype=fields[sep + 1],
            options=merged,
            device=fields[2],
        ))
    return out


def parse_mounts(text: str) -> list[Mount]:
    """/proc/mounts (fstab format without comments): `source mountpoint fstype options freq passno`."""
    out: list[Mount] = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 4 or line.lstrip().startswith("#"):
            continue
        out.append(Mount(mount_point=unescape(f[1]), source=unescape(f[0]), fstype=f[2],
                         options=[o for o in f[3].split(",") if o]))
    return out


def parse_fstab(text: str, bad: list[BadRecord] | None = None, path: str = "/etc/fstab") -> list[Mount]:
    """/etc/fstab (fstab(5)). Swap entries are dropped: they have no mount point. Options default to `defaults`.
    A line with fewer than 3 or more than 6 fields is recorded in `bad` (mount(8) rejects it too)."""
    out: list[Mount] = []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        f = s.split()
        if len(f) < 3 or len(f) > 6:
            if bad is not None:
                bad.append(BadRecord(path=path, line=n, reason=f"{len(f)} fields, fstab(5) has 3 to 6"))
            continue
        mp = unescape(f[1])
        if not mp.startswith("/") or f[2] == "swap":
            continue
        opts = [o for o in f[3].split(",") if o] if len(f) > 3 else ["defaults"]
        out.append(Mount(mount_point=posixpath.normpath(mp), source=unescape(f[0]), fstype=f[2], options=opts))
    return out


def mount_for(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount a path lives on: the longest mount point containing it; later entries stack over earlier."""
    path = posixpath.normpath("/" + path.lstrip("/"))
    best: Mount | None = None
    best_len = -1
    for m in mounts:
        mp = m.mount_point.rstrip("/") or "/"
        if mp == "/" or path == mp or path.startswith(mp + "/"):
            n = len(mp)
            if n >= best_len:
                best, best_len = m, n
    return best


def root_mount(mounts: list[Mount]) -> Mount | None:
    """The filesystem mounted at `/` (the last one, if `/` was mounted over)."""
    return next((m for m in reversed(mounts) if m.mount_point == "/"), None)


def parse_lsattr(text: str) -> dict[str, str]:
    """`lsattr -d PATH...` output -> {path: flags}. Lines that are errors (`lsattr: ...`) are skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) != 2 or parts[0].startswith("lsattr") or not re.fullmatch(r"[A-Za-z-]+", parts[0]):
            continue
        out[parts[1].strip()] = parts[0]
    return out


class CrypttabEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    device: str
    keyfile: str | None = None
    options: list[str] = Field(default_factory=list)


def parse_crypttab(text: str) -> list[CrypttabEntry]:
    """/etc/crypttab (crypttab(5)): `name device [keyfile [options]]`. The key file path is not a secret."""
    out: list[CrypttabEntry] = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        f = s.split()
        if len(f) < 2:
            continue
        key = f[2] if len(f) > 2 and f[2] not in ("none", "-") else None
        opts = [o for o in f[3].split(",") if o] if len(f) > 3 else []
        out.append(CrypttabEntry(name=f[0], device=f[1], keyfile=key, options=opts))
    return out
