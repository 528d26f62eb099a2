"""The views a bundle carries, in the order they are made. Each is a `View` (see build.py)."""

from __future__ import annotations

from tenken.agent.bundle.build import View
from tenken.agent.bundle.model import BundleContext

#: Above this many hosts the PDF holds everything but the per-host finding details (which stay in report.html and
#: findings.csv): a thousand-page PDF helps no auditor, and Chromium needs minutes to print one.
PDF_DETAIL_HOSTS = 20


def default_views(*, chromium: str | None = None, pdf: bool = True, timestamped: bool = False) -> list[View]:
    def human(ctx: BundleContext, hashes: dict[str, str]) -> dict[str, bytes]:
        from tenken.agent.bundle import checklist as cl
        from tenken.agent.bundle import printable

        answers = cl.answer_checklist(ctx)
        ts = ("manifest.json に RFC 3161 タイムスタンプを付与（manifest.tsr）/ the manifest carries an RFC 3161 timestamp (manifest.tsr)"
              if timestamped else "タイムスタンプなし（TSA 未設定）/ not timestamped (no TSA configured)")
        html = printable.render_bundle_html(ctx, answers, timestamp_note=ts)
        out = {
            "report.html": html.encode("utf-8"),
            "findings.csv": printable.render_bundle_csv(ctx),
            "checklist.html": printable.render_checklist_html(ctx, answers).encode("utf-8"),
            "checklist.csv": cl.render_checklist_csv(answers),
        }
        if pdf:
            from tenken.agent.bundle.pdf import render_pdf

            small = len(ctx.hosts) <= PDF_DETAIL_HOSTS
            res = render_pdf(html if small else printable.render_bundle_html(ctx, answers, timestamp_note=ts, details=False), chromium=chromium)
            if res.data is not None:
                out["report.pdf"] = res.data
            else:
                out["notes/pdf.txt"] = f"PDF なし / no PDF: {res.reason}".encode()
        return out

    def machine(ctx: BundleContext, hashes: dict[str, str]) -> dict[str, bytes]:
        from tenken.agent.bundle.junit import render_junit
        from tenken.agent.bundle.oscal import render_oscal

        return {"oscal/assessment-results.json": render_oscal(ctx, hashes), "junit.xml": render_junit(ctx)}

    return [human, machine]
