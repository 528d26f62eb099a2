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


# -- pending updates -----------------------------------------------------------------------------------
PENDING_TITLE = Text(ja="未適用のセキュリティ更新がない", en="No pending security updates")
LIST_MAX = 15


def _names(names: list[str]) -> str:
    s = sorted(names)
    more = f" … (+{len(s) - LIST_MAX})" if len(s) > LIST_MAX else ""
    return ", ".join(s[:LIST_MAX]) + more


def judge_pending(security: list[str], other: list[str], pol: PatchPolicy, *, source: str, fix: Text) -> list[Verdict]:
    """Policy `patches.max_pending_security` (0: any pending security update fails, SO-8-3) and
    `patches.max_pending_total` (non-security updates beyond it warn, low; null: any). `security`/`other`:
    the pending updates' names (packages on Linux, update titles or KBs on Windows)."""
    out = []
    if len(security) > pol.max_pending_security:
        out.append(Verdict(
            Status.FAIL, Text(ja="未適用のセキュリティ更新がある", en="Security updates are pending"), clauses=CLAUSES,
            severity=Severity.HIGH, subject="security", remediation=fix,
            detail=Text(ja=f"セキュリティ更新 {len(security)} 件が未適用です（許容 {pol.max_pending_security} 件、{source}）: {_names(security)}",
                        en=f"{len(security)} security updates are pending (policy allows {pol.max_pending_security}; {source}): {_names(security)}")))
    limit = pol.max_pending_total if pol.max_pending_total is not None else 0
    if len(other) > limit:
        out.append(Verdict(
            Status.WARN, Text(ja="未適用の更新（セキュリティ以外）がある", en="Non-security updates are pending"), clauses=CLAUSES,
            severity=Severity.LOW, subject="other", remediation=fix,
            detail=Text(ja=f"セキュリティ以外の更新 {len(other)} 件が未適用です: {_names(other)}",
                        en=f"{len(other)} non-security updates are pending: {_names(other)}")))
    return out


def pending_pass(total: int, *, source: str) -> Verdict:
    return Verdict(Status.PASS, PENDING_TITLE, clauses=CLAUSES, detail=Text(
        ja=f"保留中のセキュリティ更新はありません（{source}、更新全体 {total} 件）。",
        en=f"No security updates pending ({source}; {total} updates pending in all)."))
