"""Pending yum updates of an offline RHEL/CentOS 7 image, from yum's own cache read in-process.

The same inputs as yum_remote.py, without a command to run: the rpm database (Berkeley DB on RHEL 7,
rpmdb_bdb.py), yum.conf and the .repo files, and each enabled repository's cache directory
/var/cache/yum/<basearch>/<releasever>/<repo id>/ (repomd.xml, gen/primary_db.sqlite, updateinfo). The primary
database (gen/primary_db.sqlite, or gen/primary.xml.sqlite that yum builds itself when a repository
publishes no sqlite) is streamed into a private copy in a temporary directory: only the rows of installed
names, and of packages that obsolete one, are queried.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
from pathlib import Path

from tenken.collectors.evidence import Source, SourceKind
from tenken.collectors.linux.apt_lists import CHUNK, ListDecodeError, decoder_available
from tenken.collectors.linux.rpm_files import RpmResult, _stream, compression_of, installed_packages
from tenken.collectors.linux.rpm_pending import RepoInput, compute
from tenken.collectors.linux.rpm_repodata import Dep, Nevra, RepodataError, RepoPackage, parse_repomd, parse_updateinfo
from tenken.collectors.linux.rpmdb import sqlite_truncation
from tenken.collectors.linux.yum_remote import CACHE_GLOB, choose_yum_cache, read_yum_config
from tenken.collectors.probe import Probe
from tenken.collectors.transport.base import FileMissing, TransportError

CACHE_ROOT = CACHE_GLOB.split("/*", 1)[0]
#: yum's primary database: the repository's published sqlite, or the one yum built itself from primary.xml
#: when the repository publishes none (yum-metadata-parser; common for EPEL and vendor repositories)
PRIMARY_DBS = ("gen/primary_db.sqlite", "gen/primary.xml.sqlite")
MAX_DB_BYTES = 1024 * 1024 * 1024


def query_primary_db(copy: Path, names: set[str], *, path: str) -> list[RepoPackage]:
    """The packages of `names` and those obsoleting one of `names`, from a private copy of a primary database
    (`path` names the original in messages)."""
    with copy.open("rb") as fh:
        head = fh.read(100)
    if (cut := sqlite_truncation(head, copy.stat().st_size)) is not None:
        raise RepodataError(f"{path}: {cut} (truncated copy?)")
    obsoletes: dict[Nevra, list[Dep]] = {}
    try:
        con = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            con.execute("CREATE TEMP TABLE wanted (name TEXT PRIMARY KEY)")
            con.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", [(n,) for n in names])
            for row in con.execute("SELECT name, arch, epoch, version, release FROM packages "
                                   "WHERE name IN (SELECT name FROM wanted)"):
                obsoletes.setdefault(_nevra(*row, path=path), [])
            for row in con.execute(
                    "SELECT p.name, p.arch, p.epoch, p.version, p.release, o.name, o.flags, o.epoch, o.version, o.release "
                    "FROM obsoletes o JOIN packages p ON p.pkgKey = o.pkgKey WHERE o.name IN (SELECT name FROM wanted)"):
                e = row[7]
                obsoletes.setdefault(_nevra(*row[:5], path=path), []).append(
                    Dep(str(row[5]), row[6] or None, int(e) if str(e or "").isdecimal() else 0, row[8] or None, row[9] or None))
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise RepodataError(f"{path}: damaged sqlite database ({type(exc).__name__}: {exc})") from None
    return [RepoPackage(n, tuple(d)) for n, d in obsoletes.items()]


def _private_copy(p: Probe, path: str, directory: Path) -> Path | None:
    """`path` streamed into `directory` (yum's primary database of a RHEL 7 Server channel is 200-250 MB: it is
    never held in memory); None when missing or unreadable (recorded)."""
    out = directory / "primary.sqlite"
    digest = hashlib.sha256()
    try:
        with out.open("wb") as f:
            for piece in p.t.read_chunks(path, max_bytes=MAX_DB_BYTES, chunk=CHUNK):
                digest.update(piece)
                f.write(piece)
    except FileMissing:
        return None
    except TransportError as exc:
        p._fail(SourceKind.FILE, path, exc, None)
        return None
    p.sources.append(Source(kind=SourceKind.FILE, ref=path, sha256=digest.hexdigest()))
    return out


def _nevra(name: object, arch: object, epoch: object, version: object, release: object, *, path: str) -> Nevra:
    if not (isinstance(name, str) and name and isinstance(arch, str) and arch and isinstance(version, str) and version
            and isinstance(release, str) and release):
        raise RepodataError(f"{path}: a package row without name, arch, version or release")
    return Nevra(name, int(epoch) if str(epoch or "").isdecimal() else 0, version, release, arch)


def _cache_dirs(p: Probe) -> dict[str, float]:
    """{<root>/<basearch>/<releasever>/<id>: mtime of its repomd.xml}"""
    out = {}
    for arch in sorted(p.listdir(CACHE_ROOT) or []):
        for rel in sorted(p.listdir(f"{CACHE_ROOT}/{arch}") or []):
            for rid in sorted(p.listdir(f"{CACHE_ROOT}/{arch}/{rel}") or []):
                d = f"{CACHE_ROOT}/{arch}/{rel}/{rid}"
                if (st := p.stat(f"{d}/repomd.xml")) is not None:
                    out[d] = st.mtime
    return out


def collect_yum_files(p: Probe) -> RpmResult:
    cfg = read_yum_config(p)
    if isinstance(cfg, str):
        return RpmResult(fallback=cfg)
    mtimes = _cache_dirs(p)
    why = choose_yum_cache(cfg, mtimes)
    if why is not None:
        return RpmResult(config=cfg, fallback=why)
    installed = installed_packages(p)
    if isinstance(installed, str):
        return RpmResult(config=cfg, fallback=installed)
    wanted = {n.name for n in installed}
    inputs, no_advisories = [], []
    for repo in cfg.repos:
        d = cfg.cache[repo.id]
        raw = p.file(f"{d}/repomd.xml", keep_raw=False)
        if raw is None:
            return RpmResult(config=cfg, fallback=f"{d}/repomd.xml could not be read")
        try:
            hrefs = parse_repomd(raw)
            with tempfile.TemporaryDirectory(prefix="tenken-yumdb-") as tmp:
                # published sqlite (primary_db), or the one yum built itself from primary.xml (primary.xml.sqlite)
                for db in PRIMARY_DBS:
                    copy = _private_copy(p, f"{d}/{db}", Path(tmp))
                    if copy is not None:
                        packages = query_primary_db(copy, wanted, path=f"{d}/{db}")
                        break
                else:
                    return RpmResult(config=cfg, fallback=f"{d}: no {' or '.join(PRIMARY_DBS)} (yum has not opened this cache)")
            advisories = []
            if (href := hrefs.get("updateinfo")) is not None:
                where = next((f for f in (f"{d}/{href.rsplit('/', 1)[-1]}", f"{d}/gen/updateinfo.xml")
                              if p.stat(f) is not None), None)
                ctype = compression_of(where) if where else None
                if where is None or ctype is None or not decoder_available(ctype):
                    no_advisories.append(repo.id)
                else:
                    digest = hashlib.sha256()
                    advisories = parse_updateinfo(_stream(p, where, ctype, digest), wanted)
                    p.sources.append(Source(kind=SourceKind.FILE, ref=where, sha256=digest.hexdigest()))
        except (RepodataError, ListDecodeError) as exc:
            return RpmResult(config=cfg, fallback=f"{d}: {exc}")
        inputs.append(RepoInput(repo, packages, advisories, None))
    comp = p.compute(compute, installed, inputs, cfg.main, {})
    return RpmResult(computation=comp, config=cfg, how="read in-process from the image", no_advisories=no_advisories)
