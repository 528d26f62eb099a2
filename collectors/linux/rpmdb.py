"""The installed rpm packages of an offline image, read from its sqlite rpm database without rpm.

RHEL 9+ and Fedora 33+ keep the database in sqlite (`rpmdb.sqlite`, table `Packages(hnum, blob)`), each blob
an rpm header as headerExport writes it (big-endian):

    int32 il, int32 dl, il index entries of (int32 tag, int32 type, int32 offset, int32 count), dl data bytes

Offsets are relative to the start of the data. Only NAME, EPOCH, VERSION, RELEASE and ARCH are read.

The input is untrusted image data: rpm must not run on it (and the scanner may not have rpm at all), every
offset and count is checked against dl, and anything damaged, hostile or unsupported raises RpmdbError with a
message naming the file (and the row) — never the blob's bytes. RHEL 8 and older keep a Berkeley DB
(`/var/lib/rpm/Packages`) and SUSE an ndb (`Packages.db`); those are recognised and refused by name, not parsed.

The caller hands over the file's bytes (and the `-wal` file's, when there is one): no path I/O on the target
happens here. Both go into a private temporary directory, opened read-only (mode=ro): committed transactions
still sitting in the WAL (a recent install) are seen, and the original is never touched. A copy on disk rather
than `deserialize`: a WAL-mode file (rpm writes one) must be rewritten before sqlite deserializes it, which
would hold three copies in memory; from the file sqlite pages in what it needs (measured faster, too).
"""

from __future__ import annotations

import sqlite3
import struct
import tempfile
from pathlib import Path
from typing import NamedTuple

RPMDB_PATHS = ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite")
# the older formats: found there, named in the reason, never parsed
RPMDB_BDB_PATHS = ("/var/lib/rpm/Packages", "/usr/lib/sysimage/rpm/Packages")
RPMDB_NDB_PATHS = ("/var/lib/rpm/Packages.db", "/usr/lib/sysimage/rpm/Packages.db")

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH = 1000, 1001, 1002, 1003, 1022
TYPE_INT32, TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING = 4, 6, 8, 9
_TYPE_SIZE = {0: 0, 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}  # NULL CHAR INT8 INT16 INT32 INT64 BIN; strings: 6, 8, 9
_STRING_TYPES = (TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING)
_WANTED = (TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH)

MAX_INDEX_ENTRIES = 100_000  # rpm itself allows 65535 (HEADER_TAGS_MAX)
MAX_HEADER_BYTES = 64 << 20  # one package's header; real ones are kilobytes to a few megabytes
MAX_PACKAGES = 200_000
MAX_STRING_BYTES = 4096  # name, version, release, arch
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_STEPS = 200_000_000  # VM instructions before a query on a hostile file is abandoned


class InstalledRpm(NamedTuple):
    name: str
    epoch: int  # 0 when the header has no EPOCH (rpm's %{EPOCHNUM})
    version: str
    release: str
    arch: str


class RpmdbError(Exception):
    """A damaged, hostile or unsupported rpm database or header: the message says what and which file."""


def rpmdb_format(head: bytes) -> str:
    """Which kind of rpm database file starts with `head` (its first 64 bytes or more).

    "sqlite" (RHEL 9+, Fedora 33+), "bdb" (Berkeley DB: RHEL 8 / CentOS 8 and older, Fedora ≤ 32),
    "ndb" (rpm's own format, SUSE), or "unknown".
    """
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head[:4] == b"RpmP":
        return "ndb"
    if len(head) >= 16:
        # Berkeley DB metadata page: magic at offset 12, in either byte order (hash, btree, queue, heap)
        for fmt in ("<I", ">I"):
            (magic,) = struct.unpack_from(fmt, head, 12)
            if magic in (0x061561, 0x053162, 0x042253, 0x074582):
                return "bdb"
    return "unknown"


def unsupported_reason(path: str, head: bytes) -> str | None:
    """Why the file at `path` (starting with `head`) is not read, or None when it is a sqlite database."""
    kind = rpmdb_format(head)
    if kind == "sqlite":
        return None
    if kind == "bdb":
        return (f"{path}: Berkeley DB rpm database (RHEL/CentOS 8 and older, Fedora 32 and older): "
                "read by rpmdb_bdb, not as sqlite")
    if kind == "ndb":
        return f"{path}: ndb rpm database (SUSE); tenken reads only the sqlite rpmdb (RHEL 9+, Fedora 33+)"
    return f"{path}: not an rpm database tenken can read (neither sqlite nor a known older format)"


def parse_header(blob: bytes, *, where: str = "rpm header") -> InstalledRpm | None:
    """The package a headerExport blob describes; None for gpg-pubkey and other headers without ARCH.

    Raises RpmdbError (naming `where`, never quoting the blob) when the header is malformed: too short, il or
    dl out of range or not matching the blob's length, an unknown type, an entry reaching past the data, or
    NAME/VERSION/RELEASE missing or of the wrong type.
    """
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise RpmdbError(f"{where}: not a binary blob ({type(blob).__name__})")
    blob = bytes(blob)
    n = len(blob)
    if n < 8:
        raise RpmdbError(f"{where}: header of {n} bytes, shorter than its 8-byte preamble")
    if n > MAX_HEADER_BYTES:
        raise RpmdbError(f"{where}: header of {n} bytes, over the {MAX_HEADER_BYTES}-byte limit")
    il, dl = struct.unpack_from(">ii", blob, 0)
    if not 1 <= il <= MAX_INDEX_ENTRIES:
        raise RpmdbError(f"{where}: index count {il} outside 1..{MAX_INDEX_ENTRIES}")
    if dl < 0:
        raise RpmdbError(f"{where}: data length {dl} is negative")
    data_start = 8 + 16 * il
    if data_start + dl != n:
        raise RpmdbError(f"{where}: index count {il} and data length {dl} make {data_start + dl} bytes, the blob has {n}")
    found: dict[int, tuple[int, int, int]] = {}
    for i, (tag, typ, off, count) in enumerate(struct.iter_unpack(">iiii", blob[8:data_start])):
        if not 0 <= typ <= 9:
            raise RpmdbError(f"{where}: index entry {i} (tag {tag}) has unknown type {typ}")
        if off < 0 or count < 0 or off > dl:
            raise RpmdbError(f"{where}: index entry {i} (tag {tag}) offset {off} count {count} outside the {dl}-byte data")
        size = _TYPE_SIZE.get(typ)
        if size is not None and off + size * count > dl:
            raise RpmdbError(f"{where}: index entry {i} (tag {tag}) of {count} x {size} bytes at {off} runs past the {dl}-byte data")
        if typ in _STRING_TYPES and (count < 1 or off >= dl):
            raise RpmdbError(f"{where}: index entry {i} (tag {tag}) string of count {count} at {off} outside the {dl}-byte data")
        if tag in _WANTED and tag not in found:
            found[tag] = (typ, off, count)

    def string(tag: str, code: int) -> str | None:
        ent = found.get(code)
        if ent is None:
            return None
        typ, off, count = ent
        if typ not in (TYPE_STRING, TYPE_I18NSTRING) or (typ == TYPE_STRING and count != 1):
            raise RpmdbError(f"{where}: {tag} has type {typ} count {count}, expected a string")
        start = data_start + off
        end = blob.find(b"\0", start, min(n, start + MAX_STRING_BYTES + 1))
        if end < 0:
            raise RpmdbError(f"{where}: {tag} at offset {off} has no terminating NUL within the data (or is over {MAX_STRING_BYTES} bytes)")
        return blob[start:end].decode("utf-8", "replace")

    name, version, release = string("NAME", TAG_NAME), string("VERSION", TAG_VERSION), string("RELEASE", TAG_RELEASE)
    for label, value in (("NAME", name), ("VERSION", version), ("RELEASE", release)):
        if not value:
            raise RpmdbError(f"{where}: no {label} (missing or empty)")
    assert name is not None and version is not None and release is not None
    arch = string("ARCH", TAG_ARCH)
    if name == "gpg-pubkey" or not arch:
        return None
    epoch = 0
    ent = found.get(TAG_EPOCH)
    if ent is not None:
        typ, off, count = ent
        if typ != TYPE_INT32 or count < 1:
            raise RpmdbError(f"{where}: EPOCH has type {typ} count {count}, expected INT32")
        (epoch,) = struct.unpack_from(">I", blob, data_start + off)  # bounds checked above (4 * count <= dl - off)
    return InstalledRpm(name, epoch, version, release, arch)


def read_rpmdb_sqlite(db: bytes, wal: bytes | None = None, *, path: str = RPMDB_PATHS[0]) -> list[InstalledRpm]:
    """Every installed package (gpg-pubkey pseudo-packages left out) in hnum order, from rpmdb.sqlite's bytes.

    `wal` is the `-wal` file's bytes when there is one (empty counts as none); its committed transactions are
    read. `path` only names the file in messages. Raises RpmdbError when the file is a Berkeley DB or ndb
    database, is not sqlite, is damaged, has no Packages table, or holds a malformed header (naming its hnum).
    """
    reason = unsupported_reason(path, bytes(db[:64]))
    if reason is not None:
        raise RpmdbError(reason)
    if len(db) < 100:
        raise RpmdbError(f"{path}: {len(db)} bytes, shorter than a sqlite header (truncated)")
    truncated = sqlite_truncation(bytes(db[:100]), len(db))
    if truncated:
        raise RpmdbError(f"{path}: {truncated} (truncated copy?)")
    try:
        # a private copy in a temporary directory: the -wal file (when there is one) is read beside it, and
        # sqlite pages the file in instead of holding a second and third copy in memory (deserialize would)
        with tempfile.TemporaryDirectory(prefix="tenken-rpmdb-") as tmp:
            copy = Path(tmp) / "rpmdb.sqlite"
            copy.write_bytes(db)
            if wal:
                (Path(tmp) / "rpmdb.sqlite-wal").write_bytes(wal)
            con = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
            try:
                return _read(con, path)
            finally:
                con.close()
    except sqlite3.Error as e:
        raise RpmdbError(f"{path}: damaged sqlite database ({type(e).__name__}: {e})") from None
    except (OSError, MemoryError, OverflowError, ValueError) as e:
        raise RpmdbError(f"{path}: could not be read ({type(e).__name__}: {e})") from None


def sqlite_truncation(head: bytes, size: int) -> str | None:
    """Why a sqlite file of `size` bytes starting with `head` (its first 100 bytes) cannot be whole: its
    length against the page size and page count its header states; None when it can be.

    sqlite itself reads a file cut short at a page it does not need as if nothing were missing.
    """
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        return f"{size} bytes, without a whole sqlite header"
    (page_size,) = struct.unpack_from(">H", head, 16)
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return f"page size {page_size} in its header is not a power of two from 512 to 65536"
    if size % page_size:
        return f"{size} bytes, not a whole number of {page_size}-byte pages"
    change, pages, valid_for = (struct.unpack_from(">I", head, off)[0] for off in (24, 28, 92))
    if valid_for == change and pages and size < pages * page_size:
        return f"{size} bytes, its header says {pages} pages of {page_size} bytes"
    return None


def _read(con: sqlite3.Connection, path: str) -> list[InstalledRpm]:
    steps = 0

    def progress() -> int:  # abandon a query a hostile schema makes run for ever
        nonlocal steps
        steps += 10_000
        return 1 if steps > _SQLITE_STEPS else 0

    con.set_progress_handler(progress, 10_000)
    # no value larger than a header may be built (a generated column of zeroblob(10**9), say)
    con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_HEADER_BYTES + 1)
    con.execute("PRAGMA query_only = ON")
    con.execute("PRAGMA trusted_schema = OFF")
    con.execute("PRAGMA cell_size_check = ON")
    rows = con.execute("SELECT type, sql FROM sqlite_master WHERE name = 'Packages'").fetchall()
    if len(rows) != 1 or rows[0][0] != "table":
        raise RpmdbError(f"{path}: sqlite database without a Packages table (not an rpm database?)")
    if not isinstance(rows[0][1], str) or rows[0][1].lstrip().upper().startswith("CREATE VIRTUAL"):
        raise RpmdbError(f"{path}: Packages is a virtual table, not rpm's (not read)")
    # table_xinfo column 6: 0 for a stored column; generated (computed on read) columns are not rpm's
    cols = {row[1]: row[6] for row in con.execute("PRAGMA table_xinfo(Packages)")}
    if not {"hnum", "blob"} <= cols.keys():
        raise RpmdbError(f"{path}: Packages table without hnum and blob columns (not an rpm database?)")
    if cols["hnum"] or cols["blob"]:
        raise RpmdbError(f"{path}: Packages table with generated hnum or blob columns, not rpm's (not read)")
    out: list[InstalledRpm] = []
    for i, (hnum, blob) in enumerate(con.execute("SELECT hnum, blob FROM Packages ORDER BY hnum")):
        if i >= MAX_PACKAGES:
            raise RpmdbError(f"{path}: more than {MAX_PACKAGES} packages")
        if not isinstance(blob, bytes):
            raise RpmdbError(f"{path}: Packages row hnum {_short(hnum)}: blob is {type(blob).__name__}, not a header")
        pkg = parse_header(blob, where=f"{path}: Packages row hnum {_short(hnum)}")
        if pkg is not None:
            out.append(pkg)
    return out


def _short(value: object) -> str:
    """hnum as it may be named in a message: an integer, or (a hostile schema) the first characters of a repr."""
    return str(value) if isinstance(value, int) else repr(value)[:24]
