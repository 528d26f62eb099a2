"""The Security event log's size and what happens when it is full (SO-17-1: access logs kept).

`Get-WinEvent -ListLog Security` gives the effective settings whether they come from the log's own
registry key (HKLM\\SYSTEM\\CurrentControlSet\\Services\\EventLog\\Security: MaxSize, Retention,
AutoBackupLogFiles) or from Group Policy (Computer Configuration > Administrative Templates > Windows
Components > Event Log Service > Security: "Specify the maximum log file size", "Control Event Log behavior
when the log file reaches its maximum size", "Back up log automatically when full"). Its LogMode is the
.NET EventLogMode: Circular (0, overwrite the oldest), AutoBackup (1, archive when full), Retain (2, never
overwrite). The oldest event still in the log says how many days it covers. Reading the Security log
needs an administrator (the WinRM account is one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import ParseError, as_bool, as_dict, as_int, as_str, parse_ps_date, ps_json

SCRIPT = r"""
$l = $null; $err = $null
try { $l = Get-WinEvent -ListLog Security -ErrorAction Stop } catch { $err = [string]$_.Exception.Message }
if ($l) {
$o = Get-WinEvent -LogName Security -MaxEvents 1 -Oldest -ErrorAction SilentlyContinue
[pscustomobject]@{LogName=$l.LogName; IsEnabled=$l.IsEnabled; LogMode=[string]$l.LogMode; MaximumSizeInBytes=$l.MaximumSizeInBytes;
  FileSize=$l.FileSize; RecordCount=$l.RecordCount; LogFilePath=$l.LogFilePath;
  Oldest=$(if ($o) { $o.TimeCreated.ToUniversalTime().ToString('o') } else { $null })} | ConvertTo-Json -Compress
} else {
function RegVal($key,$name){ try { (Get-ItemProperty -LiteralPath $key -Name $name -ErrorAction Stop).$name } catch { $null } }
$gp = 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\EventLog\Security'; $sv = 'HKLM:\SYSTEM\CurrentControlSet\Services\EventLog\Security'
[pscustomobject]@{Source='registry'; ListLogError=$err; PolicyMaxSizeKB=(RegVal $gp 'MaxSize'); PolicyRetention=(RegVal $gp 'Retention');
  PolicyAutoBackup=(RegVal $gp 'AutoBackupLogFiles'); MaxSize=(RegVal $sv 'MaxSize'); Retention=(RegVal $sv 'Retention');
  AutoBackup=(RegVal $sv 'AutoBackupLogFiles'); File=(RegVal $sv 'File')} | ConvertTo-Json -Compress
}
"""

_MODES = {"0": "Circular", "1": "AutoBackup", "2": "Retain", "circular": "Circular", "autobackup": "AutoBackup", "retain": "Retain"}


class EventLogFacts(Facts):
    log: str = "Security"
    enabled: bool | None = None
    mode: str | None = None  # Circular | AutoBackup | Retain
    max_size: int | None = None  # bytes
    file_size: int | None = None  # bytes
    records: int | None = None
    path: str | None = None
    oldest: datetime | None = None  # the oldest event still in the log (UTC)
    source: str = "Get-WinEvent -ListLog Security"  # or the registry fallback, with why


def _registry_mode(policy_retention: str | None, policy_backup: str | None, retention: int | None, backup: int | None) -> str | None:
    """The full-log behaviour as Group Policy (REG_SZ "1"/"0", wins) or the log's own key (Retention DWORD:
    0 overwrite as needed, 0xFFFFFFFF never overwrite; AutoBackupLogFiles 1 archives) sets it."""
    if policy_backup is not None and policy_backup.strip() == "1":
        return "AutoBackup"
    if policy_retention is not None and policy_retention.strip() in ("0", "1"):
        return "Retain" if policy_retention.strip() == "1" else "Circular"
    if retention is None:
        return None
    if retention in (-1, 0xFFFFFFFF):
        return "AutoBackup" if backup == 1 else "Retain"
    return "Circular"  # 0, or the legacy "overwrite events older than N seconds"


def parse_registry_fallback(d: dict[str, Any]) -> EventLogFacts:
    """When Get-WinEvent -ListLog fails (a broken event log service, a hardened WinRM endpoint), the same
    settings from the registry: the Group Policy key first, then the log's own key. No current size and no
    oldest event: a circular log can then only be judged by its size (the rule's size-only case)."""
    kb = as_int(d.get("PolicyMaxSizeKB"))
    size = kb * 1024 if kb is not None else as_int(d.get("MaxSize"))
    mode = _registry_mode(as_str(d.get("PolicyRetention")), as_str(d.get("PolicyAutoBackup")), as_int(d.get("Retention")),
                          as_int(d.get("AutoBackup")))
    if mode is None:
        raise ParseError("neither Group Policy nor the EventLog\\Security key sets the full-log behaviour")
    why = (as_str(d.get("ListLogError")) or "no detail").strip().splitlines()[0][:160]
    where = "Group Policy (HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\EventLog\\Security)" if (
        kb is not None or as_str(d.get("PolicyRetention")) is not None or as_str(d.get("PolicyAutoBackup")) is not None) \
        else "HKLM\\SYSTEM\\CurrentControlSet\\Services\\EventLog\\Security"
    return EventLogFacts(mode=mode, max_size=size, path=as_str(d.get("File")), source=f"registry {where} (Get-WinEvent -ListLog failed: {why})")


def parse_eventlog(data: Any) -> EventLogFacts:
    d = as_dict(data)
    if as_str(d.get("Source")) == "registry":
        return parse_registry_fallback(d)
    if "LogMode" not in d or "MaximumSizeInBytes" not in d:
        raise ParseError("LogMode or MaximumSizeInBytes missing")
    raw_mode = as_str(d.get("LogMode"))
    mode = _MODES.get((raw_mode or "").strip().lower())
    if mode is None:
        raise ParseError(f"unknown LogMode {raw_mode!r}")
    return EventLogFacts(log=as_str(d.get("LogName")) or "Security", enabled=as_bool(d.get("IsEnabled")), mode=mode,
                         max_size=as_int(d.get("MaximumSizeInBytes")), file_size=as_int(d.get("FileSize")),
                         records=as_int(d.get("RecordCount")), path=as_str(d.get("LogFilePath")), oldest=parse_ps_date(d.get("Oldest")))


@collector("windows.eventlog", facts=EventLogFacts, os=OsFamily.WINDOWS)
def collect_eventlog(p: Probe) -> EventLogFacts:
    """The Security log's maximum size, full-log behaviour, current size and oldest event."""
    ok, data = ps_json(p, SCRIPT, fact="security_log", ref="Get-WinEvent -ListLog Security")
    if not ok:
        return EventLogFacts()
    try:
        return parse_eventlog(data)
    except ParseError as exc:
        p.note("security_log", Reason.FAILED, f"unexpected Get-WinEvent -ListLog output: {exc}")
        return EventLogFacts()
