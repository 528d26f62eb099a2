"""Fixtures for the agent tests: a real agent identity, a real PKI, a real HTTPS hub stub, a config file.

Imported with `from agent_fixtures import *` (not a conftest.py: a second module named `conftest` would
shadow tests/conftest.py for the rest of the session).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from agent_hubstub import Pki, StubHub

__all__ = ["AgentFiles", "CliResult", "Pki", "StubHub", "agent_files", "hub", "make_config", "pki", "run_tenken", "small_root", "write_config"]


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_tenken(*args: str) -> CliResult:
    """The real `tenken` CLI in-process (kept here, not imported from a conftest: several `conftest` modules
    exist and whichever pytest loaded last answers `import conftest`)."""
    from tenken.agent.cli import app
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return CliResult(res.exit_code, res.stdout, res.stderr)


@dataclass
class AgentFiles:
    dir: Path
    key: Path
    pub: Path
    tls_key: Path
    csr: Path
    cert: Path


@pytest.fixture
def small_root(tmp_path: Path) -> Path:
    """A tiny offline root for `scan local --root`: fast, deterministic."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")
    (root / "etc" / "group").write_text("root:x:0:\nalice:x:1000:\n")
    return root


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.create(tmp_path / "pki")


@pytest.fixture
def agent_files(tmp_path: Path, pki: Pki) -> AgentFiles:
    from tenken.agent.identity import init_identity

    d = tmp_path / "agent-id"
    init_identity(d)
    cert = pki.enroll(d / "tls.csr", d / "tls.crt")
    return AgentFiles(d, d / "agent.key", d / "agent.pub", d / "tls.key", d / "tls.csr", cert)


@pytest.fixture
def hub(pki: Pki, agent_files: AgentFiles):
    h = StubHub(pki, agent_files.pub)
    yield h
    h.stop()


def write_config(path: Path, *, hub_url: str, pki: Pki, files: AgentFiles, root: Path, spool_dir: Path, **extra) -> Path:
    cfg = {
        "signing_key": str(files.key),
        "hub": {"url": hub_url, "ca_file": str(pki.ca_pem), "client_cert": str(files.cert), "client_key": str(files.tls_key), "timeout": "5s"},
        "spool": {"dir": str(spool_dir), "max_reports": 100, "max_bytes": "50MiB", "min_free_bytes": "1MiB"},
        "retry": {"base": 0.05, "cap": 0.5},
        "shutdown_grace": "10s",
        "jobs": [{"name": "this-host", "kind": "local", "root": str(root), "schedule": {"every_seconds": 1, "jitter": 0, "run_at_start": True}}],
    }
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}  # type: ignore[dict-item]
        else:
            cfg[k] = v
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture
def make_config(tmp_path: Path, pki: Pki, agent_files: AgentFiles, small_root: Path, hub: StubHub):
    def make(name: str = "agent.yaml", **extra) -> Path:
        return write_config(tmp_path / name, hub_url=hub.url, pki=pki, files=agent_files, root=small_root, spool_dir=tmp_path / "spool", **extra)

    return make
