"""Backups visible from the host: Windows Server Backup's catalogue (`wbadmin get versions`) and the
configured backup locations (policy `backups.locations` entries that are Windows paths: `D:\\Backup`,
`\\\\nas\\emr`), each as a count of items (generations) and the newest item's time.

wbadmin prints in the host's language, but each version's identifier (`04/30/2024-12:00`, UTC) is
the same everywhere, so versions are found by that pattern, not by label.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.settings import BackupLocation
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import (
    ParseError,
    as_bool,
    as_dict,
    as_int,
    as_list,
    as_str,
    decode_text,
    parse_ps_date,
    ps_json,
)


class WbadminVersion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: str  # MM/DD/YYYY-HH:MM, UTC
    time: datetime
    target: str | None = None


class LocationState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str
    label: str | None = None
    offline: bool = False
    expected_generations: int | None = None
    exists: bool
    count: int = 0  # backup sets only (count_generations), never hidden/system files or artefacts
    generations: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)  # entries listed but not counted (desktop.ini, Thumbs.db, logs …)
    total_entries: int | None = None
    newest: datetime | None = None
    oldest: datetime | None = None
    error: str | None = None
    #: a \\server\share path, and whether the share root itself answered from this WinRM session.
    #: A remote session cannot pass the auditor's credentials on to a third machine (the Kerberos/NTLM
    #: "double hop"), so an unreachable share proves nothing about the backups on it.
    unc: bool = False
    share_reachable: bool | None = None

    @property
    def unverifiable(self) -> bool:
        """True when the location could not be judged from here (UNC share unreachable from the session)."""
        return self.unc and not self.exists and self.share_reachable is not True


class BackupFacts(Facts):
    wbadmin_versions: list[WbadminVersion] = Field(default_factory=list)
    wbadmin_available: bool = False
    locations: list[LocationState] = Field(default_factory=list)


_VERSION = re.compile(r"(?<!\d)(\d{2})/(\d{2})/(\d{4})-(\d{2}):(\d{2})(?!\d)")
_TARGET = re.compile(r"^\s*(backup target|backup location|バックアップ ターゲット|バックアップ先|バックアップの場所)\s*[:：]\s*(.+?)\s*$", re.I)
_NO_BACKUP = re.compile(r"no backup was found|バックアップが見つかりません|バックアップは見つかりませんでした", re.I)


def parse_wbadmin_versions(text: str) -> list[WbadminVersion]:
    """Versions from `wbadmin get versions` in any language. Pure, total."""
    out: list[WbadminVersion] = []
    target: str | None = None
    for line in text.splitlines():
        t = _TARGET.match(line)
        if t:
            target = t.group(2)
            continue
        m = _VERSION.search(line)
        if not m:
            continue
        mo, d, y, hh, mi = (int(g) for g in m.groups())
        try:
            when = datetime(y, mo, d, hh, mi, tzinfo=UTC)
        except ValueError:
            continue
        out.append(WbadminVersion(version=m.group(0), time=when, target=target))
        target = None
    return out


_WIN_PATH = re.compile(r"^([A-Za-z]:[\\/]|\\\\[^\\/]+[\\/][^\\/]+)")


def is_windows_path(path: str) -> bool:
    return bool(_WIN_PATH.match(path))


def _ps_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: Entries listed per location: beyond this only `Total` grows (a report is not a directory dump).
MAX_ITEMS = 500
#: FileAttributes flags that never mark a backup set: Hidden, System, Temporary, ReparsePoint (a junction
#: or symlink points elsewhere; Linux skips symlinks the same way).
_SKIP_ATTRS = 0x2 | 0x4 | 0x100 | 0x400
#: Shell and job artefacts that sit beside backups but are not one (Explorer writes desktop.ini and
#: Thumbs.db into any folder it shows; backup jobs leave logs, locks and partial files).
_ARTEFACT_NAMES = frozenset({"desktop.ini", "thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", ".ds_store",
                             "$recycle.bin", "system volume information", "mediaid.bin"})
_ARTEFACT_SUFFIXES = (".tmp", ".log", ".txt", ".ini", ".lnk", ".lck", ".lock", ".partial", ".part")
#: Windows Server Backup writes each set as WindowsImageBackup\<computer>\Backup YYYY-MM-DD HHMMSS.
_WSB_SET = re.compile(r"^WindowsImageBackup\\[^\\]+\\Backup \d{4}-\d{2}-\d{2} \d{6}$", re.I)


class Item(BaseModel):
    """One directory entry of a backup location, as Get-ChildItem -Force lists it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str  # relative to the location; WindowsImageBackup sets as WindowsImageBackup\<host>\Backup …
    directory: bool
    attributes: int = 0  # [System.IO.FileAttributes] as a number
    mtime: datetime | None = None


def is_generation(item: Item) -> bool:
    """A backup set: a visible directory or file that is no shell artefact, job log, lock or partial file."""
    low = item.name.lower()
    leaf = low.rsplit("\\", 1)[-1]
    if item.attributes & _SKIP_ATTRS or leaf.startswith(("~$", ".")) or leaf in _ARTEFACT_NAMES:
        return False
    return item.directory or not leaf.endswith(_ARTEFACT_SUFFIXES)


def count_generations(items: list[Item]) -> tuple[list[Item], list[str]]:
    """(generations, skipped names). Windows Server Backup sets replace their WindowsImageBackup folder."""
    wsb = [i for i in items if _WSB_SET.match(i.name)]
    gens: list[Item] = [i for i in wsb if not i.attributes & _SKIP_ATTRS]
    skipped: list[str] = []
    for i in items:
        if i in wsb:
            continue
        if wsb and i.name.lower() == "windowsimagebackup":
            continue  # counted through its sets
        if is_generation(i):
            gens.append(i)
        else:
            skipped.append(i.name)
    return gens, skipped


def locations_script(paths: list[str]) -> str:
    """Per path: its entries (name, directory, attributes, mtime; WindowsImageBackup sets one level down) or why not."""
    quoted = ",".join(_ps_quote(p) for p in paths)
    return (
        f"$paths=@({quoted})\n"
        "$r = foreach ($p in $paths) { try { $i=@(Get-ChildItem -LiteralPath $p -Force -ErrorAction Stop)\n"
        "  $items=@($i | Select-Object -First " + str(MAX_ITEMS) + " | ForEach-Object { [pscustomobject]@{N=$_.Name;D=$_.PSIsContainer;"
        "A=[int]$_.Attributes;T=$_.LastWriteTimeUtc.ToString('o')} })\n"
        "  foreach ($w in @($i | Where-Object { $_.PSIsContainer -and $_.Name -eq 'WindowsImageBackup' })) {\n"
        "    foreach ($h in @(Get-ChildItem -LiteralPath $w.FullName -Directory -Force -ErrorAction SilentlyContinue)) {\n"
        "      $items += @(Get-ChildItem -LiteralPath $h.FullName -Directory -Force -Filter 'Backup *' -ErrorAction SilentlyContinue |"
        " ForEach-Object { [pscustomobject]@{N=('WindowsImageBackup\\'+$h.Name+'\\'+$_.Name);D=$true;A=[int]$_.Attributes;"
        "T=$_.LastWriteTimeUtc.ToString('o')} }) } }\n"
        "  [pscustomobject]@{Path=$p;Exists=$true;Total=$i.Count;Items=$items;Error=$null} }\n"
        "  catch { $share=$null; if ($p -like '\\\\*') { $share=[bool](Test-Path -LiteralPath (($p -split '\\\\')[0..3] -join '\\')) }\n"
        "  [pscustomobject]@{Path=$p;Exists=[bool](Test-Path -LiteralPath $p);Total=0;Items=@();Error=$_.Exception.GetType().Name;"
        "ShareReachable=$share} } }\n"
        "ConvertTo-Json -InputObject @($r) -Depth 4 -Compress\n"
    )


def parse_items(data: Any) -> list[Item]:
    out = []
    for raw in as_list(data):
        r = as_dict(raw)
        name = as_str(r.get("N"))
        if name is None:
            raise ParseError("backup entry without a name")
        out.append(Item(name=name, directory=bool(as_bool(r.get("D"))), attributes=as_int(r.get("A")) or 0,
                        mtime=parse_ps_date(r.get("T"))))
    return out


def parse_locations(data: Any, configured: list[BackupLocation]) -> list[LocationState]:
    """Each location's entries, reduced to its backup sets (count_generations): count, newest and oldest."""
    by_path = {c.path: c for c in configured}
    out = []
    for raw in as_list(data):
        r = as_dict(raw)
        path = as_str(r.get("Path"))
        if path is None:
            raise ParseError("location without a path")
        if "Items" not in r and r.get("Exists") and (as_int(r.get("Count")) or 0) > 0:
            raise ParseError(f"{path}: a listing without its entries (Items) cannot be counted")
        cfg = by_path.get(path)
        gens, skipped = count_generations(parse_items(r.get("Items")))
        times = sorted(g.mtime for g in gens if g.mtime is not None)
        out.append(LocationState(
            path=path, label=cfg.label if cfg else None, offline=cfg.offline if cfg else False,
            expected_generations=cfg.expected_generations if cfg else None,
            exists=bool(as_bool(r.get("Exists"))), count=len(gens), generations=[g.name for g in gens][:60],
            skipped=skipped[:60], total_entries=as_int(r.get("Total")),
            newest=times[-1] if times else None, oldest=times[0] if times else None, error=as_str(r.get("Error")),
            unc=path.startswith("\\\\"), share_reachable=as_bool(r.get("ShareReachable")),
        ))
    return out


@collector("windows.backups", facts=BackupFacts, os=OsFamily.WINDOWS)
def collect_backups(p: Probe) -> BackupFacts:
    """Windows Server Backup versions and the item count and age of configured backup folders."""
    facts = BackupFacts()
    res = p.command(["wbadmin", "get", "versions"], fact="wbadmin")
    if res is not None:
        text = decode_text(res.stdout) + "\n" + decode_text(res.stderr)
        facts.wbadmin_versions = parse_wbadmin_versions(text)
        facts.wbadmin_available = bool(facts.wbadmin_versions) or res.exit_code == 0 or bool(_NO_BACKUP.search(text))
        if not facts.wbadmin_available:
            p.note("wbadmin", Reason.ABSENT if res.exit_code == 9009 else Reason.FAILED, f"wbadmin get versions: exit {res.exit_code}")
    configured = [loc for loc in p.settings.backup_locations if is_windows_path(loc.path)]
    if configured:
        ok, data = ps_json(p, locations_script([c.path for c in configured]), fact="locations",
                           ref="Get-ChildItem " + ", ".join(c.path for c in configured))
        if ok:
            try:
                facts.locations = parse_locations(data, configured)
            except ParseError as exc:
                p.note("locations", Reason.FAILED, f"unexpected backup listing: {exc}")
    return facts
