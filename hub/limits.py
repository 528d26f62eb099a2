"""Bounds on what one client can make the hub spend: uploads per agent, bytes held in memory, log lines.

Each is small and local to one hub process (several hub processes behind one database each keep their own);
they exist so that one misbehaving or hostile enrolled agent cannot starve the others, and a flood of
identical errors cannot fill the disk with log lines.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """Token bucket per key (agent id): `burst` uploads at once, then `rate` per second.

    The burst is large enough for an agent emptying a spool of a few hundred reports after an outage; the
    rate keeps a looping agent to a few verifications a second. Keys are bounded (LRU) so the table cannot grow.
    """

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.clock, self.max_keys = rate, float(burst), clock, max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0.0 when allowed (one token taken), else the seconds until a token is available."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait


class ByteBudget:
    """An asyncio semaphore weighted in bytes: uploads wait until their size fits under the budget.

    A verified report costs several times its size in memory while it is parsed and stored; holding at most
    `limit` bytes of bodies at once keeps the hub's peak memory bounded however many agents upload together.
    A single request larger than the budget is admitted alone (it was already checked against max_body).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond = asyncio.Condition()

    async def acquire(self, n: int) -> int:
        n = min(n, self.limit)
        async with self._cond:
            await self._cond.wait_for(lambda: self.used + n <= self.limit)
            self.used += n
        return n

    async def release(self, n: int) -> None:
        async with self._cond:
            self.used -= n
            self._cond.notify_all()


class RepeatFilter(logging.Filter):
    """Let the same message (logger, level, text) through at most once per `interval` seconds.

    When a suppressed message is let through again it says how many copies were dropped, so nothing is
    hidden: an fd-exhaustion storm ("Too many open files" on every accept) becomes a line every few seconds.
    """

    def __init__(self, interval: float = 10.0, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 1000) -> None:
        super().__init__()
        self.interval, self.clock, self.max_keys = interval, clock, max_keys
        self._seen: OrderedDict[tuple[str, int, str], tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string must not break logging
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
        key = (record.name, record.levelno, text[:300])
        now = self.clock()
        with self._lock:
            last, dropped = self._seen.pop(key, (None, 0))
            if last is not None and now - last < self.interval:
                self._seen[key] = (last, dropped + 1)
                return False
            self._seen[key] = (now, 0)
            while len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)
        if dropped:
            record.msg = f"{record.msg} (repeated {dropped} more time(s) in the last {self.interval:.0f} s, not logged)"
        return True


def install_repeat_filter(interval: float = 10.0) -> RepeatFilter:
    """On every handler of the root logger and on the loggers that bypass it, once."""
    filt = RepeatFilter(interval)
    root = logging.getLogger()
    for h in root.handlers:
        if not any(isinstance(f, RepeatFilter) for f in h.filters):
            h.addFilter(filt)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "asyncio"):
        lg = logging.getLogger(name)
        for h in lg.handlers:
            if not any(isinstance(f, RepeatFilter) for f in h.filters):
                h.addFilter(filt)
    return filt
