"""Accepted exceptions, recorded the way auditors expect them.

A waiver names a check or a clause, a target (glob), who approved it, why, and until when. A waived
finding keeps its real status; the waiver is shown beside it. An expired waiver no longer applies.
"""

from __future__ import annotations

import fnmatch
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from tenken.checks.configfile import load_model
from tenken.checks.finding import AppliedWaiver, Finding


class Waiver(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    check: str | None = None
    clause: str | None = Field(default=None, pattern=r"^SO-\d{1,2}-\d{1,2}$")
    target: str = "*"
    subject: str | None = None
    justification: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    expires: date
    reference: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Waiver:
        if not (self.check or self.clause):
            raise ValueError("a waiver names a `check` or a `clause`")
        return self

    def matches(self, f: Finding) -> bool:
        if self.check and not fnmatch.fnmatchcase(f.check_id, self.check):
            return False
        if self.clause and self.clause not in f.clauses:
            return False
        if self.subject is not None and f.subject != self.subject:
            return False
        return fnmatch.fnmatchcase(f.target, self.target)


class WaiverFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    waivers: list[Waiver] = Field(default_factory=list)


def load_waivers(path: Path | str | None) -> list[Waiver]:
    if path is None:
        return []
    return load_model(path, WaiverFile).waivers


def apply_waivers(findings: list[Finding], waivers: list[Waiver], today: date) -> list[Finding]:
    active = [w for w in waivers if w.expires >= today]
    out = []
    for f in findings:
        w = next((w for w in active if w.matches(f)), None)
        if w is not None:
            f = f.model_copy(
                update={"waiver": AppliedWaiver(justification=w.justification, approver=w.approver, expires=w.expires, reference=w.reference)}
            )
        out.append(f)
    return out
