"""The result of a shared rule: what a check turns into a Finding (via CheckContext.verdict)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tenken.checks.finding import Severity, Status, Text


@dataclass(frozen=True)
class Verdict:
    status: Status
    title: Text
    detail: Text
    clauses: tuple[str, ...]
    remediation: Text | None = None
    severity: Severity | None = None
    subject: str | None = None


def days(age: timedelta) -> float:
    """An age in days, never rounded down: 7 d 22 h is 7.92 days, which is more than 7."""
    return max(0.0, age.total_seconds() / 86400)
