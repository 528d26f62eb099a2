"""Writing a finished report: format, language, destination, optional signature, and the exit code."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: `tenken --help` must not pay for pydantic and the report models
    from tenken.agent.report import Report


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    HTML = "html"
    CSV = "csv"
    JSONL = "jsonl"  # tenken.report-stream/v1: one line per host (agent/report_stream.py)


class Lang(StrEnum):
    JA = "ja"
    EN = "en"


EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_UNSCANNED = 3


def exit_code(report: Report) -> int:
    """0 no fail, 1 a fail, 3 some target could not be scanned (takes precedence: the audit is incomplete).

    A waived fail keeps its status in the report but does not fail the run: the exception was accepted by
    someone accountable, and a scheduled job should not alarm on it until the waiver expires.
    """
    if any(t.state.value == "error" for t in report.targets):
        return EXIT_UNSCANNED
    from tenken.checks.finding import Status

    if any(f.status is Status.FAIL and f.waiver is None for f in report.findings):
        return EXIT_FAIL
    return EXIT_OK


def render(report: Report, fmt: Format, lang: Lang) -> str | bytes:
    if fmt is Format.JSON:
        return report.to_json() + "\n"
    if fmt is Format.JSONL:
        from tenken.agent.report_stream import render_stream

        return render_stream(report)
    if fmt is Format.CSV:
        from tenken.agent.render_csv import render_csv

        return render_csv(report, lang.value)
    if fmt is Format.HTML:
        from tenken.agent.render_html import render_html

        return render_html(report, lang.value)
    raise ValueError(fmt)


#: Reports hold evidence (account names, configuration excerpts): readable by their owner only unless the
#: user asks otherwise with TENKEN_REPORT_MODE (octal, e.g. 0640).
DEFAULT_REPORT_MODE = 0o600


def report_mode() -> int:
    raw = os.environ.get("TENKEN_REPORT_MODE", "").strip()
    if not raw:
        return DEFAULT_REPORT_MODE
    from tenken.checks.configfile import ConfigError

    try:
        mode = int(raw, 8)
    except ValueError as exc:
        raise ConfigError(f"TENKEN_REPORT_MODE={raw!r} is not an octal file mode such as 0600 or 0640") from exc
    if not 0 <= mode <= 0o777:
        raise ConfigError(f"TENKEN_REPORT_MODE={raw!r} is not a file mode between 0000 and 0777")
    return mode


def create_report_file(path: Path) -> int:
    """An fd for a report written in place (a stream: its first hosts are readable before the last ends)."""
    if path.exists() and not path.is_file():
        return os.open(path, os.O_WRONLY)
    return _create(path, report_mode())


def _create(path: Path, mode: int) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), mode)
    if os.name != "nt":
        os.fchmod(fd, mode)  # the creation mode is masked by the umask; the asked-for mode is what counts
    return fd


def write_report(report: Report, *, fmt: Format, lang: Lang, output: Path | None, sign: Path | None = None) -> None:
    """Render (or sign) and write. The table goes to the terminal; files are written atomically, mode 0600."""
    mode = report_mode() if output is not None else DEFAULT_REPORT_MODE
    if sign is not None:
        from tenken.agent.signing import load_signing_key, sign_report

        data: str | bytes = sign_report(report, load_signing_key(sign))
    elif fmt is Format.TABLE:
        from tenken.agent.render_table import print_table

        if output is not None:
            from rich.console import Console

            with os.fdopen(_create(output, mode) if not output.exists() or output.is_file() else os.open(output, os.O_WRONLY),
                           "w", encoding="utf-8") as fh:
                print_table(report, lang.value, Console(file=fh, width=140, no_color=True))
        else:
            print_table(report, lang.value)
        return
    else:
        data = render(report, fmt, lang)
    if output is None:
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        sys.stdout.flush()
        return
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    if output.exists() and not output.is_file():
        # a device, FIFO or /dev/stdout: write through it; renaming over it would replace the device itself
        with output.open("wb") as fh:
            fh.write(raw)
        return
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    with os.fdopen(_create(tmp, mode), "wb") as fh:
        fh.write(raw)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(output)
