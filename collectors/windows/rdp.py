"""Remote Desktop: whether it accepts connections and whether Network Level Authentication is required.

Group Policy values (HKLM\\SOFTWARE\\Policies\\...\\Terminal Services) override the local ones, as the
Remote Desktop service itself resolves them. Without NLA, the logon screen is offered to anyone who can
reach port 3389 before they authenticate (BlueKeep-class exposure, credential guessing).
"""

from __future__ import annotations

from tenken.collectors.evidence import Facts
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._registry import read_registry

TS = r"HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server"
RDP_TCP = TS + r"\WinStations\RDP-Tcp"
POLICY = r"HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services"

VALUES = {
    "fDenyTSConnections": (TS, "fDenyTSConnections"),
    "UserAuthentication": (RDP_TCP, "UserAuthentication"),
    "SecurityLayer": (RDP_TCP, "SecurityLayer"),
    "PortNumber": (RDP_TCP, "PortNumber"),
    "PolicyDenyTSConnections": (POLICY, "fDenyTSConnections"),
    "PolicyUserAuthentication": (POLICY, "UserAuthentication"),
}


class RdpFacts(Facts):
    enabled: bool | None = None
    nla_required: bool | None = None
    port: int | None = None
    security_layer: int | None = None  # 0 RDP, 1 negotiate, 2 TLS
    from_policy: bool = False


def resolve_rdp(v: dict[str, int | None]) -> RdpFacts:
    """Effective settings: policy over local; absent fDenyTSConnections means denied (Windows' default),
    absent UserAuthentication means NLA required (the default since Windows Server 2012)."""
    deny = v.get("PolicyDenyTSConnections")
    from_policy = deny is not None
    if deny is None:
        deny = v.get("fDenyTSConnections")
    nla = v.get("PolicyUserAuthentication")
    from_policy = from_policy or nla is not None
    if nla is None:
        nla = v.get("UserAuthentication")
    return RdpFacts(
        enabled=(deny == 0) if deny is not None else False,
        nla_required=(nla != 0) if nla is not None else True,
        port=v.get("PortNumber"),
        security_layer=v.get("SecurityLayer"),
        from_policy=from_policy,
    )


@collector("windows.rdp", facts=RdpFacts, os=OsFamily.WINDOWS)
def collect_rdp(p: Probe) -> RdpFacts:
    """Remote Desktop enabled or not, and whether NLA is required."""
    vals = read_registry(p, VALUES, fact="rdp", ref=r"registry: Terminal Server fDenyTSConnections, RDP-Tcp UserAuthentication")
    return resolve_rdp(vals) if vals is not None else RdpFacts()
