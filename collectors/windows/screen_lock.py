"""Screen lock evidence on Windows: the machine inactivity limit and the screen saver settings of the
user hives loaded now.

- "Interactive logon: Machine inactivity limit" (Local Security Policy / GPO) is the DWORD
  InactivityTimeoutSecs under HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System: the
  session locks after that many idle seconds, for every user (enforced).
- The Group Policy screen saver (User Configuration > Administrative Templates > Control Panel >
  Personalization) writes REG_SZ ScreenSaveActive, ScreenSaverIsSecure ("Password protect the screen saver")
  and ScreenSaveTimeOut under HKU\\<SID>\\Software\\Policies\\Microsoft\\Windows\\Control Panel\\Desktop
  (enforced); the same names under HKU\\<SID>\\Control Panel\\Desktop are the user's own choice.
- InstallationType (HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion) says "Server Core" for a host
  without a desktop.
Only the hives of users loaded at scan time can be read (the WinRM account's is one of them).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import ParseError, as_dict, as_int, as_list, as_str, ps_json

SCRIPT = r"""
function R($k,$n){ try { (Get-ItemProperty -LiteralPath $k -Name $n -ErrorAction Stop).$n } catch { $null } }
$users = foreach ($k in @(Get-ChildItem -LiteralPath 'Registry::HKEY_USERS' -ErrorAction SilentlyContinue | Where-Object { $_.PSChildName -match '^S-1-5-21-[0-9-]+$' })) {
  $h = 'Registry::HKEY_USERS\' + $k.PSChildName
  $p = $h + '\Software\Policies\Microsoft\Windows\Control Panel\Desktop'
  $o = $h + '\Control Panel\Desktop'
  [pscustomobject]@{Sid=$k.PSChildName; PolicyActive=(R $p 'ScreenSaveActive'); PolicySecure=(R $p 'ScreenSaverIsSecure');
    PolicyTimeout=(R $p 'ScreenSaveTimeOut'); Active=(R $o 'ScreenSaveActive'); Secure=(R $o 'ScreenSaverIsSecure'); Timeout=(R $o 'ScreenSaveTimeOut')} }
[pscustomobject]@{InstallationType=(R 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion' 'InstallationType');
  InactivityTimeoutSecs=(R 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' 'InactivityTimeoutSecs');
  Users=@($users)} | ConvertTo-Json -Depth 3 -Compress
"""


class ScreenSaver(BaseModel):
    """One user's screen saver: from Group Policy (enforced) or the user's own settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    sid: str
    policy: bool  # from Software\Policies (Group Policy)
    active: bool | None = None
    secure: bool | None = None
    timeout_seconds: int | None = None


class ScreenLockFacts(Facts):
    installation_type: str | None = None  # Client | Server | Server Core
    inactivity_timeout_seconds: int | None = None  # machine inactivity limit; None: not set
    screensavers: list[ScreenSaver] = Field(default_factory=list)

    @property
    def desktop(self) -> bool:
        return (self.installation_type or "").strip().lower() != "server core"


def _flag(v: Any) -> bool | None:
    s = as_str(v)
    return None if s is None or s.strip() == "" else s.strip() == "1"


def parse_screen_lock(data: Any) -> ScreenLockFacts:
    d = as_dict(data)
    if "InactivityTimeoutSecs" not in d or "Users" not in d:
        raise ParseError("InactivityTimeoutSecs or Users missing")
    savers = []
    for raw in as_list(d.get("Users")):
        u = as_dict(raw)
        sid = as_str(u.get("Sid"))
        if not sid:
            raise ParseError("user hive without a SID")
        for policy, pre in ((True, "Policy"), (False, "")):
            vals = {k: u.get(pre + k) for k in ("Active", "Secure", "Timeout")}
            if all(v is None for v in vals.values()):
                continue
            savers.append(ScreenSaver(sid=sid, policy=policy, active=_flag(vals["Active"]), secure=_flag(vals["Secure"]),
                                      timeout_seconds=as_int(vals["Timeout"])))
    return ScreenLockFacts(installation_type=as_str(d.get("InstallationType")),
                           inactivity_timeout_seconds=as_int(d.get("InactivityTimeoutSecs")), screensavers=savers)


@collector("windows.screen_lock", facts=ScreenLockFacts, os=OsFamily.WINDOWS)
def collect_screen_lock(p: Probe) -> ScreenLockFacts:
    """The machine inactivity limit and the loaded users' screen saver settings (policy and own)."""
    ok, data = ps_json(p, SCRIPT, fact="screen_lock", ref="registry: InactivityTimeoutSecs, HKU\\*\\Control Panel\\Desktop")
    if not ok:
        return ScreenLockFacts()
    try:
        return parse_screen_lock(data)
    except ParseError as exc:
        p.note("screen_lock", Reason.FAILED, f"unexpected screen lock output: {exc}")
        return ScreenLockFacts()
