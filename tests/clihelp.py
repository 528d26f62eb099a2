"""Run the real `tenken` CLI in-process. A module with a unique name: several test folders have a
conftest.py, so `from conftest import ...` would pick whichever was imported first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_tenken(*args: str) -> CliResult:
    """Run the real `tenken` CLI in-process (typer's runner), with stdout and stderr kept apart."""
    from tenken.agent.cli import app

    res = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return CliResult(res.exit_code, res.stdout, res.stderr)


def scan_root(root: Path, policy: Path | None = None) -> dict[str, Any]:
    """`tenken scan local --root ROOT [--policy P] -f json`; a usage error (exit 2/3) fails the test."""
    args = ["scan", "local", "--root", str(root), "-f", "json"]
    if policy is not None:
        args += ["--policy", str(policy)]
    res = run_tenken(*args)
    assert res.exit_code in (0, 1), res.stderr
    return res.json()


def outcomes(report: dict[str, Any], checks: tuple[str, ...]) -> list[tuple[str, str, str | None, list[str]]]:
    """(check_id, status, subject, clauses) of the named checks, sorted: what tests assert exactly."""
    return sorted((f["check_id"], f["status"], f["subject"], f["clauses"]) for f in report["findings"] if f["check_id"] in checks)


def details(report: dict[str, Any], check_id: str) -> str:
    return " ".join(f["detail"]["en"] for f in report["findings"] if f["check_id"] == check_id)
