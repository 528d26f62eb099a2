"""Pending yum updates of an offline RHEL/CentOS 7 image, from yum's own cache read in-process.

The same inputs as yum_remote.py, without a command to run: the rpm database (Berkeley DB on RHEL 7,
rpmdb_bdb.py), yum.conf and the .repo files, and each enabled repository's cache directory
/var/cache/yum/<basearch>/<releasever>/<repo id>/ (repomd.xml, gen/primary_db.sqlite, updateinfo). The primary
database is read from a private read-only copy in a temporary directory (as rpmdb.py does): only the rows of
installed names, and of packages that obsolete one, are queried.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
from pathlib import Path

from tenken.collectors.evidence import Source, SourceKind
from tenken.collectors.linux.apt_lists import ListDecodeError, decoder_available
from tenken.collectors.linux.rpm_files import RpmResult, _read_big, _stream, compression_of, installed_packages
from tenken.collectors.linux.rpm_pending import RepoInput, compute
from tenken.collectors.linux.rpm_repodata import Dep, Nevra, RepodataError, RepoPackage, parse_repomd, parse_updateinfo
from tenken.collectors.linux.yum_remote import CACHE_GLOB, _choose, read_yum_config
from tenken.collectors.probe import Probe

CACHE_ROOT = CACHE_GLOB.split("/*", 1)[0]


def query_primary_db(db: bytes, names: set[str], *, path: str) -> list[RepoPackage]:
    """The packages of `names` and those obsoleting one of `names`, from primary_db.sqlite's bytes."""
    try:
        with tempfile.TemporaryDirectory(prefix="tenken-yumdb-") as tmp:
            copy = Path(tmp) / "primary_db.sqlite"
            copy.write_bytes(db)
            con = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
            try:
                con.execute("CREATE TEMP TABLE wanted (name TEXT PRIMARY KEY)")
                con.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", [(n,) for n in names])
                obsoletes: dict[Nevra, list[Dep]] = {}
                for name, arch, epoch, version, release in con.execute(
                        "SELECT name, arch, epoch, version, release FROM packages WHERE name IN (SELECT name FROM wanted)"):
                    obsoletes.setdefault(_nevra(name, arch, epoch, version, release, path), [])
                for row in con.execute(
                        "SELECT p.name, p.arch, p.epoch, p.version, p.release, o.name, o.flags, o.epoch, o.version, o.release "
                        "FROM obsoletes o JOIN packages p ON p.pkgKey = o.pkgKey WHERE o.name IN (SELECT name FROM wanted)"):
                    e = row[7]
                    obsoletes.setdefault(_nevra(*row[:5], path), []).append(
                        Dep(str(row[5]), row[6] or None, int(e) if str(e or "").isdecimal() else 0, row[8] or None, row[9] or None))
            finally:
                con.close()
    except sqlite3.Error as exc:
        raise RepodataError(f"{path}: damaged sqlite database ({type(exc).__name__}: {exc})") from None
    return [RepoPackage(n, tuple(d)) for n, d in obsoletes.items()]


def _nevra(name: object, arch: object, epoch: object, version: object, release: object, path: str) -> Nevra:
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
    why = _choose(cfg, mtimes)
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
        db = _read_big(p, f"{d}/gen/primary_db.sqlite")
        if raw is None or db is None:
            return RpmResult(config=cfg, fallback=f"{d}: repomd.xml or gen/primary_db.sqlite could not be read")
        try:
            hrefs = parse_repomd(raw)
            packages = query_primary_db(db, wanted, path=f"{d}/gen/primary_db.sqlite")
            advisories = []
            if (href := hrefs.get("updateinfo")) is not None:
                where = next((f for f in (f"{d}/{href.rsplit('/', 1)[-1]}", f"{d}/gen/updateinfo.xml")
                              if p.stat(f) is not None), None)
                comp = compression_of(where) if where else None
                if where is None or comp is None or not decoder_available(comp):
                    no_advisories.append(repo.id)
                else:
                    digest = hashlib.sha256()
                    advisories = parse_updateinfo(_stream(p, where, comp, digest), wanted)
                    p.sources.append(Source(kind=SourceKind.FILE, ref=where, sha256=digest.hexdigest()))
        except (RepodataError, ListDecodeError) as exc:
            return RpmResult(config=cfg, fallback=f"{d}: {exc}")
        inputs.append(RepoInput(repo, packages, advisories, None))
    comp_ = p.compute(compute, installed, inputs, cfg.main, {})
    chosen = set(cfg.cache.values())
    return RpmResult(computation=comp_, config=cfg, how="read in-process from the image", no_advisories=no_advisories,
                     refreshed=max(mtimes[d] for d in chosen) if chosen else None)
