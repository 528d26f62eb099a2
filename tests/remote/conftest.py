"""Fixtures for the remote-host tests: real sshd servers (tests/sshd_fixture.py) and an in-process CLI.

`remote_cli` builds a typer app holding only `scan local` and this feature's commands, so these tests
exercise the real command code without depending on other command families being importable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from sshd_fixture import ssh_client_key, sshd, sshd_factory  # noqa: F401  (fixtures)
from typer.testing import CliRunner


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_remote_cli(*args: str, input: str | None = None) -> Result:
    import typer
    from tenken.agent import cli_remote
    from tenken.agent.cli import scan_local

    app = typer.Typer(pretty_exceptions_enable=False)
    scan_app = typer.Typer()
    app.add_typer(scan_app, name="scan")
    scan_app.command("local")(scan_local)
    cli_remote.register(app, scan_app)
    res = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
    return Result(res.exit_code, res.stdout, res.stderr)


@pytest.fixture
def remote_cli():
    return run_remote_cli
