"""Unneeded services and listening ports (MHLW checklist ⑫ 「不要なソフトウェア・サービスの停止」).

Clause mapping, from the catalogue text: SO-8-3 asks that security measures be applied against the risk
of threats spreading through the networks the system is connected to — a clear-text or legacy network
service (telnet, rsh, tftp, NIS...) is exactly such a path. SO-7-6 says in so many words that applications
and functions not used for work are removed or stopped (for devices that handle medical information off
site; it applies when the scanned host is such a device). Both are cited; neither is a perfect fit, the
checklist item itself has no clause number.
"""

from __future__ import annotations

from tenken.checks.finding import Finding, FindingKind, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.rules import services as rules
from tenken.collectors.linux.services import Listener, ServicesFacts, resolve_service, unit_base

SERVICES = "linux.services"
CLAUSES = ("SO-8-3", "SO-7-6")


def _where(facts: ServicesFacts, name: str) -> tuple[list[str], list[str]]:
    """(signs it runs or starts, signs it is only installed) for one policy service name."""
    _, spec = resolve_service(name)
    active: list[str] = []
    for u in facts.enabled_units:
        if unit_base(u.name) in spec.units:
            active.append(f"systemd {u.wanted_by}/{u.name}")
    active += [f"SysV rc?.d S*{s}" for s in facts.sysv_enabled if s in spec.units]
    active += [f"inetd {e.service} ({e.source})" for e in facts.inetd_entries if e.service in spec.inetd]
    active += [f"process {p}" for p in facts.processes if p in spec.processes]
    active += [f"listening {li.proto}/{li.port} ({li.process})" for li in facts.listeners if li.process in spec.processes]
    installed = [f"package {p} {v}".strip() for p, v in facts.packages.items() if p in spec.packages]
    return active, installed


@check(
    "linux.services.unnecessary",
    clauses=CLAUSES,
    needs=(SERVICES,),
    severity=Severity.HIGH,
    title=rules.SERVICES_TITLE,
)
def unnecessary(ctx: CheckContext) -> list[Finding]:
    facts = ctx.get(SERVICES, ServicesFacts)
    pol = ctx.policy.services
    nothing_read = not facts.systemd_present and not facts.sysv_enabled and facts.missing("packages") is not None \
        and facts.missing("processes") is not None
    if nothing_read:
        u = facts.missing("processes") or facts.missing("packages")
        assert u is not None
        return [ctx.unavailable(u, title=ctx.spec.title)]
    states: list[rules.ServiceState] = []
    seen: set[str] = set()
    for name in pol.unnecessary_services:
        canon, _ = resolve_service(name)
        if canon in seen:
            continue
        seen.add(canon)
        active, installed = _where(facts, name)
        states.append(rules.ServiceState(name=canon, active=tuple(active), installed=tuple(installed)))
    limits_ja = [] if facts.missing("processes") is None else ["稼働プロセスは未確認（オフライン）"]
    limits_en = [] if facts.missing("processes") is None else ["running processes not checked (offline)"]
    if facts.missing("packages") is not None:
        limits_ja.append("パッケージは未確認")
        limits_en.append("packages not checked")
    checked = Text(
        ja=f"確認: systemd {len(facts.enabled_units)} ユニット、SysV {len(facts.sysv_enabled)}、inetd {len(facts.inetd_entries)}"
           f"{'、' + '、'.join(limits_ja) if limits_ja else ''}",
        en=f"checked: {len(facts.enabled_units)} systemd units, {len(facts.sysv_enabled)} SysV, {len(facts.inetd_entries)} inetd"
           f"{'; ' + '; '.join(limits_en) if limits_en else ''}")
    got = rules.judge_services(states, pol, checked=checked, fix_active=Text(
        ja="業務に不要なら停止・無効化し（systemctl disable --now、inetd.conf のコメントアウト）、パッケージを削除してください。",
        en="If not needed for work, stop and disable it (systemctl disable --now, comment it out of inetd.conf) and remove the package."),
        fix_installed=Text(ja="業務に不要ならパッケージを削除してください。", en="Remove the package if it is not needed for work."))
    return [ctx.verdict(v) for v in got]


def _label(li: Listener) -> str:
    return f"{li.proto}/{li.port} {li.address}{' (' + li.process + ')' if li.process else ''}"


@check(
    "linux.services.ports",
    clauses=rules.CLAUSES,
    needs=(SERVICES,),
    severity=Severity.HIGH,
    title=Text(ja="不要なポートで待ち受けていない", en="No listener on an unneeded port"),
)
def ports(ctx: CheckContext) -> list[Finding]:
    facts = ctx.get(SERVICES, ServicesFacts)
    if (u := facts.missing("listeners")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    got = rules.judge_ports([rules.Listening(proto=li.proto, address=li.address, port=li.port, owner=li.process) for li in facts.listeners],
                            ctx.policy.services, source=facts.listeners_source or "listeners")
    return [ctx.verdict(v) for v in got]


@check(
    "linux.services.listeners",
    clauses=CLAUSES,
    needs=(SERVICES,),
    severity=Severity.INFO,
    kind=FindingKind.PROMPT,
    title=Text(ja="待ち受けポートの業務上の必要性の確認", en="Confirm every listening port is needed"),
)
def listeners(ctx: CheckContext) -> list[Finding]:
    """Which listeners the work needs is known to the hospital, not to tenken: list them for the auditor."""
    facts = ctx.get(SERVICES, ServicesFacts)
    if (u := facts.missing("listeners")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    external = [li for li in facts.listeners if not li.loopback_only]
    local = [li for li in facts.listeners if li.loopback_only]
    ext = "; ".join(_label(li) for li in external) or "なし"
    ext_en = "; ".join(_label(li) for li in external) or "none"
    return [ctx.finding(
        Status.MANUAL, kind=FindingKind.PROMPT, title=ctx.spec.title,
        detail=Text(ja=f"外部から到達可能な待ち受け {len(external)} 件: {ext}。ループバックのみ {len(local)} 件。"
                       "それぞれが業務に必要なサービスであることを確認してください。",
                    en=f"{len(external)} listeners reachable from the network: {ext_en}. {len(local)} on loopback only. "
                       "Confirm each one is a service the work needs."),
        remediation=Text(ja="不要な待ち受けはサービスを停止し、必要なものは接続元を制限してください。",
                         en="Stop services behind unneeded listeners and restrict the sources of the needed ones."),
    )]
