"""The long-running part of `tenken agent run`: schedules, jitter, shipping cadence, SIGTERM — and nothing else.

Why a separate, small process: a scan imports the collectors, the checks, pydantic, psutil, the report
models and the signing code (~70 MB), and CPython never gives imported modules back. Between two scans
(most of a day) the agent should weigh next to nothing, so this module imports only the standard library
and `schedule`, and every piece of real work runs in a child process of `tenken.agent.agent_worker`:

* `scan JOB`: scan, sign, spool (atomic rename: a child killed at any moment leaves at most a temp file,
  which start-up cleans and the sender never lists);
* `error JOB REASON`: when a scan child crashed (non-zero exit, signal) or hung past `scan_timeout` (its
  process group is killed), an error report saying so is signed and spooled instead, so the hub sees the
  missed audit; the agent goes on with its schedule;
* `ship ATTEMPT`: drain the spool into the hub; it answers the backoff state (attempt count, retry delay)
  as one JSON line on stdout, which is all this process keeps of the sender.

`tenken agent run` validates the configuration with the full code (start-up errors still exit 2), then
replaces itself (exec, same PID for systemd) with this module, handing it the plan as JSON. SIGTERM/SIGINT
set a stop event: a running scan gets `shutdown_grace` to finish, then its process group is killed (nothing
of it was spooled); a running delivery is asked to stop (SIGTERM: it stops between reports) and killed after
the same grace. Children run in their own session, so a terminal's Ctrl+C reaches only this process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import schedule

log = logging.getLogger("tenken.agent.schedule_runner")  # the same logger name as the in-process loop

#: Spool entry names (tenken.agent.spool.SUFFIX); kept literal here so this process never imports psutil.
SPOOL_SUFFIX = ".dsse.json"
#: Exit codes of agent_worker: 0 done, 2 configuration error, 3 report made but not spooled (logged there).
WORKER_OK, WORKER_CONFIG, WORKER_UNSPOOLED = 0, 2, 3


def spool_entries(directory: str) -> list[str]:
    """Complete spool entries (what Spool.entries lists), oldest first; temp files and rejected/ never."""
    try:
        with os.scandir(directory) as it:
            return sorted(e.name for e in it if e.is_file() and e.name.endswith(SPOOL_SUFFIX) and not e.name.startswith("."))
    except FileNotFoundError:
        return []


@dataclass(frozen=True)
class PlanJob:
    name: str
    kind: str
    daily_at: str | None = None
    every_hours: int | None = None
    every_minutes: int | None = None
    every_seconds: int | None = None
    jitter: float = 0.0
    run_at_start: bool = False
    describe: str = ""


@dataclass(frozen=True)
class Plan:
    """What the supervisor needs of the agent configuration: plain data, JSON across the exec."""

    config: str
    log_level: str
    spool_dir: str
    hub_url: str
    shutdown_grace: float
    scan_timeout: float
    retry_base: float
    retry_cap: float
    jobs: list[PlanJob] = field(default_factory=list)

    def to_json(self) -> str:
        d = dict(self.__dict__)
        d["jobs"] = [j.__dict__ for j in self.jobs]
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        d = json.loads(text)
        d["jobs"] = [PlanJob(**j) for j in d["jobs"]]
        return cls(**d)


def worker_command() -> list[str]:
    return [sys.executable, "-P", "-m", "tenken.agent.agent_worker"]  # -P: never a ./tenken of the cwd


@dataclass
class ChildOutcome:
    returncode: int | None  # None: killed by us (timeout or shutdown)
    stdout: str
    why: str = ""  # set when killed: "timeout" | "shutdown"


class Supervisor:
    def __init__(self, plan: Plan, *, worker: Sequence[str] | None = None, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.plan = plan
        self.worker = list(worker or worker_command())
        self.rng = rng or random.SystemRandom()
        self.clock = clock
        self.jobs = {j.name: j for j in plan.jobs}
        self.attempt = 0  # the sender's backoff attempt count, carried from one ship child to the next
        self.next_attempt = 0.0

    # -- children ----------------------------------------------------------------------------------------
    def _argv(self, *args: str) -> list[str]:
        return [*self.worker, "--config", self.plan.config, "--log-level", self.plan.log_level, *args]

    def _child(self, args: list[str], *, timeout: float, stop: threading.Event, on_stop: str) -> ChildOutcome:
        """Run one worker; `on_stop` is "wait" (a scan: grace, then kill) or "ask" (a delivery: SIGTERM it)."""
        proc = subprocess.Popen(self._argv(*args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True)
        out: list[bytes] = []
        reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        deadline = self.clock() + timeout
        why = ""
        while True:
            try:
                proc.wait(0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if self.clock() > deadline:
                why = "timeout"
                break
            if stop.is_set():
                if on_stop == "ask":
                    proc.send_signal(signal.SIGTERM)
                else:
                    log.info("shutdown requested: waiting up to %.0f s for %s to finish", self.plan.shutdown_grace, " ".join(args[:2]))
                try:
                    proc.wait(self.plan.shutdown_grace)
                except subprocess.TimeoutExpired:
                    why = "shutdown"
                break
        if why:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(5)
        text = b"".join(out).decode("utf-8", "replace")
        return ChildOutcome(None if why else proc.returncode, text, why)

    @staticmethod
    def _exit_text(code: int) -> str:
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    def run_job(self, job: PlanJob, stop: threading.Event) -> bool:
        """Scan in a child; False when the scan was abandoned at shutdown (nothing of it written)."""
        started = self.clock()
        res = self._child(["scan", job.name], timeout=self.plan.scan_timeout, stop=stop, on_stop="wait")
        if res.why == "shutdown":
            log.warning("job %s abandoned at shutdown (still running after %.0f s); nothing of it was written; "
                        "it runs again at its next scheduled time", job.name, self.plan.shutdown_grace)
            return False
        if res.returncode in (WORKER_OK, WORKER_UNSPOOLED, WORKER_CONFIG):
            if res.returncode == WORKER_OK:
                log.debug("job %s: scan process finished in %.1f s: %s", job.name, self.clock() - started, res.stdout.strip())
            return True  # a configuration or spool error was logged by the child
        if res.why == "timeout":
            reason = f"the scan process did not finish within scan_timeout ({self.plan.scan_timeout:g} s) and was killed"
        else:
            reason = f"the scan process {self._exit_text(res.returncode or 0)} without a report"
        log.error("job %s: %s; spooling an error report in its place", job.name, reason)
        err = self._child(["error", job.name, reason], timeout=max(60.0, self.plan.shutdown_grace), stop=stop, on_stop="wait")
        if err.returncode != WORKER_OK:
            log.error("job %s: the error report could not be made either (%s)", job.name,
                      err.why or self._exit_text(err.returncode or 0))
        return True

    def ship(self, stop: threading.Event) -> None:
        """Drain the spool in a child; keep only its backoff answer."""
        res = self._child(["ship", str(self.attempt)], timeout=self.plan.scan_timeout, stop=stop, on_stop="ask")
        try:
            answer = json.loads(res.stdout.strip().splitlines()[-1]) if res.returncode == WORKER_OK else None
        except (ValueError, IndexError):
            answer = None
        if isinstance(answer, dict):
            self.attempt = int(answer.get("attempt", 0))
            retry_in = answer.get("retry_in")
            self.next_attempt = self.clock() + float(retry_in) if retry_in is not None else 0.0
            return
        # the delivery process itself failed (not the hub): back off as for a transient failure
        delay = self.rng.uniform(0, min(self.plan.retry_cap, self.plan.retry_base * 2 ** min(self.attempt, 62)))
        self.attempt += 1
        self.next_attempt = self.clock() + delay
        if not stop.is_set():
            log.error("delivery process %s; retrying in %.1f s", res.why or self._exit_text(res.returncode or 0), delay)

    # -- the loop ------------------------------------------------------------------------------------------
    def _schedule(self, sched: schedule.Scheduler, job: PlanJob, enqueue: Callable[[PlanJob], None]) -> None:
        if job.daily_at:
            sched.every().day.at(job.daily_at).do(enqueue, job)
        elif job.every_hours:
            sched.every(job.every_hours).hours.do(enqueue, job)
        elif job.every_minutes:
            sched.every(job.every_minutes).minutes.do(enqueue, job)
        else:
            sched.every(job.every_seconds).seconds.do(enqueue, job)

    def run(self, stop: threading.Event, *, tick: float = 30.0) -> int:
        """Run until `stop` is set; 0 after a clean shutdown. The same schedule semantics as Agent.run.

        Between events the loop sleeps until the next one is due (a signal wakes it at once); `tick` only bounds
        the sleep so that a wall-clock jump or a report spooled by `agent once` is noticed within it.
        """
        sched = schedule.Scheduler()
        queue: dict[str, float] = {}
        running: list[str] = []

        def enqueue(job: PlanJob) -> None:
            if job.name in queue or job.name in running:
                log.warning("job %s is due again but its previous run has not started/finished; not queued twice", job.name)
                return
            delay = self.rng.uniform(0, job.jitter) if job.jitter else 0.0
            queue[job.name] = time.monotonic() + delay
            log.info("job %s due%s", job.name, f" in {delay:.0f} s (jitter)" if delay else " now")

        for job in self.plan.jobs:
            self._schedule(sched, job, enqueue)
            if job.run_at_start:
                enqueue(job)
            log.info("job %s (%s): %s", job.name, job.kind, job.describe)
        log.info("agent started: %d job(s), spool %s, hub %s (scans run in child processes)", len(self.plan.jobs),
                 self.plan.spool_dir, self.plan.hub_url)
        while not stop.is_set():
            sched.run_pending()
            now = time.monotonic()
            ready = sorted((t, name) for name, t in queue.items() if t <= now)
            if ready:
                name = ready[0][1]
                del queue[name]
                running.append(name)
                try:
                    finished = self.run_job(self.jobs[name], stop)
                finally:
                    running.remove(name)
                if not finished:
                    break
                # no `continue`: a report just made is shipped before the next due job (which could always be due)
            pending = spool_entries(self.plan.spool_dir)
            if pending and self.clock() >= self.next_attempt:
                self.ship(stop)
                continue
            waits = [tick]
            if queue:
                waits.append(min(queue.values()) - time.monotonic())
            idle = sched.idle_seconds
            if idle is not None:
                waits.append(idle)
            if pending:
                waits.append(self.next_attempt - self.clock())
            stop.wait(max(0.05, min(waits)))
        log.info("agent stopped cleanly")
        return 0


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))


def serve(plan: Plan) -> int:
    """Install the signal handlers and run until SIGTERM/SIGINT."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            log.warning("signal %s again: already stopping", signal.Signals(signum).name)
        else:
            log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hasattr(signal, "SIGBREAK"):  # Windows console Ctrl+Break
        signal.signal(signal.SIGBREAK, on_signal)
    return Supervisor(plan).run(stop)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tenken.agent.supervisor PLAN_JSON (started by `tenken agent run`)", file=sys.stderr)
        return 2
    plan = Plan.from_json(args[0])
    setup_logging(plan.log_level)
    return serve(plan)


if __name__ == "__main__":
    raise SystemExit(main())
