"""Data flows one way: checks never do I/O, collectors never judge, the hub imports only the leaves."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

IO_MODULES = {"subprocess", "socket", "paramiko", "winrm", "httpx", "psutil", "sslyze", "requests", "shutil"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def qualified_imports(path: Path) -> set[str]:
    """`from a.b import c` as `a.b.c` (c may be a module or a name in a.b): what the module really reaches."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_checks_do_no_io() -> None:
    for py in (ROOT / "checks").rglob("*.py"):
        bad = {m for m in imports_of(py) if m.split(".")[0] in IO_MODULES or m.startswith("tenken.collectors.transport")}
        assert not bad, f"{py.relative_to(ROOT)} imports {bad}: checks must not do I/O"


def test_collectors_never_import_checks() -> None:
    for py in (ROOT / "collectors").rglob("*.py"):
        bad = {m for m in imports_of(py) if m.startswith(("tenken.checks", "tenken.agent", "tenken.hub"))}
        assert not bad, f"{py.relative_to(ROOT)} imports {bad}: collectors never judge"


def test_hub_imports_only_the_leaves() -> None:
    # Pure leaves only (the checks' modules listed here do no I/O, see test_checks_do_no_io): the web view
    # judges its own passwords with the guideline rule that judges hosts.
    allowed = (
        "tenken.hub", "tenken.agent.dsse", "tenken.agent.report", "tenken.checks.finding", "tenken.collectors.evidence",
        "tenken.checks.catalogue", "tenken.checks.configfile", "tenken.checks.policy", "tenken.checks.rules.passwords",
        "tenken.config", "tenken.malloc", "tenken.agent.bundle", "tenken.__version__",
    )
    for py in (ROOT / "hub").rglob("*.py"):
        bad = {m for m in qualified_imports(py) if m.startswith("tenken.") and not any(m == a or m.startswith(a + ".") for a in allowed)}
        assert not bad, f"{py.relative_to(ROOT)} imports {bad}"


def test_bundles_never_reach_for_targets() -> None:
    """The hub imports the bundle builder: it must stay a leaf too (no transports, scans, fleet or shipping)."""
    banned = ("tenken.collectors.transport", "tenken.agent.scan", "tenken.agent.fleet", "tenken.agent.ship", "paramiko", "winrm", "sslyze")
    for py in (ROOT / "agent" / "bundle").rglob("*.py"):
        bad = {m for m in imports_of(py) if m.startswith(banned)}
        assert not bad, f"{py.relative_to(ROOT)} imports {bad}"
