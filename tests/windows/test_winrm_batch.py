"""A Windows scan in one batch (collectors/transport/winrm_batch.py) against the WS-Management responder.

The batch must change how many requests a scan makes, never what it finds: every test compares the
findings of a batched scan with those of the same host scanned script by script.
"""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from tenken.agent.report import TargetKind
from tenken.agent.scan import TargetResult, scan_host
from tenken.checks.policy import load_policy
from tenken.collectors.transport import winrm_batch as wb
from tenken.collectors.transport.winrm import WinRMTransport
from winrm_fixtures import PASSWORD, USER, pki_fixture, responder_fixture  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow


def scan(r, pki, *, batch: bool) -> tuple[TargetResult, WinRMTransport]:  # type: ignore[no-untyped-def]
    t = WinRMTransport("127.0.0.1", port=r.port, username=USER, password=PASSWORD, auth="basic", ca_file=str(pki["ca"]),
                       command_timeout=15)
    if not batch:
        t.planning = None  # type: ignore[method-assign,assignment]  # scan_host then runs every script on its own
    with t:
        return scan_host(t, load_policy(), kind=TargetKind.WINRM), t


def verdicts(res: TargetResult) -> list[tuple[str, str, str | None, str]]:
    return sorted((f.check_id, f.status.value, f.subject, f.title.en) for f in res.findings)


def requests(events: list[dict]) -> int:
    return sum(1 for e in events if e["event"] in ("create", "command", "send", "receive", "signal", "delete"))


@pytest.mark.parametrize("scenario", ["compliant", "weak", "compliant_ja"])
def test_batched_scan_finds_the_same_in_a_fraction_of_the_requests(responder, pki, scenario: str) -> None:
    one_by_one = responder(scenario)
    plain, t_plain = scan(one_by_one, pki, batch=False)
    batched_host = responder(scenario)
    batched, t_batch = scan(batched_host, pki, batch=True)
    assert plain.ok and batched.ok
    assert verdicts(batched) == verdicts(plain)
    assert batched.info.identity == plain.info.identity
    ev_plain, ev_batch = one_by_one.events(), batched_host.events()
    commands = [e for e in ev_batch if e["event"] == "command"]
    assert commands[0]["topic"] == "batch" and len(commands) <= 3, [c["topic"] for c in commands]
    assert sum(1 for e in ev_batch if e["event"] == "batch_job") >= 15
    assert requests(ev_batch) * 4 <= requests(ev_plain), (requests(ev_batch), requests(ev_plain))
    assert t_batch.round_trips * 4 <= t_plain.round_trips
    assert t_batch.collection is not None and "one batch of" in t_batch.collection
    print(f"\n{scenario}: WS-Man requests {requests(ev_plain)} one by one -> {requests(ev_batch)} batched "
          f"({len(commands)} commands; client round trips {t_plain.round_trips} -> {t_batch.round_trips})")


def test_a_job_past_its_timeout_is_an_error_for_that_collector_only(responder, pki) -> None:
    plain, _ = scan(responder("compliant"), pki, batch=False)
    slow, t = scan(responder("compliant", behaviour="batch_timeout"), pki, batch=True)
    ev = next(e for e in slow.evidence if e.collector == "windows.updates")
    assert "did not finish within" in json.dumps(ev.model_dump(mode="json"))
    changed = {(a, b) for a, b in zip(verdicts(plain), verdicts(slow), strict=True) if a != b}
    assert changed, "the timed-out collector's findings must change"
    # windows.updates feeds the patch checks and the end-of-support check (CurrentBuild, EditionID)
    assert all(old[0].startswith(("windows.patches", "windows.os.eos")) for old, _new in changed), changed
    assert {new[1] for _old, new in changed} == {"error"}
    assert "one batch of" in (t.collection or "")


def test_a_damaged_answer_is_never_used(responder, pki) -> None:
    plain, _ = scan(responder("compliant"), pki, batch=False)
    r = responder("compliant", behaviour="batch_garbage")
    fallback, t = scan(r, pki, batch=True)
    assert verdicts(fallback) == verdicts(plain)
    assert t.collection is not None and "one by one" in t.collection
    commands = [e for e in r.events() if e["event"] == "command"]
    assert commands[0]["topic"] == "batch" and len(commands) > 15  # then every script on its own


def _answer(rows: list[dict], marker: str = wb.MARKER) -> bytes:
    return (marker + "\n" + json.dumps(rows)).encode()


def _row(i: int, **kw: object) -> dict:
    return {"i": i, "c": 0, "t": 0, "s": 0, "o": base64.b64encode(b"out").decode(), "e": "", **kw}


def test_answers_that_cannot_be_attributed_are_refused() -> None:
    ok = wb.parse_answer(_answer([_row(1), _row(0, c=5)]), 2)
    assert ok[0].exit_code == 5 and ok[1].stdout == b"out"
    for bad, n in (
        (_answer([_row(0)]), 2),                      # a job unanswered
        (_answer([_row(0), _row(0)]), 2),             # one answered twice
        (_answer([_row(0), _row(2)]), 2),             # an index never sent
        (_answer([_row(0, c="0")]), 1),               # a string where a number belongs
        (_answer([_row(0, t=2)]), 1),
        (_answer([_row(0, o="not base64!")]), 1),
        (_answer([_row(0)], marker="SOMETHING-ELSE"), 1),
        (b"TENKEN-BATCH-V1\n[{\"i\":0", 1),           # cut short
        (_answer({"i": 0}), 1),  # type: ignore[arg-type]
    ):
        with pytest.raises(wb.BatchAnswerError):
            wb.parse_answer(bad, n)


def test_job_payload_round_trips_and_the_wrapper_fits_one_command_line() -> None:
    from tenken.collectors.transport.winrm import MAX_COMMAND_LINE, PS_PRELUDE, encode_powershell

    jobs = [wb.Job("ps", encode_powershell("Get-Date"), 30), wb.Job("cmd", "wbadmin get versions", 2.5)]
    lines = gzip.decompress(base64.b64decode(wb.encode_jobs(jobs).strip())).decode().split("\n")
    assert lines[0] == f"ps\t30000\t{encode_powershell('Get-Date')}"
    kind, ms, arg = lines[1].split("\t")
    assert (kind, ms, base64.b64decode(arg).decode()) == ("cmd", "2500", "wbadmin get versions")
    assert len(encode_powershell(PS_PRELUDE + wb.WRAPPER)) + 120 <= MAX_COMMAND_LINE
    assert wb.batch_deadline(jobs) >= 30
