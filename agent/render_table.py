"""The console view: a rich table per section, worst status first in each clause."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from tenken.agent.report import Report
from tenken.checks.catalogue import clause_sort_key, load_catalogue
from tenken.checks.finding import Finding, Status

STATUS_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.WARN: "yellow",
    Status.ERROR: "magenta",
    Status.NOT_APPLICABLE: "dim",
    Status.MANUAL: "cyan",
}
STATUS_JA = {
    Status.PASS: "適合",
    Status.FAIL: "不適合",
    Status.WARN: "要注意",
    Status.ERROR: "確認不能",
    Status.NOT_APPLICABLE: "対象外",
    Status.MANUAL: "要手動確認",
}


def status_label(status: Status, lang: str) -> str:
    return f"{STATUS_JA[status]} {status.value}" if lang == "ja" else status.value


def print_table(report: Report, lang: str, console: Console | None = None) -> None:
    console = console or Console()
    cat = load_catalogue()
    by_section: dict[int, list[Finding]] = defaultdict(list)
    for f in report.findings:
        sec = min(clause_sort_key(c) for c in f.clauses)[0]
        by_section[sec].append(f)
    for sec in sorted(by_section):
        items = by_section[sec]
        section = cat.section(sec)
        title = f"{sec}. {section.title_ja}" if lang == "ja" else f"{sec}. {section.title_en}"
        # organisation-wide questions are summarised on the console and listed in the HTML report
        auto = [f for f in items if not (f.status is Status.MANUAL and f.target == "site")]
        manual = len(items) - len(auto)
        table = Table(title=title, title_justify="left", show_lines=False, expand=True)
        table.add_column("状態" if lang == "ja" else "Status", no_wrap=True)
        table.add_column("条項" if lang == "ja" else "Clauses", no_wrap=True)
        table.add_column("対象" if lang == "ja" else "Target", overflow="fold")
        table.add_column("項目" if lang == "ja" else "Finding", overflow="fold")
        for f in auto:
            label = status_label(f.status, lang)
            if f.waiver is not None:
                label += " (waived)" if lang == "en" else "（例外承認）"
            what = f.title.get(lang)
            if f.subject:
                what += f" [{f.subject}]"
            if f.status in (Status.FAIL, Status.WARN, Status.ERROR):
                what += "\n  " + f.detail.get(lang)
            # findings carry text from the target (paths, names): never let it be read as rich markup
            table.add_row(f"[{STATUS_STYLE[f.status]}]{escape(label)}[/]", ", ".join(f.clauses), escape(f.target), escape(what))
        if manual:
            table.add_row(
                f"[cyan]{status_label(Status.MANUAL, lang)}[/]",
                "",
                "",
                f"{manual} 件の条項は文書等での確認が必要です（HTML 報告書に一覧）"
                if lang == "ja"
                else f"{manual} clause(s) need confirmation from documents (listed in the HTML report)",
            )
        console.print(table)
    s = report.summary()
    parts = [f"{status_label(Status(k), lang)}: {v}" for k, v in s.items() if v]
    console.print(("集計 " if lang == "ja" else "Summary ") + " / ".join(parts))
    for t in report.targets:
        if t.error:
            console.print(f"[magenta]{escape(t.target)}: {escape(t.error)}[/]")
