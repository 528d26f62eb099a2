"""Installed updates (Get-HotFix), the OS build revision (UBR) and Windows Update's own record; the
build, InstallationType and EditionID also tell the OS's end of support (checks/windows/eos.py).

Which patch level a host runs is told by its build revision: HKLM\\SOFTWARE\\Microsoft\\Windows NT\
CurrentVersion CurrentBuild + UBR, looked up in config/windows_builds.yaml (build.UBR -> release date of
that cumulative update). That is the fact a patch-age check should read (`patch_level_date`).
LastInstallationSuccessDate is kept as evidence only: it also moves when just Defender definitions
install, so a host whose cumulative updates fail would look freshly patched.
Get-HotFix's InstalledOn is parsed by PowerShell with the *current culture* and comes back empty on some
locales; the WMI string (InstalledOnRaw: `10/12/2023`, `2023/10/12`, or a hex FILETIME on old builds) is
read as a fallback. Pending updates are not searched by default: a Windows Update Agent search goes to
Microsoft or WSUS and can take minutes, longer than a scan should block on one host.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import (
    ParseError,
    as_dict,
    as_int,
    as_list,
    as_str,
    parse_local_datetime,
    parse_ps_date,
    ps_json,
)

SCRIPT = r"""
$h = @(Get-HotFix | Select-Object HotFixID,Description,InstalledOn,@{n='InstalledOnRaw';e={[string]$_.psbase.Properties['InstalledOn'].Value}})
$cv = $null; try { $cv = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion' -ErrorAction Stop } catch { }
$last = $null; $search = $null; $err = $null
try { $r = (New-Object -ComObject Microsoft.Update.AutoUpdate).Results; $last = $r.LastInstallationSuccessDate; $search = $r.LastSearchSuccessDate } catch { $err = $_.Exception.Message }
[pscustomobject]@{HotFixes=$h;LastInstallationSuccessDate=$last;LastSearchSuccessDate=$search;AutoUpdateError=$err;
  CurrentBuild=$(if ($cv) {[string]$cv.CurrentBuild});UBR=$(if ($cv) {$cv.UBR});ProductName=$(if ($cv) {[string]$cv.ProductName});
  DisplayVersion=$(if ($cv) {[string]$cv.DisplayVersion});InstallationType=$(if ($cv) {[string]$cv.InstallationType});
  EditionID=$(if ($cv) {[string]$cv.EditionID})} | ConvertTo-Json -Depth 4 -Compress
"""


class HotFix(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    description: str | None = None
    installed_on: datetime | None = None


class BuildRelease(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    ubr: int
    kb: str
    date: date


class BuildLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    source: str
    releases: list[BuildRelease] = Field(min_length=1)


class BuildTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    data_as_of: date
    builds: dict[str, BuildLine]


def load_build_table(path: Path | None = None) -> BuildTable:
    """config/windows_builds.yaml; a bad file raises ValueError naming the file and the field."""
    import yaml
    from pydantic import ValidationError
    from tenken.config import data_path

    p = path or data_path("windows_builds.yaml")
    try:
        return BuildTable.model_validate(yaml.safe_load(p.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise ValueError(f"{p}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        raise ValueError(f"{p}: " + "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())) from None


class PatchLevel(BaseModel):
    """Where a build.UBR sits in the table: the cumulative update it contains and that update's date."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    build: str
    ubr: int
    line: str | None = None  # e.g. "Windows Server 2022"
    kb: str | None = None
    release_date: date | None = None  # of the newest table release the host has (None: older than the table)
    newer_than_table: bool = False  # UBR beyond the last row: at least that new, exact date unknown
    table_as_of: date | None = None  # date of the last row for this build
    source: str | None = None


def patch_level(build: str, ubr: int, table: BuildTable) -> PatchLevel | None:
    """The newest table release whose UBR the host has reached; None for a build the table does not know. Pure."""
    line = table.builds.get(build)
    if line is None:
        return None
    rows = sorted(line.releases, key=lambda r: r.ubr)
    have = [r for r in rows if r.ubr <= ubr]
    best = have[-1] if have else None
    return PatchLevel(build=build, ubr=ubr, line=line.name, kb=best.kb if best else None,
                      release_date=best.date if best else None, newer_than_table=ubr > rows[-1].ubr,
                      table_as_of=rows[-1].date, source=line.source)


class UpdatesFacts(Facts):
    hotfixes: list[HotFix] = Field(default_factory=list)
    os_build: str | None = None  # CurrentBuild, e.g. "20348"
    ubr: int | None = None  # update build revision, e.g. 2966
    product_name: str | None = None
    display_version: str | None = None  # 22H2, 23H2 ...
    installation_type: str | None = None  # Server | Server Core | Client
    edition_id: str | None = None  # Professional, Enterprise, EnterpriseS (LTSC), ServerStandard ... (end of support differs)
    patch: PatchLevel | None = None
    last_installation_success: datetime | None = None  # Windows Update Agent
    last_search_success: datetime | None = None
    auto_update_error: str | None = None

    @property
    def newest_hotfix(self) -> HotFix | None:
        dated = [h for h in self.hotfixes if h.installed_on]
        return max(dated, key=lambda h: h.installed_on or datetime.min.replace(tzinfo=UTC)) if dated else None

    @property
    def patch_level_date(self) -> datetime | None:
        """How old the host's patch level is, from what it runs, not from Windows Update's log: the release
        date of its build.UBR's cumulative update; when the UBR is newer than the table or the build is
        unknown, the newest hotfix's install date (a lower bound on freshness). Never LastInstallationSuccessDate."""
        if self.patch is not None and self.patch.release_date is not None and not self.patch.newer_than_table:
            return datetime.combine(self.patch.release_date, datetime.min.time(), tzinfo=UTC)
        h = self.newest_hotfix
        return h.installed_on if h else None

    @property
    def last_update(self) -> datetime | None:
        dates = [h.installed_on for h in self.hotfixes if h.installed_on] + (
            [self.last_installation_success] if self.last_installation_success else [])
        return max(dates) if dates else None


def parse_wmi_install_date(raw: str | None) -> datetime | None:
    """Win32_QuickFixEngineering.InstalledOn as WMI stores it: `10/12/2023` (M/d/yyyy), `2023/10/12`, or
    a 16-digit hex FILETIME on old builds. None when empty or unrecognised (never a guess)."""
    if not raw or not raw.strip():
        return None
    s = raw.strip()
    if re.fullmatch(r"[0-9A-Fa-f]{15,16}", s):
        try:
            return datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(s, 16) // 10)
        except OverflowError:
            return None
    try:
        return parse_local_datetime(s)
    except ParseError:
        return None


def parse_updates(data: Any, table: BuildTable | None = None) -> UpdatesFacts:
    d = as_dict(data)
    fixes = []
    for raw in as_list(d.get("HotFixes")):
        r = as_dict(raw)
        hid = as_str(r.get("HotFixID"))
        if not hid:
            continue  # WMI returns placeholder rows ("File 1") without an id on some builds
        when = parse_ps_date(r.get("InstalledOn")) or parse_wmi_install_date(as_str(r.get("InstalledOnRaw")))
        fixes.append(HotFix(id=hid, description=as_str(r.get("Description")), installed_on=when))
    build = as_str(d.get("CurrentBuild")) or None
    ubr = as_int(d.get("UBR"))
    return UpdatesFacts(
        os_build=build, ubr=ubr, product_name=as_str(d.get("ProductName")) or None,
        display_version=as_str(d.get("DisplayVersion")) or None, installation_type=as_str(d.get("InstallationType")) or None,
        edition_id=as_str(d.get("EditionID")) or None,
        patch=patch_level(build, ubr, table) if (table is not None and build and ubr is not None) else None,
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
        return parse_updates(data, load_build_table())
    except ParseError as exc:
        p.note("updates", Reason.FAILED, f"unexpected Get-HotFix output: {exc}")
        return UpdatesFacts()
