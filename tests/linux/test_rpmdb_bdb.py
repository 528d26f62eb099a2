"""The Berkeley DB rpm database reader (collectors/linux/rpmdb_bdb.py) against real rpm's bdb_ro reader.

The databases are written by real libdb (`db5.3_load`, Debian's db5.3-util) from the header blobs of a real
rpm database (rpmbuild packages installed with `rpm --justdb`, tests/linux/rpm_fixture.py), in the layout rpm
uses (key: the 4-byte instance number, value: the header; key 0: the highest instance); real rpm (`--define
'_db_backend bdb_ro'`) then lists them, and tenken must list the same. Small page sizes force the bucket
chains and overflow pages real RHEL 7/8 databases have (their headers are tens of KB).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rpm_fixture import Pkg, _env, build_root
from tenken.collectors.linux.rpm_files import collect_rpm_files, installed_packages
from tenken.collectors.linux.rpmdb import RpmdbError
from tenken.collectors.linux.rpmdb_bdb import read_rpmdb_bdb
from tenken.collectors.probe import Probe
from tenken.collectors.transport.root import RootTransport

DB_LOAD = shutil.which("db5.3_load") or shutil.which("db_load")
pytestmark = pytest.mark.skipif(not (DB_LOAD and shutil.which("rpm") and shutil.which("rpmbuild")),
                                reason="needs db5.3-util, rpm and rpmbuild (tests/run-all.sh installs them)")
X = "x86_64"


def blobs_of(root: Path) -> dict[int, bytes]:
    con = sqlite3.connect(f"file:{root}/var/lib/rpm/rpmdb.sqlite?mode=ro", uri=True)
    try:
        return {h: bytes(b) for h, b in con.execute("SELECT hnum, blob FROM Packages")}
    finally:
        con.close()


def write_bdb(blobs: dict[int, bytes], directory: Path, *, big_endian: bool = False, pagesize: int = 4096) -> Path:
    """`directory`/Packages written by libdb, as rpm's bdb backend lays it out."""
    order = ">" if big_endian else "<"
    directory.mkdir(parents=True, exist_ok=True)
    dump = directory / "dump.txt"
    with dump.open("w", encoding="ascii") as f:
        f.write("VERSION=3\nformat=bytevalue\ntype=hash\nHEADER=END\n")
        f.write(f" {struct.pack(order + 'I', 0).hex()}\n {struct.pack(order + 'I', max(blobs)).hex()}\n")
        for instance, blob in blobs.items():
            f.write(f" {struct.pack(order + 'I', instance).hex()}\n {blob.hex()}\n")
        f.write("DATA=END\n")
    out = directory / "Packages"
    out.unlink(missing_ok=True)
    subprocess.run([DB_LOAD, "-c", f"db_lorder={4321 if big_endian else 1234}", "-c", f"db_pagesize={pagesize}",
                    "-f", str(dump), str(out)], check=True, capture_output=True)
    dump.unlink()
    return out


def rpm_bdb_qa(directory: Path) -> list[tuple[str, int, str, str, str]]:
    res = subprocess.run(["rpm", "--dbpath", str(directory), "--define", "_db_backend bdb_ro", "-qa", "--qf",
                          r"%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n"],
                         capture_output=True, text=True, env=_env(), check=True)
    return sorted((n, int(e), v, r, a) for n, e, v, r, a in (line.split("\t") for line in res.stdout.splitlines())
                  if n != "gpg-pubkey")


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pkgs = [Pkg(f"pkg{i:03d}", f"1.{i}", f"{i % 7}.el8", epoch=i % 3, arch=X if i % 2 else "noarch") for i in range(120)]
    return build_root(tmp_path_factory.mktemp("bdb") / "root", installed=pkgs, repos=[], cache=False)


@pytest.mark.parametrize(("big_endian", "pagesize"), [(False, 4096), (False, 512), (True, 512), (True, 8192)])
def test_reads_what_rpm_reads(many: Path, tmp_path: Path, big_endian: bool, pagesize: int) -> None:
    db = write_bdb(blobs_of(many), tmp_path / "db", big_endian=big_endian, pagesize=pagesize)
    want = rpm_bdb_qa(db.parent)
    assert len(want) == 120
    got = read_rpmdb_bdb(db.read_bytes(), path=str(db))
    assert sorted(tuple(r) for r in got) == want
    if pagesize == 512:  # every header is bigger than a page here: all of them came from overflow chains
        assert min(len(b) for b in blobs_of(many).values()) > 512


def test_an_offline_rhel8_image_gives_its_pending_updates(tmp_path: Path) -> None:
    """An image whose rpm database is Berkeley DB (RHEL 8): the same pending list as with the sqlite one."""
    from rpm_fixture import Repo

    root = build_root(tmp_path / "root", installed=[Pkg("bash", "4.4.20", "4.el8", arch=X), Pkg("tzdata", "2024a", "1.el8")],
                      repos=[Repo("baseos", (Pkg("bash", "4.4.20", "5.el8_10", arch=X), Pkg("tzdata", "2024b", "1.el8")))])
    with_sqlite = collect_rpm_files(Probe(RootTransport(root)))
    assert with_sqlite.computation is not None, with_sqlite.fallback
    write_bdb(blobs_of(root), root / "var/lib/rpm")
    (root / "var/lib/rpm/rpmdb.sqlite").unlink()
    got = collect_rpm_files(Probe(RootTransport(root)))
    assert got.computation is not None, got.fallback
    assert got.computation.upgrades == with_sqlite.computation.upgrades and len(got.computation.upgrades) == 2


def test_damaged_databases_raise_and_name_the_file(many: Path, tmp_path: Path) -> None:
    db = write_bdb(blobs_of(many), tmp_path / "db", pagesize=512)
    data = db.read_bytes()
    for damaged in (data[: len(data) // 2], data[:300], b"\x00" * 4096,
                    data[:4096] + bytes(x ^ 0x5A for x in data[4096:8192]) + data[8192:]):
        with pytest.raises(RpmdbError, match=re.escape(str(db))):
            read_rpmdb_bdb(damaged, path=str(db))
    (tmp_path / "img/var/lib/rpm").mkdir(parents=True)
    (tmp_path / "img/var/lib/rpm/Packages").write_bytes(data[: len(data) // 2])
    why = installed_packages(Probe(RootTransport(tmp_path / "img")))
    assert isinstance(why, str) and "truncated" in why


def test_an_overflow_chain_that_loops_is_refused(many: Path, tmp_path: Path) -> None:
    db = write_bdb(blobs_of(many), tmp_path / "db", pagesize=512)
    data = bytearray(db.read_bytes())
    for n in range(1, len(data) // 512):  # point the first overflow page's "next" at itself
        page = data[n * 512:(n + 1) * 512]
        if page[25] == 7 and struct.unpack_from("<I", page, 16)[0]:
            struct.pack_into("<I", data, n * 512 + 16, n)
            break
    with pytest.raises(RpmdbError, match=r"loops|damaged"):
        read_rpmdb_bdb(bytes(data), path="Packages")


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory, many: Path) -> bytes:
    return write_bdb(dict(list(blobs_of(many).items())[:20]), tmp_path_factory.mktemp("small"), pagesize=512).read_bytes()


@given(st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=12))
@settings(max_examples=200, deadline=None)
def test_any_corruption_is_an_error_or_a_list(small_db: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(small_db)
    for at, value in flips:
        data[at % len(data)] = value
    with contextlib.suppress(RpmdbError):
        assert isinstance(read_rpmdb_bdb(bytes(data)), list)


def test_real_rpm_agrees_on_the_image_layout(many: Path, tmp_path: Path) -> None:
    """/var/lib/rpm/Packages of an image, read through the transport as a --root scan does."""
    img = tmp_path / "img"
    write_bdb(blobs_of(many), img / "var/lib/rpm")
    got = installed_packages(Probe(RootTransport(img)))
    assert not isinstance(got, str), got
    assert sorted((n.name, n.epoch, n.version, n.release, n.arch) for n in got) == rpm_bdb_qa(img / "var/lib/rpm")
