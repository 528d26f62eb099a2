"""`tenken scan local`: the report contract, exit codes, config errors, waivers and output formats."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from clihelp import run_tenken
from tenken.agent.report import Report

MD5 = "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"  # crypt("x") style, not a real password anyone uses
YESCRYPT = "$y$j9T$abcdefghijklmnopqrstu.$ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno12"


def tiny_root(tmp_path: Path, shadow_hash: str = YESCRYPT) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\ntoor:x:0:0::/root:/bin/sh\n"
    )
    (root / "etc/shadow").write_text(f"root:!:19000:0:99999:7:::\nalice:{shadow_hash}:19000:0:99999:7:::\ntoor:*:19000::::::\n")
    (root / "etc/group").write_text("root:x:0:\nsudo:x:27:alice\n")
    return root


def findings(report: dict, check_id: str) -> list[dict]:
    return [f for f in report["findings"] if f["check_id"] == check_id]


def test_json_report_is_the_v1_contract(tmp_path: Path) -> None:
    res = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "-f", "json")
    data = res.json()
    Report.model_validate(data)  # round-trips through the published models
    assert data["schema"] == "tenken.report/v1"
    assert data["tool"]["name"] == "tenken"
    assert data["targets"][0]["target"].startswith("root:")
    ev_ids = {e["id"] for e in data["evidence"]}
    for f in data["findings"]:
        assert set(f["title"]) == {"ja", "en"} and set(f["detail"]) == {"ja", "en"} and set(f["remediation"]) == {"ja", "en"}
        assert set(f["evidence"]) <= ev_ids, "a finding cites evidence that is not in the report"
        if f["status"] == "pass":
            assert f["evidence"], f"pass without evidence: {f['check_id']}"
    # every clause of the volume is in the report
    from tenken.checks.catalogue import load_catalogue

    covered = {c for f in data["findings"] for c in f["clauses"]}
    assert covered == {c.id for c in load_catalogue().clauses}


def test_weak_hash_and_second_uid0_fail_with_exit_1(tmp_path: Path) -> None:
    res = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path, MD5)), "-f", "json")
    assert res.exit_code == 1
    data = res.json()
    storage = findings(data, "linux.password.storage")
    assert [(f["status"], f["subject"], f["clauses"]) for f in storage] == [("fail", "alice", ["SO-14-6"])]
    uid0 = findings(data, "linux.accounts.uid0")
    assert [(f["status"], f["subject"]) for f in uid0] == [("fail", "toor")]
    assert MD5 not in res.stdout and "qjXMvbEw8oaL" not in res.stdout, "a password hash leaked into the report"


def test_no_hash_value_in_any_output_format(tmp_path: Path) -> None:
    root = tiny_root(tmp_path, YESCRYPT)
    for fmt in ("json", "csv", "html", "table"):
        res = run_tenken("scan", "local", "--root", str(root), "-f", fmt)
        assert "ABCDEFGHIJKLMNOPQRSTUVWXYZ" not in res.stdout, fmt
        assert "abcdefghijklmnopqrstu" not in res.stdout, fmt


def test_malformed_policy_names_file_line_and_field(tmp_path: Path) -> None:
    pol = tmp_path / "site-policy.yaml"
    pol.write_text("name: site\npasswords:\n  min_length: thirteen\n")
    res = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "--policy", str(pol))
    assert res.exit_code == 2
    msg = res.stderr.strip()
    assert len(msg.splitlines()) == 1
    assert f"{pol}:3" in msg and "passwords.min_length" in msg


def test_unknown_policy_field_and_bad_yaml(tmp_path: Path) -> None:
    pol = tmp_path / "p.yaml"
    pol.write_text("backups:\n  min_generation: 3\n")
    res = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "--policy", str(pol))
    assert res.exit_code == 2 and "backups.min_generation" in res.stderr and "unknown field" in res.stderr
    pol.write_text("passwords: [unclosed\n")
    res = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "--policy", str(pol))
    assert res.exit_code == 2 and "invalid YAML" in res.stderr and str(pol) in res.stderr


def test_missing_root_is_a_usage_error(tmp_path: Path) -> None:
    res = run_tenken("scan", "local", "--root", str(tmp_path / "nope"))
    assert res.exit_code == 2 and "not a directory" in res.stderr


def test_policy_override_changes_the_verdict(tmp_path: Path) -> None:
    pol = tmp_path / "p.yaml"
    pol.write_text("accounts:\n  allowed_uid0: [root, toor]\n")
    res = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "--policy", str(pol), "-f", "json")
    assert [f["status"] for f in findings(res.json(), "linux.accounts.uid0")] == ["pass"]


def test_waiver_keeps_status_and_expired_waiver_does_not_apply(tmp_path: Path) -> None:
    root = tiny_root(tmp_path)
    wv = tmp_path / "waivers.yaml"
    future = (date.today() + timedelta(days=30)).isoformat()
    past = (date.today() - timedelta(days=1)).isoformat()
    wv.write_text(
        "waivers:\n"
        f"  - check: linux.accounts.uid0\n    target: 'root:*'\n    subject: toor\n    justification: legacy EMR vendor account, removal planned\n"
        f"    approver: 情報システム部 山田\n    expires: {future}\n    reference: CHG-2026-041\n"
    )
    res = run_tenken("scan", "local", "--root", str(root), "--waivers", str(wv), "-f", "json")
    (f,) = findings(res.json(), "linux.accounts.uid0")
    assert f["status"] == "fail" and f["waiver"]["approver"] == "情報システム部 山田"
    wv.write_text(wv.read_text().replace(future, past))
    res = run_tenken("scan", "local", "--root", str(root), "--waivers", str(wv), "-f", "json")
    (f,) = findings(res.json(), "linux.accounts.uid0")
    assert f["status"] == "fail" and f["waiver"] is None


def test_waiver_without_approver_is_a_config_error(tmp_path: Path) -> None:
    wv = tmp_path / "w.yaml"
    wv.write_text("waivers:\n  - check: x\n    justification: j\n    expires: 2030-01-01\n")
    res = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "--waivers", str(wv))
    assert res.exit_code == 2 and "waivers.0.approver" in res.stderr and f"{wv}:2" in res.stderr


def test_csv_has_bom_and_one_row_per_finding(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "-f", "csv", "-o", str(out))
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    js = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "-f", "json").json()
    assert len(rows) == len(js["findings"])
    assert {r["status"] for r in rows} <= {"pass", "fail", "warn", "error", "not_applicable", "manual"}
    assert any("パスワード" in r["title_ja"] for r in rows)


def _scan_as_nobody() -> dict:
    """Fork, drop to `nobody`, run the real local scan in the child and hand back its JSON report."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        try:
            os.close(r)
            from tenken.agent.report import TargetKind
            from tenken.agent.scan import assemble_report, scan_host
            from tenken.checks.policy import load_policy
            from tenken.collectors.transport.local import LocalTransport

            pol = load_policy()
            # One scan as root first loads every module the scan imports lazily: after the switch to
            # `nobody` the interpreter's own library may be unreadable (a pyenv Python under a 0700 /root).
            scan_host(LocalTransport(), pol, kind=TargetKind.LOCAL)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            rep = assemble_report([scan_host(LocalTransport(), pol, kind=TargetKind.LOCAL)], policy=pol)
            os.write(w, rep.to_json().encode())
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks))


def test_unreadable_shadow_is_error_not_pass() -> None:
    """As an unprivileged user the live scan cannot read /etc/shadow: `error` (needs root), never `pass`."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    data = _scan_as_nobody()
    storage = findings(data, "linux.password.storage")
    assert any(f["status"] == "error" and f["subject"] == "/etc/shadow" and "root" in f["detail"]["en"] for f in storage)
    assert not any(f["status"] == "pass" for f in storage)


def test_help_everywhere() -> None:
    for args in (["--help"], ["scan", "--help"], ["scan", "local", "--help"], ["clauses", "--help"]):
        res = run_tenken(*args)
        assert res.exit_code == 0 and "Usage" in res.stdout


def test_clauses_command_lists_whole_catalogue() -> None:
    res = run_tenken("clauses", "--format", "json")
    rows = json.loads(res.stdout)
    assert len(rows) == 88
    by_id = {r["id"]: r for r in rows}
    assert "linux.password.storage" in by_id["SO-14-6"]["checks"]
    assert by_id["SO-13-6"]["class"] == "network"


def test_malformed_catalogue_names_file_and_field(tmp_path: Path) -> None:
    from tenken.checks.catalogue import load_catalogue
    from tenken.checks.configfile import ConfigError

    bad = tmp_path / "catalogue.yaml"
    bad.write_text(
        "schema: tenken.catalogue/v1\nsource: {title: x}\nsections:\n  - {number: 1, title_ja: a, title_en: b}\n"
        "clauses:\n  - id: SO-1-1\n    section: 1\n    number: 1\n    class: hostile\n    text_ja: t\n    gloss_en: g\n"
    )
    with pytest.raises(ConfigError) as exc:
        load_catalogue(bad)
    msg = str(exc.value)
    assert f"{bad}:9" in msg and "clauses.0.class" in msg and "\n" not in msg


def test_output_to_a_device_writes_through_it(tmp_path: Path) -> None:
    """`--output /dev/null` must not replace the device with a regular file (atomic rename is for files)."""
    before = os.stat("/dev/null")
    res = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "-f", "json", "-o", "/dev/null")
    assert res.exit_code in (0, 1)
    after = os.stat("/dev/null")
    import stat

    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    out = tmp_path / "r.json"
    run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "-f", "json", "-o", str(out))
    assert json.loads(out.read_text())["schema"] == "tenken.report/v1"
    assert not list(tmp_path.glob(".r.json.*.tmp"))


def test_output_in_a_missing_directory_says_what_to_do(tmp_path: Path) -> None:
    res = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "-f", "json", "-o", str(tmp_path / "nope" / "r.json"))
    assert res.exit_code == 2
    assert f"directory {tmp_path / 'nope'} does not exist" in res.stderr and ".tmp" not in res.stderr


def test_secret_scan_of_nothing_is_not_a_pass(tmp_path: Path) -> None:
    data = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "-f", "json").json()
    assert [f["status"] for f in findings(data, "linux.secrets.plaintext")] == ["not_applicable"]


def test_strong_hash_schemes_policy_is_honoured(tmp_path: Path) -> None:
    """A scheme the site removes from strong_hash_schemes (and does not call weak) is flagged, not silently passed."""
    pol = tmp_path / "p.yaml"
    pol.write_text("passwords:\n  strong_hash_schemes: [sha512, bcrypt]\n")
    res = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "--policy", str(pol), "-f", "json")
    assert [(f["status"], f["subject"]) for f in findings(res.json(), "linux.password.storage")] == [("warn", "alice")]
    res = run_tenken("scan", "local", "--root", str(tiny_root(tmp_path)), "-f", "json")
    assert [f["status"] for f in findings(res.json(), "linux.password.storage")] == ["pass"]


@pytest.mark.parametrize("module", ["tenken", "tenken.agent", "tenken.hub"])
def test_python_dash_m_runs_the_command_line(module: str) -> None:
    """`python -m ...` is how IT staff run tenken where the venv's bin/ is not on PATH (e.g. a Windows task)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Usage" in out.stdout and ("scan" in out.stdout or "serve" in out.stdout)
