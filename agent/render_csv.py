"""CSV: one row per finding, UTF-8 with a BOM so that Japanese Excel opens it without mojibake."""

from __future__ import annotations

import csv
import io

from tenken.agent.report import Report

COLUMNS = [
    "finding_id", "check_id", "target", "status", "severity", "clauses", "subject",
    "title_ja", "title_en", "detail_ja", "detail_en", "remediation_ja", "remediation_en",
    "evidence", "waiver_approver", "waiver_expires", "waiver_justification",
]


def render_csv(report: Report, lang: str = "ja") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for f in report.findings:
        w.writerow([
            f.id, f.check_id, f.target, f.status.value, f.severity.value, " ".join(f.clauses), f.subject or "",
            f.title.ja, f.title.en, f.detail.ja, f.detail.en, f.remediation.ja, f.remediation.en,
            " ".join(f.evidence),
            f.waiver.approver if f.waiver else "", f.waiver.expires.isoformat() if f.waiver else "",
            f.waiver.justification if f.waiver else "",
        ])
    return "\ufeff".encode() + buf.getvalue().encode("utf-8")
