"""The hub's per-process bounds: upload rate per agent, bytes in flight, repeated log lines."""

from __future__ import annotations

import asyncio
import logging

from tenken.agent.report import HostIdentity, TargetInfo
from tenken.hub.authz import AgentGrant, NotAuthorised, authorise_target, pattern_matches
from tenken.hub.limits import ByteBudget, RateLimiter, RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_rate_limiter_allows_the_burst_then_the_rate() -> None:
    clock = Clock()
    rl = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [rl.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = rl.take("a")
    assert 0.4 < wait <= 0.5  # one token at 2/s
    assert rl.take("b") == 0.0  # agents do not share a bucket
    clock.t += 0.5
    assert rl.take("a") == 0.0


def test_rate_limiter_table_is_bounded() -> None:
    rl = RateLimiter(rate=1.0, burst=1, max_keys=10)
    for i in range(100):
        rl.take(f"agent-{i}")
    assert len(rl._buckets) == 10


def test_byte_budget_admits_what_fits_and_one_oversized_alone() -> None:
    async def main() -> list[str]:
        budget = ByteBudget(100)
        order: list[str] = []
        a = await budget.acquire(60)
        order.append("a")

        async def later(name: str, n: int) -> None:
            got = await budget.acquire(n)
            order.append(name)
            await budget.release(got)

        task = asyncio.create_task(later("b", 60))  # does not fit beside a
        await asyncio.sleep(0.01)
        assert order == ["a"]
        await budget.release(a)
        await task
        big = await budget.acquire(10_000)  # larger than the budget: admitted alone, counted as the whole budget
        assert big == 100 and budget.used == 100
        await budget.release(big)
        return order

    assert asyncio.run(main()) == ["a", "b"]


def test_repeat_filter_lets_one_copy_through_per_interval_and_counts_the_rest() -> None:
    clock = Clock()
    f = RepeatFilter(10.0, clock=clock)

    def rec(msg: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, None, None)

    passed = [f.filter(rec("socket.accept() out of system resource")) for _ in range(1000)]
    assert passed.count(True) == 1
    assert f.filter(rec("another message"))
    clock.t += 11
    again = rec("socket.accept() out of system resource")
    assert f.filter(again) and "repeated 999 more time(s)" in again.getMessage()


def test_target_patterns_match_names_and_host_ids() -> None:
    ident = HostIdentity(host_id="machine-id:" + "a" * 32, hostname="ehr-db01")
    t = TargetInfo(target="EHR-DB01.hospital.local", kind="ssh", state="scanned", identity=ident)
    assert pattern_matches("ehr-*", t)
    assert pattern_matches("machine-id:aaaa*", t)
    assert not pattern_matches("pacs-*", t)
    grant = AgentGrant(agent_id="ag-1", host_id="machine-id:" + "b" * 32, patterns=("pacs-*",))
    try:
        authorise_target(t, grant)
    except NotAuthorised as exc:
        assert "tenken-hub agent authorize ag-1" in str(exc)
    else:
        raise AssertionError("an unauthorised remote target must be refused")
    local = TargetInfo(target="ward", kind="local", state="scanned", identity=ident)
    try:
        authorise_target(local, grant)
    except NotAuthorised as exc:
        assert "enrolled for host machine-id:bbbb" in str(exc)
    else:
        raise AssertionError("a local scan of another machine must be refused")
