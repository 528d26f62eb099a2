"""Shipping to a real HTTPS server with mutual TLS 1.3: exactly-once effect, order, backoff, rejections."""

from __future__ import annotations

import json
import logging
import random
import ssl
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from agent_fixtures import *  # noqa: F403  (fixtures)
from agent_hubstub import StubHub
from tenken.agent.agent_config import HubConfig
from tenken.agent.report import Report
from tenken.agent.ship import Backoff, HubClient, Outcome, Sender
from tenken.agent.signing import load_signing_key, sign_report
from tenken.agent.spool import Spool


def _report() -> Report:
    now = datetime.now(UTC)
    return Report(started_at=now, finished_at=now, targets=[], findings=[], evidence=[])


def _hubcfg(url: str, pki, files, **kw) -> HubConfig:
    return HubConfig(url=url, ca_file=str(pki.ca_pem), client_cert=str(files.cert), client_key=str(files.tls_key), timeout=kw.pop("timeout", 5.0), **kw)


def _sender(tmp_path: Path, hub: StubHub, pki, files, *, base=0.01, cap=0.05, seed=1, **spool_kw) -> Sender:
    spool = Spool(tmp_path / "spool", **spool_kw)
    spool.ensure()
    return Sender(spool, HubClient(_hubcfg(hub.url, pki, files)), Backoff(base, cap, random.Random(seed)))


def _put(sender: Sender, key, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        r = _report()
        sender.spool.put(r.id, sign_report(r, key))
        ids.append(r.id)
    return ids


def _drain_until_empty(sender: Sender, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while sender.spool.entries():
        assert time.monotonic() < deadline, f"spool not drained: {len(sender.spool.entries())} left"
        if sender.due():
            sender.drain()
        else:
            time.sleep(min(0.05, max(0.0, sender.next_attempt - time.monotonic())))


def test_200_reports_while_hub_down_arrive_exactly_once_in_order(tmp_path, hub, pki, agent_files) -> None:
    sender = _sender(tmp_path, hub, pki, agent_files)
    key = load_signing_key(agent_files.key)
    # Hub is down (not started): every report is produced, spooled, and a send is attempted after each.
    ids = []
    refused = 0
    for _ in range(200):
        ids += _put(sender, key, 1)
        if sender.due():
            res = sender.drain()
            assert res.acked == 0 and res.stopped_by is not None and res.stopped_by.outcome is Outcome.RETRY
            refused += 1
    assert refused > 0
    assert len(sender.spool.entries()) == 200
    assert hub.state.posts == {}

    # The hub comes back; some acknowledgements get lost after the report was stored, some requests get a 503.
    lost = set(random.Random(7).sample(ids, 15))
    hub.state.drop_after_store.update(lost)
    hub.state.script.extend([(503, "warming up", {}), (503, "warming up", {})])
    hub.start()
    _drain_until_empty(sender)

    st = hub.state
    assert st.invalid == []
    assert set(st.stored) == set(ids) and len(st.stored) == 200  # every report stored once
    assert st.order == ids  # oldest first, none overtook another
    assert set(st.duplicates) == lost and all(v == 1 for v in st.duplicates.values())  # resent, hub said duplicate
    # POSTs per report: one, plus one resend when its acknowledgement was lost, plus the two 503s for the head
    assert all(st.posts[i] == 1 + (i in lost) + 2 * (i == ids[0]) for i in ids)
    assert sender.spool.entries() == [] and sender.spool.rejected() == []


def test_client_certificate_cn_is_the_agent_id(tmp_path, hub, pki, agent_files) -> None:
    from tenken.agent.dsse import agent_id, load_public_key

    hub.start()
    sender = _sender(tmp_path, hub, pki, agent_files)
    _put(sender, load_signing_key(agent_files.key), 1)
    assert sender.drain().acked == 1
    assert hub.state.peers == {agent_id(load_public_key(agent_files.pub.read_bytes()))}


def test_hub_restarted_mid_stream(tmp_path, hub, pki, agent_files) -> None:
    """Stop the hub while a backlog drains, produce more, start it again: all delivered, once each, in order."""
    from tenken.agent.signing import envelope_report_id

    hub.start()
    sender = _sender(tmp_path, hub, pki, agent_files)
    key = load_signing_key(agent_files.key)
    ids = _put(sender, key, 30)
    for e in sender.spool.entries()[:10]:  # the first ten go through
        body = e.read_bytes()
        assert sender.client.send(body, envelope_report_id(body)).outcome is Outcome.ACKED
        sender.spool.ack(e)
    hub.stop()
    res = sender.drain()
    assert res.acked == 0 and res.remaining == 20 and res.stopped_by.outcome is Outcome.RETRY
    ids += _put(sender, key, 5)
    hub.start()
    _drain_until_empty(sender)
    assert hub.state.order == ids and all(v == 1 for v in hub.state.posts.values())


def test_backoff_grows_and_is_jittered() -> None:
    base, cap = 0.5, 30.0
    ceilings = [Backoff(base, cap).ceiling(n) for n in range(10)]
    assert ceilings[:6] == [0.5, 1, 2, 4, 8, 16] and ceilings[6:] == [cap] * 4
    rng = random.Random(42)
    samples: dict[int, list[float]] = {n: [] for n in range(8)}
    for _ in range(300):
        b = Backoff(base, cap, rng)
        for n in range(8):
            samples[n].append(b.next_delay())
    for n, xs in samples.items():
        assert all(0 <= x <= ceilings[n] for x in xs)  # full jitter: within [0, ceiling]
        assert len({round(x, 9) for x in xs}) > 250  # jittered, not a fixed schedule
        assert max(xs) > 0.8 * ceilings[n]  # and it uses the whole range
    means = [statistics.mean(samples[n]) for n in range(8)]
    assert all(means[i + 1] > means[i] * 1.5 for i in range(5))  # grows (about doubling) until the cap
    assert abs(means[7] - cap / 2) < cap * 0.1  # capped: mean ~ cap/2
    b = Backoff(base, cap, rng)
    for _ in range(5):
        b.next_delay()
    b.reset()
    assert b.ceiling() == base


def test_sender_backs_off_between_failed_attempts(tmp_path, hub, pki, agent_files) -> None:
    """With the hub down, the sender's own schedule of attempts follows the growing, jittered ceilings."""
    clock = [1000.0]
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    sender = Sender(spool, HubClient(_hubcfg(hub.url, pki, agent_files)), Backoff(1.0, 64.0, random.Random(3)), clock=lambda: clock[0])
    _put(sender, load_signing_key(agent_files.key), 3)
    delays = []
    for n in range(9):
        assert sender.due()
        res = sender.drain()
        assert res.stopped_by.outcome is Outcome.RETRY and res.remaining == 3
        delay = sender.next_attempt - clock[0]
        assert 0 <= delay <= min(64.0, 2**n) and delay == pytest.approx(res.retry_in)
        delays.append(delay)
        if delay > 1e-3:
            clock[0] += delay / 2
            assert not sender.due()  # no attempt before its time
        clock[0] = sender.next_attempt
    assert len(set(delays)) == len(delays)
    hub.start()
    assert sender.drain().acked == 3
    assert sender.backoff.attempt == 0


def test_4xx_moves_report_to_rejected_with_reason_and_continues(tmp_path, hub, pki, agent_files) -> None:
    hub.start()
    sender = _sender(tmp_path, hub, pki, agent_files)
    ids = _put(sender, load_signing_key(agent_files.key), 3)
    hub.state.script.extend([(422, "schema invalid: findings.0.status", {}), (409, "same id, different content", {})])
    res = sender.drain()
    assert res.rejected == 2 and res.acked == 1
    assert hub.state.order == [ids[2]]  # the next report was not held up by the rejected ones
    rej = sender.spool.rejected()
    assert [(r.status, r.reason) for r in rej] == [(422, "schema invalid: findings.0.status"), (409, "same id, different content")]
    rdir = sender.spool.rejected_dir
    for r, rid in zip(rej, ids[:2], strict=True):
        assert rid in r.name and (rdir / r.name).is_file()
        info = json.loads((rdir / (r.name + ".reason.json")).read_text())
        assert info["status"] in (422, 409) and info["rejected_at"]
    assert sender.spool.entries() == []
    assert sender.drain().acked == 0  # never retried
    assert sum(hub.state.posts.values()) == 3


def test_agent_refused_keeps_reports_and_retries(tmp_path, hub, pki, agent_files, caplog) -> None:
    """401/403 mean the agent (certificate) is refused, not the report: keep everything, alarm, retry."""
    hub.start()
    sender = _sender(tmp_path, hub, pki, agent_files)
    ids = _put(sender, load_signing_key(agent_files.key), 2)
    hub.state.script.extend([(403, "agent revoked", {})])
    with caplog.at_level(logging.ERROR, logger="tenken.agent.ship"):
        res = sender.drain()
    assert res.stopped_by.outcome is Outcome.REFUSED and res.remaining == 2
    assert "refused this agent" in caplog.text and "agent revoked" in caplog.text
    assert sender.spool.rejected() == [] and len(sender.spool.entries()) == 2
    _drain_until_empty(sender)
    assert hub.state.order == ids


def test_429_retry_after_is_honoured(tmp_path, hub, pki, agent_files) -> None:
    hub.start()
    clock = [0.0]
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    sender = Sender(spool, HubClient(_hubcfg(hub.url, pki, agent_files)), Backoff(0.01, 100.0, random.Random(1)), clock=lambda: clock[0])
    _put(sender, load_signing_key(agent_files.key), 1)
    hub.state.script.append((429, "slow down", {"Retry-After": "7"}))
    res = sender.drain()
    assert res.stopped_by.outcome is Outcome.RETRY and res.stopped_by.status == 429
    assert sender.next_attempt >= 7.0 and not sender.due()
    clock[0] = sender.next_attempt
    assert sender.drain().acked == 1


def test_ack_must_name_our_report(tmp_path, hub, pki, agent_files) -> None:
    """A 2xx that does not carry our report id is not an acknowledgement: the report stays spooled."""
    hub.start()
    sender = _sender(tmp_path, hub, pki, agent_files)
    _put(sender, load_signing_key(agent_files.key), 1)
    hub.state.script.append((200, "ok but no id", {}))
    res = sender.drain()
    assert res.acked == 0 and res.stopped_by.outcome is Outcome.RETRY and "acknowledged report id None" in res.stopped_by.reason
    assert len(sender.spool.entries()) == 1


def test_tls12_only_hub_is_not_accepted(tmp_path, pki, agent_files) -> None:
    with StubHub(pki, agent_files.pub, max_tls=ssl.TLSVersion.TLSv1_2) as old:
        sender = _sender(tmp_path, old, pki, agent_files)
        _put(sender, load_signing_key(agent_files.key), 1)
        res = sender.drain()
    # a TLS failure is the agent's problem (loud, agent once exits 1), not a transient outage
    assert res.stopped_by.outcome is Outcome.REFUSED and res.stopped_by.status is None and res.refused
    assert "protocol version" in res.stopped_by.reason.lower() and "TLS failure" in res.stopped_by.reason
    assert old.state.posts == {} and len(sender.spool.entries()) == 1
    state = sender.spool.read_state()
    assert state is not None and state["outcome"] == "refused" and state["remaining"] == 1


def test_hub_with_a_certificate_from_another_ca_is_not_trusted(tmp_path, pki, agent_files) -> None:
    from agent_hubstub import Pki

    rogue = Pki.create(tmp_path / "rogue", ca_name="rogue CA")
    rogue.enroll(agent_files.csr, tmp_path / "rogue-agent.crt")
    with StubHub(rogue, agent_files.pub) as imposter:
        sender = _sender(tmp_path, imposter, pki, agent_files)  # agent trusts only the real hub CA
        _put(sender, load_signing_key(agent_files.key), 1)
        res = sender.drain()
    assert res.stopped_by.outcome is Outcome.REFUSED and "CERTIFICATE_VERIFY_FAILED" in res.stopped_by.reason and res.refused
    assert imposter.state.posts == {}


def test_corrupt_spool_entry_is_never_sent(tmp_path, hub, pki, agent_files) -> None:
    hub.start()
    sender = _sender(tmp_path, hub, pki, agent_files)
    key = load_signing_key(agent_files.key)
    ids = _put(sender, key, 2)
    victim = sender.spool.entries()[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # e.g. a disk error; cannot come from our own writer
    res = sender.drain()
    assert res.rejected == 1 and res.acked == 1
    assert hub.state.order == [ids[1]] and hub.state.invalid == []
    assert "corrupt spool entry" in sender.spool.rejected()[0].reason


@pytest.mark.parametrize("missing", ["ca_file", "client_cert"])
def test_missing_tls_files_are_a_config_error(tmp_path, pki, agent_files, missing) -> None:
    from tenken.checks.configfile import ConfigError

    cfg = _hubcfg("https://127.0.0.1:1", pki, agent_files).model_copy(update={missing: str(tmp_path / "nope.pem")})
    with pytest.raises(ConfigError, match=r"nope\.pem"):
        HubClient(cfg)
