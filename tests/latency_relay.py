"""Real sshd servers behind injected network latency, for tests and benches.

The issue asks for `ip netns` + `tc netem`. On this machine network namespaces can be created, but the
kernel (a Firecracker guest, no modules) has no netem qdisc: `tc qdisc add ... netem` fails with
"Specified qdisc kind is unknown". `netem_available()` checks that, so a bench can say which it used.

Without netem, `DelayRelay` injects the latency in user space on loopback: a TCP relay in front of a real
sshd that holds every chunk for half the RTT (± jitter) in each direction, keeping the byte order (a
chunk never overtakes the one before it). That is propagation delay only — no bandwidth limit, loss or
Nagle effects — which is what the replay transport of tests/fleet_sim.py models, so the two can be
compared round trip for round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import threading
import time


def netem_available() -> str | None:
    """None when a namespace with a netem qdisc can be made here, else why not."""
    ip, tc = shutil.which("ip"), shutil.which("tc")
    if os.geteuid() != 0:
        return "needs root"
    if not ip or not tc:
        return "needs iproute2 (ip, tc)"
    name = f"tkn-probe-{os.getpid()}"
    try:
        subprocess.run([ip, "netns", "add", name], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        return f"ip netns add failed: {exc.stderr.strip()}"
    try:
        subprocess.run([ip, "netns", "exec", name, tc, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
                       check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        return f"ip netns works, tc netem does not: {exc.stderr.strip()}"
    finally:
        subprocess.run([ip, "netns", "del", name], capture_output=True)
    return None


class DelayRelay:
    """127.0.0.1:`port` -> 127.0.0.1:`upstream`, each direction delayed by rtt/2 (± jitter/2) per chunk."""

    def __init__(self, upstream: int, *, rtt: float, jitter: float = 0.0, seed: int = 0) -> None:
        self.upstream = upstream
        self.rtt = rtt
        self.jitter = jitter
        self._rng = random.Random(seed)
        self.port = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"relay-{upstream}")

    def start(self) -> DelayRelay:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("relay did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def _half(self) -> float:
        j = self._rng.uniform(-self.jitter, self.jitter) / 2 if self.jitter else 0.0
        return max(0.0, self.rtt / 2 + j)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                at, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                writer.write(data)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        task = asyncio.ensure_future(deliver())
        last = 0.0
        try:
            while data := await reader.read(65536):
                last = max(last, time.monotonic() + self._half())  # never overtakes the chunk before
                queue.put_nowait((last, data))
        except OSError:
            pass
        queue.put_nowait((last, b""))
        with contextlib.suppress(OSError):
            await task

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.close()
            return
        with contextlib.suppress(asyncio.CancelledError):  # close(): a cancelled handler would be logged as an error
            await asyncio.gather(self._pump(reader, up_w), self._pump(up_r, writer), return_exceptions=True)
        for w in (writer, up_w):
            with contextlib.suppress(OSError):
                w.close()

    def close(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
            self._thread.join(5)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()


def relay_known_hosts_line(server_line: str, port: int) -> str:
    """A known_hosts line for the relay's port carrying the real server's key."""
    _, kt, blob = server_line.split()[:3]
    return f"[127.0.0.1]:{port} {kt} {blob}"


__all__ = ["DelayRelay", "netem_available", "relay_known_hosts_line"]
