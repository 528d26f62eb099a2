"""The bundle's human views: printable HTML (Japanese first, English alongside), CSV for Japanese Excel,
and the checklist sheet. Self-contained HTML: no scripts, no external resources, autoescaped."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field

from jinja2 import Environment, PackageLoader, select_autoescape
from tenken.agent.bundle import checklist as cl
from tenken.agent.bundle.model import BundleContext, evidence_member
from tenken.agent.render_table import STATUS_JA
from tenken.checks.catalogue import Clause, ClauseClass, Section, load_catalogue
from tenken.checks.finding import Finding, Status, worst

_env = Environment(loader=PackageLoader("tenken.agent", "templates"), autoescape=select_autoescape(["html", "j2"]),
                   trim_blocks=True, lstrip_blocks=True)


@dataclass
class ClauseRow:
    clause: Clause
    per_host: dict[str, Status] = field(default_factory=dict)


@dataclass
class SectionRows:
    section: Section
    clauses: list[ClauseRow]
    counts: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def clause_rows(ctx: BundleContext) -> list[SectionRows]:
    cat = load_catalogue()
    per: dict[str, dict[str, list[Status]]] = {}
    for h in ctx.hosts:
        for f in h.findings:
            for c in f.clauses:
                per.setdefault(c, {}).setdefault(h.key, []).append(f.status)
    out = []
    for sec in cat.sections:
        rows = []
        for c in (c for c in cat.clauses if c.section == sec.number):
            if ctx.scope.clause and c.id != ctx.scope.clause:
                continue
            row = ClauseRow(c, {k: s for k, v in per.get(c.id, {}).items() if (s := worst(v)) is not None})
            rows.append(row)
        counts: Counter[str] = Counter(s.value for r in rows for s in r.per_host.values())
        if rows:
            out.append(SectionRows(sec, rows, counts))
    return out


def render_bundle_html(ctx: BundleContext, answers: list[cl.ChecklistAnswer], *, timestamp_note: str, notes: list[str] | None = None,
                       details: bool = True) -> str:
    """`details=False` leaves out the per-host finding details (the PDF of a large fleet: see views.PDF_DETAIL_HOSTS)."""
    sections = clause_rows(ctx)
    manual = [r for s in sections for r in s.clauses if r.clause.class_ in (ClauseClass.PROCEDURAL, ClauseClass.PARTIAL)]
    waivers = [(h, f) for h in ctx.hosts for f in h.findings if f.waiver is not None]
    return _env.get_template("bundle_report.html.j2").render(
        ctx=ctx, hosts=ctx.hosts, sections=sections, statuses=list(Status), status_ja=STATUS_JA, waivers=waivers,
        manual_clauses=manual, answers=answers, checklist=cl.load_checklist(), answer_en=cl.ANSWER_EN,
        timestamp_note=timestamp_note, notes=notes or [], evidence_member=evidence_member, details=details,
    )


def render_checklist_html(ctx: BundleContext, answers: list[cl.ChecklistAnswer]) -> str:
    return _env.get_template("bundle_checklist.html.j2").render(ctx=ctx, answers=answers, checklist=cl.load_checklist(), answer_en=cl.ANSWER_EN)


CSV_COLUMNS = ["host", "host_key", "report_id", "agent_id", "observed_at", "finding_id", "check_id", "status", "severity",
               "clauses", "subject", "title_ja", "title_en", "detail_ja", "detail_en", "remediation_ja", "remediation_en",
               "evidence", "waiver_approver", "waiver_expires", "waiver_justification"]


def _row(h: object, f: Finding) -> list[str]:
    w = f.waiver
    return [
        h.name, h.key, h.source.report.id, h.source.agent_id, h.source.observed_at.isoformat(),  # type: ignore[attr-defined]
        f.id, f.check_id, f.status.value, f.severity.value, " ".join(f.clauses), f.subject or "",
        f.title.ja, f.title.en, f.detail.ja, f.detail.en, f.remediation.ja, f.remediation.en,
        " ".join(evidence_member(h.source.report.id, e) for e in f.evidence),  # type: ignore[attr-defined]
        w.approver if w else "", w.expires.isoformat() if w else "", w.justification if w else "",
    ]


def render_bundle_csv(ctx: BundleContext) -> bytes:
    """One row per (host, finding); UTF-8 with BOM and CRLF for Japanese Excel; formula-looking cells kept text."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for h in ctx.hosts:
        for f in h.findings:
            w.writerow([cl._cell(v) for v in _row(h, f)])
    return "\ufeff".encode() + buf.getvalue().encode("utf-8")
