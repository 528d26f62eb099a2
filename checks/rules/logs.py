"""SO-17-1: access logs recorded and kept long enough to be reviewed. The guideline gives no period; policy
`logging.min_retention_days` (365, an annual audit cycle) is a documented choice, so a shortfall warns
unless `logging.enforce_retention` makes it binding (fail).

How the days are counted differs by OS, not the rule:
- Linux logrotate: `rotate N` keeps N rotated files plus the current one, so N+1 periods of records
  (hourly 1/24, daily 1, weekly 7, monthly 30, yearly 365 days), capped by maxage plus one period;
  `size` alone rotates on volume (no time retention); `rotate -1` never deletes. journald: MaxRetentionSec.
- Windows Security event log: AutoBackup (AutoBackupLogFiles: archived when full) or Retain (never
  overwritten) keep everything; Circular (overwrite as needed) keeps as many days as MaxSize holds,
  measured from the oldest event (projected from the fill rate while the log has not wrapped yet).
"""

from __future__ import annotations

from enum import StrEnum

from tenken.checks.finding import Severity, Status, Text
from tenken.checks.policy import LoggingPolicy
from tenken.checks.rules.verdict import Verdict

CLAUSES = ("SO-17-1",)
TITLE = Text(ja="アクセスログの保存期間", en="Access log retention")


class Retention(StrEnum):
    DAYS = "days"  # a number of days is known
    UNLIMITED = "unlimited"  # nothing is ever deleted (archived or never overwritten)
    VOLUME = "volume"  # rotation on size only: the days depend on how much is logged
    UNDEFINED = "undefined"  # no rule covers the log at all


def judge_retention(kind: Retention, days: float | None, pol: LoggingPolicy, *, where: str, rule: str, fix: Text) -> Verdict:
    """`rule`: how the OS keeps the log (e.g. "rotate 4 × weekly, /etc/logrotate.d/rsyslog"), shown as evidence."""
    need = pol.min_retention_days
    if kind is Retention.UNLIMITED:
        return Verdict(Status.PASS, TITLE, clauses=CLAUSES, subject=where, detail=Text(
            ja=f"{where} は削除されずに保存されます（{rule}）。ディスク容量の監視と保管先の管理を続けてください（方針 {need} 日）。",
            en=f"{where} is never deleted ({rule}); keep watching disk space and where the archives go (policy {need} days)."))
    if kind is Retention.UNDEFINED:
        return Verdict(
            Status.WARN, Text(ja="ログの保存期間を確認できない", en="Log retention not determined"), clauses=CLAUSES, subject=where,
            severity=Severity.MEDIUM, remediation=fix,
            detail=Text(ja=f"{where} の保存期間を決める設定がありません（{rule}）。手作業での削除やディスク溢れに依存します。",
                        en=f"Nothing defines how long {where} is kept ({rule}); manual deletion or a full disk decides."))
    if kind is Retention.VOLUME or days is None:
        return Verdict(
            Status.WARN, Text(ja="ログの保存期間がサイズ基準で不定", en="Log retention depends on size only"), clauses=CLAUSES, subject=where,
            severity=Severity.MEDIUM, remediation=fix,
            detail=Text(ja=f"{where} はサイズ基準で入れ替わり（{rule}）、保存日数が決まりません（方針 {need} 日）。",
                        en=f"{where} is rotated by size ({rule}); the number of days kept is not defined (policy {need} days)."))
    if days < need:
        return Verdict(
            Status.FAIL if pol.enforce_retention else Status.WARN,
            Text(ja="ログの保存期間が方針より短い", en="Log retention shorter than policy"), clauses=CLAUSES, subject=where,
            severity=Severity.MEDIUM, remediation=fix,
            detail=Text(ja=f"{where} は約 {days:g} 日分しか保存されません（{rule}）。方針は {need} 日以上です。",
                        en=f"{where} is kept for about {days:g} days ({rule}); the policy asks for {need} days."))
    return Verdict(Status.PASS, TITLE, clauses=CLAUSES, subject=where, detail=Text(
        ja=f"{where} は約 {days:g} 日分保存されます（{rule}、方針 {need} 日）。",
        en=f"{where} is kept for about {days:g} days ({rule}; policy {need} days)."))
