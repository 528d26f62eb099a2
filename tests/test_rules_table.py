"""The README's rule table is generated from the shared rules and the shipped policy (checks/rules/table.py):
the thresholds are written once, where they are judged, and the README cannot drift from them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tenken.checks.policy import Policy, load_policy
from tenken.checks.rules.table import END, START, render

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_table_is_what_the_generator_prints() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1
    in_readme = text[text.index(START): text.index(END) + len(END)]
    printed = subprocess.run([sys.executable, "-m", "tenken.checks.rules.table"], capture_output=True, text=True, check=True).stdout
    assert in_readme == printed.rstrip("\n") == render(), "README rule table is stale: regenerate with python -m tenken.checks.rules.table"


def test_table_follows_the_policy_numbers() -> None:
    shipped = render()
    assert "| ≤ 30 days | > 30 days | > 90 days |" in shipped  # config/policy.yaml, not a copy in the README
    site = load_policy().model_dump()
    site["patches"]["max_days_since_update"] = 14
    site["logging"]["enforce_retention"] = True
    other = render(Policy.model_validate(site))
    assert "| ≤ 14 days | > 14 days | > 90 days |" in other
    assert "| ≥ 365 days or never deleted | size-only or undefined | shorter |" in other
