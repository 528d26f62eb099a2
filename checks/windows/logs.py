"""Security event log retention on Windows (SO-17-1), an adapter of the shared retention rule
(checks/rules/logs.py): AutoBackup or Retain keep everything; Circular keeps the days MaxSize holds,
measured from the oldest event (projected from the fill rate while the log has not wrapped yet)."""

from __future__ import annotations

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, OsFamily, check
from tenken.checks.rules import logs as rules
from tenken.checks.rules.verdict import days
from tenken.collectors.windows.eventlog import EventLogFacts

EL = "windows.eventlog"
W = OsFamily.WINDOWS
#: A circular log this full has wrapped (or is about to): the oldest event is where retention ends.
FULL = 0.9


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1048576:.0f} MB"


def security_log_retention(f: EventLogFacts, now_days: float | None) -> tuple[rules.Retention, float | None, str]:
    """(kind, days, rule text) from the log's mode, sizes and the age of its oldest event (`now_days`)."""
    size = f"MaxSize {_mb(f.max_size)}"
    if f.mode == "AutoBackup":
        return rules.Retention.UNLIMITED, None, f"AutoBackup: archived when full, {size}"
    if f.mode == "Retain":
        return rules.Retention.UNLIMITED, None, f"Retain: never overwritten (new events are refused when full), {size}"
    if now_days is None or not f.max_size or not f.file_size:
        return rules.Retention.VOLUME, None, f"Circular, {size}, no event to date it"
    fill = f.file_size / f.max_size
    if fill >= FULL:
        return rules.Retention.DAYS, round(now_days, 1), f"Circular, {size}, oldest event {now_days:.0f} days ago, log full"
    projected = now_days / fill
    return (rules.Retention.DAYS, round(projected, 1),
            f"Circular, {size}, {fill:.0%} full after {now_days:.0f} days: projected from the fill rate")


@check("windows.logs.retention", clauses=rules.CLAUSES, needs=(EL,), os=W, severity=Severity.MEDIUM, title=rules.TITLE)
def retention(ctx: CheckContext) -> list[Finding]:
    f = ctx.get(EL, EventLogFacts)
    if (u := f.missing("security_log")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    if f.enabled is False:
        return [ctx.finding(
            Status.FAIL, title=Text(ja="セキュリティ ログが無効", en="Security event log disabled"), severity=Severity.HIGH,
            detail=Text(ja="セキュリティ イベント ログが無効にされており、ログオンの記録が残りません。",
                        en="The Security event log is disabled: no logon is recorded."),
            remediation=Text(ja="wevtutil sl Security /e:true で有効にしてください。", en="Enable it (wevtutil sl Security /e:true)."))]
    age = days(ctx.now - f.oldest) if f.oldest is not None else None
    kind, d, rule = security_log_retention(f, age)
    if f.source != "Get-WinEvent -ListLog Security":
        rule += f"; from the {f.source}"
    need = ctx.policy.logging.min_retention_days
    fix = Text(ja=f"グループ ポリシー（イベント ログ サービス > セキュリティ）で最大サイズを {need} 日分以上に増やすか、"
                  "「いっぱいになったらログを自動的にバックアップする」を有効にする、またはログ収集サーバーへ転送してください。",
               en=f"Raise the maximum size (Group Policy: Event Log Service > Security) to hold {need} days, enable "
                  "'Back up log automatically when full', or forward the events to a collector (WEF/SIEM).")
    return [ctx.verdict(rules.judge_retention(kind, d, ctx.policy.logging, where="Security", rule=rule, fix=fix), subject="Security")]
