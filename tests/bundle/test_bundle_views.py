"""The human views of a bundle: the MHLW checklist answered item by item for a weak and a good host, the PDF
rendered by the real Chromium with Japanese text, CSV for Japanese Excel, and a bundle timestamped by a real TSA."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bundle_fixtures import SignedHost, bundle_of, two_hosts
from clihelp import run_tenken
from tenken.agent.bundle.build import new_context
from tenken.agent.bundle.checklist import CHECK, NO, YES, answer_checklist, load_checklist
from tenken.agent.bundle.model import BundleScope
from tenken.agent.bundle.sources import from_files
from tenken.agent.signing import load_public_key_file

MANUAL = {"1-1", "1-2", "2-1", "2-2", "2-3", "2-4", "2-8", "2-13", "3-1", "3-3"}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> tuple[SignedHost, SignedHost]:
    return two_hosts(tmp_path_factory.mktemp("hosts"))


def answers_for(*hs: SignedHost) -> dict[str, str]:
    reports = from_files([h.report for h in hs], [load_public_key_file(h.pub) for h in hs])
    return {a.item.id: a.answer for a in answer_checklist(new_context(reports, BundleScope()))}


def test_checklist_names_only_checks_that_exist() -> None:
    from tenken.checks.registry import load_all

    known = set(load_all())
    for item in load_checklist().items:
        assert set(item.checks) <= known, f"checklist item {item.id} names unknown checks {set(item.checks) - known}"
        assert item.manual or item.checks


def test_checklist_item_by_item_for_weak_good_and_both(hosts: tuple[SignedHost, SignedHost]) -> None:
    weak, good = hosts
    manual = dict.fromkeys(MANUAL, CHECK)
    # The fixture roots: the good host has no stale/extra uid 0 accounts and a 14-character mixed password rule;
    # neither root restricts USB storage or keeps access logs; neither has package history or backups configured.
    assert answers_for(good) == {**manual, "2-5": YES, "2-6": CHECK, "2-7": YES, "2-9": NO, "2-10": CHECK, "2-11": NO, "2-12": CHECK, "3-2": CHECK, "参考-1": CHECK}
    assert answers_for(weak) == {**manual, "2-5": NO, "2-6": CHECK, "2-7": NO, "2-9": NO, "2-10": CHECK, "2-11": NO, "2-12": NO, "3-2": CHECK, "参考-1": CHECK}
    both = answers_for(weak, good)
    assert both == answers_for(weak)  # the weak host decides: never はい where one host fails
    assert YES not in both.values()


def test_yes_needs_evidence_on_every_host(tmp_path: Path) -> None:
    """A host with no evidence for an item turns はい into 要確認."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from tenken.agent.report import Report, TargetInfo
    from tenken.agent.signing import sign_report
    from tenken.checks.finding import Finding, Text, finding_id
    from tenken.collectors.evidence import build_evidence

    now = datetime.now(UTC)
    key = Ed25519PrivateKey.generate()
    paths = []
    for name, with_finding in (("a", True), ("b", False)):
        ev = build_evidence(collector="linux.accounts", target=name, sources=[], raw="x", facts=None, collected_at=now)
        fs = [Finding(id=finding_id("linux.accounts.stale", name), check_id="linux.accounts.stale", target=name, status="pass",
                      clauses=["SO-14-7"], severity="medium", title=Text(ja="t", en="t"), detail=Text(ja="d", en="d"),
                      remediation=Text(ja="r", en="r"), evidence=[ev.id])] if with_finding else []
        rep = Report(started_at=now, finished_at=now, targets=[TargetInfo(target=name, kind="ssh", state="scanned")], findings=fs, evidence=[ev])
        p = tmp_path / f"{name}.json"
        p.write_bytes(sign_report(rep, key))
        paths.append(p)
    one = new_context(from_files(paths[:1], [key.public_key()]), BundleScope())
    both = new_context(from_files(paths, [key.public_key()]), BundleScope())
    assert {a.item.id: a.answer for a in answer_checklist(one)}["2-5"] == YES
    ans = {a.item.id: a for a in answer_checklist(both)}["2-5"]
    assert ans.answer == CHECK and [h.answer for h in ans.hosts] == [YES, CHECK] and "b" in ans.reason_ja


@pytest.fixture(scope="module")
def built(hosts: tuple[SignedHost, SignedHost], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bundle_of(hosts, tmp_path_factory.mktemp("views") / "audit.zip")


@pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("pdftotext") is None, reason="tests/run-all.sh installs chromium and poppler-utils")
def test_pdf_is_rendered_with_japanese_text_bundle_id_and_page_numbers(built: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(built) as zf:
        pdf = zf.read("report.pdf")
        bundle_id = zf.read("manifest.json").decode().split('"bundle_id": "')[1].split('"')[0]
    assert pdf.startswith(b"%PDF")
    (tmp_path / "r.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    for title in ("監査用証跡バンドル", "節ごとの概要", "条項ごとの状況", "サイバーセキュリティ対策チェックリスト", "パスワード"):
        assert title in text, f"{title} missing from the PDF text"
    assert "\ufffd" not in text and "□" not in text
    assert text.count(bundle_id) >= 2  # the cover and the page header of every page
    pages = text.split("\f")
    assert len([p for p in pages if p.strip()]) >= 2
    assert "1/" in pages[0] and "2/" in pages[1]  # Chromium's footer: page/total
    fonts = subprocess.run(["pdffonts", str(tmp_path / "r.pdf")], capture_output=True, text=True, check=True).stdout
    match = subprocess.run(["fc-match", "Noto Sans CJK JP"], capture_output=True, text=True, check=True).stdout
    assert "Noto" in match and "CJK" in match, match  # a CJK font is what Chromium finds for the Japanese text
    assert fonts.count("yes") > 0


def test_without_chromium_the_bundle_says_so_and_has_everything_else(hosts: tuple[SignedHost, SignedHost], tmp_path: Path) -> None:
    weak, _good = hosts
    out = tmp_path / "nopdf.zip"
    res = run_tenken("bundle", str(weak.report), "--key", str(weak.key), "--chromium", str(tmp_path / "no-such-chromium"), "-o", str(out))
    assert res.exit_code == 0, res.stderr
    assert "report.pdf was not made" in res.stdout
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        readme = zf.read("README.txt").decode("utf-8-sig")
    assert "report.pdf" not in names and {"report.html", "findings.csv", "checklist.csv", "junit.xml", "oscal/assessment-results.json"} <= names
    assert "report.pdf was not made" in readme
    assert run_tenken("verify", str(out), "--key", str(weak.pub)).exit_code == 0


def test_csv_members_open_in_japanese_excel(built: Path) -> None:
    with zipfile.ZipFile(built) as zf:
        for name in ("findings.csv", "checklist.csv"):
            raw = zf.read(name)
            assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
            rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
            assert len({len(r) for r in rows}) == 1 and len(rows) > 5
        findings = list(csv.DictReader(io.StringIO(zf.read("findings.csv").decode("utf-8-sig"))))
        html = zf.read("report.html").decode()
    assert {r["status"] for r in findings} >= {"pass", "fail"}
    assert all(r["evidence"].startswith("evidence/") for r in findings if r["evidence"])
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_formula_looking_cells_stay_text() -> None:
    from tenken.agent.bundle.checklist import _cell

    assert _cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")" and _cell("-1") == "'-1" and _cell("ok") == "ok"


def test_bundle_timestamped_by_a_real_tsa_verifies_and_a_foreign_token_is_named(hosts: tuple[SignedHost, SignedHost], tmp_path: Path) -> None:
    from tsa_server import start_tsa

    weak, _ = hosts
    with start_tsa() as tsa:
        out = tmp_path / "ts.zip"
        res = run_tenken("bundle", str(weak.report), "--key", str(weak.key), "--tsa", tsa.url, "--tsa-ca", str(tsa.ca_pem), "-o", str(out))
        assert res.exit_code == 0, res.stderr
        res = run_tenken("verify", str(out), "--key", str(weak.pub))
        assert res.exit_code == 0, res.stderr
        assert "RFC 3161" in res.stdout and "anchored" in res.stdout
        with zipfile.ZipFile(out) as zf:
            token = zf.read("manifest.tsr")
            assert "keys/tsa-ca.pem" in zf.namelist() and "untimestamped" not in zf.read("README.txt").decode("utf-8-sig")
        # a second bundle's token does not cover this manifest
        other = tmp_path / "other.zip"
        assert run_tenken("bundle", str(weak.report), "--key", str(weak.key), "--tsa", tsa.url, "--tsa-ca", str(tsa.ca_pem), "-o", str(other)).exit_code == 0
        with zipfile.ZipFile(other) as zf:
            foreign = zf.read("manifest.tsr")
        assert foreign != token
        swapped = tmp_path / "swapped.zip"
        with zipfile.ZipFile(out) as zin, zipfile.ZipFile(swapped, "w") as zout:
            for info in zin.infolist():
                zout.writestr(info, foreign if info.filename == "manifest.tsr" else zin.read(info))
        res = run_tenken("verify", str(swapped), "--key", str(weak.pub))
        assert res.exit_code == 1 and "manifest.tsr" in res.stderr and "does not cover" in res.stderr
        # removing the token of a bundle whose manifest says it was timestamped is named
        stripped = tmp_path / "stripped.zip"
        with zipfile.ZipFile(out) as zin, zipfile.ZipFile(stripped, "w") as zout:
            for info in zin.infolist():
                if info.filename != "manifest.tsr":
                    zout.writestr(info, zin.read(info))
        res = run_tenken("verify", str(stripped), "--key", str(weak.pub))
        assert res.exit_code == 1 and "manifest.tsr: missing" in res.stderr
        # a TSA that fails: no bundle is written
        tsa.mode["mode"] = "500"
        failed = tmp_path / "failed.zip"
        res = run_tenken("bundle", str(weak.report), "--key", str(weak.key), "--tsa", tsa.url, "-o", str(failed))
        assert res.exit_code == 1 and "timestamp" in res.stderr and not failed.exists()


def test_a_fleet_pdf_leaves_details_to_the_html(hosts: tuple[SignedHost, SignedHost]) -> None:
    from tenken.agent.bundle import printable

    reports = from_files([h.report for h in hosts], [load_public_key_file(h.pub) for h in hosts])
    ctx = new_context(reports, BundleScope())
    answers = answer_checklist(ctx)
    full = printable.render_bundle_html(ctx, answers, timestamp_note="-")
    short = printable.render_bundle_html(ctx, answers, timestamp_note="-", details=False)
    assert "証跡の抜粋" in full and "証跡の抜粋" not in short and "report.html と findings.csv" in short
    assert "条項ごとの状況" in short and "チェックリスト" in short
