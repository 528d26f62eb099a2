"""The shipped systemd units pass `systemd-analyze verify` and stay below MEDIUM exposure.

Why: these are the files hospital IT copies into /etc/systemd/system first. `verify` catches typos and
unknown directives; `security --offline=true` (systemd >= 250) scores the hardening from the unit file alone,
without a running systemd, so the figure can be printed on any CI machine and quoted in deploy/README.md.
ExecStart= is pointed at this checkout's real console scripts so verify also checks the command exists.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
BIN = Path(sys.executable).parent
SERVICES = ["tenken-agent.service", "tenken-scan.service", "tenken-hub.service"]
TARGET = {"tenken-agent.service": 2.5, "tenken-scan.service": 2.5, "tenken-hub.service": 2.5}

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def _copy_units(tmp: Path) -> Path:
    for unit in [*SERVICES, "tenken-scan.timer"]:
        text = (UNITS / unit).read_text(encoding="utf-8")
        (tmp / unit).write_text(text.replace("/opt/tenken/bin/", f"{BIN}/"), encoding="utf-8")
    return tmp


def _directives(unit: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (UNITS / unit).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


@pytest.mark.parametrize("unit", [*SERVICES, "tenken-scan.timer"])
def test_unit_verifies(tmp_path: Path, unit: str) -> None:
    d = _copy_units(tmp_path)
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", str(d / unit)], capture_output=True, text=True)
    assert res.returncode == 0 and res.stderr.strip() == "", res.stderr


@pytest.mark.parametrize("unit", SERVICES)
def test_unit_exposure_below_medium(tmp_path: Path, unit: str) -> None:
    d = _copy_units(tmp_path)
    res = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(d / unit)], capture_output=True, text=True
    )
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d) (\w+)", res.stdout)
    assert m, res.stdout + res.stderr
    score, label = float(m.group(1)), m.group(2)
    print(f"\nsystemd-analyze security --offline=true {unit}: {score} {label}")
    assert label == "OK" and score <= TARGET[unit], res.stdout


@pytest.mark.parametrize("unit", SERVICES)
def test_unit_state_and_umask(unit: str) -> None:
    d = _directives(unit)
    assert d.get("UMask") == "0077"
    assert d.get("StateDirectoryMode") == "0700" and d.get("StateDirectory", "").startswith("tenken")
    assert d.get("NoNewPrivileges") == "yes"


def test_hub_is_unprivileged_and_sized() -> None:
    d = _directives("tenken-hub.service")
    assert d["User"] == "tenken-hub" and d["CapabilityBoundingSet"] == ""
    assert int(d["LimitNOFILE"]) >= 65536


def test_agent_capabilities_are_the_documented_ones() -> None:
    """Every capability the agent keeps is justified in deploy/README.md, and no other one is kept."""
    readme = (UNITS.parent / "README.md").read_text(encoding="utf-8")
    for unit in ("tenken-agent.service", "tenken-scan.service"):
        caps = _directives(unit)["CapabilityBoundingSet"].split()
        assert set(caps) == {"CAP_DAC_READ_SEARCH", "CAP_DAC_OVERRIDE", "CAP_NET_ADMIN", "CAP_AUDIT_READ",
                             "CAP_AUDIT_CONTROL", "CAP_SYS_PTRACE"}
        for cap in caps:
            assert f"`{cap}`" in readme, f"{cap} not justified in deploy/README.md"


def test_timer_starts_the_scan_service() -> None:
    t = (UNITS / "tenken-scan.timer").read_text(encoding="utf-8")
    assert "Unit=tenken-scan.service" in t and "Persistent=true" in t
    assert "agent once" in _directives("tenken-scan.service")["ExecStart"]
    assert _directives("tenken-scan.service")["Type"] == "oneshot"
