"""Time synchronisation (SO-17-3): access-log time from a trusted source, regularly matched to standard
time. Judged with the Linux thresholds (policy `time`: offset, stratum, trusted servers) plus how long ago
Windows Time last synchronised (policy `windows.max_time_sync_age_hours`)."""

from __future__ import annotations

from datetime import UTC, datetime

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, OsFamily, check
from tenken.collectors.windows.time import TimeFacts

TIME = "windows.time"

FIX_SOURCE = Text(
    ja="w32tm /config /manualpeerlist:\"ntp.nict.jp,0x8\" /syncfromflags:manual /update の後 w32tm /resync を実行するか、"
       "ドメインでは PDC エミュレーターを信頼できる NTP に同期させてください。",
    en="Run w32tm /config /manualpeerlist:\"ntp.nict.jp,0x8\" /syncfromflags:manual /update then w32tm /resync, or in a "
       "domain sync the PDC emulator to a trusted NTP server.")


def _host(name: str) -> str:
    return name.split(",")[0].strip().lower().rstrip(".")


@check("windows.time.sync", clauses=("SO-17-3",), needs=(TIME,), os=OsFamily.WINDOWS, severity=Severity.MEDIUM,
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
    if tp.trusted_servers and f.source_kind == "ntp" and _host(src) not in {_host(s) for s in tp.trusted_servers}:
        bad(Status.FAIL, "source", f"時刻ソース {src} は方針の信頼できるサーバー（{', '.join(tp.trusted_servers)}）ではありません。",
            f"Time source {src} is not one of the policy's trusted servers ({', '.join(tp.trusted_servers)}).")
    if f.stratum is not None and f.stratum > tp.max_stratum:
        bad(Status.FAIL, "stratum", f"階層（stratum）が {f.stratum} です（基準 {tp.max_stratum} 以下）。標準時から遠い情報源です。",
            f"Stratum is {f.stratum} (policy: {tp.max_stratum} or lower): far from standard time.")
    if f.offset_seconds is not None and abs(f.offset_seconds) > tp.max_offset_seconds:
        bad(Status.FAIL, "offset", f"時刻ソースとのずれが {f.offset_seconds:+.3f} 秒です（基準 ±{tp.max_offset_seconds:g} 秒）。",
            f"The clock is {f.offset_seconds:+.3f} s off its source (policy: ±{tp.max_offset_seconds:g} s).",
            Text(ja="w32tm /resync /force で再同期し、ポーリング間隔を確認してください。", en="Resync with w32tm /resync /force and check the poll interval."))
    limit_h = ctx.policy.windows.max_time_sync_age_hours
    if f.last_sync is None:
        bad(Status.WARN, "last_sync", "最終同期時刻が記録されていません。", "No last successful synchronisation is recorded.")
    else:
        hours = (datetime.now(UTC) - f.last_sync).total_seconds() / 3600
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
