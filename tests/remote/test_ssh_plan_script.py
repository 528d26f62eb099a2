"""The one-batch script (ssh_plan) on a target without `tar` and without `timeout`.

The script is run by this machine's /bin/sh, as sshd's shell would, with a PATH holding every tool it
may use except the two whose absence it must survive: files are then read with `head`, and a hung
command is killed by the shell's own watchdog, while the answers stay exactly those of the full path.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from tenken.collectors.transport import ssh_plan
from tenken.collectors.transport.ssh_batch import new_boundary

TOOLS = ("head", "stat", "find", "sleep", "cat", "mkdir", "rm", "sh", "tar", "timeout")


def bindir(tmp: Path, without: set[str]) -> Path:
    d = tmp / ("bin-" + "-".join(sorted(without)) if without else "bin-all")
    d.mkdir()
    for tool in TOOLS:
        path = shutil.which(tool)
        if tool not in without and path:
            (d / tool).symlink_to(path)
    return d


def line(argv: tuple[str, ...], timeout: float, sudo: bool) -> str:
    """As ssh.build_command, minus its fixed PATH (which would find this machine's `timeout` again)."""
    inner = shlex.join(argv)
    return (f"if command -v timeout >/dev/null 2>&1; then exec timeout -k 1 {math.ceil(timeout)} {inner}; "
            f"else exec {inner}; fi")


def run_plan(plan: ssh_plan.Plan, path: Path) -> ssh_plan.Answer:
    boundary = new_boundary()
    script = ssh_plan.compile_plan(plan, boundary, expand_max=256 * 1024 + 1, remote_line=line)
    out = subprocess.run(["/bin/sh", "-s"], input=script.encode(), capture_output=True, check=False, timeout=60,
                         env={"PATH": str(path), "LC_ALL": "C"}).stdout
    return ssh_plan.parse_answer(out, boundary, len(plan.commands))


def make_plan(tmp: Path) -> ssh_plan.Plan:
    (tmp / "data").mkdir()
    (tmp / "data" / "bin").write_bytes(bytes(range(256)) * 40)
    (tmp / "data" / "empty").write_bytes(b"")
    (tmp / "data" / "link").symlink_to("bin")
    (tmp / "data" / "secret").write_bytes(b"x")
    (tmp / "data" / "secret").chmod(0)
    os.mkfifo(tmp / "data" / "fifo")  # planted where a collector reads: `head` would block on it forever
    plan = ssh_plan.Plan()
    for name in ("bin", "empty", "link", "nope", "secret", "fifo"):
        plan.add_ops([("r", str(tmp / "data" / name))], ssh_plan.WHOLE)
    plan.add_ops([("r", "/proc/self/status"), ("l", str(tmp / "data")), ("s", str(tmp / "data" / "bin"))], ssh_plan.WHOLE)
    plan.add_command("sleep", ("sleep", "30"), 1.0, False)
    plan.add_command("sh", ("sh", "-c", "printf 'a\\0b'; echo err >&2; exit 3"), 5.0, False)
    return plan


@pytest.mark.parametrize("without", [set(), {"tar"}, {"timeout"}, {"tar", "timeout"}])
def test_script_without_tar_or_timeout(tmp_path: Path, without: set[str]) -> None:
    plan = make_plan(tmp_path)
    ans = run_plan(plan, bindir(tmp_path, without))
    by = {(r.op, r.path): r for r in ans.records}
    d = tmp_path / "data"
    assert by[("r", str(d / "bin"))].payload == bytes(range(256)) * 40
    assert by[("r", str(d / "link"))].payload == bytes(range(256)) * 40  # symlinks are followed
    assert by[("r", str(d / "empty"))].payload == b""
    assert by[("r", str(d / "nope"))].status == "missing"
    assert by[("r", str(d / "fifo"))].status == "special" and not by[("r", str(d / "fifo"))].payload
    assert by[("r", str(d / "secret"))].status == ("ok" if os.geteuid() == 0 else "denied")
    assert b"Name:" in by[("r", "/proc/self/status")].payload  # a size-0 pseudo-file is read, not skipped
    assert by[("l", str(d))].status == "ok"
    assert by[("s", str(d / "bin"))].status == "ok"
    assert ans.commands[0] == "timeout"  # killed by `timeout`, or by the shell's watchdog without it
    assert ans.commands[1] == (3, b"a\0b", b"err\n")
    assert (ans.tar_members > 0) == ("tar" not in without)
