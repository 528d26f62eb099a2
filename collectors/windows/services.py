"""Installed Windows services and how they start (Win32_Service Name, State, StartMode), for the unneeded-
services rule (checks/rules/services.py) that Linux judges from systemd/SysV/inetd.

Why Win32_Service and not Get-Service: its State and StartMode are WMI's own English tokens ("Running",
"Auto", "Manual", "Disabled") on every display language, where Get-Service's formatted output and the
services console are localised (実行中, 自動). The collector lists every service and judges none: which
names are unneeded is policy (`services.windows_unnecessary_services`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import ParseError, as_dict, as_list, as_str, ps_json

SCRIPT = r"""
ConvertTo-Json -InputObject @(Get-CimInstance -ClassName Win32_Service -ErrorAction Stop | ForEach-Object {
  [pscustomobject]@{Name=[string]$_.Name;DisplayName=[string]$_.DisplayName;State=[string]$_.State;StartMode=[string]$_.StartMode} }) -Depth 2 -Compress
"""


class WinService(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    display_name: str | None = None
    state: str | None = None  # Running | Stopped | Paused | Start Pending ...
    start_mode: str | None = None  # Auto | Manual | Disabled | Boot | System

    @property
    def starts(self) -> bool:
        """Running now, or started at boot (Auto, including delayed start)."""
        return (self.state or "").lower() in ("running", "start pending", "continue pending", "paused") or \
            (self.start_mode or "").lower() in ("auto", "boot", "system")


class WinServicesFacts(Facts):
    services: list[WinService] = Field(default_factory=list)

    def get(self, name: str) -> WinService | None:
        """Service names are case-insensitive on Windows (sc query tlntsvr finds TlntSvr)."""
        return next((s for s in self.services if s.name.lower() == name.lower()), None)


def parse_services(data: Any) -> WinServicesFacts:
    out = []
    for raw in as_list(data):
        d = as_dict(raw)
        name = as_str(d.get("Name"))
        if not name:
            raise ParseError(f"service without a name: {str(d)[:80]}")
        out.append(WinService(name=name, display_name=as_str(d.get("DisplayName")) or None, state=as_str(d.get("State")) or None,
                              start_mode=as_str(d.get("StartMode")) or None))
    if not out:
        raise ParseError("no services listed (a Windows host always has some)")
    return WinServicesFacts(services=sorted(out, key=lambda s: s.name.lower()))


@collector("windows.services", facts=WinServicesFacts, os=OsFamily.WINDOWS)
def collect_services(p: Probe) -> WinServicesFacts:
    """Every installed service with its state and start mode."""
    ok, data = ps_json(p, SCRIPT, fact="services", ref="Get-CimInstance Win32_Service")
    if not ok:
        return WinServicesFacts()
    try:
        return parse_services(data)
    except ParseError as exc:
        p.note("services", Reason.FAILED, f"unexpected Win32_Service output: {exc}")
        return WinServicesFacts()
