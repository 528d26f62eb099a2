"""Pending dnf updates of a RHEL-family host from its files: read on the host, from an offline root, or
(rpm_remote.py) from what the target filtered — then computed by rpm_pending.compute.

`dnf -C check-update` starts dnf and loads every repository into libsolv on the host at each scan; the
files it reads are on disk and the computation is small (bench/dnf_pending.py measures both). The configuration (dnf.conf, .repo
files, modules.d) is read here for every transport; the big repodata is read piece by piece on the host or
image, or filtered on a remote target. Whatever stops the computation (no cache of an enabled repository,
damaged metadata, unreadable rpm database, a compression without a decoder) is returned as a `fallback`
reason and the caller runs dnf as before: never a silent empty list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tenken.collectors.evidence import Source, SourceKind, sha256_hex
from tenken.collectors.linux.apt_lists import (
    CHUNK,
    MAX_FILE_BYTES,
    ListDecodeError,
    decoder_available,
    decompressed_chunks,
)
from tenken.collectors.linux.rpm_pending import RepoInput, RpmComputation, compute
from tenken.collectors.linux.rpm_repodata import (
    Nevra,
    RepodataError,
    parse_modules,
    parse_primary,
    parse_repomd,
    parse_updateinfo,
)
from tenken.collectors.linux.rpm_repos import (
    CACHE_DIR,
    CACHE_ROOTS,
    DNF_CONF,
    MODULES_DIR,
    MainConf,
    ModuleState,
    RepoConf,
    parse_main,
    parse_module_files,
    parse_repo_file,
)
from tenken.collectors.linux.rpmdb import (
    RPMDB_BDB_PATHS,
    RPMDB_NDB_PATHS,
    RPMDB_PATHS,
    RpmdbError,
    read_rpmdb_sqlite,
    rpmdb_format,
    unsupported_reason,
)
from tenken.collectors.linux.rpmdb_bdb import read_rpmdb_bdb
from tenken.collectors.probe import Probe
from tenken.collectors.transport.base import FileMissing, TransportError

#: rpm -qa query: one tab-separated line per installed package (the remote filter uses the same)
RPM_QF = r"%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n"
COMPRESSIONS = {".gz": ".gz", ".xz": ".xz", ".bz2": ".bz2", ".zst": ".zst", ".xml": "", ".yaml": ""}


@dataclass
class RpmConfig:
    main: MainConf
    repos: list[RepoConf]  # enabled ones
    modules: dict[str, ModuleState]
    roots: tuple[str, ...] = CACHE_ROOTS
    dirs: list[str] = field(default_factory=list)  # every `<root>/<id>-<hash>` directory there is
    cache: dict[str, str] = field(default_factory=dict)  # repo id -> cache dir path (see choose_cache)
    cache_mtime: dict[str, float] = field(default_factory=dict)  # repo id -> that directory's repomd.xml mtime
    skipped: list[str] = field(default_factory=list)  # enabled, not cached, skip_if_unavailable
    files: list[str] = field(default_factory=list)  # configuration files read


@dataclass
class RpmResult:
    computation: RpmComputation | None = None
    config: RpmConfig | None = None
    fallback: str | None = None
    how: str = ""
    no_advisories: list[str] = field(default_factory=list)  # repositories whose declared updateinfo is not cached


def parse_rpm_qa(text: str) -> list[Nevra]:
    """Lines of RPM_QF; gpg-pubkey pseudo-packages (no arch) and malformed lines are skipped."""
    out = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 5 or parts[4] in ("", "(none)") or parts[0] == "gpg-pubkey":
            continue
        epoch = parts[1]
        out.append(Nevra(parts[0], int(epoch) if epoch.isdigit() else 0, parts[2], parts[3], parts[4]))
    return out


def compression_of(href: str) -> str | None:
    for suffix, comp in COMPRESSIONS.items():
        if href.endswith(suffix):
            return comp
    return None


@dataclass(frozen=True)
class CacheListing:
    main: MainConf
    files: list[str]
    roots: tuple[str, ...]
    dirs: list[str]  # every `<root>/<id>-<hash>` directory there is


def read_listing(p: Probe) -> CacheListing:
    """dnf.conf and the cache directories there are. Read before any .repo file is parsed: over SSH this
    then travels in the scan's first batch, and the filter command (rpm_remote), whose arguments are those
    directories, in the second."""
    files: list[str] = []
    main = MainConf()
    for path in DNF_CONF:
        data = p.file(path)
        if data is not None:
            main = parse_main(data.decode("utf-8", "replace"), path)
            files.append(path)
            break
    roots = (main.cachedir,) if main.cachedir else CACHE_ROOTS
    dirs = [f"{root}/{n}" for root in roots for n in sorted(p.listdir(root) or []) if CACHE_DIR.match(n)]
    return CacheListing(main, files, roots, dirs)


def read_config(p: Probe, listing: CacheListing | None = None) -> RpmConfig | str:
    """The enabled repositories and module states on top of `listing`; or why not usable."""
    listing = listing or read_listing(p)
    main, files = listing.main, list(listing.files)
    repos: dict[str, RepoConf] = {}
    for d in main.reposdir:
        for n in sorted(p.listdir(d) or []):
            if not n.endswith(".repo"):
                continue
            data = p.file(f"{d}/{n}")
            if data is None:
                continue
            files.append(f"{d}/{n}")
            for r in parse_repo_file(data.decode("utf-8", "replace"), f"{d}/{n}"):
                repos.setdefault(r.id, r)
    mod_texts = {}
    for n in sorted(p.listdir(MODULES_DIR) or []):
        if n.endswith(".module"):
            data = p.file(f"{MODULES_DIR}/{n}")
            if data is not None:
                mod_texts[f"{MODULES_DIR}/{n}"] = data.decode("utf-8", "replace")
                files.append(f"{MODULES_DIR}/{n}")
    if not repos:
        return f"no repository defined in {', '.join(main.reposdir)}"
    return RpmConfig(main=main, repos=[r for r in repos.values() if r.enabled], modules=parse_module_files(mod_texts),
                     files=files, roots=listing.roots, dirs=listing.dirs)


def dnf_repo_of(directory: str) -> str | None:
    """The repository id of a dnf cache directory `<root>/<id>-<16 hex of the URL>`."""
    m = CACHE_DIR.match(directory.rsplit("/", 1)[-1])
    return m.group("id") if m else None


def choose_cache(cfg: RpmConfig, mtime: Callable[[str], float | None], *, repo_of: Callable[[str], str | None] = dnf_repo_of,
                 tool: str = "dnf") -> str | None:
    """Each enabled repository's cache directory among cfg.dirs (the newest repomd.xml when a changed URL or
    release left several), or why the computation cannot be complete: an enabled repository never cached
    (unless skip_if_unavailable: then it is left out and named in cfg.skipped)."""
    best: dict[str, tuple[float, str]] = {}
    for d in cfg.dirs:
        rid = repo_of(d)
        if rid is not None and (t := mtime(d)) is not None and (rid not in best or t > best[rid][0]):
            best[rid] = (t, d)
    missing = []
    for r in cfg.repos:
        if r.id in best:
            cfg.cache_mtime[r.id], cfg.cache[r.id] = best[r.id]
        else:
            (cfg.skipped if r.skip_if_unavailable else missing).append(r.id)
    if missing:
        return (f"enabled repositories without cached metadata in {' or '.join(cfg.roots)}: {', '.join(sorted(missing))} "
                f"(`{tool} makecache` never ran for them; {tool} -C fails the same way: run `{tool} makecache` on the host)")
    cfg.repos = [r for r in cfg.repos if r.id in cfg.cache]
    return None


def _stream(p: Probe, path: str, compression: str, digest: hashlib._Hash) -> Iterator[bytes]:
    def hashed(pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            digest.update(piece)
            yield piece

    yield from decompressed_chunks(compression, hashed(p.t.read_chunks(path, max_bytes=MAX_FILE_BYTES, chunk=CHUNK)))


def _read_repo(p: Probe, repo: RepoConf, path: str, wanted: set[str]) -> RepoInput | str:
    repomd_path = f"{path}/repodata/repomd.xml"
    raw = p.file(repomd_path, keep_raw=False)
    if raw is None:
        return f"{repomd_path} could not be read"
    try:
        hrefs = parse_repomd(raw)
    except RepodataError as exc:
        return f"{repomd_path}: {exc}"
    parts: dict[str, object] = {}
    for kind in ("primary", "updateinfo", "modules"):
        href = hrefs.get(kind)
        if href is None:
            continue
        comp = compression_of(href)
        if comp is None:
            return f"{path}/{href}: unknown compression (not gz, xz, bz2, zst or plain)"
        if not decoder_available(comp):
            return (f"{path}/{href}: no {comp[1:]} decoder on the scanning machine "
                    f"(install libzstd1 there, or scan the host over SSH, where its own `zstd` decodes it)")
        fpath = f"{path}/{href}"
        digest = hashlib.sha256()
        try:
            chunks = _stream(p, fpath, comp, digest)
            if kind == "primary":
                parts[kind] = parse_primary(chunks, wanted).packages
            elif kind == "updateinfo":
                parts[kind] = parse_updateinfo(chunks, wanted)
            else:
                parts[kind] = parse_modules(_lines(chunks))
        except TransportError as exc:
            p._fail(SourceKind.FILE, fpath, exc, None)
            return f"{fpath} could not be read"
        except (RepodataError, ListDecodeError) as exc:
            return f"{fpath}: {exc}"
        p.sources.append(Source(kind=SourceKind.FILE, ref=fpath, sha256=digest.hexdigest()))
    return RepoInput(repo, parts["primary"], parts.get("updateinfo", []), parts.get("modules"))  # type: ignore[arg-type]


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    rest = b""
    for c in chunks:
        rest += c
        *whole, rest = rest.split(b"\n")
        for line in whole:
            yield line.decode("utf-8", "replace")
    if rest:
        yield rest.decode("utf-8", "replace")


def installed_packages(p: Probe) -> list[Nevra] | str:
    """The rpm database: `rpm -qa` on a live host, the sqlite database read in-process on an offline root."""
    if p.t.can_run:
        res = p.command(["rpm", "-qa", "--qf", RPM_QF], keep_raw=False)
        if res is None or not res.ok:
            return "`rpm -qa` failed: the installed packages are unknown"
        got = parse_rpm_qa(res.text())
        return got or "`rpm -qa` listed no package"
    for path in RPMDB_PATHS:
        db = _read_big(p, path)
        if db is None:
            continue
        wal = _read_big(p, f"{path}-wal") if p.stat(f"{path}-wal") is not None else None
        try:
            rows = read_rpmdb_sqlite(db, wal, path=path)
        except RpmdbError as exc:
            return str(exc)
        return [Nevra(r.name, r.epoch, r.version, r.release, r.arch) for r in rows] or f"{path} lists no package"
    for path in RPMDB_BDB_PATHS:
        db = _read_big(p, path)
        if db is None:
            continue
        if rpmdb_format(db[:64]) != "bdb":
            return unsupported_reason(path, db[:64]) or f"{path}: not a Berkeley DB rpm database"
        try:
            rows = read_rpmdb_bdb(db, path=path)
        except RpmdbError as exc:
            return str(exc)
        return [Nevra(r.name, r.epoch, r.version, r.release, r.arch) for r in rows] or f"{path} lists no package"
    for path in RPMDB_NDB_PATHS:
        head = _read_big(p, path, limit=4096)
        if head is not None:
            return unsupported_reason(path, head) or f"{path}: an rpm database tenken cannot read offline"
    return f"no rpm database found ({', '.join(RPMDB_PATHS)})"


def _read_big(p: Probe, path: str, *, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """A file bigger than Probe.file's 8 MiB (an rpm database is 20-100 MB), recorded as a Source with its
    digest but kept out of the evidence excerpt. None when missing or unreadable (the error is recorded)."""
    try:
        data = p.t.read_file(path, max_bytes=limit)
    except FileMissing:
        return None
    except TransportError as exc:
        p._fail(SourceKind.FILE, path, exc, None)
        return None
    p.sources.append(Source(kind=SourceKind.FILE, ref=path, sha256=sha256_hex(data)))
    return data


def collect_rpm_files(p: Probe) -> RpmResult:
    """Pending updates from the host's or image's own files (see the module doc)."""
    cfg = read_config(p)
    if isinstance(cfg, str):
        return RpmResult(fallback=cfg)
    why = choose_cache(cfg, lambda d: st.mtime if (st := p.stat(f"{d}/repodata/repomd.xml")) is not None else None)
    if why is not None:
        return RpmResult(config=cfg, fallback=why)
    installed = installed_packages(p)
    if isinstance(installed, str):
        return RpmResult(config=cfg, fallback=installed)
    wanted = {n.name for n in installed}
    inputs = []
    for repo in cfg.repos:
        got = _read_repo(p, repo, cfg.cache[repo.id], wanted)
        if isinstance(got, str):
            return RpmResult(config=cfg, fallback=got)
        inputs.append(got)
    comp = p.compute(compute, installed, inputs, cfg.main, cfg.modules)
    return RpmResult(computation=comp, config=cfg, how="read on this host" if p.t.can_run else "read from the image")
