"""Parsers of the repodata dnf keeps per repository: repomd.xml, primary.xml, updateinfo.xml, modules.yaml.

Only what the pending-updates computation needs is kept: each package's name/arch/epoch/version/release and
Obsoletes; each security advisory's id, severity, module and packages; each module stream's artifacts and
the default streams. The files are big (a RHEL 9 AppStream primary.xml is tens of MB), so they are parsed
in pieces as they are decompressed, and packages that neither are nor obsolete an installed name are
dropped on the spot.

The parsers are regular expressions over complete elements, not an XML library: no DTD or entity is ever
expanded (a hostile file cannot make the scanner expand a billion laughs), and the same parser reads a
whole file on the scanner and the lines the target's filter (rpm_remote.py) kept of it. Damage is never a
pass: primary.xml declares its package count (`<metadata packages="N">`) and a file that holds another number
of packages is refused, as is a cut compressed stream.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from tenken.collectors.linux.apt_lists import ListDecodeError

#: A hostile file must not make the scanner hold more than this of one element (a package block is < 1 MB).
MAX_ELEMENT = 32 * 1024 * 1024


class RepodataError(ValueError):
    """A repodata file is damaged, cut or not what it claims: the computation is not possible from it."""


class Nevra(NamedTuple):
    name: str
    epoch: int
    version: str
    release: str
    arch: str

    @property
    def evr(self) -> str:
        return f"{self.epoch}:{self.version}-{self.release}" if self.epoch else f"{self.version}-{self.release}"

    def __str__(self) -> str:
        return f"{self.name}-{self.evr}.{self.arch}"


@dataclass(frozen=True)
class Dep:
    """One Obsoletes entry: a name and an optional version constraint (flags LT LE EQ GE GT)."""

    name: str
    flags: str | None = None
    epoch: int = 0
    version: str | None = None
    release: str | None = None


@dataclass(frozen=True)
class RepoPackage:
    nevra: Nevra
    obsoletes: tuple[Dep, ...] = ()


@dataclass(frozen=True)
class Primary:
    packages: list[RepoPackage]
    declared: int  # <metadata packages="N">
    seen: int  # packages in the file (all of them, not only the kept ones)


@dataclass(frozen=True)
class UpdateAdvisory:
    id: str
    type: str
    severity: str | None
    packages: tuple[Nevra, ...]
    module: tuple[str, str] | None = None  # (module name, stream) of a modular advisory's collection


@dataclass(frozen=True)
class ModuleStream:
    name: str
    stream: str
    version: str
    context: str
    artifacts: frozenset[str]  # NEVRAs with epoch (`name-E:V-R.arch`)


@dataclass
class Modules:
    streams: list[ModuleStream] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=dict)  # module -> default stream


# -- common -------------------------------------------------------------------------------------------------

_ATTR = re.compile(rb'([A-Za-z_:]+)="([^"]*)"')
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&apos;": "'"}
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|apos);")


def _text(raw: bytes) -> str:
    s = raw.decode("utf-8", "replace")
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], s) if "&" in s else s


def _attrs(raw: bytes) -> dict[str, str]:
    return {k.decode("ascii", "replace"): _text(v) for k, v in _ATTR.findall(raw)}


def _epoch(value: str | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError as exc:
        raise RepodataError(f"epoch {value!r} is not a number") from exc


def _elements(chunks: Iterable[bytes], close: bytes) -> Iterator[bytes]:
    """Text cut after each complete `close` tag: every yielded piece ends in whole elements."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        end = buf.rfind(close)
        if end < 0:
            if len(buf) > MAX_ELEMENT:
                raise RepodataError(f"no {close.decode()} in {len(buf)} bytes: not repodata, or damaged")
            continue
        end += len(close)
        yield buf[:end]
        buf = buf[end:]
    yield buf


def _decoded(chunks: Iterable[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    except ListDecodeError as exc:
        raise RepodataError(str(exc)) from exc


# -- repomd.xml ---------------------------------------------------------------------------------------------

_DATA = re.compile(rb'<data\s+type="([^"]+)"\s*>(.*?)</data>', re.S)
_LOCATION = re.compile(rb'<location\b[^>]*\bhref="([^"]+)"')
_REVISION = re.compile(rb"<revision>([^<]*)</revision>")


def parse_repomd(data: bytes) -> dict[str, str]:
    """{type: href} of repomd.xml (`primary`, `updateinfo`, `modules`, ...); RepodataError if it has no primary."""
    out = {m.group(1).decode("ascii", "replace"): _text(loc.group(1))
           for m in _DATA.finditer(data) if (loc := _LOCATION.search(m.group(2)))}
    if "primary" not in out:
        raise RepodataError("repomd.xml names no primary metadata")
    for href in out.values():
        if href.startswith("/") or ".." in href.split("/"):
            raise RepodataError(f"repomd.xml points outside the repository: {href!r}")
    return out


# -- primary.xml --------------------------------------------------------------------------------------------

_PKG = re.compile(rb"<package\b[^>]*>(.*?)</package>", re.S)
_NAME = re.compile(rb"<name>([^<]*)</name>")
_ARCH = re.compile(rb"<arch>([^<]*)</arch>")
_VERSION = re.compile(rb"<version\b([^>]*?)/?>")
_OBSOLETES = re.compile(rb"<rpm:obsoletes>(.*?)</rpm:obsoletes>", re.S)
_ENTRY = re.compile(rb"<rpm:entry\b([^>]*?)/?>")
_DECLARED = re.compile(rb'<metadata\b[^>]*\bpackages="(\d+)"')
#: the target-side filter's count of the packages it read (rpm_remote.py), as it keeps only some
_SEEN = re.compile(rb'<tenken-seen n="(\d+)"/>')


def _package(block: bytes) -> RepoPackage:
    name, arch, ver = _NAME.search(block), _ARCH.search(block), _VERSION.search(block)
    if name is None or arch is None or ver is None:
        raise RepodataError("a <package> without name, arch or version")
    v = _attrs(ver.group(1))
    if "ver" not in v:
        raise RepodataError(f"package {_text(name.group(1))}: <version> without ver")
    nevra = Nevra(_text(name.group(1)).strip(), _epoch(v.get("epoch")), v["ver"], v.get("rel", ""), _text(arch.group(1)).strip())
    obs: tuple[Dep, ...] = ()
    if b"<rpm:obsoletes>" in block and (o := _OBSOLETES.search(block)):
        deps = []
        for e in _ENTRY.finditer(o.group(1)):
            a = _attrs(e.group(1))
            if "name" in a:
                deps.append(Dep(a["name"], a.get("flags"), _epoch(a.get("epoch")), a.get("ver"), a.get("rel")))
        obs = tuple(deps)
    return RepoPackage(nevra, obs)


def parse_primary(chunks: Iterable[bytes], wanted: Collection[str] | None = None) -> Primary:
    """Packages of a primary.xml (decompressed pieces): all, or those named in `wanted` or obsoleting such a
    name. RepodataError when damaged or cut."""
    declared: int | None = None
    seen = 0
    trailer: int | None = None
    kept: list[RepoPackage] = []
    for piece in _elements(_decoded(chunks), b"</package>"):
        if declared is None and (d := _DECLARED.search(piece)):
            declared = int(d.group(1))
        for m in _PKG.finditer(piece):
            seen += 1
            block = m.group(1)
            if wanted is not None:
                nm = _NAME.search(block)
                named = nm is not None and _text(nm.group(1)).strip() in wanted
                if not named and b"<rpm:obsoletes>" not in block:
                    continue
                pkg = _package(block)
                if not named and not any(d.name in wanted for d in pkg.obsoletes):
                    continue
            else:
                pkg = _package(block)
            kept.append(pkg)
        if (t := _SEEN.search(piece)) is not None:
            trailer = int(t.group(1))
    if declared is None:
        raise RepodataError("primary.xml has no <metadata packages=...> header: not primary metadata, or cut")
    total = trailer if trailer is not None else seen
    if total != declared:
        raise RepodataError(f"primary.xml declares {declared} packages but holds {total}: damaged or cut")
    return Primary(kept, declared, total)


# -- updateinfo.xml -----------------------------------------------------------------------------------------

_UPDATE = re.compile(rb"<update\b([^>]*)>(.*?)</update>", re.S)
_ID = re.compile(rb"<id>([^<]*)</id>")
_SEVERITY = re.compile(rb"<severity>([^<]*)</severity>")
_COLLECTION = re.compile(rb"<collection\b[^>]*>(.*?)</collection>", re.S)
_MODULE = re.compile(rb"<module\b([^>]*?)/?>")
_UPKG = re.compile(rb"<package\b([^>]*?)/?>")


def parse_updateinfo(chunks: Iterable[bytes], wanted: Collection[str] | None = None, *,
                     types: frozenset[str] = frozenset({"security"})) -> list[UpdateAdvisory]:
    """Advisories of `types` from an updateinfo.xml, with only the packages named in `wanted` (all: None)."""
    out: list[UpdateAdvisory] = []
    for piece in _elements(_decoded(chunks), b"</update>"):
        for m in _UPDATE.finditer(piece):
            head = _attrs(m.group(1))
            kind = head.get("type", "")
            if kind not in types:
                continue
            body = m.group(2)
            ident = _ID.search(body)
            if ident is None:
                raise RepodataError("an updateinfo <update> without <id>")
            sev = _SEVERITY.search(body)
            collections = [c.group(1) for c in _COLLECTION.finditer(body)] or [body]
            for coll in collections:
                mod = _MODULE.search(coll)
                module = None
                if mod is not None:
                    ma = _attrs(mod.group(1))
                    module = (ma.get("name", ""), ma.get("stream", ""))
                pkgs = []
                for pm in _UPKG.finditer(coll):
                    a = _attrs(pm.group(1))
                    if "name" not in a or "version" not in a or (wanted is not None and a["name"] not in wanted):
                        continue
                    pkgs.append(Nevra(a["name"], _epoch(a.get("epoch")), a["version"], a.get("release", ""), a.get("arch", "")))
                if pkgs:
                    out.append(UpdateAdvisory(
                        id=_text(ident.group(1)).strip(), type=kind,
                        severity=_text(sev.group(1)).strip() or None if sev else None, packages=tuple(pkgs), module=module,
                    ))
    return out


# -- modules.yaml -------------------------------------------------------------------------------------------

_KEY2 = re.compile(r"^  ([a-z_]+):\s*(.*?)\s*$")


def _scalar(v: str) -> str:
    v = v.split(" #", 1)[0].strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        v = v[1:-1]
    return v


def nevra_name(nevra: str) -> str:
    """`nodejs-1:18.18.2-1.module+el8.9.0+20473+c4e3d824.x86_64` -> `nodejs`."""
    return nevra.rsplit("-", 2)[0] if nevra.count("-") >= 2 else nevra


def parse_modules(lines: Iterable[str]) -> Modules:
    """Module streams (name, stream, version, context, artifacts) and default streams of a modules.yaml.

    Line-based on libmodulemd's block style (the form every repository tool writes): documents split by
    `---`, `data:` keys at two spaces, `artifacts:` / `rpms:` / `- NEVRA` beneath. `wanted`-filtered input
    from the target is the same text with fewer artifact lines.
    """
    mods = Modules()
    doc: str | None = None
    keys: dict[str, str] = {}
    artifacts: set[str] = set()
    section = ""
    sub = ""

    def flush() -> None:
        if doc == "modulemd" and keys.get("name") and keys.get("stream"):
            mods.streams.append(ModuleStream(keys["name"], keys["stream"], keys.get("version", ""), keys.get("context", ""), frozenset(artifacts)))
        elif doc == "modulemd-defaults" and keys.get("module") and keys.get("stream"):
            mods.defaults[keys["module"]] = keys["stream"]

    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.startswith("---"):
            flush()
            doc, keys, artifacts, section, sub = None, {}, set(), "", ""
            continue
        if line.startswith("document:"):
            doc = _scalar(line.partition(":")[2])
            continue
        if line == "..." or not line.strip():
            continue
        if (m := _KEY2.match(line)) is not None:
            section, sub = m.group(1), ""
            if m.group(2) and m.group(1) not in keys:
                keys[m.group(1)] = _scalar(m.group(2))
            continue
        if section == "artifacts":
            s = line.strip()
            if s.endswith(":") and not s.startswith("-"):
                sub = s[:-1]
            elif sub == "rpms" and s.startswith("- "):
                artifacts.add(_scalar(s[2:]))
    flush()
    return mods
