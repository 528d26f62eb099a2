"""Helpers and fixtures for the Windows tests: a WS-Management responder process and the tenken CLI as a
process. (A uniquely named module, not conftest: several conftest modules exist in tests/ and
`import conftest` answers with whichever pytest loaded last.)

The responder (tests/winrm_responder.py) is a real HTTP(S) server on 127.0.0.1 that pywinrm reaches
over the network stack; nothing in pywinrm is mocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
RESPONDER = TESTS / "winrm_responder.py"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

PASSWORD = "Pw-7f3e!k9#Zq"  # distinctive, so a leak anywhere is found by a plain substring search
USER = "auditor"


@dataclass
class Responder:
    port: int
    log: Path
    proc: subprocess.Popen[str]

    def events(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session", name="pki")
def pki_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from winrm_responder import make_test_pki

    return make_test_pki(tmp_path_factory.mktemp("winrm-pki"))


@pytest.fixture(name="responder")
def responder_fixture(tmp_path: Path, pki: dict[str, Path]):
    """Factory: responder(scenario=..., auth=..., tls=True, behaviour=...) -> Responder (stopped at teardown)."""
    started: list[Responder] = []

    def start(scenario: str = "compliant", *, auth: str = "basic", tls: bool = True, behaviour: str = "normal") -> Responder:
        log = tmp_path / f"responder-{len(started)}.jsonl"
        args = [sys.executable, str(RESPONDER), "--scenario", scenario, "--auth", auth, "--user", USER,
                "--password-env", "RESPONDER_PASSWORD", "--behaviour", behaviour, "--log", str(log)]
        if tls:
            args += ["--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"])]
        env = {**os.environ, "RESPONDER_PASSWORD": PASSWORD}
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            proc.kill()
            raise RuntimeError(f"responder did not start: {proc.stderr.read() if proc.stderr else ''}")
        r = Responder(port=json.loads(line)["port"], log=log, proc=proc)
        started.append(r)
        return r

    yield start
    for r in started:
        r.proc.terminate()
        try:
            r.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            r.proc.kill()
            r.proc.wait()
        errors = r.proc.stderr.read() if r.proc.stderr else ""
        assert "Traceback" not in errors, f"the responder crashed while serving:\n{errors}"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def report(self) -> dict:
        return json.loads(self.stdout)


def run_tenken(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 240) -> Run:
    """The real CLI in a fresh interpreter (its own logging setup, as an operator runs it)."""
    env = {**os.environ, "WINRM_PW": PASSWORD, **(env_extra or {})}
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.pop("CURL_CA_BUNDLE", None)
    p = subprocess.run([sys.executable, "-c", "from tenken.agent.cli import main; main()", *args],
                       capture_output=True, text=True, env=env, timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr)


def winrm_args(r: Responder, *extra: str, ca: Path | None = None, auth: str = "basic") -> list[str]:
    a = ["scan", "winrm", "127.0.0.1", "--port", str(r.port), "--user", USER, "--credential", "env:WINRM_PW", "--auth", auth]
    if ca is not None:
        a += ["--ca-file", str(ca)]
    return [*a, *extra]
