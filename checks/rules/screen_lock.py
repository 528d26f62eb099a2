"""SO-7-3 (access password so an unattended device cannot be read) and SO-14-2 (the authenticated session
stays the user's): the screen locks after inactivity, enforced so users cannot turn it off. Policy
`host.max_screen_lock_idle_seconds` (900: the common clinical-workstation setting; the guideline gives no
number) and `host.require_screen_lock` (fail, else warn). One outcome, one status on every OS:

- Linux: dconf idle-delay + lock-enabled (enforced by dconf locks), KDE kscreenlockerrc ([$i] immutable);
- Windows: "Interactive logon: Machine inactivity limit" (InactivityTimeoutSecs, machine-wide, enforced),
  or the Group Policy screen saver (Software\\Policies\\...\\Control Panel\\Desktop: ScreenSaveActive,
  ScreenSaverIsSecure, ScreenSaveTimeOut; enforced), or a user's own screen saver (not enforced).
"""

from __future__ import annotations

from dataclasses import dataclass

from tenken.checks.finding import Severity, Status, Text
from tenken.checks.policy import HostProtectionPolicy
from tenken.checks.rules.verdict import Verdict

CLAUSES = ("SO-7-3", "SO-14-2")
TITLE = Text(ja="画面ロック（一定時間操作がない場合）", en="Screen lock after inactivity")


@dataclass(frozen=True)
class LockSetting:
    source: str  # where the setting lives, shown as evidence
    idle_seconds: int | None  # inactivity before locking; 0 = never
    lock_enabled: bool | None  # the lock itself on (None: not said)
    enforced: bool  # users cannot change it (dconf locks, machine policy, Group Policy)


def _ok(s: LockSetting, limit: int) -> bool:
    return s.lock_enabled is not False and s.idle_seconds is not None and 0 < s.idle_seconds <= limit


def judge_screen_lock(settings: list[LockSetting], pol: HostProtectionPolicy, *, desktop: str | None,
                      fix_enforce: Text, fix_set: Text) -> Verdict:
    """`desktop`: what gives this host an interactive desktop; None: it has none (not applicable)."""
    limit = pol.max_screen_lock_idle_seconds
    if desktop is None:
        return Verdict(Status.NOT_APPLICABLE, TITLE, clauses=CLAUSES, detail=Text(
            ja="デスクトップ環境（対話型のログオン画面）がありません。", en="No desktop (interactive logon) on this host."))
    bad = Status.FAIL if pol.require_screen_lock else Status.WARN
    good = [s for s in settings if _ok(s, limit)]
    enforced = [s for s in good if s.enforced and s.lock_enabled is True]
    if enforced:
        s = enforced[0]
        return Verdict(Status.PASS, TITLE, clauses=CLAUSES, detail=Text(
            ja=f"{s.source}: {s.idle_seconds} 秒の無操作で画面ロック（利用者は変更不可、基準 {limit} 秒以内）。",
            en=f"{s.source}: screen locks after {s.idle_seconds} s idle (users cannot change it; policy {limit} s or less)."))
    if good:
        s = good[0]
        return Verdict(
            Status.WARN, Text(ja="画面ロックの設定が強制されていない", en="Screen lock not enforced"), clauses=CLAUSES,
            severity=Severity.MEDIUM, remediation=fix_enforce,
            detail=Text(ja=f"{s.source}: {s.idle_seconds} 秒で画面ロックする設定ですが、強制されておらず利用者が無効にできます。",
                        en=f"{s.source}: locks after {s.idle_seconds} s, but it is not enforced, so users can turn it off."))
    if settings:
        s = settings[0]
        why_ja = ("画面ロックが無効" if s.lock_enabled is False else "無操作時間が 0（画面がロックされない）" if s.idle_seconds == 0 else
                  f"無操作時間 {s.idle_seconds} 秒が方針の上限 {limit} 秒を超える" if s.idle_seconds is not None else "無操作時間の指定がない")
        why_en = ("screen lock disabled" if s.lock_enabled is False else "idle delay 0 (never locks)" if s.idle_seconds == 0 else
                  f"idle delay {s.idle_seconds} s exceeds the policy limit of {limit} s" if s.idle_seconds is not None else "no idle delay set")
        return Verdict(bad, Text(ja="画面ロックの設定が不適切", en="Screen lock setting inadequate"), clauses=CLAUSES,
                       severity=Severity.MEDIUM, remediation=fix_set,
                       detail=Text(ja=f"{s.source}: {why_ja}。", en=f"{s.source}: {why_en}."))
    return Verdict(
        bad, Text(ja="画面ロックの方針が設定されていない", en="No screen lock policy"), clauses=CLAUSES,
        severity=Severity.MEDIUM, remediation=fix_set,
        detail=Text(ja=f"デスクトップ環境（{desktop}）がありますが、画面ロックの設定が見つかりません。離席中の端末を他人が操作できる可能性があります。",
                    en=f"A desktop is present ({desktop}) but no screen lock setting was found; an unattended session can be used by someone else."))
