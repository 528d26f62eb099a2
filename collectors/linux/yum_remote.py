"""Pending yum updates of a remote RHEL/CentOS 7 host without running yum on it.

yum 3 keeps each repository's metadata under /var/cache/yum/$basearch/$releasever/<repo id>/: repomd.xml and
the downloaded files under their basenames, and the primary metadata as the sqlite database it was
published as, decompressed into gen/primary_db.sqlite (yum's misc.repo_gen_decompress), or, for a
repository that publishes no sqlite (EPEL, many vendor repositories), the one yum built from primary.xml,
gen/primary.xml.sqlite (yum-metadata-parser: the same tables). updateinfo is
downloaded lazily (once a security query ran) and kept compressed beside repomd.xml, or decompressed in
gen/updateinfo.xml. `yum -C check-update` starts yum and its plugins and loads the repositories' metadata
into Python for every scan (not measured here: no yum on Debian); the computation needs only the rows of
installed names.

So one POSIX sh script lists the installed packages with `rpm -qa`, asks the host's own `sqlite3` (RHEL 7's
`sqlite` package ships it, and yum needs the library) for the packages of those names and for the packages
that obsolete one of them, with the table's total row count as a completion mark, filters updateinfo with the
same awk program as the dnf script (rpm_remote.AWK_UPDATEINFO), and frames it all back gzipped. The scanner
applies yum.conf and the .repo files (exclude/includepkgs, obsoletes) and, only when yum-plugin-priorities
is enabled, repository priorities, then computes as for dnf (rpm_pending.compute, no modules on RHEL 7).

Checked against real dnf on the same repositories (tests/linux/test_yum_remote.py): no yum exists on the
Debian machine the tests run on, so yum's own answer could not be compared.
"""

from __future__ import annotations

import dataclasses

from tenken.collectors.linux.apt_remote import _BOUNDARY
from tenken.collectors.linux.rpm_files import RpmConfig, RpmResult, choose_cache
from tenken.collectors.linux.rpm_pending import RepoInput, compute
from tenken.collectors.linux.rpm_remote import AWK_UPDATEINFO, SH_FILTER, SH_HEAD, SH_INSTALLED, SH_TAIL, read_answer
from tenken.collectors.linux.rpm_repodata import Dep, Nevra, RepodataError, RepoPackage, parse_repomd, parse_updateinfo
from tenken.collectors.linux.rpm_repos import RepoConf, parse_dnf_ini, parse_main, parse_repo_file, truthy
from tenken.collectors.probe import Probe

YUM_CONF = "/etc/yum.conf"
YUM_REPOS_DIRS = ("/etc/yum.repos.d", "/etc/yum/repos.d")
DEFAULT_CACHEDIR = "/var/cache/yum/$basearch/$releasever"
#: every repository cache directory under the default cachedir
CACHE_GLOB = "/var/cache/yum/*/*/*"
PRIORITIES_CONF = "/etc/yum/pluginconf.d/priorities.conf"

#: after the installed list: the target's sqlite3 queried with the target's own package names, quoted by awk
#: (' doubled), and updateinfo filtered
_RUN_REST = r"""
  IN=$(awk -F '\t' 'BEGIN { q = "\047" } { n = $1; gsub(q, q q, n); s = s (NR > 1 ? "," : "") q n q } END { print "(" s ")" }' "$T")
  for d in $1; do
    [ -r "$d/repomd.xml" ] || continue
    h mtime "$d"; stat -c %Y -- "$d/repomd.xml"
    h repomd "$d"; cat -- "$d/repomd.xml"
    for db in "$d/gen/primary_db.sqlite" "$d/gen/primary.xml.sqlite"; do
      [ -r "$db" ] || continue
      h primarydb "$d"
      printf '%s\n' '.mode tabs' \
        "SELECT 'P', name, arch, epoch, version, release FROM packages WHERE name IN $IN;" \
        "SELECT 'O', p.name, p.arch, p.epoch, p.version, p.release, o.name, o.flags, o.epoch, o.version, o.release FROM obsoletes o JOIN packages p ON p.pkgKey = o.pkgKey WHERE o.name IN $IN;" \
        "SELECT 'N', count(*) FROM packages;" | sqlite3 -batch "$db" 2>/dev/null || h err "$db"
      break
    done
    for f in "$d"/*updateinfo.xml* "$d"/gen/updateinfo.xml; do
      [ -r "$f" ] || continue
      h updateinfo "$f"; filt "$f" "$U"
    done
  done
  h end -
}
"""
_RUN = "run() {\n" + SH_INSTALLED + _RUN_REST

#: Arguments: B, then the cache glob (expanded by the script: the scanner does not know $basearch/$releasever)
SCRIPT = SH_HEAD + AWK_UPDATEINFO + SH_FILTER + _RUN + SH_TAIL


def parse_primary_rows(text: str) -> list[RepoPackage]:
    """The script's sqlite answer: P rows (packages of installed names), O rows (a package and one of its
    Obsoletes), and the N row (every package the table holds), without which the answer is incomplete."""
    obsoletes: dict[Nevra, list[Dep]] = {}
    total = None
    for line in text.splitlines():
        f = line.split("\t")
        if f[0] == "N" and len(f) == 2 and f[1].isdecimal():
            total = int(f[1])
            continue
        if f[0] not in ("P", "O") or len(f) != (6 if f[0] == "P" else 11) or not (f[1] and f[2] and f[4] and f[5]):
            raise RepodataError(f"primary database: unexpected row {line[:120]!r}")
        nevra = Nevra(f[1], int(f[3]) if f[3].isdecimal() else 0, f[4], f[5], f[2])
        deps = obsoletes.setdefault(nevra, [])
        if f[0] == "O":
            deps.append(Dep(f[6], f[7] or None, int(f[8]) if f[8].isdecimal() else 0, f[9] or None, f[10] or None))
    if total is None:
        raise RepodataError("primary database: the answer has no row count (sqlite3 failed or was cut)")
    return [RepoPackage(n, tuple(d)) for n, d in obsoletes.items()]


def _priorities_enabled(p: Probe, main_opts: dict[str, str]) -> bool:
    """yum honours `priority=` only through yum-plugin-priorities: plugins=1 in yum.conf and enabled=1 in its
    plugin configuration (yum's own default for plugins is 0)."""
    if not truthy(main_opts.get("plugins"), False):
        return False
    data = p.file(PRIORITIES_CONF)
    return data is not None and truthy(parse_dnf_ini(data.decode("utf-8", "replace")).get("main", {}).get("enabled"), False)


def read_yum_config(p: Probe) -> RpmConfig | str:
    data = p.file(YUM_CONF)
    text = data.decode("utf-8", "replace") if data is not None else ""
    opts = parse_dnf_ini(text).get("main", {})
    main = parse_main(text, YUM_CONF)
    if not opts.get("reposdir"):
        main = dataclasses.replace(main, reposdir=YUM_REPOS_DIRS)
    if (main.cachedir or DEFAULT_CACHEDIR).rstrip("/") != DEFAULT_CACHEDIR:
        return f"{YUM_CONF} sets cachedir={main.cachedir}: only the default {DEFAULT_CACHEDIR} is read from the files"
    files = [YUM_CONF] if data is not None else []
    repos: dict[str, RepoConf] = {r.id: r for r in parse_repo_file(text, YUM_CONF)}  # [repo] sections in yum.conf
    for d in main.reposdir:
        for n in sorted(p.listdir(d) or []):
            if n.endswith(".repo") and (rd := p.file(f"{d}/{n}")) is not None:
                files.append(f"{d}/{n}")
                for r in parse_repo_file(rd.decode("utf-8", "replace"), f"{d}/{n}"):
                    repos.setdefault(r.id, r)
    if not repos:
        return f"no repository defined in {YUM_CONF} or {', '.join(main.reposdir)}"
    enabled = [r for r in repos.values() if r.enabled]
    if not _priorities_enabled(p, opts):
        enabled = [dataclasses.replace(r, priority=99) for r in enabled]
    return RpmConfig(main=main, repos=enabled, modules={}, files=files, roots=("/var/cache/yum",))


def yum_repo_of(directory: str) -> str:
    """The repository id of a yum cache directory `/var/cache/yum/<basearch>/<releasever>/<id>`."""
    return directory.rsplit("/", 1)[-1]


def choose_yum_cache(cfg: RpmConfig, mtimes: dict[str, float]) -> str | None:
    """rpm_files.choose_cache over yum's cache directories (those with a repomd.xml, and its mtime)."""
    cfg.dirs = sorted(mtimes)
    return choose_cache(cfg, mtimes.get, repo_of=yum_repo_of, tool="yum")


def collect_yum_remote(p: Probe) -> RpmResult:
    res = p.command(["sh", "-c", SCRIPT, "tenken-yum-filter", _BOUNDARY, CACHE_GLOB], keep_raw=False, timeout=120.0)
    cfg = read_yum_config(p)
    if isinstance(cfg, str):
        return RpmResult(fallback=cfg)
    if res is None:
        return RpmResult(config=cfg, fallback="the filtering script could not run on the target")
    got = read_answer(p, res, cfg, lambda mtimes: choose_yum_cache(cfg, mtimes), hint=" (sqlite3 missing on the host, or the database damaged)")
    if isinstance(got, RpmResult):
        return got
    rec, _mtimes, installed = got
    wanted = {n.name for n in installed}
    inputs, no_advisories = [], []
    for repo in cfg.repos:
        d = cfg.cache[repo.id]
        try:
            hrefs = parse_repomd(rec.get(("repomd", d), b""))
            rows = rec.get(("primarydb", d))
            if rows is None:
                return RpmResult(config=cfg, fallback=f"{d}: no gen/primary_db.sqlite or gen/primary.xml.sqlite "
                                                      f"(yum has not opened this repository's cache)")
            packages = p.compute(parse_primary_rows, rows.decode("utf-8", "replace"))
            advisories = []
            if (href := hrefs.get("updateinfo")) is not None:
                payload = rec.get(("updateinfo", f"{d}/{href.rsplit('/', 1)[-1]}"))
                if payload is None:
                    payload = rec.get(("updateinfo", f"{d}/gen/updateinfo.xml"))
                if payload is None:
                    no_advisories.append(repo.id)
                else:
                    advisories = p.compute(parse_updateinfo, [payload], wanted)
        except RepodataError as exc:
            return RpmResult(config=cfg, fallback=f"{d}: {exc}")
        inputs.append(RepoInput(repo, packages, advisories, None))
    comp = p.compute(compute, installed, inputs, cfg.main, {})
    where = "queried on this host with sqlite3" if p.t.is_local else "filtered on the target with sqlite3, computed on the scanner"
    how = f"{where}, {len(res.stdout)} bytes"
    return RpmResult(computation=comp, config=cfg, how=how, no_advisories=no_advisories)
