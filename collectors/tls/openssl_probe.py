"""TLS 1.3 suites sslyze never offers (TLS_AES_128_CCM_SHA256, TLS_AES_128_CCM_8_SHA256), probed with the
system's `openssl s_client`.

Why: sslyze's TLS 1.3 client hello lists only the GCM and ChaCha20 suites, so an endpoint that accepts
nothing but CCM (embedded TLS stacks on medical devices and IoT gateways pick CCM_8 for its small tag;
SO-13-6's 高セキュリティ型 list and CRYPTREC allow it) fails sslyze's connectivity test and used to read
as "could not be scanned". Python's `ssl` cannot choose TLS 1.3 suites, so one `openssl s_client`
handshake per suite says which are accepted, one per group which ECDHE groups are, and the chain it
prints is judged like sslyze's. SSL 2.0 is probed with one raw SSLv2 CLIENT-HELLO (OpenSSL 3 cannot
speak it). Each call is bounded by the endpoint's socket timeout; nothing here judges.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509

#: the TLS 1.3 suites of RFC 8446 that sslyze's client hello never carries
OPENSSL_ONLY_SUITES = ("TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256")
#: s_client -groups name -> the name sslyze (and TlsFacts.supported_groups) uses
GROUPS = {"X25519": "X25519", "X448": "X448", "P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1"}
#: StartTls values `openssl s_client -starttls` knows by the same name
S_CLIENT_STARTTLS = {"smtp", "imap", "pop3", "ftp", "xmpp", "xmpp-server", "ldap", "postgres"}


@dataclass(frozen=True)
class Handshake:
    """What one s_client run printed: the negotiated version and suite (None: refused), the ephemeral key,
    whether the server asked for a client certificate, the chain (PEM) and the verify result."""

    version: str | None
    suite: str | None
    temp_key: tuple[str, str | None, int | None] | None = None  # (kind ECDH/DH, group, bits)
    cert_requested: bool = False
    cert_required_alert: bool = False
    chain_pem: tuple[str, ...] = ()
    verify_code: int | None = None
    verify_text: str | None = None
    error: str | None = None


@dataclass
class OpensslProbe:
    openssl: str
    accepted: dict[str, Handshake] = field(default_factory=dict)  # suite -> its handshake
    groups: list[str] = field(default_factory=list)
    ssl2_offered: bool | None = None
    ssl2_error: str | None = None
    commands: list[str] = field(default_factory=list)

    @property
    def first(self) -> Handshake | None:
        return next(iter(self.accepted.values()), None)


_NEW = re.compile(r"^New, (\S+), Cipher is (\S+)", re.M)
_TEMP = re.compile(r"^Server Temp Key: (?:(ECDH|DH), )?(?:([A-Za-z][A-Za-z0-9-]*), )?(\d+) bits", re.M)
#: OpenSSL's curve names in "Server Temp Key" -> sslyze's
_CURVE_ALIASES = {"prime256v1": "secp256r1"}
_VERIFY = re.compile(r"^Verify return code: (\d+) \(([^)]*)\)", re.M)
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.S)


def parse_s_client(text: str) -> Handshake:
    """The parts of `openssl s_client -showcerts` output a check needs (pure; OpenSSL 1.1.1 and 3.x)."""
    m = _NEW.search(text)
    version, suite = (m.group(1), m.group(2)) if m else (None, None)
    if version == "(NONE)" or suite == "(NONE)":
        version, suite = None, None
    temp = None
    if t := _TEMP.search(text):
        kind, name, bits = t.group(1), t.group(2), int(t.group(3))
        if kind is None:  # "X25519, 253 bits": an ECDH group printed by its own name
            kind = "ECDH"
        elif kind == "DH":
            name = None
        if name:
            name = _CURVE_ALIASES.get(name, name)
        temp = (kind, name, bits)
    v = _VERIFY.search(text)
    return Handshake(
        version=version, suite=suite, temp_key=temp,
        cert_requested="Acceptable client certificate CA names" in text or "Client Certificate Types" in text,
        cert_required_alert="alert certificate required" in text or "SSL alert number 116" in text,
        chain_pem=tuple(_PEM.findall(text)), verify_code=int(v.group(1)) if v else None, verify_text=v.group(2) if v else None,
    )


def s_client(openssl: str, ip: str, port: int, sni: str | None, timeout: float, *, suite: str, group: str | None = None,
             ca_file: str | None = None, starttls: str | None = None) -> tuple[Handshake, str]:
    """One TLS 1.3 handshake offering only `suite` (and only `group`); the server's answer and the command run."""
    cmd = [openssl, "s_client", "-connect", f"{ip}:{port}", "-tls1_3", "-ciphersuites", suite, "-showcerts"]
    if sni:
        cmd += ["-servername", sni]
    if group:
        cmd += ["-groups", group]
    if ca_file:
        cmd += ["-CAfile", ca_file]
    if starttls:
        cmd += ["-starttls", starttls]
    shown = " ".join(cmd[1:])
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Handshake(version=None, suite=None, error=f"no answer within {timeout:g}s"), shown
    except OSError as exc:
        return Handshake(version=None, suite=None, error=f"could not run openssl: {exc}"), shown
    text = proc.stdout.decode("utf-8", "replace") + "\n" + proc.stderr.decode("utf-8", "replace")
    return parse_s_client(text), shown


#: SSLv2 CLIENT-HELLO (version 0x0002) offering the seven SSLv2 cipher kinds, with a 16-byte challenge
_SSL2_SPECS = bytes.fromhex("010080" "020080" "030080" "040080" "050080" "060040" "0700c0")
_SSL2_BODY = bytes([0x01, 0x00, 0x02]) + len(_SSL2_SPECS).to_bytes(2, "big") + b"\x00\x00" + (16).to_bytes(2, "big") \
    + _SSL2_SPECS + bytes(range(16))
SSL2_CLIENT_HELLO = bytes([0x80 | (len(_SSL2_BODY) >> 8), len(_SSL2_BODY) & 0xFF]) + _SSL2_BODY


def is_ssl2_server_hello(data: bytes) -> bool:
    """An SSLv2 record (2-byte header with the high bit set) carrying SERVER-HELLO (message type 4)."""
    return len(data) >= 3 and bool(data[0] & 0x80) and data[2] == 0x04


def probe_ssl2(ip: str, port: int, timeout: float) -> tuple[bool | None, str | None]:
    """(offered, error): one raw SSLv2 CLIENT-HELLO; a TLS alert, a reset or silence-then-close is 'not offered'."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(SSL2_CLIENT_HELLO)
            try:
                data = s.recv(3)
            except (ConnectionResetError, BrokenPipeError):
                return False, None
    except TimeoutError:
        return None, f"no answer within {timeout:g}s"
    except OSError as exc:
        return None, f"connection failed: {exc}"
    return is_ssl2_server_hello(data), None


def probe_openssl_only_suites(ip: str, port: int, server_name: str, timeout: float, *, ca_file: str | None = None,
                              starttls: str | None = None, sni: bool = True) -> OpensslProbe | None:
    """Which OPENSSL_ONLY_SUITES the endpoint accepts, its ECDHE groups and its chain; None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    st = starttls.replace("_", "-") if starttls else None
    if st is not None and st not in S_CLIENT_STARTTLS:
        return None
    name = server_name if sni else None
    out = OpensslProbe(openssl=openssl)
    for suite in OPENSSL_ONLY_SUITES:
        hs, cmd = s_client(openssl, ip, port, name, timeout, suite=suite, ca_file=ca_file, starttls=st)
        out.commands.append(cmd)
        if hs.suite == suite:
            out.accepted[suite] = hs
    first = next(iter(out.accepted), None)
    if first is not None:
        for group, label in GROUPS.items():
            hs, cmd = s_client(openssl, ip, port, name, timeout, suite=first, group=group, starttls=st)
            out.commands.append(cmd)
            if hs.suite == first:
                out.groups.append(label)
        if st is None:
            out.ssl2_offered, out.ssl2_error = probe_ssl2(ip, port, timeout)
    return out


def chain(hs: Handshake) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(p.encode("ascii")) for p in hs.chain_pem]


# ------------------------------------------------------------------ probe -> typed facts (no I/O)


def openssl_facts(ep, probe: OpensslProbe, single: dict, scanner: str) -> tuple:  # type: ignore[no-untyped-def]
    """TlsFacts for an endpoint only `openssl s_client` could negotiate with: TLS 1.3 with the suites and
    groups found, TLS 1.2 and older from the single-handshake probes, SSL 2.0 from the raw hello, the chain
    as s_client verified it. sslyze's weakness probes could not run: each is 'does not apply' when nothing
    below TLS 1.3 is offered (they concern TLS 1.2 and older), else unavailable (scan incomplete)."""
    from tenken.collectors.evidence import Reason, Unavailable
    from tenken.collectors.tls.certs import certificate_facts
    from tenken.collectors.tls.facts import (
        CERTIFICATE,
        CLIENT_AUTH_HTTP,
        AcceptedSuite,
        ClientAuthFacts,
        ClientAuthRequirement,
        KeyExchange,
        TlsFacts,
        TlsVersion,
        VersionSupport,
        Weakness,
        suites_probe,
    )

    first = probe.first
    assert first is not None
    unavailable: dict[str, Unavailable] = {}
    versions: dict[TlsVersion, VersionSupport] = {}
    lines = [f"openssl s_client probes of {ep.target} (SNI {ep.server_name or ep.host}), zone {ep.zone.value}: sslyze could not "
             f"negotiate (its TLS 1.3 hello offers no CCM suite); {probe.openssl} offered each of {', '.join(OPENSSL_ONLY_SUITES)}"]
    suites = []
    for name, hs in probe.accepted.items():
        kx = KeyExchange(kind=hs.temp_key[0], group=hs.temp_key[1], bits=hs.temp_key[2]) if hs.temp_key else None
        suites.append(AcceptedSuite(name=name, key_exchange=kx))
    versions[TlsVersion.TLS13] = VersionSupport(offered=True, suites=suites, server_preference=None)
    lines.append(f"{TlsVersion.TLS13.value}: offered (order not determined): " + ", ".join(
        f"{s.name} [{s.key_exchange.kind} {s.key_exchange.group or ''} {s.key_exchange.bits or ''}]".replace("  ", " ")
        if s.key_exchange else s.name for s in suites))
    below = []
    for version in (TlsVersion.SSL3, TlsVersion.TLS10, TlsVersion.TLS11, TlsVersion.TLS12):
        vp = single.get(version)
        offered = getattr(vp, "offered", None)
        if offered is None:
            why = getattr(vp, "error", None) or "not probed"
            unavailable[version.probe] = Unavailable(reason=Reason.FAILED, detail=f"single-handshake probe: {why}")
            lines.append(f"{version.value}: INCOMPLETE ({why})")
            below.append(None)
            continue
        versions[version] = VersionSupport(offered=bool(offered))
        if offered and version is TlsVersion.TLS12:
            unavailable[suites_probe(version.value)] = Unavailable(reason=Reason.FAILED, detail="TLS 1.2 is offered but sslyze could not enumerate its suites")
        lines.append(f"{version.value}: {'offered' if offered else 'not offered'} [one handshake offering every suite]")
        below.append(bool(offered))
    if probe.ssl2_offered is None:
        unavailable[TlsVersion.SSL2.probe] = Unavailable(reason=Reason.FAILED, detail=f"SSLv2 hello: {probe.ssl2_error or 'not probed (STARTTLS)'}")
        lines.append(f"{TlsVersion.SSL2.value}: INCOMPLETE ({probe.ssl2_error or 'not probed'})")
        below.append(None)
    else:
        versions[TlsVersion.SSL2] = VersionSupport(offered=probe.ssl2_offered)
        lines.append(f"{TlsVersion.SSL2.value}: {'offered' if probe.ssl2_offered else 'not offered'} [one SSLv2 CLIENT-HELLO]")
        below.append(probe.ssl2_offered)
    lines.append(f"groups (ECDHE, one handshake each): {', '.join(probe.groups) or 'none'}")
    certificate = None
    try:
        certs = chain(first)
    except ValueError:
        certs = []
    if certs:
        store = f"CA file {ep.ca_file}" if ep.ca_file else "the system trust store (openssl default)"
        trusted = first.verify_code == 0
        certificate = certificate_facts(certs, hostname=ep.server_name or ep.host, trust_store=store, trusted=trusted,
                                        validation_error=None if trusted else f"{first.verify_code} ({first.verify_text})")
        lines.append(f"certificate: {certificate.subject} issued by {certificate.issuer}; {certificate.key_type} {certificate.key_bits} bits; "
                     f"chain of {certificate.chain_length} {'trusted' if trusted else 'NOT trusted'} by {store} "
                     f"(s_client verify {first.verify_code} {first.verify_text}); sha256 {certificate.sha256_fingerprint}")
    else:
        unavailable[CERTIFICATE] = Unavailable(reason=Reason.FAILED, detail="openssl s_client printed no certificate")
    tls13_only = all(b is False for b in below)
    for w in Weakness:
        if tls13_only:
            unavailable[w.probe] = Unavailable(reason=Reason.ABSENT, detail=(
                "does not apply: the endpoint offers TLS 1.3 only (TLS 1.2 and older refused), and this weakness concerns "
                "TLS 1.2 and older; sslyze, which probes it, cannot negotiate with this server"))
        else:
            unavailable[w.probe] = Unavailable(reason=Reason.FAILED, detail="sslyze cannot negotiate with this server (CCM-only TLS 1.3)")
    lines.append("known weaknesses: " + ("not applicable (TLS 1.3 only)" if tls13_only else "not probed (sslyze cannot connect)"))
    req = (ClientAuthRequirement.REQUIRED if first.cert_required_alert else
           ClientAuthRequirement.OPTIONAL if first.cert_requested else ClientAuthRequirement.DISABLED)
    lines.append(f"client certificate at the TLS layer: {req.value}")
    if req is ClientAuthRequirement.OPTIONAL:
        unavailable[CLIENT_AUTH_HTTP] = Unavailable(reason=Reason.FAILED, detail="the HTTP-layer probe (Python ssl) cannot negotiate CCM suites")
    facts = TlsFacts(
        host=ep.host, port=ep.port, server_name=ep.server_name or ep.host, starttls=ep.starttls.value if ep.starttls else None,
        zone=ep.zone.value, scanner=f"{scanner} + openssl s_client", client_certificate_used=False, highest_version=TlsVersion.TLS13,
        versions=versions, supported_groups=probe.groups, certificate=certificate, client_auth=ClientAuthFacts(tls_layer=req),
        weaknesses={}, unavailable=unavailable, tls12_exception=ep.tls12_exception, scanned_at=datetime.now(UTC))
    return facts, "\n".join(lines) + "\n"
