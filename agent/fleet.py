"""Fleet scans: many hosts at once, each within its own deadline, into one report.

Every host runs in its own daemon thread (at most `concurrency` at a time). The main thread waits for the
next result or the earliest deadline; a host that passes its deadline gets a `target_error` ("deadline
exceeded after N s"), its transport is closed to unblock the worker, and the fleet moves on without
waiting for it. Daemon threads rather than a ThreadPoolExecutor: an executor joins its workers at
interpreter exit, so one hung host would hold the process open after the report was written.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tenken.agent.credentials import SecretUnavailable, resolve_secret
from tenken.agent.inventory import HostSpec, TlsTarget
from tenken.agent.report import TargetKind
from tenken.agent.scan import TargetResult, scan_host, target_error
from tenken.checks.policy import Policy
from tenken.collectors.transport.base import Transport, TransportError

from tenken.malloc import fixed_mmap_threshold, limit_arenas

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 10
TLS_DEADLINE = 300.0


def display_target(spec: HostSpec) -> str:
    """The target string findings carry, before any connection exists (matches the transport's own)."""
    if spec.transport == "winrm" and spec.winrm is not None:
        host = spec.address
        return f"{host}:{spec.port}" if spec.winrm.use_https else f"http://{host}:{spec.port}"
    import getpass

    host = f"[{spec.name}]" if ":" in spec.name else spec.name
    return f"{spec.user or getpass.getuser()}@{host}:{spec.port}"


def kind_of(spec: HostSpec) -> TargetKind:
    return TargetKind.WINRM if spec.transport == "winrm" else TargetKind.SSH


class WinRMNotInstalled(TransportError):
    pass


def build_transport(spec: HostSpec, *, known_hosts: str | None = None) -> Transport:
    """A transport for one inventory host. No I/O here (secrets are resolved, nothing is connected)."""
    if spec.transport == "winrm":
        try:
            from tenken.collectors.transport.winrm import WinRMTransport
        except ImportError as exc:
            raise WinRMNotInstalled("WinRM support not installed") from exc
        w = spec.winrm
        assert w is not None
        password = resolve_secret(w.credential) if w.credential else ""
        return WinRMTransport(
            spec.address,
            port=w.port,
            username=w.username or "",
            password=password,
            auth=w.auth,
            use_https=w.use_https,
            ca_file=w.ca_file,
            verify=True,
            connect_timeout=spec.connect_timeout,
            command_timeout=spec.command_timeout,
        )
    from tenken.collectors.transport.ssh import SSHTransport

    return SSHTransport(
        spec.address,
        port=spec.port,
        username=spec.user,
        identity=spec.identity,
        passphrase=resolve_secret(spec.passphrase) if spec.passphrase else None,
        known_hosts=known_hosts or spec.known_hosts,
        jump=spec.jump,
        use_agent=spec.agent,
        connect_timeout=spec.connect_timeout,
        command_timeout=spec.command_timeout,
        label=spec.name if spec.name != spec.address else None,
    )


@dataclass
class _Job:
    index: int
    spec: HostSpec
    started: float = 0.0
    transport: Transport | None = None
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True
        t = self.transport
        if t is not None:
            # closing from this thread unblocks the worker's pending read; never wait for it
            threading.Thread(target=_quiet_close, args=(t,), daemon=True).start()


def _quiet_close(t: Transport) -> None:
    with contextlib.suppress(Exception):
        t.close()


def scan_one(
    spec: HostSpec,
    policy: Policy,
    *,
    known_hosts: str | None = None,
    job: _Job | None = None,
    only_collectors: set[str] | None = None,
) -> TargetResult:
    """Connect, scan and close one host; every failure becomes that host's error finding."""
    target, kind = display_target(spec), kind_of(spec)
    try:
        transport = build_transport(spec, known_hosts=known_hosts)
    except SecretUnavailable as exc:
        return target_error(target, kind, f"credential for {spec.label} unavailable: {exc}")
    except TransportError as exc:
        return target_error(target, kind, str(exc))
    if job is not None:
        job.transport = transport
        if job.cancelled:
            transport.close()
            return target_error(target, kind, "cancelled")
    try:
        connect = getattr(transport, "connect", None)
        if callable(connect):
            connect()
        target = transport.target
        settings = policy.collect_settings(command_timeout=spec.command_timeout)
        return scan_host(transport, policy, kind=kind, settings=settings, only_collectors=only_collectors)
    except TransportError as exc:
        return target_error(getattr(transport, "target", target), kind, str(exc))
    except Exception as exc:  # a bug must cost one host, not the fleet
        log.exception("scan of %s failed", spec.label)
        return target_error(target, kind, f"internal error: {type(exc).__name__}: {exc}")
    finally:
        transport.close()


class _Progress:
    """A rich progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, total: int, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._p = None
        if self.enabled and total:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._p = Progress(
                TextColumn("[bold]tenken[/bold] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._p.add_task("scanning", total=total)
            self._p.start()

    def done(self, label: str, ok: bool) -> None:
        if self._p is not None:
            self._p.update(self._task, advance=1, description=f"{'✓' if ok else '✗'} {label}")

    def stop(self) -> None:
        if self._p is not None:
            self._p.stop()


def run_fleet(
    specs: list[HostSpec],
    *,
    policy_for: Callable[[HostSpec], Policy],
    concurrency: int = DEFAULT_CONCURRENCY,
    known_hosts: str | None = None,
    progress: bool | None = None,
    scan: Callable[..., TargetResult] = scan_one,
    processes: int = 1,
    started: Callable[[], None] | None = None,
) -> list[TargetResult]:
    """Scan every host; results in input order. Returns once every host finished or passed its deadline."""
    results: dict[int, TargetResult] = {}
    stream_fleet(specs, results.__setitem__, policy_for=policy_for, concurrency=concurrency,
                 known_hosts=known_hosts, progress=progress, scan=scan, processes=processes, started=started)
    return [results[i] for i in range(len(specs))]


def stream_fleet(
    specs: list[HostSpec],
    emit: Callable[[int, TargetResult], None],
    *,
    policy_for: Callable[[HostSpec], Policy],
    concurrency: int = DEFAULT_CONCURRENCY,
    known_hosts: str | None = None,
    progress: bool | None = None,
    scan: Callable[..., TargetResult] = scan_one,
    processes: int = 1,
    started: Callable[[], None] | None = None,
) -> None:
    """Scan every host, handing each result to `emit(index, result)` in the main thread as it completes.

    Nothing is kept here once emitted, so a caller that writes and drops each result (report_stream)
    holds one host's result at a time, not the fleet's. With `processes` > 1 (and where forking is safe:
    agent/fleet_fork.py) the hosts are shared out to that many worker processes, each with its share of
    the concurrency; `started` is called once the scan is under way (the place to start other threads).
    """
    concurrency = max(1, concurrency)
    if processes > 1 and len(specs) > 1:
        from tenken.agent import fleet_fork

        if fleet_fork.can_fork():
            bar = _Progress(len(specs), progress)

            def run_shard(shard: list[HostSpec], send: Callable[[int, TargetResult], None], per: int) -> None:
                stream_fleet(shard, send, policy_for=policy_for, concurrency=per, known_hosts=known_hosts,
                             progress=False, scan=scan)

            try:
                fleet_fork.stream_forked(
                    specs, emit, processes=processes, concurrency=concurrency, run_shard=run_shard, started=started,
                    lost=lambda s, why: target_error(display_target(s), kind_of(s), why),
                    progress=lambda s, ok: bar.done(s.label, ok))
            finally:
                bar.stop()
            return
        log.info("fleet: other threads are running, scanning in one process")
    if started is not None:
        started()
    if concurrency > 2:
        limit_arenas()
        fixed_mmap_threshold()
    # jobs leave `pending` when started and `running` when done: none (nor its transport) outlives its host
    pending = collections.deque(_Job(i, s) for i, s in enumerate(specs))
    running: dict[int, _Job] = {}
    done: queue.Queue[tuple[int, TargetResult]] = queue.Queue()
    bar = _Progress(len(specs), progress)

    def work(job: _Job) -> None:
        try:
            res = scan(job.spec, policy_for(job.spec), known_hosts=known_hosts, job=job)
        except BaseException as exc:  # the main thread must always hear back
            res = target_error(display_target(job.spec), kind_of(job.spec), f"internal error: {exc!r}")
        done.put((job.index, res))

    try:
        while pending or running:
            while pending and len(running) < concurrency:
                job = pending.popleft()
                job.started = time.monotonic()
                running[job.index] = job
                threading.Thread(target=work, args=(job,), name=f"tenken-host-{job.spec.name}", daemon=True).start()
            earliest = min(j.started + j.spec.deadline for j in running.values())
            try:
                idx, res = done.get(timeout=max(0.0, earliest - time.monotonic()))
                if idx in running:
                    del running[idx]
                    bar.done(specs[idx].label, res.ok)
                    emit(idx, res)
                del res
            except queue.Empty:
                pass
            now = time.monotonic()
            for idx, job in list(running.items()):
                if now >= job.started + job.spec.deadline:
                    del running[idx]
                    job.cancel()
                    target = job.transport.target if job.transport is not None else display_target(job.spec)
                    bar.done(job.spec.label, False)
                    emit(idx, target_error(target, kind_of(job.spec), f"deadline exceeded after {job.spec.deadline:g} s"))
    finally:
        bar.stop()


def run_tls(targets: list[TlsTarget], policy: Policy, *, deadline: float = TLS_DEADLINE) -> list[TargetResult]:
    """Scan the inventory's TLS endpoints (tls_scan.scan_tls), in a thread bounded by `deadline`."""
    if not targets:
        return []
    endpoints = [t.endpoint for t in targets]
    box: dict[str, object] = {}

    def work() -> None:
        from tenken.agent.tls_scan import scan_tls

        try:
            box["results"] = scan_tls(endpoints, policy)
        except Exception as exc:
            log.exception("TLS scan failed")
            box["error"] = f"TLS scan failed: {type(exc).__name__}: {exc}"

    th = threading.Thread(target=work, name="tenken-tls", daemon=True)
    th.start()
    th.join(deadline)
    got = box.get("results")
    if isinstance(got, list) and len(got) == len(endpoints):
        return got
    why = str(box.get("error") or f"deadline exceeded after {deadline:g} s")
    return [target_error(ep.target, TargetKind.TLS, why, check_id="tls.reachable") for ep in endpoints]


def load_group_policies(hosts: list[HostSpec]) -> dict[str, Policy]:
    """Per-group policy files, loaded up front: a broken one is one ConfigError, not an error per host."""
    from tenken.checks.policy import load_policy

    policies: dict[str, Policy] = {}
    for h in hosts:
        if h.policy and h.policy not in policies:
            policies[h.policy] = load_policy(h.policy)
    return policies


def scan_inventory(
    hosts: list[HostSpec],
    tls: list[TlsTarget],
    policy: Policy,
    *,
    concurrency: int,
    known_hosts: str | None,
    progress: bool | None = None,
    emit: Callable[[TargetResult], None] | None = None,
    processes: int = 1,
) -> tuple[list[TargetResult], set[str]]:
    """Hosts (SSH/WinRM) and TLS endpoints of an inventory, side by side; for `scan inventory` and the agent.

    Returns the results and what kinds of clause this scan looked at. With `emit`, each result goes to it
    as it completes (hosts first, in completion order, then TLS endpoints) and the returned list is empty.
    Raises ConfigError for a broken group policy file.
    """
    policies = load_group_policies(hosts)
    tls_results: list[TargetResult] = []
    tls_thread = threading.Thread(target=lambda: tls_results.extend(run_tls(tls, policy)), daemon=True, name="tenken-inventory-tls")
    # the TLS thread starts once the fleet is under way: worker processes are forked before any thread runs
    kw: dict[str, object] = {"processes": processes, "started": tls_thread.start}
    if progress is not None:
        kw["progress"] = progress
    results: list[TargetResult] = []
    if not hosts:
        tls_thread.start()
    elif emit is None:
        results = run_fleet(hosts, policy_for=lambda h: policies.get(h.policy or "", policy), concurrency=concurrency,
                            known_hosts=known_hosts, **kw)  # type: ignore[arg-type]
    else:
        def each(i: int, res: TargetResult) -> None:
            spec = hosts[i]
            _with_groups(res, [spec.group] if getattr(spec, "group", None) else [])
            emit(res)

        stream_fleet(hosts, each, policy_for=lambda h: policies.get(h.policy or "", policy), concurrency=concurrency,
                     known_hosts=known_hosts, **kw)  # type: ignore[arg-type]
    tls_thread.join()
    # inventory groups travel with each target, so the hub can show and filter by them
    for spec, res in zip(hosts, results, strict=False):
        _with_groups(res, [spec.group] if getattr(spec, "group", None) else [])
    for target, res in zip(tls, tls_results, strict=False):
        _with_groups(res, [target.group] if target.group else [])
        if emit is not None:
            emit(res)
    kinds = ({"host"} if hosts else set()) | ({"network"} if tls else set())
    return ([] if emit is not None else results + tls_results), kinds


def _with_groups(res: TargetResult, groups: list[str]) -> None:
    if groups and not res.info.groups:
        res.info = res.info.model_copy(update={"groups": groups})

