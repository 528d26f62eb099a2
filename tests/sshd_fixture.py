"""Real OpenSSH servers on 127.0.0.1 for tests and benchmarks (reusable: import this module).

`start_sshd(workdir)` runs `sshd -D -e -f CONFIG` on a free high port with a freshly generated host key
and an authorized_keys directory of its own (`AuthorizedKeysFile DIR/%u`), so nothing under ~/.ssh or
/etc/ssh is touched. Users:

- root                 key login (PermitRootLogin prohibit-password)
- tenkentest (TEST_USER)      created if missing, unlocked for key auth, passwordless sudo via /etc/sudoers.d
- tenkennosudo (NOSUDO_USER)  created if missing, no sudo at all

Must run as root (sshd needs it to switch users). Starting one server takes well under a second.

pytest fixtures: `ssh_client_key` (session), `sshd` (module: one server), `sshd_factory` (start more;
all stopped at teardown).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
TEST_USER = "tenkentest"
NOSUDO_USER = "tenkennosudo"
SUDOERS_FILE = Path("/etc/sudoers.d/tenken-test")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path, key_type: str = "ed25519", passphrase: str = "", comment: str = "tenken-test") -> Path:
    """A new key pair at `path` (+ .pub); replaces any existing one."""
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)
    args = ["ssh-keygen", "-q", "-t", key_type, "-N", passphrase, "-C", comment, "-f", str(path)]
    if key_type == "rsa":
        args[3:3] = ["-b", "2048"]
    subprocess.run(args, check=True, stdin=subprocess.DEVNULL)
    return path


def public_line(key: Path) -> str:
    return key.with_name(key.name + ".pub").read_text().strip()


def ensure_users(*, sudo: bool = True) -> None:
    """Create the two test users if missing, unlocked for key login ('*': no password can ever match)."""
    for user in (TEST_USER, NOSUDO_USER):
        if subprocess.run(["id", "-u", user], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-m", "-s", "/bin/sh", user], check=True, capture_output=True)
        subprocess.run(["usermod", "-p", "*", user], check=True, capture_output=True)
    if sudo and not SUDOERS_FILE.exists():
        tmp = SUDOERS_FILE.with_name(".tenken-test.tmp")
        tmp.write_text(f"# tenken test fixture (tests/sshd_fixture.py)\n{TEST_USER} ALL=(ALL) NOPASSWD: ALL\n")
        tmp.chmod(0o440)
        subprocess.run(["visudo", "-c", "-q", "-f", str(tmp)], check=True)
        tmp.replace(SUDOERS_FILE)


@dataclass
class SshServer:
    workdir: Path
    port: int
    host_key: Path
    client_key: Path
    config: Path
    proc: subprocess.Popen[bytes] | None = None
    auth_dir: Path | None = None
    host: str = "127.0.0.1"
    users: tuple[str, ...] = field(default=("root", TEST_USER, NOSUDO_USER))
    #: run sshd through this (e.g. `unshare -m ... exec "$@"`: a host that sees other files at system paths)
    prefix: tuple[str, ...] = ()

    @property
    def known_hosts(self) -> Path:
        """A known_hosts file holding exactly this server's current key (`[127.0.0.1]:port` form)."""
        path = self.workdir / "known_hosts"
        path.write_text(self.known_hosts_line() + "\n")
        return path

    def known_hosts_line(self) -> str:
        kt, blob = public_line(self.host_key).split()[:2]
        return f"[{self.host}]:{self.port} {kt} {blob}"

    def dest(self, user: str = "root") -> str:
        return f"{user}@{self.host}:{self.port}"

    def start(self) -> SshServer:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log = (self.workdir / "sshd.log").open("ab")
        self.proc = subprocess.Popen(
            [*self.prefix, SSHD, "-D", "-e", "-f", str(self.config)], stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.workdir / 'sshd.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.5):
                return self
            time.sleep(0.02)
        raise RuntimeError("sshd did not start listening within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self) -> None:
        """Stop the server and remove its authorized_keys directory."""
        self.stop()
        if self.auth_dir is not None:
            shutil.rmtree(self.auth_dir, ignore_errors=True)

    def new_host_key(self) -> None:
        """Replace the host key and restart on the same port (what a reinstall, or a MITM, looks like)."""
        self.stop()
        keygen(self.host_key, "ed25519", comment="replaced")
        self.start()


def start_sshd(
    workdir: Path,
    *,
    client_key: Path | None = None,
    host_key_type: str = "ed25519",
    port: int | None = None,
    extra_config: str = "",
    sudo_user: bool = True,
    prefix: tuple[str, ...] = (),
) -> SshServer:
    """Start one sshd in `workdir` (created). `client_key` is authorized for every test user."""
    if os.geteuid() != 0:
        raise RuntimeError("sshd_fixture needs root (sshd must switch to the test users)")
    ensure_users(sudo=sudo_user)
    workdir.mkdir(parents=True, exist_ok=True)
    if client_key is None:
        client_key = workdir / "client_key"
        if not client_key.exists():
            keygen(client_key)
    host_key = workdir / f"ssh_host_{host_key_type}_key"
    if not host_key.exists():
        keygen(host_key, host_key_type, comment="host")
    # sshd reads a user's authorized_keys *as that user*: pytest's tmp dirs (0700 root) are not
    # traversable by the test users, so the public keys live in a world-readable directory of their own
    auth = Path(tempfile.mkdtemp(prefix="tenken-sshd-keys-"))
    auth.chmod(0o755)
    users = ("root", TEST_USER, NOSUDO_USER)
    for user in users:
        (auth / user).write_text(public_line(client_key) + "\n")
        (auth / user).chmod(0o644)
    port = port or free_port()
    config = workdir / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {workdir}/sshd.pid",
                f"AuthorizedKeysFile {auth}/%u",
                "StrictModes no",
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                f"AllowUsers {' '.join(users)}",
                "LogLevel ERROR",
                "MaxStartups 200:30:400",
                "MaxSessions 64",
                "UseDNS no",
                "PrintMotd no",
                "PrintLastLog no",
                extra_config,
                "",
            ]
        )
    )
    return SshServer(workdir, port, host_key, client_key, config, auth_dir=auth, prefix=prefix).start()


# -- pytest fixtures -----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ssh_client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return keygen(tmp_path_factory.mktemp("sshkey") / "id_ed25519")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory, ssh_client_key: Path) -> Iterator[SshServer]:
    if os.geteuid() != 0 or not Path(SSHD).exists():
        pytest.skip("needs root and OpenSSH sshd")
    server = start_sshd(tmp_path_factory.mktemp("sshd"), client_key=ssh_client_key)
    yield server
    server.close()


@pytest.fixture
def sshd_factory(tmp_path_factory: pytest.TempPathFactory, ssh_client_key: Path) -> Iterator:
    if os.geteuid() != 0 or not Path(SSHD).exists():
        pytest.skip("needs root and OpenSSH sshd")
    started: list[SshServer] = []

    def make(**kw: object) -> SshServer:
        kw.setdefault("client_key", ssh_client_key)
        s = start_sshd(tmp_path_factory.mktemp("sshd"), **kw)  # type: ignore[arg-type]
        started.append(s)
        return s

    yield make
    for s in started:
        s.close()
