"""The Ansible role in deploy/ansible, run twice over real SSH against a real hub.

What runs: `ansible-playbook deploy/ansible/playbook-agent.yml` connects to the OpenSSH server started by
tests/sshd_fixture.py as the unprivileged test user with host-key checking ON (known_hosts holds exactly the
fixture's key) and becomes root through its sudo. It installs the wheel built here into a venv under a
throwaway prefix, creates the identity, fetches the CSR and agent.pub to the control node, enrolls them on
a real `tenken-hub serve` (delegate_to localhost), installs certificate, hub CA, agent.yaml and the systemd
units. No systemd runs here (tenken_systemd=false), so the test verifies the installed units with
`systemd-analyze verify` and runs `tenken agent once` from the installed files; the report must reach the hub.

Offline install: the target venv gets a .pth line naming this test run's own site-packages (the role's
`tenken_extra_site_packages`), and pip runs with --no-index, so nothing is downloaded and pip still checks
that every dependency of the wheel is present. That works on any CI machine that ran `pip install -e .[test]`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_harness import Hub, start_hub
from sshd_fixture import TEST_USER, SshServer
from tenken.agent.agent_config import load_agent_config

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLAYBOOK = shutil.which("ansible-playbook", path=str(BIN)) or shutil.which("ansible-playbook")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PLAYBOOK is None, reason="ansible-core not installed (pip install -e '.[test]')"),
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
        check=True, capture_output=True,
    )
    (whl,) = out.glob("tenken-*.whl")
    return whl


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    h = start_hub(tmp_path_factory.mktemp("hub") / "data")
    yield h
    h.stop()


class Run:
    def __init__(self, sshd: SshServer, hub: Hub, wheel: Path, work: Path) -> None:
        self.prefix = work / "target"
        self.work = work
        self.inventory = work / "inventory.ini"
        kh = sshd.known_hosts
        self.inventory.write_text(
            "[tenken_agents]\n"
            f"agent1 ansible_host=127.0.0.1 ansible_port={sshd.port} ansible_user={TEST_USER} "
            f"ansible_ssh_private_key_file={sshd.client_key} ansible_python_interpreter={sys._base_executable} "
            f"ansible_ssh_common_args='-o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'\n"
        )
        p = self.prefix
        self.vars = {
            "tenken_wheel": str(wheel),
            "tenken_wheel_dir": f"{p}/var/cache/tenken",
            "tenken_venv": f"{p}/opt/tenken",
            "tenken_python": sys._base_executable,  # the interpreter this venv was made from (same ABI as its site-packages)
            "tenken_pip_extra_args": "--no-index",
            "tenken_extra_site_packages": [sysconfig.get_path("purelib")],
            "tenken_manage_os_packages": False,
            "tenken_config_dir": f"{p}/etc/tenken",
            "tenken_state_dir": f"{p}/var/lib/tenken",
            "tenken_unit_dir": f"{p}/etc/systemd/system",
            "tenken_systemd": False,
            "tenken_mode": "timer",
            "tenken_hub_url": hub.url,
            "tenken_hub_host": "localhost",
            "tenken_hub_data": str(hub.data),
            "tenken_hub_cli": str(BIN / "tenken-hub"),
            "tenken_hub_user": "root",
            "tenken_enroll_dir": str(work / "enroll"),
            "tenken_jobs": [{"name": "this-host", "kind": "local", "schedule": {"daily_at": "02:30", "jitter": "30m"}}],
        }
        (work / "vars.json").write_text(json.dumps(self.vars))

    def play(self) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_ROLES_PATH": str(REPO / "deploy" / "ansible" / "roles"),
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCAL_TEMP": str(self.work / "ansible-local"),
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        }
        res = subprocess.run(
            [PLAYBOOK, "-i", str(self.inventory), str(REPO / "deploy" / "ansible" / "playbook-agent.yml"),
             "-e", f"@{self.work / 'vars.json'}"],
            capture_output=True, text=True, env=env, timeout=600, cwd=self.work,
        )
        assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
        return res


def _recap(out: str) -> dict[str, int]:
    m = re.search(r"agent1\s+:\s+(.*)", out.split("PLAY RECAP")[-1])
    assert m, out[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def _mode(p: Path) -> tuple[int, int, int]:
    st = p.stat()
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


@pytest.fixture(scope="module")
def deployed(sshd: SshServer, hub: Hub, wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, str, str]:
    run = Run(sshd, hub, wheel, tmp_path_factory.mktemp("ansible"))
    first = run.play().stdout
    second = run.play().stdout
    return run, first, second


def test_first_run_changes_and_second_changes_nothing(deployed: tuple[Run, str, str]) -> None:
    _, first, second = deployed
    assert _recap(first)["changed"] > 5 and _recap(first)["failed"] == 0
    assert "The hub issues the agent certificate" in first
    r2 = _recap(second)
    print(f"\nsecond ansible run: {r2}")
    assert r2["changed"] == 0 and r2["failed"] == 0, second[-4000:]


def test_files_owners_modes(deployed: tuple[Run, str, str], hub: Hub) -> None:
    run, _, _ = deployed
    p = run.prefix
    assert _mode(p / "etc/tenken") == (0o750, 0, 0)
    assert _mode(p / "var/lib/tenken") == (0o700, 0, 0)
    assert _mode(p / "etc/tenken/agent.yaml") == (0o640, 0, 0)
    assert _mode(p / "etc/tenken/hub-ca.pem") == (0o644, 0, 0)
    assert (p / "etc/tenken/hub-ca.pem").read_bytes() == hub.ca.read_bytes()
    assert _mode(p / "var/lib/tenken/tls.crt") == (0o644, 0, 0)
    for secret in ("agent.key", "tls.key"):
        assert stat.S_IMODE((p / "var/lib/tenken" / secret).stat().st_mode) == 0o600
    # the private keys never went to the control node: only the CSR and public key were fetched
    assert sorted(x.name for x in (run.work / "enroll" / "agent1").iterdir()) == ["agent.pub", "tls.csr"]
    # the venv holds tenken from the wheel, not this checkout's editable install
    res = subprocess.run([str(p / "opt/tenken/bin/python"), "-c", "import tenken.agent; print(tenken.agent.__file__)"],
                         capture_output=True, text=True, check=True, cwd=run.work)
    assert res.stdout.strip().startswith(str(p / "opt/tenken")), res.stdout


def test_agent_yaml_loads_with_the_real_loader(deployed: tuple[Run, str, str], hub: Hub) -> None:
    run, _, _ = deployed
    cfg = load_agent_config(run.prefix / "etc/tenken/agent.yaml")
    assert str(cfg.hub.url).rstrip("/") == hub.url
    assert [j.name for j in cfg.jobs] == ["this-host"]
    assert Path(cfg.signing_key) == run.prefix / "var/lib/tenken/agent.key"


def test_installed_units_verify(deployed: tuple[Run, str, str]) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    run, _, _ = deployed
    units = run.prefix / "etc/systemd/system"
    for unit in ("tenken-agent.service", "tenken-scan.service", "tenken-scan.timer"):
        text = (units / unit).read_text()
        if unit.endswith(".service"):
            assert f"ExecStart={run.prefix}/opt/tenken/bin/tenken agent" in text
            assert f"--config {run.prefix}/etc/tenken/agent.yaml" in text
        res = subprocess.run(["systemd-analyze", "verify", "--man=no", str(units / unit)], capture_output=True, text=True)
        assert res.returncode == 0 and res.stderr.strip() == "", res.stderr


def test_first_report_reaches_the_hub(deployed: tuple[Run, str, str], hub: Hub) -> None:
    run, _, _ = deployed
    before = hub.counts()
    res = subprocess.run(
        [str(run.prefix / "opt/tenken/bin/tenken"), "agent", "once", "--config", str(run.prefix / "etc/tenken/agent.yaml")],
        capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    after = hub.counts()
    assert after["reports"] == before.get("reports", 0) + 1, (before, after)
    with hub.operator() as op:
        hosts = op.get("/api/v1/hosts")
        assert hosts.status_code == 200 and len(hosts.json()) >= 1, hosts.text
    assert list((run.prefix / "var/lib/tenken/spool").glob("*.dsse.json")) == []  # delivered: no entry left
