"""Real RHEL 9-like roots for the dnf/yum pending-update tests: a real rpm database, real repodata, a real
dnf cache, all at the paths a RHEL 9 host has them, so the files-only computation can be checked against
the real dnf (`dnf -C`) on the very same root.

build_root() writes, under ROOT:
  etc/os-release (RHEL 9.4), etc/dnf/dnf.conf, etc/yum.repos.d/tenken-test.repo, etc/dnf/modules.d/*.module,
  var/lib/rpm/rpmdb.sqlite (rpm -i --justdb of rpms built by rpmbuild),
  var/cache/dnf/<repoid>-<hash>/repodata/ (real `dnf makecache`, as on a host),
and the repositories themselves (rpms + createrepo_c repodata + updateinfo/modules via modifyrepo_c) in
ROOT's sibling directory `<ROOT>.repos/<repoid>/`, outside the root, referenced by file:// baseurls.

Built rpms are cached by their full definition in /tmp/tenken-rpmcache-<uid>/ (or $TENKEN_RPM_CACHE);
the key includes the rpm version, so a stale cache is never reused across rpm upgrades.

rpm and dnf both read their database path from the macro `_dbpath`, which Debian's rpm sets to ~/.rpmdb.
Every rpm/rpmbuild/dnf run here gets HOME=<private dir> whose .rpmmacros sets `%_dbpath /var/lib/rpm`, so
both use ROOT/var/lib/rpm and nothing under the real HOME.

What this Debian dnf (4.14.0 with libdnf 0.69.0, createrepo_c 0.17.3) does, each point pinned by a test in
tests/linux/test_rpm_fixture.py:
- modules: modular filtering works. modules.yaml with nodejs:18 and nodejs:20 (each listing its own
  artifacts) and etc/dnf/modules.d/nodejs.module enabling 18: check-update offers only 1:18.20.2, never the
  higher 1:20.12.2 of stream 20; enabling 20 offers 20.12.2 instead. With no stream enabled and no default,
  or the module disabled, every modular package is hidden (nothing offered). A modulemd-defaults stream counts
  as enabled. A non-modular nodejs in a plain repo is masked by the module; module_hotfixes=1 on a repo
  lifts the mask for that repo. (test_two_streams_only_enabled_stream_offered, test_default_stream_and_module_hotfixes)
- obsoletes: check-update prints "Obsoleting Packages", then the obsoleting package with its repo and,
  indented by four spaces, the installed package it obsoletes with repo @System. (test_obsoleting_package_listed)
- excludes: excludepkgs in dnf.conf [main] and in a repo section (globs too) hide the package; includepkgs
  on a repo limits that repo to the listed names; an enabled=0 repo is ignored. (test_excluded_not_offered)
- priority: a repo with a lower priority= number wins for the names it carries, even with a lower version
  (a-1.1 from priority 10 is offered, not a-2.0 from priority 99); names only in the other repo still come
  from there. (test_priority_repo_wins)
- updateinfo: `updateinfo list --security` lists a security advisory only when an installed package is
  older than a package of its pkglist, one line per package: id, "<severity>/Sec.", NEVRA (epoch shown only
  when non-zero). bugfix advisories and ones older than the installed set appear only with --all.
  (test_updateinfo_security)
- compression: gz, xz and bz2 repodata; createrepo_c 0.17.3 cannot write zstd (it arrived in 0.20), so
  compress="zst" raises. (test_compression)
- the cache: makecache stores primary, filelists (and updateinfo/modules when present, not other) under
  ROOT/var/cache/dnf/<repoid>-<16 hex>/repodata/ plus <repoid>.solv files, as on a RHEL host; `dnf -C`
  answers from it with the repository directory deleted. (test_layout_is_a_rhel9_host, test_cache_only_and_host_untouched)
- paths: under --installroot, cachedir/logdir/persistdir from dnf.conf or the defaults are prefixed with the
  root, but a --setopt=cachedir=/var/cache/dnf is NOT (it wrote repo caches to the host's /var/cache/dnf),
  so no path option is passed with --setopt except reposdir and varsdir, whose values are host paths.
- no root needed: dnf -C and makecache work as nobody on a root that nobody owns. An unprivileged dnf
  defaults cachedir to /var/tmp/dnf-<user>-*/ (which would land at ROOT/var/tmp/...), so makecache gets a
  copy of ROOT's dnf.conf with cachedir=/var/cache/dnf; dnf -C reads system_cachedir (/var/cache/dnf) for
  every user. An unprivileged dnf always creates its lock directory /var/tmp/dnf-<user>-*/locks on the HOST
  (dnf's own behaviour). (test_dnf_works_unprivileged)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

RHEL9_OS_RELEASE = """NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
ANSI_COLOR="0;31"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
HOME_URL="https://www.redhat.com/"
DOCUMENTATION_URL="https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/9"
BUG_REPORT_URL="https://bugzilla.redhat.com/"
REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 9"
REDHAT_BUGZILLA_PRODUCT_VERSION=9.4
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.4"
"""

REPO_FILE = "etc/yum.repos.d/tenken-test.repo"
DBPATH = "/var/lib/rpm"
CACHEDIR = "/var/cache/dnf"
COMPRESS = {"gz": "gz", "xz": "xz", "zst": "zstd", "bz2": "bz2"}  # build_root(compress=) -> createrepo_c name


@dataclass(frozen=True)
class Pkg:
    name: str
    version: str
    release: str = "1.el9"
    epoch: int = 0
    arch: str = "noarch"
    obsoletes: tuple[str, ...] = ()  # rpm Obsoletes: strings, e.g. ("oldname < 2.0",)
    provides: tuple[str, ...] = ()

    @property
    def nevra(self) -> str:
        ep = f"{self.epoch}:" if self.epoch else ""
        return f"{self.name}-{ep}{self.version}-{self.release}.{self.arch}"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.{self.arch}.rpm"


@dataclass(frozen=True)
class Advisory:  # one updateinfo.xml <update>
    id: str
    type: str = "security"
    severity: str = "Important"
    packages: tuple[Pkg, ...] = ()
    module: tuple[str, str, str, str, str] | None = None  # (name, stream, version, context, arch) of a modular advisory
    issued: str = "2024-05-01 00:00:00"


@dataclass(frozen=True)
class Repo:
    id: str
    packages: tuple[Pkg, ...]
    advisories: tuple[Advisory, ...] = ()
    modules_yaml: str | None = None
    enabled: bool = True
    options: dict[str, str] = field(default_factory=dict)  # excludepkgs, includepkgs, priority, module_hotfixes ...


# -- private HOME with the rpm macros ------------------------------------------------------------------------


@cache
def _home() -> Path:
    """A private HOME whose .rpmmacros makes Debian's rpm (and dnf through python3-rpm) use /var/lib/rpm."""
    home = _cache_dir() / "home"
    home.mkdir(exist_ok=True)
    macros = f"%_dbpath {DBPATH}\n%_db_backend sqlite\n"
    if not (home / ".rpmmacros").is_file() or (home / ".rpmmacros").read_text(encoding="utf-8") != macros:
        (home / ".rpmmacros").write_text(macros, encoding="utf-8")
    return home


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RPM", "DNF", "YUM"))}
    env.update(HOME=str(_home()), LC_ALL="C.UTF-8", LANG="C.UTF-8", TZ="UTC")
    return env


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=False, **kw)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}")
    return res


# -- rpmbuild, cached by definition --------------------------------------------------------------------------


@cache
def _rpm_version() -> str:
    return subprocess.run(["rpm", "--version"], capture_output=True, text=True, check=True).stdout.strip()


def _cache_dir() -> Path:
    d = Path(os.environ.get("TENKEN_RPM_CACHE") or f"/tmp/tenken-rpmcache-{os.getuid()}")
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = d.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise RuntimeError(f"{d} is not a private directory of uid {os.getuid()}; remove it or set TENKEN_RPM_CACHE")
    return d


def _spec(p: Pkg) -> str:
    lines = [f"Name: {p.name}", f"Version: {p.version}", f"Release: {p.release}"]
    if p.epoch:
        lines.append(f"Epoch: {p.epoch}")
    lines += ["Summary: tenken test package", "License: MIT", "URL: https://example.org/tenken"]
    if p.arch == "noarch":
        lines.append("BuildArch: noarch")
    lines += [f"Obsoletes: {o}" for o in p.obsoletes]
    lines += [f"Provides: {v}" for v in p.provides]
    lines += ["", "%description", f"{p.name}, a tenken test package.", "", "%files", ""]
    return "\n".join(lines)


def build_rpm(p: Pkg) -> Path:
    """The rpm file of `p`, built by rpmbuild once per definition (and rpm version), then taken from the cache."""
    spec = _spec(p)
    key = hashlib.sha256(f"{_rpm_version()}\n{p.arch}\n{spec}".encode()).hexdigest()[:24]
    out = _cache_dir() / key / p.filename
    if out.is_file():
        return out
    with tempfile.TemporaryDirectory(prefix="tenken-rpmbuild-") as tmp:
        t = Path(tmp)
        (t / "p.spec").write_text(spec, encoding="utf-8")
        cmd = ["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {t}/top", "--define", f"_rpmdir {t}/out",
               "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
               "--define", "_source_date_epoch_from_changelog 0", "--define", "use_source_date_epoch_as_buildtime 1",
               "--define", "_buildhost tenken-test.example.org"]
        if p.arch != "noarch":
            cmd += ["--target", p.arch]
        _run([*cmd, str(t / "p.spec")], cwd=t)
        built = t / "out" / p.filename
        if not built.is_file():
            raise RuntimeError(f"rpmbuild did not write {built}: {sorted(x.name for x in (t / 'out').rglob('*'))}")
        out.parent.mkdir(exist_ok=True)
        staged = out.parent / f".{p.filename}.{os.getpid()}"
        shutil.copyfile(built, staged)
        os.replace(staged, out)  # atomic: a parallel run sees the whole file or none
    return out


# -- repodata ------------------------------------------------------------------------------------------------


def updateinfo_xml(advisories: Iterable[Advisory]) -> str:
    """updateinfo.xml as Red Hat / createrepo tooling writes it (the shape dnf and libdnf read)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<updates>"]
    for a in advisories:
        out.append(f'  <update from="security@redhat.com" status="final" type={quoteattr(a.type)} version="4">')
        out.append(f"    <id>{escape(a.id)}</id>")
        out.append(f"    <title>{escape(a.id)}: {escape(a.severity)} update</title>")
        out.append(f'    <issued date="{a.issued}"/>')
        out.append(f'    <updated date="{a.issued}"/>')
        out.append("    <rights>Copyright 2024 Red Hat Inc</rights>")
        out.append("    <release>Red Hat Enterprise Linux 9</release>")
        out.append(f"    <severity>{escape(a.severity)}</severity>")
        out.append(f"    <summary>{escape(a.id)}</summary>")
        out.append(f"    <description>{escape(a.id)} fixes security issues.</description>")
        out.append("    <references/>")
        out.append("    <pkglist>")
        short = a.id.lower().replace(":", "-")
        out.append(f'      <collection short="{escape(short)}">')
        out.append(f"        <name>{escape(a.id)}</name>")
        if a.module is not None:
            name, stream, version, context, arch = a.module
            out.append(f"        <module name={quoteattr(name)} stream={quoteattr(stream)} version={quoteattr(version)} "
                       f"context={quoteattr(context)} arch={quoteattr(arch)}/>")
        for p in a.packages:
            src = f"{p.name}-{p.version}-{p.release}.src.rpm"
            out.append(f"        <package name={quoteattr(p.name)} version={quoteattr(p.version)} "
                       f"release={quoteattr(p.release)} epoch=\"{p.epoch}\" arch={quoteattr(p.arch)} src={quoteattr(src)}>")
            out.append(f"          <filename>{escape(p.filename)}</filename>")
            out.append("        </package>")
        out.append("      </collection>")
        out.append("    </pkglist>")
        out.append("  </update>")
    out.append("</updates>")
    return "\n".join(out) + "\n"


def modulemd(name: str, stream: str, version: str, context: str, arch: str, artifacts: Iterable[Pkg],
             *, profile: str = "common") -> str:
    """One modulemd v2 document (the form RHEL's modules.yaml carries), artifacts as name-epoch:version-release.arch."""
    arts = list(artifacts)
    rpms = sorted({p.name for p in arts})
    lines = ["---", "document: modulemd", "version: 2", "data:", f"  name: {name}", f'  stream: "{stream}"',
             f"  version: {version}", f"  context: {context}", f"  arch: {arch}", f"  summary: {name} module",
             "  description: >-", f"    {name} {stream} module stream.", "  license:", "    module:", "    - MIT",
             "  dependencies:", "  - buildrequires:", "      platform: [el9]", "    requires:", "      platform: [el9]",
             "  profiles:", f"    {profile}:", "      rpms:", *[f"      - {r}" for r in rpms],
             "  components:", "    rpms:"]
    for r in rpms:
        lines += [f"      {r}:", "        rationale: module component", f"        ref: {stream}"]
    lines += ["  artifacts:", "    rpms:",
              *[f"    - {p.name}-{p.epoch}:{p.version}-{p.release}.{p.arch}" for p in arts], "..."]
    return "\n".join(lines) + "\n"


def module_defaults(name: str, stream: str, *, profile: str = "common") -> str:
    """A modulemd-defaults v1 document: `stream` is the module's default stream."""
    return (f"---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: {name}\n  stream: \"{stream}\"\n"
            f"  profiles:\n    \"{stream}\": [{profile}]\n...\n")


@cache
def _createrepo_version() -> str:
    return subprocess.run(["createrepo_c", "--version"], capture_output=True, text=True, check=False).stdout.strip()


@cache
def compression_supported(compress: str) -> bool:
    """Whether this createrepo_c writes `compress` (Debian 12's 0.17.3 writes gz, bz2, xz; zstd came in 0.20)."""
    with tempfile.TemporaryDirectory(prefix="tenken-createrepo-") as tmp:
        res = subprocess.run(["createrepo_c", "--quiet", "--no-database", f"--general-compress-type={COMPRESS[compress]}", tmp],
                             capture_output=True, text=True, check=False, env=_env())
        return res.returncode == 0


def make_repo(repo: Repo, directory: Path, *, compress: str = "gz", database: bool = False) -> Path:
    """`directory` as a real yum repository: the rpms, createrepo_c repodata, updateinfo and modules added;
    `database`: also the sqlite databases (*-primary.sqlite.bz2 ...) yum 3 (RHEL 7) reads."""
    ctype = COMPRESS[compress]
    if not compression_supported(compress):
        raise RuntimeError(f"createrepo_c {_createrepo_version()} cannot write {ctype}-compressed repodata")
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "Packages").mkdir(parents=True)
    for p in repo.packages:
        src = build_rpm(p)
        dst = directory / "Packages" / p.filename
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    _run(["createrepo_c", "--quiet", "--database" if database else "--no-database", f"--general-compress-type={ctype}",
          "--revision", "1714521600", "--set-timestamp-to-revision", str(directory)])
    repodata = directory / "repodata"
    if repo.advisories:
        f = directory / "updateinfo.xml"
        f.write_text(updateinfo_xml(repo.advisories), encoding="utf-8")
        _run(["modifyrepo_c", "--mdtype", "updateinfo", f"--compress-type={ctype}", str(f), str(repodata)])
        f.unlink()
    if repo.modules_yaml is not None:
        f = directory / "modules.yaml"
        f.write_text(repo.modules_yaml, encoding="utf-8")
        _run(["modifyrepo_c", "--mdtype", "modules", f"--compress-type={ctype}", str(f), str(repodata)])
        f.unlink()
    return directory


# -- the root ------------------------------------------------------------------------------------------------


def _ini(sections: list[tuple[str, dict[str, str]]]) -> str:
    return "\n".join(f"[{name}]\n" + "".join(f"{k}={v}\n" for k, v in body.items()) for name, body in sections)


def repos_dir(root: Path) -> Path:
    """Where build_root keeps the repositories of `root`: a sibling directory, outside the root."""
    return root.parent / f"{root.name}.repos"


def build_root(root: Path, *, installed: Iterable[Pkg], repos: Iterable[Repo], dnf_conf: dict[str, str] | None = None,
               module_state: dict[str, tuple[str, str]] | None = None,  # module -> (stream, "enabled"|"disabled")
               os_release: str = RHEL9_OS_RELEASE, cache: bool = True, compress: str = "gz",
               database: bool = False) -> Path:
    root = root.resolve()
    installed, repos = list(installed), list(repos)
    for rel in ("etc/dnf/modules.d", "etc/yum.repos.d", "etc/dnf/vars", "var/lib/dnf", "var/log", CACHEDIR[1:]):
        (root / rel).mkdir(parents=True, exist_ok=True)
    (root / "etc/os-release").write_text(os_release, encoding="utf-8")
    (root / "etc/redhat-release").write_text("Red Hat Enterprise Linux release 9.4 (Plow)\n", encoding="utf-8")
    (root / "etc/dnf/dnf.conf").write_text(_ini([("main", {"gpgcheck": "0", "installonly_limit": "3",
                                                           "clean_requirements_on_remove": "True", "best": "True",
                                                           "skip_if_unavailable": "False", **(dnf_conf or {})})]),
                                           encoding="utf-8")
    for name, (stream, state) in (module_state or {}).items():
        (root / f"etc/dnf/modules.d/{name}.module").write_text(
            f"[{name}]\nname={name}\nstream={stream}\nprofiles=\nstate={state}\n", encoding="utf-8")

    sections = []
    for r in repos:
        d = make_repo(r, repos_dir(root) / r.id, compress=compress, database=database)
        sections.append((r.id, {"name": f"tenken test repository {r.id}", "baseurl": d.as_uri(),
                                "enabled": "1" if r.enabled else "0", "gpgcheck": "0", **r.options}))
    (root / REPO_FILE).write_text(_ini(sections), encoding="utf-8")

    rpmdb = root / DBPATH[1:]
    if rpmdb.exists():
        shutil.rmtree(rpmdb)
    rpmdb.mkdir(parents=True)
    base = ["rpm", "--root", str(root), "--dbpath", DBPATH, "--define", f"_dbpath {DBPATH}"]
    _run([*base, "--initdb"])
    files = [str(build_rpm(p)) for p in installed]
    if files:
        _run([*base, "-i", "--justdb", "--nodeps", "--noscripts", "--notriggers", "--nosignature", "--nodigest",
              "--ignorearch", "--ignoreos", "--ignoresize", *files])
    if cache:
        dnf(root, "makecache", cacheonly=False)
    return root


# -- real dnf against the root -------------------------------------------------------------------------------


def _makecache_conf(root: Path) -> Path:
    """ROOT's dnf.conf plus cachedir=/var/cache/dnf, kept outside the root.

    dnf's default cachedir is /var/cache/dnf only for root; an unprivileged dnf would cache under
    ROOT/var/tmp/dnf-<user>-*/ instead. A cachedir from the config file is prefixed with the installroot
    (a --setopt=cachedir is not: it would write to the host's /var/cache/dnf), so this keeps the cache at
    ROOT/var/cache/dnf/ for every user. `dnf -C` reads system_cachedir (/var/cache/dnf) for every user.
    """
    text = (root / "etc/dnf/dnf.conf").read_text(encoding="utf-8")
    if "\ncachedir=" not in text:
        text = text.replace("[main]\n", f"[main]\ncachedir={CACHEDIR}\n", 1)
    out = _home() / f"makecache-{hashlib.sha256(str(root).encode()).hexdigest()[:16]}.conf"
    out.write_text(text, encoding="utf-8")
    return out


def dnf_command(root: Path, *args: str, cacheonly: bool = True) -> list[str]:
    root = root.resolve()
    conf = root / "etc/dnf/dnf.conf" if cacheonly else _makecache_conf(root)
    return ["dnf", f"--installroot={root}", "-c", str(conf), f"--setopt=reposdir={root}/etc/yum.repos.d",
            f"--setopt=varsdir={root}/etc/dnf/vars", "--releasever=9", "--forcearch=x86_64", "--noplugins",
            "--nogpgcheck", "-y", *(["-C"] if cacheonly else []), *args]


def dnf(root: Path, *args: str, cacheonly: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real dnf (cache only unless cacheonly=False) against `root`; never the host's config or repos."""
    return subprocess.run(dnf_command(root, *args, cacheonly=cacheonly), capture_output=True, text=True,
                          env=_env(), check=False, stdin=subprocess.DEVNULL, timeout=300)


def _ok(res: subprocess.CompletedProcess[str], accept: tuple[int, ...] = (0,)) -> str:
    if res.returncode not in accept:
        raise RuntimeError(f"{' '.join(res.args)} exited {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}")
    return res.stdout


def dnf_check_update(root: Path) -> str:
    """stdout of `dnf -q -C check-update` (exit 100 = updates available, 0 = none)."""
    return _ok(dnf(root, "-q", "check-update"), (0, 100))


def dnf_updateinfo_security(root: Path) -> str:
    """stdout of `dnf -q -C updateinfo list --security`: the security advisories for installed packages."""
    return _ok(dnf(root, "-q", "updateinfo", "list", "--security"))


def dnf_installed(root: Path) -> list[str]:
    """NEVRAs dnf sees as installed (`dnf -C repoquery --installed`), sorted."""
    out = _ok(dnf(root, "-q", "repoquery", "--installed", "--qf", "%{name}-%{epoch}:%{version}-%{release}.%{arch}"))
    return sorted(line for line in out.splitlines() if line)


# -- RHEL 7: yum 3's metadata cache ----------------------------------------------------------------------------

RHEL7_OS_RELEASE = """NAME="Red Hat Enterprise Linux Server"
VERSION="7.9 (Maipo)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="7.9"
PRETTY_NAME="Red Hat Enterprise Linux Server 7.9 (Maipo)"
CPE_NAME="cpe:/o:redhat:enterprise_linux:7.9:GA:server"
"""


def yum_cache(root: Path, *, basearch: str = "x86_64", releasever: str = "7Server", with_updateinfo: bool = True,
              built_by_yum: Iterable[str] = ()) -> None:
    """ROOT/var/cache/yum/<basearch>/<releasever>/<repo id>/ laid out as yum 3 leaves it after `yum makecache`
    (no yum exists on Debian to write it): repomd.xml and each downloaded file under its basename next to it,
    and the sqlite databases decompressed into gen/<type>_db.sqlite (yum's misc.repo_gen_decompress; the
    layout is documented by RHEL's Deployment Guide "Working with Yum Cache" and seen in `du` listings of
    real hosts: /var/cache/yum/x86_64/7/updates/gen/primary_db.sqlite). updateinfo is fetched lazily by
    yum (only once a security query ran); `with_updateinfo=False` leaves it out, as on many hosts. The repositories
    in `built_by_yum` stand for ones that publish no sqlite: yum then builds gen/primary.xml.sqlite from
    primary.xml itself (yum-metadata-parser writes the same tables, so the createrepo_c database stands in)."""
    import bz2
    import gzip
    import lzma

    (root / "etc/yum.repos.d").mkdir(parents=True, exist_ok=True)
    for d in sorted(repos_dir(root).iterdir()):
        repodata = d / "repodata"
        if not (repodata / "repomd.xml").is_file():
            continue
        cache = root / "var/cache/yum" / basearch / releasever / d.name
        (cache / "gen").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(repodata / "repomd.xml", cache / "repomd.xml")
        for f in repodata.iterdir():
            if f.name == "repomd.xml" or ("updateinfo" in f.name and not with_updateinfo):
                continue
            if "-primary.sqlite" in f.name or "-primary.xml" in f.name or "updateinfo" in f.name:
                shutil.copyfile(f, cache / f.name)
            if "-primary.sqlite" in f.name:
                opener = {".bz2": bz2.open, ".gz": gzip.open, ".xz": lzma.open}[f.suffix]
                gen = "gen/primary.xml.sqlite" if d.name in set(built_by_yum) else "gen/primary_db.sqlite"
                with opener(f, "rb") as src, open(cache / gen, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        (cache / "cachecookie").write_text("", encoding="utf-8")
