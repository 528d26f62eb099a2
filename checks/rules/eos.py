"""End of support (EOS): an OS past its vendor's end of security support gets no more patches, so SO-8-3
(OS security patches applied) cannot be met, and SO-8-7's inventory must show it. (The guideline's
企画管理編 12 asks that vulnerability and EOS — 販売終了・サポート終了・サービス終了 — information be collected
and acted on quickly.) Fail past the date; warn within policy `eos.warn_days` (180 by default: the
lead time a hospital needs to budget and validate a replacement, a documented choice). Dates and their
sources come from config/eos.yaml; its "data as of" date is shown in every verdict."""

from __future__ import annotations

from datetime import date, datetime

from tenken.checks.eos_data import EosRelease
from tenken.checks.finding import Severity, Status, Text
from tenken.checks.rules.verdict import Verdict

CLAUSES = ("SO-8-3", "SO-8-7")
TITLE = Text(ja="OS のサポート期間（EOS）", en="Operating system still supported (end of support)")


def judge_eos(release: EosRelease, now: datetime, *, warn_days: int, data_as_of: date) -> Verdict:
    left = (release.eos - now.date()).days
    src_ja = f"出典: {release.source}（データ時点 {data_as_of.isoformat()}）"
    src_en = f"Source: {release.source} (data as of {data_as_of.isoformat()})"
    fix = Text(ja="サポート中の版へ更新（アップグレード）する計画を立て、それまでの代替策（ネットワーク分離等）を記録してください。",
               en="Plan the upgrade to a supported release and record the compensating controls (e.g. network isolation) until then.")
    if left < 0:
        return Verdict(Status.FAIL, Text(ja="サポートが終了した OS", en="Operating system past its end of support"), clauses=CLAUSES,
                       severity=Severity.CRITICAL, remediation=fix,
                       detail=Text(ja=f"{release.name} のサポートは {release.eos.isoformat()} に終了しました（{-left} 日前）。セキュリティ修正は提供されません。{src_ja}",
                                   en=f"{release.name} reached end of support on {release.eos.isoformat()} ({-left} days ago): no more security fixes. {src_en}"))
    if left <= warn_days:
        return Verdict(Status.WARN, Text(ja="サポート終了が近い OS", en="Operating system nears its end of support"), clauses=CLAUSES,
                       severity=Severity.HIGH, remediation=fix,
                       detail=Text(ja=f"{release.name} のサポートは {release.eos.isoformat()} に終了します（あと {left} 日、基準 {warn_days} 日前から警告）。{src_ja}",
                                   en=f"{release.name} reaches end of support on {release.eos.isoformat()} (in {left} days; warned {warn_days} days ahead). {src_en}"))
    return Verdict(Status.PASS, TITLE, clauses=CLAUSES,
                   detail=Text(ja=f"{release.name} のサポートは {release.eos.isoformat()} まで（あと {left} 日）。{src_ja}",
                               en=f"{release.name} is supported until {release.eos.isoformat()} ({left} days left). {src_en}"))


def judge_eos_unknown(what: Text, *, data_as_of: date, lifecycle: Text, basis: str = "") -> Verdict:
    """A release tenken's data does not list: warn (never pass: nobody has checked its date), and say where
    the date is found. `what` names the release as read from the host; `basis`, how it was looked up."""
    why = f"（{basis}）" if basis else ""
    why_en = f"; {basis}" if basis else ""
    return Verdict(Status.WARN, Text(ja="OS のサポート期限が不明", en="End of support unknown for this OS"), clauses=CLAUSES,
                   detail=Text(ja=f"{what.ja} のサポート期限は tenken のデータ（{data_as_of}時点）にありません{why}。",
                               en=f"{what.en} is not in tenken's end-of-support data (as of {data_as_of}{why_en})."),
                   remediation=Text(ja=f"{lifecycle.ja}でサポート期限を確認し、台帳に記録してください。",
                                    en=f"Check {lifecycle.en} for its end of support and record it in the inventory."))
