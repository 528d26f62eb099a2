"""Local users (Get-LocalUser) and members of the built-in Administrators group (SID S-1-5-32-544).

The group is found by SID, not by name: names are localised on some editions and renamed by hardening
guides. Get-LocalGroupMember throws on orphaned SIDs (a deleted domain account still in the group), so the
script falls back to ADSI then. No password data exists here beyond "required" and dates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import ParseError, as_bool, as_dict, as_list, as_str, parse_ps_date, ps_json

SCRIPT = r"""
if (-not (Get-Command Get-LocalUser -ErrorAction SilentlyContinue)) { [Console]::Error.WriteLine('Get-LocalUser is not available (needs Windows PowerShell 5.1)'); exit 127 }
$u = @(Get-LocalUser | Select-Object Name,Enabled,LastLogon,PasswordLastSet,PasswordRequired,PasswordExpires,@{n='SID';e={$_.SID.Value}})
$a = @(try { Get-LocalGroupMember -SID 'S-1-5-32-544' | Select-Object Name,@{n='ObjectClass';e={[string]$_.ObjectClass}},@{n='PrincipalSource';e={[string]$_.PrincipalSource}},@{n='SID';e={$_.SID.Value}} } catch {
  $g = (New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-544').Translate([System.Security.Principal.NTAccount]).Value.Split('\')[-1]
  ([ADSI]"WinNT://./$g,group").Invoke('Members') | ForEach-Object { [pscustomobject]@{Name=$_.GetType().InvokeMember('Name','GetProperty',$null,$_,$null);ObjectClass=$_.GetType().InvokeMember('Class','GetProperty',$null,$_,$null);PrincipalSource=$null;SID=$null} } })
[pscustomobject]@{Users=$u;Administrators=$a} | ConvertTo-Json -Depth 4 -Compress
"""


class WinUser(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    sid: str | None = None
    enabled: bool
    last_logon: datetime | None = None
    password_last_set: datetime | None = None
    password_required: bool | None = None
    password_expires: datetime | None = None

    @property
    def rid(self) -> int | None:
        """The relative id: 500 is the built-in Administrator, 501 Guest, 503 DefaultAccount, 504 WDAGUtilityAccount."""
        if self.sid and self.sid.rsplit("-", 1)[-1].isdigit():
            return int(self.sid.rsplit("-", 1)[-1])
        return None


class AdminMember(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    object_class: str | None = None  # User / Group (localised: ユーザー / グループ)
    source: str | None = None  # Local / ActiveDirectory / AzureAD / MicrosoftAccount
    sid: str | None = None


class WinAccountsFacts(Facts):
    users: list[WinUser] = Field(default_factory=list)
    administrators: list[AdminMember] = Field(default_factory=list)


# PrincipalSource as a number (an enum serialised without the script's [string] cast)
_SOURCES = {"0": "Unknown", "1": "Local", "2": "ActiveDirectory", "3": "AzureAD", "4": "MicrosoftAccount"}


def parse_accounts(data: Any) -> tuple[list[WinUser], list[AdminMember]]:
    """The script's JSON to typed users and admins. Pure; raises ParseError on an unknown shape."""
    d = as_dict(data)
    users = []
    for raw in as_list(d.get("Users")):
        r = as_dict(raw)
        name = as_str(r.get("Name"))
        if not name:
            raise ParseError("user without a name")
        users.append(WinUser(
            name=name,
            sid=as_str(r.get("SID")) if not isinstance(r.get("SID"), dict) else as_str(r["SID"].get("Value")),
            enabled=bool(as_bool(r.get("Enabled"))),
            last_logon=parse_ps_date(r.get("LastLogon")),
            password_last_set=parse_ps_date(r.get("PasswordLastSet")),
            password_required=as_bool(r.get("PasswordRequired")),
            password_expires=parse_ps_date(r.get("PasswordExpires")),
        ))
    admins = []
    for raw in as_list(d.get("Administrators")):
        r = as_dict(raw)
        name = as_str(r.get("Name"))
        if not name:
            raise ParseError("group member without a name")
        src = as_str(r.get("PrincipalSource"))
        sid = r.get("SID")
        admins.append(AdminMember(
            name=name,
            object_class=as_str(r.get("ObjectClass")),
            source=_SOURCES.get(src, src) if src is not None else None,
            sid=as_str(sid.get("Value")) if isinstance(sid, dict) else as_str(sid),
        ))
    return users, admins


@collector("windows.accounts", facts=WinAccountsFacts, os=OsFamily.WINDOWS)
def collect_accounts(p: Probe) -> WinAccountsFacts:
    """Local users with logon and password dates, and who is in Administrators."""
    facts = WinAccountsFacts()
    ok, data = ps_json(p, SCRIPT, fact="users", ref="Get-LocalUser; Get-LocalGroupMember -SID S-1-5-32-544")
    if not ok:
        return facts
    try:
        facts.users, facts.administrators = parse_accounts(data)
    except ParseError as exc:
        p.note("users", Reason.FAILED, f"unexpected Get-LocalUser output: {exc}")
    return facts
