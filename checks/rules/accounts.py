"""SO-14-7: unused IDs deleted. An enabled login account with no login within policy `accounts.stale_days`
(90, one quarter: a documented choice) warns. Every OS: UTC clock from the scan, the built-in superuser
(root, RID 500) excluded (it has its own ledger duty), and not_applicable when no account is left to judge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tenken.checks.finding import Status, Text
from tenken.checks.policy import AccountPolicy
from tenken.checks.rules.verdict import Verdict

CLAUSES = ("SO-14-7",)
TITLE = Text(ja="長期間未使用のログイン可能アカウント", en="Stale login accounts")


@dataclass(frozen=True)
class LoginAccount:
    name: str
    last_login: datetime | None  # None: never recorded
    builtin_superuser: bool = False


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def judge_stale(accounts: list[LoginAccount], now: datetime, pol: AccountPolicy, *, fix: str) -> list[Verdict]:
    """One verdict per stale account, or one pass / not_applicable. `fix` names the command, with {name}."""
    judged = [a for a in accounts if not a.builtin_superuser]
    if not judged:
        return [Verdict(Status.NOT_APPLICABLE, TITLE, clauses=CLAUSES,
                        detail=Text(ja="組み込みの管理者以外に判定するログイン可能アカウントはありません。",
                                    en="There is no login account other than the built-in administrator to judge."))]
    cutoff = _utc(now) - timedelta(days=pol.stale_days)
    out = []
    for a in judged:
        if a.last_login is not None and _utc(a.last_login) >= cutoff:
            continue
        when_ja = _utc(a.last_login).date().isoformat() if a.last_login else "記録なし"
        when_en = _utc(a.last_login).date().isoformat() if a.last_login else "never recorded"
        out.append(Verdict(
            Status.WARN, Text(ja="長期間ログインのないアカウント", en="Account unused for a long time"), clauses=CLAUSES, subject=a.name,
            detail=Text(ja=f"アカウント {a.name} の最終ログイン: {when_ja}（UTC、基準 {pol.stale_days} 日）。ID 台帳と照合し、不要なら削除してください。",
                        en=f"Account {a.name} last logged in: {when_en} (UTC; threshold {pol.stale_days} days). Check it against the ID ledger."),
            remediation=Text(ja=f"不要なら削除（{fix.format(name=a.name)}）し、必要なら台帳に理由を記録してください。",
                             en=f"Delete it ({fix.format(name=a.name)}) if unneeded, or record why it is kept.")))
    if out:
        return out
    return [Verdict(Status.PASS, TITLE, clauses=CLAUSES,
                    detail=Text(ja=f"ログイン可能な {len(judged)} アカウントはすべて {pol.stale_days} 日以内に使用されています。",
                                en=f"All {len(judged)} login accounts were used within {pol.stale_days} days."))]
