"""The HTML report, loaded and printed by a real headless Chromium, as an auditor would."""

from __future__ import annotations

import re
from pathlib import Path

from chromium import run_chromium
from clihelp import run_tenken
from test_cli_local import MD5, tiny_root


def test_html_report_renders_whole_volume_in_chromium(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    res = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path, MD5)), "-f", "html", "-o", str(out))
    assert res.exit_code == 1
    html = out.read_text(encoding="utf-8")
    # self-contained: nothing fetched from elsewhere when printed in a closed hospital network
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html

    proc = run_chromium(["--dump-dom", out.as_uri()], tmp_path / "ud")
    dom = proc.stdout
    assert "SO-13-6" in dom and "SO-18-1" in dom, "every clause of the volume is shown"
    assert dom.count('class="clause"') == 88
    assert "弱い方式でパスワードが保存されている" in dom and "Password stored with a weak scheme" in dom
    assert "不適合" in dom  # Japanese status labels
    assert "qjXMvbEw8oaL" not in dom

    pdf = tmp_path / "report.pdf"
    proc = run_chromium([f"--print-to-pdf={pdf}", "--no-pdf-header-footer", out.as_uri()], tmp_path / "ud2")
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF"), proc.stderr[-500:]
    assert pdf.stat().st_size > 20_000


def test_english_first_html(tmp_path: Path) -> None:
    out = tmp_path / "en.html"
    run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "-f", "html", "--lang", "en", "-o", str(out))
    html = out.read_text(encoding="utf-8")
    assert '<html lang="en">' in html
    assert "Summary by section" in html
    assert '<span class="primary">Passwords stored irreversibly</span><span class="secondary" lang="ja">パスワードの不可逆な保存</span>' in html
