"""OS security patches (SO-8-3): nothing pending, applied recently, in force (rebooted), kept up by itself.

SO-8-3 asks that OS security patches be applied appropriately to the risk; the MHLW inspection checklist
(item ⑥) asks the same in one line. Pending security updates are the direct evidence; the time since the
last upgrade catches hosts whose package index is too stale to show what is pending.
"""

from __future__ import annotations

from datetime import datetime

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.rules import patches as rules
from tenken.checks.rules.patches import judge_patch_age
from tenken.collectors.linux.patches import PatchFacts, PendingUpdate

PATCHES = "linux.patches"
CLAUSES = ("SO-8-3",)
LIST_MAX = 15


def _names(updates: list[PendingUpdate]) -> str:
    names = sorted(u.name for u in updates)
    more = f" … (+{len(names) - LIST_MAX})" if len(names) > LIST_MAX else ""
    return ", ".join(names[:LIST_MAX]) + more


def _days(when: datetime, now: datetime) -> int:
    return max(0, (now - when).days)


def _upgrade_cmd(facts: PatchFacts) -> Text:
    if facts.package_manager == "apt":
        return Text(ja="apt-get update && apt-get upgrade（必要なら dist-upgrade）を実行してください。",
                    en="Run apt-get update && apt-get upgrade (dist-upgrade where needed).")
    tool = facts.package_manager or "dnf"
    return Text(ja=f"{tool} upgrade --security（または {tool} upgrade）を実行してください。",
                en=f"Run {tool} upgrade --security (or {tool} upgrade).")


@check(
    "linux.patches.pending",
    clauses=CLAUSES,
    needs=(PATCHES,),
    severity=Severity.HIGH,
    title=Text(ja="未適用のセキュリティ更新がない", en="No pending security updates"),
)
def pending_updates(ctx: CheckContext) -> list[Finding]:
    """Pending security updates fail; other pending updates warn; a stale index makes "none" unreliable."""
    facts = ctx.get(PATCHES, PatchFacts)
    pol = ctx.policy.patches
    if facts.pending is None:
        u = facts.missing("pending")
        if u is None:
            return [ctx.finding(Status.ERROR, title=ctx.spec.title,
                                detail=Text(ja="保留中の更新を取得できませんでした（理由不明）。", en="Pending updates were not collected (no reason recorded)."))]
        return [ctx.unavailable(u, title=ctx.spec.title)]
    out: list[Finding] = []
    now = ctx.now
    sec = [u for u in facts.pending if u.security]
    other = [u for u in facts.pending if not u.security]
    src = facts.pending_source or "package manager"
    fix = _upgrade_cmd(facts)
    judged = rules.judge_pending([u.name for u in sec], [u.name for u in other] if facts.security_known else [], pol, source=src, fix=fix)
    out += [ctx.verdict(v) for v in judged if v.subject == "security"]
    if not facts.security_known and facts.pending:
        u = facts.missing("pending_security")
        out.append(ctx.finding(
            Status.WARN, subject="security-unknown",
            title=Text(ja="更新のうちセキュリティ修正か判別できない", en="Cannot tell which pending updates are security fixes"),
            detail=Text(ja=f"保留中の更新 {len(facts.pending)} 件のうち、セキュリティ修正の件数を判別できませんでした（{u.detail if u else '更新情報なし'}）。",
                        en=f"Of {len(facts.pending)} pending updates, the security ones could not be told apart ({u.detail if u else 'no advisory data'})."),
            remediation=_upgrade_cmd(facts),
        ))
    out += [ctx.verdict(v) for v in judged if v.subject == "other"]
    stale = facts.index_refreshed_at is not None and _days(facts.index_refreshed_at, now) > pol.max_days_since_update
    if stale:
        assert facts.index_refreshed_at is not None
        d = _days(facts.index_refreshed_at, now)
        out.append(ctx.finding(
            Status.WARN, subject="index",
            title=Text(ja="パッケージ情報が古く、未適用の更新を見落としている可能性", en="Package index is stale: pending updates may be missed"),
            detail=Text(ja=f"パッケージ一覧の最終更新は {d} 日前です（{facts.index_source}、基準 {pol.max_days_since_update} 日）。"
                           "この一覧に載らない新しいセキュリティ更新は数えられていません。",
                        en=f"The package index was last refreshed {d} days ago ({facts.index_source}; threshold {pol.max_days_since_update} days). "
                           "Security updates published since then are not counted."),
            remediation=Text(ja="apt-get update / dnf makecache で更新情報を取得してから再点検してください。",
                             en="Refresh the index (apt-get update / dnf makecache) and scan again."),
        ))
    if not out:
        out.append(ctx.verdict(rules.pending_pass(len(facts.pending), source=src)))
    return out


@check(
    "linux.patches.recency",
    clauses=CLAUSES,
    needs=(PATCHES,),
    severity=Severity.MEDIUM,
    title=Text(ja="更新が定期的に適用されている", en="Updates applied recently"),
)
def update_recency(ctx: CheckContext) -> list[Finding]:
    """When packages were last upgraded: a host nobody has patched for a quarter is not being maintained."""
    facts = ctx.get(PATCHES, PatchFacts)
    pol = ctx.policy.patches
    when = facts.last_upgrade_at
    what_en, source = "upgrade", facts.last_upgrade_source
    if when is None and facts.last_install_at is not None:
        # a freshly installed system has installs but no upgrade yet: its install date is its patch date
        when, what_en, source = facts.last_install_at, "install", "package history"
    if when is None:
        u = facts.missing("last_update")
        if u is not None and u.reason.value == "absent":
            return [ctx.finding(
                Status.WARN, title=ctx.spec.title,
                detail=Text(ja=f"更新を適用した記録が見つかりません: {u.detail}",
                            en=f"No record of updates being applied: {u.detail}"),
                remediation=_upgrade_cmd(facts),
            )]
        if u is not None:
            return [ctx.unavailable(u, title=ctx.spec.title)]
        return [ctx.finding(Status.ERROR, title=ctx.spec.title,
                            detail=Text(ja="更新履歴を取得できませんでした。", en="Update history was not collected."))]
    return [ctx.verdict(judge_patch_age(when, ctx.now, pol, source=source or what_en, fix=_upgrade_cmd(facts)))]


@check(
    "linux.patches.reboot",
    clauses=CLAUSES,
    needs=(PATCHES,),
    severity=Severity.MEDIUM,
    title=Text(ja="適用済みの更新が再起動で有効になっている", en="Installed updates in force (no reboot pending)"),
)
def reboot_pending(ctx: CheckContext) -> list[Finding]:
    """A kernel patch protects nothing until the machine boots it."""
    facts = ctx.get(PATCHES, PatchFacts)
    k = facts.kernel
    out: list[Finding] = []
    reboot_ja = Text(ja="業務影響の少ない時間帯に再起動してください。", en="Reboot in a maintenance window.")
    status = Status.WARN  # the patch is installed, so not a failure to patch; but not yet protecting
    if k.newer_installed:
        out.append(ctx.finding(
            status, subject="kernel",
            title=Text(ja="新しいカーネルが導入済みだが未起動", en="A newer kernel is installed but not running"),
            detail=Text(ja=f"稼働中のカーネル {k.running} より新しい {k.newest_installed} が導入されています（{k.installed_source}）。再起動するまで修正は有効になりません。",
                        en=f"Kernel {k.newest_installed} is installed ({k.installed_source}) but {k.running} is running; its fixes apply only after a reboot."),
            remediation=reboot_ja,
        ))
    if k.reboot_required_flag or k.needs_restarting:
        if k.reboot_required_flag:
            pkgs = ", ".join(k.reboot_required_packages[:LIST_MAX])
            src = k.reboot_required_path or "/run/reboot-required"
            detail = Text(ja=f"{src} が再起動を求めています{('（' + pkgs + '）') if pkgs else ''}。",
                          en=f"{src} asks for a reboot{(' (' + pkgs + ')') if pkgs else ''}.")
        else:
            pkgs = ", ".join(k.updated_since_boot[:LIST_MAX])
            detail = Text(ja=f"起動後に基幹パッケージ（{pkgs}）が更新されています（needs-restarting -r の基準）。",
                          en=f"Core packages were updated after the boot ({pkgs}; the rule of needs-restarting -r).")
        out.append(ctx.finding(
            status, subject="reboot-required",
            title=Text(ja="更新の適用に再起動が必要", en="Updates need a reboot to take effect"),
            detail=detail, remediation=reboot_ja,
        ))
    if out:
        return out
    if k.running is None:
        u = facts.missing("running_kernel")
        if u is not None:
            return [ctx.unavailable(u, title=ctx.spec.title)]
        return [ctx.finding(Status.ERROR, title=ctx.spec.title,
                            detail=Text(ja="稼働中のカーネルを確認できませんでした。", en="The running kernel could not be determined."))]
    if not k.installed:
        u = facts.missing("installed_kernels")
        if u is not None:
            return [ctx.unavailable(u, title=ctx.spec.title)]
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja=f"稼働中のカーネル {k.running} は導入済みの最新版です（{', '.join(k.installed)}）。",
                                    en=f"The running kernel {k.running} is the newest installed ({', '.join(k.installed)})."))]


@check(
    "linux.patches.auto",
    clauses=CLAUSES,
    needs=(PATCHES,),
    severity=Severity.LOW,
    title=Text(ja="自動更新の設定", en="Automatic updates"),
)
def auto_updates(ctx: CheckContext) -> list[Finding]:
    """Automatic updates are a finding only where the site's policy requires them."""
    facts = ctx.get(PATCHES, PatchFacts)
    a = facts.auto_updates
    required = ctx.policy.patches.require_auto_updates
    if a is None:
        u = facts.missing("pending") or facts.missing("last_update")
        if u is not None:
            return [ctx.unavailable(u, title=ctx.spec.title)]
        return [ctx.finding(Status.ERROR, title=ctx.spec.title,
                            detail=Text(ja="自動更新の設定を取得できませんでした。", en="Automatic-update settings were not collected."))]
    on = bool(a.enabled and a.applies_updates)
    if on:
        return [ctx.finding(Status.PASS, title=ctx.spec.title,
                            detail=Text(ja=f"{a.mechanism} による自動更新が有効です（{a.detail}）。",
                                        en=f"Automatic updates are on through {a.mechanism} ({a.detail})."))]
    if not required:
        return [ctx.finding(Status.NOT_APPLICABLE, title=ctx.spec.title,
                            detail=Text(ja=f"自動更新は無効ですが、方針では必須ではありません（{a.mechanism}: {a.detail}）。更新は手動で適用してください。",
                                        en=f"Automatic updates are off, which the policy allows ({a.mechanism}: {a.detail}). Apply updates by hand."))]
    fix = (Text(ja="unattended-upgrades を導入し、APT::Periodic::Unattended-Upgrade \"1\" を設定してください。",
                en='Install unattended-upgrades and set APT::Periodic::Unattended-Upgrade "1".')
           if a.mechanism == "unattended-upgrades" else
           Text(ja="dnf-automatic を導入し、apply_updates = yes にして dnf-automatic.timer を有効にしてください。",
                en="Install dnf-automatic, set apply_updates = yes and enable dnf-automatic.timer."))
    return [ctx.finding(
        Status.WARN, title=Text(ja="自動更新が有効になっていない", en="Automatic updates are not on"),
        detail=Text(ja=f"方針は自動更新を求めていますが、{a.mechanism} は有効ではありません（{a.detail}）。",
                    en=f"The policy requires automatic updates but {a.mechanism} is not applying them ({a.detail})."),
        remediation=fix,
    )]
