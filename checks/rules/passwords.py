"""SO-14-6: lockout after failed logins. Policy `passwords.lockout_required` (none at all: fail, else
warn) and `passwords.lockout_max_deny` (more tries allowed: warn, because the guideline gives no number;
the 10 is bracketed by NIST SP 800-63B and CIS, see config/policy.yaml)."""

from __future__ import annotations

from tenken.checks.finding import Status, Text
from tenken.checks.policy import PasswordPolicy
from tenken.checks.rules.verdict import Verdict

LOCKOUT_CLAUSES = ("SO-14-6",)
LOCKOUT_TITLE = Text(ja="ログイン失敗時のアカウントロック", en="Account lockout after failed logins")


def judge_lockout(threshold: int | None, pol: PasswordPolicy, *, where: str, fix: Text) -> Verdict:
    """`threshold`: failures before lockout; None or 0 means accounts never lock."""
    if not threshold:
        return Verdict(
            Status.FAIL if pol.lockout_required else Status.WARN,
            Text(ja="ログイン失敗によるロックがない", en="No lockout after failed logins"), clauses=LOCKOUT_CLAUSES,
            detail=Text(ja=f"{where}: ログインに失敗してもアカウントはロックされません。オンラインでのパスワード推測を回数で制限できません。",
                        en=f"{where}: accounts never lock after failed logins, so online password guessing is not limited."),
            remediation=fix)
    if threshold > pol.lockout_max_deny:
        return Verdict(
            Status.WARN, Text(ja="ロックまでの失敗回数が多い", en="Too many failures allowed before lockout"), clauses=LOCKOUT_CLAUSES,
            detail=Text(ja=f"{where}: {threshold} 回の失敗でロック（方針の上限 {pol.lockout_max_deny} 回）。",
                        en=f"{where}: locks after {threshold} failures (policy maximum {pol.lockout_max_deny})."),
            remediation=fix)
    return Verdict(Status.PASS, LOCKOUT_TITLE, clauses=LOCKOUT_CLAUSES,
                   detail=Text(ja=f"{where}: {threshold} 回の失敗でロックされます（基準 {pol.lockout_max_deny} 回以下）。",
                               en=f"{where}: accounts lock after {threshold} failures (policy: {pol.lockout_max_deny} or fewer)."))
