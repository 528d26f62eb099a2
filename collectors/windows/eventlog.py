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
$l = Get-WinEvent -ListLog Security -ErrorAction Stop
$o = Get-WinEvent -LogName Security -MaxEvents 1 -Oldest -ErrorAction SilentlyContinue
[pscustomobject]@{LogName=$l.LogName; IsEnabled=$l.IsEnabled; LogMode=[string]$l.LogMode; MaximumSizeInBytes=$l.MaximumSizeInBytes;
  FileSize=$l.FileSize; RecordCount=$l.RecordCount; LogFilePath=$l.LogFilePath;
  Oldest=$(if ($o) { $o.TimeCreated.ToUniversalTime().ToString('o') } else { $null })} | ConvertTo-Json -Compress
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


def parse_eventlog(data: Any) -> EventLogFacts:
    d = as_dict(data)
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
