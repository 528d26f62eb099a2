"""Network-facing services: SMBv1 (SO-8-3), Remote Desktop without NLA (SO-7-12), unneeded services and
listeners (SO-8-3, SO-7-6: the same rules as Linux, checks/rules/services.py)."""

from __future__ import annotations

from tenken.checks.finding import Finding, FindingKind, Severity, Status, Text
from tenken.checks.registry import CheckContext, OsFamily, check
from tenken.checks.rules import services as port_rules
from tenken.collectors.windows.listeners import ListenersFacts
from tenken.collectors.windows.rdp import RdpFacts
from tenken.collectors.windows.services import WinServicesFacts
from tenken.collectors.windows.smb import SmbFacts

W = OsFamily.WINDOWS
SMB = "windows.smb"
RDP = "windows.rdp"


@check("windows.smb1", clauses=("SO-8-3",), needs=(SMB,), os=W, severity=Severity.HIGH,
       title=Text(ja="SMBv1 の無効化", en="SMBv1 disabled"))
def smb1(ctx: CheckContext) -> list[Finding]:
    """SO-8-3: stop threats spreading over the network. SMBv1 is how WannaCry and NotPetya spread."""
    f = ctx.get(SMB, SmbFacts)
    if (u := f.missing("smb")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    if f.smb1_enabled is None:
        return [ctx.finding(Status.ERROR, title=ctx.spec.title, severity=Severity.MEDIUM,
                            detail=Text(ja="EnableSMB1Protocol を取得できませんでした。", en="EnableSMB1Protocol could not be read."))]
    if not f.smb1_enabled:
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja="SMB サーバーで SMBv1 は無効です。", en="SMBv1 is disabled on the SMB server."))]
    if ctx.policy.windows.allow_smb1:
        return [ctx.finding(Status.WARN, title=Text(ja="SMBv1 が有効（方針で許容）", en="SMBv1 enabled (allowed by policy)"),
                            detail=Text(ja="方針で SMBv1 を許容していますが、ワーム型マルウェアの感染経路になります。",
                                        en="The policy allows SMBv1, but it is a proven worm propagation path."),
                            remediation=Text(ja="SMBv1 を必要とする機器の更新計画を立ててください。", en="Plan to retire the devices that need SMBv1."))]
    return [ctx.finding(
        Status.FAIL, title=Text(ja="SMBv1 が有効", en="SMBv1 enabled"),
        detail=Text(ja="SMB サーバーが SMBv1 を受け付けます。WannaCry などのワームが感染を広げた経路です。",
                    en="The SMB server accepts SMBv1, the protocol WannaCry and similar worms spread through."),
        remediation=Text(ja="Set-SmbServerConfiguration -EnableSMB1Protocol $false を実行し、"
                            "Disable-WindowsOptionalFeature -Online -FeatureName SMB1Protocol で機能も削除してください。",
                         en="Run Set-SmbServerConfiguration -EnableSMB1Protocol $false and remove the feature with "
                            "Disable-WindowsOptionalFeature -Online -FeatureName SMB1Protocol."),
    )]


@check("windows.rdp.nla", clauses=("SO-7-12",), needs=(RDP,), os=W, severity=Severity.HIGH,
       title=Text(ja="リモート デスクトップのネットワーク レベル認証", en="Remote Desktop requires Network Level Authentication"))
def rdp_nla(ctx: CheckContext) -> list[Finding]:
    """SO-7-12: remote login only where needed and properly controlled. Without NLA the logon screen is
    served before authentication, to anyone who reaches the port."""
    f = ctx.get(RDP, RdpFacts)
    if (u := f.missing("rdp")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    if not f.enabled:
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja="リモート デスクトップ接続は無効です。", en="Remote Desktop connections are disabled."))]
    port = f.port or 3389
    if f.nla_required:
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja=f"リモート デスクトップは有効（ポート {port}）で、ネットワーク レベル認証が必須です。"
                                           "保守など必要な場合に限った利用であることを運用で確認してください。",
                                        en=f"Remote Desktop is enabled (port {port}) and requires Network Level Authentication. "
                                           "Confirm it is used only where needed, such as maintenance."))]
    status = Status.FAIL if ctx.policy.windows.require_rdp_nla else Status.WARN
    return [ctx.finding(
        status, subject=f"RDP:{port}", title=Text(ja="NLA なしでリモート デスクトップが有効", en="Remote Desktop enabled without NLA"),
        detail=Text(ja=f"リモート デスクトップ（ポート {port}）が、ネットワーク レベル認証なしで接続を受け付けます。"
                       "認証前にログオン画面が提供され、パスワード推測や脆弱性攻撃（BlueKeep 等）を受けやすくなります。",
                    en=f"Remote Desktop (port {port}) accepts connections without Network Level Authentication: the logon "
                       "screen is served before authentication, exposing it to password guessing and pre-auth exploits (BlueKeep)."),
        remediation=Text(ja="「システムのプロパティ > リモート」で「ネットワーク レベル認証でリモート デスクトップを実行しているコンピューターからのみ接続を許可する」を有効にするか、"
                            "不要ならリモート デスクトップを無効にしてください。",
                         en="Enable 'Allow connections only from computers running Remote Desktop with Network Level Authentication' "
                            "(System Properties > Remote), or disable Remote Desktop if it is not needed."),
    )]


LISTEN = "windows.listeners"


@check("windows.services.ports", clauses=port_rules.CLAUSES, needs=(LISTEN,), os=W, severity=Severity.HIGH, title=port_rules.PORTS_TITLE)
def ports(ctx: CheckContext) -> list[Finding]:
    """The same rule as linux.services.ports (checks/rules/services.py), over Get-NetTCPConnection/Get-NetUDPEndpoint."""
    f = ctx.get(LISTEN, ListenersFacts)
    if (u := f.missing("listeners")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    got = port_rules.judge_ports([port_rules.Listening(proto=li.proto, address=li.address, port=li.port, owner=li.owner) for li in f.listeners],
                                 ctx.policy.services, source="Get-NetTCPConnection -State Listen, Get-NetUDPEndpoint")
    return [ctx.verdict(v) for v in got]


@check("windows.services.listeners", clauses=port_rules.CLAUSES, needs=(LISTEN,), os=W, severity=Severity.INFO,
       kind=FindingKind.PROMPT, title=Text(ja="待ち受けポートの業務上の必要性の確認", en="Confirm every listening port is needed"))
def listeners(ctx: CheckContext) -> list[Finding]:
    """Which listeners the work needs is known to the hospital: list the TCP ones reachable from the network."""
    f = ctx.get(LISTEN, ListenersFacts)
    if (u := f.missing("listeners")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    tcp = [port_rules.Listening(proto=li.proto, address=li.address, port=li.port, owner=li.owner) for li in f.listeners if li.proto == "tcp"]
    ext = [li for li in tcp if not li.loopback_only and li.port < 49152]  # the dynamic RPC range is listed by count only
    dyn = [li for li in tcp if not li.loopback_only and li.port >= 49152]
    names = "; ".join(li.label for li in ext)
    return [ctx.finding(
        Status.MANUAL, kind=FindingKind.PROMPT, title=ctx.spec.title,
        detail=Text(ja=f"外部から到達可能な TCP の待ち受け {len(ext)} 件: {names or 'なし'}。動的ポート（49152 以上）{len(dyn)} 件。"
                       "それぞれが業務に必要なサービスであることを確認してください。",
                    en=f"{len(ext)} TCP listeners reachable from the network: {names or 'none'}. {len(dyn)} in the dynamic range (49152+). "
                       "Confirm each one is a service the work needs."),
        remediation=Text(ja="不要な待ち受けはサービスを停止し、必要なものは Windows ファイアウォールで接続元を制限してください。",
                         en="Stop services behind unneeded listeners and restrict the sources of the needed ones in Windows Firewall."))]


SERVICES = "windows.services"


def service_states(f: WinServicesFacts, unneeded: dict[str, str]) -> list[port_rules.ServiceState]:
    """Each policy service as the rule sees it: Running or Auto -> active; registered but Manual/Disabled and
    stopped -> installed only (a feature or product left on the host); not registered -> neither."""
    out = []
    for name, what in unneeded.items():
        s = f.get(name)
        label = f"{s.name if s else name} ({what})"
        if s is None:
            out.append(port_rules.ServiceState(name=label))
            continue
        sign = f"service {s.name}{' ' + repr(s.display_name) if s.display_name else ''}: State={s.state or '?'}, StartMode={s.start_mode or '?'}"
        out.append(port_rules.ServiceState(name=label, active=(sign,)) if s.starts else port_rules.ServiceState(name=label, installed=(sign,)))
    return out


@check("windows.services.unnecessary", clauses=port_rules.CLAUSES, needs=(SERVICES,), os=W, severity=Severity.HIGH,
       title=port_rules.SERVICES_TITLE)
def unnecessary(ctx: CheckContext) -> list[Finding]:
    """The same rule as linux.services.unnecessary (checks/rules/services.py), over Win32_Service."""
    f = ctx.get(SERVICES, WinServicesFacts)
    if (u := f.missing("services")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    states = service_states(f, ctx.policy.services.windows_unnecessary_services)
    got = port_rules.judge_services(
        states, ctx.policy.services,
        checked=Text(ja=f"確認: Win32_Service {len(f.services)} 件", en=f"checked: {len(f.services)} services from Win32_Service"),
        fix_active=Text(ja="業務に不要ならサービスを停止して無効化し（Set-Service -StartupType Disabled）、役割・機能またはソフトウェアを削除してください"
                           "（例: Uninstall-WindowsFeature Telnet-Server）。",
                        en="If not needed for work, stop and disable the service (Set-Service -StartupType Disabled) and remove the role, "
                           "feature or software (e.g. Uninstall-WindowsFeature Telnet-Server)."),
        fix_installed=Text(ja="業務に不要なら役割・機能またはソフトウェアを削除してください。",
                           en="Remove the role, feature or software if it is not needed for work."))
    return [ctx.verdict(v) for v in got]
