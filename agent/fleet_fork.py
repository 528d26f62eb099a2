"""A fleet scan spread over forked worker processes, for fleets whose scan is bound by one core.

A host's scan costs tenken ~0.07-0.08 CPU-s (parsing, judging, scrubbing), all under one GIL: 1,000 hosts
take 80 s of one core however many of them wait on the network at once. Here the hosts are dealt out to
`processes` forked children, each running the ordinary threaded fleet (agent.fleet.stream_fleet) on its
share with its share of the concurrency, and sending each finished host's result back through a pipe
(length-prefixed pickles: parent and child are the same program, the bytes never come from a target).
The parent hands every result to `emit` in completion order, exactly as the in-process fleet does, so a
streamed report (report_stream) is written by the parent alone.

Nothing is lost: a host whose worker died or hung before reporting it still gets an `error` result, at the
latest when the worker's own bound has passed (its hosts' deadlines, wave after wave, plus a margin).
Forking is only safe before any other thread runs, so the caller checks `can_fork()` and starts its other
threads (e.g. the TLS scan) from `started`, after the children exist.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import pickle
import selectors
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenken.agent.inventory import HostSpec
    from tenken.agent.scan import TargetResult

log = logging.getLogger(__name__)

_LEN = struct.Struct(">I")
MARGIN_S = 30.0  # beyond a worker's own bound before its unreported hosts are given up on


def can_fork() -> bool:
    """True where fork() is available and safe: POSIX, and no thread but this one is running yet."""
    return hasattr(os, "fork") and sys.platform != "win32" and threading.active_count() == 1


def _worker_bound(shard: list[HostSpec], per: int) -> float:
    """Longest a worker can take: its hosts run `per` at a time, each ending by its own deadline."""
    if not shard:
        return 0.0
    return math.ceil(len(shard) / per) * max(s.deadline for s in shard) + MARGIN_S


def _child(idxs: list[int], shard: list[HostSpec], w: int, run_shard: Callable[..., None], per: int) -> None:
    """Body of a worker: scan the shard, send (global index, result) frames, then exit without cleanup."""
    code = 0
    try:
        out = os.fdopen(w, "wb", buffering=1 << 16)

        def send(j: int, res: TargetResult) -> None:
            blob = pickle.dumps((idxs[j], res), protocol=pickle.HIGHEST_PROTOCOL)
            out.write(_LEN.pack(len(blob)) + blob)
            out.flush()

        run_shard(shard, send, per)
        out.flush()
    except BaseException:  # the parent turns unreported hosts into errors; say why on stderr
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)  # no atexit handlers, no flushing of the parent's inherited buffers


def stream_forked(
    specs: list[HostSpec],
    emit: Callable[[int, TargetResult], None],
    *,
    processes: int,
    concurrency: int,
    run_shard: Callable[[list[HostSpec], Callable[[int, TargetResult], None], int], None],
    lost: Callable[[HostSpec, str], TargetResult],
    started: Callable[[], None] | None = None,
    progress: Callable[[HostSpec, bool], None] | None = None,
) -> None:
    """Scan `specs` in `processes` forked workers; `emit(index, result)` in this process as results arrive.

    run_shard(shard, emit_in_child, concurrency) scans one share in a child; lost(spec, why) makes the
    error result of a host its worker never reported.
    """
    n = max(1, min(processes, len(specs)))
    per = max(1, math.ceil(concurrency / n))
    workers: list[tuple[int, int, list[int], float]] = []  # pid, read fd, global indexes, give-up time
    for k in range(n):
        idxs = list(range(k, len(specs), n))
        shard = [specs[i] for i in idxs]
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            for _, other, _, _ in workers:
                os.close(other)
            _child(idxs, shard, w, run_shard, per)
        os.close(w)
        workers.append((pid, r, idxs, time.monotonic() + _worker_bound(shard, per)))
    if started is not None:
        started()
    seen: set[int] = set()
    by_fd = {r: (pid, idxs, give_up) for pid, r, idxs, give_up in workers}
    bufs: dict[int, bytearray] = {r: bytearray() for r in by_fd}
    sel = selectors.DefaultSelector()
    for r in by_fd:
        sel.register(r, selectors.EVENT_READ)
    try:
        while sel.get_map():
            now = time.monotonic()
            timeout = max(0.0, min(by_fd[fd][2] for fd in sel.get_map()) - now)
            for key, _ in sel.select(timeout=timeout):
                chunk = os.read(key.fd, 1 << 20)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                buf = bufs[key.fd]
                buf += chunk
                while len(buf) >= _LEN.size:
                    (size,) = _LEN.unpack_from(buf)
                    if len(buf) < _LEN.size + size:
                        break
                    # our own forked child's pickle of its own objects: no byte of it comes from a target
                    idx, res = pickle.loads(bytes(buf[_LEN.size:_LEN.size + size]))  # noqa: S301
                    del buf[:_LEN.size + size]
                    seen.add(idx)
                    if progress is not None:
                        progress(specs[idx], res.ok)
                    emit(idx, res)
                    del res
            now = time.monotonic()
            for fd in list(sel.get_map()):
                pid, _, give_up = by_fd[fd]
                if now >= give_up:  # a worker past every deadline of its hosts: stop waiting for it
                    log.warning("fleet worker %d did not finish by its bound: killed", pid)
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                    sel.unregister(fd)
    finally:
        sel.close()
        for _pid, r, _, _ in workers:
            with contextlib.suppress(OSError):
                os.close(r)
    statuses: dict[int, str] = {}
    for pid, _, _, _ in workers:
        try:
            _, status = os.waitpid(pid, 0)
            statuses[pid] = _describe(status)
        except ChildProcessError:
            statuses[pid] = "already reaped"
    for pid, _, idxs, _ in workers:
        for i in idxs:
            if i not in seen:
                why = (f"internal error: the worker process scanning this host ended before reporting it ({statuses[pid]}); "
                       "its traceback is on stderr: re-run the scan (--processes 1 scans in one process)")
                if progress is not None:
                    progress(specs[i], False)
                emit(i, lost(specs[i], why))


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"

