"""Windows Time service: `w32tm /query /status` and `/configuration`, plus one offset sample.

w32tm prints in the host's language, so the status parser knows English and Japanese labels (the
configuration keys are not translated). The offset comes from `w32tm /stripchart /dataonly /samples:1`
against the configured source: its data line (`10:00:00, +00.0012345s`) is the same in every language.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime, timedelta

from pydantic import Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import (
    ParseError,
    as_dict,
    as_int,
    as_str,
    command_text,
    parse_local_datetime,
    ps_json,
)

SERVICE_SCRIPT = r"""
$s = Get-Service -Name W32Time -ErrorAction SilentlyContinue
if ($null -eq $s) { [Console]::Error.WriteLine('W32Time service not installed'); exit 127 }
$off = $null; try { $off = [System.TimeZoneInfo]::Local.GetUtcOffset([DateTime]::Now).TotalMinutes } catch { }
[pscustomobject]@{Status=[string]$s.Status;StartType=[string]$s.StartType;UtcOffsetMinutes=$off} | ConvertTo-Json -Compress
"""

LOCAL_CLOCK_SOURCES = ("local cmos clock", "free-running system clock")
VM_SOURCES = ("vm ic time synchronization provider", "vmictimeprovider")


class TimeFacts(Facts):
    service_status: str | None = None  # Running | Stopped
    start_type: str | None = None
    leap_indicator: int | None = None  # 3: not synchronised
    stratum: int | None = None
    source: str | None = None
    source_kind: str | None = None  # ntp | local_clock | vm_host | none
    last_sync: datetime | None = None
    poll_seconds: int | None = None
    config_type: str | None = None  # NTP | NT5DS | AllSync | NoSync
    ntp_servers: list[str] = Field(default_factory=list)
    offset_seconds: float | None = None
    #: the host's UTC offset now (JST: 540). w32tm prints local wall time; last_sync is converted with it
    utc_offset_minutes: int | None = None
    #: False when last_sync is wall time whose zone was unknown (then it may be hours off)
    last_sync_is_utc: bool = False


_STATUS_LABELS = (
    ("leap", re.compile(r"^(leap indicator|閏インジケーター|うるう秒インジケーター|うるう秒指示子)$", re.I)),
    ("stratum", re.compile(r"^(stratum|階層)$", re.I)),
    ("last_sync", re.compile(r"^(last successful sync time|最終正常同期時刻|最後に成功した同期時刻|最終同期成功時刻)$", re.I)),
    ("source", re.compile(r"^(source|ソース)$", re.I)),
    ("poll", re.compile(r"^(poll interval|ポーリング間隔)$", re.I)),
)
_UNSPECIFIED = re.compile(r"^(unspecified|指定されていません|未指定|なし)$", re.I)


def parse_w32tm_status(text: str) -> dict[str, object]:
    """`w32tm /query /status` (English or Japanese) -> leap, stratum, source, last_sync, poll. Pure, total:
    a value that does not parse is left out rather than guessed."""
    out: dict[str, object] = {}
    for line in text.splitlines():
        label, sep, value = line.strip().partition(":")
        if not sep:
            label, sep, value = line.strip().partition("：")
        if not sep:
            continue
        label, value = label.strip(), value.strip()
        for key, pat in _STATUS_LABELS:
            if not pat.match(label) or key in out:
                continue
            if key in ("leap", "stratum", "poll"):
                m = re.match(r"^(-?\d{1,6})", value)
                if m:
                    n = int(m.group(1))
                    out[key] = 2 ** n if key == "poll" and 0 <= n < 40 else n
                    if key == "poll" and not 0 <= n < 40:
                        del out[key]
            elif key == "source":
                out[key] = re.sub(r",0x[0-9a-fA-F]+$", "", value).strip()
            elif key == "last_sync":
                if _UNSPECIFIED.match(value):
                    out[key] = None
                else:
                    with contextlib.suppress(ParseError):
                        out[key] = parse_local_datetime(value)
            break
    return out


_CONF = re.compile(r"^(Type|NtpServer)\s*:\s*(.*?)\s*(\((Local|Policy|ローカル|ポリシー)\))?\s*$", re.I)


def parse_w32tm_configuration(text: str) -> tuple[str | None, list[str]]:
    """(Type, NtpServer peers) from `w32tm /query /configuration`; the first occurrence wins."""
    typ: str | None = None
    servers: list[str] | None = None
    for line in text.splitlines():
        m = _CONF.match(line.strip())
        if not m:
            continue
        key, value = m.group(1).lower(), m.group(2).strip()
        if key == "type" and typ is None:
            typ = value.split()[0] if value else None
        elif key == "ntpserver" and servers is None:
            servers = [re.sub(r",0x[0-9a-fA-F]+$", "", s) for s in value.split() if s]
    return typ, servers or []


_STRIP = re.compile(r"^\s*\d{1,2}:\d{2}:\d{2},\s*([+-]?\d{1,9}(?:\.\d+)?)s\s*$")


def parse_stripchart(text: str) -> float | None:
    """Offset in seconds from `w32tm /stripchart /dataonly`; None when the sample was an error."""
    for line in text.splitlines():
        m = _STRIP.match(line)
        if m:
            return float(m.group(1))
    return None


def to_utc(wall: datetime | None, offset_minutes: int | None) -> datetime | None:
    """w32tm's local wall time (parsed as if UTC) to real UTC with the host's offset: a JST host's
    `2022/01/10 1:45:54` is 2022-01-09 16:45:54 UTC. Without the offset the wall time is kept (flagged)."""
    if wall is None or offset_minutes is None:
        return wall
    return wall - timedelta(minutes=offset_minutes)


def source_kind(source: str | None) -> str:
    s = (source or "").strip().lower()
    if not s:
        return "none"
    if s in LOCAL_CLOCK_SOURCES:
        return "local_clock"
    if s in VM_SOURCES:
        return "vm_host"
    return "ntp"


_PEER = re.compile(r"^[A-Za-z0-9._:\-\[\]]{1,253}$")


@collector("windows.time", facts=TimeFacts, os=OsFamily.WINDOWS)
def collect_time(p: Probe) -> TimeFacts:
    """Time source, stratum, last synchronisation and current offset of the Windows Time service."""
    facts = TimeFacts()
    ok, data = ps_json(p, SERVICE_SCRIPT, fact="service", ref="Get-Service W32Time")
    if ok:
        try:
            d = as_dict(data)
            facts.service_status, facts.start_type = as_str(d.get("Status")), as_str(d.get("StartType"))
            off = as_int(d.get("UtcOffsetMinutes"))
            facts.utc_offset_minutes = off if off is not None and -14 * 60 <= off <= 14 * 60 else None
        except ParseError as exc:
            p.note("service", Reason.FAILED, str(exc))
    status = command_text(p, ["w32tm", "/query", "/status"], fact="status")
    if status is not None:
        st = parse_w32tm_status(status)
        if "source" not in st and "stratum" not in st:
            p.note("status", Reason.FAILED, "w32tm /query /status printed no recognised field")
        facts.leap_indicator = st.get("leap")  # type: ignore[assignment]
        facts.stratum = st.get("stratum")  # type: ignore[assignment]
        facts.source = st.get("source")  # type: ignore[assignment]
        facts.last_sync = to_utc(st.get("last_sync"), facts.utc_offset_minutes)  # type: ignore[arg-type]
        facts.last_sync_is_utc = facts.last_sync is not None and facts.utc_offset_minutes is not None
        facts.poll_seconds = st.get("poll")  # type: ignore[assignment]
        facts.source_kind = source_kind(facts.source)
    conf = command_text(p, ["w32tm", "/query", "/configuration"], fact="configuration")
    if conf is not None:
        facts.config_type, facts.ntp_servers = parse_w32tm_configuration(conf)
    if facts.source_kind == "ntp" and facts.source and _PEER.match(facts.source):
        out = command_text(p, ["w32tm", "/stripchart", f"/computer:{facts.source}", "/dataonly", "/samples:1"], fact="offset")
        if out is not None:
            facts.offset_seconds = parse_stripchart(out)
            if facts.offset_seconds is None:
                p.note("offset", Reason.FAILED, f"no offset sample from {facts.source}")
    return facts
