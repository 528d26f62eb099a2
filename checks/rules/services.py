"""MHLW checklist ⑫ 「不要なソフトウェア・サービスの停止」, cited as SO-8-3 (threats spreading over the
network) and SO-7-6 (functions not used for work removed or stopped): a listener on a port policy
`services.unnecessary_ports` names (ftp, telnet, tftp, rpcbind, r-services, nfs) is `services.active_status`
(fail), or a warning when only loopback can reach it. The same for Linux (ss / /proc/net) and Windows
(Get-NetTCPConnection -State Listen, Get-NetUDPEndpoint)."""

from __future__ import annotations

from dataclasses import dataclass

from tenken.checks.finding import Severity, Status, Text
from tenken.checks.policy import ServicePolicy
from tenken.checks.rules.verdict import Verdict

CLAUSES = ("SO-8-3", "SO-7-6")
PORTS_TITLE = Text(ja="不要なポートで待ち受けていない", en="No listener on an unneeded port")


@dataclass(frozen=True)
class Listening:
    proto: str  # tcp | udp
    address: str
    port: int
    owner: str | None = None  # process (and service) behind it

    @property
    def loopback_only(self) -> bool:
        a = self.address.split("%", 1)[0]
        return a.startswith("127.") or a == "::1"

    @property
    def label(self) -> str:
        return f"{self.proto}/{self.port} {self.address}{' (' + self.owner + ')' if self.owner else ''}"


def judge_ports(listeners: list[Listening], pol: ServicePolicy, *, source: str) -> list[Verdict]:
    out = []
    for li in listeners:
        svc = pol.unnecessary_ports.get(li.port)
        if svc is None:
            continue
        local = li.loopback_only
        out.append(Verdict(
            Status.WARN if local else (Status.FAIL if pol.active_status == "fail" else Status.WARN),
            Text(ja=f"不要なポート {li.port}（{svc}）で待ち受け", en=f"Listening on unneeded port {li.port} ({svc})"), clauses=CLAUSES,
            severity=Severity.MEDIUM if local else Severity.HIGH, subject=f"{li.proto}/{li.port}/{li.address}",
            detail=Text(ja=f"{li.label} が待ち受けています。{'ループバックのみですが、' if local else ''}{svc} は方針で不要とされています。",
                        en=f"{li.label} is listening.{' Loopback only, but' if local else ''} {svc} is listed as unneeded by policy."),
            remediation=Text(ja="待ち受けているサービスを停止・無効化してください。", en="Stop and disable the service listening there.")))
    if out:
        return out
    ports = ", ".join(str(p) for p in sorted(pol.unnecessary_ports))
    return [Verdict(Status.PASS, PORTS_TITLE, clauses=CLAUSES, detail=Text(
        ja=f"{len(listeners)} 件の待ち受け（{source}）に方針で不要なポート（{ports}）はありません。",
        en=f"None of {len(listeners)} listeners ({source}) is on a port policy lists as unneeded ({ports})."))]


SERVICES_TITLE = Text(ja="不要なサービスの停止", en="Unneeded services stopped")


@dataclass(frozen=True)
class ServiceState:
    """One service policy names, as an OS adapter found it: signs it runs or starts at boot (systemd unit
    enabled, inetd entry, process, listener; Windows: Running or StartMode Auto) and signs it is only
    installed (a package; a Windows service registered Manual or Disabled and stopped)."""

    name: str
    active: tuple[str, ...] = ()
    installed: tuple[str, ...] = ()


def judge_services(states: list[ServiceState], pol: ServicePolicy, *, checked: Text, fix_active: Text, fix_installed: Text) -> list[Verdict]:
    """Enabled or running: `services.active_status` (fail); installed only: `services.installed_status` (warn);
    none: one pass naming what was checked. The same for systemd/SysV/inetd and for Windows services."""
    out = []
    for s in states:
        if s.active:
            signs = "; ".join(s.active + s.installed)
            out.append(Verdict(
                Status.FAIL if pol.active_status == "fail" else Status.WARN,
                Text(ja=f"不要なサービス {s.name} が有効", en=f"Unneeded service {s.name} is enabled"), clauses=CLAUSES,
                severity=Severity.HIGH, subject=s.name, remediation=fix_active,
                detail=Text(ja=f"{s.name} は方針で不要とされるサービスですが、有効または稼働しています: {signs}。",
                            en=f"{s.name} is listed as unneeded by policy but is enabled or running: {signs}.")))
        elif s.installed:
            signs = "; ".join(s.installed)
            out.append(Verdict(
                Status.FAIL if pol.installed_status == "fail" else Status.WARN,
                Text(ja=f"不要なサービス {s.name} が導入済み", en=f"Unneeded service {s.name} is installed"), clauses=CLAUSES,
                severity=Severity.HIGH, subject=s.name, remediation=fix_installed,
                detail=Text(ja=f"{s.name} は起動設定されていませんが導入されています: {signs}。",
                            en=f"{s.name} is not set to start but is installed: {signs}.")))
    if out:
        return out
    names = ", ".join(sorted(s.name for s in states))
    return [Verdict(Status.PASS, SERVICES_TITLE, clauses=CLAUSES, detail=Text(
        ja=f"方針で不要とされるサービス（{names}）は有効化・稼働・導入されていません（{checked.ja}）。",
        en=f"None of the services policy lists as unneeded ({names}) is enabled, running or installed ({checked.en})."))]
