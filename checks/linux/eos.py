"""End of support of the Linux distribution (checks/rules/eos.py), from os-release as linux.patches read it."""

from __future__ import annotations

from tenken.checks.eos_data import load_eos_table
from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.rules.eos import CLAUSES, TITLE, judge_eos
from tenken.collectors.linux.patches import PatchFacts

PATCHES = "linux.patches"
#: os-release ID -> the table's os key
IDS = {"debian": "debian", "ubuntu": "ubuntu", "rhel": "rhel", "centos": "centos", "rocky": "rocky",
       "almalinux": "almalinux", "sles": "sles", "sled": "sles"}


@check("linux.os.eos", clauses=CLAUSES, needs=(PATCHES,), severity=Severity.CRITICAL, title=TITLE)
def os_eos(ctx: CheckContext) -> list[Finding]:
    facts = ctx.get(PATCHES, PatchFacts)
    osr = facts.os
    if osr is None:
        u = facts.missing("os_release")
        if u is not None:
            return [ctx.unavailable(u, title=ctx.spec.title)]
        return [ctx.finding(Status.ERROR, title=ctx.spec.title,
                            detail=Text(ja="os-release を読めませんでした。", en="os-release could not be read."))]
    table = load_eos_table()
    release = table.find(IDS.get(osr.id, osr.id), osr.version_id)
    if release is None:
        return [ctx.finding(
            Status.WARN, title=Text(ja="OS のサポート期限が不明", en="End of support unknown for this OS"),
            detail=Text(ja=f"{osr.label}（ID={osr.id}、VERSION_ID={osr.version_id or '—'}）のサポート期限は tenken のデータ（{table.data_as_of}時点）にありません。",
                        en=f"{osr.label} (ID={osr.id}, VERSION_ID={osr.version_id or '-'}) is not in tenken's end-of-support data (as of {table.data_as_of})."),
            remediation=Text(ja="ベンダーのライフサイクル情報でサポート期限を確認し、台帳に記録してください。",
                             en="Check the vendor's lifecycle page for its end of support and record it in the inventory."))]
    return [ctx.verdict(judge_eos(release, ctx.now, warn_days=ctx.policy.eos.warn_days, data_as_of=table.data_as_of))]
