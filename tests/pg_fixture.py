"""A real, throw-away PostgreSQL server for tests: initdb into a temp dir, pg_ctl start on 127.0.0.1.

Runs the server as the `postgres` system user when the tests run as root (PostgreSQL refuses to run as
root), otherwise as the current user. Skips, with the reason, only when the server binaries are absent.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def find_pg_bin() -> Path | None:
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"):  # Debian/Ubuntu, RHEL (PGDG)
        cands = sorted(glob.glob(pattern), key=lambda p: [int(x) for x in "".join(c if c.isdigit() else " " for c in p).split()])
        for c in reversed(cands):
            if (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
                return Path(c)
    which = shutil.which("pg_ctl")
    return Path(which).parent if which and (Path(which).parent / "initdb").exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    bindir: Path
    datadir: Path
    sockdir: Path
    port: int
    user: str
    _prefix: list[str]

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([*self._prefix, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"], capture_output=True, timeout=60)


def start_postgres() -> PgServer:
    bindir = find_pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    if not stat.S_ISCHR(os.stat("/dev/null").st_mode):
        # initdb's shell steps write to /dev/null; a regular file there (left by an atomic rename onto
        # /dev/null run as root) makes them fail with a baffling "Permission denied".
        pytest.fail("/dev/null is not a character device (something replaced it); restore it: rm /dev/null && mknod -m 666 /dev/null c 1 3")
    root = Path(tempfile.mkdtemp(prefix="tenken-pg-"))
    datadir, sockdir = root / "data", root / "sock"
    sockdir.mkdir()
    prefix: list[str] = []
    user = pwd.getpwuid(os.getuid()).pw_name
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server as")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        os.chown(sockdir, pw.pw_uid, pw.pw_gid)
        os.chmod(root, 0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
        user = "postgres"
    port = free_port()
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"],
        check=True, capture_output=True, timeout=120,
    )
    opts = f"-k {sockdir} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    proc = subprocess.run(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(root / "server.log"), "-o", opts, "-w", "-t", "60", "start"],
        capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0:
        log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {proc.stderr}\n{log}")
    return PgServer(bindir=bindir, datadir=datadir, sockdir=sockdir, port=port, user=user, _prefix=prefix)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.datadir.parent, ignore_errors=True)
