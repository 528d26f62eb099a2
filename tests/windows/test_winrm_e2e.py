"""`tenken scan winrm` end to end against the WS-Management responder (a real server on 127.0.0.1).

Each test starts the responder as its own process and runs the CLI as an operator would; assertions are
on the exact findings (check, status, subject, clauses), the exit code, and what never may appear.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from winrm_fixtures import PASSWORD, pki_fixture, responder_fixture, run_tenken, winrm_args  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow


def windows_findings(report: dict) -> set[tuple[str, str, str | None, tuple[str, ...]]]:
    return {(f["check_id"], f["status"], f["subject"], tuple(f["clauses"]))
            for f in report["findings"] if f["check_id"].startswith(("windows.", "target."))}


def assert_no_password(*texts: str) -> None:
    for t in texts:
        assert PASSWORD not in t


BACKUP_POLICY = """\
windows:
  update_search: true
backups:
  locations:
    - {path: 'D:\\Backup\\EMR', expected_generations: 7}
    - {path: '\\\\nas01\\offline-emr', offline: true}
"""

COMPLIANT = {
    ("windows.password.quality", "pass", None, ("SO-14-6", "SO-8-5")),
    ("windows.password.reversible", "pass", None, ("SO-14-6",)),
    ("windows.password.lockout", "pass", None, ("SO-14-6",)),
    ("windows.password.required", "pass", None, ("SO-14-6", "SO-8-5")),
    ("windows.accounts.guest", "pass", None, ("SO-14-7", "SO-8-5")),
    ("windows.accounts.stale", "pass", None, ("SO-14-7",)),
    ("windows.accounts.inventory", "manual", None, ("SO-14-7",)),
    ("windows.patches.age", "pass", None, ("SO-8-3",)),
    ("windows.os.eos", "pass", None, ("SO-8-3", "SO-8-7")),  # Windows Server 2022 Standard (build 20348): until 2031-10-14
    ("windows.patches.pending", "pass", None, ("SO-8-3",)),  # the WSUS search finds nothing missing
    ("windows.antimalware.enabled", "pass", None, ("SO-8-2",)),
    ("windows.antimalware.signatures", "pass", None, ("SO-8-2", "SO-8-3")),
    ("windows.time.sync", "pass", None, ("SO-17-3",)),
    ("windows.bitlocker", "pass", None, ("SO-7-3",)),
    ("windows.firewall", "pass", None, ("SO-7-12", "SO-8-3")),  # clauses shared with Linux (checks/rules/host.py)
    ("windows.usb.storage", "pass", None, ("SO-8-1",)),
    ("windows.screen_lock", "pass", None, ("SO-7-3", "SO-14-2")),  # machine inactivity limit 900 s
    ("windows.smb1", "pass", None, ("SO-8-3",)),
    ("windows.services.ports", "pass", None, ("SO-8-3", "SO-7-6")),
    ("windows.services.unnecessary", "pass", None, ("SO-8-3", "SO-7-6")),  # the same rule as linux.services.unnecessary
    ("windows.services.listeners", "manual", None, ("SO-8-3", "SO-7-6")),
    ("windows.rdp.nla", "pass", None, ("SO-7-12",)),
    ("windows.audit.logon", "pass", None, ("SO-17-1",)),
    ("windows.logs.retention", "pass", "Security", ("SO-17-1",)),
    ("windows.backup.found", "pass", None, ("SO-11-1", "SO-12-4", "SO-18-1")),
    # one verdict per source (checks/rules/backups.py), as on Linux; desktop.ini, Thumbs.db and the job's log
    # beside the seven images are not generations
    ("windows.backup.generations", "pass", "Windows Server Backup", ("SO-11-1", "SO-18-1")),
    ("windows.backup.generations", "pass", "D:\\Backup\\EMR", ("SO-11-1", "SO-18-1")),
    ("windows.backup.freshness", "pass", "Windows Server Backup", ("SO-12-4", "SO-11-1")),
    ("windows.backup.freshness", "pass", "D:\\Backup\\EMR", ("SO-12-4", "SO-11-1")),
    # the offline NAS is disconnected at scan time: its expected state
    ("windows.backup.offline", "pass", "\\\\nas01\\offline-emr", ("SO-11-1", "SO-18-1")),
}


def test_compliant_host_over_https_basic(responder, pki, tmp_path: Path) -> None:
    r = responder("compliant", auth="basic")
    pol = tmp_path / "policy.yaml"
    pol.write_text(BACKUP_POLICY, encoding="utf-8")
    run = run_tenken(*winrm_args(r, "-f", "json", "--policy", str(pol), ca=pki["ca"]))
    assert run.code == 0, run.stderr
    report = run.report()
    assert report["targets"][0]["target"] == f"127.0.0.1:{r.port}"
    assert report["targets"][0]["kind"] == "winrm" and report["targets"][0]["state"] == "scanned"
    # the host's stable identity (MachineGuid) and its FQDN as a domain member, read in one PowerShell call
    assert report["targets"][0]["identity"]["host_id"] == "machine-guid:3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert report["targets"][0]["identity"]["fqdn"].endswith(".hospital.local")
    assert windows_findings(report) == COMPLIANT
    inv = next(f for f in report["findings"] if f["check_id"] == "windows.accounts.inventory")
    assert "tanaka.admin" in inv["detail"]["en"] and "HOSPITAL\\Domain Admins" in inv["detail"]["en"]
    # one shell for the whole scan, deleted at the end; every command's output was collected
    events = r.events()
    assert [e["event"] for e in events].count("create") == 1
    assert events[-1]["event"] == "delete"
    assert not [e for e in events if e["event"] == "command" and e["topic"] is None], "a script the responder did not know"
    assert_no_password(run.stdout, run.stderr)


WEAK = {
    ("windows.password.quality", "fail", None, ("SO-14-6", "SO-8-5")),
    ("windows.password.reversible", "fail", None, ("SO-14-6",)),
    ("windows.password.lockout", "fail", None, ("SO-14-6",)),
    ("windows.password.required", "fail", "Guest", ("SO-14-6", "SO-8-5")),
    ("windows.password.required", "fail", "kiosk", ("SO-14-6", "SO-8-5")),
    ("windows.accounts.guest", "fail", "Guest", ("SO-14-7", "SO-8-5")),
    ("windows.accounts.stale", "warn", "Guest", ("SO-14-7",)),
    ("windows.accounts.stale", "warn", "olduser", ("SO-14-7",)),
    ("windows.accounts.inventory", "manual", None, ("SO-14-7",)),
    ("windows.patches.age", "fail", None, ("SO-8-3",)),
    ("windows.os.eos", "fail", None, ("SO-8-3", "SO-8-7")),  # Windows 10 Pro 22H2: ended 2025-10-14
    ("windows.patches.pending", "not_applicable", None, ("SO-8-3",)),  # the search is off by default
    ("windows.antimalware.enabled", "fail", None, ("SO-8-2",)),
    ("windows.antimalware.signatures", "fail", None, ("SO-8-2", "SO-8-3")),
    ("windows.time.sync", "fail", "source", ("SO-17-3",)),
    ("windows.bitlocker", "fail", "C:", ("SO-7-3",)),
    ("windows.firewall", "fail", "Private", ("SO-7-12", "SO-8-3", "SO-7-4")),  # a laptop: SO-7-4 too
    ("windows.firewall", "fail", "Public", ("SO-7-12", "SO-8-3", "SO-7-4")),
    ("windows.usb.storage", "fail", "USBSTOR", ("SO-8-1",)),
    ("windows.screen_lock", "fail", None, ("SO-7-3", "SO-14-2")),  # screen saver without a password
    ("windows.smb1", "fail", None, ("SO-8-3",)),
    ("windows.services.ports", "fail", "tcp/21/0.0.0.0", ("SO-8-3", "SO-7-6")),  # the same rule as linux.services.ports
    ("windows.services.ports", "fail", "tcp/23/0.0.0.0", ("SO-8-3", "SO-7-6")),
    ("windows.services.ports", "warn", "tcp/111/127.0.0.1", ("SO-8-3", "SO-7-6")),  # loopback only
    ("windows.services.listeners", "manual", None, ("SO-8-3", "SO-7-6")),
    ("windows.services.unnecessary", "fail", "TlntSvr (telnet)", ("SO-8-3", "SO-7-6")),  # Running, Auto
    ("windows.services.unnecessary", "fail", "ftpsvc (ftp)", ("SO-8-3", "SO-7-6")),
    ("windows.services.unnecessary", "warn", "SNMP (snmp)", ("SO-8-3", "SO-7-6")),  # installed, stopped, Manual
    ("windows.rdp.nla", "fail", "RDP:3389", ("SO-7-12",)),
    ("windows.audit.logon", "fail", "Logon", ("SO-17-1",)),
    ("windows.audit.logon", "fail", "Logoff", ("SO-17-1",)),
    ("windows.logs.retention", "warn", "Security", ("SO-17-1",)),
    ("windows.backup.found", "fail", None, ("SO-11-1", "SO-12-4", "SO-18-1")),
    ("windows.backup.generations", "not_applicable", None, ("SO-11-1", "SO-18-1")),
    ("windows.backup.freshness", "not_applicable", None, ("SO-12-4", "SO-11-1")),
    ("windows.backup.offline", "warn", None, ("SO-11-1", "SO-18-1")),
}


def test_weak_host(responder, pki) -> None:
    r = responder("weak", auth="basic")
    run = run_tenken(*winrm_args(r, "-f", "json", ca=pki["ca"]))
    assert run.code == 1, run.stderr
    report = run.report()
    assert windows_findings(report) == WEAK
    by = {(f["check_id"], f["subject"]): f for f in report["findings"]}
    # the laptop's C: fails (portable chassis); the removable E: is not judged
    assert "portable" in by[("windows.bitlocker", "C:")]["detail"]["en"]
    assert "120 days ago" in by[("windows.patches.age", None)]["detail"]["en"] or "118 days ago" in by[("windows.patches.age", None)]["detail"]["en"]
    assert "30.0 days old" in by[("windows.antimalware.signatures", None)]["detail"]["en"]
    # every human text is bilingual
    for f in report["findings"]:
        assert f["title"]["ja"] and f["detail"]["ja"] and f["remediation"]["ja"]
    assert_no_password(run.stdout, run.stderr)


def test_japanese_host_over_https_ntlm(responder, pki, tmp_path: Path) -> None:
    """Japanese-locale text (net accounts, w32tm, auditpol, wbadmin), ISO dates, NTLM with channel binding."""
    r = responder("compliant_ja", auth="ntlm")
    pol = tmp_path / "policy.yaml"
    pol.write_text(BACKUP_POLICY, encoding="utf-8")
    run = run_tenken(*winrm_args(r, "-f", "json", "--policy", str(pol), "--lang", "ja", ca=pki["ca"], auth="ntlm"))
    assert run.code == 0, run.stderr
    report = run.report()
    assert windows_findings(report) == COMPLIANT
    inv = next(f for f in report["findings"] if f["check_id"] == "windows.accounts.inventory")
    assert "山田管理者" in inv["detail"]["ja"]
    facts = {e["collector"]: e["facts"] for e in report["evidence"]}
    assert facts["windows.time"]["source"] == "ntp.nict.jp" and facts["windows.time"]["stratum"] == 2
    assert facts["windows.password_policy"]["min_length"] == 14
    assert len(facts["windows.backups"]["wbadmin_versions"]) == 7
    assert facts["windows.auditpol"]["subcategories"]["{0CCE9215-69AE-11D9-BED3-505054503030}"]["failure"] is True
    assert facts["windows.auditpol"]["source"] == "auditpol /backup (Setting Value)"
    # JST wall time from w32tm converted with the host's +540 min offset: the sync was ~20 min ago, not 9 h ahead
    from datetime import UTC, datetime
    last = datetime.fromisoformat(facts["windows.time"]["last_sync"])
    assert facts["windows.time"]["utc_offset_minutes"] == 540 and facts["windows.time"]["last_sync_is_utc"] is True
    assert 0 < (datetime.now(UTC) - last).total_seconds() < 3600
    events = r.events()
    assert any(e["event"] == "auth" and e["ok"] and e["scheme"].lower() in ("negotiate", "ntlm") for e in events)
    assert_no_password(run.stdout, run.stderr)


def test_wrong_password_is_one_host_error_exit_3(responder, pki) -> None:
    r = responder("compliant", auth="basic")
    run = run_tenken(*winrm_args(r, "-f", "json", ca=pki["ca"]), env_extra={"WINRM_PW": "not-the-password"})
    assert run.code == 3, run.stderr
    report = run.report()
    assert windows_findings(report) == {("target.reachable", "error", None, ("SO-8-3", "SO-14-6"))}
    assert report["targets"][0]["state"] == "error"
    assert "authentication failed" in report["targets"][0]["error"]
    assert [e["event"] for e in r.events()].count("command") == 0
    assert "not-the-password" not in run.stdout + run.stderr


def test_wrong_password_ntlm(responder, pki) -> None:
    r = responder("compliant", auth="ntlm")
    run = run_tenken(*winrm_args(r, "-f", "json", ca=pki["ca"], auth="ntlm"), env_extra={"WINRM_PW": "wrong-ntlm-pw"})
    assert run.code == 3, run.stderr
    assert "authentication failed" in run.report()["targets"][0]["error"]
    assert any(e["event"] == "auth" and not e["ok"] for e in r.events())
    assert "wrong-ntlm-pw" not in run.stdout + run.stderr


def test_hung_service_ends_the_host_scan(responder, pki) -> None:
    r = responder("compliant", behaviour="hang")
    run = run_tenken(*winrm_args(r, "-f", "json", "--timeout", "2", ca=pki["ca"]), timeout=120)
    assert run.code == 3, run.stderr
    report = run.report()
    assert windows_findings(report) == {("target.reachable", "error", None, ("SO-8-3", "SO-14-6"))}
    assert "stopped answering" in report["targets"][0]["error"]
    # the scan gave up after the first unanswered Receive instead of waiting once per collector
    assert [e["event"] for e in r.events()].count("receive") == 1


def test_untrusted_certificate_without_ca_file(responder) -> None:
    r = responder("compliant")
    run = run_tenken(*winrm_args(r, "-f", "json"))
    assert run.code == 3, run.stderr
    err = run.report()["targets"][0]["error"]
    assert "certificate verify failed" in err and "--ca-file" in err
    assert [e["event"] for e in r.events()] == [], "nothing may be sent to a server that failed verification"


def test_insecure_http_with_ntlm_encryption_warns_and_marks_target(responder) -> None:
    r = responder("compliant", auth="ntlm", tls=False)
    run = run_tenken(*winrm_args(r, "-f", "json", "--insecure-http", auth="ntlm"))
    assert run.code in (0, 1), run.stderr
    assert "WARNING" in run.stderr and "INSECURE" in run.stderr and "plain HTTP" in run.stderr
    report = run.report()
    assert report["targets"][0]["target"] == f"http://127.0.0.1:{r.port}"
    assert ("windows.password.quality", "pass", None, ("SO-14-6", "SO-8-5")) in windows_findings(report)
    events = r.events()
    assert not [e for e in events if e["event"] == "refused_unencrypted"], "every message must be NTLM-sealed over HTTP"
    # the scripts travel as the stdin of one batch command (collectors/transport/winrm_batch.py), sealed too
    assert "send" in [e["event"] for e in events] and [e["event"] for e in events].count("batch_job") > 10
    assert_no_password(run.stdout, run.stderr)


def test_basic_over_plain_http_is_refused() -> None:
    run = run_tenken("scan", "winrm", "127.0.0.1", "--user", "u", "--credential", "env:WINRM_PW", "--auth", "basic", "--insecure-http")
    assert run.code == 2
    assert "clear text" in run.stderr
    assert_no_password(run.stdout, run.stderr)


def test_kerberos_without_its_package_is_a_clear_usage_error() -> None:
    run = run_tenken("scan", "winrm", "srv.example", "--user", "u@EXAMPLE", "--credential", "env:WINRM_PW", "--auth", "kerberos")
    assert run.code == 2
    assert "pykerberos" in run.stderr


def test_password_is_never_a_flag_and_must_resolve() -> None:
    run = run_tenken("scan", "winrm", "127.0.0.1", "--user", "u", "--credential", PASSWORD)
    assert run.code == 2
    assert "env:VARNAME" in run.stderr
    assert_no_password(run.stdout, run.stderr)
    run = run_tenken("scan", "winrm", "127.0.0.1", "--user", "u", "--credential", "env:TENKEN_UNSET_VAR_X")
    assert run.code == 2 and "TENKEN_UNSET_VAR_X" in run.stderr


def test_connection_refused(pki) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    run = run_tenken("scan", "winrm", "127.0.0.1", "--port", str(port), "--user", "u", "--credential", "env:WINRM_PW",
                     "--ca-file", str(pki["ca"]), "-f", "json")
    assert run.code == 3
    assert "connection refused" in run.report()["targets"][0]["error"]
