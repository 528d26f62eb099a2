"""Audit policy (SO-17-1): access logs must identify login times, so Windows must audit logon and logoff.
The required subcategories (by GUID, language-independent) come from policy `windows.required_audit`."""

from __future__ import annotations

from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, OsFamily, check
from tenken.collectors.windows.auditpol import AuditPolicyFacts

AUDIT = "windows.auditpol"


def _need(success: bool, failure: bool) -> tuple[str, str]:
    if success and failure:
        return "成功と失敗", "success and failure"
    return ("成功", "success") if success else ("失敗", "failure")


@check("windows.audit.logon", clauses=("SO-17-1",), needs=(AUDIT,), os=OsFamily.WINDOWS, severity=Severity.HIGH,
       title=Text(ja="ログオン・ログオフの監査", en="Logon and logoff auditing"))
def audit_logon(ctx: CheckContext) -> list[Finding]:
    f = ctx.get(AUDIT, AuditPolicyFacts)
    if (u := f.missing("auditpol")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    out = []
    for req in ctx.policy.windows.required_audit:
        got = f.subcategories.get(req.guid.upper())
        need_ja, need_en = _need(req.success, req.failure)
        if got is None:
            out.append(ctx.finding(Status.ERROR, subject=req.name, title=ctx.spec.title, severity=Severity.MEDIUM,
                                   detail=Text(ja=f"監査サブカテゴリ {req.name} {req.guid} が auditpol の出力にありません。",
                                               en=f"Audit subcategory {req.name} {req.guid} is missing from auditpol's output.")))
            continue
        missing = (req.success and not got.success) or (req.failure and not got.failure)
        if missing:
            out.append(ctx.finding(
                Status.FAIL, subject=req.name, title=Text(ja="ログオン関連の監査が不足", en="Logon-related auditing missing"),
                detail=Text(ja=f"「{got.name}」の監査は「{got.setting}」です（必要: {need_ja}）。ログイン時刻をアクセスログで特定できません。",
                            en=f"Auditing of '{got.name}' is '{got.setting}' (required: {need_en}); login times cannot be traced in the logs."),
                remediation=Text(ja=f"auditpol /set /subcategory:\"{req.guid}\" /success:{'enable' if req.success else 'disable'} "
                                    f"/failure:{'enable' if req.failure else 'disable'} を実行するか、グループ ポリシーの「監査ポリシーの詳細な構成」で設定してください。",
                                 en=f"Run auditpol /set /subcategory:\"{req.guid}\" /success:{'enable' if req.success else 'disable'} "
                                    f"/failure:{'enable' if req.failure else 'disable'}, or set it under Group Policy's Advanced Audit Policy Configuration."),
            ))
    if out:
        return out
    names = ", ".join(f"{r.name}（{_need(r.success, r.failure)[0]}）" for r in ctx.policy.windows.required_audit)
    names_en = ", ".join(f"{r.name} ({_need(r.success, r.failure)[1]})" for r in ctx.policy.windows.required_audit)
    return [ctx.finding(Status.PASS, title=ctx.spec.title,
                        detail=Text(ja=f"必要な監査が設定されています: {names}。", en=f"Required auditing is on: {names_en}."))]
