"""The agent's main loop: scheduled scans -> signed reports -> spool -> hub.

`tenken agent run` runs the same loop in supervisor.py, a small process that starts each scan and each
delivery as a child process (agent_worker.py, built on this Agent), so it weighs little between scans.
`Agent.run` below is the in-process form of that loop (one process, all code loaded).

In-process: one process, one thread of control, plus one worker thread for the scan in progress so that a SIGTERM is
noticed while a scan runs. Only the main thread writes to the spool, and only after a scan has finished, so
stopping at any moment can never leave a half-written report where the sender would see it:

* SIGTERM/SIGINT set a stop event. If a scan is running, the agent waits up to `shutdown_grace` seconds for
  it; a scan that finishes in time is signed and spooled, one that does not is abandoned (nothing of it was
  written) and will simply run again at its next scheduled time.
* Schedules use the `schedule` package (`daily_at`, `every_hours`, ...). When a schedule fires, the job is
  queued with a fresh random delay in [0, jitter] so a fleet with one configuration spreads itself out.
* Shipping happens between scans; after a failure the sender's backoff decides when to try again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import schedule
from tenken.agent.agent_config import AgentConfig, Job, JobKind
from tenken.agent.identity import load_host
from tenken.agent.report import HostIdentity, Report, TargetKind
from tenken.agent.scan import TargetResult, assemble_report, target_error
from tenken.agent.ship import Backoff, DrainResult, HubClient, Sender
from tenken.agent.signing import load_signing_key, sign_report
from tenken.agent.spool import Spool, SpoolError
from tenken.checks.configfile import ConfigError
from tenken.checks.policy import Policy

log = logging.getLogger(__name__)


def _scan_local(job: Job, policy: Policy) -> tuple[list[TargetResult], set[str]]:
    from tenken.agent.scan import scan_this_host
    from tenken.collectors.transport.base import TransportError

    try:
        return [scan_this_host(policy, job.root)], {"host"}
    except TransportError as exc:  # the configured root is gone (an unmounted image)
        return [target_error(f"root:{job.root}", TargetKind.ROOT, str(exc))], {"host"}


def _scan_tls(job: Job, policy: Policy) -> tuple[list[TargetResult], set[str]]:
    from tenken.agent.tls_scan import scan_tls

    return scan_tls(list(job.endpoints), policy), {"network"}


def select_inventory(job: Job) -> tuple[list, list]:
    """The hosts and TLS endpoints of the job's inventory groups (all when none given). ConfigError if broken."""
    from tenken.agent.inventory import load_inventory

    inv = load_inventory(str(job.inventory))
    hosts, tls, seen = [], [], set()
    for group in job.groups or [None]:
        h, t = inv.select(group)
        hosts += [x for x in h if id(x) not in seen]
        tls += [x for x in t if id(x) not in seen]
        seen.update(id(x) for x in h + t)
    return hosts, tls


def _scan_inventory(job: Job, policy: Policy) -> tuple[list[TargetResult], set[str]]:
    """Remote hosts (SSH/WinRM) and TLS endpoints from an inventory file, as `tenken scan inventory` does."""
    from tenken.agent.fleet import scan_inventory

    hosts, tls = select_inventory(job)
    return scan_inventory(hosts, tls, policy, concurrency=job.concurrency, known_hosts=job.known_hosts, progress=False)


SCANNERS = {JobKind.LOCAL: _scan_local, JobKind.TLS: _scan_tls, JobKind.INVENTORY: _scan_inventory}
SCANNED_KINDS = {JobKind.LOCAL: {"host"}, JobKind.TLS: {"network"}, JobKind.INVENTORY: {"host"}}


def _job_targets(job: Job, host: HostIdentity | None = None) -> list[tuple[str, TargetKind, HostIdentity | None]]:
    """What a job's error report is about when its scanner could not even start."""
    if job.kind is JobKind.TLS:
        return [(e.target, TargetKind.TLS, None) for e in job.endpoints]
    if job.kind is JobKind.INVENTORY:
        return [(f"inventory:{job.inventory}", TargetKind.SSH, None)]
    if job.root:
        return [(f"root:{job.root}", TargetKind.ROOT, None)]
    name = (host.fqdn or host.hostname) if host is not None else "local"
    return [(name, TargetKind.LOCAL, host)]


@dataclass
class OnceResult:
    produced: int
    failed: int
    drain: DrainResult

    @property
    def exit_code(self) -> int:
        """0 when every report was delivered or is safely spooled while the hub is unreachable; 1 when one was
        not made or was rejected, or when the hub refused this agent (401/403, certificate, CA or TLS failure)."""
        return 1 if self.failed or self.drain.rejected or self.drain.refused else 0


class Agent:
    """Everything `tenken agent run/once` does, with its collaborators injectable for tests."""

    def __init__(self, cfg: AgentConfig, *, client: HubClient | None = None, rng: random.Random | None = None) -> None:
        from tenken.checks.policy import load_policy
        from tenken.checks.waivers import load_waivers

        self.cfg = cfg
        self.rng = rng or random.SystemRandom()
        self.key = load_signing_key(cfg.signing_key)
        self.host = load_host(Path(cfg.signing_key).parent)
        self.policy = load_policy(Path(cfg.policy) if cfg.policy else None)
        self.waivers = load_waivers(Path(cfg.waivers) if cfg.waivers else None)
        self.spool = Spool(cfg.spool.dir, max_reports=cfg.spool.max_reports, max_bytes=cfg.spool.max_bytes, min_free_bytes=cfg.spool.min_free_bytes)
        self.spool.ensure()
        self.spool.clean_temp()
        self.client = client or HubClient(cfg.hub)
        self.sender = Sender(self.spool, self.client, Backoff(cfg.retry.base, cfg.retry.cap, self.rng))
        self.jobs = {j.name: j for j in cfg.jobs}
        for job in cfg.jobs:  # a broken inventory is a start-up error (exit 2), not a nightly error report
            if job.kind is JobKind.INVENTORY:
                select_inventory(job)

    def close(self) -> None:
        self.client.close()

    # -- one job ---------------------------------------------------------------------------------------
    def scan(self, job: Job) -> Report:
        """Run a job into a report. A scanner that crashes still yields a report saying so (error findings)."""
        started = time.time()
        try:
            results, kinds = SCANNERS[job.kind](job, self.policy)
        except ConfigError as exc:  # e.g. the inventory was edited into a broken state since start-up
            log.error("job %s: %s", job.name, exc)
            results = [target_error(t, k, f"configuration error: {exc}", identity=h) for t, k, h in _job_targets(job, self.host)]
            kinds = SCANNED_KINDS[job.kind]
        except Exception as exc:
            log.exception("job %s: scanner failed", job.name)
            results = [target_error(t, k, f"scanner failed: {type(exc).__name__}: {exc}", identity=h) for t, k, h in _job_targets(job, self.host)]
            kinds = SCANNED_KINDS[job.kind]
        if job.kind is JobKind.LOCAL and not job.root and self.host is not None:
            seen = results[0].info.identity if results else None
            if seen is not None and seen.host_id != self.host.host_id:
                log.error("job %s: this machine is %s, but the agent was initialised on %s (a cloned disk image?): the hub "
                          "will refuse this report; run `tenken agent init` on this machine and enroll it", job.name,
                          seen.host_id, self.host.host_id)
        report = assemble_report(results, policy=self.policy, waivers=self.waivers, scanned_kinds=kinds)
        log.info("job %s: scan finished in %.1f s: report %s %s", job.name, time.time() - started, report.id, report.summary())
        return report

    def error_report(self, job: Job, reason: str) -> Report:
        """The report of a scan that could not produce one (its process crashed or hung): error findings."""
        results = [target_error(t, k, f"scan failed: {reason}", identity=h) for t, k, h in _job_targets(job, self.host)]
        return assemble_report(results, policy=self.policy, waivers=self.waivers, scanned_kinds=SCANNED_KINDS[job.kind])

    def plan(self, config: Path, log_level: str):  # -> tenken.agent.supervisor.Plan
        """What `agent run`'s small supervisor process needs to know (plain data: it imports no models)."""
        from tenken.agent.supervisor import Plan, PlanJob

        jobs = [PlanJob(name=j.name, kind=j.kind.value, daily_at=j.schedule.daily_at, every_hours=j.schedule.every_hours,
                        every_minutes=j.schedule.every_minutes, every_seconds=j.schedule.every_seconds,
                        jitter=j.schedule.jitter, run_at_start=j.schedule.run_at_start, describe=j.schedule.describe())
                for j in self.cfg.jobs]
        return Plan(config=str(Path(config).resolve()), log_level=log_level, spool_dir=str(self.spool.dir), hub_url=self.cfg.hub.url,
                    shutdown_grace=self.cfg.shutdown_grace, scan_timeout=self.cfg.scan_timeout, retry_base=self.cfg.retry.base,
                    retry_cap=self.cfg.retry.cap, jobs=jobs)

    def log_spool_state(self) -> None:
        st = self.spool.status()
        if st.pending:
            log.info("%d report(s) waiting in the spool from earlier runs", st.pending)
        if st.full:
            log.error("spool %s is full (%d reports / %d bytes): the hub has not acknowledged reports for a while",
                      self.spool.dir, st.pending, st.bytes)
        if st.rejected:
            log.warning("%d report(s) in %s were rejected by the hub; see `tenken agent status`", len(st.rejected), self.spool.rejected_dir)

    def store(self, report: Report) -> Path:
        """Sign and spool: from here on the report survives crashes and hub outages."""
        return self.spool.put(report.id, sign_report(report, self.key))

    # -- `agent once` ----------------------------------------------------------------------------------
    def once(self) -> OnceResult:
        produced = failed = 0
        for job in self.cfg.jobs:
            try:
                self.store(self.scan(job))
                produced += 1
            except SpoolError as exc:
                log.error("job %s: report could not be spooled: %s", job.name, exc)
                failed += 1
        drain = self.sender.drain()
        if drain.refused and drain.stopped_by is not None:
            log.error("the hub refused this agent: %s", drain.stopped_by.reason)
        log.info("once: %d report(s) made, %d delivered (%d already on the hub), %d rejected, %d still spooled",
                 produced, drain.acked, drain.duplicates, drain.rejected, drain.remaining)
        return OnceResult(produced, failed, drain)

    # -- `agent run` -----------------------------------------------------------------------------------
    def _schedule(self, sched: schedule.Scheduler, job: Job, enqueue) -> None:
        s = job.schedule
        if s.daily_at:
            sched.every().day.at(s.daily_at).do(enqueue, job)
        elif s.every_hours:
            sched.every(s.every_hours).hours.do(enqueue, job)
        elif s.every_minutes:
            sched.every(s.every_minutes).minutes.do(enqueue, job)
        else:
            sched.every(s.every_seconds).seconds.do(enqueue, job)

    def _run_job(self, job: Job, stop: threading.Event) -> bool:
        """Scan in a worker thread; False when the scan was abandoned at shutdown (nothing written)."""
        holder: dict[str, Report] = {}

        def work() -> None:
            try:
                holder["report"] = self.scan(job)
            except Exception:  # a bug, not a scan result: log it, keep the agent alive for the next run
                log.exception("job %s: could not produce a report", job.name)

        worker = threading.Thread(target=work, name=f"scan-{job.name}", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
            if stop.is_set() and worker.is_alive():
                log.info("shutdown requested: waiting up to %.0f s for job %s to finish", self.cfg.shutdown_grace, job.name)
                worker.join(self.cfg.shutdown_grace)
                if worker.is_alive():
                    log.warning("job %s abandoned at shutdown (still running after %.0f s); nothing of it was written; "
                                "it runs again at its next scheduled time", job.name, self.cfg.shutdown_grace)
                    return False
        report = holder.get("report")
        if report is None:
            return True  # already logged
        try:
            self.store(report)
        except SpoolError as exc:
            log.error("job %s: report %s could not be spooled: %s", job.name, report.id, exc)
        return True

    def run(self, stop: threading.Event, *, tick: float = 1.0) -> int:
        """Run until `stop` is set. Returns the process exit code (0 after a clean shutdown)."""
        sched = schedule.Scheduler()
        queue: dict[str, float] = {}
        running: list[str] = []

        def enqueue(job: Job) -> None:
            if job.name in queue or job.name in running:
                log.warning("job %s is due again but its previous run has not started/finished; not queued twice", job.name)
                return
            delay = self.rng.uniform(0, job.schedule.jitter) if job.schedule.jitter else 0.0
            queue[job.name] = time.monotonic() + delay
            log.info("job %s due%s", job.name, f" in {delay:.0f} s (jitter)" if delay else " now")

        for job in self.cfg.jobs:
            self._schedule(sched, job, enqueue)
            if job.schedule.run_at_start:
                enqueue(job)
            log.info("job %s (%s): %s", job.name, job.kind.value, job.schedule.describe())
        log.info("agent started: %d job(s), spool %s, hub %s", len(self.cfg.jobs), self.spool.dir, self.cfg.hub.url)
        self.log_spool_state()

        while not stop.is_set():
            sched.run_pending()
            now = time.monotonic()
            ready = sorted((t, name) for name, t in queue.items() if t <= now)
            if ready:
                name = ready[0][1]
                del queue[name]
                running.append(name)
                try:
                    finished = self._run_job(self.jobs[name], stop)
                finally:
                    running.remove(name)
                if not finished:
                    break
                continue
            if self.sender.due() and self.spool.entries():
                self.sender.drain(stop)
            waits = [tick]
            if queue:
                waits.append(min(queue.values()) - time.monotonic())
            idle = sched.idle_seconds
            if idle is not None:
                waits.append(idle)
            if self.spool.entries():
                waits.append(self.sender.next_attempt - time.monotonic())
            stop.wait(max(0.05, min(waits)))
        log.info("agent stopped cleanly")
        return 0
