"""End of support of the Windows release (checks/rules/eos.py: the same rule, lead time and clauses as
linux.os.eos), from CurrentBuild + InstallationType + EditionID as windows.updates read them.

Why the edition: one build ends on different dates per edition (Windows 11 24H2, build 26100, ends
2026-10-13 for Home/Pro, 2027-10-12 for Enterprise/Education, 2029-10-09 as LTSC 2024, and Windows Server
2025 shares the build), so the build alone would pass an unsupported Pro desktop or fail a supported
LTSC device. ProductName is not used: Windows 11 still reports "Windows 10 ..." there."""

from __future__ import annotations

from dataclasses import replace

from tenken.checks.eos_data import load_eos_table
from tenken.checks.finding import Finding, Severity, Status, Text
from tenken.checks.registry import CheckContext, OsFamily, check
from tenken.checks.rules.eos import CLAUSES, TITLE, judge_eos, judge_eos_unknown
from tenken.collectors.windows.updates import UpdatesFacts

UPDATES = "windows.updates"


@check("windows.os.eos", clauses=CLAUSES, needs=(UPDATES,), os=OsFamily.WINDOWS, severity=Severity.CRITICAL, title=TITLE)
def os_eos(ctx: CheckContext) -> list[Finding]:
    f = ctx.get(UPDATES, UpdatesFacts)
    if (u := f.missing("updates")) is not None:
        return [ctx.unavailable(u, title=ctx.spec.title)]
    table = load_eos_table()
    as_of = table.windows_data_as_of or table.data_as_of
    desc = f"build {f.os_build or '?'}, InstallationType={f.installation_type or '?'}, EditionID={f.edition_id or '?'}" + (
        f" ({f.product_name}{' ' + f.display_version if f.display_version else ''})" if f.product_name else "")
    if not f.os_build:
        return [ctx.finding(Status.ERROR, title=ctx.spec.title, detail=Text(
            ja=f"OS のビルド番号（CurrentVersion の CurrentBuild）を読めませんでした（{desc}）。",
            en=f"The OS build (CurrentVersion CurrentBuild) could not be read ({desc})."))]
    hit = table.find_windows(f.os_build, f.installation_type, f.edition_id)
    if hit.release is None:
        return [ctx.verdict(judge_eos_unknown(Text(ja=desc, en=desc), data_as_of=as_of, basis=hit.basis, lifecycle=Text(
            ja="Microsoft のライフサイクル情報（learn.microsoft.com/lifecycle）", en="Microsoft's lifecycle page (learn.microsoft.com/lifecycle)")))]
    v = judge_eos(hit.release, ctx.now, warn_days=ctx.policy.eos.warn_days, data_as_of=as_of)
    basis = Text(ja=f" 判定根拠: {desc}; {hit.basis}。", en=f" Basis: {desc}; {hit.basis}.")
    return [ctx.verdict(replace(v, detail=Text(ja=v.detail.ja + basis.ja, en=v.detail.en + basis.en)))]
