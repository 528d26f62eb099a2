"""Explicit check registry and the gate that keeps checks honest.

A check is a pure function from typed facts (and policy) to findings. It declares the evidence it needs;
when that evidence is missing or failed, the gate emits `error` before the function runs, so no check can
ever `pass` on nothing. A check that raises becomes an `error` finding naming the bug, not a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from tenken.checks.finding import Finding, FindingKind, Severity, Status, Text, finding_id
from tenken.checks.policy import Policy
from tenken.collectors.evidence import BadRecord, Facts, OsFamily, Reason, Unavailable, utcnow
from tenken.collectors.scrub import scrub_text, scrub_value

if TYPE_CHECKING:
    from tenken.checks.rules.verdict import Verdict

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Facts)


@dataclass
class CheckContext:
    """What a check sees: one target's facts and evidence ids, the policy, the scan's clock, and a finding factory.

    `now` is the moment the scan collected its evidence (UTC). Checks judge ages against it and never read
    the wall clock, so a report re-judged later, or a test, gives the same verdict for the same evidence.
    """

    spec: CheckSpec
    target: str
    facts: dict[str, Facts]
    evidence_ids: dict[str, str]
    policy: Policy
    now: datetime

    def get(self, collector: str, typ: type[F]) -> F:
        f = self.facts[collector]
        if not isinstance(f, typ):
            raise TypeError(f"{collector} facts are {type(f).__name__}, not {typ.__name__}")
        return f

    def finding(
        self,
        status: Status,
        *,
        title: Text,
        detail: Text,
        remediation: Text | None = None,
        subject: str | None = None,
        severity: Severity | None = None,
        evidence: Iterable[str] | None = None,
        clauses: Iterable[str] | None = None,
        kind: FindingKind = FindingKind.AUTOMATED,
    ) -> Finding:
        names = list(evidence) if evidence is not None else list(self.spec.needs)
        ev_ids = [self.evidence_ids[n] for n in names if n in self.evidence_ids]
        sev = severity or (Severity.INFO if status in (Status.PASS, Status.NOT_APPLICABLE) else self.spec.severity)
        return Finding(
            id=finding_id(self.spec.id, self.target, subject),
            check_id=self.spec.id,
            target=self.target,
            status=status,
            clauses=list(clauses or self.spec.clauses),
            severity=sev,
            title=title,
            detail=detail,
            remediation=remediation or NO_ACTION,
            evidence=ev_ids,
            kind=kind,
            subject=subject,
        )

    def verdict(self, v: Verdict, *, subject: str | None = None, evidence: Iterable[str] | None = None) -> Finding:
        """A finding from a shared rule's verdict (checks/rules/): the rule owns status, clauses and wording."""
        return self.finding(
            v.status,
            title=v.title,
            detail=v.detail,
            remediation=v.remediation,
            subject=subject if subject is not None else v.subject,
            severity=v.severity,
            evidence=evidence,
            clauses=v.clauses or None,
        )

    def unavailable(self, what: Unavailable, *, title: Text, subject: str | None = None) -> Finding:
        """Turn a missing fact into `not_applicable` (not installed / absent) or `error` (could not look)."""
        status = Status.NOT_APPLICABLE if what.reason in (Reason.ABSENT, Reason.NEEDS_CLIENT_CERT) else Status.ERROR
        return self.finding(
            status,
            title=title,
            detail=Text(ja=f"{REASON_JA[what.reason]}: {what.detail}", en=f"{REASON_EN[what.reason]}: {what.detail}"),
            remediation=REMEDY.get(what.reason, NO_ACTION),
            subject=subject,
            severity=Severity.INFO if status is Status.NOT_APPLICABLE else Severity.MEDIUM,
        )


NO_ACTION = Text(ja="対応不要。", en="No action needed.")

REASON_JA = {
    Reason.ABSENT: "該当なし（未導入・ファイルなし）",
    Reason.DENIED: "権限不足のため確認できません（root 権限が必要）",
    Reason.OFFLINE: "オフラインのルートファイルシステムではコマンドを実行できないため未収集",
    Reason.TIMEOUT: "タイムアウトのため確認できません",
    Reason.FAILED: "取得に失敗しました",
    Reason.UNREACHABLE: "対象に接続できません",
    Reason.UNSUPPORTED: "この接続方式では取得できません",
    Reason.NEEDS_CLIENT_CERT: "未検査（サーバがクライアント証明書を必須としています。必須化自体は適合です）",
}
REASON_EN = {
    Reason.ABSENT: "Not applicable (not installed or file absent)",
    Reason.DENIED: "Could not check: needs root",
    Reason.OFFLINE: "Not collected: commands cannot run against an offline root",
    Reason.TIMEOUT: "Could not check: timed out",
    Reason.FAILED: "Could not check: collection failed",
    Reason.UNREACHABLE: "Could not check: target unreachable",
    Reason.UNSUPPORTED: "Could not check: not available over this transport",
    Reason.NEEDS_CLIENT_CERT: "Not probed: the server requires a client certificate (which is itself compliant)",
}
REMEDY = {
    Reason.DENIED: Text(ja="root 権限（sudo -n が使える設定）で再実行してください。", en="Re-run with root privileges (or passwordless sudo -n)."),
    Reason.OFFLINE: Text(ja="稼働中のホストに対して（ローカルまたは SSH で）再実行してください。", en="Re-run against the running host (locally or over SSH)."),
    Reason.TIMEOUT: Text(ja="対象の負荷を確認し、タイムアウトを延ばして再実行してください。", en="Check the target's load and re-run with a longer timeout."),
    Reason.NEEDS_CLIENT_CERT: Text(ja="この項目を確認するには --client-cert と --client-key を指定して再スキャンしてください。",
                                   en="To probe this, scan again with a client certificate (--client-cert and --client-key)."),
}

CheckFunc = Callable[[CheckContext], list[Finding]]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    clauses: tuple[str, ...]
    needs: tuple[str, ...]
    os: OsFamily
    func: CheckFunc
    severity: Severity
    title: Text
    kind: FindingKind = field(default=FindingKind.AUTOMATED)


CHECKS: dict[str, CheckSpec] = {}


def check(
    check_id: str,
    *,
    clauses: tuple[str, ...],
    needs: tuple[str, ...],
    title: Text,
    os: OsFamily = OsFamily.LINUX,
    severity: Severity = Severity.MEDIUM,
    kind: FindingKind = FindingKind.AUTOMATED,
) -> Callable[[CheckFunc], CheckFunc]:
    def register(func: CheckFunc) -> CheckFunc:
        if check_id in CHECKS:
            raise RuntimeError(f"check {check_id} registered twice")
        CHECKS[check_id] = CheckSpec(check_id, clauses, needs, os, func, severity, title, kind)
        return func

    return register


#: The check packages of each target OS (TLS endpoints are OsFamily.UNKNOWN); imported on first need, so a
#: Linux scan never loads the Windows or TLS checks (import time and memory of `tenken scan local`).
_PACKAGES = {
    OsFamily.LINUX: "tenken.checks.linux",
    OsFamily.WINDOWS: "tenken.checks.windows",
    OsFamily.UNKNOWN: "tenken.checks.tls",
}


def load_all(os: OsFamily | None = None) -> dict[str, CheckSpec]:
    """Import the check packages (all, or those of one OS); their modules register themselves in CHECKS."""
    import importlib

    for family, package in _PACKAGES.items():
        if os is None or family == os:
            importlib.import_module(package)
    return CHECKS


def run_checks(
    *,
    os: OsFamily,
    target: str,
    facts: dict[str, Facts | None],
    evidence_ids: dict[str, str],
    evidence_errors: dict[str, str],
    policy: Policy,
    only: Iterable[str] | None = None,
    now: datetime | None = None,
) -> list[Finding]:
    """Run every check for this OS whose collectors were attempted on the target.

    `now` is the scan's clock (when the evidence was collected); every check judges ages against it.
    """
    load_all(os)
    now = now or utcnow()  # callers pass the scan's clock; a bare call judges against the moment it runs
    if now.tzinfo is None:
        raise ValueError("run_checks: `now` must be timezone-aware (UTC)")
    wanted = set(only) if only is not None else None
    out: list[Finding] = []
    for spec in CHECKS.values():
        if spec.os != os or (wanted is not None and spec.id not in wanted):
            continue
        if not all(n in facts for n in spec.needs):
            continue  # this scan did not attempt the collectors (e.g. a TLS-only scan)
        ok_facts = {n: f for n, f in facts.items() if f is not None}
        ctx = CheckContext(spec, target, ok_facts, evidence_ids, policy, now)
        failed = [n for n in spec.needs if facts[n] is None]
        if failed:
            reasons = "; ".join(f"{n}: {evidence_errors.get(n, 'not collected')}" for n in failed)
            out.append(
                ctx.finding(
                    Status.ERROR,
                    title=spec.title,
                    detail=Text(ja=f"必要な証跡を収集できませんでした（{reasons}）", en=f"Required evidence could not be collected ({reasons})"),
                    remediation=Text(ja="収集エラーの原因を解消して再実行してください。", en="Fix the collection error and re-run."),
                    evidence=failed,
                )
            )
            continue
        try:
            out.extend(_not_passing_on_damage(spec.func(ctx), [b for n in spec.needs for b in facts[n].malformed]))  # type: ignore[union-attr]
        except Exception as exc:  # a bug in a check must show, never hide as a pass or a skip
            log.exception("check %s failed on %s", spec.id, target)
            out.append(
                ctx.finding(
                    Status.ERROR,
                    title=spec.title,
                    detail=Text(ja=f"チェックの内部エラー: {type(exc).__name__}: {exc}", en=f"Internal error in check: {type(exc).__name__}: {exc}"),
                    remediation=Text(ja="tenken の不具合として報告してください。", en="Report this as a tenken bug."),
                )
            )
    return [_scrubbed(f) for f in out]


def _not_passing_on_damage(findings: list[Finding], bad: list[BadRecord]) -> list[Finding]:
    """Damaged input is never silently a pass: when the facts a check read hold records that could not be
    parsed, its passes become warnings naming each file and line (the check itself stays unaware)."""
    if not bad:
        return findings
    shown = bad[:10]
    more = f" (+{len(bad) - len(shown)})" if len(bad) > len(shown) else ""
    where = "; ".join(b.where() for b in shown) + more
    out = []
    for f in findings:
        if f.status is not Status.PASS:
            out.append(f)
            continue
        out.append(f.model_copy(update={
            "status": Status.WARN,
            "severity": Severity.MEDIUM,
            "detail": Text(ja=f"{f.detail.ja} ただし解析できない行があるため確認は不完全です: {where}",
                           en=f"{f.detail.en} But some records could not be parsed, so this is not proven: {where}"),
            "remediation": Text(ja="記載された行を修正（または破損を調査）して再実行してください。",
                                en="Fix (or investigate the damage of) the lines named, then re-run."),
        }))
    return out


def _scrubbed(f: Finding) -> Finding:
    """Findings quote facts (lines, values); the same central scrubber as the evidence keeps hashes, keys and
    tokens out of their text, whichever check wrote it."""
    title, detail = scrub_value(f.title.model_dump()), scrub_value(f.detail.model_dump())
    subject = scrub_text(f.subject) if f.subject else f.subject
    if (title, detail, subject) == (f.title.model_dump(), f.detail.model_dump(), f.subject):
        return f
    return f.model_copy(update={"title": Text(**title), "detail": Text(**detail), "subject": subject})
