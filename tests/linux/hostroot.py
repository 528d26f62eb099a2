"""Builders for real root trees (Debian and RHEL layouts) used by the patch, anti-malware and time tests.

Each helper writes the files a real system has at the real paths, with the real formats (apt history
blocks, dpkg status stanzas, ClamAV CVD headers, chrony.conf), so the collectors read them exactly as they
would read a mounted disk image.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clihelp import run_tenken

MINE = ("linux.patches.", "linux.antimalware.", "linux.time.")


def write(root: Path, path: str, data: str | bytes, *, mtime: datetime | None = None) -> Path:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        p.write_text(data, encoding="utf-8")
    else:
        p.write_bytes(data)
    if mtime is not None:
        ts = mtime.timestamp()
        os.utime(p, (ts, ts))
    return p


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


# -- OS identity and package database ---------------------------------------------------------------------

DEBIAN_OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""

RHEL_OS_RELEASE = """NAME="Red Hat Enterprise Linux"
VERSION="9.3 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.3 (Plow)"
"""


def dpkg_status(packages: Iterable[tuple[str, str]], removed: Iterable[str] = ()) -> str:
    stanzas = []
    for name, version in [("base-files", "12.4+deb12u5"), ("libc6", "2.36-9+deb12u4"), *packages]:
        stanzas.append(f"Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: misc\n"
                       f"Installed-Size: 100\nMaintainer: Debian <debian@example.org>\nArchitecture: amd64\nVersion: {version}\n"
                       f"Description: {name}\n")
    for name in removed:  # removed, configuration left behind: not installed
        stanzas.append(f"Package: {name}\nStatus: deinstall ok config-files\nPriority: optional\nVersion: 1.0\n")
    return "\n".join(stanzas)


def debian(root: Path, packages: Iterable[tuple[str, str]] = (), removed: Iterable[str] = ()) -> Path:
    write(root, "/etc/os-release", DEBIAN_OS_RELEASE)
    write(root, "/var/lib/dpkg/status", dpkg_status(packages, removed))
    write(root, "/usr/bin/apt-get", "#!/bin/sh\n")
    return root


def rhel(root: Path) -> Path:
    write(root, "/etc/os-release", RHEL_OS_RELEASE)
    write(root, "/usr/bin/dnf", "#!/usr/bin/python3\n")
    return root


# -- patch history -----------------------------------------------------------------------------------------


def _apt_ts(d: datetime) -> str:
    return d.strftime("%Y-%m-%d  %H:%M:%S")


def apt_history_block(end: datetime, *, action: str = "Upgrade", error: bool = False) -> str:
    start = end - timedelta(seconds=40)
    body = {
        "Upgrade": "Upgrade: libssl3:amd64 (3.0.11-1~deb12u1, 3.0.11-1~deb12u2), openssl:amd64 (3.0.11-1~deb12u1, 3.0.11-1~deb12u2)",
        "Install": "Install: vim:amd64 (2:9.0.1378-2), vim-runtime:amd64 (2:9.0.1378-2, automatic)",
    }[action]
    err = "Error: Sub-process /usr/bin/dpkg returned an error code (1)\n" if error else ""
    cmd = "apt-get -y upgrade" if action == "Upgrade" else "apt-get install vim"
    return (f"Start-Date: {_apt_ts(start)}\nCommandline: {cmd}\nRequested-By: admin (1000)\n{body}\n{err}"
            f"End-Date: {_apt_ts(end)}\n")


def apt_history(root: Path, blocks: list[str], name: str = "history.log", *, gz: bool = False) -> None:
    text = "\n" + "\n".join(blocks)
    data: str | bytes = gzip.compress(text.encode()) if gz else text
    write(root, f"/var/log/apt/{name}", data)


def auto_upgrades(root: Path, value: str = "1") -> None:
    write(root, "/etc/apt/apt.conf.d/20auto-upgrades",
          f'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "{value}";\n')


def kernels(root: Path, releases: Iterable[str]) -> None:
    for rel in releases:
        write(root, f"/boot/vmlinuz-{rel}", b"\x7fkernel")
        write(root, f"/boot/initrd.img-{rel}", b"initrd")
        (root / "lib/modules" / rel).mkdir(parents=True, exist_ok=True)


# -- ClamAV --------------------------------------------------------------------------------------------------


def cvd(built: datetime, version: int, sigs: int = 2_061_000, *, with_stime: bool = True) -> bytes:
    """A CVD as sigtool writes it: a 512-byte space-padded header, then a gzip'd tar of the database."""
    local = built.astimezone(UTC)
    text_time = local.strftime("%d %b %Y %H-%M +0000")
    stime = str(int(built.timestamp())) if with_stime else ""
    header = (f"ClamAV-VDB:{text_time}:{version}:{sigs}:90:5f4dcc3b5aa765d61d8327deb882cf99:"
              f"Zm9vYmFyYmF6cXV4ZG9nY2F0:tenken-test:{stime}").encode("ascii")
    assert len(header) < 512
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        payload = b"Eicar-Test-Signature:0:*:58354f2150254041505b345c505a58353428505e2937434329377d\n"
        info = tarfile.TarInfo("daily.ndb")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return header.ljust(512, b" ") + buf.getvalue()


def clamav(root: Path, *, daily: datetime | None, main: datetime | None = None, daemon: bool = True,
           daily_name: str = "daily.cvd", daily_bytes: bytes | None = None) -> None:
    pkgs = [("clamav", "1.0.5+dfsg-1~deb12u1"), ("clamav-freshclam", "1.0.5+dfsg-1~deb12u1")]
    if daemon:
        pkgs.append(("clamav-daemon", "1.0.5+dfsg-1~deb12u1"))
        write(root, "/usr/sbin/clamd", b"\x7fELF")
    write(root, "/usr/bin/clamscan", b"\x7fELF")
    write(root, "/var/lib/dpkg/status", dpkg_status(pkgs))
    write(root, "/etc/clamav/freshclam.conf", "DatabaseOwner clamav\nDatabaseDirectory /var/lib/clamav\nChecks 24\n"
                                              "DatabaseMirror database.clamav.net\n")
    if daily is not None:
        write(root, f"/var/lib/clamav/{daily_name}", daily_bytes if daily_bytes is not None else cvd(daily, 27100))
    if main is not None:
        write(root, "/var/lib/clamav/main.cvd", cvd(main, 62))


# -- scanning ------------------------------------------------------------------------------------------------


def scan(root: Path, *args: str) -> dict[str, Any]:
    res = run_tenken("scan", "local", "--root", str(root), "-f", "json", *args)
    assert res.exit_code in (0, 1), res.stderr
    return res.json()


def mine(report: dict[str, Any], prefix: str) -> list[tuple[str, str, str | None, list[str]]]:
    """(check_id, status, subject, clauses) of the findings whose check id starts with `prefix`, sorted."""
    return sorted((f["check_id"], f["status"], f["subject"], f["clauses"]) for f in report["findings"]
                  if f["check_id"].startswith(prefix))


def detail(report: dict[str, Any], check_id: str, subject: str | None = None, lang: str = "en") -> str:
    return next(f["detail"][lang] for f in report["findings"] if f["check_id"] == check_id and f["subject"] == subject)
