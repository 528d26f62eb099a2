"""The folders install under one `tenken` namespace; a package missing from pyproject would vanish from wheels."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = {"tenken": "tenken", "agent": "tenken.agent", "collectors": "tenken.collectors", "checks": "tenken.checks", "config": "tenken.config", "hub": "tenken.hub"}


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, pkg in TOP.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([pkg, *rel.parts]))
    assert found == listed


def test_no_top_level_module_named_like_a_folder(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import importlib.util, tenken.checks, tenken.agent;"
        "print([n for n in ('checks','agent','collectors','hub') if importlib.util.find_spec(n)])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"top-level modules would collide in site-packages: {out.stdout}"
