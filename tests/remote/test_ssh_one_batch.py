"""The one-script path of SSH scans (ssh_plan): same findings as on demand, few round trips, never a damaged answer.

Real sshd (tests/sshd_fixture.py) on this machine; the scans go through the real planning pass of
agent.scan. A cut or garbled answer is produced by cutting/garbling the real bytes the target sent back
(the wrapper sits exactly where a broken connection or a broken shell would act).
"""

from __future__ import annotations

import contextlib

import pytest
from sshd_fixture import TEST_USER, SshServer
from tenken.agent.report import TargetKind
from tenken.agent.scan import scan_host
from tenken.checks.policy import load_policy
from tenken.collectors.probe import Probe
from tenken.collectors.transport import ssh_plan
from tenken.collectors.transport.base import FileMissing, TimedOut
from tenken.collectors.transport.ssh import PlannedOnly, SSHTransport
from tenken.collectors.transport.ssh_batch import BatchParseError

pytestmark = pytest.mark.slow


def connect(server: SshServer, user: str = "root", **kw) -> SSHTransport:
    return SSHTransport(server.host, port=server.port, username=user, identity=str(server.client_key),
                        known_hosts=str(server.known_hosts), use_agent=False, **kw).connect()


def statuses(result) -> dict:
    """Status and wording of every finding; for listener checks the status only (other processes on this
    shared machine open and close sockets between two scans, which changes the counts in the wording)."""
    return {(f.check_id, f.subject): (f.status.value, None if f.check_id.startswith("linux.services.") else f.detail.en)
            for f in result.findings}


# Facts sampled from the live system at two instants (see test_remote_ssh.EXCLUDED for the reasons).
VOLATILE = {"linux.services": {"processes", "listeners"}, "linux.timesync": {"status", "other_status"}}


def facts(result) -> dict:
    out = {}
    for name, f in result.facts.items():
        d = f.model_dump(mode="json") if f is not None else None
        if d is not None:
            for k in VOLATILE.get(name, ()):
                d.pop(k, None)
        out[name] = d
    return out


def scan(server: SshServer, user: str = "root", *, batch: bool = True, cut=None) -> tuple[object, SSHTransport]:
    t = connect(server, user, batch=batch)
    if cut is not None:
        orig = t._exec

        def damaged(command, timeout, what):  # type: ignore[no-untyped-def]
            code, out, err = orig(command, timeout, what)
            if what.startswith("batch of"):
                out = cut(out)
            return code, out, err

        t._exec = damaged  # type: ignore[method-assign]
    try:
        return scan_host(t, load_policy(), kind=TargetKind.SSH), t
    finally:
        t.close()


def test_one_batch_gives_the_same_findings_as_on_demand_in_three_round_trips(sshd: SshServer) -> None:
    batched, tb = scan(sshd)
    plain, tp = scan(sshd, batch=False)
    assert batched.ok and plain.ok
    assert tb.round_trips <= 3, tb.collection
    assert tp.round_trips > 20  # the on-demand path really is the other path
    assert batched.info.round_trips == tb.round_trips
    assert batched.info.collection is not None and "batch" in batched.info.collection
    assert plain.info.collection == "SSH: on demand (batching off)"
    assert statuses(batched) == statuses(plain)
    assert facts(batched) == facts(plain)
    assert len(batched.findings) > 30


def test_a_cut_answer_is_never_used(sshd: SshServer) -> None:
    plain, _ = scan(sshd, batch=False)
    cut, t = scan(sshd, cut=lambda out: out[: len(out) // 2])
    assert cut.ok
    assert "on demand" in (cut.info.collection or "") and "failed" in (cut.info.collection or "")
    assert t.round_trips > 3  # everything was asked again
    assert statuses(cut) == statuses(plain)


def test_a_garbled_answer_is_never_used(sshd: SshServer) -> None:
    """Drop one record from the middle (a header whose boundary was damaged): the count no longer matches."""
    plain, _ = scan(sshd, batch=False)

    def drop_a_record(out: bytes) -> bytes:
        boundary = out[1:33]
        parts = out.split(b"\n" + boundary + b" ")
        del parts[len(parts) // 2]
        return (b"\n" + boundary + b" ").join(parts)

    garbled, _t = scan(sshd, cut=drop_a_record)
    assert "failed" in (garbled.info.collection or "")
    assert statuses(garbled) == statuses(plain)


def test_every_truncation_of_a_real_answer_is_refused(sshd: SshServer) -> None:
    t = connect(sshd)
    captured: list[tuple[bytes, str, int]] = []
    orig_parse = ssh_plan.parse_answer

    def capture(out: bytes, boundary: str, n: int) -> ssh_plan.Answer:
        captured.append((out, boundary, n))
        return orig_parse(out, boundary, n)

    try:
        with t.planning():
            ask(t.read_file, "/etc/services")
            ask(t.read_file, "/etc/ssh/ssh_config")
            ask(t.stat, "/etc/ssh")
            ask(t.run, ["printf", "a\\0b"])
        ssh_plan.parse_answer = capture  # type: ignore[assignment]
        try:
            assert t.prefetch()
        finally:
            ssh_plan.parse_answer = orig_parse  # type: ignore[assignment]
    finally:
        t.close()
    [(out, boundary, n)] = captured
    whole = orig_parse(out, boundary, n)
    assert whole.commands[0] == (0, b"a\0b", b"")
    for k in range(0, len(out), max(1, len(out) // 400)):
        with pytest.raises(BatchParseError):
            orig_parse(out[:k], boundary, n)
    with pytest.raises(BatchParseError):
        orig_parse(out[:-1], boundary, n)
    # a damaged tar stream is refused too, not read as empty files
    at = out.index(b"etc/services\0")  # the tar header of that file
    with pytest.raises(BatchParseError):
        orig_parse(out[:at] + b"\xff" * 8 + out[at + 8:], boundary, n)


def test_batched_reads_stats_and_commands_match_on_demand(sshd: SshServer) -> None:
    paths = ["/etc/services", "/etc/os-release", "/etc/ssh/ssh_config", "/etc/nonexistent-tenken", "/etc", "/proc/cmdline"]
    a, b = connect(sshd), connect(sshd, batch=False)
    try:
        with a.planning():
            for p in paths:
                ask(a.read_file, p)
            for p in ("/etc/ssh", "/etc/ssh/ssh_config", "/nonexistent-tenken/x"):
                ask(a.stat, p)
            for c in (["sh", "-c", "echo out; echo err >&2; exit 3"], ["tenken-no-such-command"]):
                ask(a.run, c)
        assert a.prefetch()
        before = a.round_trips
        for p in paths:
            ra, rb = _outcome(a.read_file, p), _outcome(b.read_file, p)
            assert ra == rb, p
        for p in ("/etc/ssh", "/etc/ssh/ssh_config", "/nonexistent-tenken/x"):
            assert _outcome(a.stat, p) == _outcome(b.stat, p), p
        for c in (["sh", "-c", "echo out; echo err >&2; exit 3"], ["tenken-no-such-command"]):
            assert _outcome(a.run, c) == _outcome(b.run, c)
        assert a.round_trips == before  # all answered by the batch
    finally:
        a.close()
        b.close()


def ask(fn, arg) -> None:  # type: ignore[no-untyped-def]
    """A request during the dry pass: answered from what is already known, or recorded and refused."""
    with contextlib.suppress(PlannedOnly, FileMissing):
        fn(arg)


def _outcome(fn, arg):  # type: ignore[no-untyped-def]
    try:
        return ("ok", fn(arg))
    except Exception as exc:  # the kind of failure is what is compared
        return ("error", type(exc).__name__)


def test_a_hung_command_is_that_collectors_error_and_the_others_finish(sshd: SshServer) -> None:
    t = connect(sshd)
    try:
        with t.planning():
            Probe(t).command(["sleep", "60"], timeout=1, fact="hung")
            Probe(t).command(["echo", "after"], fact="fine")
            Probe(t).file("/etc/hostname")
        assert t.prefetch()
        trips = t.round_trips
        hung = Probe(t)
        assert hung.command(["sleep", "60"], timeout=1, fact="hung") is None
        assert hung.unavailable["hung"].reason.value == "timeout"
        with pytest.raises(TimedOut):
            t.run(["sleep", "60"], timeout=1)
        res = Probe(t).command(["echo", "after"], fact="fine")
        assert res is not None and res.stdout == b"after\n"
        assert t.round_trips == trips  # the hang was answered by the batch, not waited for again
    finally:
        t.close()


def test_sudo_user_scan_stays_within_four_round_trips(sshd: SshServer) -> None:
    """Root-only files are read with one `sudo -n` batch after the scan's batch."""
    res, t = scan(sshd, TEST_USER)
    assert res.ok
    assert t.round_trips <= 4, t.collection
    acc = res.facts["linux.accounts"]
    assert acc is not None and "shadow" not in acc.unavailable
