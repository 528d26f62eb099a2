"""End of support of the Linux distribution (checks/rules/eos.py), from os-release as linux.patches read it."""

from __future__ import annotations

from tenken.checks.eos_data import load_eos_table
from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, check
from tenken.checks.rules.eos import CLAUSES, TITLE, judge_eos, judge_eos_unknown
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
        what = Text(ja=f"{osr.label}（ID={osr.id}、VERSION_ID={osr.version_id or '—'}）", en=f"{osr.label} (ID={osr.id}, VERSION_ID={osr.version_id or '-'})")
        return [ctx.verdict(judge_eos_unknown(what, data_as_of=table.data_as_of, lifecycle=Text(
            ja="ベンダーのライフサイクル情報", en="the vendor's lifecycle page")))]
    return [ctx.verdict(judge_eos(release, ctx.now, warn_days=ctx.policy.eos.warn_days, data_as_of=table.data_as_of))]
