"""LocalTransport's privilege path: a root-only fact on a host without sudo is "needs root", never "not installed"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tenken.collectors.transport import local
from tenken.collectors.transport.base import AccessDenied, CommandNotFound


def _unprivileged(monkeypatch: pytest.MonkeyPatch, *, sudo: bool) -> local.LocalTransport:
    t = local.LocalTransport()
    t._is_root = False  # what the transport believes of itself; the test process may well be root
    real_which = local.shutil.which
    monkeypatch.setattr(local.shutil, "which", lambda name, *a, **k: None if name == "sudo" and not sudo else real_which(name, *a, **k))
    return t


def test_privileged_command_without_sudo_is_access_denied(monkeypatch: pytest.MonkeyPatch) -> None:
    t = _unprivileged(monkeypatch, sudo=False)
    with pytest.raises(AccessDenied, match="needs root, and sudo is not installed"):
        t.run(["true"], privileged=True)
    # an unprivileged command is unaffected, and a missing tool is still "not found"
    assert t.run(["true"]).ok
    with pytest.raises(CommandNotFound):
        t.run(["tenken-no-such-tool"])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody in a child")
def test_unreadable_file_without_sudo_is_access_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:!:19000::::::\n")
    secret.chmod(0o000)
    t = _unprivileged(monkeypatch, sudo=False)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                t.read_file(str(secret), privileged=True)
                code = 2
            except AccessDenied as exc:
                os.write(w, str(exc).encode())
                code = 0
        finally:
            os._exit(code)
    os.close(w)
    msg = os.read(r, 4096).decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and "needs root" in msg
