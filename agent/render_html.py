"""HTML: one self-contained file a person prints for an audit (no scripts, no external resources).

The whole volume is shown section by section: every clause with its status, the findings behind it,
evidence excerpts and remediation, Japanese first with English beside it (or the reverse with lang=en).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from jinja2 import Environment, PackageLoader, select_autoescape
from tenken.agent.render_table import STATUS_JA
from tenken.agent.report import Report
from tenken.checks.catalogue import Clause, Section, load_catalogue
from tenken.checks.finding import Finding, Status, worst
from tenken.collectors.evidence import Evidence


@dataclass
class ClauseView:
    clause: Clause
    status: Status | None
    findings: list[Finding] = field(default_factory=list)


@dataclass
class SectionView:
    section: Section
    clauses: list[ClauseView]
    counts: Counter[str]

    @property
    def status(self) -> Status | None:
        return worst([c.status for c in self.clauses if c.status is not None])


def build_sections(report: Report) -> list[SectionView]:
    cat = load_catalogue()
    by_clause: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        for c in f.clauses:
            by_clause[c].append(f)
    out = []
    for sec in cat.sections:
        views = []
        for clause in (c for c in cat.clauses if c.section == sec.number):
            fs = sorted(by_clause.get(clause.id, []), key=lambda f: (f.target == "site", f.target, f.check_id, f.subject or ""))
            views.append(ClauseView(clause, worst([f.status for f in fs]), fs))
        counts: Counter[str] = Counter(v.status.value for v in views if v.status is not None)
        out.append(SectionView(sec, views, counts))
    return out


_env = Environment(
    loader=PackageLoader("tenken.agent", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(report: Report, lang: str = "ja") -> str:
    sections = build_sections(report)
    evidence: dict[str, Evidence] = {e.id: e for e in report.evidence}
    clause_counts: Counter[str] = Counter(c.status.value for s in sections for c in s.clauses if c.status is not None)
    tmpl = _env.get_template("report.html.j2")
    return tmpl.render(
        report=report,
        sections=sections,
        evidence=evidence,
        lang=lang,
        other="en" if lang == "ja" else "ja",
        statuses=list(Status),
        status_ja=STATUS_JA,
        summary=report.summary(),
        clause_counts=clause_counts,
    )
