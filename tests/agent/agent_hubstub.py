"""A small, real HTTPS "hub" for the agent's tests: TLS 1.3 only, client certificate required.

It speaks the agent<->hub wire contract (POST /api/v1/reports, DSSE envelope, 201 stored / 200 duplicate /
4xx {"detail"}), verifies every envelope with the agent's public key, counts reports by id, and can be
scripted (return these statuses next, or store a report and then drop the connection so the acknowledgement
is lost). It can be stopped and started again on the same port. Certificates are made with `cryptography`;
the agent's certificate is issued from the CSR that `tenken agent init` wrote, as the real hub does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tenken.agent.dsse import EnvelopeError, SignatureError, load_public_key, verify_envelope


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@dataclass
class Pki:
    dir: Path
    ca_pem: Path
    server_cert: Path
    server_key: Path
    ca_key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate

    @classmethod
    def create(cls, directory: Path, *, ca_name: str = "test hub CA") -> Pki:
        directory.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = (
            x509.CertificateBuilder().subject_name(_name(ca_name)).issuer_name(_name(ca_name))
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        srv_key = ec.generate_private_key(ec.SECP256R1())
        srv_cert = (
            x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca_cert.subject)
            .public_key(srv_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        ca_pem = directory / "ca.pem"
        ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        (directory / "server.pem").write_bytes(srv_cert.public_bytes(serialization.Encoding.PEM))
        (directory / "server.key").write_bytes(_pem_key(srv_key))
        return cls(directory, ca_pem, directory / "server.pem", directory / "server.key", ca_key, ca_cert)

    def enroll(self, csr_path: Path, out: Path) -> Path:
        """Issue a client certificate for the agent CSR, keeping its subject and SAN (what `tenken-hub agent enroll` does)."""
        csr = x509.load_pem_x509_csr(csr_path.read_bytes())
        assert csr.is_signature_valid
        now = dt.datetime.now(dt.UTC)
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cert = (
            x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.ca_cert.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(san, critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class HubState:
    """What the stub hub saw. Shared across stop/start so a restarted hub remembers what it stored."""

    stored: dict[str, bytes] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # report ids in the order they were first stored
    posts: Counter = field(default_factory=Counter)  # every POST per report id (resends included)
    duplicates: Counter = field(default_factory=Counter)
    invalid: list[str] = field(default_factory=list)  # bodies that did not verify (must stay empty)
    peers: set = field(default_factory=set)  # client certificate CNs
    script: deque = field(default_factory=deque)  # next responses: (status, detail, headers) or "drop"
    drop_after_store: set = field(default_factory=set)  # report ids whose first acknowledgement is lost
    lock: threading.Lock = field(default_factory=threading.Lock)


class StubHub:
    def __init__(self, pki: Pki, agent_pub: Path, *, port: int | None = None, max_tls: ssl.TLSVersion | None = None) -> None:
        self.pki, self.port = pki, port or free_port()
        self.pub = load_public_key(agent_pub.read_bytes())
        self.state = HubState()
        self.max_tls = max_tls
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set = set()
        self._conns_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self.max_tls is not None:
            ctx.maximum_version = self.max_tls
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(self.pki.ca_pem))
        ctx.load_cert_chain(str(self.pki.server_cert), str(self.pki.server_key))
        return ctx

    def start(self) -> StubHub:
        hub = self
        ctx = self._context()

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def finish_request(self, request, client_address):  # TLS handshake in the worker thread
                request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body go in two writes
                try:
                    tls = ctx.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                with hub._conns_lock:
                    hub._conns.add(tls)
                try:
                    super().finish_request(tls, client_address)
                except (ssl.SSLError, OSError):
                    pass
                finally:
                    with hub._conns_lock:
                        hub._conns.discard(tls)
                    with contextlib.suppress(OSError):
                        tls.close()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                st = hub.state
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                cert = self.connection.getpeercert()
                cn = next(v for rdn in cert["subject"] for k, v in rdn if k == "commonName")
                st.peers.add(cn)
                if self.path != "/api/v1/reports":
                    return self._reply(404, {"detail": "not found"})
                if self.headers.get("Content-Type") != "application/vnd.dsse.envelope.v1+json":
                    return self._reply(415, {"detail": "wrong content type"})
                try:
                    payload = verify_envelope(body, [hub.pub])
                    rid = json.loads(payload)["id"]
                except (EnvelopeError, SignatureError, ValueError, KeyError) as exc:
                    with st.lock:
                        st.invalid.append(str(exc))
                    return self._reply(422, {"detail": f"invalid: {exc}"})
                with st.lock:
                    st.posts[rid] += 1
                    scripted = st.script.popleft() if st.script else None
                if scripted is not None:
                    status, detail, headers = scripted
                    return self._reply(status, {"detail": detail}, headers)
                with st.lock:
                    if rid in st.stored:
                        if st.stored[rid] != payload:
                            return self._reply(409, {"detail": "same id, different content"})
                        st.duplicates[rid] += 1
                        status, verdict = 200, "duplicate"
                    else:
                        st.stored[rid] = payload
                        st.order.append(rid)
                        status, verdict = 201, "stored"
                    drop = rid in st.drop_after_store
                    st.drop_after_store.discard(rid)
                if drop:  # stored, but the acknowledgement never reaches the agent
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                return self._reply(status, {"report_id": rid, "status": verdict})

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._conns_lock:  # kept-alive connections must not outlive a "stopped" hub
            for c in list(self._conns):
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> StubHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
