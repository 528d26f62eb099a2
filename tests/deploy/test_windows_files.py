"""deploy/windows: the task XML and the installer's assumptions about it, checked without Windows.

What this is and is not: no Windows and no PowerShell run here (PowerShell is not packaged in Debian 12,
nor on PyPI/npm), so the XML is NOT validated against Task Scheduler's full XSD and the script is NOT parsed
by PowerShell. This test checks what can be checked on Linux against the rules of [MS-TSCH] section 2.5
(Task Scheduler Service Remoting Protocol, "XML Task Definition Format", v20240423): the document is
well-formed, in the task namespace, uses only the six top-level parts, has the mandatory Actions part, its
durations are xs:duration values; it runs as SYSTEM, and its command line is one the real CLI accepts.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

WIN = Path(__file__).resolve().parents[2] / "deploy" / "windows"
NS = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"
TOP_LEVEL = {"RegistrationInfo", "Triggers", "Settings", "Data", "Principals", "Actions"}  # MS-TSCH 2.5 taskType
DURATION = re.compile(r"^-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
DURATION_FIELDS = {"RandomDelay", "Delay", "ExecutionTimeLimit", "Interval", "Duration", "DeleteExpiredTaskAfter"}


def _task() -> ET.Element:
    return ET.parse(WIN / "tenken-agent-task.xml").getroot()


def test_task_xml_structure() -> None:
    root = _task()
    assert root.tag == f"{NS}Task" and root.get("version") in {"1.2", "1.3", "1.4"}
    parts = [child.tag.removeprefix(NS) for child in root]
    assert set(parts) <= TOP_LEVEL and len(parts) == len(set(parts)), parts
    assert "Actions" in parts  # MS-TSCH 2.5: the Actions part MUST be present
    for el in root.iter():
        assert el.tag.startswith(NS), f"element outside the task namespace: {el.tag}"
        name = el.tag.removeprefix(NS)
        if name in DURATION_FIELDS and el.find("*") is None:
            assert DURATION.match((el.text or "").strip()), f"{name}: {el.text!r} is not an xs:duration"


def test_task_runs_as_system_with_highest_privileges() -> None:
    root = _task()
    principal = root.find(f"{NS}Principals/{NS}Principal")
    assert principal is not None
    assert principal.findtext(f"{NS}UserId") == "S-1-5-18"  # LocalSystem: no password to store
    assert principal.findtext(f"{NS}RunLevel") == "HighestAvailable"
    assert root.find(f"{NS}Actions").get("Context") == principal.get("id")


def test_task_command_is_accepted_by_the_real_cli(tmp_path: Path) -> None:
    """The Arguments the task passes must be options `tenken agent once` knows (a typo would fail every night)."""
    exec_ = _task().find(f"{NS}Actions/{NS}Exec")
    assert exec_.findtext(f"{NS}Command").strip('"').endswith(r"\Scripts\tenken.exe")
    args = shlex.split(exec_.findtext(f"{NS}Arguments"))
    assert args[:2] == ["agent", "once"]
    i = args.index("--config")
    args[i + 1] = str(tmp_path / "missing.yaml")
    res = subprocess.run([str(Path(sys.executable).with_name("tenken")), *args], capture_output=True, text=True)
    out = res.stdout + res.stderr
    assert "Usage:" not in out and "No such option" not in out and "Invalid value for '--log-level'" not in out, out
    assert res.returncode == 2 and "missing.yaml" in out, out  # a clear config error naming the file


def test_installer_substitutes_paths_that_exist_in_the_xml() -> None:
    ps1 = (WIN / "install-agent.ps1").read_text(encoding="utf-8")
    xml = (WIN / "tenken-agent-task.xml").read_text(encoding="utf-8")
    for default in re.findall(r'\.Replace\("([^"]+)"', ps1):
        assert default in xml, f"install-agent.ps1 replaces {default!r}, which the task XML does not contain"
    assert "icacls.exe" in ps1 and "/inheritance:r" in ps1  # the key's protection on Windows is this ACL
