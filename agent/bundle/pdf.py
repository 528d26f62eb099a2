"""report.pdf: the printable report rendered by the system Chromium (headless `--print-to-pdf`).

Chromium's own page header carries the document title (the bundle id) and the date, its footer the page
number and total ("1/12"); Japanese text needs a CJK font (Debian `fonts-noto-cjk`). Chromium runs with a
fresh profile, no network (proxy to a closed port), and is killed at the deadline. When it is absent or
fails, the reason is returned and the bundle says the PDF was not made.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

FLAGS = ["--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-extensions", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
         "--host-resolver-rules=MAP * ~NOTFOUND"]


@dataclass(frozen=True)
class PdfResult:
    data: bytes | None
    reason: str | None = None


def find_chromium(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit if Path(explicit).is_file() else shutil.which(explicit)
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def render_pdf(html: str, *, chromium: str | None = None, timeout: float = 90) -> PdfResult:
    exe = find_chromium(chromium)
    if exe is None:
        return PdfResult(None, f"Chromium not found ({chromium or 'chromium on PATH'}): report.pdf was not made; report.html has the same content")
    with tempfile.TemporaryDirectory(prefix="tenken-pdf-") as tmp:
        d = Path(tmp)
        src, out = d / "report.html", d / "report.pdf"
        src.write_text(html, encoding="utf-8")
        # --no-sandbox only as root, where Chromium refuses to start otherwise (containers, CI); never for a normal user
        sandbox = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        args = [exe, *FLAGS, *sandbox, f"--user-data-dir={d / 'profile'}", f"--print-to-pdf={out}", src.as_uri()]
        try:
            res = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return PdfResult(None, f"Chromium did not finish within {timeout:.0f} s: report.pdf was not made")
        except OSError as exc:
            return PdfResult(None, f"Chromium could not be started ({exc.strerror}): report.pdf was not made")
        if not out.exists() or out.stat().st_size == 0:
            tail = res.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            return PdfResult(None, f"Chromium exited {res.returncode} without a PDF ({tail[0][:200]}): report.pdf was not made")
        return PdfResult(out.read_bytes())
