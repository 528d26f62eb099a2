"""Shared test setup. Helpers live in uniquely named modules (clihelp, roots, sshd_fixture, ...)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helper modules: clihelp, roots, sshd_fixture, ...

from clihelp import run_tenken  # noqa: E402


@pytest.fixture
def tenken_cli():
    return run_tenken
