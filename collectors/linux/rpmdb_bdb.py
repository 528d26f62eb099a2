"""Reading a Berkeley DB rpm database (RHEL/CentOS 7 and 8, Fedora 32 and older) without Berkeley DB.

An offline image of a RHEL 8 host keeps its installed packages in /var/lib/rpm/Packages, a Berkeley DB hash
database: key = the package's instance number (4 bytes, the writer's byte order), value = the package's
header blob, the same headerExport blob rpmdb.sqlite stores. Nothing on the scanner may need libdb (it is
not installed on most machines, and its on-disk format is all that is needed), so this module walks the
hash file itself, as rpm's own read-only backend `bdb_ro` does: the meta page (magic 0x061561, version
8-10, page size, last page, bucket count, the spares table mapping buckets to pages), each bucket's chain
of hash pages (key/data item pairs), and the overflow pages that hold headers larger than a page.

Every page number, offset, length and chain is bounded by the file: a damaged or hostile file raises
RpmdbError naming the page, never loops and never reads past the data. Checked against real rpm's
bdb_ro reader on databases written by real libdb (db5.3_load), little- and big-endian
(tests/linux/test_rpmdb_bdb.py).
"""

from __future__ import annotations

import struct

from tenken.collectors.linux.rpmdb import InstalledRpm, RpmdbError, parse_header

HASH_MAGIC = 0x061561
P_HASH_UNSORTED, P_HASH, P_OVERFLOW = 2, 13, 7
H_KEYDATA, H_DUPLICATE, H_OFFPAGE, H_OFFDUP = 1, 2, 3, 4
PAGE_HEADER = 26  # lsn 8, pgno 4, prev 4, next 4, entries 2, hf_offset 2, level 1, type 1


class _Db:
    def __init__(self, data: bytes | memoryview, path: str) -> None:
        self.data, self.path = memoryview(data), path
        if len(data) < 512:
            raise RpmdbError(f"{path}: {len(data)} bytes, shorter than a Berkeley DB meta page (truncated)")
        for order in ("<", ">"):
            if struct.unpack_from(f"{order}I", data, 12)[0] == HASH_MAGIC:
                break
        else:
            raise RpmdbError(f"{path}: not a Berkeley DB hash database (the rpm Packages database is one)")
        self.o = order
        version, self.pagesize = struct.unpack_from(f"{order}II", data, 16)
        if version not in (8, 9, 10):
            raise RpmdbError(f"{path}: Berkeley DB hash version {version} (rpm databases use 8 to 10)")
        if self.pagesize < 512 or self.pagesize > 65536 or self.pagesize & (self.pagesize - 1):
            raise RpmdbError(f"{path}: impossible page size {self.pagesize} (damaged meta page)")
        self.last = struct.unpack_from(f"{order}I", data, 32)[0]
        if (self.last + 1) * self.pagesize > len(data):
            raise RpmdbError(f"{path}: {len(data)} bytes, but the meta page counts {self.last + 1} pages of "
                             f"{self.pagesize} (truncated copy?)")
        self.max_bucket = struct.unpack_from(f"{order}I", data, 72)[0]
        self.spares = struct.unpack_from(f"{order}32I", data, 96)
        if self.max_bucket > self.last:
            raise RpmdbError(f"{path}: {self.max_bucket + 1} hash buckets in {self.last} pages (damaged meta page)")

    def page(self, n: int, types: tuple[int, ...]) -> memoryview:
        if not 1 <= n <= self.last:
            raise RpmdbError(f"{self.path}: page {n} is outside the file's {self.last} pages (damaged)")
        pg = self.data[n * self.pagesize:(n + 1) * self.pagesize]
        if struct.unpack_from(f"{self.o}I", pg, 8)[0] != n or pg[25] not in types:
            raise RpmdbError(f"{self.path}: page {n} is not the page the database points to (damaged)")
        return pg

    def overflow(self, first: int, total: int) -> bytes:
        """An item kept on a chain of overflow pages: exactly `total` bytes, or RpmdbError."""
        out = bytearray()
        n, seen = first, set()
        while len(out) < total:
            if n in seen:
                raise RpmdbError(f"{self.path}: overflow chain loops at page {n} (damaged)")
            seen.add(n)
            pg = self.page(n, (P_OVERFLOW,))
            plen = struct.unpack_from(f"{self.o}H", pg, 22)[0]
            if PAGE_HEADER + plen > self.pagesize or len(out) + plen > total or plen == 0:
                raise RpmdbError(f"{self.path}: overflow page {n} holds {plen} bytes (damaged)")
            out += pg[PAGE_HEADER:PAGE_HEADER + plen]
            n = struct.unpack_from(f"{self.o}I", pg, 16)[0]
        return bytes(out)

    def item(self, pg: memoryview, off: int, length: int, where: int) -> bytes:
        if length < 1 or off + length > self.pagesize or off < PAGE_HEADER:
            raise RpmdbError(f"{self.path}: an item of page {where} lies outside it (damaged)")
        kind = pg[off]
        if kind == H_KEYDATA:
            return bytes(pg[off + 1:off + length])
        if kind == H_OFFPAGE and length == 12:
            first, total = struct.unpack_from(f"{self.o}II", pg, off + 4)
            if total == 0 or total > len(self.data):
                raise RpmdbError(f"{self.path}: an item of page {where} claims {total} bytes (damaged)")
            return self.overflow(first, total)
        if kind in (H_DUPLICATE, H_OFFDUP):
            raise RpmdbError(f"{self.path}: duplicate keys on page {where}: not an rpm Packages database")
        raise RpmdbError(f"{self.path}: unknown item type {kind} on page {where} (damaged)")

    def pairs(self):  # type: ignore[no-untyped-def]
        """(key, value) of every entry, bucket by bucket along each bucket's page chain."""
        seen: set[int] = set()
        for bucket in range(self.max_bucket + 1):
            n = bucket + self.spares[bucket.bit_length()]
            while n:
                if n in seen:
                    raise RpmdbError(f"{self.path}: page {n} is reached twice (damaged bucket chain)")
                seen.add(n)
                pg = self.page(n, (P_HASH, P_HASH_UNSORTED))
                entries = struct.unpack_from(f"{self.o}H", pg, 20)[0]
                if PAGE_HEADER + 2 * entries > self.pagesize or entries % 2:
                    raise RpmdbError(f"{self.path}: page {n} counts {entries} entries (damaged)")
                offs = struct.unpack_from(f"{self.o}{entries}H", pg, PAGE_HEADER)
                for i in range(0, entries, 2):
                    koff, voff = offs[i], offs[i + 1]
                    kend = self.pagesize if i == 0 else offs[i - 1]
                    yield self.item(pg, koff, kend - koff, n), self.item(pg, voff, koff - voff, n)
                n = struct.unpack_from(f"{self.o}I", pg, 16)[0]


def read_rpmdb_bdb(data: bytes | memoryview, *, path: str = "/var/lib/rpm/Packages") -> list[InstalledRpm]:
    """Every installed package (gpg-pubkey pseudo-packages left out) in instance order, from Packages' bytes.

    Raises RpmdbError when the file is not a Berkeley DB hash database, is truncated or damaged, or holds a
    malformed header (naming its instance number)."""
    db = _Db(data, path)
    found: dict[int, InstalledRpm | None] = {}
    for key, value in db.pairs():
        if len(key) != 4:
            raise RpmdbError(f"{path}: a key of {len(key)} bytes (rpm's are 4-byte instance numbers)")
        instance = struct.unpack(f"{db.o}I", key)[0]
        if instance == 0:
            continue  # rpm keeps the highest instance number used under key 0
        if instance in found:
            raise RpmdbError(f"{path}: instance {instance} appears twice (damaged)")
        found[instance] = parse_header(value, where=f"{path} instance {instance}")
    return [r for _, r in sorted(found.items()) if r is not None]
