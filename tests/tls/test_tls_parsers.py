"""Pure parts of the TLS audit: total on arbitrary input (hypothesis), and right on the cases that matter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tenken.agent.cli_tls import parse_target
from tenken.checks.policy import Policy
from tenken.checks.tls.rules import suite_rule_violations
from tenken.collectors.tls.certs import dns_name_matches, hostname_matches
from tenken.collectors.tls.facts import HttpOutcome, HttpProbe
from tenken.collectors.tls.http_probe import classify_http_response


@given(st.binary(max_size=2000))
def test_classify_http_response_is_total(data: bytes) -> None:
    assert isinstance(classify_http_response(data), HttpProbe)


@given(st.text(max_size=200), st.booleans())
def test_suite_rule_is_total(name: str, tls13: bool) -> None:
    assert isinstance(suite_rule_violations(name, tls13=tls13), list)


@given(st.text(max_size=100), st.text(max_size=100))
def test_hostname_matching_is_total(pattern: str, host: str) -> None:
    assert isinstance(dns_name_matches(pattern, host), bool)
    assert isinstance(hostname_matches(host, [pattern], [pattern], [pattern]), bool)


@given(st.text(max_size=80))
def test_parse_target_returns_or_raises_value_error(text: str) -> None:
    try:
        host, port = parse_target(text, 443)
    except ValueError:
        return
    assert host and 1 <= port <= 65535


@pytest.mark.parametrize(("raw", "outcome", "code"), [
    (b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n\r\n<html><center>No required SSL certificate was sent</center></html>",
     HttpOutcome.REFUSED, 400),
    (b"HTTP/1.1 403 Forbidden\r\n\r\n403.7 - Client certificate required", HttpOutcome.REFUSED, 403),
    (b"HTTP/1.1 496 SSL Certificate Required\r\n\r\n", HttpOutcome.REFUSED, 496),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", HttpOutcome.SERVED, 200),
    (b"HTTP/1.1 302 Found\r\nLocation: /login\r\n\r\n", HttpOutcome.SERVED, 302),
    (b"HTTP/1.1 403 Forbidden\r\n\r\nlogin required", HttpOutcome.UNKNOWN, 403),
    (b"220 smtp ready\r\n", HttpOutcome.UNKNOWN, None),
    (b"", HttpOutcome.UNKNOWN, None),
])
def test_classify_http_response_cases(raw: bytes, outcome: HttpOutcome, code: int | None) -> None:
    got = classify_http_response(raw)
    assert (got.outcome, got.status_code) == (outcome, code)


def test_every_listed_suite_follows_the_rule_and_weak_ones_do_not() -> None:
    pol = Policy().tls
    assert len(pol.tls12_suites) == 17 and len(pol.tls13_suites) == 5
    assert all(suite_rule_violations(s, tls13=False) == [] for s in pol.tls12_suites)
    assert all(suite_rule_violations(s, tls13=True) == [] for s in pol.tls13_suites)
    assert suite_rule_violations("TLS_RSA_WITH_AES_128_GCM_SHA256", tls13=False) == ["no-forward-secrecy"]
    assert suite_rule_violations("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", tls13=False) == ["not-aead"]
    assert suite_rule_violations("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", tls13=False) == ["not-aead"]
    assert "anonymous" in suite_rule_violations("TLS_ECDH_anon_WITH_AES_128_GCM_SHA256", tls13=False)
    assert "no-encryption" in suite_rule_violations("TLS_ECDHE_RSA_WITH_NULL_SHA", tls13=False)
    assert suite_rule_violations("TLS_SHA256_SHA256", tls13=True) == ["not-aead"]  # RFC 9150 integrity-only


@pytest.mark.parametrize(("host", "dns", "ips", "ok"), [
    ("emr.hospital.example", ["emr.hospital.example"], [], True),
    ("EMR.Hospital.Example.", ["emr.hospital.example"], [], True),
    ("emr.hospital.example", ["*.hospital.example"], [], True),
    ("a.b.hospital.example", ["*.hospital.example"], [], False),
    ("hospital.example", ["*.hospital.example"], [], False),
    ("emr.example", ["*.example"], [], False),  # no wildcard directly under a one-label suffix
    ("10.0.0.5", ["10.0.0.5"], [], False),  # an IP needs an IP SAN
    ("10.0.0.5", [], ["10.0.0.5"], True),
    ("::1", [], ["0:0:0:0:0:0:0:1"], True),
])
def test_hostname_matching(host: str, dns: list[str], ips: list[str], ok: bool) -> None:
    assert hostname_matches(host, dns, ips) is ok


@pytest.mark.parametrize(("text", "expected"), [
    ("emr.local", ("emr.local", 443)),
    ("emr.local:8443", ("emr.local", 8443)),
    ("10.0.0.5:25", ("10.0.0.5", 25)),
    ("[::1]:443", ("::1", 443)),
    ("[fe80::1]", ("fe80::1", 443)),
])
def test_parse_target(text: str, expected: tuple[str, int]) -> None:
    assert parse_target(text, 443) == expected


@pytest.mark.parametrize("bad", ["", "host:", "host:0", "host:70000", "a b:1", "[::1"])
def test_parse_target_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_target(bad, 443)
