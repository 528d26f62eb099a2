"""Shared test helpers. Feature-specific fixtures live in their own modules (roots.py, sshd_fixture.py, ...)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helper modules: roots, sshd_fixture, ...


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


@pytest.fixture
def tenken_cli():
    return run_tenken
