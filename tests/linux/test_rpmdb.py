"""rpmdb.sqlite read without rpm: real databases written by Debian's rpm compared with `rpm -qa`, a recent
install still sitting in the -wal file, and damaged or hostile files and headers that only ever give
RpmdbError (hypothesis for the random ones)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tenken.collectors.linux import rpmdb
from tenken.collectors.linux.rpmdb import (
    MAX_INDEX_ENTRIES,
    RPMDB_BDB_PATHS,
    RPMDB_PATHS,
    InstalledRpm,
    RpmdbError,
    parse_header,
    read_rpmdb_sqlite,
    rpmdb_format,
    unsupported_reason,
)

pytestmark = pytest.mark.skipif(not (shutil.which("rpm") and shutil.which("rpmbuild")),
                                reason="needs Debian's rpm package (rpm, rpmbuild) to build real databases")

DBPATH = "/var/lib/rpm"
QF = "%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n"

# name, epoch (None: no Epoch: line), version, release, arch
PACKAGES = [
    ("tk-alpha", 2, "1.2.3", "4.el9", "noarch"),
    ("tk-beta", None, "0.9", "1.el9", "x86_64"),
    ("tk-gamma", 0, "10.0.1~rc1", "3.fc40", "x86_64"),
    ("tk-delta", 4294967295, "7", "1", "noarch"),  # epoch is unsigned 32-bit in rpm
]
LATE = ("tk-late", 1, "2.0", "5.el9", "x86_64")  # installed after the others: the WAL case


def _spec(name: str, epoch: int | None, version: str, release: str, arch: str) -> str:
    lines = [f"Name: {name}", f"Version: {version}", f"Release: {release}", "Summary: tenken rpmdb test package",
             "License: MIT", f"BuildArch: {arch}"]
    if epoch is not None:
        lines.append(f"Epoch: {epoch}")
    lines += ["%description", "test package", "%install", "mkdir -p %{buildroot}/usr/share/tk",
              f"echo {name} > %{{buildroot}}/usr/share/tk/{name}", "%files", f"/usr/share/tk/{name}", ""]
    return "\n".join(lines)


def _rpm(root: Path, *args: str, dbpath: str = DBPATH) -> str:
    env = {**os.environ, "HOME": str(root.parent)}
    res = subprocess.run(["rpm", "--root", str(root), "--dbpath", dbpath, *args], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _build(work: Path, pkgs: list[tuple]) -> list[Path]:
    top = work / "top"
    out = []
    for p in pkgs:
        spec = work / f"{p[0]}.spec"
        spec.write_text(_spec(*p))
        res = subprocess.run(["rpmbuild", "--define", f"_topdir {top}", "--target", p[4], "-bb", str(spec)],
                             capture_output=True, text=True, env={**os.environ, "HOME": str(work)}, timeout=120, check=False)
        assert res.returncode == 0, res.stderr
        out += sorted((top / "RPMS" / p[4]).glob(f"{p[0]}-*.rpm"))
    return out


def _install(root: Path, rpms: list[Path], dbpath: str = DBPATH) -> None:
    _rpm(root, "-i", "--justdb", "--nodeps", "--noscripts", "--ignorearch", "--ignoreos", *map(str, rpms), dbpath=dbpath)


def _import_pubkey(work: Path, root: Path, dbpath: str = DBPATH) -> bool:
    """A gpg-pubkey pseudo-package in the database (the real thing rpm --import writes), when gpg is here."""
    if not shutil.which("gpg"):
        return False
    home = work / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    gen = subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
                          "tenken test <t@example.invalid>", "ed25519", "sign", "never"],
                         capture_output=True, env=env, timeout=60, check=False)
    if gen.returncode != 0:
        return False
    key = work / "key.asc"
    key.write_bytes(subprocess.run(["gpg", "--armor", "--export"], capture_output=True, env=env, timeout=60, check=True).stdout)
    _rpm(root, "--import", str(key), dbpath=dbpath)
    return True


def _rpm_qa(root: Path, dbpath: str = DBPATH) -> list[InstalledRpm]:
    out = []
    for line in _rpm(root, "-qa", "--qf", QF, dbpath=dbpath).splitlines():
        name, epoch, version, release, arch = line.split("\t")
        if name == "gpg-pubkey":
            assert arch == "(none)"  # the pseudo-package has no ARCH: that is what parse_header skips on
            continue
        out.append(InstalledRpm(name, int(epoch), version, release, arch))
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("rpmdb")
    rpms = _build(work, [*PACKAGES, LATE])
    root = work / "root"
    root.mkdir()
    _install(root, rpms[:-1])
    has_key = _import_pubkey(work, root)
    return {"work": work, "root": root, "late": rpms[-1], "has_key": has_key}


def _db(root: Path, dbpath: str = DBPATH) -> bytes:
    return (root / dbpath.lstrip("/") / "rpmdb.sqlite").read_bytes()


def _expected(pkgs: list[tuple]) -> list[InstalledRpm]:
    return [InstalledRpm(n, e or 0, v, r, a) for n, e, v, r, a in pkgs]


def test_real_database_matches_rpm_qa(built: dict) -> None:
    root = built["root"]
    db = _db(root)
    assert db[18:20] == b"\x02\x02", "rpm writes its sqlite database in WAL mode"
    got = read_rpmdb_sqlite(db)
    assert sorted(got) == sorted(_rpm_qa(root)) == sorted(_expected(PACKAGES))
    assert got == _rpm_qa(root), "same order as rpm -qa (hnum)"
    if built["has_key"]:
        with sqlite3.connect(root / DBPATH.lstrip("/") / "rpmdb.sqlite") as con:
            assert con.execute("SELECT count(*) FROM Packages").fetchone()[0] == len(PACKAGES) + 1, "the gpg-pubkey row is there, and skipped"
    # an empty -wal file (what rpm leaves after a clean close) is the same as none
    assert read_rpmdb_sqlite(db, b"") == got


def test_database_under_usr_lib_sysimage(built: dict, tmp_path: Path) -> None:
    """RHEL 9 / Fedora keep it under /usr/lib/sysimage/rpm (with /var/lib/rpm a symlink, or the other way round)."""
    assert set(RPMDB_PATHS) == {"/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite"}
    root = tmp_path / "root"
    (root / "var/lib").mkdir(parents=True)
    (root / "usr/lib/sysimage/rpm").mkdir(parents=True)
    (root / "var/lib/rpm").symlink_to("../../usr/lib/sysimage/rpm")
    _install(root, _build(tmp_path, PACKAGES[:2]), dbpath="/usr/lib/sysimage/rpm")
    for path in RPMDB_PATHS:
        assert read_rpmdb_sqlite((root / path.lstrip("/")).read_bytes(), path=path) == _rpm_qa(root, "/usr/lib/sysimage/rpm")


def test_committed_transaction_still_in_the_wal_is_read(built: dict, tmp_path: Path) -> None:
    """A recent install can sit only in rpmdb.sqlite-wal: copy db + wal while the writer holds them open."""
    root = built["root"]
    # the LATE package's real header, as rpm writes it, from a second database
    other = tmp_path / "other"
    other.mkdir()
    _install(other, [built["late"]])
    with sqlite3.connect(other / DBPATH.lstrip("/") / "rpmdb.sqlite") as con:
        (late_blob,) = con.execute("SELECT blob FROM Packages").fetchone()
    live = tmp_path / "live"
    shutil.copytree(root / DBPATH.lstrip("/"), live)
    con = sqlite3.connect(live / "rpmdb.sqlite")
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA wal_autocheckpoint=0")
        con.execute("INSERT INTO Packages (blob) VALUES (?)", (late_blob,))
        con.commit()
        con.execute("BEGIN")  # and an uncommitted one after it, which must not be seen
        con.execute("INSERT INTO Packages (blob) VALUES (?)", (late_blob,))
        db, wal = (live / "rpmdb.sqlite").read_bytes(), (live / "rpmdb.sqlite-wal").read_bytes()
        con.rollback()
    finally:
        con.close()
    assert len(wal) > 0
    before = read_rpmdb_sqlite(db)
    assert sorted(before) == sorted(_expected(PACKAGES)), "without the WAL the late install is not seen"
    got = read_rpmdb_sqlite(db, wal)
    assert sorted(got) == sorted(_expected([*PACKAGES, LATE]))
    # rpm itself, reading the same two files, agrees
    snap = tmp_path / "snap"
    (snap / DBPATH.lstrip("/")).mkdir(parents=True)
    (snap / DBPATH.lstrip("/") / "rpmdb.sqlite").write_bytes(db)
    (snap / DBPATH.lstrip("/") / "rpmdb.sqlite-wal").write_bytes(wal)
    assert sorted(got) == sorted(_rpm_qa(snap))


def test_private_copy_is_removed(built: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    read_rpmdb_sqlite(_db(built["root"]), os.urandom(5000))
    with pytest.raises(RpmdbError):
        read_rpmdb_sqlite(_db(built["root"])[:8192])
    assert list(tmp_path.iterdir()) == []


def test_wal_that_is_garbage_is_ignored_like_sqlite_does(built: dict) -> None:
    """sqlite checks the WAL's salts and checksums: random bytes are not transactions."""
    db = _db(built["root"])
    assert sorted(read_rpmdb_sqlite(db, os.urandom(70_000))) == sorted(_expected(PACKAGES))


# --- the formats refused by name -------------------------------------------------------------------------

def _bdb_meta(magic: int, order: str = "<") -> bytes:
    page = bytearray(4096)
    struct.pack_into(order + "I", page, 12, magic)
    struct.pack_into(order + "I", page, 16, 9)  # version
    return bytes(page)


@pytest.mark.parametrize(("head", "kind"), [(_bdb_meta(0x061561), "bdb"), (_bdb_meta(0x061561, ">"), "bdb"),
                                             (_bdb_meta(0x053162), "bdb"), (b"RpmP" + bytes(60), "ndb"),
                                             (b"SQLite format 3\x00" + bytes(84), "sqlite"), (b"hello", "unknown")])
def test_format_is_recognised(head: bytes, kind: str) -> None:
    assert rpmdb_format(head) == kind


def test_berkeley_db_is_refused_with_a_reason() -> None:
    path = RPMDB_BDB_PATHS[0]
    assert path == "/var/lib/rpm/Packages"
    reason = unsupported_reason(path, _bdb_meta(0x061561))
    assert reason is not None and path in reason and "Berkeley DB" in reason and "RHEL/CentOS 8" in reason
    with pytest.raises(RpmdbError, match="Berkeley DB"):
        read_rpmdb_sqlite(_bdb_meta(0x061561), path=path)
    assert unsupported_reason("/x", b"SQLite format 3\x00") is None


# --- damaged and hostile files ---------------------------------------------------------------------------

def _tamper_sqlite(tmp_path: Path, sql: str, name: str = "t") -> bytes:
    p = tmp_path / f"{name}.sqlite"
    with sqlite3.connect(p) as con:
        con.executescript(sql)
    con.close()
    return p.read_bytes()


@pytest.mark.parametrize("cut", [0, 10, 99, 100, 1024, 4096, 4097, -4096, -1])
def test_truncated_database(built: dict, cut: int) -> None:
    db = _db(built["root"])
    short = db[:cut] if cut >= 0 else db[:len(db) + cut]
    with pytest.raises(RpmdbError, match=r"^/var/lib/rpm/rpmdb\.sqlite: .*(truncated|not an rpm database)"):
        read_rpmdb_sqlite(short, path="/var/lib/rpm/rpmdb.sqlite")


def test_truncated_at_a_page_sqlite_would_not_miss(built: dict) -> None:
    """Cut at a page boundary past everything sqlite reads: sqlite answers as if whole; the header's page count does not."""
    db = _db(built["root"])
    page = struct.unpack_from(">H", db, 16)[0]
    with pytest.raises(RpmdbError, match="its header says"):
        read_rpmdb_sqlite(db[:-page])
    whole = bytearray(db)
    struct.pack_into(">I", whole, 28, len(db) // page + 1)  # a header claiming one page more than the file has
    with pytest.raises(RpmdbError, match="its header says"):
        read_rpmdb_sqlite(bytes(whole))


def test_random_bytes_and_other_sqlite_files(tmp_path: Path) -> None:
    with pytest.raises(RpmdbError, match="not an rpm database"):
        read_rpmdb_sqlite(os.urandom(100_000))
    with pytest.raises(RpmdbError, match="without a Packages table"):
        read_rpmdb_sqlite(_tamper_sqlite(tmp_path, "CREATE TABLE Other(x)", "a"))
    with pytest.raises(RpmdbError, match="without a Packages table"):  # a view could run anything: not read
        read_rpmdb_sqlite(_tamper_sqlite(tmp_path, "CREATE TABLE t(hnum, blob); CREATE VIEW Packages AS SELECT * FROM t", "b"))
    with pytest.raises(RpmdbError, match="without hnum and blob"):
        read_rpmdb_sqlite(_tamper_sqlite(tmp_path, "CREATE TABLE Packages(a, b)", "c"))
    # a generated column that would build a gigabyte on read: refused before any row is read
    huge = _tamper_sqlite(tmp_path, "CREATE TABLE Packages(hnum INTEGER PRIMARY KEY, blob AS (zeroblob(900000000))); "
                          "INSERT INTO Packages (hnum) VALUES (1)", "e")
    with pytest.raises(RpmdbError, match="generated hnum or blob"):
        read_rpmdb_sqlite(huge)
    with pytest.raises(RpmdbError, match="virtual table"):
        read_rpmdb_sqlite(_tamper_sqlite(tmp_path, "CREATE VIRTUAL TABLE Packages USING fts5(hnum, blob)", "f"))
    # the length limit is there as well: a value over MAX_HEADER_BYTES is not built even where it is computed
    con = sqlite3.connect(":memory:")
    con.deserialize(_tamper_sqlite(tmp_path, "CREATE TABLE Packages(hnum INTEGER PRIMARY KEY, blob BLOB)", "g"))
    assert rpmdb._read(con, "x") == []
    with pytest.raises(sqlite3.DataError, match="too big"):
        con.execute("SELECT zeroblob(900000000)").fetchone()
    con.close()
    not_blob = _tamper_sqlite(tmp_path, "CREATE TABLE Packages(hnum INTEGER PRIMARY KEY, blob BLOB); INSERT INTO Packages VALUES (7, 'text')", "d")
    with pytest.raises(RpmdbError, match="hnum 7: blob is str"):
        read_rpmdb_sqlite(not_blob)
    long_hnum = _tamper_sqlite(tmp_path, "CREATE TABLE Packages(hnum TEXT, blob BLOB); INSERT INTO Packages VALUES (printf('%.5000c', 'Z'), x'00')", "h")
    with pytest.raises(RpmdbError, match="hnum 'ZZZ") as e:
        read_rpmdb_sqlite(long_hnum)
    assert len(str(e.value)) < 300


def test_a_header_that_lies_names_the_row_and_not_its_bytes(tmp_path: Path) -> None:
    blob = _header([(1000, 6, 0, 1), (1001, 6, 9000, 1), (1002, 6, 0, 1), (1022, 6, 0, 1)], b"SECRETMARK\0")
    p = tmp_path / "lie.sqlite"
    with sqlite3.connect(p) as con:
        con.execute("CREATE TABLE Packages(hnum INTEGER PRIMARY KEY, blob BLOB)")
        con.execute("INSERT INTO Packages VALUES (42, ?)", (blob,))
    con.close()
    db = p.read_bytes()
    with pytest.raises(RpmdbError) as e:
        read_rpmdb_sqlite(db, path="/usr/lib/sysimage/rpm/rpmdb.sqlite")
    msg = str(e.value)
    assert "/usr/lib/sysimage/rpm/rpmdb.sqlite: Packages row hnum 42" in msg and "offset 9000" in msg
    assert "SECRETMARK" not in msg and "SECRET" not in repr(e.value.args)


# --- parse_header on crafted headers ---------------------------------------------------------------------

def _header(entries: list[tuple[int, int, int, int]], data: bytes, il: int | None = None, dl: int | None = None) -> bytes:
    return (struct.pack(">ii", len(entries) if il is None else il, len(data) if dl is None else dl)
            + b"".join(struct.pack(">iiii", *e) for e in entries) + data)


def _good(epoch: bytes | None = struct.pack(">I", 3), arch: bytes | None = b"x86_64") -> bytes:
    data = b"pkg\0" + b"1.0\0" + b"2\0\0"  # NAME at 0, VERSION at 4, RELEASE at 8 (padded to 12)
    ents = [(1000, 6, 0, 1), (1001, 6, 4, 1), (1002, 6, 8, 1)]
    if epoch is not None:
        ents.append((1003, 4, len(data), 1))
        data += epoch
    if arch is not None:
        ents.append((1022, 6, len(data), 1))
        data += arch + b"\0"
    return _header(ents, data)


def test_crafted_good_headers() -> None:
    assert parse_header(_good()) == InstalledRpm("pkg", 3, "1.0", "2", "x86_64")
    assert parse_header(_good(epoch=None)) == InstalledRpm("pkg", 0, "1.0", "2", "x86_64")
    assert parse_header(_good(arch=None)) is None, "no ARCH: a gpg-pubkey-like pseudo-package"


def test_real_headers_parse(built: dict) -> None:
    with sqlite3.connect(built["root"] / DBPATH.lstrip("/") / "rpmdb.sqlite") as con:
        blobs = [b for (b,) in con.execute("SELECT blob FROM Packages ORDER BY hnum")]
    parsed = [parse_header(b) for b in blobs]
    assert [p for p in parsed if p is not None] == _rpm_qa(built["root"])
    if built["has_key"]:
        assert parsed.count(None) == 1


BAD_HEADERS = {
    "empty": b"",
    "short preamble": b"\0\0\0\1\0\0",
    "il zero": _header([], b"", il=0),
    "il negative": _header([], b"", il=-1),
    "il huge": struct.pack(">ii", MAX_INDEX_ENTRIES + 1, 0),
    "il 2**31-1": struct.pack(">ii", 2**31 - 1, 16),
    "dl negative": _header([(1000, 6, 0, 1)], b"a\0", dl=-5),
    "dl larger than blob": _header([(1000, 6, 0, 1)], b"a\0", dl=1 << 30),
    "dl smaller than blob": _header([(1000, 6, 0, 1)], b"a\0", dl=1),
    "index cut short": _header([(1000, 6, 0, 1)], b"a\0")[:20],
    "offset past data": _header([(1000, 6, 50, 1), (1001, 6, 0, 1), (1002, 6, 0, 1), (1022, 6, 0, 1)], b"a\0"),
    "offset negative": _header([(1000, 6, -4, 1)], b"a\0"),
    "count negative": _header([(1000, 4, 0, -1)], b"abcd"),
    "int32 array past data": _header([(1003, 4, 0, 2)], b"abcd"),
    "huge count": _header([(5000, 7, 0, 2**31 - 1)], b"abcd"),
    "unknown type": _header([(1000, 17, 0, 1)], b"a\0"),
    "string no NUL": _header([(1000, 6, 0, 1), (1001, 6, 0, 1), (1002, 6, 0, 1)], b"abcd"),
    "string at end of data": _header([(1000, 6, 2, 1)], b"a\0"),
    "NAME is an INT32": _header([(1000, 4, 0, 1), (1001, 6, 4, 1), (1002, 6, 4, 1)], b"abcd1\0"),
    "NAME string count 2": _header([(1000, 6, 0, 2), (1001, 6, 0, 1), (1002, 6, 0, 1)], b"a\0b\0"),
    "no NAME": _header([(1001, 6, 0, 1), (1002, 6, 0, 1)], b"a\0"),
    "empty VERSION": _header([(1000, 6, 0, 1), (1001, 6, 2, 1), (1002, 6, 0, 1)], b"a\0\0"),
    "EPOCH a string": _header([(1000, 6, 0, 1), (1001, 6, 0, 1), (1002, 6, 0, 1), (1003, 6, 0, 1), (1022, 6, 0, 1)], b"a\0"),
    "EPOCH count 0": _header([(1000, 6, 0, 1), (1001, 6, 0, 1), (1002, 6, 0, 1), (1003, 4, 0, 0), (1022, 6, 0, 1)], b"a\0"),
}


@pytest.mark.parametrize("name", list(BAD_HEADERS))
def test_malformed_header_raises_rpmdb_error(name: str) -> None:
    with pytest.raises(RpmdbError, match="rpm header: "):
        parse_header(BAD_HEADERS[name])


def test_not_bytes() -> None:
    with pytest.raises(RpmdbError, match="not a binary blob"):
        parse_header("text")  # type: ignore[arg-type]


def _parse_or_error(blob: bytes) -> None:
    try:
        res = parse_header(blob)
    except RpmdbError as e:
        assert "rpm header:" in str(e)
    else:
        assert res is None or (isinstance(res, InstalledRpm) and res.name and res.version and res.release and res.arch)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_blobs_only_rpmdb_error_or_a_result(blob: bytes) -> None:
    _parse_or_error(blob)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1000, 1001, 1002, 1003, 1022, 63, 5000]), st.integers(-2, 11),
                          st.integers(-(2**31), 2**31 - 1) | st.integers(-2, 40),
                          st.integers(-(2**31), 2**31 - 1) | st.integers(-2, 5)), max_size=8),
       st.binary(max_size=64), st.integers(-2, 2) | st.none())
def test_structured_lying_headers(entries: list, data: bytes, dl_skew: int | None) -> None:
    _parse_or_error(_header(entries, data, dl=None if dl_skew is None else len(data) + dl_skew))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_real_headers(built: dict, data: st.DataObject) -> None:
    with sqlite3.connect(built["root"] / DBPATH.lstrip("/") / "rpmdb.sqlite") as con:
        blobs = [b for (b,) in con.execute("SELECT blob FROM Packages")]
    blob = bytearray(data.draw(st.sampled_from(blobs)))
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    _parse_or_error(bytes(blob))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_real_database_files(built: dict, data: st.DataObject) -> None:
    db = bytearray(_db(built["root"]))
    for _ in range(data.draw(st.integers(1, 20))):
        i = data.draw(st.integers(0, len(db) - 1))
        db[i] = data.draw(st.integers(0, 255))
    try:
        got = read_rpmdb_sqlite(bytes(db))
    except RpmdbError:
        return
    assert all(isinstance(p, InstalledRpm) for p in got)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=3000), st.sampled_from([512, 1024, 4096]), st.integers(0, 3))
def test_random_files_behind_a_sqlite_header(rest: bytes, page: int, pages: int) -> None:
    """Past the magic the bytes are random: RpmdbError (or, when sqlite finds nothing wrong, a list), nothing else."""
    head = bytearray(b"SQLite format 3\x00" + bytes(84))
    struct.pack_into(">H", head, 16, page)
    body = bytes(head) + rest
    body += bytes(-len(body) % page + page * pages)
    try:
        got = read_rpmdb_sqlite(body)
    except RpmdbError:
        return
    assert all(isinstance(p, InstalledRpm) for p in got)
