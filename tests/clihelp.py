"""Run the real `tenken` CLI in-process. A module with a unique name: several test folders have a
conftest.py, so `from conftest import ...` would pick whichever was imported first."""

from __future__ import annotations

import json
from dataclasses import dataclass
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
