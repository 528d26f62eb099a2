"""TLS audit against real servers on 127.0.0.1 (nginx, threaded OpenSSL servers, an SMTP STARTTLS server).

One module-scoped lab starts every server, and one concurrent `scan_tls` call scans them all (as a fleet
scan would); each test then asserts the exact findings for its endpoint.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from tenken.agent.scan import TargetResult
from tenken.agent.tls_scan import scan_tls
from tenken.checks.finding import Status
from tenken.checks.policy import Policy, Tls12Exception, TlsPolicy, load_policy
from tenken.checks.registry import run_checks
from tenken.checks.tls.common import TLS, TLS_OS
from tenken.collectors.tls.facts import HttpOutcome, TlsFacts, TlsVersion
from tenken.collectors.tls.spec import StartTls, TlsEndpoint, Zone
from tenken.collectors.tls.spec import Tls12Exception as Tls12EndpointException
from tls_servers import (
    Nginx,
    NginxSite,
    OpenSslServer,
    PlainTcpServer,
    PyTlsServer,
    free_port,
    make_pki,
    running,
)

pytestmark = pytest.mark.slow

TENKEN = str(Path(sys.executable).with_name("tenken"))
CERT = ("tls.certificate.key", "tls.certificate.signature", "tls.certificate.validity", "tls.certificate.hostname", "tls.certificate.chain")
CERT_CLAUSES = {
    "tls.certificate.key": ["SO-13-6", "SO-13-9"],
    "tls.certificate.signature": ["SO-13-6", "SO-13-9"],
    "tls.certificate.validity": ["SO-13-9", "SO-13-12"],
    "tls.certificate.hostname": ["SO-13-9", "SO-13-12"],
    "tls.certificate.chain": ["SO-13-9", "SO-13-12"],
}


@dataclass
class Lab:
    dir: Path
    ca: Path
    client_cert: Path
    client_key: Path
    ports: dict[str, int]
    results: dict[str, TargetResult]
    endpoints: dict[str, TlsEndpoint]


def _findings(r: TargetResult) -> set[tuple[str, str | None, str, tuple[str, ...]]]:
    return {(f.check_id, f.subject, f.status.value, tuple(f.clauses)) for f in r.findings}


def _status(r: TargetResult, check_id: str, subject: str | None = None) -> set[str]:
    return {f.status.value for f in r.findings if f.check_id == check_id and (subject is None or f.subject == subject)}


def _fails(r: TargetResult) -> set[tuple[str, str | None]]:
    return {(f.check_id, f.subject) for f in r.findings if f.status is Status.FAIL}


def _compliant_cert_findings() -> set[tuple[str, str | None, str, tuple[str, ...]]]:
    return {(c, None, "pass", tuple(CERT_CLAUSES[c])) for c in CERT}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("tlslab")
    pki = make_pki(d / "pki")
    cert, key = pki.issue("server")
    weak, weak_key = pki.issue("rsa1024", key_size=1024)
    expired, expired_key = pki.issue("expired", days=-1, not_before_days=-60)
    soon, soon_key = pki.issue("soon", days=10)
    client_cert, client_key = pki.issue("client", client=True, hostnames=())
    names = ["tls13_plain", "nginx_verify", "tls12_high", "tls12_cbc_rsa", "tls10", "rsa1024", "expired", "soon", "tls12_only_mtls"]
    ports = {n: free_port() for n in names}
    sites = [
        NginxSite(ports["tls13_plain"], cert, key),
        NginxSite(ports["nginx_verify"], cert, key, verify_client="on", client_ca=pki.ca_cert),
        NginxSite(ports["tls12_high"], cert, key, protocols="TLSv1.2 TLSv1.3", verify_client="on", client_ca=pki.ca_cert),
        # CBC and static-RSA key exchange beside good suites
        NginxSite(ports["tls12_cbc_rsa"], cert, key, protocols="TLSv1.2 TLSv1.3",
                  ciphers="ECDHE+AESGCM:ECDHE-RSA-AES128-SHA256:AES128-GCM-SHA256"),
        # OpenSSL 3 refuses TLS 1.0 at security level 1+: the legacy set-up needs @SECLEVEL=0
        NginxSite(ports["tls10"], cert, key, protocols="TLSv1 TLSv1.2 TLSv1.3", ciphers="ECDHE+AESGCM:ECDHE-RSA-AES128-SHA:@SECLEVEL=0"),
        NginxSite(ports["rsa1024"], weak, weak_key, ciphers="DEFAULT:@SECLEVEL=0"),
        NginxSite(ports["expired"], expired, expired_key),
        NginxSite(ports["soon"], soon, soon_key),
        # a modality that cannot do TLS 1.3: TLS 1.2 only, 高セキュリティ型 suites, client certificates required
        NginxSite(ports["tls12_only_mtls"], cert, key, protocols="TLSv1.2", verify_client="on", client_ca=pki.ca_cert,
                  ciphers="ECDHE+AESGCM:ECDHE+CHACHA20"),
    ]
    nginx = Nginx(d / "nginx", sites)
    # TLS 1.3 only, client certificate required inside the handshake: the compliant case
    mtls13 = PyTlsServer(cert, key, client_ca=pki.ca_cert)
    # TLS 1.2 + 1.3, certificate required: renegotiation needs a completed TLS 1.2 handshake
    mtls12 = PyTlsServer(cert, key, client_ca=pki.ca_cert, min_version="1.2")
    smtp = PyTlsServer(cert, key, min_version="1.2", smtp=True)
    plain = PlainTcpServer()
    # an embedded TLS stack: TLS 1.3 with TLS_AES_128_CCM_8_SHA256 only, a suite sslyze's hello never offers
    ccm8 = OpenSslServer(cert, key, ciphersuites="TLS_AES_128_CCM_8_SHA256")
    with running(nginx, mtls13, mtls12, smtp, plain, ccm8):
        ports |= {"mtls13": mtls13.port, "mtls12": mtls12.port, "smtp": smtp.port, "plain_tcp": plain.port, "closed_port": free_port(),
                  "ccm8_only": ccm8.port}
        base = {"host": "127.0.0.1", "server_name": "localhost", "ca_file": str(pki.ca_cert)}
        eps = {n: TlsEndpoint(port=p, **base) for n, p in ports.items()}
        eps["smtp"] = TlsEndpoint(port=ports["smtp"], starttls=StartTls.SMTP, **base)
        eps["tls13_plain_closed"] = TlsEndpoint(port=ports["tls13_plain"], zone=Zone.CLOSED, **base)
        eps["mtls12_with_cert"] = TlsEndpoint(port=ports["mtls12"], client_cert=str(client_cert), client_key=str(client_key), **base)
        eps["wrong_name"] = TlsEndpoint(host="127.0.0.1", port=ports["tls13_plain"], server_name="emr.hospital.example", ca_file=str(pki.ca_cert))
        eps["no_ca_file"] = TlsEndpoint(host="127.0.0.1", port=ports["tls13_plain"], server_name="localhost")
        today = date.today()
        eps["tls12_only_excepted"] = TlsEndpoint(port=ports["tls12_only_mtls"], tls12_exception=Tls12EndpointException(
            reason="CT 装置のファームウェアが TLS 1.3 非対応（2027 年更新予定）", approver="医療情報システム安全管理責任者",
            expires=today + timedelta(days=180)), **base)
        eps["tls12_only_lapsed"] = TlsEndpoint(port=ports["tls12_only_mtls"], tls12_exception=Tls12EndpointException(
            reason="CT 装置のファームウェアが TLS 1.3 非対応", approver="医療情報システム安全管理責任者",
            expires=today - timedelta(days=1)), **base)
        order = list(eps)
        results = scan_tls([eps[n] for n in order], load_policy())
        yield Lab(d, pki.ca_cert, client_cert, client_key, ports, dict(zip(order, results, strict=True)), eps)


def test_results_come_back_in_input_order_with_host_port_targets(lab: Lab) -> None:
    for name, r in lab.results.items():
        assert r.info.target == f"127.0.0.1:{lab.endpoints[name].port}"
        assert r.info.kind.value == "tls"


def test_tls13_only_with_required_client_certificates_is_clean(lab: Lab) -> None:
    r = lab.results["mtls13"]
    assert r.ok
    found = _findings(r)
    expected = _compliant_cert_findings() | {
        ("tls.client_auth", None, "pass", ("SO-13-6", "SO-13-12")),
        ("tls.protocol.versions", "TLSv1.3", "pass", ("SO-13-6", "SO-13-10")),
        ("tls.cipher_suites", "TLSv1.3", "pass", ("SO-13-6", "SO-13-8", "SO-13-10")),
        ("tls.key_exchange", None, "pass", ("SO-13-6", "SO-13-10")),
        ("tls.weaknesses", None, "pass", ("SO-13-8", "SO-13-9", "SO-13-10")),
    }
    pref = {f for f in found if f[0] == "tls.server_preference"}
    assert found - pref == expected
    # the client's order decides nothing bad: every TLS 1.3 suite the server accepts is allowed, so no warning
    assert {f[2] for f in pref} <= {"pass"}
    facts = r.facts[TLS]
    assert isinstance(facts, TlsFacts)
    assert facts.client_auth is not None and facts.client_auth.tls_layer.value == "required"
    assert [v for v, s in facts.versions.items() if s.offered] == [TlsVersion.TLS13]
    assert all(s.key_exchange and s.key_exchange.group == "X25519" for s in facts.versions[TlsVersion.TLS13].suites)


def test_tls13_without_client_certificates_fails_in_open_zone_only(lab: Lab) -> None:
    open_r, closed_r = lab.results["tls13_plain"], lab.results["tls13_plain_closed"]
    assert _fails(open_r) == {("tls.client_auth", None)}
    [f] = [f for f in open_r.findings if f.check_id == "tls.client_auth"]
    assert f.clauses == ["SO-13-6", "SO-13-12"]
    assert "SO-13-6" in f.detail.ja and f.title.ja  # bilingual, Japanese first
    assert _fails(closed_r) == set()
    [c] = [f for f in closed_r.findings if f.check_id == "tls.client_auth"]
    assert (c.status, c.kind.value) == (Status.MANUAL, "prompt")


def test_tls12_and_13_high_security_with_client_certs_warns_only(lab: Lab) -> None:
    r = lab.results["tls12_high"]
    assert _fails(r) == set()
    assert ("tls.protocol.versions", "TLSv1.2", "warn", ("SO-13-6",)) in _findings(r)
    assert ("tls.cipher_suites", "TLSv1.2", "pass", ("SO-13-6", "SO-13-8", "SO-13-10")) in _findings(r)
    assert _status(r, "tls.client_auth") == {"pass"}
    facts = r.facts[TLS]
    assert isinstance(facts, TlsFacts)
    tls12 = {s.name for s in facts.versions[TlsVersion.TLS12].suites}
    assert tls12 and tls12 <= set(Policy().tls.tls12_suites)


def test_documented_tls12_exception_turns_the_warning_into_a_pass(lab: Lab) -> None:
    r = lab.results["tls12_high"]
    target = r.info.target
    exc = Tls12Exception(targets=[target], justification="検査装置ベンダーが TLS 1.3 に未対応（2027 年更新予定）", approver="安全管理責任者")
    policy = Policy(tls=TlsPolicy(tls12_exceptions=[exc]))
    findings = run_checks(os=TLS_OS, target=target, facts=r.facts, evidence_ids={TLS: r.evidence[0].id}, evidence_errors={},
                          policy=policy, only=["tls.protocol.versions"])
    [f12] = [f for f in findings if f.subject == "TLSv1.2"]
    assert f12.status is Status.PASS and "2027" in f12.detail.ja
    other = Policy(tls=TlsPolicy(tls12_exceptions=[exc.model_copy(update={"targets": ["pacs:443"]})]))
    findings = run_checks(os=TLS_OS, target=target, facts=r.facts, evidence_ids={TLS: r.evidence[0].id}, evidence_errors={}, policy=other,
                          only=["tls.protocol.versions"])
    assert {f.status for f in findings if f.subject == "TLSv1.2"} == {Status.WARN}


def test_tls12_with_cbc_or_rsa_key_exchange_fails(lab: Lab) -> None:
    r = lab.results["tls12_cbc_rsa"]
    [f] = [f for f in r.findings if f.check_id == "tls.cipher_suites" and f.subject == "TLSv1.2"]
    assert (f.status, f.clauses) == (Status.FAIL, ["SO-13-6", "SO-13-8", "SO-13-10"])
    assert "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256" in f.detail.en and "not AEAD" in f.detail.en
    assert "TLS_RSA_WITH_AES_128_GCM_SHA256" in f.detail.en and "no forward secrecy" in f.detail.en
    assert "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 " not in f.detail.en  # a listed suite is not blamed
    assert _status(r, "tls.cipher_suites", "TLSv1.3") == {"pass"}


def test_tls10_enabled_fails(lab: Lab) -> None:
    r = lab.results["tls10"]
    assert ("tls.protocol.versions", "TLSv1.0", "fail", ("SO-13-6", "SO-13-10")) in _findings(r)
    assert _status(r, "tls.protocol.versions", "TLSv1.1") == set()  # not offered: no finding, not an error
    assert ("tls.protocol.versions", "TLSv1.0") in _fails(r)


def test_rsa1024_certificate_fails(lab: Lab) -> None:
    r = lab.results["rsa1024"]
    assert ("tls.certificate.key", None, "fail", ("SO-13-6", "SO-13-9")) in _findings(r)
    facts = r.facts[TLS]
    assert isinstance(facts, TlsFacts) and facts.certificate and facts.certificate.key_bits == 1024


def test_expired_certificate_fails_and_expiring_soon_warns(lab: Lab) -> None:
    r = lab.results["expired"]
    assert ("tls.certificate.validity", None, "fail", ("SO-13-9", "SO-13-12")) in _findings(r)
    assert _status(r, "tls.certificate.chain") == {"fail"}  # the verifier refuses it too
    soon = lab.results["soon"]
    assert _status(soon, "tls.certificate.validity") == {"warn"}
    assert _status(soon, "tls.certificate.chain") == {"pass"}


def test_hostname_mismatch_and_unknown_private_ca_fail(lab: Lab) -> None:
    wrong = lab.results["wrong_name"]
    assert _status(wrong, "tls.certificate.hostname") == {"fail"}
    no_ca = lab.results["no_ca_file"]
    assert _status(no_ca, "tls.certificate.chain") == {"fail"}
    [f] = [f for f in no_ca.findings if f.check_id == "tls.certificate.chain"]
    assert "--ca-file" in f.remediation.en


def test_plain_tcp_and_closed_port_are_errors(lab: Lab) -> None:
    for name in ("plain_tcp", "closed_port"):
        r = lab.results[name]
        assert not r.ok and r.info.state.value == "error"
        assert [(f.check_id, f.status.value, f.clauses) for f in r.findings] == [
            ("tls.endpoint.reachable", "error", ["SO-13-6", "SO-13-9", "SO-13-10"])]
        assert r.evidence == []
    assert "refused" in (lab.results["closed_port"].info.error or "").lower()
    assert "not a TLS service" in (lab.results["plain_tcp"].info.error or "")


def test_starttls_smtp_endpoint_is_audited(lab: Lab) -> None:
    r = lab.results["smtp"]
    assert r.ok, r.info.error
    facts = r.facts[TLS]
    assert isinstance(facts, TlsFacts) and facts.starttls == "smtp"
    assert facts.versions[TlsVersion.TLS13].offered and facts.versions[TlsVersion.TLS12].offered
    assert ("tls.protocol.versions", "TLSv1.2", "warn", ("SO-13-6",)) in _findings(r)
    assert _status(r, "tls.cipher_suites", "TLSv1.2") == {"pass"}
    assert facts.client_auth is not None and facts.client_auth.http is None  # no HTTP probe over SMTP
    assert _status(r, "tls.client_auth") == {"fail"}


def test_nginx_verify_client_on_is_required_at_http_layer(lab: Lab) -> None:
    r = lab.results["nginx_verify"]
    facts = r.facts[TLS]
    assert isinstance(facts, TlsFacts) and facts.client_auth is not None
    assert facts.client_auth.tls_layer.value == "optional"  # what sslyze sees: the handshake completes
    assert facts.client_auth.http is not None and facts.client_auth.http.outcome is HttpOutcome.REFUSED
    assert facts.client_auth.http.status_code == 400
    [f] = [f for f in r.findings if f.check_id == "tls.client_auth"]
    assert f.status is Status.PASS and "HTTP" in f.title.en
    assert _fails(r) == set()


def test_required_client_cert_without_one_marks_handshake_probes_not_applicable(lab: Lab) -> None:
    r = lab.results["mtls12"]
    na = {(f.subject, f.status.value) for f in r.findings if f.check_id == "tls.weaknesses" and f.status is Status.NOT_APPLICABLE}
    assert na == {("insecure_renegotiation", "not_applicable"), ("client_renegotiation", "not_applicable")}
    assert all("client certificate" in f.title.en for f in r.findings if f.status is Status.NOT_APPLICABLE)
    assert not any(f.status is Status.ERROR for f in r.findings)
    assert _status(r, "tls.client_auth") == {"pass"}


def test_with_client_cert_the_handshake_probes_run(lab: Lab) -> None:
    r = lab.results["mtls12_with_cert"]
    facts = r.facts[TLS]
    assert isinstance(facts, TlsFacts)
    assert facts.client_certificate_used and facts.needs_client_certificate == []
    assert facts.weaknesses["insecure_renegotiation"] is False
    assert {f.status for f in r.findings if f.check_id == "tls.weaknesses"} == {Status.PASS}
    # the requirement is still judged without the certificate
    assert facts.client_auth is not None and facts.client_auth.tls_layer.value == "required"


def test_client_key_never_reaches_the_evidence(lab: Lab) -> None:
    r = lab.results["mtls12_with_cert"]
    dump = json.dumps([e.model_dump(mode="json") for e in r.evidence])
    key_body = "".join(lab.client_key.read_text().splitlines()[1:-1])
    for chunk in (key_body[i:i + 40] for i in range(0, len(key_body) - 40, 40)):
        assert chunk not in dump
    assert str(lab.client_key) not in dump
    assert "PRIVATE KEY" not in dump


def test_hanging_endpoint_errors_within_its_deadline_and_others_go_on(lab: Lab) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts at kernel level, never answers a ClientHello
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    try:
        hang = TlsEndpoint(host="127.0.0.1", port=listener.getsockname()[1], timeout=3)
        good = TlsEndpoint(host="127.0.0.1", port=lab.ports["mtls13"], server_name="localhost", ca_file=str(lab.ca), timeout=3)
        hung, ok = scan_tls([hang, good], load_policy())
    finally:
        stop.set()
        t.join(2)
        for s in held:
            s.close()
        listener.close()
    assert hung.info.state.value == "error" and [f.status for f in hung.findings] == [Status.ERROR]
    assert "no TLS answer" in (hung.info.error or "")
    assert ok.ok


def test_cli_scan_tls_json_report_and_exit_codes(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [TENKEN, "scan", "tls", f"127.0.0.1:{lab.ports['nginx_verify']}", f"127.0.0.1:{lab.ports['closed_port']}",
         "--sni", "localhost", "--ca-file", str(lab.ca), "--format", "json", "-o", str(out), "--timeout", "8"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 3, proc.stderr  # one endpoint could not be scanned: the audit is incomplete
    report = json.loads(out.read_text())
    targets = {t["target"]: t["state"] for t in report["targets"]}
    assert targets == {f"127.0.0.1:{lab.ports['nginx_verify']}": "scanned", f"127.0.0.1:{lab.ports['closed_port']}": "error"}
    ev = [e for e in report["evidence"] if e["collector"] == "tls.endpoint"]
    assert len(ev) == 1 and "TLSv1.3: offered" in ev[0]["raw"]
    by_check = {(f["check_id"], f["subject"]): f["status"] for f in report["findings"] if f["target"].endswith(str(lab.ports["nginx_verify"]))}
    assert by_check[("tls.client_auth", None)] == "pass"
    assert "fail" not in by_check.values()
    # network clauses this scan did not cover read as manual, not as compliant
    assert any(f["check_id"] == "clause.SO-13-13" and f["status"] == "manual" for f in report["findings"])


def test_cli_usage_errors(tmp_path: Path) -> None:
    proc = subprocess.run([TENKEN, "scan", "tls", "127.0.0.1:443", "--client-cert", str(tmp_path / "c.pem")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--client-key" in proc.stderr
    proc = subprocess.run([TENKEN, "scan", "tls", "127.0.0.1:99999"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "port" in proc.stderr


def test_tls12_only_with_high_security_suites_and_client_certs_warns_or_passes_with_exception(lab: Lab) -> None:
    """SO-13-6's proviso: TLS 1.2 where 1.3 is hard, with 高セキュリティ型 settings. Not a fail: warn without a
    documented exception, pass with one; an expired exception is ignored."""
    def versions(name: str) -> dict[str | None, str]:
        r = lab.results[name]
        assert r.ok, r.info.error
        return {f.subject: f.status.value for f in r.findings if f.check_id == "tls.protocol.versions"}

    assert versions("tls12_only_mtls") == {"TLSv1.2": "warn", "TLSv1.3": "warn"}
    assert versions("tls12_only_excepted") == {"TLSv1.2": "pass", "TLSv1.3": "pass"}
    assert versions("tls12_only_lapsed") == {"TLSv1.2": "warn", "TLSv1.3": "warn"}
    for name in ("tls12_only_mtls", "tls12_only_excepted", "tls12_only_lapsed"):
        assert not _fails(lab.results[name]), (name, _fails(lab.results[name]))
    [lapsed] = [f for f in lab.results["tls12_only_lapsed"].findings if f.subject == "TLSv1.3" and f.check_id == "tls.protocol.versions"]
    assert "expired on" in lapsed.detail.en
    [ok] = [f for f in lab.results["tls12_only_excepted"].findings if f.subject == "TLSv1.2" and f.check_id == "tls.protocol.versions"]
    assert "CT 装置" in ok.detail.ja and "医療情報システム安全管理責任者" in ok.detail.ja


def test_tls12_only_with_weak_suites_still_fails(lab: Lab) -> None:
    """The proviso needs 高セキュリティ型 settings: TLS 1.3 missing with CBC suites is a fail as before."""
    r = lab.results["tls12_cbc_rsa"]  # offers 1.3 too: the 1.3 finding must stay a pass there
    assert _status(r, "tls.protocol.versions", "TLSv1.3") == {"pass"}


def test_hostname_mismatch_is_not_also_an_untrusted_chain(lab: Lab) -> None:
    wrong = lab.results["wrong_name"]
    assert _status(wrong, "tls.certificate.hostname") == {"fail"}
    assert _status(wrong, "tls.certificate.chain") == {"pass"}  # the hospital CA does vouch for the chain


def test_tls13_ccm8_only_endpoint_is_scanned_not_an_error(lab: Lab) -> None:
    """sslyze never offers TLS_AES_128_CCM_8_SHA256, so this endpoint used to be 'could not be scanned'; openssl
    s_client probes it: TLS 1.3 offered with an allowed suite, nothing older (SSLv2 by a raw hello), groups and the
    chain judged, the TLS-1.2-and-older weaknesses not applicable with the reason."""
    r = lab.results["ccm8_only"]
    assert r.ok, r.info.error
    assert _status(r, "tls.protocol.versions") == {"pass"}
    assert _status(r, "tls.cipher_suites", "TLSv1.3") == {"pass"}
    assert _status(r, "tls.key_exchange") == {"pass"}
    for c in CERT:
        assert _status(r, c) == {"pass"}, c
    assert _status(r, "tls.weaknesses") == {"not_applicable"}
    assert _status(r, "tls.client_auth") == {"fail"}  # open zone, no client certificate asked for: as for tls13_plain
    assert not {f.check_id for f in r.findings if f.status is Status.ERROR}
    facts = r.facts[TLS]
    assert isinstance(facts, TlsFacts)
    [suite] = facts.versions[TlsVersion.TLS13].suites
    assert suite.name == "TLS_AES_128_CCM_8_SHA256" and suite.key_exchange is not None and suite.key_exchange.group == "X25519"
    assert facts.versions[TlsVersion.SSL2].offered is False and facts.versions[TlsVersion.TLS12].offered is False
    assert set(facts.supported_groups or []) == {"X25519", "X448", "secp256r1", "secp384r1", "secp521r1"}
    assert "openssl s_client" in facts.scanner


def test_slow_one_connection_at_a_time_device_is_retried_serially(tmp_path: Path) -> None:
    """A device that serves one connection at a time and thinks 0.3 s before each handshake needs more
    connections than fit in the default 12 s deadline (a scan makes dozens): it used to be 'no scan result
    within the deadline'. The retry, one connection at a time with six times the budget, scans it fully."""
    from tls_servers import PyTlsServer as Server

    pki = make_pki(tmp_path / "pki")
    cert, key = pki.issue("ups-card")
    device = Server(cert, key, serial_delay=0.3)
    with running(device):
        [r] = scan_tls([TlsEndpoint(host="127.0.0.1", port=device.port, server_name="localhost", ca_file=str(pki.ca_cert))], load_policy())
    assert r.ok, r.info.error
    assert not [f.check_id for f in r.findings if f.status is Status.ERROR]
    assert _status(r, "tls.protocol.versions") == {"pass"} and _status(r, "tls.certificate.chain") == {"pass"}
    raw = r.evidence[0].raw or ""
    assert "retried one connection at a time with a 60s budget" in raw and "the retry's result is used" in raw
