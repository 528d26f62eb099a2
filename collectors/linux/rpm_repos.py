"""dnf/yum configuration as files: which repositories are enabled, what is excluded, which module streams are on.

The pending-updates computation (rpm_pending.py) must see the repositories exactly as dnf would: enabled ones
only, each with its excludes/includes and priority, the [main] excludes of dnf.conf, and the module states
dnf recorded under /etc/dnf/modules.d. All of it is plain INI read from the host's files; nothing runs.

dnf's INI differs from Python's configparser in ways that matter here: section names (repository ids) keep
their case (`[AppStream]` on CentOS 8 caches as `AppStream-<hash>`), an indented line continues the previous
value (baseurl lists), and `#`/`;` start a comment only at the beginning of a line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

DNF_CONF = ("/etc/dnf/dnf.conf", "/etc/yum.conf")
REPOS_DIRS = ("/etc/yum.repos.d", "/etc/distro.repos.d", "/etc/yum/repos.d")
MODULES_DIR = "/etc/dnf/modules.d"
#: dnf 4 (RHEL 8-10, Fedora < 41) and dnf 5 (Fedora 41+) keep each repository's metadata at <root>/<id>-<hash>/repodata
CACHE_ROOTS = ("/var/cache/dnf", "/var/cache/libdnf5")

_TRUE = frozenset({"1", "yes", "true", "on"})
CACHE_DIR = re.compile(r"^(?P<id>.+)-(?P<hash>[0-9a-f]{16})$")


def parse_dnf_ini(text: str) -> dict[str, dict[str, str]]:
    """Sections (case kept) of lower-cased key = value; indented lines continue a value; `#`/`;` lines dropped."""
    out: dict[str, dict[str, str]] = {}
    section: dict[str, str] | None = None
    key: str | None = None
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith(("#", ";")):
            continue
        if raw[0] in " \t" and section is not None and key is not None:
            section[key] = f"{section[key]} {raw.strip()}".strip()
            continue
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = out.setdefault(line[1:-1].strip(), {})
            key = None
            continue
        if "=" in line and section is not None:
            k, _, v = line.partition("=")
            key = k.strip().lower()
            section[key] = v.strip()
    return out


def truthy(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in _TRUE


def split_list(value: str | None) -> tuple[str, ...]:
    """dnf list options (excludepkgs, includepkgs): separated by commas and/or whitespace."""
    return tuple(v for v in re.split(r"[\s,]+", value or "") if v)


@dataclass(frozen=True)
class MainConf:
    """What of dnf.conf's [main] changes which updates dnf offers."""

    excludes: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    obsoletes: bool = True
    reposdir: tuple[str, ...] = REPOS_DIRS
    cachedir: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class RepoConf:
    id: str
    enabled: bool
    source: str  # the .repo file that defines it
    priority: int = 99
    excludes: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    module_hotfixes: bool = False
    skip_if_unavailable: bool = False


@dataclass(frozen=True)
class ModuleState:
    name: str
    stream: str | None
    state: str  # enabled | disabled | "" (dnf writes an empty state after a reset)


def parse_main(text: str, source: str) -> MainConf:
    main = parse_dnf_ini(text).get("main", {})
    excludes = split_list(main.get("excludepkgs")) + split_list(main.get("exclude"))
    reposdir = split_list(main.get("reposdir")) or REPOS_DIRS
    return MainConf(
        excludes=excludes, includes=split_list(main.get("includepkgs")), obsoletes=truthy(main.get("obsoletes"), True),
        reposdir=reposdir, cachedir=main.get("cachedir") or None, source=source,
    )


def _priority(value: str | None) -> int:
    try:
        return int((value or "99").strip())
    except ValueError:
        return 99


def parse_repo_file(text: str, source: str) -> list[RepoConf]:
    repos = []
    for rid, opts in parse_dnf_ini(text).items():
        if rid == "main":
            continue
        repos.append(RepoConf(
            id=rid, enabled=truthy(opts.get("enabled"), True), source=source, priority=_priority(opts.get("priority")),
            excludes=split_list(opts.get("excludepkgs")) + split_list(opts.get("exclude")),
            includes=split_list(opts.get("includepkgs")), module_hotfixes=truthy(opts.get("module_hotfixes"), False),
            skip_if_unavailable=truthy(opts.get("skip_if_unavailable"), False),
        ))
    return repos


def parse_module_files(files: Mapping[str, str]) -> dict[str, ModuleState]:
    """/etc/dnf/modules.d/*.module: `[name] name= stream= profiles= state=` as dnf writes them."""
    out: dict[str, ModuleState] = {}
    for _path, text in sorted(files.items()):
        for sect, opts in parse_dnf_ini(text).items():
            name = opts.get("name") or sect
            out[name] = ModuleState(name=name, stream=opts.get("stream") or None, state=(opts.get("state") or "").lower())
    return out


@dataclass(frozen=True)
class PackageFilter:
    """dnf's excludepkgs/includepkgs for one repository (its own plus [main]'s)."""

    excludes: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    _memo: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def hides(self, name: str, arch: str, version: str, release: str, epoch: int = 0) -> bool:
        if not self.excludes and not self.includes:
            return False
        key = f"{name}\0{arch}\0{epoch}:{version}-{release}"
        hit = self._memo.get(key)
        if hit is None:
            vr = f"{version}-{release}"
            forms = [name, f"{name}.{arch}", f"{name}-{version}", f"{name}-{vr}", f"{name}-{vr}.{arch}"]
            if epoch:
                forms += [f"{name}-{epoch}:{vr}", f"{name}-{epoch}:{vr}.{arch}"]
            excluded = any(fnmatchcase(f, pat) for pat in self.excludes for f in forms)
            included = not self.includes or any(fnmatchcase(f, pat) for pat in self.includes for f in forms)
            hit = self._memo[key] = excluded or not included
        return hit
