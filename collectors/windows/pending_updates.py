"""Missing updates as the Windows Update Agent sees them: IUpdateSearcher.Search("IsInstalled=0 and
Type='Software'") through the Microsoft.Update.Session COM object.

It searches whatever the host is configured to use, so it works against a hospital's WSUS as well as
Microsoft Update. Off by default (CollectSettings.windows_update_search): one search can take minutes and
a fleet searching at once loads the WSUS server; when on, it runs under its own timeout
(windows_update_search_timeout, default 300 s) and a timeout is recorded as `timeout`, never as "no
updates missing".
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import ParseError, as_bool, as_dict, as_int, as_list, as_str, ps_json

SCRIPT = r"""
$s = New-Object -ComObject Microsoft.Update.Session
$searcher = $s.CreateUpdateSearcher()
$server = $searcher.ServerSelection
$r = $searcher.Search("IsInstalled=0 and Type='Software' and IsHidden=0")
$u = @(foreach ($x in $r.Updates) { [pscustomobject]@{Title=[string]$x.Title;KB=@($x.KBArticleIDs) -join ',';
  Severity=[string]$x.MsrcSeverity;Security=[bool](@($x.Categories | Where-Object { $_.Name -eq 'Security Updates' -or $_.CategoryID -eq '0fa1201d-4330-4fa8-8ae9-b877473b6441' }).Count)} })
[pscustomobject]@{ResultCode=[int]$r.ResultCode;ServerSelection=[int]$server;Updates=$u} | ConvertTo-Json -Depth 4 -Compress
"""

#: IUpdateSearcher.ServerSelection: 0 default (WSUS when configured by policy), 1 managed server (WSUS), 2 Windows Update, 3 other
SERVER_SELECTION = {0: "default", 1: "wsus", 2: "windows_update", 3: "other"}
#: OperationResultCode: 2 succeeded, 3 succeeded with errors, 4 failed, 5 aborted
RESULT_OK = (2, 3)


class MissingUpdate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    title: str
    kbs: list[str] = Field(default_factory=list)
    severity: str | None = None  # MSRC: Critical | Important | Moderate | Low
    security: bool = False


class PendingUpdatesFacts(Facts):
    enabled: bool = False  # the search was asked for (policy windows.update_search)
    searched: bool = False  # False: the search was off (the default) or failed (see unavailable)
    server: str | None = None
    missing_updates: list[MissingUpdate] = Field(default_factory=list)


def parse_pending(data: Any) -> PendingUpdatesFacts:
    """The script's JSON; a failed search (result code 4/5) raises ParseError rather than "nothing missing"."""
    d = as_dict(data)
    code = as_int(d.get("ResultCode"))
    if code not in RESULT_OK:
        raise ParseError(f"Windows Update search did not succeed (OperationResultCode {code})")
    out = []
    for raw in as_list(d.get("Updates")):
        r = as_dict(raw)
        title = as_str(r.get("Title"))
        if not title:
            raise ParseError("update without a title")
        kbs = [f"KB{k.strip()}" for k in (as_str(r.get("KB")) or "").split(",") if k.strip().isdigit()]
        out.append(MissingUpdate(title=title, kbs=kbs, severity=as_str(r.get("Severity")) or None, security=bool(as_bool(r.get("Security")))))
    sel = as_int(d.get("ServerSelection"))
    return PendingUpdatesFacts(searched=True, server=SERVER_SELECTION.get(sel, str(sel)) if sel is not None else None, missing_updates=out)


@collector("windows.pending_updates", facts=PendingUpdatesFacts, os=OsFamily.WINDOWS)
def collect_pending_updates(p: Probe) -> PendingUpdatesFacts:
    """Updates the Windows Update Agent (or WSUS) reports as missing; only when enabled in the settings."""
    if not p.settings.windows_update_search:
        p.note("search", Reason.UNSUPPORTED, "Windows Update search is off (settings windows_update_search: false)")
        return PendingUpdatesFacts()
    off = PendingUpdatesFacts(enabled=True)
    ok, data = ps_json(p, SCRIPT, fact="search", ref="Microsoft.Update.Session IUpdateSearcher.Search",
                       timeout=p.settings.windows_update_search_timeout)
    if not ok:
        return off
    try:
        return parse_pending(data).model_copy(update={"enabled": True})
    except ParseError as exc:
        p.note("search", Reason.FAILED, str(exc))
        return off
