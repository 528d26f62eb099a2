"""The hub's own endpoint passes tenken's TLS audit: TLS 1.3 only, client certificates required."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "hub"))

from hub_harness import start_hub  # noqa: E402

TENKEN = str(Path(sys.executable).with_name("tenken"))


def test_hub_endpoint_has_no_tls_failure(tmp_path: Path) -> None:
    hub = start_hub(tmp_path / "hubdata")
    try:
        admin = hub.data / "clients" / "admin"
        proc = subprocess.run(
            [TENKEN, "scan", "tls", f"127.0.0.1:{hub.port}", "--ca-file", str(hub.ca),
             "--client-cert", str(admin / "client.pem"), "--client-key", str(admin / "client.key"), "-f", "json"],
            capture_output=True, text=True, timeout=180,
        )
    finally:
        hub.stop()
    report = json.loads(proc.stdout)
    tls = [f for f in report["findings"] if f["target"] == f"127.0.0.1:{hub.port}"]
    assert tls, proc.stderr
    bad = [(f["check_id"], f["subject"], f["status"], f["detail"]["en"]) for f in tls if f["status"] in ("fail", "error")]
    assert not bad, bad
    assert proc.returncode == 0
    by_check = {f["check_id"]: f for f in tls}
    # TLS 1.3 offered, client certificate required: the SO-13-6 / SO-13-12 findings pass
    assert any(f["status"] == "pass" and "SO-13-6" in f["clauses"] for f in tls)
    assert any(f["status"] == "pass" and "SO-13-12" in f["clauses"] for f in tls)
    assert str(admin / "client.key") not in proc.stdout
    assert by_check, "findings are keyed by check"


def test_hub_without_a_client_certificate_reads_as_certificate_required(tmp_path: Path) -> None:
    """uvicorn drops certificate-less TLS 1.3 connections without an alert. Scanned without a client
    certificate, that is the compliant "client certificate required" case, not an error for the whole target:
    the versions that a single handshake can tell are judged, everything needing a session is not_applicable."""
    hub = start_hub(tmp_path / "hubdata")
    try:
        proc = subprocess.run([TENKEN, "scan", "tls", f"127.0.0.1:{hub.port}", "--ca-file", str(hub.ca), "-f", "json"],
                              capture_output=True, text=True, timeout=180)
    finally:
        hub.stop()
    report = json.loads(proc.stdout)
    tls = [f for f in report["findings"] if f["target"] == f"127.0.0.1:{hub.port}"]
    assert tls, proc.stderr
    assert report["targets"][0]["state"] == "scanned"
    assert not [(f["check_id"], f["subject"], f["detail"]["en"]) for f in tls if f["status"] in ("fail", "error")]
    assert proc.returncode == 0, proc.stderr
    client = [f for f in tls if f["check_id"].startswith("tls.client_auth")]
    assert client and all(f["status"] == "pass" for f in client), client
    versions = {f["subject"]: f["status"] for f in tls if f["check_id"] == "tls.protocol.versions"}
    assert versions.get("TLSv1.3") == "pass", versions  # offered (the handshake completed), old versions refused
    suites = [f for f in tls if f["check_id"] == "tls.cipher_suites"]
    assert suites and all(f["status"] == "not_applicable" and "client certificate" in f["title"]["en"] for f in suites)
