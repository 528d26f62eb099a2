"""The spool: atomic entries (proved by SIGKILLing a real agent mid-write), limits that alarm but never drop."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from agent_fixtures import *  # noqa: F403  (fixtures)
from agent_fixtures import run_tenken
from tenken.agent.report import Report
from tenken.agent.spool import TEMP_PREFIX, Spool, SpoolFull


def _report() -> Report:
    now = datetime.now(UTC)
    return Report(started_at=now, finished_at=now, targets=[], findings=[], evidence=[])


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_entries_are_complete_private_and_ordered(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "s")
    written = [sp.put(f"id-{i}", f"payload {i}".encode() * 100) for i in range(20)]
    assert sp.entries() == written  # oldest first
    assert [p.read_bytes() for p in written] == [f"payload {i}".encode() * 100 for i in range(20)]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in written)
    assert stat.S_IMODE(sp.dir.stat().st_mode) == 0o700
    assert sp.temp_files() == []
    sp.ack(written[0])
    assert sp.entries() == written[1:]


def test_report_id_cannot_escape_the_spool(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "s")
    p = sp.put("../../etc/passwd", b"x")
    assert p.parent == sp.dir and "/" not in p.name[21:]


def test_over_the_limits_new_reports_are_kept_and_alarmed(tmp_path: Path, caplog) -> None:
    sp = Spool(tmp_path / "s", max_reports=3, max_bytes=10**9)
    with caplog.at_level(logging.ERROR, logger="tenken.agent.spool"):
        for i in range(2):
            sp.put(f"r{i}", b"data")
        assert caplog.text == "" and not sp.status().full
        for i in range(2, 6):
            sp.put(f"r{i}", b"data")
    assert len(sp.entries()) == 6  # nothing dropped, the newest included
    assert caplog.text.count("is full") == 4 and "nothing is deleted" in caplog.text
    assert sp.status().full
    by_bytes = Spool(tmp_path / "b", max_reports=100, max_bytes=10)
    by_bytes.put("a", b"0123456789")
    assert by_bytes.status().full


def test_below_the_free_space_floor_nothing_is_written(tmp_path: Path, caplog) -> None:
    sp = Spool(tmp_path / "s", min_free_bytes=2**62)
    with caplog.at_level(logging.ERROR), pytest.raises(SpoolFull, match="NOT written"):
        sp.put("r1", b"data")
    assert sp.entries() == [] and sp.temp_files() == []
    assert "NOT written" in caplog.text


def test_leftover_temp_files_are_ignored_and_cleaned(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "s")
    sp.ensure()
    sp.put("good", b"complete")
    dead = sp.dir / f"{TEMP_PREFIX}{_dead_pid()}-abc.part"
    dead.write_bytes(b'{"payloadType": "application/vnd.ten')
    live = sp.dir / f"{TEMP_PREFIX}{os.getppid()}-def.part"  # a live writer (our parent process)
    live.write_bytes(b"in progress")
    assert [p.name for p in sp.entries()] == [sp.entries()[0].name] and len(sp.entries()) == 1
    assert sp.status().temp_files == 2
    assert sp.clean_temp() == 1
    assert not dead.exists() and live.exists()
    old = 10**9
    os.utime(live, (old, old))  # a "live" pid whose file is ancient: the pid was reused, the write is long dead
    assert sp.clean_temp() == 1 and not live.exists()


def test_sigkill_mid_write_never_yields_a_sent_corrupt_entry(tmp_path, make_config, hub) -> None:
    """A real `tenken agent once` is SIGKILLed after writing half of a spool file; nothing corrupt is ever sent."""
    hub.start()
    cfg = make_config()
    script = textwrap.dedent(
        f"""
        import sys, time
        from tenken.agent import spool
        def pause(path):
            print("HALF", path, flush=True)
            time.sleep(600)
        spool.after_partial_write = pause
        from tenken.agent.cli import app
        sys.argv = ["tenken", "agent", "once", "--config", {str(cfg)!r}]
        app()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("HALF "), proc.stderr.read() if proc.poll() is not None else line
        temp = Path(line.split(" ", 1)[1].strip())
        partial = temp.read_bytes()
        assert temp.parent == tmp_path / "spool" and partial and not partial.endswith(b"\n")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()

    sp = Spool(tmp_path / "spool")
    assert temp.exists() and sp.entries() == []  # the half file is not an entry
    assert hub.state.posts == {}

    res = run_tenken("agent", "once", "--config", str(cfg))  # the agent starts again
    assert res.exit_code == 0, res.stderr
    assert not temp.exists() and sp.temp_files() == []  # cleaned up: incomplete by definition
    # The stub hub verifies every body's signature; it saw no invalid body and stored one complete report.
    assert hub.state.invalid == [] and len(hub.state.stored) == 1
    ((rid, payload),) = hub.state.stored.items()
    assert json.loads(payload)["id"] == rid and json.loads(payload)["targets"]
    assert sum(hub.state.posts.values()) == 1
    assert sp.entries() == [] and sp.rejected() == []


def test_status_reports_pending_full_and_rejected(tmp_path, make_config, hub) -> None:
    cfg = make_config(spool={"max_reports": 2})
    res = run_tenken("agent", "status", "--config", str(cfg))
    assert res.exit_code == 0 and "pending:  0 report(s)" in res.stdout and "state:    OK" in res.stdout

    # hub down: two runs of `agent once` spool two reports, and that is still a success
    for _ in range(2):
        r = run_tenken("agent", "once", "--config", str(cfg))
        assert r.exit_code == 0, r.stderr
    res = run_tenken("agent", "status", "--config", str(cfg))
    assert res.exit_code == 1
    assert "pending:  2 report(s)" in res.stdout and "SPOOL FULL" in res.stderr
    data = json.loads(run_tenken("agent", "status", "--config", str(cfg), "--json").stdout)
    assert data["full"] is True and data["pending"] == 2 and data["problems"]

    # hub up, but it rejects the oldest one
    hub.state.script.append((413, "report too large", {}))
    hub.start()
    r = run_tenken("agent", "once", "--config", str(cfg))
    assert r.exit_code == 1  # a report was rejected: someone must look
    res = run_tenken("agent", "status", "--config", str(cfg))
    assert res.exit_code == 1
    assert "pending:  0 report(s)" in res.stdout
    assert "HTTP 413: report too large" in res.stdout and "rejected by the hub" in res.stderr
    assert len(hub.state.stored) == 2
