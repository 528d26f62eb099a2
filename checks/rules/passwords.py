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


# -- length and character classes (Q&A シQ-54) ---------------------------------------------------------
QUALITY_CLAUSES = ("SO-14-6", "SO-8-5")
QUALITY_TITLE = Text(ja="類推されやすいパスワードの制限（長さ・文字種）", en="Guessable passwords restricted (length and classes)")


def judge_password_rule(length: int, classes: int, max_age_days: int | None, pol: PasswordPolicy, *,
                        where: str, fix: Text) -> Verdict:
    """Q&A シQ-54: (a) `min_length` (13) mixed characters; or (b)/(c) `min_length_with_mfa_or_rotation` (8)
    mixed characters changed within `max_age_days_for_short` (60) days or with two-factor authentication.

    `length`: the shortest password the host accepts; `classes`: character classes it forces (Windows'
    complexity rule forces 3); `max_age_days`: forced change period (None or 0: never). Long enough but
    unmixed is a warning (`passwords.unmixed_status`): the length already resists guessing and the
    guideline's wording puts length first; shorter and unmixed fails."""
    rotation = max_age_days is not None and 0 < max_age_days <= pol.max_age_days_for_short
    age_ja = f"{max_age_days} 日" if max_age_days else "無期限"
    age_en = f"{max_age_days} days" if max_age_days else "never"
    facts_ja = f"{where}: 最小 {length} 文字、必須文字種 {classes}、変更期限 {age_ja}"
    facts_en = f"{where}: at least {length} characters, {classes} classes required, maximum age {age_en}"
    if length >= pol.min_length and classes >= pol.min_classes:
        return Verdict(Status.PASS, QUALITY_TITLE, clauses=QUALITY_CLAUSES, detail=Text(
            ja=f"{facts_ja}。Q&A シQ-54 の「{pol.min_length} 文字以上・英数字記号混在」を満たします。",
            en=f"{facts_en}. Meets Q&A シQ-54's {pol.min_length}+ mixed characters."))
    if length >= pol.min_length:
        return Verdict(
            Status.FAIL if pol.unmixed_status == "fail" else Status.WARN,
            Text(ja="文字種の混在が強制されていない", en="Character-class mixing not enforced"), clauses=QUALITY_CLAUSES,
            detail=Text(ja=f"{facts_ja}。長さは十分ですが、英数字記号の混在（{pol.min_classes} 種）が強制されていません。",
                        en=f"{facts_en}. Length is sufficient but mixing {pol.min_classes} character classes is not enforced."),
            remediation=fix)
    if length >= pol.min_length_with_mfa_or_rotation and classes >= pol.min_classes and (rotation or pol.mfa_in_place):
        why_ja = "二要素認証あり（方針）" if pol.mfa_in_place else f"{max_age_days} 日以内の変更"
        why_en = "two-factor authentication in place (policy)" if pol.mfa_in_place else f"changed within {max_age_days} days"
        return Verdict(Status.PASS, QUALITY_TITLE, clauses=QUALITY_CLAUSES, detail=Text(
            ja=f"{facts_ja}。{pol.min_length_with_mfa_or_rotation} 文字以上・英数字記号混在＋{why_ja}で Q&A シQ-54 を満たします。",
            en=f"{facts_en}. {pol.min_length_with_mfa_or_rotation}+ mixed characters with {why_en} meets Q&A シQ-54."))
    return Verdict(
        Status.FAIL, Text(ja="パスワードの長さ・文字種の制限が基準未満", en="Password length or class rule below the Q&A rule"),
        clauses=QUALITY_CLAUSES, remediation=fix,
        detail=Text(ja=f"{facts_ja}。Q&A シQ-54 の基準（{pol.min_length} 文字以上、または {pol.min_length_with_mfa_or_rotation} 文字以上で"
                       f" {pol.max_age_days_for_short} 日以内の変更か二要素認証、いずれも英数字記号 {pol.min_classes} 種混在）を満たしません。",
                    en=f"{facts_en}. Below Q&A シQ-54 ({pol.min_length}+ characters, or {pol.min_length_with_mfa_or_rotation}+ with "
                       f"changes within {pol.max_age_days_for_short} days or two-factor authentication; {pol.min_classes} classes mixed in every case)."))
