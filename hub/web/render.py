"""Jinja2 rendering of the web view's pages: autoescape on, Japanese first with English alongside.

Status is shown as text AND colour (a CSS class), never colour alone, so it reads in print, in greyscale and
for people who do not tell red from green.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import tenken.hub
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(tenken.hub.__file__).resolve().parent / "templates"
STATIC = Path(tenken.hub.__file__).resolve().parent / "static"

STATUS_LABELS: dict[str, tuple[str, str]] = {
    "fail": ("不適合", "fail"),
    "error": ("エラー", "error"),
    "warn": ("要注意", "warn"),
    "manual": ("要確認", "manual"),
    "pass": ("適合", "pass"),
    "not_applicable": ("対象外", "n/a"),
}
#: display order: worst first (STATUS_PRECEDENCE)
STATUS_ORDER = ["fail", "error", "warn", "manual", "pass", "not_applicable"]
ROLE_LABELS = {"admin": ("管理者", "admin"), "auditor": ("監査担当", "auditor")}


def status_ja(status: str | None) -> str:
    return STATUS_LABELS.get(status or "", (status or "—", ""))[0]


def status_en(status: str | None) -> str:
    return STATUS_LABELS.get(status or "", ("", status or ""))[1]


def fmt_time(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "—"


def group_label(g: str) -> str:
    return "未分類 / ungrouped" if g == "" else g


def _query(params: dict[str, Any]) -> str:
    # a list keeps "" (group "" = ungrouped); a single empty value is left out
    flat = [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list | tuple) else [vs])
            if v is not None and (v != "" or isinstance(vs, list | tuple))]
    return urlencode(flat)


def make_env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["status_ja"] = status_ja
    env.filters["status_en"] = status_en
    env.filters["time"] = fmt_time
    env.filters["group"] = group_label
    env.filters["query"] = _query
    env.filters["pct"] = lambda x: f"{round(100 * x)}%"
    env.globals["STATUS_ORDER"] = STATUS_ORDER
    env.globals["STATUS_LABELS"] = STATUS_LABELS
    env.globals["ROLE_LABELS"] = ROLE_LABELS
    return env


ENV = make_env()


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session = getattr(request.state, "session", None)
    ctx = {"session": session, "user": session.user if session else None, "csrf": session.csrf if session else "", "path": request.url.path,
           **context}
    html = ENV.get_template(template).render(**ctx)
    return HTMLResponse(html, status_code=status_code)
