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
    count: int = 0
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


def locations_script(paths: list[str]) -> str:
    quoted = ",".join(_ps_quote(p) for p in paths)
    return (
        f"$paths=@({quoted})\n"
        "$r = foreach ($p in $paths) { try { $i=@(Get-ChildItem -LiteralPath $p -Force -ErrorAction Stop | Sort-Object LastWriteTimeUtc)\n"
        "  [pscustomobject]@{Path=$p;Exists=$true;Count=$i.Count;Newest=$(if ($i.Count) {$i[-1].LastWriteTimeUtc.ToString('o')});"
        "Oldest=$(if ($i.Count) {$i[0].LastWriteTimeUtc.ToString('o')});Error=$null} }\n"
        "  catch { $share=$null; if ($p -like '\\\\*') { $share=[bool](Test-Path -LiteralPath (($p -split '\\\\')[0..3] -join '\\')) }\n"
        "  [pscustomobject]@{Path=$p;Exists=[bool](Test-Path -LiteralPath $p);Count=0;Newest=$null;Oldest=$null;Error=$_.Exception.GetType().Name;ShareReachable=$share} } }\n"
        "ConvertTo-Json -InputObject @($r) -Compress\n"
    )


def parse_locations(data: Any, configured: list[BackupLocation]) -> list[LocationState]:
    by_path = {c.path: c for c in configured}
    out = []
    for raw in as_list(data):
        r = as_dict(raw)
        path = as_str(r.get("Path"))
        if path is None:
            raise ParseError("location without a path")
        cfg = by_path.get(path)
        count = as_int(r.get("Count")) or 0
        out.append(LocationState(
            path=path, label=cfg.label if cfg else None, offline=cfg.offline if cfg else False,
            expected_generations=cfg.expected_generations if cfg else None,
            exists=bool(as_bool(r.get("Exists"))), count=max(0, count),
            newest=parse_ps_date(r.get("Newest")), oldest=parse_ps_date(r.get("Oldest")), error=as_str(r.get("Error")),
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
