"""A fleet report written host by host as JSON Lines (`tenken.report-stream/v1`), so memory stays flat.

A `tenken.report/v1` document holds every finding and every piece of evidence of every host, so a fleet
scan that writes one must keep all of them until the last host answers: 1,000 hosts are hundreds of MB.
The stream writes each host's result the moment it completes (one line, flushed) and forgets it:

    {"type": "header", "schema": "tenken.report-stream/v1", "id", "tool", "started_at", "policy"}
    {"type": "target", "target": TargetInfo, "findings": [...], "evidence": [...]}   one per host, as they finish
    {"type": "end", "finished_at", "targets": N, "findings": [coverage items], "summary": {status: count}}

Lines carry the same models as the report (waivers applied, the same sort within a host), so
`read_report_stream` turns a complete stream back into a `Report` equal to what the in-memory path builds
(finding order across hosts aside, which the reader restores). A stream without its `end` line is an
interrupted scan: the reader refuses it rather than report the hosts it lacks as nothing found.
Streams are not signed; sign a `--format json` report for the hub.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from tenken import TOOL_NAME, __version__

if TYPE_CHECKING:
    from tenken.agent.report import Report
    from tenken.agent.scan import TargetResult
    from tenken.checks.catalogue import Catalogue
    from tenken.checks.finding import Finding
    from tenken.checks.waivers import Waiver

STREAM_SCHEMA = "tenken.report-stream/v1"


class StreamError(ValueError):
    """A stream that is damaged, cut short or not a tenken report stream."""


def _finding_key(f: Finding) -> tuple[object, ...]:
    from tenken.checks.catalogue import clause_sort_key

    return (min(clause_sort_key(c) for c in f.clauses), f.target, f.check_id, f.subject or "")


class ReportStreamWriter:
    """Write one fleet report as JSON Lines to `fh`, a host at a time; keeps only what the end line needs.

    What it keeps per host is small and bounded by the catalogue: the clauses findings spoke to (for the
    coverage items), evidence ids backing each clause, counts by status, and whether the host failed.
    """

    def __init__(
        self,
        fh: IO[str],
        *,
        policy: str,
        waivers: list[Waiver] | None = None,
        today: date | None = None,
        started_at: datetime | None = None,
        report_id: str | None = None,
    ) -> None:
        import uuid

        from tenken.collectors.evidence import utcnow

        self.fh = fh
        self.waivers = waivers or []
        self.today = today or date.today()
        self.id = report_id or str(uuid.uuid4())
        self.started_at = started_at or utcnow()
        self.targets = 0
        self.unscanned = 0
        self.unwaived_fail = False
        self.counts: Counter[str] = Counter()
        # coverage inputs: one representative finding per (clauses, kind), evidence merged (coverage_findings
        # reads only clauses, kind and evidence ids), so memory does not grow with the number of hosts
        self._cover: dict[tuple[tuple[str, ...], str], Finding] = {}
        self._cover_ev: dict[tuple[tuple[str, ...], str], dict[str, None]] = {}
        self._line({"type": "header", "schema": STREAM_SCHEMA, "id": self.id,
                    "tool": {"name": TOOL_NAME, "version": __version__},
                    "started_at": self.started_at.isoformat(), "policy": policy})

    def _line(self, obj: dict[str, object]) -> None:
        self.fh.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.fh.flush()

    def _note(self, findings: Iterable[Finding]) -> None:
        from tenken.checks.finding import Status

        for f in findings:
            self.counts[f.status.value] += 1
            if f.status is Status.FAIL and f.waiver is None:
                self.unwaived_fail = True
            k = (tuple(f.clauses), f.kind.value)
            if k not in self._cover:
                self._cover[k] = f
                self._cover_ev[k] = {}
            self._cover_ev[k].update(dict.fromkeys(f.evidence))

    def add(self, result: TargetResult) -> None:
        """Write one host's result (waivers applied) and forget it."""
        from tenken.checks.waivers import apply_waivers

        findings = sorted(apply_waivers(result.findings, self.waivers, self.today), key=_finding_key)
        self._note(findings)
        self.targets += 1
        if result.info.state.value == "error":
            self.unscanned += 1
        self.fh.write('{"type":"target","target":' + result.info.model_dump_json(by_alias=True)
                      + ',"findings":[' + ",".join(f.model_dump_json(by_alias=True) for f in findings)
                      + '],"evidence":[' + ",".join(e.model_dump_json(by_alias=True) for e in result.evidence) + "]}\n")
        self.fh.flush()

    def finish(self, *, scanned_kinds: set[str], catalogue: Catalogue | None = None) -> int:
        """Write the coverage items and the end line; returns the exit code the JSON report would give."""
        from tenken.agent.output import EXIT_FAIL, EXIT_OK, EXIT_UNSCANNED
        from tenken.checks.catalogue import coverage_findings, load_catalogue
        from tenken.checks.waivers import apply_waivers
        from tenken.collectors.evidence import utcnow

        reps = [f.model_copy(update={"evidence": list(self._cover_ev[k])}) for k, f in self._cover.items()]
        extra = coverage_findings(catalogue or load_catalogue(), reps, scanned_kinds=scanned_kinds)
        extra = sorted(apply_waivers(extra, self.waivers, self.today), key=_finding_key)
        self._note(extra)
        from tenken.checks.finding import Status

        summary = {s.value: self.counts.get(s.value, 0) for s in Status}
        self.fh.write('{"type":"end","finished_at":' + json.dumps(utcnow().isoformat()) + f',"targets":{self.targets}'
                      + ',"findings":[' + ",".join(f.model_dump_json(by_alias=True) for f in extra)
                      + '],"summary":' + json.dumps(summary) + "}\n")
        self.fh.flush()
        if self.unscanned:
            return EXIT_UNSCANNED
        return EXIT_FAIL if self.unwaived_fail else EXIT_OK


def render_stream(report: Report) -> str:
    """A finished report as a stream (for commands that build the whole report first, e.g. `scan local`)."""
    import io

    from tenken.agent.scan import TargetResult

    buf = io.StringIO()
    w = ReportStreamWriter(buf, policy=report.policy, started_at=report.started_at, report_id=report.id)
    names = {t.target for t in report.targets}
    for t in report.targets:
        w.add(TargetResult(info=t, findings=[f for f in report.findings if f.target == t.target],
                           evidence=[e for e in report.evidence if e.target == t.target]))
    rest = [f for f in report.findings if f.target not in names]
    w._note(rest)
    buf.write('{"type":"end","finished_at":' + json.dumps(report.finished_at.isoformat()) + f',"targets":{w.targets}'
              + ',"findings":[' + ",".join(f.model_dump_json(by_alias=True) for f in sorted(rest, key=_finding_key))
              + '],"summary":' + json.dumps(report.summary()) + "}\n")
    return buf.getvalue()


def read_report_stream(path: Path) -> Report:
    """A complete stream as a `Report` (findings in the report's order). Raises StreamError otherwise."""
    from pydantic import ValidationError
    from tenken.agent.report import Report, TargetInfo, ToolInfo
    from tenken.checks.finding import Finding
    from tenken.collectors.evidence import Evidence

    header: dict[str, object] | None = None
    end: dict[str, object] | None = None
    targets: list[TargetInfo] = []
    findings: list[Finding] = []
    evidence: list[Evidence] = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                obj = json.loads(line)
                kind = obj.get("type") if isinstance(obj, dict) else None
                if end is not None:
                    raise StreamError(f"{path}:{n}: data after the end line")
                if n == 1:
                    if kind != "header" or obj.get("schema") != STREAM_SCHEMA:
                        raise StreamError(f"{path}: not a {STREAM_SCHEMA} stream")
                    header = obj
                elif kind == "target":
                    targets.append(TargetInfo.model_validate(obj["target"]))
                    findings += [Finding.model_validate(f) for f in obj["findings"]]
                    evidence += [Evidence.model_validate(e) for e in obj["evidence"]]
                elif kind == "end":
                    end = obj
                    findings += [Finding.model_validate(f) for f in obj["findings"]]
                else:
                    raise StreamError(f"{path}:{n}: unknown line type {kind!r}")
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                if isinstance(exc, StreamError):
                    raise
                raise StreamError(f"{path}:{n}: damaged line: {exc}") from None
    if header is None:
        raise StreamError(f"{path}: empty stream")
    if end is None:
        raise StreamError(f"{path}: no end line: the scan was interrupted; {len(targets)} hosts were written")
    if end.get("targets") != len(targets):
        raise StreamError(f"{path}: the end line counts {end.get('targets')} hosts, the stream holds {len(targets)}")
    findings.sort(key=_finding_key)
    return Report(id=str(header["id"]), tool=ToolInfo.model_validate(header["tool"]),
                  started_at=datetime.fromisoformat(str(header["started_at"])),
                  finished_at=datetime.fromisoformat(str(end["finished_at"])), policy=str(header["policy"]),
                  targets=targets, findings=findings, evidence=evidence)
