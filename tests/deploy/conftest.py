"""Fixtures for the deployment tests: a real sshd (tests/sshd_fixture.py) and the real hub (tests/hub/hub_harness.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from sshd_fixture import ssh_client_key, sshd  # noqa: F401  (fixtures)
