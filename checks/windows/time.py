"""Time synchronisation (SO-17-3): access-log time from a trusted source, regularly matched to standard
time. Judged with the Linux thresholds (policy `time`: offset, stratum, trusted servers) plus how long ago
Windows Time last synchronised (policy `windows.max_time_sync_age_hours`)."""

from __future__ import annotations

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, OsFamily, check
from tenken.checks.rules.time import CLAUSES, judge_offset, judge_source, judge_stratum
from tenken.checks.rules.verdict import Verdict
from tenken.collectors.windows.time import TimeFacts

TIME = "windows.time"

FIX_SOURCE = Text(
    ja="w32tm /config /manualpeerlist:\"ntp.nict.jp,0x8\" /syncfromflags:manual /update の後 w32tm /resync を実行するか、"
       "ドメインでは PDC エミュレーターを信頼できる NTP に同期させてください。",
    en="Run w32tm /config /manualpeerlist:\"ntp.nict.jp,0x8\" /syncfromflags:manual /update then w32tm /resync, or in a "
       "domain sync the PDC emulator to a trusted NTP server.")


@check("windows.time.sync", clauses=CLAUSES, needs=(TIME,), os=OsFamily.WINDOWS, severity=Severity.MEDIUM,
       title=Text(ja="時刻同期", en="Time synchronisation"))
def time_sync(ctx: CheckContext) -> list[Finding]:
    f = ctx.get(TIME, TimeFacts)
    tp = ctx.policy.time
    out: list[Finding] = []

    def bad(status: Status, subject: str, ja: str, en: str, fix: Text = FIX_SOURCE) -> None:
        out.append(ctx.finding(status, subject=subject, title=Text(ja="時刻同期の問題", en="Time synchronisation problem"),
                               detail=Text(ja=ja, en=en), remediation=fix))

    if f.service_status is not None and f.service_status.lower() != "running":
        bad(Status.FAIL, "W32Time", f"Windows Time サービスが動作していません（{f.service_status}）。",
            f"The Windows Time service is not running ({f.service_status}).",
            Text(ja="Set-Service W32Time -StartupType Automatic; Start-Service W32Time を実行してください。",
                 en="Run Set-Service W32Time -StartupType Automatic; Start-Service W32Time."))
        return out
    if (u := f.missing("status")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    src = f.source or "?"
    if f.source_kind in ("local_clock", "none") or f.leap_indicator == 3 or f.stratum == 0:
        bad(Status.FAIL, "source", f"時刻が同期されていません（ソース: {src}、階層: {f.stratum}）。ハードウェア時計のまま記録されています。",
            f"Time is not synchronised (source: {src}, stratum: {f.stratum}); the host runs on its own clock.")
        return out
    if f.source_kind == "vm_host":
        bad(Status.WARN, "source", "時刻はハイパーバイザー（VM IC Time Synchronization Provider）から得ています。ホストが信頼できる NTP に同期していることを確認してください。",
            "Time comes from the hypervisor (VM IC Time Synchronization Provider); confirm the host itself syncs to a trusted NTP server.",
            Text(ja="ホストの時刻同期を確認するか、ゲストで NTP を設定してください。", en="Check the host's time sync, or configure NTP in the guest."))
    # the shared rules (checks/rules/time.py): an untrusted source and a deep stratum warn, offset warns then fails
    domain = (f.config_type or "").upper() in ("NT5DS", "ALLSYNC")  # follows the domain hierarchy (a DC) by design
    found: list[Verdict | None] = []
    if f.source_kind == "ntp":
        found.append(judge_source([src], tp, domain_member=domain, fix=FIX_SOURCE))
    if f.stratum is not None:
        found.append(judge_stratum(f.stratum, tp, reference=src))
    if f.offset_seconds is not None:
        found.append(judge_offset(f.offset_seconds, tp, via="w32tm /stripchart", fix=Text(
            ja="w32tm /resync /force で再同期し、ポーリング間隔を確認してください。", en="Resync with w32tm /resync /force and check the poll interval.")))
    out.extend(ctx.verdict(v) for v in found if v is not None)
    limit_h = ctx.policy.windows.max_time_sync_age_hours
    if f.last_sync is None:
        bad(Status.WARN, "last_sync", "最終同期時刻が記録されていません。", "No last successful synchronisation is recorded.")
    else:
        hours = (ctx.now - f.last_sync).total_seconds() / 3600
        if hours > limit_h:
            bad(Status.WARN, "last_sync", f"最後の同期は約 {hours:.0f} 時間前です（基準 {limit_h:g} 時間以内）。ワークグループの既定では週 1 回しか同期しません。",
                f"Last synchronised about {hours:.0f} hours ago (policy: {limit_h:g} hours); workgroup hosts sync weekly by default.",
                Text(ja="HKLM\\SYSTEM\\CurrentControlSet\\Services\\W32Time\\TimeProviders\\NtpClient の SpecialPollInterval を 3600 などに短くしてください。",
                     en="Shorten SpecialPollInterval under HKLM\\SYSTEM\\CurrentControlSet\\Services\\W32Time\\TimeProviders\\NtpClient (e.g. 3600)."))
    if out:
        return out
    if f.offset_seconds is None and (u := f.missing("offset")) is not None:
        # the offset is what max_offset_seconds judges: unmeasured is not in range
        return [ctx.unavailable(u, title=ctx.spec.title, subject="offset")]
    off_ja = f"、ずれ {f.offset_seconds:+.4f} 秒" if f.offset_seconds is not None else "（ずれは測定できませんでした）"
    off_en = f", offset {f.offset_seconds:+.4f} s" if f.offset_seconds is not None else " (offset could not be measured)"
    sync = f.last_sync.strftime("%Y-%m-%d %H:%M") if f.last_sync else "?"
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja=f"{src} に同期しています（階層 {f.stratum}、最終同期 {sync}{off_ja}）。",
                                    en=f"Synchronised to {src} (stratum {f.stratum}, last sync {sync}{off_en})."))]
