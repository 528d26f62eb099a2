"""The collectors' CPU gate: a fleet's host threads parse a few at a time, never all at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from tenken.collectors.probe import _CpuGate


def test_at_most_the_gates_slots_inside_at_once_and_nesting_does_not_deadlock() -> None:
    gate = _CpuGate(2)
    inside = 0
    most = 0
    lock = threading.Lock()

    def work(i: int) -> int:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.01)  # long enough for every other thread to try to get in
        nested = gate.run(lambda: i * 2)  # a parser calling another parser through the gate
        with lock:
            inside -= 1
        return nested

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda i: gate.run(work, i), range(48)))
    assert results == [i * 2 for i in range(48)]
    assert most == 2


def test_an_exception_frees_the_slot() -> None:
    gate = _CpuGate(1)

    def boom() -> None:
        raise ValueError("damaged input")

    for _ in range(3):
        with pytest.raises(ValueError):
            gate.run(boom)
    assert gate.run(lambda: "free") == "free"
