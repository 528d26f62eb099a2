"""Listening sockets and who owns them: Get-NetTCPConnection -State Listen and Get-NetUDPEndpoint, each
with its owning process (Get-Process) and the running services hosted in it (Win32_Service.ProcessId, so
a svchost.exe listener is named by its service, e.g. TermService on 3389). PID 4 ("System") is the kernel:
SMB (445), NetBIOS (139) and http.sys listeners such as WinRM (5985/5986)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import ParseError, as_dict, as_int, as_list, as_str, ps_json

SCRIPT = r"""
$svc=@{}; foreach ($s in @(Get-CimInstance -ClassName Win32_Service -Filter "State='Running'" -ErrorAction SilentlyContinue)) { if ($s.ProcessId) { $svc[[int]$s.ProcessId] += @([string]$s.Name) } }
$proc=@{}; foreach ($x in @(Get-Process -ErrorAction SilentlyContinue)) { $proc[[int]$x.Id]=[string]$x.ProcessName }
$r=@(Get-NetTCPConnection -State Listen -ErrorAction Stop | ForEach-Object { [pscustomobject]@{Proto='tcp';Address=[string]$_.LocalAddress;Port=[int]$_.LocalPort;Pid=[int]$_.OwningProcess;Process=$proc[[int]$_.OwningProcess];Services=@($svc[[int]$_.OwningProcess])} })
$r+=@(Get-NetUDPEndpoint -ErrorAction SilentlyContinue | ForEach-Object { [pscustomobject]@{Proto='udp';Address=[string]$_.LocalAddress;Port=[int]$_.LocalPort;Pid=[int]$_.OwningProcess;Process=$proc[[int]$_.OwningProcess];Services=@($svc[[int]$_.OwningProcess])} })
ConvertTo-Json -InputObject @($r) -Depth 3 -Compress
"""


class WinListener(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    proto: str
    address: str
    port: int
    pid: int | None = None
    process: str | None = None
    services: list[str] = Field(default_factory=list)

    @property
    def owner(self) -> str | None:
        if self.services:
            return f"{self.process or '?'}: {', '.join(self.services)}"
        return self.process


class ListenersFacts(Facts):
    listeners: list[WinListener] = Field(default_factory=list)


def parse_listeners(data: Any) -> ListenersFacts:
    out = []
    seen: set[tuple[str, str, int]] = set()
    for raw in as_list(data):
        d = as_dict(raw)
        proto, addr, port = as_str(d.get("Proto")), as_str(d.get("Address")), as_int(d.get("Port"))
        if proto not in ("tcp", "udp") or addr is None or port is None or not 0 <= port <= 65535:
            raise ParseError(f"listener without a protocol, address or valid port: {str(d)[:80]}")
        if (proto, addr, port) in seen:
            continue
        seen.add((proto, addr, port))
        out.append(WinListener(proto=proto, address=addr, port=port, pid=as_int(d.get("Pid")), process=as_str(d.get("Process")),
                               services=[s for s in (as_str(x) for x in as_list(d.get("Services"))) if s]))
    return ListenersFacts(listeners=sorted(out, key=lambda x: (x.proto, x.port, x.address)))


@collector("windows.listeners", facts=ListenersFacts, os=OsFamily.WINDOWS)
def collect_listeners(p: Probe) -> ListenersFacts:
    """TCP listeners and UDP endpoints with their owning process and services."""
    ok, data = ps_json(p, SCRIPT, fact="listeners", ref="Get-NetTCPConnection -State Listen, Get-NetUDPEndpoint")
    if not ok:
        return ListenersFacts()
    try:
        return parse_listeners(data)
    except ParseError as exc:
        p.note("listeners", Reason.FAILED, f"unexpected listener output: {exc}")
        return ListenersFacts()
