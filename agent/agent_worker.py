"""The child processes of `tenken agent run` (see supervisor.py): one scan, one error report, one delivery.

Each loads the agent configuration with the full code (the same `Agent` that `tenken agent once` uses), does
one thing and exits, so the memory a scan needs is returned to the system when it ends. A scan ignores
SIGTERM/SIGINT: the supervisor decides whether it may finish (shutdown grace) or is killed. A delivery stops
between two reports on SIGTERM. Exit codes: 0 done, 2 configuration error, 3 a report was made but could not
be spooled; anything else (a crash) makes the supervisor spool an error report instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

log = logging.getLogger("tenken.agent.schedule_runner")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tenken.agent.agent_worker")
    ap.add_argument("--config", required=True)
    ap.add_argument("--log-level", default="info")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scan")
    s.add_argument("job")
    e = sub.add_parser("error")
    e.add_argument("job")
    e.add_argument("reason")
    sh = sub.add_parser("ship")
    sh.add_argument("attempt", type=int)
    args = ap.parse_args(argv)

    from tenken.agent.supervisor import setup_logging

    setup_logging(args.log_level)
    stop = threading.Event()
    if args.cmd == "ship":
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    from tenken.agent.agent_config import load_agent_config
    from tenken.agent.schedule_runner import Agent
    from tenken.agent.spool import SpoolError
    from tenken.checks.configfile import ConfigError

    try:
        agent = Agent(load_agent_config(args.config))
    except (ConfigError, SpoolError) as exc:
        log.error("agent configuration: %s", exc)
        return 2
    try:
        if args.cmd == "ship":
            agent.sender.backoff.attempt = max(0, args.attempt)
            res = agent.sender.drain(stop)
            if res.refused and res.stopped_by is not None:
                log.error("the hub refused this agent: %s", res.stopped_by.reason)
            print(json.dumps({"attempt": agent.sender.backoff.attempt, "retry_in": res.retry_in, "acked": res.acked,
                              "rejected": res.rejected, "remaining": res.remaining}))
            return 0
        job = agent.jobs.get(args.job)
        if job is None:
            log.error("no job named %s in %s", args.job, args.config)
            return 2
        report = agent.scan(job) if args.cmd == "scan" else agent.error_report(job, args.reason)
        try:
            path = agent.store(report)
        except SpoolError as exc:
            log.error("job %s: report %s could not be spooled: %s", job.name, report.id, exc)
            return 3
        print(json.dumps({"report": report.id, "spooled": str(path)}))
        return 0
    finally:
        agent.close()


if __name__ == "__main__":
    sys.exit(main())
