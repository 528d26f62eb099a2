"""`tenken clauses`: the catalogue with the checks that cover each clause."""

from __future__ import annotations

import json
from collections import defaultdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from tenken.checks.catalogue import load_catalogue
from tenken.checks.registry import load_all


def coverage_map() -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for spec in load_all().values():
        for c in spec.clauses:
            out[c].append(spec.id)
    return out


def show_clauses(fmt: str, lang: str) -> None:
    cat = load_catalogue()
    cov = coverage_map()
    if fmt == "json":
        rows = [
            {
                "id": c.id,
                "section": c.section,
                "section_title_ja": cat.section(c.section).title_ja,
                "section_title_en": cat.section(c.section).title_en,
                "class": c.class_.value,
                "text_ja": c.text_ja,
                "gloss_en": c.gloss_en,
                "question_ja": c.question_ja,
                "question_en": c.question_en,
                "checks": sorted(cov.get(c.id, [])),
            }
            for c in cat.clauses
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(expand=True, show_lines=True)
    for col in ("ID", "節" if lang == "ja" else "Section", "分類" if lang == "ja" else "Class", "本文 / Gloss", "Checks"):
        table.add_column(col, overflow="fold")
    for c in cat.clauses:
        sec = cat.section(c.section)
        table.add_row(
            c.id,
            f"{sec.number}. {sec.title_ja if lang == 'ja' else sec.title_en}",
            c.class_.value,
            f"{escape(c.text_ja)}\n[dim]{escape(c.gloss_en)}[/]",
            "\n".join(sorted(cov.get(c.id, []))) or "-",
        )
    Console().print(table)
