"""Windows Defender Firewall profiles (Get-NetFirewallProfile): on/off and default inbound action.

DefaultInboundAction "NotConfigured" means the built-in default, which blocks; GpoBoolean Enabled
"NotConfigured" likewise means the default, which is on.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import ParseError, as_dict, as_list, as_str, ps_json

SCRIPT = r"""
Get-NetFirewallProfile -PolicyStore ActiveStore | Select-Object Name,@{n='Enabled';e={[string]$_.Enabled}},@{n='DefaultInboundAction';e={[string]$_.DefaultInboundAction}},@{n='DefaultOutboundAction';e={[string]$_.DefaultOutboundAction}} | ConvertTo-Json -Compress
"""

_GPO_BOOL = {0: "False", 1: "True", 2: "NotConfigured"}
_ACTION = {0: "NotConfigured", 2: "Allow", 4: "Block"}


class FirewallProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    enabled: bool
    default_inbound: str  # Allow | Block (NotConfigured resolved to Block)
    default_outbound: str | None = None


class FirewallFacts(Facts):
    profiles: list[FirewallProfile] = Field(default_factory=list)


def _name(v: Any, names: dict[int, str]) -> str | None:
    if isinstance(v, int) and not isinstance(v, bool):
        return names.get(v, str(v))
    if isinstance(v, bool):
        return "True" if v else "False"
    s = as_str(v)
    if s is not None and s.strip().isdigit():
        return names.get(int(s), s)
    return s.strip() if s is not None else None


def parse_firewall(data: Any) -> list[FirewallProfile]:
    out = []
    for raw in as_list(data):
        r = as_dict(raw)
        name = as_str(r.get("Name"))
        if not name:
            raise ParseError("profile without a name")
        en = _name(r.get("Enabled"), _GPO_BOOL)
        inbound = _name(r.get("DefaultInboundAction"), _ACTION) or "NotConfigured"
        if en not in ("True", "False", "NotConfigured", None):
            raise ParseError(f"unknown Enabled value {en!r}")
        out.append(FirewallProfile(
            name=name,
            enabled=en != "False",
            default_inbound="Block" if inbound == "NotConfigured" else inbound,
            default_outbound=_name(r.get("DefaultOutboundAction"), _ACTION),
        ))
    return out


@collector("windows.firewall", facts=FirewallFacts, os=OsFamily.WINDOWS)
def collect_firewall(p: Probe) -> FirewallFacts:
    """Domain, Private and Public firewall profiles as in effect (ActiveStore: local + group policy)."""
    ok, data = ps_json(p, SCRIPT, fact="profiles", ref="Get-NetFirewallProfile -PolicyStore ActiveStore")
    if not ok:
        return FirewallFacts()
    try:
        profiles = parse_firewall(data)
    except ParseError as exc:
        p.note("profiles", Reason.FAILED, f"unexpected Get-NetFirewallProfile output: {exc}")
        return FirewallFacts()
    if not profiles:
        p.note("profiles", Reason.FAILED, "Get-NetFirewallProfile returned no profile")
    return FirewallFacts(profiles=profiles)
