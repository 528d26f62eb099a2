"""The システム運用編 clause catalogue (config/catalogue.yaml) and the report's whole-volume coverage.

An auditor reading a report must see the whole volume, not only what tenken happened to check: every
clause a scan did not judge automatically becomes a `manual` item carrying the question to answer.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from tenken.checks.configfile import load_model
from tenken.checks.finding import Finding, FindingKind, Severity, Status, Text, finding_id
from tenken.config import data_path

SITE_TARGET = "site"  # organisation-wide items (procedural clauses) are not about one host


class ClauseClass(StrEnum):
    HOST = "host"
    NETWORK = "network"
    PARTIAL = "partial"
    PROCEDURAL = "procedural"


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    number: int = Field(ge=1, le=18)
    title_ja: str
    title_en: str


class Clause(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=r"^SO-\d{1,2}-\d{1,2}$")
    section: int = Field(ge=1, le=18)
    number: int = Field(ge=1)
    class_: ClauseClass = Field(alias="class")
    text_ja: str = Field(min_length=1)
    gloss_en: str = Field(min_length=1)
    question_ja: str | None = None
    question_en: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Clause:
        if self.id != f"SO-{self.section}-{self.number}":
            raise ValueError(f"id {self.id} does not match section {self.section} / number {self.number}")
        if self.class_ in (ClauseClass.PARTIAL, ClauseClass.PROCEDURAL) and not (self.question_ja and self.question_en):
            raise ValueError(f"{self.id}: partial/procedural clauses need question_ja and question_en")
        return self


class Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")
    title: str


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_: str = Field(alias="schema", pattern=r"^tenken\.catalogue/v1$")
    source: Source
    sections: list[Section]
    clauses: list[Clause]

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        seen: set[str] = set()
        for c in self.clauses:
            if c.id in seen:
                raise ValueError(f"duplicate clause id {c.id}")
            seen.add(c.id)
        numbers = {s.number for s in self.sections}
        for c in self.clauses:
            if c.section not in numbers:
                raise ValueError(f"{c.id}: section {c.section} is not declared")
        return self

    def by_id(self) -> dict[str, Clause]:
        return {c.id: c for c in self.clauses}

    def section(self, number: int) -> Section:
        return next(s for s in self.sections if s.number == number)


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    return _load(str(path) if path else str(data_path("catalogue.yaml")))


@lru_cache(maxsize=4)
def _load(path: str) -> Catalogue:
    return load_model(path, Catalogue)


def clause_sort_key(clause_id: str) -> tuple[int, int]:
    _, s, n = clause_id.split("-")
    return int(s), int(n)


def coverage_findings(catalogue: Catalogue, findings: list[Finding], *, scanned_kinds: set[str]) -> list[Finding]:
    """Manual items for every clause no finding speaks to, so the report covers the whole volume.

    `scanned_kinds` says what this scan looked at ("host", "network"), so a host clause missing from a
    TLS-only scan reads "not covered by this scan", not as silently compliant.
    """
    covered = {c for f in findings for c in f.clauses}
    prompted = {c for f in findings if f.kind is not FindingKind.AUTOMATED for c in f.clauses}
    backing: dict[str, list[str]] = {}
    for f in findings:
        for c in f.clauses:
            backing.setdefault(c, []).extend(e for e in f.evidence if e not in backing.get(c, []))
    out: list[Finding] = []
    for clause in catalogue.clauses:
        # a partial clause always gets its question, backed by whatever evidence the checks gathered for it
        if clause.id in covered and not (clause.class_ is ClauseClass.PARTIAL and clause.id not in prompted):
            continue
        if clause.class_ in (ClauseClass.PARTIAL, ClauseClass.PROCEDURAL):
            kind = FindingKind.PROMPT if clause.class_ is ClauseClass.PARTIAL else FindingKind.MANUAL
            title = Text(ja=clause.question_ja or clause.text_ja, en=clause.question_en or clause.gloss_en)
            detail = Text(ja=clause.text_ja, en=clause.gloss_en)
            remediation = Text(
                ja="監査時に文書・記録で確認し、結果を記録してください。",
                en="Confirm with documents and records at the audit and record the answer.",
            )
        else:
            kind = FindingKind.MANUAL
            what_ja = "ホスト" if clause.class_ is ClauseClass.HOST else "ネットワーク機器・TLS エンドポイント"
            what_en = "hosts" if clause.class_ is ClauseClass.HOST else "network endpoints (TLS)"
            hint = "tenken scan local / ssh / winrm" if clause.class_ is ClauseClass.HOST else "tenken scan tls"
            title = Text(ja=f"本スキャンの対象外（{what_ja}の確認が必要）", en=f"Not covered by this scan (needs a check of {what_en})")
            detail = Text(ja=clause.text_ja, en=clause.gloss_en)
            remediation = Text(ja=f"`{hint}` で対象を確認するか、手作業で確認してください。", en=f"Check the relevant targets with `{hint}`, or confirm by hand.")
        out.append(
            Finding(
                id=finding_id(f"clause.{clause.id}", SITE_TARGET),
                check_id=f"clause.{clause.id}",
                target=SITE_TARGET,
                status=Status.MANUAL,
                clauses=[clause.id],
                severity=Severity.INFO,
                title=title,
                detail=detail,
                remediation=remediation,
                evidence=backing.get(clause.id, []) if clause.class_ is ClauseClass.PARTIAL else [],
                kind=kind,
            )
        )
    return out
