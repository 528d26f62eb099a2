"""Report ingest against a real hub over mutual TLS, on SQLite and on PostgreSQL.

Every rejection is checked twice: the status and reason the agent gets, and that the database holds
exactly what it held before (no partial report, no stray row).
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hub_harness import CT, Agent, Hub, make_agent, make_report
from tenken.hub import ca as hubca

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agents(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Agent]:
    base = tmp_path_factory.mktemp("agents")
    return {name: make_agent(hub, base / name) for name in ("a", "b")}


def assert_rejected(hub: Hub, resp: httpx.Response, status: int, before: dict[str, int], reason: str = "") -> None:
    assert resp.status_code == status, resp.text
    detail = resp.json()["detail"]
    assert isinstance(detail, str) and detail
    assert reason.lower() in detail.lower(), detail
    assert hub.counts() == before, "a rejected upload changed the database"


def test_store_then_resend_is_exactly_once(hub: Hub, agents: dict[str, Agent]) -> None:
    a = agents["a"]
    report = make_report(n_findings=7, target="store-host")
    body = a.sign(report)
    before = hub.counts()
    r1 = a.post(hub, body)
    assert r1.status_code == 201, r1.text
    assert r1.json() == {"report_id": report.id, "status": "stored"}
    after = hub.counts()
    assert after["reports"] == before["reports"] + 1
    assert after["findings"] == before["findings"] + 7
    assert after["evidence"] == before["evidence"] + 1
    assert after["targets"] == before["targets"] + 1
    assert after["finding_clauses"] == before["finding_clauses"] + 7

    r2 = a.post(hub, body)
    assert r2.status_code == 200
    assert r2.json() == {"report_id": report.id, "status": "duplicate"}
    assert hub.counts() == after

    # The original signed bytes come back verbatim, and still verify.
    with hub.operator() as op:
        env = op.get(f"/api/v1/reports/{report.id}/envelope")
        assert env.status_code == 200
        assert env.content == body
        assert env.headers["content-type"].startswith(CT)
        v = op.get(f"/api/v1/reports/{report.id}/verify").json()
        assert v["verified"] is True and v["agent_id"] == a.agent_id and v["reason"] is None
        got = op.get(f"/api/v1/reports/{report.id}").json()
        assert got["agent_id"] == a.agent_id
        assert got["report"]["id"] == report.id
        assert len(got["report"]["findings"]) == 7
        assert got["report"]["evidence"][0]["raw"] == "PASS_MAX_DAYS 90\n"


def test_tampered_payload_is_rejected(hub: Hub, agents: dict[str, Agent]) -> None:
    a = agents["a"]
    env = json.loads(a.sign(make_report(target="tamper-host")))
    payload = json.loads(base64.b64decode(env["payload"]))
    payload["findings"][1]["status"] = "pass" if payload["findings"][1]["status"] != "pass" else "fail"
    env["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    before = hub.counts()
    assert_rejected(hub, a.post(hub, json.dumps(env).encode()), 422, before, "signature")


def test_wrong_signing_key_is_rejected(hub: Hub, agents: dict[str, Agent]) -> None:
    a = agents["a"]
    before = hub.counts()
    body = a.sign(make_report(target="wrongkey"), key=Ed25519PrivateKey.generate())
    assert_rejected(hub, a.post(hub, body), 422, before, "wrong key")


def test_certificate_of_agent_a_cannot_carry_agent_b_report(hub: Hub, agents: dict[str, Agent]) -> None:
    """The upload is bound to the TLS client certificate: B's perfectly signed report over A's connection fails."""
    a, b = agents["a"], agents["b"]
    report = make_report(target="b-host")
    body_b = b.sign(report)
    before = hub.counts()
    assert_rejected(hub, a.post(hub, body_b), 422, before, a.agent_id)
    # Same bytes over B's own connection are fine: only the binding was wrong.
    assert b.post(hub, body_b).status_code == 201
    with hub.operator() as op:
        assert op.get(f"/api/v1/reports/{report.id}").json()["agent_id"] == b.agent_id


def test_certificate_from_another_ca_fails_the_handshake(hub: Hub, tmp_path: Path) -> None:
    other = hubca.create_ca(tmp_path / "o" / "ca.key", tmp_path / "o" / "ca.pem", org="somebody else")
    key, cert = hubca.issue_user_cert(other, "mallory")
    (tmp_path / "m.key").write_bytes(hubca.key_pem(key))
    (tmp_path / "m.pem").write_bytes(hubca.pem(cert))
    before = hub.counts()
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)), httpx.Client(verify=hub.ssl_context(tmp_path / "m.pem", tmp_path / "m.key")) as c:
        c.post(hub.url + "/api/v1/reports", content=b"{}", headers={"Content-Type": CT})
    # ... and without any certificate at all.
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)), httpx.Client(verify=hub.ssl_context(None, None)) as c:
        c.post(hub.url + "/api/v1/reports", content=b"{}", headers={"Content-Type": CT})
    assert hub.counts() == before


def test_right_ca_but_never_enrolled_is_403(hub: Hub, tmp_path: Path) -> None:
    """A certificate the hub's CA signed but the registry does not know (e.g. issued outside `agent enroll`)."""
    ghost = make_agent(hub, tmp_path / "ghost", enroll=False)
    authority = hubca.load_ca(hub.data / "private" / "ca.key", hub.data / "ca.pem")
    _, cert = hubca.issue_agent_cert(authority, (ghost.dir / "tls.csr").read_bytes(), ghost.key.public_key())
    ghost.cert.write_bytes(hubca.pem(cert))
    before = hub.counts()
    assert_rejected(hub, ghost.post(hub, ghost.sign(make_report(target="ghost"))), 403, before, "not enrolled")


def test_revoked_agent_is_403_and_cannot_reenroll(hub: Hub, tmp_path: Path) -> None:
    ag = make_agent(hub, tmp_path / "rev")
    assert ag.post(hub, ag.sign(make_report(target="rev-host"))).status_code == 201
    hub.cli("agent", "revoke", ag.agent_id)
    before = hub.counts()
    assert_rejected(hub, ag.post(hub, ag.sign(make_report(target="rev-host"))), 403, before, "revoked")
    again = hub.cli("agent", "enroll", str(ag.dir / "tls.csr"), "--pub", str(ag.dir / "agent.pub"), "--out", str(tmp_path / "x.crt"), check=False)
    assert again.returncode == 2 and "revoked" in again.stderr
    listing = hub.cli("agent", "list", "--json")
    row = next(r for r in json.loads(listing.stdout) if r["agent_id"] == ag.agent_id)
    assert row["revoked_at"] is not None
    # Its stored report is still readable and still verifies (revocation is not deletion).
    with hub.operator() as op:
        reports = op.get("/api/v1/reports", params={"agent": ag.agent_id}).json()
        assert len(reports) == 1
        v = op.get(f"/api/v1/reports/{reports[0]['report_id']}/verify").json()
        assert v["verified"] is True and v["agent_revoked"] is True


def test_same_id_different_content_is_409(hub: Hub, agents: dict[str, Agent]) -> None:
    a = agents["a"]
    first = make_report(target="replay")
    assert a.post(hub, a.sign(first)).status_code == 201
    second = make_report(target="replay", report_id=first.id, n_findings=5)
    before = hub.counts()
    assert_rejected(hub, a.post(hub, a.sign(second)), 409, before, "different content")
    # Another agent reusing the id with A's exact payload is not a "duplicate" either.
    b = agents["b"]
    assert_rejected(hub, b.post(hub, b.sign(first)), 409, before, "different content")


@pytest.mark.parametrize(("ahead", "reason"), [(timedelta(days=-8), "stale report"), (timedelta(days=6), "ahead of the hub's clock"),
                                                 (timedelta(minutes=6), "the tolerance is 300 s")])
def test_stale_or_future_report_is_422(hub: Hub, agents: dict[str, Agent], ahead: timedelta, reason: str) -> None:
    """A report from the future beyond the 5-minute skew tolerance is refused, naming the skew (it used to be
    accepted up to 7 days ahead and then stayed "latest" for that host, hiding every real report)."""
    a = agents["a"]
    before = hub.counts()
    body = a.sign(make_report(target="stale", finished_at=datetime.now(UTC) + ahead))
    assert_rejected(hub, a.post(hub, body), 422, before, reason)


def test_schema_violations_are_422_with_reason(hub: Hub, agents: dict[str, Agent]) -> None:
    a = agents["a"]
    good = make_report(target="schema").model_dump(mode="json", by_alias=True)
    before = hub.counts()
    bad = json.loads(json.dumps(good))
    bad["findings"][0]["status"] = "passed-ish"
    assert_rejected(hub, a.post(hub, a.sign(bad)), 422, before, "findings.0.status")
    bad = json.loads(json.dumps(good))
    bad["findings"][0]["status"], bad["findings"][0]["evidence"] = "pass", []
    assert_rejected(hub, a.post(hub, a.sign(bad)), 422, before, "without evidence")
    bad = json.loads(json.dumps(good))
    bad["surprise"] = 1
    assert_rejected(hub, a.post(hub, a.sign(bad)), 422, before, "surprise")
    assert_rejected(hub, a.post(hub, a.sign(b"not json at all")), 422, before, "not a valid tenken.report/v1")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (json.dumps({"payloadType": "application/vnd.tenken.report.v1+json", "payload": "@@@", "signatures": [{"sig": "AA=="}]}).encode(), "base64"),
        (json.dumps({"payloadType": "application/vnd.tenken.report.v1+json", "payload": "e30=", "signatures": []}).encode(), "no signatures"),
        (json.dumps({"payloadType": "text/plain", "payload": "e30=", "signatures": [{"sig": "AA=="}]}).encode(), "payloadType"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
    ],
)
def test_malformed_envelopes_are_400(hub: Hub, agents: dict[str, Agent], body: bytes, reason: str) -> None:
    before = hub.counts()
    assert_rejected(hub, agents["a"].post(hub, body), 400, before, reason)


def test_wrong_content_type_is_415(hub: Hub, agents: dict[str, Agent]) -> None:
    a = agents["a"]
    before = hub.counts()
    assert_rejected(hub, a.post(hub, a.sign(make_report()), content_type="text/plain"), 415, before, "content-type")


def _raw_tls(hub: Hub, agent: Agent) -> ssl.SSLSocket:
    ctx = hub.ssl_context(agent.cert, agent.tls_key)
    sock = socket.create_connection(("127.0.0.1", hub.port), timeout=30)
    return ctx.wrap_socket(sock, server_hostname="127.0.0.1")


def _read_response(s: ssl.SSLSocket) -> tuple[int, dict[str, object]]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, json.loads(rest[:length])


def test_oversize_declared_length_is_413_before_the_body_is_sent(hub: Hub, agents: dict[str, Agent]) -> None:
    """The hub answers from the headers alone: we never send a single body byte."""
    before = hub.counts()
    with _raw_tls(hub, agents["a"]) as s:
        s.sendall(
            b"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + CT.encode()
            + b"\r\nContent-Length: 50000000\r\n\r\n"
        )
        status, body = _read_response(s)
    assert status == 413 and "exceeds" in str(body["detail"])
    assert hub.counts() == before


def test_oversize_chunked_body_is_413_while_streaming(hub: Hub, agents: dict[str, Agent]) -> None:
    """No Content-Length: the hub counts as it reads and stops past the limit (here 1 MiB)."""
    before = hub.counts()
    with _raw_tls(hub, agents["a"]) as s:
        s.sendall(b"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + CT.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        for _ in range(20):  # 1.25 MiB
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status, body = _read_response(s)
    assert status == 413 and "limit" in str(body["detail"])
    assert hub.counts() == before


def test_concurrent_identical_resends_store_once(hub: Hub, agents: dict[str, Agent]) -> None:
    a = agents["a"]
    report = make_report(target="race", n_findings=20)
    body = a.sign(report)
    before = hub.counts()
    codes: list[int] = []
    lock = threading.Lock()

    def send() -> None:
        r = a.post(hub, body)
        with lock:
            codes.append(r.status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(codes) == [200] * 7 + [201]
    after = hub.counts()
    assert after["reports"] == before["reports"] + 1 and after["findings"] == before["findings"] + 20


def test_real_agent_shipper_speaks_the_contract(hub: Hub, agents: dict[str, Agent]) -> None:
    """The agent's own HubClient and signer against the real hub: stored, then acknowledged as duplicate."""
    from tenken.agent.agent_config import HubConfig
    from tenken.agent.ship import HubClient, Outcome
    from tenken.agent.signing import sign_report

    a = agents["a"]
    report = make_report(target="shipper-host")
    client = HubClient(HubConfig(url=hub.url, ca_file=str(hub.ca), client_cert=str(a.cert), client_key=str(a.tls_key)))
    try:
        body = sign_report(report, a.key)
        first = client.send(body, report.id)
        second = client.send(body, report.id)
    finally:
        client.close()
    assert first.outcome is Outcome.ACKED and not first.duplicate
    assert second.outcome is Outcome.ACKED and second.duplicate


def test_awkward_but_valid_text_is_stored_and_oversized_keys_are_422(hub: Hub, agents: dict[str, Agent]) -> None:
    """NUL (PostgreSQL text cannot hold it) and non-BMP text in evidence and findings; over-long indexed values."""
    a = agents["a"]
    rep = make_report(target="nul-host", raw="binary\x00excerpt 🏥 病院")
    data = rep.model_dump(mode="json", by_alias=True)
    data["findings"][0]["subject"] = "acct\x00name"
    data["findings"][0]["title"]["ja"] = "タイトル\x00"
    resp = a.post(hub, a.sign(data))
    assert resp.status_code == 201, resp.text
    with hub.operator() as op:
        got = op.get(f"/api/v1/reports/{rep.id}").json()["report"]
        assert got["evidence"][0]["raw"] == "binary\x00excerpt 🏥 病院"  # the record itself is untouched
        assert got["findings"][0]["subject"] == "acct\x00name"
    before = hub.counts()
    long_target = make_report(target="h" * 501)
    assert_rejected(hub, a.post(hub, a.sign(long_target)), 422, before, "target name is longer")
    for bad_id in ("r" * 201, "a\x1fb", 'x"; filename=evil', "../../etc"):
        assert_rejected(hub, a.post(hub, a.sign(make_report(report_id=bad_id))), 422, before, "report id")


def test_timestamp_out_of_utc_range_is_422(hub: Hub, agents: dict[str, Agent]) -> None:
    a = agents["a"]
    data = make_report(target="tz-edge").model_dump(mode="json", by_alias=True)
    data["evidence"][0]["collected_at"] = "0001-01-01T00:00:00+05:00"
    before = hub.counts()
    assert_rejected(hub, a.post(hub, a.sign(data)), 422, before, "timestamp")


def test_invalid_finding_in_a_late_chunk_rolls_back_the_stored_chunks(hub: Hub, agents: dict[str, Agent]) -> None:
    """Findings are validated and stored chunk by chunk (tenken.hub.report_stream): a bad finding in the
    fourth chunk must undo the three chunks already written, and the 422 names its index. Run in-process
    on the hub's own database with a small chunk, as a near-maximum body would not fit the test hub's limit."""
    from sqlalchemy import select
    from tenken.hub import tables as t
    from tenken.hub.ingest import EnrolledAgent, IngestError, store, verify_and_parse

    a = agents["a"]
    grant = EnrolledAgent(a.agent_id, a.key.public_key(), patterns=("*",))
    size = 40
    report = make_report(n_findings=size * 3 + 10, target="chunk-host")
    doc = json.loads(report.to_json())
    bad = size * 3 + 5
    doc["findings"][bad]["status"] = "pass"
    doc["findings"][bad]["evidence"] = []  # 'pass' without evidence: invalid
    body = a.sign(doc)
    before = hub.counts()
    eng = hub.engine()
    parsed, payload = verify_and_parse(body, grant, window=timedelta(days=7), chunk=size)
    assert parsed.raw_findings, "the first chunk alone was validated before storing"
    with pytest.raises(IngestError) as exc:
        store(eng, parsed, agent_id=a.agent_id, envelope=body, payload=payload)
    assert exc.value.status == 422 and f"findings.{bad}" in exc.value.detail, exc.value.detail
    assert hub.counts() == before, "chunks stored before the bad one were not rolled back"

    ok = make_report(n_findings=size * 2 + 3, target="chunk-host", statuses=["fail", "warn", "pass"])
    body = a.sign(ok)
    parsed, payload = verify_and_parse(body, grant, window=timedelta(days=7), chunk=size)
    assert store(eng, parsed, agent_id=a.agent_id, envelope=body, payload=payload).status == "stored"
    assert hub.counts()["findings"] == before["findings"] + size * 2 + 3
    with eng.connect() as conn:
        summary = conn.execute(select(t.reports.c.summary).where(t.reports.c.id == ok.id)).scalar_one()
    assert summary["findings"] == size * 2 + 3
    assert (summary["fail"], summary["warn"], summary["pass"]) == (28, 28, 27)
