"""WinRMTransport in-process against the responder: file/command semantics, the WS-Man retry on
OperationTimeout, and that the password appears nowhere — exceptions, repr, DEBUG logs of pywinrm,
requests, urllib3, requests_ntlm and spnego, evidence and the report."""

from __future__ import annotations

import base64
import logging

import pytest
from tenken.agent.report import TargetKind
from tenken.agent.scan import assemble_report, scan_host
from tenken.checks.policy import load_policy
from tenken.collectors.transport.base import AuthFailed, CommandNotFound, FileMissing, Unsupported
from tenken.collectors.transport.winrm import WinRMTransport
from winrm_fixtures import PASSWORD, USER, pki_fixture, responder_fixture  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

SECRET_FORMS = (PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(), PASSWORD.encode("utf-16-le").hex())


def assert_secret_free(text: str) -> None:
    for s in SECRET_FORMS:
        assert s not in text


def test_files_commands_and_operation_timeout_retry(responder, pki, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    r = responder("compliant", auth="basic")
    with WinRMTransport("127.0.0.1", port=r.port, username=USER, password=PASSWORD, auth="basic", ca_file=str(pki["ca"]),
                        command_timeout=15) as t:
        assert t.target == f"127.0.0.1:{r.port}"
        assert t.read_file(r"C:\Windows\System32\drivers\etc\hosts").startswith(b"# Copyright")
        with pytest.raises(FileMissing):
            t.read_file(r"C:\no\such\file.txt")
        names = t.list_dir(r"D:\Backup\EMR")
        # -Force lists hidden and system entries too (desktop.ini, Thumbs.db): the backup check skips them
        assert len([n for n in names if n.endswith(".vhdx")]) == 7 and "desktop.ini" in names and names == sorted(names)
        st = t.stat(r"D:\Backup\EMR")
        assert st.is_dir and not st.is_file
        with pytest.raises(CommandNotFound):
            t.run(["defrag-nonexistent", "/x"])
        res = t.run(["net", "accounts"])
        assert res.ok and b"Minimum password length" in res.stdout
        bad = t.run_powershell("Get-Nonsense -Now")
        assert bad.exit_code == 1 and b"is not recognized" in bad.stderr and b"CLIXML" not in bad.stderr
        # Get-HotFix is slow on the responder: its first Receive is a WS-Man OperationTimeout fault
        res = t.run_powershell("Get-HotFix | ConvertTo-Json")
        assert res.ok and b"KB5032198" in res.stdout
    events = r.events()
    hotfix_cmd = next(e["command"] for e in events if e["event"] == "command" and e["topic"] == "updates")
    assert [e["event"] for e in events if e.get("command") == hotfix_cmd].count("receive") == 2
    assert [e["event"] for e in events].count("create") == 1 and events[-1]["event"] == "delete"
    assert_secret_free(caplog.text)


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_auth_failure_leaks_nothing(responder, pki, caplog: pytest.LogCaptureFixture, auth: str) -> None:
    caplog.set_level(logging.DEBUG)
    r = responder("compliant", auth=auth)
    t = WinRMTransport("127.0.0.1", port=r.port, username=USER, password=PASSWORD + "-wrong", auth=auth, ca_file=str(pki["ca"]))
    with pytest.raises(AuthFailed) as info:
        t.run(["net", "accounts"])
    # the failure is remembered: no second round of 401s for the same host
    with pytest.raises(AuthFailed):
        t.run_powershell("Get-Date")
    t.close()
    assert "authentication failed" in str(info.value) and USER in str(info.value)
    for text in (str(info.value), repr(t), caplog.text, repr(info.value.__context__)):
        assert_secret_free(text)
        assert PASSWORD + "-wrong" not in text


def test_full_scan_over_http_ntlm_keeps_secrets_out(responder, caplog: pytest.LogCaptureFixture) -> None:
    """The riskiest path for a leak: NTLM handshakes and sealed messages, everything logged at DEBUG."""
    caplog.set_level(logging.DEBUG)
    r = responder("compliant", auth="ntlm", tls=False)
    pol = load_policy()
    with caplog.at_level(logging.WARNING, logger="tenken.collectors.transport.winrm"):
        t = WinRMTransport("127.0.0.1", port=r.port, username=USER, password=PASSWORD, auth="ntlm", use_https=False,
                           command_timeout=15)
    assert any("INSECURE" in rec.getMessage() and rec.levelno == logging.WARNING for rec in caplog.records)
    with t:
        result = scan_host(t, pol, kind=TargetKind.WINRM)
    assert result.ok and result.info.target == f"http://127.0.0.1:{r.port}"
    report = assemble_report([result], policy=pol, scanned_kinds={"host"})
    blob = report.to_json()
    assert "windows.password.quality" in blob
    assert_secret_free(blob)
    assert_secret_free(caplog.text)


def test_configuration_errors_are_unsupported() -> None:
    with pytest.raises(Unsupported, match="unknown WinRM auth"):
        WinRMTransport("h", username="u", password="p", auth="digest")
    with pytest.raises(Unsupported, match="clear text"):
        WinRMTransport("h", port=5985, username="u", password="p", auth="basic", use_https=False)
    with pytest.raises(Unsupported, match="requests-credssp"):
        WinRMTransport("h", username="u", password="p", auth="credssp")


# -- what real hosts send: code pages, UTF-16, slow producers, CLIXML, hangs before any command ----------
def test_cp932_utf16_and_clixml_are_decoded(responder, pki) -> None:
    from tenken.collectors.windows._ps import decode_text
    from tenken.collectors.windows.time import parse_w32tm_status

    r = responder("compliant_ja", auth="basic")
    with WinRMTransport("127.0.0.1", port=r.port, username=USER, password=PASSWORD, auth="basic", ca_file=str(pki["ca"]),
                        command_timeout=15) as t:
        legacy = t.run(["w32tm-legacy", "/query", "/status"])
        assert "最終正常同期時刻".encode("cp932") in legacy.stdout  # really cp932 on the wire
        wide = t.run(["cmd", "/u", "/c", "w32tm", "/query", "/status"])
        from winrm_responder import W32TM_JA_REAL

        assert wide.stdout == W32TM_JA_REAL.encode("utf-16-le")  # really UTF-16LE (no BOM) on the wire
        for res in (legacy, wide):
            st = parse_w32tm_status(decode_text(res.stdout))
            assert st["stratum"] == 3 and st["source"] == "10.30.0.3,8"
        err = t.run_powershell("Write-Error 'x'")
        assert err.exit_code == 1
        assert decode_text(err.stderr) == "アクセスが拒否されました。\r\n発生場所 行:1 文字:1\r\n"


def test_output_split_over_many_receives_is_reassembled(responder, pki) -> None:
    r = responder("compliant_ja", auth="basic", behaviour="split")
    with WinRMTransport("127.0.0.1", port=r.port, username=USER, password=PASSWORD, auth="basic", ca_file=str(pki["ca"]),
                        command_timeout=15) as t:
        res = t.run(["w32tm", "/query", "/status"])
    text = res.stdout.decode("utf-8")  # multi-byte characters cut across Receive boundaries must survive
    assert "最終正常同期時刻" in text and "ntp.nict.jp" in text
    cmd = next(e["command"] for e in r.events() if e["event"] == "command")
    assert [e["event"] for e in r.events() if e.get("command") == cmd].count("receive") > 5


@pytest.mark.parametrize("behaviour", ["hang_auth", "hang_create"])
def test_hang_before_any_command_is_one_host_error_and_the_fleet_goes_on(responder, pki, behaviour: str) -> None:
    hung = responder("compliant", auth="basic", behaviour=behaviour)
    good = responder("compliant", auth="basic")
    pol = load_policy()
    results = []
    for r in (hung, good):  # a fleet of two, scanned one after the other
        with WinRMTransport("127.0.0.1", port=r.port, username=USER, password=PASSWORD, auth="basic", ca_file=str(pki["ca"]),
                            connect_timeout=2, command_timeout=3) as t:
            results.append(scan_host(t, pol, kind=TargetKind.WINRM))
    bad, ok = results
    assert not bad.ok and "stopped answering" in (bad.info.error or "")
    assert ok.ok
    assert any(e["event"] == ("auth_hang" if behaviour == "hang_auth" else "create_hang") for e in hung.events())
    # the hung host was given up after one unanswered request, not once per collector
    assert sum(e["event"] in ("auth_hang", "create_hang") for e in hung.events()) == 1
