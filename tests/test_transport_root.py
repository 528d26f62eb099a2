"""The offline root transport: reads stay inside the image, commands are marked not collected."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tenken.collectors.evidence import Reason
from tenken.collectors.probe import Probe
from tenken.collectors.transport.base import FileMissing, NotRegularFile, Unsupported
from tenken.collectors.transport.root import RootTransport


def test_absolute_symlink_resolves_inside_the_image(tmp_path: Path) -> None:
    img = tmp_path / "img"
    (img / "etc").mkdir(parents=True)
    (img / "usr/lib").mkdir(parents=True)
    (img / "usr/lib/os-release").write_text("ID=debian\n")
    os.symlink("/usr/lib/os-release", img / "etc/os-release")  # absolute link, as in real images
    os.symlink("/etc/hostname-of-scanner", img / "etc/escape")
    t = RootTransport(img)
    assert t.read_file("/etc/os-release") == b"ID=debian\n"
    with pytest.raises(FileMissing):
        t.read_file("/etc/escape")  # points at /etc/... of the image, which does not exist: never the host's


def test_dotdot_cannot_escape_the_root(tmp_path: Path) -> None:
    img = tmp_path / "img"
    (img / "etc").mkdir(parents=True)
    (tmp_path / "secret").write_text("host file")
    t = RootTransport(img)
    with pytest.raises(FileMissing):
        t.read_file("/../secret")
    with pytest.raises(FileMissing):
        t.read_file("/etc/../../secret")


def test_relative_symlink_loop_is_reported(tmp_path: Path) -> None:
    img = tmp_path / "img"
    img.mkdir()
    os.symlink("b", img / "a")
    os.symlink("a", img / "b")
    with pytest.raises(FileMissing):
        RootTransport(img).read_file("/a")


def test_commands_are_offline_facts(tmp_path: Path) -> None:
    t = RootTransport(tmp_path)
    with pytest.raises(Unsupported):
        t.run(["uname", "-r"])
    p = Probe(t)
    assert p.command(["uname", "-r"], fact="kernel") is None
    assert p.unavailable["kernel"].reason is Reason.OFFLINE
    assert p.file("/etc/missing", fact="x") is None
    assert p.unavailable["x"].reason is Reason.ABSENT


def test_every_excerpt_is_scrubbed_including_url_passwords_and_group_hashes(tmp_path: Path) -> None:
    """Whatever path a collector takes to keep text (file, command, or a hand-made excerpt), secrets go."""
    (tmp_path / "etc/apt/apt.conf.d").mkdir(parents=True)
    (tmp_path / "etc/apt/apt.conf.d/90proxy").write_text('Acquire::http::Proxy "http://alice:S3cretPw@proxy.local:3128/";\n')
    p = Probe(RootTransport(tmp_path))
    p.file("/etc/apt/apt.conf.d/90proxy")
    p.excerpt("hand-made", "dsn=postgresql://hub:Pw0rdXyz@db/hub\npassword = hunter2hunter2\n")
    assert "S3cretPw" not in p.raw and "Pw0rdXyz" not in p.raw and "hunter2hunter2" not in p.raw
    assert "alice:<redacted>@proxy.local" in p.raw

    from tenken.collectors.linux.accounts import collect_accounts

    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/bash\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nadmins:$6$salt$GroupHashValueXYZ:1001:alice\n")
    p2 = Probe(RootTransport(tmp_path))
    collect_accounts(p2)
    assert "GroupHashValueXYZ" not in p2.raw


def test_fifo_socket_and_device_in_an_image_are_errors_not_hangs(tmp_path: Path) -> None:
    """A hostile image with a FIFO where /etc/passwd belongs (open() would block forever), a socket and a
    device node: each read is refused at once as not a regular file, and the scan reports `error`."""
    import json
    import socket
    import subprocess
    import sys

    root = tmp_path / "img"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    os.mkfifo(root / "etc/passwd")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "etc/shadow"))
    (root / "etc/group").symlink_to("/dev/zero")  # resolved inside the image: absent there
    t = RootTransport(str(root))
    for path in ("/etc/passwd", "/etc/shadow"):
        with pytest.raises(NotRegularFile, match="not a regular file"):
            t.read_file(path)
        with pytest.raises(NotRegularFile):
            t.read_chunks(path)
    with pytest.raises(FileMissing):  # a link to /dev/zero resolves inside the image, where there is none
        t.read_file("/etc/group")
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "tenken", "scan", "local", "--root", str(root), "-f", "json", "-o", str(out)],
                          timeout=120, capture_output=True, text=True)
    assert proc.returncode in (1, 3), proc.stderr
    inv = [f for f in json.loads(out.read_text())["findings"] if f["check_id"] == "linux.accounts.inventory"]
    assert inv and all(f["status"] == "error" and "/etc/passwd" in f["detail"]["en"] and "FIFO" in f["detail"]["en"] for f in inv)
    sock.close()


def test_fifo_on_the_live_host_is_refused_without_blocking(tmp_path: Path) -> None:
    """The live transport too: a FIFO planted in a user's home (read by a root scan) never blocks it."""
    from tenken.collectors.transport.local import LocalTransport

    os.mkfifo(tmp_path / "authorized_keys")
    t = LocalTransport()
    with pytest.raises(NotRegularFile, match="is a FIFO"):
        t.read_file(str(tmp_path / "authorized_keys"))
    with pytest.raises(NotRegularFile):
        t.read_chunks(str(tmp_path / "authorized_keys"))
    (tmp_path / "ok").write_bytes(b"x" * 3000)
    assert b"".join(t.read_chunks(str(tmp_path / "ok"), chunk=1000)) == b"x" * 3000
    assert t.read_file("/proc/self/status").startswith(b"Name:")  # procfs files are regular (size 0)
