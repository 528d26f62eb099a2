"""Pending dnf updates computed from files, as `dnf check-update` and `dnf updateinfo list --security` would list them.

Inputs are what dnf itself reads: the installed packages (rpm database), the enabled repositories' cached
repodata (primary, updateinfo, modules), dnf.conf and the .repo files (excludes, includes, priority,
module_hotfixes, obsoletes) and the module states in /etc/dnf/modules.d. The steps follow libdnf's:

1. excludes/includes of [main] and of each repository hide packages;
2. modular filtering (libdnf `dnf_sack_filter_modules_v2`): a package listed as an artifact of any module
   stream is shown only when that stream is active (enabled in modules.d, or the repository's default
   stream of a module with no recorded state); a non-modular package with the name of an active stream's
   package is hidden (so `nodejs` from the plain repository does not "upgrade" a module's nodejs), unless
   its repository sets module_hotfixes. Without this a RHEL 8/9 AppStream host would show every other
   stream's versions as pending;
3. priority: for each name only the packages of the best-priority (lowest number) repositories count, of
   any arch (checked against dnf: an x86_64-only name in a better repository hides another's i686 build);
4. an installed name.arch is pending when the newest candidate of the same name (same arch, or noarch on
   either side) is newer than the newest installed one (rpmvercmp on epoch, version, release);
5. obsoletes (unless `obsoletes=0`): an available package whose Obsoletes matches an installed package
   replaces it;
6. security: an advisory of type security applies when it names a package (name.arch) newer than the
   installed one; a modular advisory only when its stream is active. An update is a security update when
   an applicable advisory names its package.

What is not modelled, and said so in the source text of the facts: dependency resolution (an update
dnf could not install for a conflict is still listed, as `check-update` lists it too) and module stream
dependencies beyond what modules.d records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tenken.collectors.linux.rpm_repodata import Dep, Modules, Nevra, RepoPackage, UpdateAdvisory, nevra_name
from tenken.collectors.linux.rpm_repos import MainConf, ModuleState, PackageFilter, RepoConf
from tenken.collectors.linux.rpmvercmp import evr_cmp, vercmp

NOARCH = "noarch"


@dataclass(frozen=True)
class RepoInput:
    conf: RepoConf
    packages: list[RepoPackage]
    advisories: list[UpdateAdvisory] = field(default_factory=list)
    modules: Modules | None = None


@dataclass(frozen=True)
class RpmUpgrade:
    installed: Nevra
    candidate: Nevra
    repo: str
    security: bool = False
    obsoletes: bool = False  # the candidate is another package that obsoletes the installed one


@dataclass(frozen=True)
class AppliedAdvisory:
    id: str
    severity: str | None
    package: Nevra


@dataclass
class RpmComputation:
    upgrades: list[RpmUpgrade]
    advisories: list[AppliedAdvisory]
    active_streams: list[str]  # name:stream of every active module stream
    hidden_modular: int  # packages hidden by modular filtering (evidence that it ran)


def _key(n: Nevra) -> tuple[int, str, str]:
    return (n.epoch, n.version, n.release)


def newer(a: Nevra, b: Nevra) -> bool:
    return evr_cmp(_key(a), _key(b)) > 0


def _arch_ok(installed: str, candidate: str) -> bool:
    return installed == candidate or NOARCH in (installed, candidate)


def _satisfies(n: Nevra, dep: Dep) -> bool:
    """Does package `n` match an Obsoletes entry (name plus optional LT/LE/EQ/GE/GT version)?"""
    if n.name != dep.name:
        return False
    if not dep.flags or dep.version is None:
        return True
    # a constraint without release compares the version only (rpm's rangesOverlap)
    c = evr_cmp(_key(n), (dep.epoch, dep.version, dep.release)) if dep.release else (
        (1 if n.epoch > dep.epoch else -1) if n.epoch != dep.epoch else vercmp(n.version, dep.version))
    return {"LT": c < 0, "LE": c <= 0, "EQ": c == 0, "GE": c >= 0, "GT": c > 0}.get(dep.flags, False)


def _artifact_key(n: Nevra) -> str:
    return f"{n.name}-{n.epoch}:{n.version}-{n.release}.{n.arch}"


def active_streams(repos: Iterable[RepoInput], state: Mapping[str, ModuleState]) -> set[tuple[str, str]]:
    """(module, stream) pairs dnf treats as active: enabled ones, and defaults of modules with no state."""
    defaults: dict[str, str] = {}
    for r in repos:
        if r.modules is not None:
            defaults.update(r.modules.defaults)
    active = {(m.name, m.stream) for m in state.values() if m.state == "enabled" and m.stream}
    for mod, stream in defaults.items():
        st = state.get(mod)
        if st is None or st.state == "":
            active.add((mod, stream))
    return active


def _modular_filter(repos: list[RepoInput], state: Mapping[str, ModuleState]) -> tuple[list[list[RepoPackage]], set[tuple[str, str]], int]:
    active = active_streams(repos, state)
    include: set[str] = set()
    exclude: set[str] = set()
    for r in repos:
        if r.modules is None:
            continue
        for s in r.modules.streams:
            (include if (s.name, s.stream) in active else exclude).update(s.artifacts)
    exclude -= include
    active_names = {nevra_name(a) for a in include if not a.endswith((".src", ".nosrc"))}
    out: list[list[RepoPackage]] = []
    hidden = 0
    for r in repos:
        kept = []
        for p in r.packages:
            k = _artifact_key(p.nevra)
            if r.conf.module_hotfixes or k in include or (k not in exclude and p.nevra.name not in active_names):
                kept.append(p)
            else:
                hidden += 1
        out.append(kept)
    return out, active, hidden


def compute(installed: Iterable[Nevra], repos: list[RepoInput], main: MainConf,
            modules: Mapping[str, ModuleState] | None = None) -> RpmComputation:
    inst = [n for n in installed if n.arch and n.name != "gpg-pubkey"]
    newest: dict[tuple[str, str], Nevra] = {}
    for n in inst:
        k = (n.name, n.arch)
        if k not in newest or newer(n, newest[k]):
            newest[k] = n
    # 1. excludes / includes
    filtered: list[RepoInput] = []
    for r in repos:
        pf = PackageFilter(main.excludes + r.conf.excludes, main.includes + r.conf.includes)
        pkgs = [p for p in r.packages if not pf.hides(p.nevra.name, p.nevra.arch, p.nevra.version, p.nevra.release, p.nevra.epoch)]
        filtered.append(RepoInput(r.conf, pkgs, r.advisories, r.modules))
    # 2. modular filtering
    per_repo, active, hidden = _modular_filter(filtered, modules or {})
    # 3. priority per name (whatever the arch: real dnf offers no i686 update from a priority-99 repository
    #    when a priority-10 one has the name only for x86_64; yum-plugin-priorities does the same)
    best_prio: dict[str, int] = {}
    for r, pkgs in zip(filtered, per_repo, strict=True):
        for p in pkgs:
            k = p.nevra.name
            best_prio[k] = min(best_prio.get(k, r.conf.priority), r.conf.priority)
    by_name: dict[str, list[tuple[Nevra, str]]] = {}
    obsoleters: list[tuple[RepoPackage, str]] = []
    for r, pkgs in zip(filtered, per_repo, strict=True):
        for p in pkgs:
            if best_prio[p.nevra.name] != r.conf.priority:
                continue
            by_name.setdefault(p.nevra.name, []).append((p.nevra, r.conf.id))
            if p.obsoletes:
                obsoleters.append((p, r.conf.id))
    # 4. upgrades
    upgrades: list[RpmUpgrade] = []
    for (name, arch), cur in sorted(newest.items()):
        best: tuple[Nevra, str] | None = None
        for cand, repo in by_name.get(name, ()):
            if not _arch_ok(arch, cand.arch):
                continue
            if best is None or newer(cand, best[0]) or (not newer(best[0], cand) and cand.arch == arch != best[0].arch):
                best = (cand, repo)
        if best is not None and newer(best[0], cur):
            upgrades.append(RpmUpgrade(installed=cur, candidate=best[0], repo=best[1]))
    # 5. obsoletes
    installed_names = {n for n, _ in newest}
    if main.obsoletes:
        for pkg, repo in obsoleters:
            if pkg.nevra.name in installed_names:
                continue  # an installed package's own newer version: an upgrade, above
            for dep in pkg.obsoletes:
                for (name, arch), cur in newest.items():
                    if name == dep.name and _arch_ok(arch, pkg.nevra.arch) and _satisfies(cur, dep):
                        upgrades.append(RpmUpgrade(installed=cur, candidate=pkg.nevra, repo=repo, obsoletes=True))
    # 6. security advisories
    applied: list[AppliedAdvisory] = []
    fixed: set[tuple[str, str, str]] = set()  # (advisory id, name, arch) applicable
    seen: set[tuple[str, str]] = set()
    for r in filtered:
        for adv in r.advisories:
            if adv.module is not None and adv.module[0] and (adv.module[0], adv.module[1]) not in active:
                continue
            for pk in adv.packages:
                cur = newest.get((pk.name, pk.arch))
                if cur is None or not newer(pk, cur) or (adv.id, str(pk)) in seen:
                    continue
                seen.add((adv.id, str(pk)))
                applied.append(AppliedAdvisory(adv.id, adv.severity, pk))
                fixed.add((adv.id, pk.name, pk.arch))
    sec_names = {(n, a) for _, n, a in fixed}
    upgrades = [u if (u.installed.name, u.installed.arch) not in sec_names else
                RpmUpgrade(u.installed, u.candidate, u.repo, True, u.obsoletes) for u in upgrades]
    return RpmComputation(
        upgrades=upgrades, advisories=sorted(applied, key=lambda a: (a.id, str(a.package))),
        active_streams=sorted(f"{m}:{s}" for m, s in active), hidden_modular=hidden,
    )
