"""Reliable time for access logs (SO-17-3): a trusted source configured, and the clock synchronised to it.

SO-17-3 asks that the time used in access logs be reliable, synchronised within the institution and
regularly matched to standard time (in Japan, NICT's ntp.nict.jp or servers relaying it), with accuracy
adequate for records of care. Two checks: the configuration (what the host is told to follow) and the
live state (whether it actually follows it, how far off it is).
"""

from __future__ import annotations

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.rules.time import judge_offset, judge_source, judge_stratum
from tenken.collectors.evidence import Reason
from tenken.collectors.linux.timesync import TimeFacts, TimeSource

TIMESYNC = "linux.timesync"
CLAUSES = ("SO-17-3",)

FIX_SOURCE = Text(
    ja="chrony を導入し、/etc/chrony/chrony.conf（RHEL 系は /etc/chrony.conf）に院内 NTP サーバまたは "
       "`pool ntp.nict.jp iburst` を設定して chronyd を起動してください。",
    en="Install chrony, point /etc/chrony/chrony.conf (/etc/chrony.conf on RHEL) at the hospital's NTP server "
       "or `pool ntp.nict.jp iburst`, and start chronyd.",
)


def _matches(src: TimeSource, trusted: list[str]) -> bool:
    host = src.host.lower().rstrip(".")
    for t in trusted:
        t = t.lower().rstrip(".")
        if host == t or host.endswith("." + t):
            return True
    return False


def _label(s: TimeSource) -> str:
    return f"{s.host} ({s.daemon} {s.kind})"


@check(
    "linux.time.sources",
    clauses=CLAUSES,
    needs=(TIMESYNC,),
    severity=Severity.MEDIUM,
    title=Text(ja="信頼できる時刻源が設定されている", en="Trusted time source configured"),
)
def time_sources(ctx: CheckContext) -> list[Finding]:
    """A host with no NTP source keeps whatever time its hardware clock drifts to."""
    facts = ctx.get(TIMESYNC, TimeFacts)
    real = [s for s in facts.sources if not s.local_clock]
    daemons = ", ".join(d.name for d in facts.daemons) or "なし"
    daemons_en = ", ".join(d.name for d in facts.daemons) or "none"
    if not real:
        only_local = bool(facts.sources)
        return [ctx.finding(
            Status.FAIL,
            title=Text(ja="時刻源が設定されていない", en="No time source configured"),
            detail=Text(
                ja=("設定されている時刻源は自機の時計のみです。" if only_local else "NTP の時刻源がどこにも設定されていません。")
                   + f"（検出した時刻同期ソフト: {daemons}）",
                en=("The only configured source is the machine's own clock. " if only_local else "No NTP time source is configured anywhere. ")
                   + f"(time daemons found: {daemons_en})"),
            remediation=FIX_SOURCE,
        )]
    trusted = ctx.policy.time.trusted_servers
    listed = ", ".join(_label(s) for s in real)
    v = judge_source([s.host for s in real], ctx.policy.time, domain_member=False,
                     fix=Text(ja=f"時刻源を {', '.join(trusted)} に変更してください。", en=f"Point the time daemon at {', '.join(trusted)}."))
    if v is not None:
        return [ctx.verdict(v)]
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja=f"時刻源が設定されています: {listed}", en=f"Time sources configured: {listed}"))]


@check(
    "linux.time.sync",
    clauses=CLAUSES,
    needs=(TIMESYNC,),
    severity=Severity.MEDIUM,
    title=Text(ja="時刻が標準時刻に同期している", en="Clock synchronised to standard time"),
)
def time_sync(ctx: CheckContext) -> list[Finding]:
    """The daemon's own report: synchronised, and by how much the clock is off."""
    facts = ctx.get(TIMESYNC, TimeFacts)
    pol = ctx.policy.time
    st = facts.status
    if st is None:
        u = facts.missing("status")
        if u is None:
            return [ctx.finding(Status.ERROR, title=ctx.spec.title,
                                detail=Text(ja="時刻同期の状態を取得できませんでした。", en="The synchronisation state was not collected."))]
        if u.reason is Reason.ABSENT:
            return [ctx.finding(
                Status.FAIL, title=Text(ja="時刻同期ソフトがない", en="No time synchronisation daemon"),
                detail=Text(ja=f"時刻を同期する仕組みが見つかりません: {u.detail}", en=f"Nothing synchronises the clock: {u.detail}"),
                remediation=FIX_SOURCE,
            )]
        stopped = [d.name for d in facts.daemons if d.running is False]
        if stopped and not any(d.running for d in facts.daemons) and u.reason is not Reason.OFFLINE:
            return [ctx.finding(
                Status.FAIL, subject="not-running",
                title=Text(ja="時刻同期ソフトが動作していない", en="Time daemon configured but not running"),
                detail=Text(ja=f"{', '.join(stopped)} は設定されていますが動作していません（{u.detail}）。時刻は同期されていません。",
                            en=f"{', '.join(stopped)} is configured but not running ({u.detail}); the clock is not being synchronised."),
                remediation=Text(ja=f"{stopped[0]} を起動し、起動時に自動で開始されるよう設定してください。",
                                 en=f"Start {stopped[0]} and enable it at boot."),
            )]
        return [ctx.unavailable(u, title=ctx.spec.title)]
    ref = st.reference_name or st.reference_id or "?"
    via = st.queried_with
    if not st.synchronised:
        why_ja = "自機の時計（local 設定）にのみ同期しており、標準時刻に合っていません" if st.local_reference else "どの時刻源にも同期していません"
        why_en = "follows only its own clock (the `local` setting), not standard time" if st.local_reference else "is not synchronised to any source"
        return [ctx.finding(
            Status.FAIL, subject="unsynchronised",
            title=Text(ja="時刻が同期していない", en="Clock not synchronised"),
            detail=Text(ja=f"{st.daemon} の報告では、時計は{why_ja}（{via}、leap: {st.leap_status or '—'}）。",
                        en=f"{st.daemon} reports the clock {why_en} ({via}; leap: {st.leap_status or '-'})."),
            remediation=Text(ja="時刻源への到達性（UDP 123）と設定を確認してください（chronyc sources で状態を確認できます）。",
                             en="Check the sources are reachable (UDP 123) and configured (chronyc sources shows their state)."),
        )]
    out: list[Finding] = []
    off = st.offset_seconds
    found = [
        judge_offset(off, pol, via=via, fix=Text(ja="chrony の makestep 設定を確認するか、chronyc makestep で補正してください。",
                                                 en="Check chrony's makestep setting or step the clock with chronyc makestep."))
        if off is not None else None,
        judge_stratum(st.stratum, pol, reference=ref) if st.stratum is not None else None,
    ]
    out.extend(ctx.verdict(v) for v in found if v is not None)
    if out:
        return out
    off_txt = f"{off:+.6f}" if off is not None else "?"
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja=f"{st.daemon} により同期しています（参照 {ref}、stratum {st.stratum}、ずれ {off_txt} 秒、{via}）。",
                                    en=f"Synchronised by {st.daemon} (reference {ref}, stratum {st.stratum}, offset {off_txt} s; {via})."))]
