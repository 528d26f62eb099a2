"""Pending Debian/Ubuntu updates computed from apt's own files, without running apt.

`apt-get -s dist-upgrade` rebuilds apt's binary cache on every run where no pkgcache.bin is kept (Docker-
style images set `Dir::Cache::pkgcache ""`): seconds of CPU for a question the files answer directly.
This module answers it in-process from

- /var/lib/dpkg/status: what is installed (name, architecture, version, held or not);
- /var/lib/apt/lists/*_Packages (plain, .gz, .xz, .lzma, .bz2, and .lz4 / .zst through the system's liblz4
  and libzstd, which apt itself links): the versions each configured archive offers;
- each list's InRelease/Release: Origin, Label, Suite, Codename, NotAutomatic, ButAutomaticUpgrades —
  which archives are security archives and which are not upgraded to automatically;
- /etc/apt/preferences(.d): pins (release/origin/version pins, specific and general).

The candidate of each installed package is chosen the way apt's policy does: the highest pin priority
wins (500 for an ordinary archive, 100 for the installed version and for NotAutomatic archives with
ButAutomaticUpgrades, 1 for NotAutomatic ones such as backports, pins as configured), ties go to the
newer version, and a version older than the installed one is never a candidate below priority 1000.
So a newer kernel in bookworm-backports does not count as pending unless the installed kernel came from
backports — apt's rule, not an approximation of it.

What is deliberately not modelled: dependency resolution (a dist-upgrade may additionally pull in new
packages, e.g. a new kernel ABI package, or keep an upgrade back when a dependency cannot be met — the
upgrade of the package that pulls them in is still counted), Ubuntu's phased updates (counted as
pending: they are published fixes), `APT::Default-Release`, and `src:` pins. Lists left behind by a
source removed without a later `apt-get update` are read as if configured (apt update deletes them).

Parsers are pure and total; only `collect_apt_lists` does I/O, through the Probe.
"""

from __future__ import annotations

import bz2
import ctypes
import fnmatch
import functools
import hashlib
import itertools
import lzma
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tenken.collectors.evidence import Source, SourceKind, sha256_hex
from tenken.collectors.linux.syslib import load_library
from tenken.collectors.linux.zstd_frames import ZstdError, zstd_available, zstd_chunks
from tenken.collectors.probe import Probe
from tenken.collectors.transport.base import FileMissing, TransportError

LISTS_DIR = "/var/lib/apt/lists"
DPKG_STATUS = "/var/lib/dpkg/status"
PREFERENCES = "/etc/apt/preferences"
PREFERENCES_D = "/etc/apt/preferences.d"
MAX_FILE_BYTES = 256 * 1024 * 1024  # Debian main amd64 is ~50 MB uncompressed; bound a hostile file
MAX_DECOMPRESSED = 1024 * 1024 * 1024

# -- Debian version ordering (dpkg's verrevcmp) ------------------------------------------------------------


def _order(c: str) -> int:
    """dpkg's order(): `~` before everything (even the end), then the end, letters, then other characters."""
    if "0" <= c <= "9":
        return 0
    if ("a" <= c <= "z") or ("A" <= c <= "Z"):
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    la, lb = len(a), len(b)
    i = j = 0
    while i < la or j < lb:
        while (i < la and not ("0" <= a[i] <= "9")) or (j < lb and not ("0" <= b[j] <= "9")):
            ac = _order(a[i]) if i < la else 0
            bc = _order(b[j]) if j < lb else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < la and a[i] == "0":
            i += 1
        while j < lb and b[j] == "0":
            j += 1
        first_diff = 0
        while i < la and "0" <= a[i] <= "9" and j < lb and "0" <= b[j] <= "9":
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < la and "0" <= a[i] <= "9":
            return 1
        if j < lb and "0" <= b[j] <= "9":
            return -1
        if first_diff:
            return first_diff
    return 0


def split_version(v: str) -> tuple[int, str, str]:
    """`[epoch:]upstream[-revision]`: the epoch before the first colon, the revision after the last hyphen.

    A non-numeric "epoch" (not a valid Debian version) is kept as part of the upstream version, so the
    comparison stays total on any string.
    """
    v = v.strip()
    epoch = 0
    head, sep, rest = v.partition(":")
    if sep and head.isascii() and head.isdigit():
        epoch, v = int(head), rest
    upstream, sep, revision = v.rpartition("-")
    if not sep:
        return epoch, v, ""
    return epoch, upstream, revision


def debian_vercmp(a: str, b: str) -> int:
    """dpkg --compare-versions as -1, 0 or 1: epoch numerically, then upstream, then revision."""
    if a == b:
        return 0
    ea, ua, ra = split_version(a)
    eb, ub, rb = split_version(b)
    if ea != eb:
        return 1 if ea > eb else -1
    r = _verrevcmp(ua, ub) or _verrevcmp(ra, rb)
    return (r > 0) - (r < 0)


version_key = functools.cmp_to_key(debian_vercmp)

# -- decompression ------------------------------------------------------------------------------------------

COMPRESSIONS = ("", ".gz", ".xz", ".lzma", ".bz2", ".lz4", ".zst")


class ListDecodeError(Exception):
    """A list file could not be decompressed (damaged, or no decoder on this machine)."""


CHUNK = 256 * 1024  # text is decoded and scanned in 256 KiB pieces: the scan adds little to the process


class _Lz4:
    """liblz4's frame decoder through ctypes. apt writes .lz4 lists with this library (it links it),
    so wherever apt kept lz4 lists the library is present; the stdlib has no lz4 decoder."""

    VERSION = 100  # LZ4F_VERSION

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        lib.LZ4F_createDecompressionContext.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint]
        lib.LZ4F_createDecompressionContext.restype = ctypes.c_size_t
        lib.LZ4F_freeDecompressionContext.argtypes = [ctypes.c_void_p]
        lib.LZ4F_freeDecompressionContext.restype = ctypes.c_size_t
        lib.LZ4F_decompress.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t),
                                        ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p]
        lib.LZ4F_decompress.restype = ctypes.c_size_t
        lib.LZ4F_isError.argtypes = [ctypes.c_size_t]
        lib.LZ4F_isError.restype = ctypes.c_uint
        lib.LZ4F_getErrorName.argtypes = [ctypes.c_size_t]
        lib.LZ4F_getErrorName.restype = ctypes.c_char_p

    def _check(self, code: int) -> None:
        if self.lib.LZ4F_isError(code):
            name = self.lib.LZ4F_getErrorName(code) or b"unknown error"
            raise ListDecodeError(f"lz4: {name.decode('ascii', 'replace')}")

    def chunks(self, data: bytes | Iterable[bytes]) -> Iterator[bytes]:
        """Decompressed pieces of one or more concatenated lz4 frames, fed whole or in pieces as the file is
        read; ListDecodeError when damaged or cut."""
        ctx = ctypes.c_void_p()
        self._check(self.lib.LZ4F_createDecompressionContext(ctypes.byref(ctx), self.VERSION))
        try:
            out = ctypes.create_string_buffer(CHUNK)
            hint = 1  # of the last call that moved: > 0 the decoder expects more input, 0 a frame just ended
            pending = False  # the last call filled `out`: the decoder may hold more output
            for buf in itertools.chain([data] if isinstance(data, bytes) else data, [b""]):
                src = ctypes.c_char_p(buf)  # points into `buf` (kept alive by `src`); liblz4 only reads it
                base = ctypes.cast(src, ctypes.c_void_p).value or 0
                pos = 0
                while pos < len(buf) or pending:
                    dst_size = ctypes.c_size_t(CHUNK)
                    src_size = ctypes.c_size_t(len(buf) - pos)
                    code = self.lib.LZ4F_decompress(ctx, out, ctypes.byref(dst_size), base + pos, ctypes.byref(src_size), None)
                    self._check(code)
                    pos += src_size.value
                    pending = dst_size.value == CHUNK
                    if not (dst_size.value or src_size.value):
                        break  # no progress: nothing held back after all
                    hint = code
                    if dst_size.value:
                        yield ctypes.string_at(out, dst_size.value)
            if hint:
                raise ListDecodeError("lz4: truncated frame")
        finally:
            self.lib.LZ4F_freeDecompressionContext(ctx)


@functools.cache
def _lz4() -> _Lz4 | None:
    return load_library("lz4", "liblz4.so.1", _Lz4)


def lz4_available() -> bool:
    return _lz4() is not None


def decoder_available(compression: str) -> bool:
    if compression == ".lz4":
        return lz4_available()
    if compression == ".zst":
        return zstd_available()
    return compression in ("", ".gz", ".xz", ".lzma", ".bz2")


def _stdlib_chunks(compression: str, inputs: Iterable[bytes]) -> Iterator[bytes]:
    if compression == ".gz":
        z = zlib.decompressobj(wbits=31)
        fed = False  # the current member has had input (an empty file, or nothing after a member, is fine)
        for buf in inputs:
            while buf:  # a .gz may hold several members, one after another
                fed = True
                piece = z.decompress(buf, CHUNK)
                if piece:
                    yield piece
                if z.eof:
                    buf = z.unused_data
                    z, fed = zlib.decompressobj(wbits=31), False
                else:
                    buf = z.unconsumed_tail
        while fed and not z.eof:
            piece = z.decompress(b"", CHUNK)  # what the CHUNK bound held back
            if not piece:
                raise ListDecodeError("gzip: truncated")
            yield piece
        return
    d: lzma.LZMADecompressor | bz2.BZ2Decompressor
    if compression == ".bz2":
        d = bz2.BZ2Decompressor()
    else:
        d = lzma.LZMADecompressor(lzma.FORMAT_XZ if compression == ".xz" else lzma.FORMAT_ALONE)
    for buf in inputs:
        piece = d.decompress(buf, CHUNK)
        while True:
            if piece:
                yield piece
            if d.eof:
                return  # bytes after the end of the stream are ignored, as xz and bzip2 do by default
            if d.needs_input:
                break
            piece = d.decompress(b"", CHUNK)
    raise ListDecodeError(f"{compression[1:]}: truncated")


def decompressed_chunks(compression: str, data: bytes | Iterable[bytes], max_out: int = MAX_DECOMPRESSED) -> Iterator[bytes]:
    """The text of a list file stored with `compression` (one of COMPRESSIONS), in pieces of at most CHUNK
    bytes (a plain file in the pieces it was read in); ListDecodeError when damaged, oversized or without a
    decoder. `data` is the whole file or its pieces as they are read (Transport.read_chunks): a 19 MB
    Debian main list is then never held whole, compressed or not."""
    inputs: Iterable[bytes] = [data] if isinstance(data, bytes) else data
    if compression == "":
        yield from inputs
        return
    if compression == ".lz4":
        lz = _lz4()
        if lz is None:
            raise ListDecodeError("no lz4 decoder: liblz4 is not installed on the scanning machine (install liblz4-1 there)")
        pieces = lz.chunks(inputs)
    elif compression == ".zst":
        if not zstd_available():
            raise ListDecodeError("no zstd decoder: libzstd is not installed on the scanning machine (install libzstd1 there)")
        pieces = zstd_chunks(inputs)
    elif compression in (".gz", ".xz", ".lzma", ".bz2"):
        pieces = _stdlib_chunks(compression, inputs)
    else:
        raise ListDecodeError(f"no decoder for {compression} lists in the Python standard library")
    total = 0
    try:
        for piece in pieces:
            total += len(piece)
            if total > max_out:
                raise ListDecodeError(f"{compression[1:]}: more than {max_out} bytes decompressed")
            yield piece
    except ZstdError as exc:
        raise ListDecodeError(str(exc)) from exc
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
        raise ListDecodeError(f"{compression[1:]}: {exc}") from exc


def decompress(compression: str, data: bytes, max_out: int = MAX_DECOMPRESSED) -> bytes:
    """All of a list file's text at once (tests, small files); the collector streams instead."""
    return b"".join(decompressed_chunks(compression, data, max_out))


# -- list and Release file names ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFile:
    """One `*_Packages[.ext]` file in /var/lib/apt/lists and what its name says about it."""

    name: str
    compression: str
    release: str | None  # the InRelease/Release file of its archive, if present
    site: str  # host apt downloaded it from (what `Pin: origin` matches)
    component: str
    arch: str


_RELEASE_NAME = re.compile(r"^(.*_)(InRelease|Release)$")
_COMPONENT_ARCH = re.compile(r"^(?:(.*)_)?binary-([^_]+)_Packages$")


def _split_compression(name: str) -> tuple[str, str]:
    for ext in COMPRESSIONS[1:]:
        if name.endswith(ext):
            return name[: -len(ext)], ext
    return name, ""


def _site(name: str) -> str:
    """The host a list came from (`Pin: origin` compares it with the URI's host, without user or port)."""
    host = name.split("_", 1)[0].rsplit("@", 1)[-1]
    return host.split("%3a", 1)[0].split("%3A", 1)[0].split(":", 1)[0]


def classify_lists(names: Iterable[str]) -> list[ListFile]:
    """Packages lists among a lists directory's names, each mapped to its archive's Release file.

    List and Release share the archive prefix (`deb.debian.org_debian_dists_bookworm_`): the longest
    Release prefix a list name starts with is its archive (InRelease preferred, as apt does). When one
    list is present in several compressions, the one apt reads first is kept.
    """
    names = list(names)
    releases: dict[str, str] = {}
    for n in names:
        m = _RELEASE_NAME.match(n)
        if m and (m.group(1) not in releases or m.group(2) == "InRelease"):
            releases[m.group(1)] = n
    prefixes = sorted(releases, key=len, reverse=True)
    chosen: dict[str, ListFile] = {}
    for n in names:
        base, comp = _split_compression(n)
        if not base.endswith("_Packages") or "_source_" in base:
            continue
        prefix = next((p for p in prefixes if base.startswith(p)), None)
        rest = base[len(prefix):] if prefix else base
        m = _COMPONENT_ARCH.match(rest)
        component = (m.group(1) or "").replace("_", "/") if m else ""
        arch = m.group(2) if m else ""
        lf = ListFile(name=n, compression=comp, release=releases[prefix] if prefix else None,
                      site=_site(n), component=component, arch=arch)
        old = chosen.get(base)
        if old is None or COMPRESSIONS.index(comp) < COMPRESSIONS.index(old.compression):
            chosen[base] = lf
    return [chosen[k] for k in sorted(chosen)]


# -- Release files -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseInfo:
    origin: str = ""
    label: str = ""
    suite: str = ""
    codename: str = ""
    version: str = ""
    date: datetime | None = None
    not_automatic: bool = False
    but_automatic_upgrades: bool = False


_RELEASE_FIELDS = {"origin", "label", "suite", "codename", "version", "date", "notautomatic", "butautomaticupgrades"}


def _rfc822_date(s: str) -> datetime | None:
    for fmt in ("%a, %d %b %Y %H:%M:%S %Z", "%a, %d %b %Y %H:%M:%S %z", "%d %b %Y %H:%M:%S %Z"):
        try:
            d = datetime.strptime(s.strip(), fmt)
        except ValueError:
            continue
        return d.astimezone(UTC) if d.tzinfo else d.replace(tzinfo=UTC)
    return None


def parse_release(text: str) -> ReleaseInfo:
    """The header fields of an InRelease (clearsigned) or Release file. Pure and total."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("-----BEGIN PGP SIGNATURE"):
            break
        if not line or line[0] in " \t#-":
            continue
        k, sep, v = line.partition(":")
        key = k.strip().lower()
        if sep and key in _RELEASE_FIELDS and key not in fields:
            fields[key] = v.strip()
    return ReleaseInfo(
        origin=fields.get("origin", ""),
        label=fields.get("label", ""),
        suite=fields.get("suite", ""),
        codename=fields.get("codename", ""),
        version=fields.get("version", ""),
        date=_rfc822_date(fields["date"]) if "date" in fields else None,
        not_automatic=fields.get("notautomatic", "").lower() == "yes",
        but_automatic_upgrades=fields.get("butautomaticupgrades", "").lower() == "yes",
    )


def is_security_release(r: ReleaseInfo) -> bool:
    """Debian's bookworm-security (Label Debian-Security; older `buster/updates`), Ubuntu's
    jammy-security, Ubuntu Pro's jammy-infra-security / jammy-apps-security."""
    suite, code = r.suite.lower(), r.codename.lower()
    return (
        suite.endswith("-security") or code.endswith("-security") or r.label.lower() == "debian-security"
        or (r.origin.lower() == "debian" and suite.endswith("/updates"))
    )


def default_priority(r: ReleaseInfo | None) -> int:
    """apt's default pin priority of an archive: 500, or 1 (NotAutomatic), or 100 (ButAutomaticUpgrades too)."""
    if r is None or not r.not_automatic:
        return 500
    return 100 if r.but_automatic_upgrades else 1


# -- dpkg status ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    name: str
    arch: str
    version: str
    held: bool = False


_NOT_INSTALLED = ("not-installed", "config-files")


def _field(stanza: bytes, key: bytes) -> str | None:
    """The value of a single-line field of one control stanza (`key` includes the colon)."""
    if stanza.startswith(key):
        i = 0
    else:
        i = stanza.find(b"\n" + key)
        if i < 0:
            return None
        i += 1
    j = stanza.find(b"\n", i)
    return stanza[i + len(key): j if j >= 0 else len(stanza)].decode("utf-8", "replace").strip()


def parse_status(data: bytes) -> list[Installed]:
    """Installed packages from /var/lib/dpkg/status: every state but not-installed and config-files
    (apt counts half-configured and trigger-pending packages as installed too). Pure and total."""
    out: list[Installed] = []
    for stanza in data.replace(b"\r\n", b"\n").split(b"\n\n"):
        stanza = stanza.strip(b"\n")
        name = _field(stanza, b"Package:")
        status = (_field(stanza, b"Status:") or "").split()
        version = _field(stanza, b"Version:")
        if not name or len(status) != 3 or status[2] in _NOT_INSTALLED or not version:
            continue
        out.append(Installed(name=name, arch=_field(stanza, b"Architecture:") or "", version=version,
                             held=status[0] == "hold"))
    return out


def native_arch(installed: Iterable[Installed]) -> str:
    """dpkg's own architecture is the native one; otherwise the most common non-`all` architecture."""
    counts: dict[str, int] = {}
    for p in installed:
        if p.name == "dpkg" and p.arch and p.arch != "all":
            return p.arch
        if p.arch and p.arch != "all":
            counts[p.arch] = counts.get(p.arch, 0) + 1
    return max(counts, key=lambda a: counts[a]) if counts else "all"


# -- Packages lists -------------------------------------------------------------------------------------------

_PKG_LINE = re.compile(rb"\nPackage:[ \t]*([^\s]+)")
_PKG_FIRST = re.compile(rb"Package:[ \t]*([^\s]+)")


def scan_packages(data: bytes, wanted: set[bytes], end: int | None = None) -> list[tuple[str, str, str]]:
    """(name, architecture, version) of the stanzas of a Packages list (up to `end`) whose name is wanted.

    Fast on a 50 MB list: one literal-prefix regex pass finds the `Package:` lines (Package is the first
    field of every stanza apt writes), and only the stanzas of wanted names are looked into.
    """
    stop = len(data) if end is None else max(0, min(end, len(data)))
    out: list[tuple[str, str, str]] = []
    starts: list[tuple[int, bytes]] = []
    m0 = _PKG_FIRST.match(data, 0, stop)
    if m0 and m0.group(1) in wanted:
        starts.append((0, m0.group(1)))
    for m in _PKG_LINE.finditer(data, 0, stop):
        if m.group(1) in wanted:
            starts.append((m.start() + 1, m.group(1)))
    for start, name in starts:
        stanza_end = data.find(b"\n\n", start, stop)
        stanza = data[start: stanza_end if stanza_end >= 0 else stop]
        version = _field(stanza, b"Version:")
        arch = _field(stanza, b"Architecture:")
        if version and arch:
            out.append((name.decode("utf-8", "replace"), arch, version))
    return out


def scan_packages_stream(chunks: Iterable[bytes], wanted: set[bytes]) -> list[tuple[str, str, str]]:
    """scan_packages over a list arriving in pieces: each piece is scanned up to its last complete stanza
    and the rest carried into the next, so no stanza is split and the whole text is never held at once."""
    out: list[tuple[str, str, str]] = []
    tail = b""
    for chunk in chunks:
        buf = tail + chunk if tail else chunk
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            tail = buf
            continue
        out.extend(scan_packages(buf, wanted, cut))
        tail = buf[cut:]  # starts with the blank line, so its first `\nPackage:` is still found
    if tail:
        out.extend(scan_packages(tail, wanted))
    return out


# -- preferences (pins) ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    packages: tuple[str, ...]  # ("*",) for a general pin
    kind: str  # release | origin | version
    terms: tuple[tuple[str, str], ...]  # release: (key, value) pairs; origin/version: (("", value),)
    priority: int

    @property
    def general(self) -> bool:
        return self.packages == ("*",)


def parse_preferences(text: str) -> list[Pin]:
    """apt_preferences(5) stanzas: Package, Pin (release k=v,..., origin HOST, version GLOB), Pin-Priority.
    Stanzas without a usable Pin or an integer Pin-Priority are ignored, as apt ignores them. Pure, total."""
    pins: list[Pin] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.lstrip().startswith("#"):
                continue
            k, sep, v = line.partition(":")
            if sep and k.strip():
                fields.setdefault(k.strip().lower(), v.strip())
        pkgs = tuple(fields.get("package", "").split())
        kind, _, data = fields.get("pin", "").partition(" ")
        try:
            prio = int(fields.get("pin-priority", ""))
        except ValueError:
            continue
        kind = kind.strip().lower()
        data = data.strip()
        if not pkgs or kind not in ("release", "origin", "version"):
            continue
        if kind == "release":
            terms = []
            for part in data.split(","):
                k, sep, v = part.strip().partition("=")
                if sep:
                    terms.append((k.strip().lower(), v.strip().strip('"')))
                elif part.strip():
                    terms.append(("v", part.strip().strip('"')))
            pins.append(Pin(pkgs, kind, tuple(terms), prio))
        else:
            pins.append(Pin(pkgs, kind, (("", data.strip('"')),), prio))
    return pins


def _matches(pattern: str, value: str) -> bool:
    """apt's pin values: exact, a glob, or /regex/ (case-insensitive, as apt compares release fields)."""
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        try:
            return re.search(pattern[1:-1], value, re.IGNORECASE) is not None
        except re.error:
            return False
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def _pin_names(pin: Pin, name: str, arch: str) -> bool:
    for pat in pin.packages:
        pname, _, parch = pat.partition(":")
        if parch and parch not in (arch, "any"):
            continue
        if pname.startswith("src:"):
            continue  # source-package pins need the Source field; not modelled (documented)
        if _matches(pname, name):
            return True
    return False


@dataclass(frozen=True)
class Archive:
    """A list as a package source: its Release data, whether it is a security archive, its priority."""

    list: ListFile
    release: ReleaseInfo | None
    security: bool
    priority: int

    @property
    def label(self) -> str:
        r = self.release
        if r is None:
            return f"{self.list.site} (no Release file)"
        return f"{r.label or r.origin or self.list.site}:{r.version}/{r.suite or r.codename}"


def _pin_matches_archive(pin: Pin, a: Archive | None, version: str) -> bool:
    """Does `pin` select this version from archive `a` (None: the dpkg status file, i.e. installed)?"""
    if pin.kind == "version":
        return _matches(pin.terms[0][1], version)
    if pin.kind == "origin":
        return _matches(pin.terms[0][1], a.list.site) if a is not None else pin.terms[0][1] == ""
    if a is None:
        return False  # release pins never select the status file
    r = a.release or ReleaseInfo()
    for k, v in pin.terms:
        if k == "a":
            ok = _matches(v, r.suite) or _matches(v, r.codename)
        elif k == "n":
            ok = _matches(v, r.codename)
        elif k == "o":
            ok = _matches(v, r.origin)
        elif k == "l":
            ok = _matches(v, r.label)
        elif k == "c":
            ok = _matches(v, a.list.component)
        elif k == "b":
            ok = _matches(v, a.list.arch)
        elif k == "v":
            ok = _matches(v, r.version)
        else:
            ok = False
        if not ok:
            return False
    return True


def version_priority(name: str, arch: str, version: str, archives: list[Archive | None], pins: list[Pin]) -> int:
    """apt's pin priority of one version: the first specific pin (Package: name) selecting it, else the
    highest priority of the files it is in (first matching general pin, else the archive default; 100
    for the installed copy in the status file)."""
    for pin in pins:
        if not pin.general and _pin_names(pin, name, arch) and any(_pin_matches_archive(pin, a, version) for a in archives):
            return pin.priority
    best: int | None = None
    for a in archives:
        prio = 100 if a is None else a.priority
        for pin in pins:
            if pin.general and _pin_matches_archive(pin, a, version):
                prio = pin.priority
                break
        best = prio if best is None else max(best, prio)
    return best if best is not None else 0


# -- the computation -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upgrade:
    name: str
    arch: str
    current: str
    candidate: str
    origin: str
    security: bool


@dataclass
class Computation:
    upgrades: list[Upgrade] = field(default_factory=list)
    held: list[Upgrade] = field(default_factory=list)  # dpkg hold: apt-get leaves them, we report them apart


def compute_pending(
    installed: list[Installed],
    offers: list[tuple[Archive, list[tuple[str, str, str]]]],
    pins: list[Pin],
    native: str,
) -> Computation:
    """For each installed package, apt's candidate version; an upgrade where it differs from the installed one.

    `offers` are each archive's (name, arch, version) entries. Architecture `all` is apt's native
    architecture, so an `all` package can follow an `amd64` one and back, never an `i386` one.
    """

    def norm(arch: str) -> str:
        return native if arch in ("all", "") else arch

    have = {(p.name, norm(p.arch)): p for p in installed}
    versions: dict[tuple[str, str], dict[str, list[Archive | None]]] = {}
    for archive, entries in offers:
        for name, arch, version in entries:
            key = (name, norm(arch))
            if key in have:
                versions.setdefault(key, {}).setdefault(version, []).append(archive)
    out = Computation()
    for key, by_version in versions.items():
        inst = have[key]
        by_version.setdefault(inst.version, []).append(None)
        best: str | None = None
        best_prio = 0
        for v in sorted(by_version, key=version_key, reverse=True):
            prio = version_priority(key[0], key[1], v, by_version[v], pins)
            if prio < 0:
                continue  # a negative pin forbids the version
            if v != inst.version and prio < 1000 and debian_vercmp(v, inst.version) < 0:
                continue  # no downgrade below priority 1000
            if best is None or prio > best_prio:
                best, best_prio = v, prio
        if best is None or best == inst.version:
            continue
        archives = [a for a in by_version[best] if a is not None]
        # apt-get names foreign-architecture packages `name:arch` (libc6:i386); native ones bare
        up = Upgrade(name=key[0] if key[1] == native else f"{key[0]}:{key[1]}", arch=key[1], current=inst.version, candidate=best,
                     origin=", ".join(dict.fromkeys(a.label for a in archives)),
                     security=any(a.security for a in archives))
        (out.held if inst.held else out.upgrades).append(up)
    out.upgrades.sort(key=lambda u: (u.name, u.arch))
    out.held.sort(key=lambda u: (u.name, u.arch))
    return out


# -- I/O: reading the files through the Probe ------------------------------------------------------------------


@dataclass(frozen=True)
class ListState:
    """One list as read: what the check and an auditor need to judge its freshness."""

    name: str
    suite: str
    origin: str
    security: bool
    not_automatic: bool
    priority: int
    published: datetime | None  # the Release file's Date
    downloaded: datetime | None  # the list file's mtime


@dataclass
class ListsResult:
    """Either a computation or why none was possible (`fallback`: a reason to use apt-get instead)."""

    computation: Computation | None = None
    lists: list[ListState] = field(default_factory=list)
    fallback: str | None = None
    absent: bool = False  # no lists (or no dpkg status) at all, as opposed to lists we could not decode


def _read(p: Probe, path: str) -> bytes | None:
    """Read a (possibly 50 MB) file through the transport, recorded as a Source with its digest but kept
    out of the evidence excerpt. Probe.file's 8 MiB bound is too small for a Packages list."""
    try:
        data = p.t.read_file(path, max_bytes=MAX_FILE_BYTES)
    except TransportError as exc:
        p._fail(SourceKind.FILE, path, exc, None)
        return None
    p.sources.append(Source(kind=SourceKind.FILE, ref=path, sha256=sha256_hex(data)))
    return data


def _scan_list(p: Probe, path: str, compression: str, wanted: set[bytes]) -> list[tuple[str, str, str]] | str:
    """The wanted packages a list offers, read and decompressed piece by piece (the file is never held whole:
    Debian main's list is 19 MB as .lz4, 50 MB as text); recorded as a Source with the digest of all its
    bytes. A string is the reason the list could not be used."""
    digest = hashlib.sha256()

    def hashed(pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            digest.update(piece)
            yield piece

    try:
        entries = scan_packages_stream(decompressed_chunks(compression, hashed(p.t.read_chunks(path, max_bytes=MAX_FILE_BYTES, chunk=CHUNK))), wanted)
    except TransportError as exc:
        p._fail(SourceKind.FILE, path, exc, None)
        return f"{path} could not be read"
    except ListDecodeError as exc:
        return f"{path}: {exc}"
    p.sources.append(Source(kind=SourceKind.FILE, ref=path, sha256=digest.hexdigest()))
    return entries


def _preferences(p: Probe) -> tuple[list[Pin], list[str]]:
    paths = [PREFERENCES] + [
        f"{PREFERENCES_D}/{n}" for n in p.listdir(PREFERENCES_D) or []
        # apt reads files without extension or ending in .pref, named with [A-Za-z0-9_.-] only
        if re.fullmatch(r"[A-Za-z0-9_.\-]+", n) and ("." not in n or n.endswith(".pref"))
    ]
    pins: list[Pin] = []
    read: list[str] = []
    for path in paths:
        try:
            data = p.t.read_file(path)
        except FileMissing:
            continue
        except TransportError as exc:
            p._fail(SourceKind.FILE, path, exc, None)
            continue
        p.sources.append(Source(kind=SourceKind.FILE, ref=path, sha256=sha256_hex(data)))
        text = data.decode("utf-8", "replace")
        got = parse_preferences(text)
        pins.extend(got)
        read.append(path)
        if got:
            p.excerpt(path, text)
    return pins, read


def collect_apt_lists(p: Probe) -> ListsResult:
    """Pending updates from dpkg status + apt lists + Release files + pins, or the reason it cannot be done."""
    names = p.listdir(LISTS_DIR)
    lists = classify_lists(names or [])
    if not lists:
        return ListsResult(absent=True, fallback=f"no apt package lists in {LISTS_DIR} (apt-get update never ran, or they were cleaned)")
    undecodable = sorted({lf.compression for lf in lists if not decoder_available(lf.compression)})
    if undecodable:
        libs = {".lz4": "liblz4", ".zst": "libzstd"}
        why = (f"{' and '.join(libs[c] for c in undecodable if c in libs)} not installed on the scanning machine"
               if set(undecodable) <= set(libs) else "no decoder in the Python standard library")
        return ListsResult(fallback=f"apt lists stored as {', '.join(undecodable)} cannot be read in-process ({why})")
    status = _read(p, DPKG_STATUS)
    if status is None:
        return ListsResult(absent=True, fallback=f"{DPKG_STATUS} could not be read")
    installed = p.parsed(parse_status, status)
    if not installed:
        return ListsResult(fallback=f"{DPKG_STATUS} lists no installed package")
    wanted = {p_.name.encode("utf-8") for p_ in installed}
    releases: dict[str, ReleaseInfo | None] = {}
    offers: list[tuple[Archive, list[tuple[str, str, str]]]] = []
    states: list[ListState] = []
    for lf in lists:
        if lf.release is not None and lf.release not in releases:
            raw = _read(p, f"{LISTS_DIR}/{lf.release}")
            releases[lf.release] = parse_release(raw.decode("utf-8", "replace")) if raw is not None else None
        rel = releases.get(lf.release) if lf.release else None
        path = f"{LISTS_DIR}/{lf.name}"
        entries = _scan_list(p, path, lf.compression, wanted)
        if isinstance(entries, str):
            return ListsResult(fallback=entries)
        archive = Archive(list=lf, release=rel, security=rel is not None and is_security_release(rel),
                          priority=default_priority(rel))
        offers.append((archive, entries))
        st = p.stat(path)
        states.append(ListState(
            name=lf.name, suite=(rel.suite or rel.codename) if rel else "", origin=archive.label,
            security=archive.security, not_automatic=bool(rel and rel.not_automatic), priority=archive.priority,
            published=rel.date if rel else None,
            downloaded=datetime.fromtimestamp(st.mtime, UTC) if st is not None else None,
        ))
    return finish_computation(p, installed, offers, states)


def finish_computation(
    p: Probe, installed: list[Installed], offers: list[tuple[Archive, list[tuple[str, str, str]]]], states: list[ListState],
    *, how: str = "file-based pending computation",
) -> ListsResult:
    """Pins, apt's candidate choice and the auditor's excerpt: shared by the local and the remote reading."""
    native = native_arch(installed)
    pins, pref_files = _preferences(p)
    comp = p.compute(compute_pending, installed, offers, pins, native)
    lines = [f"{len(installed)} installed packages ({DPKG_STATUS}, native architecture {native}); "
             f"{len(pins)} pins from {', '.join(pref_files) or 'no preferences file'}"]
    for s in states:
        flags = [f for f, on in (("security", s.security), ("NotAutomatic", s.not_automatic)) if on]
        lines.append(f"{s.name}: {s.origin} priority {s.priority}{' [' + ', '.join(flags) + ']' if flags else ''}, "
                     f"published {s.published.isoformat() if s.published else 'unknown'}")
    for u in comp.held:
        lines.append(f"held by dpkg (not counted, as apt-get does not upgrade it): {u.name} {u.current} -> {u.candidate}"
                     f"{' [security]' if u.security else ''}")
    p.excerpt(f"apt lists ({how})", "\n".join(lines))
    return ListsResult(computation=comp, lists=states)
