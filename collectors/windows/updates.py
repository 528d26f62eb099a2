"""Installed updates (Get-HotFix) and Windows Update's own record of its last successful installation.

Get-HotFix (Win32_QuickFixEngineering) lists only component-based servicing packages, and InstalledOn is
empty for some; the Windows Update Agent's LastInstallationSuccessDate covers the rest. The latest of the
two is "last updated". Pending updates are not searched: a search goes to Microsoft or WSUS and can take
minutes, longer than a scan should block on one host.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import ParseError, as_dict, as_list, as_str, parse_ps_date, ps_json

SCRIPT = r"""
$h = @(Get-HotFix | Select-Object HotFixID,Description,InstalledOn)
$last = $null; $search = $null; $err = $null
try { $r = (New-Object -ComObject Microsoft.Update.AutoUpdate).Results; $last = $r.LastInstallationSuccessDate; $search = $r.LastSearchSuccessDate } catch { $err = $_.Exception.Message }
[pscustomobject]@{HotFixes=$h;LastInstallationSuccessDate=$last;LastSearchSuccessDate=$search;AutoUpdateError=$err} | ConvertTo-Json -Depth 4 -Compress
"""


class HotFix(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    description: str | None = None
    installed_on: datetime | None = None


class UpdatesFacts(Facts):
    hotfixes: list[HotFix] = Field(default_factory=list)
    last_installation_success: datetime | None = None  # Windows Update Agent
    last_search_success: datetime | None = None
    auto_update_error: str | None = None

    @property
    def last_update(self) -> datetime | None:
        dates = [h.installed_on for h in self.hotfixes if h.installed_on] + (
            [self.last_installation_success] if self.last_installation_success else [])
        return max(dates) if dates else None


def parse_updates(data: Any) -> UpdatesFacts:
    d = as_dict(data)
    fixes = []
    for raw in as_list(d.get("HotFixes")):
        r = as_dict(raw)
        hid = as_str(r.get("HotFixID"))
        if not hid:
            continue  # WMI returns placeholder rows ("File 1") without an id on some builds
        fixes.append(HotFix(id=hid, description=as_str(r.get("Description")), installed_on=parse_ps_date(r.get("InstalledOn"))))
    return UpdatesFacts(
        hotfixes=fixes,
        last_installation_success=parse_ps_date(d.get("LastInstallationSuccessDate")),
        last_search_success=parse_ps_date(d.get("LastSearchSuccessDate")),
        auto_update_error=as_str(d.get("AutoUpdateError")),
    )


@collector("windows.updates", facts=UpdatesFacts, os=OsFamily.WINDOWS)
def collect_updates(p: Probe) -> UpdatesFacts:
    """Installed hotfixes and the date updates were last installed."""
    ok, data = ps_json(p, SCRIPT, fact="updates", ref="Get-HotFix; Microsoft.Update.AutoUpdate Results")
    if not ok:
        return UpdatesFacts()
    try:
        return parse_updates(data)
    except ParseError as exc:
        p.note("updates", Reason.FAILED, f"unexpected Get-HotFix output: {exc}")
        return UpdatesFacts()
