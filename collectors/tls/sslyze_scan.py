"""Scan TLS endpoints with one sslyze `Scanner` and turn its results into `TlsFacts` + an evidence excerpt.

Plan: one request per endpoint without a client certificate (so the client-auth requirement, versions,
suites, groups and the certificate are judged as any client sees them), plus, when a client certificate
is given, a second small request with it for the probes that need a completed handshake. All requests go
to one Scanner (concurrent); results are read within an overall deadline, and whatever has not arrived by
then is an `error` ("incomplete"), never "not offered". After each endpoint's sslyze result, two short
probes run: the HTTP layer without a certificate (nginx `ssl_verify_client on`) and server suite order.

A scan command that errored is named in `TlsFacts.unavailable`; one that only failed because the server
demands a client certificate is named in `needs_client_certificate`.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sslyze import (
    ClientAuthenticationCredentials,
    ProtocolWithOpportunisticTlsEnum,
    ScanCommand,
    ScanCommandAttemptStatusEnum,
    ScanCommandErrorReasonEnum,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkConfiguration,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanResult,
    ServerScanStatusEnum,
)
from sslyze import __version__ as sslyze_version
from sslyze.plugins.certificate_info.implementation import CertificateInfoExtraArgument
from sslyze.plugins.openssl_cipher_suites.cipher_suites import CipherSuitesRepository
from sslyze.plugins.robot.implementation import RobotScanResultEnum
from tenken.collectors.evidence import Reason, Source, SourceKind, Unavailable
from tenken.collectors.tls.cert_required import probe_closes_without_cert, required_facts
from tenken.collectors.tls.certs import certificate_facts
from tenken.collectors.tls.facts import (
    CERTIFICATE,
    CLIENT_AUTH_HTTP,
    CURVES,
    AcceptedSuite,
    CertificateFacts,
    ClientAuthFacts,
    ClientAuthRequirement,
    HttpProbe,
    KeyExchange,
    TlsFacts,
    TlsVersion,
    VersionSupport,
    Weakness,
)
from tenken.collectors.tls.http_probe import probe_http_client_auth
from tenken.collectors.tls.legacy_versions import LEGACY_PROBED, SINGLE_HANDSHAKE, VersionProbe, probe_version
from tenken.collectors.tls.openssl_probe import openssl_facts, probe_openssl_only_suites
from tenken.collectors.tls.preference import probe_server_preference
from tenken.collectors.tls.preflight import is_ip, preflight
from tenken.collectors.tls.spec import StartTls, TlsEndpoint

log = logging.getLogger(__name__)

# sslyze's bundled public trust stores hold a few old roots with non-positive serials; cryptography warns
# about them on every load. They only matter for public-CA validation, and the warning would reach the
# console of every `scan tls` run.
warnings.filterwarnings("ignore", message="Parsed a serial number which wasn.t positive", category=UserWarning)

SCANNER = f"sslyze {sslyze_version.__version__}"

#: Versions whose accepted suites sslyze enumerates (SSL 2.0 has only a handful; 1.2 and 1.3 are judged
#: suite by suite). SSL 3.0, TLS 1.0 and 1.1 are settled with one handshake each (legacy_versions.py).
VERSION_COMMANDS: dict[TlsVersion, ScanCommand] = {
    TlsVersion.SSL2: ScanCommand.SSL_2_0_CIPHER_SUITES,
    TlsVersion.TLS12: ScanCommand.TLS_1_2_CIPHER_SUITES,
    TlsVersion.TLS13: ScanCommand.TLS_1_3_CIPHER_SUITES,
}
WEAKNESS_COMMANDS: dict[Weakness, ScanCommand] = {
    Weakness.HEARTBLEED: ScanCommand.HEARTBLEED,
    Weakness.ROBOT: ScanCommand.ROBOT,
    Weakness.CCS_INJECTION: ScanCommand.OPENSSL_CCS_INJECTION,
    Weakness.INSECURE_RENEGOTIATION: ScanCommand.SESSION_RENEGOTIATION,
    Weakness.CLIENT_RENEGOTIATION: ScanCommand.SESSION_RENEGOTIATION,
    Weakness.COMPRESSION: ScanCommand.TLS_COMPRESSION,
    Weakness.NO_FALLBACK_SCSV: ScanCommand.TLS_FALLBACK_SCSV,
}
#: Only what the checks read: versions + suites (with their ephemeral keys), certificate, groups, weaknesses.
SCAN_COMMANDS: frozenset[ScanCommand] = frozenset(
    {*VERSION_COMMANDS.values(), ScanCommand.CERTIFICATE_INFO, ScanCommand.ELLIPTIC_CURVES, *WEAKNESS_COMMANDS.values()}
)
#: Rerun with the client certificate when given: the probes that can need a completed handshake.
HANDSHAKE_COMMANDS: frozenset[ScanCommand] = frozenset(WEAKNESS_COMMANDS.values())

_STARTTLS = {
    StartTls.SMTP: ProtocolWithOpportunisticTlsEnum.SMTP,
    StartTls.IMAP: ProtocolWithOpportunisticTlsEnum.IMAP,
    StartTls.POP3: ProtocolWithOpportunisticTlsEnum.POP3,
    StartTls.LDAP: ProtocolWithOpportunisticTlsEnum.LDAP,
    StartTls.FTP: ProtocolWithOpportunisticTlsEnum.FTP,
    StartTls.XMPP: ProtocolWithOpportunisticTlsEnum.XMPP,
    StartTls.XMPP_SERVER: ProtocolWithOpportunisticTlsEnum.XMPP_SERVER,
    StartTls.RDP: ProtocolWithOpportunisticTlsEnum.RDP,
    StartTls.POSTGRES: ProtocolWithOpportunisticTlsEnum.POSTGRES,
}

#: sslyze's own default: more concurrent servers only add GIL contention (the scan is CPU-bound here)
MAX_CONCURRENT_SERVERS = 10
#: Endpoints one endpoint-timeout is budgeted for in the overall deadline. A scan is CPU-bound on the
#: scanning side (hundreds of handshakes in Python), so a large batch gets proportionally more time.
ENDPOINTS_PER_BUDGET = 8
DEADLINE_SLACK_S = 2.0


def network_timeout(endpoint: TlsEndpoint) -> int:
    """sslyze's per-connection socket timeout (whole seconds) derived from the endpoint's overall budget.

    A scan makes dozens of connections, a few of them sequentially (version detection), so each gets a
    fraction of the budget; servers that wait for more data (HTTP after the handshake) cost one of these.
    """
    return max(1, min(5, int(endpoint.timeout // 4)))


def scan_socket_timeout(endpoint: TlsEndpoint) -> int:
    """The socket timeout sslyze itself gets: half of `network_timeout` for HTTPS endpoints.

    With TLS 1.3, sslyze tells "client certificate optional" from "required" by writing one byte and
    waiting for the server's answer; an HTTP server that refuses only at the HTTP layer (nginx
    `ssl_verify_client on`) keeps waiting for the rest of the request, so that check always costs one
    full socket timeout. HTTPS endpoints get the HTTP-layer probe that settles the question anyway, so
    their sslyze timeout is shorter (1 s at the default `--timeout 10`, plenty for a handshake on a
    hospital network; raise `--timeout` for slow links). The preflight keeps the longer value.
    """
    base = network_timeout(endpoint)
    wants_http = endpoint.http if endpoint.http is not None else endpoint.starttls is None
    return max(1, base // 2) if wants_http else base


@dataclass
class EndpointScan:
    """What the collector learned about one endpoint: facts, or the reason it could not be scanned."""

    endpoint: TlsEndpoint
    facts: TlsFacts | None = None
    error: str | None = None
    raw: str = ""
    sources: list[Source] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


@dataclass
class _Post:
    """What the short probes after sslyze's result found."""

    http: HttpProbe | None = None
    prefs: dict[TlsVersion, bool | None] = field(default_factory=dict)


@dataclass
class _Pending:
    endpoint: TlsEndpoint
    ip: str
    main_uuid: object | None = None
    creds_uuid: object | None = None
    main: ServerScanResult | None = None
    creds: ServerScanResult | None = None
    post: Future[_Post] | None = None
    error: str | None = None
    single: dict[TlsVersion, VersionProbe] = field(default_factory=dict)
    extra: ScanCommandsExtraArguments | None = None
    full_creds: ServerScanResult | None = None  # whole scan made with the client certificate (see _rescan_with_cert)
    serial: bool = False  # the slow-device retry: one connection at a time, the preflight gets the whole budget


def _requests_for(endpoint: TlsEndpoint) -> tuple[str, ServerScanRequest, ServerScanRequest | None]:
    """Build the sslyze requests; raises ValueError with a readable reason for bad input."""
    location = ServerNetworkLocation(hostname=endpoint.host, port=endpoint.port)
    timeout = scan_socket_timeout(endpoint)
    sni = endpoint.server_name or endpoint.host
    opportunistic = _STARTTLS[endpoint.starttls] if endpoint.starttls else None
    extra = ScanCommandsExtraArguments()
    if endpoint.ca_file:
        ca = Path(endpoint.ca_file)
        if not ca.is_file():
            raise ValueError(f"CA file not found: {ca}")
        extra = ScanCommandsExtraArguments(certificate_info=CertificateInfoExtraArgument(custom_ca_file=ca))
    config = ServerNetworkConfiguration(tls_server_name_indication=sni, tls_opportunistic_encryption=opportunistic,
                                        network_timeout=timeout, network_max_retries=2)
    main = ServerScanRequest(server_location=location, network_configuration=config, scan_commands=set(SCAN_COMMANDS),
                             scan_commands_extra_arguments=extra)
    creds_req = None
    if endpoint.client_cert or endpoint.client_key:
        if not (endpoint.client_cert and endpoint.client_key):
            raise ValueError("a client certificate needs both --client-cert and --client-key")
        try:
            creds = ClientAuthenticationCredentials(certificate_chain_path=Path(endpoint.client_cert), key_path=Path(endpoint.client_key))
        except Exception as exc:  # nassl reports OpenSSL error codes, never key material
            raise ValueError(f"client certificate or key could not be loaded ({type(exc).__name__})") from None
        cconfig = ServerNetworkConfiguration(tls_server_name_indication=sni, tls_opportunistic_encryption=opportunistic,
                                             tls_client_auth_credentials=creds, network_timeout=timeout, network_max_retries=2)
        creds_req = ServerScanRequest(server_location=location, network_configuration=cconfig, scan_commands=set(HANDSHAKE_COMMANDS))
    assert location.ip_address is not None
    return location.ip_address, main, creds_req


def overall_deadline(endpoints: list[TlsEndpoint], requests: int) -> float:
    """Seconds the whole batch may take: the largest endpoint budget per ENDPOINTS_PER_BUDGET requests."""
    if not endpoints:
        return 0.0
    waves = math.ceil(max(requests, 1) / ENDPOINTS_PER_BUDGET)
    return max(e.timeout for e in endpoints) * waves + DEADLINE_SLACK_S


#: the slow-device retry gives an endpoint this many times its budget (socket timeouts derive from it)
SLOW_RETRY_FACTOR = 6


def scan_endpoints(endpoints: list[TlsEndpoint], *, deadline_s: float | None = None, serial: bool = False) -> list[EndpointScan]:
    """Scan every endpoint concurrently; one EndpointScan per endpoint, in input order.

    Slow, one-connection-at-a-time devices (medical devices, UPS cards, printers, embedded appliances) time
    out under five parallel connections with 1-2 s socket timeouts. Before anything is called an error for
    a timeout, such an endpoint is scanned once more alone per endpoint, one connection at a time
    (`serial`), with SLOW_RETRY_FACTOR times its budget; the retry's result is kept when it has fewer
    timeouts, and the evidence says the endpoint was retried and why."""
    out = _scan_once(endpoints, deadline_s=deadline_s, serial=serial)
    if serial:
        return out
    slow = [i for i, s in enumerate(out) if _timeouts(s) is not None]
    if not slow:
        return out
    again = _scan_once([_slower(out[i].endpoint) for i in slow], deadline_s=None, serial=True)
    for i, retry in zip(slow, again, strict=True):
        first, why = out[i], _timeouts(out[i])
        ep = first.endpoint
        note = (f"first pass timed out ({why}); retried one connection at a time with a {ep.timeout * SLOW_RETRY_FACTOR:g}s budget "
                "(slow or one-connection-at-a-time device)")
        retry.endpoint, retry.started = ep, first.started
        still = _timeouts(retry)
        if retry.error is None and (still is None or _timeout_count(retry) < _timeout_count(first)):
            retry.raw = f"{note}: the retry's result is used\n" + retry.raw
            out[i] = retry
        else:
            first.raw = (first.raw + "\n" if first.raw else "") + f"{note}: still {still or retry.error}\n"
            if first.error is not None:
                first.error += f" (also after a retry one connection at a time with a {ep.timeout * SLOW_RETRY_FACTOR:g}s budget)"
    return out


def _slower(ep: TlsEndpoint) -> TlsEndpoint:
    return ep.model_copy(update={"timeout": ep.timeout * SLOW_RETRY_FACTOR})


_TIMEOUT_WORDS = ("timed out", "timedout", "within", "too slow")


def _timeout_count(s: EndpointScan) -> int:
    if s.error is not None:
        return 10**6 if any(w in s.error.lower() for w in _TIMEOUT_WORDS) else 10**5
    if s.facts is None:
        return 10**5
    return sum(1 for u in s.facts.unavailable.values() if u.reason is Reason.TIMEOUT or "timedout" in u.detail.lower())


def _timeouts(s: EndpointScan) -> str | None:
    """Why this endpoint looks slow rather than absent: a TLS answer or a probe that timed out after the TCP
    connection was accepted. Refused ports and TCP connect timeouts (host down) are not retried."""
    if s.error is not None:
        e = s.error.lower()
        if "refused" in e or "tcp connection timed out" in e or "not a tls service" in e:
            return None
        return s.error if any(w in e for w in _TIMEOUT_WORDS) else None
    if s.facts is None:
        return None
    slow = sorted(k for k, u in s.facts.unavailable.items() if u.reason is Reason.TIMEOUT or "timedout" in u.detail.lower())
    return f"{len(slow)} probes timed out: {', '.join(slow)}" if slow else None


def _scan_once(endpoints: list[TlsEndpoint], *, deadline_s: float | None, serial: bool) -> list[EndpointScan]:
    t0 = time.monotonic()
    pending: list[_Pending] = []
    built: list[tuple[_Pending, ServerScanRequest, ServerScanRequest | None]] = []
    for ep in endpoints:
        try:
            ip, main, creds = _requests_for(ep)
        except Exception as exc:  # unresolvable name, bad CA path, unreadable key: this endpoint only
            pending.append(_Pending(ep, "", error=_short(exc)))
            continue
        p = _Pending(ep, ip, main_uuid=main.uuid, creds_uuid=creds.uuid if creds else None,
                     extra=main.scan_commands_extra_arguments, serial=serial)
        pending.append(p)
        built.append((p, main, creds))
    # refused, silent and non-TLS ports are settled here, so that they never stall the Scanner; the
    # single-handshake version probes run here too, so TLS 1.2 is only enumerated when it is offered
    if built:
        with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_SERVERS, len(built)), thread_name_prefix="tenken-tls-pre") as pool:
            verdicts = list(pool.map(_gate, built))
    else:
        verdicts = []
    requests: list[ServerScanRequest] = []
    by_uuid: dict[object, tuple[_Pending, bool]] = {}
    for (p, main, creds), verdict in zip(built, verdicts, strict=True):
        if verdict is not None:
            p.error = verdict
            continue
        if p.single.get(TlsVersion.TLS12, VersionProbe(offered=None)).offered is False:
            main.scan_commands.discard(ScanCommand.TLS_1_2_CIPHER_SUITES)
        requests.append(main)
        by_uuid[main.uuid] = (p, False)
        if creds is not None:
            requests.append(creds)
            by_uuid[creds.uuid] = (p, True)
    budget = deadline_s if deadline_s is not None else overall_deadline(endpoints, len(requests))
    deadline = t0 + budget
    if requests:
        results: queue.Queue[ServerScanResult | BaseException | None] = queue.Queue()
        scanner = Scanner(per_server_concurrent_connections_limit=1 if serial else 5,
                          concurrent_server_scans_limit=min(len(requests), MAX_CONCURRENT_SERVERS))
        scanner.queue_scans(requests)

        def pump() -> None:  # daemon thread: a hung server must not hold up the report past the deadline
            try:
                for r in scanner.get_results():
                    results.put(r)
            except BaseException as exc:  # a crash inside sslyze fails the remaining endpoints, not the run
                results.put(exc)
            results.put(None)

        threading.Thread(target=pump, name="tenken-sslyze", daemon=True).start()
        post_pool = ThreadPoolExecutor(max_workers=min(8, len(pending)), thread_name_prefix="tenken-tls-post")
        outstanding = len(requests)
        while outstanding > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = results.get(timeout=remaining)
            except queue.Empty:
                break
            if item is None:
                break
            if isinstance(item, BaseException):
                for p in pending:
                    if p.main is None and p.error is None:
                        p.error = f"scanner failed: {_short(item)}"
                break
            outstanding -= 1
            owner = by_uuid.get(item.uuid)
            if owner is None:
                continue
            p, is_creds = owner
            if is_creds:
                p.creds = item
            else:
                p.main = item
                if item.scan_status is ServerScanStatusEnum.COMPLETED and item.connectivity_result is not None:
                    p.post = post_pool.submit(_post_probes, p.endpoint, item)
        post_pool.shutdown(wait=False)
        _rescan_with_cert(pending, deadline, serial=serial)
    out: list[EndpointScan] = []
    for p in pending:
        out.append(_assemble(p, deadline, budget, t0))
    return out


def _rescan_with_cert(pending: list[_Pending], deadline: float, *, serial: bool = False) -> None:
    """Scan again, with the client certificate, the endpoints that dropped every certificate-less connection.

    Some TLS 1.3 servers (Python's asyncio, hence uvicorn) close a connection that sent no client
    certificate without the `certificate_required` alert sslyze looks for, so the certificate-less scan
    finds "no connectivity". Refused without the certificate and served with it means *required*; the
    versions, suites and certificate are then judged from a scan that presents it.
    """
    todo = [p for p in pending if p.main is not None and p.main.scan_status is ServerScanStatusEnum.ERROR_NO_CONNECTIVITY
            and _peer_closed(p.main) and p.creds is not None and p.creds.scan_status is ServerScanStatusEnum.COMPLETED]
    if not todo:
        return
    reqs = {}
    for p in todo:
        assert p.creds is not None
        req = ServerScanRequest(server_location=p.creds.server_location, network_configuration=p.creds.network_configuration,
                                scan_commands=set(SCAN_COMMANDS) | set(HANDSHAKE_COMMANDS),
                                scan_commands_extra_arguments=p.extra or ScanCommandsExtraArguments())
        reqs[req.uuid] = (p, req)
    got: queue.Queue[ServerScanResult] = queue.Queue()

    def run() -> None:
        scanner = Scanner(per_server_concurrent_connections_limit=1 if serial else 5,
                          concurrent_server_scans_limit=min(len(reqs), MAX_CONCURRENT_SERVERS))
        scanner.queue_scans([r for _, r in reqs.values()])
        for r in scanner.get_results():
            got.put(r)

    t = threading.Thread(target=run, name="tenken-sslyze-cert", daemon=True)
    t.start()
    t.join(timeout=max(0.0, deadline - time.monotonic()))
    while not got.empty():
        r = got.get()
        if r.uuid in reqs and r.scan_status is ServerScanStatusEnum.COMPLETED:
            reqs[r.uuid][0].full_creds = r


def _gate(item: tuple[_Pending, ServerScanRequest, ServerScanRequest | None]) -> str | None:
    """Preflight handshake, then one handshake per SSL 3.0 / TLS 1.0 / 1.1 / 1.2 (recorded on the pending item)."""
    p, main, _ = item
    ep = p.endpoint
    # the retry of a slow device waits up to its whole budget: the device may still be working through the
    # first pass's abandoned connections one at a time
    verdict = preflight(p.ip, ep.port, ep.server_name or ep.host, ep.timeout if p.serial else float(network_timeout(ep)),
                        _STARTTLS[ep.starttls] if ep.starttls else None)
    if verdict is None:
        for v in SINGLE_HANDSHAKE:
            p.single[v] = probe_version(main.server_location, main.network_configuration, v)
    return verdict


def _post_probes(endpoint: TlsEndpoint, result: ServerScanResult) -> _Post:
    """Legacy versions, HTTP-layer client-auth probe and server suite order, each bounded by the socket timeout."""
    conn = result.connectivity_result
    assert conn is not None
    timeout = float(network_timeout(endpoint))
    http: HttpProbe | None = None
    wants_http = endpoint.http if endpoint.http is not None else endpoint.starttls is None
    if wants_http and conn.client_auth_requirement.value == "OPTIONAL":
        http = probe_http_client_auth(result.server_location.ip_address or endpoint.host, endpoint.port,
                                      endpoint.server_name or endpoint.host, timeout)
    prefs: dict[TlsVersion, bool | None] = {}
    for version in (TlsVersion.TLS12, TlsVersion.TLS13):
        accepted = _accepted(result, version)
        if len(accepted) >= 2:
            prefs[version] = probe_server_preference(result, version, [a.cipher_suite.openssl_name for a in accepted])
    return _Post(http=http, prefs=prefs)


def _accepted(result: ServerScanResult, version: TlsVersion) -> list:
    if result.scan_result is None:
        return []
    attempt = getattr(result.scan_result, VERSION_COMMANDS[version].value)
    if attempt.status is not ScanCommandAttemptStatusEnum.COMPLETED or attempt.result is None:
        return []
    return list(attempt.result.accepted_cipher_suites)


def _assemble(p: _Pending, deadline: float, budget: float, t0: float) -> EndpointScan:
    ep = p.endpoint
    scan = EndpointScan(endpoint=ep, started=t0, finished=time.monotonic())
    if p.error is not None:
        scan.error = p.error
        return scan
    if p.main is None:
        scan.error = f"no scan result within the {budget:.0f}s deadline (server hangs or is too slow); scan incomplete"
        return scan
    main = p.main
    closed_without_cert = False
    if main.scan_status is ServerScanStatusEnum.ERROR_NO_CONNECTIVITY or main.scan_result is None:
        if p.full_creds is None or p.full_creds.scan_result is None or p.full_creds.connectivity_result is None:
            if _peer_closed(main) and p.creds_uuid is None and ep.starttls is None:
                seen = probe_closes_without_cert(p.ip, ep.port, ep.server_name or ep.host, float(network_timeout(ep)))
                if seen is not None:  # the compliant case: a client certificate is required (see cert_required)
                    scan.facts, scan.raw = required_facts(ep, seen, dict(p.single), SCANNER)
                    scan.sources = _sources(ep, main, False)
                    scan.finished = time.monotonic()
                    return scan
            if _no_common_suite(main) and p.creds_uuid is None:
                # TLS 1.3 with suites sslyze never offers (CCM, CCM_8): ask openssl (collectors/tls/openssl_probe.py)
                probe = probe_openssl_only_suites(p.ip, ep.port, ep.server_name or ep.host, float(network_timeout(ep)),
                                                  ca_file=ep.ca_file, starttls=ep.starttls.value if ep.starttls else None,
                                                  sni=not is_ip(ep.server_name or ep.host))
                if probe is not None and probe.first is not None:
                    scan.facts, scan.raw = openssl_facts(ep, probe, dict(p.single), SCANNER)
                    scan.sources = [Source(kind=SourceKind.COMMAND, ref=c) for c in probe.commands[:2]] + [
                        Source(kind=SourceKind.COMMAND, ref=f"{len(probe.commands) - 2} more s_client handshakes (one per ECDHE group)")]
                    scan.finished = time.monotonic()
                    return scan
            scan.error = _connectivity_error(main) + (_CLOSED_HINT if _peer_closed(main) else "")
            return scan
        main, closed_without_cert = p.full_creds, True  # see _rescan_with_cert
    post: _Post | None = None
    post_error: str | None = None
    if p.post is not None:
        try:
            post = p.post.result(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            post_error = "did not finish before the deadline"
        except Exception as exc:  # a probe bug: recorded as unavailable, the rest stands
            post_error = _short(exc)
    creds_missing = p.creds_uuid is not None and p.creds is None
    scan.facts, scan.raw = facts_from_results(ep, main, p.creds, post, single=p.single, post_error=post_error,
                                              creds_missing=creds_missing)
    if closed_without_cert and scan.facts is not None:
        scan.facts = scan.facts.model_copy(
            update={"client_auth": scan.facts.client_auth.model_copy(update={"tls_layer": ClientAuthRequirement.REQUIRED})}
        )
        scan.raw += ("\nclient certificate at the TLS layer: required (the server closed every connection made without "
                     "a client certificate, without an alert, and completed the handshake with the given certificate)\n")
    scan.sources = _sources(ep, main, p.creds is not None or p.creds_uuid is not None)
    scan.finished = time.monotonic()
    return scan


def _connectivity_error(result: ServerScanResult) -> str:
    trace = result.connectivity_error_trace
    if trace is None:
        return "could not connect (no detail from the scanner)"
    text = "".join(trace.format_exception_only()).strip().splitlines()[-1]
    if "ConnectionRefused" in text or "ServerRejectedConnection" in text or "refused" in text.lower():
        return f"connection refused (nothing listening, or a firewall rejects it): {text}"
    if "TimedOut" in text or "timed out" in text.lower():
        return f"connection timed out: {text}"
    return f"no TLS service could be negotiated: {text}"


_CLOSED_HINT = (" — the server closes the connection right after the handshake; a TLS 1.3 server that requires a client"
                " certificate and sends no alert looks like this: re-run with --client-cert/--client-key")


def _no_common_suite(result: ServerScanResult) -> bool:
    """sslyze found no version and suite it shares with the server (its hello lacks e.g. the TLS 1.3 CCM suites)."""
    trace = result.connectivity_error_trace
    return trace is not None and "ServerTlsConfigurationNotSupported" in "".join(trace.format_exception_only()) + str(trace.exc_type)


def _peer_closed(result: ServerScanResult) -> bool:
    trace = result.connectivity_error_trace
    return trace is not None and "peer closed the connection" in "".join(trace.format_exception_only())


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _sources(ep: TlsEndpoint, result: ServerScanResult, with_creds: bool) -> list[Source]:
    loc = result.server_location
    cmds = ", ".join(sorted(c.value for c in SCAN_COMMANDS))
    ref = (f"{SCANNER} Scanner against {ep.target} (ip {loc.ip_address}, SNI {ep.server_name or ep.host}"
           f"{', STARTTLS ' + ep.starttls.value if ep.starttls else ''}): {cmds}")
    out = [Source(kind=SourceKind.API, ref=ref)]
    if with_creds:
        # the certificate's path identifies which identity was used; the key is never named or read here
        out.append(Source(kind=SourceKind.API, ref=f"{SCANNER} rerun with client certificate {ep.client_cert}: "
                                                   + ", ".join(sorted(c.value for c in HANDSHAKE_COMMANDS))))
    out.append(Source(kind=SourceKind.API, ref="tenken probes: server suite order; HTTPS GET / without a client certificate"))
    return out


# ------------------------------------------------------------------ sslyze result -> typed facts


def _attempt_error(attempt) -> Unavailable:
    reason = attempt.error_reason
    trace = ""
    if attempt.error_trace is not None:
        lines = "".join(attempt.error_trace.format_exception_only()).strip().splitlines()
        trace = lines[-1] if lines else ""
    timeout = "timed out" in trace.lower() or "timeout" in trace.lower()
    return Unavailable(reason=Reason.TIMEOUT if timeout else Reason.FAILED,
                       detail=f"scan command failed ({reason.value if reason else 'unknown'}): {trace[:200]}".strip())


def _key_exchange(accepted) -> KeyExchange:
    key = accepted.ephemeral_key
    if key is None:
        return KeyExchange(kind="none")
    kind = key.type_name if key.type_name in ("ECDH", "DH") else str(key.type_name)
    group = getattr(key, "curve_name", None)
    tname = getattr(key.type, "name", "")
    if tname in ("X25519", "X448"):
        group = tname
    return KeyExchange(kind=kind, group=group, bits=key.size)


def facts_from_results(
    ep: TlsEndpoint,
    main: ServerScanResult,
    creds: ServerScanResult | None,
    post: _Post | None,
    *,
    single: dict[TlsVersion, VersionProbe] | None = None,
    post_error: str | None = None,
    creds_missing: bool = False,
) -> tuple[TlsFacts, str]:
    """Typed facts and a readable evidence excerpt from sslyze's results (no I/O)."""
    assert main.scan_result is not None and main.connectivity_result is not None
    sr = main.scan_result
    conn = main.connectivity_result
    unavailable: dict[str, Unavailable] = {}
    needs_cert: list[str] = []
    lines = [f"{SCANNER} scan of {ep.target} (SNI {ep.server_name or ep.host}"
             f"{', STARTTLS ' + ep.starttls.value if ep.starttls else ''}), zone {ep.zone.value}"]
    highest = TlsVersion[{"SSL_2_0": "SSL2", "SSL_3_0": "SSL3", "TLS_1_0": "TLS10", "TLS_1_1": "TLS11", "TLS_1_2": "TLS12",
                          "TLS_1_3": "TLS13"}[conn.highest_tls_version_supported.name]]
    tls_req = ClientAuthRequirement(conn.client_auth_requirement.value.lower())
    lines.append(f"connectivity: highest version {highest.value}, client certificate at the TLS layer: {tls_req.value}")

    single = single or {}
    http = post.http if post else None
    prefs = post.prefs if post else {}
    versions: dict[TlsVersion, VersionSupport] = {}
    for version in TlsVersion:
        probe = single.get(version)
        if version in LEGACY_PROBED or (version is TlsVersion.TLS12 and probe is not None and probe.offered is False):
            if probe is None or probe.offered is None:
                why = probe.error if probe is not None else "not probed"
                unavailable[version.probe] = Unavailable(reason=Reason.TIMEOUT if "timed out" in str(why) else Reason.FAILED,
                                                         detail=f"single-handshake probe: {why}")
                lines.append(f"{version.value}: INCOMPLETE ({why})")
                continue
            suites = [AcceptedSuite(name=_iana(version, probe.suite))] if probe.offered and probe.suite else []
            versions[version] = VersionSupport(offered=probe.offered, suites=suites)
            state = ("offered (e.g. " + suites[0].name + ")") if probe.offered and suites else "offered" if probe.offered else "not offered"
            lines.append(f"{version.value}: {state} [one handshake offering every suite]")
            continue
        attempt = getattr(sr, VERSION_COMMANDS[version].value)
        if attempt.status is not ScanCommandAttemptStatusEnum.COMPLETED or attempt.result is None:
            unavailable[version.probe] = _attempt_error(attempt)
            lines.append(f"{version.value}: INCOMPLETE ({unavailable[version.probe].detail})")
            continue
        suites = [AcceptedSuite(name=a.cipher_suite.name, key_exchange=_key_exchange(a)) for a in attempt.result.accepted_cipher_suites]
        versions[version] = VersionSupport(offered=bool(suites), suites=suites, server_preference=prefs.get(version))
        if suites:
            desc = ", ".join(f"{s.name} [{_kx_text(s.key_exchange)}]" for s in suites)
            order = {True: "server order", False: "client order", None: "order not determined"}[prefs.get(version)]
            lines.append(f"{version.value}: offered ({order}): {desc}")
        else:
            lines.append(f"{version.value}: not offered")

    groups: list[str] | None = None
    attempt = sr.elliptic_curves
    if attempt.status is ScanCommandAttemptStatusEnum.COMPLETED and attempt.result is not None:
        groups = [c.name for c in (attempt.result.supported_curves or [])]
        lines.append(f"groups (ECDHE): {', '.join(groups) or 'none'}")
    else:
        unavailable[CURVES] = _attempt_error(attempt)
        lines.append(f"groups: INCOMPLETE ({unavailable[CURVES].detail})")

    certificate = _certificate(ep, sr, unavailable, lines)

    weaknesses: dict[Weakness, bool] = {}
    for weakness, cmd in WEAKNESS_COMMANDS.items():
        attempt = getattr(sr, cmd.value)
        if (attempt.status is ScanCommandAttemptStatusEnum.ERROR
                and attempt.error_reason is ScanCommandErrorReasonEnum.CLIENT_CERTIFICATE_NEEDED):
            if creds is not None and creds.scan_result is not None:
                attempt = getattr(creds.scan_result, cmd.value)
            elif creds_missing:
                unavailable[weakness.probe] = Unavailable(reason=Reason.TIMEOUT, detail="the rerun with the client certificate did not finish")
                continue
            else:
                needs_cert.append(weakness.probe)
                lines.append(f"{weakness.value}: not probed (needs a client certificate)")
                continue
        if attempt.status is not ScanCommandAttemptStatusEnum.COMPLETED or attempt.result is None:
            if attempt.error_reason is ScanCommandErrorReasonEnum.CLIENT_CERTIFICATE_NEEDED:
                needs_cert.append(weakness.probe)  # the supplied certificate was not accepted either
                lines.append(f"{weakness.value}: not probed (the client certificate given was not accepted)")
                continue
            unavailable[weakness.probe] = _attempt_error(attempt)
            lines.append(f"{weakness.value}: INCOMPLETE ({unavailable[weakness.probe].detail})")
            continue
        vulnerable = _vulnerable(weakness, attempt.result)
        if vulnerable is None:
            unavailable[weakness.probe] = Unavailable(reason=Reason.FAILED, detail="inconsistent results; could not tell")
            lines.append(f"{weakness.value}: UNDETERMINED")
            continue
        weaknesses[weakness] = vulnerable
        lines.append(f"{weakness.value}: {'VULNERABLE' if vulnerable else 'not vulnerable'}")

    if post_error is not None:
        unavailable[CLIENT_AUTH_HTTP] = Unavailable(reason=Reason.TIMEOUT, detail=f"HTTP / suite-order probes: {post_error}")
    if http is not None:
        lines.append(f"HTTP without client certificate: {http.outcome.value} ({http.status_line or http.detail})")
    facts = TlsFacts(
        host=ep.host, port=ep.port, server_name=ep.server_name or ep.host, starttls=ep.starttls.value if ep.starttls else None,
        zone=ep.zone.value, scanner=SCANNER, client_certificate_used=creds is not None,
        highest_version=highest, versions=versions, supported_groups=groups, certificate=certificate,
        client_auth=ClientAuthFacts(tls_layer=tls_req, http=http), weaknesses=weaknesses,
        needs_client_certificate=needs_cert, unavailable=unavailable,
        scanned_at=datetime.now(UTC), tls12_exception=ep.tls12_exception,
    )
    return facts, "\n".join(lines) + "\n"


def _iana(version: TlsVersion, openssl_name: str) -> str:
    try:
        return CipherSuitesRepository.get_cipher_suite_with_openssl_name(SINGLE_HANDSHAKE[version], openssl_name).name
    except (ValueError, KeyError):
        return openssl_name


def _kx_text(kx: KeyExchange | None) -> str:
    if kx is None or kx.kind == "none":
        return "no ephemeral key"
    return f"{kx.kind} {kx.group or ''} {kx.bits or '?'} bits".replace("  ", " ")


def _vulnerable(weakness: Weakness, result) -> bool | None:
    if weakness is Weakness.HEARTBLEED:
        return bool(result.is_vulnerable_to_heartbleed)
    if weakness is Weakness.ROBOT:
        if result.robot_result is RobotScanResultEnum.UNKNOWN_INCONSISTENT_RESULTS:
            return None
        return result.robot_result in (RobotScanResultEnum.VULNERABLE_WEAK_ORACLE, RobotScanResultEnum.VULNERABLE_STRONG_ORACLE)
    if weakness is Weakness.CCS_INJECTION:
        return bool(result.is_vulnerable_to_ccs_injection)
    if weakness is Weakness.INSECURE_RENEGOTIATION:
        return not result.supports_secure_renegotiation
    if weakness is Weakness.CLIENT_RENEGOTIATION:
        return bool(result.is_vulnerable_to_client_renegotiation_dos)
    if weakness is Weakness.COMPRESSION:
        return bool(result.supports_compression)
    if weakness is Weakness.NO_FALLBACK_SCSV:
        return not result.supports_fallback_scsv
    raise ValueError(weakness)


def _chain_ok_for_own_name(dep, results: list) -> list:
    """sslyze validates the chain *for the hostname*, so a name mismatch also reads as "not trusted". The
    chain of trust is a separate fact: re-validate it against the same trust stores for a name the leaf itself
    carries (the hostname is judged by its own check). Returns the stores that then validate."""
    from cryptography.x509 import DNSName, IPAddress
    from cryptography.x509.oid import ExtensionOID

    leaf = dep.received_certificate_chain[0]
    try:
        san = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except Exception:
        return []
    names = [n for n in san if isinstance(n, DNSName) and "*" not in n.value] + [n for n in san if isinstance(n, IPAddress)]
    if not names:
        return []
    out = []
    for r in results:
        try:
            again = r.trust_store.verify_certificate_chain(dep.received_certificate_chain_as_pem, names[0])
        except Exception:  # noqa: S112 - a store that cannot re-validate simply does not vouch
            continue
        if again.was_validation_successful:
            out.append(again)
    return out


def _certificate(ep: TlsEndpoint, sr, unavailable: dict[str, Unavailable], lines: list[str]) -> CertificateFacts | None:
    attempt = sr.certificate_info
    if attempt.status is not ScanCommandAttemptStatusEnum.COMPLETED or attempt.result is None:
        unavailable[CERTIFICATE] = _attempt_error(attempt)
        lines.append(f"certificate: INCOMPLETE ({unavailable[CERTIFICATE].detail})")
        return None
    deployments = attempt.result.certificate_deployments
    if not deployments or not deployments[0].received_certificate_chain:
        unavailable[CERTIFICATE] = Unavailable(reason=Reason.FAILED, detail="the server sent no certificate")
        lines.append("certificate: none received")
        return None
    dep = deployments[0]
    if ep.ca_file:
        custom = Path(ep.ca_file).resolve()
        results = [r for r in dep.path_validation_results if Path(r.trust_store.path).resolve() == custom]
        store = f"CA file {ep.ca_file}"
    else:
        results = list(dep.path_validation_results)
        store = "public trust stores (" + ", ".join(sorted(r.trust_store.name for r in results)) + ")"
    ok = [r for r in results if r.was_validation_successful]
    if not ok and results:
        ok = _chain_ok_for_own_name(dep, results)
    error = None if ok else next((r.validation_error for r in results if r.validation_error), "no trust store to validate against")
    facts = certificate_facts(dep.received_certificate_chain, hostname=ep.server_name or ep.host, trust_store=store,
                              trusted=bool(ok), validation_error=error)
    lines.append(
        f"certificate: {facts.subject} issued by {facts.issuer}; {facts.key_type} {facts.key_bits} bits"
        f"{' ' + facts.curve if facts.curve else ''}; signature {facts.signature_hash}; valid {facts.not_before:%Y-%m-%d} to "
        f"{facts.not_after:%Y-%m-%d}; SAN DNS {facts.dns_names} IP {facts.ip_addresses}; hostname {facts.hostname} "
        f"{'matches' if facts.hostname_matches else 'DOES NOT match'}; chain of {facts.chain_length} "
        f"{'trusted' if facts.chain_trusted else 'NOT trusted'} by {store}{'' if ok else ': ' + str(error)[:200]}; "
        f"sha256 {facts.sha256_fingerprint}"
    )
    if len(deployments) > 1:
        lines.append(f"note: the server has {len(deployments)} certificates (by key type); the first is judged")
    return facts
