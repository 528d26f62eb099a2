"""SO-8-3: OS security patches applied. Time since updates were last installed, judged with policy
`patches.max_days_since_update` (warn; a monthly cycle) and `patches.fail_days_since_update` (fail; a
quarter), both documented choices in config/policy.yaml (the guideline gives no period)."""

from __future__ import annotations

from datetime import datetime

from tenken.checks.finding import Severity, Status, Text
from tenken.checks.policy import PatchPolicy
from tenken.checks.rules.verdict import Verdict, days

CLAUSES = ("SO-8-3",)
TITLE = Text(ja="更新が定期的に適用されている", en="Updates applied recently")


def judge_patch_age(last: datetime, now: datetime, pol: PatchPolicy, *, source: str, fix: Text) -> Verdict:
    """`last`: when updates were last installed (UTC); `source`: where that date comes from."""
    age = days(now - last)
    when = last.date().isoformat()
    if age > pol.fail_days_since_update:
        status, sev = Status.FAIL, Severity.HIGH
    elif age > pol.max_days_since_update:
        status, sev = Status.WARN, Severity.MEDIUM
    else:
        return Verdict(Status.PASS, TITLE, clauses=CLAUSES, detail=Text(
            ja=f"最後に更新を適用したのは {when}（{int(age)} 日前、{source}）で、基準 {pol.max_days_since_update} 日以内です。",
            en=f"Updates were last applied on {when} ({int(age)} days ago, {source}), within {pol.max_days_since_update} days."))
    return Verdict(
        status, Text(ja="長期間更新が適用されていない", en="No updates applied for a long time"), clauses=CLAUSES, severity=sev,
        detail=Text(ja=f"最後に更新を適用したのは {when}（{int(age)} 日前、{source}）です。"
                       f"基準: {pol.max_days_since_update} 日で警告、{pol.fail_days_since_update} 日で不合格。",
                    en=f"Updates were last applied on {when} ({int(age)} days ago, {source}). "
                       f"Policy: warn after {pol.max_days_since_update} days, fail after {pol.fail_days_since_update}."),
        remediation=fix)
