"""SO-17-3: access-log time from a trusted source. Policy `time.max_offset_seconds` (warn: log correlation),
`time.fail_offset_seconds` (fail: events misordered), `time.max_stratum` (warn), `time.trusted_servers`
(an untrusted source warns; a domain member syncs from its domain controller by design, so there the
source is reported, not judged). All documented choices in config/policy.yaml."""

from __future__ import annotations

from tenken.checks.finding import Severity, Status, Text
from tenken.checks.policy import TimePolicy
from tenken.checks.rules.verdict import Verdict

CLAUSES = ("SO-17-3",)


def judge_offset(offset: float, pol: TimePolicy, *, via: str, fix: Text) -> Verdict | None:
    """None when the offset is within tolerance."""
    if abs(offset) <= pol.max_offset_seconds:
        return None
    fail = abs(offset) > pol.fail_offset_seconds
    return Verdict(
        Status.FAIL if fail else Status.WARN, Text(ja="時刻のずれが大きい", en="Clock offset too large"), clauses=CLAUSES, subject="offset",
        detail=Text(ja=f"時計は基準から {offset:+.3f} 秒ずれています（{via}、許容 {pol.max_offset_seconds:g} 秒、{pol.fail_offset_seconds:g} 秒で不合格）。",
                    en=f"The clock is {offset:+.3f} s off its reference ({via}; tolerance {pol.max_offset_seconds:g} s, fail beyond {pol.fail_offset_seconds:g} s)."),
        remediation=fix)


def judge_stratum(stratum: int, pol: TimePolicy, *, reference: str) -> Verdict | None:
    if stratum <= pol.max_stratum:
        return None
    return Verdict(
        Status.WARN, Text(ja="時刻源の階層（stratum）が深い", en="Stratum too high"), clauses=CLAUSES, subject="stratum", severity=Severity.LOW,
        detail=Text(ja=f"このホストの stratum は {stratum} です（参照 {reference}、許容 {pol.max_stratum}）。標準時刻からの経路が長くなっています。",
                    en=f"This host is at stratum {stratum} (reference {reference}; policy maximum {pol.max_stratum}): a long chain from standard time."),
        remediation=Text(ja="より上位（NICT 等）に近い時刻源を設定してください。", en="Use a source closer to standard time (e.g. NICT)."))


def _host(name: str) -> str:
    return name.split(",")[0].strip().lower().rstrip(".")


def is_trusted(source: str, trusted: list[str]) -> bool:
    host = _host(source)
    return any(host == _host(t) or host.endswith("." + _host(t)) for t in trusted)


def judge_source(sources: list[str], pol: TimePolicy, *, domain_member: bool, fix: Text) -> Verdict | None:
    """None when no trusted list is set, a source is trusted, or the host follows its domain hierarchy."""
    if not pol.trusted_servers or domain_member or any(is_trusted(s, pol.trusted_servers) for s in sources):
        return None
    return Verdict(
        Status.WARN, Text(ja="方針で指定した時刻源が使われていない", en="Configured time sources are not the trusted ones"),
        clauses=CLAUSES, subject="trusted",
        detail=Text(ja=f"時刻源（{', '.join(sources)}）に、方針の信頼できる時刻源（{', '.join(pol.trusted_servers)}）が含まれていません。",
                    en=f"None of the sources ({', '.join(sources)}) is among the policy's trusted servers ({', '.join(pol.trusted_servers)})."),
        remediation=fix)
