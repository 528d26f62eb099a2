"""Findings: what a check concluded about one target, mapped to システム運用編 clauses.

This is a leaf module (pydantic only) so that the report, the agent and the hub can share it without
pulling in collectors or transports.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

CLAUSE_ID = re.compile(r"^SO-(\d{1,2})-(\d{1,2})$")


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    WARN = "warn"
    ERROR = "error"
    NOT_APPLICABLE = "not_applicable"
    MANUAL = "manual"


# When several findings speak about one clause, the clause shows the most serious one. Errors outrank
# passes so an incomplete scan never reads as compliant (InSpec's outcome precedence, with fail on top).
STATUS_PRECEDENCE: dict[Status, int] = {
    Status.FAIL: 6,
    Status.ERROR: 5,
    Status.WARN: 4,
    Status.MANUAL: 3,
    Status.PASS: 2,
    Status.NOT_APPLICABLE: 1,
}


def worst(statuses: list[Status]) -> Status | None:
    return max(statuses, key=STATUS_PRECEDENCE.__getitem__) if statuses else None


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Text(BaseModel):
    """Every human-facing string is carried in Japanese (read first by hospital staff) and English."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    ja: str
    en: str

    def get(self, lang: str) -> str:
        return self.ja if lang == "ja" else self.en


class AppliedWaiver(BaseModel):
    """A waiver shown beside a finding; the finding keeps its real status."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    justification: str
    approver: str
    expires: date
    reference: str | None = None


class FindingKind(StrEnum):
    AUTOMATED = "automated"  # a check judged technical evidence
    PROMPT = "prompt"  # evidence supports a duty a person must still confirm (class `partial`)
    MANUAL = "manual"  # documents and organisation only (class `procedural`)


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    check_id: str
    target: str
    status: Status
    clauses: list[str] = Field(min_length=1)
    severity: Severity
    title: Text
    detail: Text
    remediation: Text
    evidence: list[str] = Field(default_factory=list)
    kind: FindingKind = FindingKind.AUTOMATED
    subject: str | None = Field(default=None, description="What inside the target this is about (account, path, port)")
    waiver: AppliedWaiver | None = None

    @model_validator(mode="after")
    def _pass_needs_evidence(self) -> Self:
        if self.status is Status.PASS and not self.evidence:
            raise ValueError(f"finding {self.check_id} on {self.target}: 'pass' without evidence is not allowed")
        for clause in self.clauses:
            if not CLAUSE_ID.match(clause):
                raise ValueError(f"finding {self.check_id}: clause id {clause!r} is not of the form SO-<n>-<n>")
        return self


def finding_id(check_id: str, target: str, subject: str | None = None) -> str:
    """Stable across runs, so a hub and an auditor can follow one finding over time."""
    key = f"{check_id}\x00{target}\x00{subject or ''}"
    return "f-" + hashlib.sha256(key.encode()).hexdigest()[:16]
