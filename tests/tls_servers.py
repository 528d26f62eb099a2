"""Real TLS servers for the TLS audit tests and the benchmark, all on 127.0.0.1.

Certificates are built with `cryptography` (sslyze's path validation, the Rust X.509 verifier, rejects
trustme's certificates): a private CA, server leaves (RSA-2048, RSA-1024, expired), a client certificate.
Servers: nginx (handles concurrency; one master, many `server` blocks), a threaded Python `ssl` server
that requires a client certificate inside the TLS handshake (nginx only refuses at the HTTP layer), and
a small SMTP server that upgrades with STARTTLS. Every process is started and stopped by the fixture.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# The 高セキュリティ型 TLS 1.2 rule as an OpenSSL cipher string (IPA's pattern) and the TLS 1.3 suites.
HIGH_TLS12 = "ECDHE+AESGCM:DHE+aRSA+AESGCM:ECDHE+AESCCM:DHE+aRSA+AESCCM:ECDHE+CHACHA20:DHE+aRSA+CHACHA20:+AES128:+DHE"
HIGH_TLS13 = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


# --------------------------------------------------------------------------------------------- PKI


def _write_key(path: Path, key) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.chmod(0o600)


def _write_cert(path: Path, *certs: x509.Certificate) -> None:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))


@dataclass
class Pki:
    """File paths of one private CA and the certificates it issued."""

    dir: Path
    ca_cert: Path
    ca_key_obj: object = field(repr=False)
    ca_obj: x509.Certificate = field(repr=False)

    def issue(self, name: str, *, key_type: str = "rsa", key_size: int = 2048, days: int = 365, not_before_days: int = -1,
              client: bool = False, hostnames: tuple[str, ...] = ("localhost", "127.0.0.1"),
              sig_hash: hashes.HashAlgorithm | None = None) -> tuple[Path, Path]:
        """A leaf certificate + key signed by the CA; returns (cert chain path, key path)."""
        key = ec.generate_private_key(ec.SECP256R1()) if key_type == "ec" else rsa.generate_private_key(65537, key_size)
        now = dt.datetime.now(dt.UTC)
        sans: list[x509.GeneralName] = []
        for h in hostnames:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                sans.append(x509.DNSName(h))
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"tenken test {name}")]))
            .issuer_name(self.ca_obj.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + dt.timedelta(days=not_before_days))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=key_type == "rsa", content_commitment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key_obj.public_key()), critical=False)  # type: ignore[attr-defined]
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.ca_key_obj, sig_hash or hashes.SHA256())  # type: ignore[arg-type]
        cert_path, key_path = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        _write_cert(cert_path, cert)
        _write_key(key_path, key)
        return cert_path, key_path


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tenken test hospital"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "tenken test private CA")])
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=2)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )
    ca_path = directory / "ca.crt"
    _write_cert(ca_path, ca)
    return Pki(directory, ca_path, key, ca)


# ------------------------------------------------------------------------------------------- nginx


@dataclass
class NginxSite:
    """One `server` block: a TLS listener with its own protocols, suites and certificate."""

    port: int
    cert: Path
    key: Path
    protocols: str = "TLSv1.3"
    ciphers: str = HIGH_TLS12
    tls13_suites: str | None = HIGH_TLS13
    verify_client: str | None = None  # "on" / "optional"
    client_ca: Path | None = None
    ecdh_curve: str = "X25519:prime256v1:secp384r1"
    extra: str = ""

    def render(self) -> str:
        lines = [
            f"listen 127.0.0.1:{self.port} ssl;",
            "server_name localhost;",
            f"ssl_certificate {self.cert};",
            f"ssl_certificate_key {self.key};",
            f"ssl_protocols {self.protocols};",
            f'ssl_ciphers "{self.ciphers}";',
            "ssl_prefer_server_ciphers on;",
            f"ssl_ecdh_curve {self.ecdh_curve};",
        ]
        if self.tls13_suites:
            lines.append(f'ssl_conf_command Ciphersuites "{self.tls13_suites}";')
        if self.verify_client:
            lines += [f"ssl_verify_client {self.verify_client};", f"ssl_client_certificate {self.client_ca};"]
        lines += ["location / { return 200 'ok\\n'; }", self.extra]
        return "server {\n    " + "\n    ".join(x for x in lines if x) + "\n}\n"


class Nginx:
    """A private nginx (own config, pid, logs, temp dirs) serving many TLS sites concurrently."""

    def __init__(self, directory: Path, sites: list[NginxSite]) -> None:
        self.dir = directory
        self.sites = sites
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        self.dir.mkdir(parents=True, exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(exist_ok=True)
        user = "user root;" if os.geteuid() == 0 else ""
        conf = f"""
{user}
worker_processes 2;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/client_body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    default_type text/plain;
{"".join(s.render() for s in self.sites)}
}}
"""
        (self.dir / "nginx.conf").write_text(conf)
        self.proc = subprocess.Popen([NGINX, "-e", str(self.dir / "error.log"), "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
                                      "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for s in self.sites:
                wait_port(s.port)
        except RuntimeError:
            self.stop()
            err = (self.dir / "error.log").read_text(errors="replace") if (self.dir / "error.log").exists() else ""
            raise RuntimeError(f"nginx did not start: {err[-2000:]}") from None
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# ------------------------------------------------------------------- Python ssl servers (threaded)


def server_context(cert: Path, key: Path, *, client_ca: Path | None = None, min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
                   max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3, ciphers: str = HIGH_TLS12) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version, ctx.maximum_version = min_version, max_version
    ctx.set_ciphers(ciphers)
    ctx.load_cert_chain(cert, key)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED  # refused inside the handshake: no certificate, no session
        ctx.load_verify_locations(client_ca)
    return ctx


class _Threaded(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class _HttpsHandler(socketserver.BaseRequestHandler):
    """Minimal HTTPS: handshake, read one request, answer 200."""

    def handle(self) -> None:
        ctx: ssl.SSLContext = self.server.tls_context  # type: ignore[attr-defined]
        self.request.settimeout(10)
        try:
            with ctx.wrap_socket(self.request, server_side=True) as tls:
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 16384:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
        except (OSError, ssl.SSLError):
            return


class _SmtpHandler(socketserver.StreamRequestHandler):
    """An SMTP server that offers STARTTLS and speaks enough SMTP after it for a scanner."""

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        ctx: ssl.SSLContext = self.server.tls_context  # type: ignore[attr-defined]
        self.request.settimeout(10)
        try:
            self._reply("220 localhost ESMTP tenken-test")
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    return
                cmd = line.strip().upper()
                if cmd.startswith((b"EHLO", b"HELO")):
                    self._reply("250-localhost")
                    self._reply("250-SIZE 10240000")
                    self._reply("250 STARTTLS")
                elif cmd == b"STARTTLS":
                    self._reply("220 2.0.0 Ready to start TLS")
                    break
                elif cmd == b"QUIT":
                    self._reply("221 bye")
                    return
                else:
                    self._reply("502 command not implemented")
            with ctx.wrap_socket(self.request, server_side=True) as tls:
                f = tls.makefile("rwb")
                while True:
                    line = f.readline(1024)
                    if not line:
                        return
                    cmd = line.strip().upper()
                    if cmd.startswith((b"EHLO", b"HELO")):
                        f.write(b"250-localhost\r\n250 SIZE 10240000\r\n")
                    elif cmd == b"QUIT":
                        f.write(b"221 bye\r\n")
                        f.flush()
                        return
                    else:
                        f.write(b"250 ok\r\n")
                    f.flush()
        except (OSError, ssl.SSLError):
            return


class _ServerProcess:
    """A test server in a child process listening on `self.port`: started, waited for, stopped."""

    port: int
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None

    def _popen(self) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def start(self) -> Self:
        self.proc = self._popen()
        try:
            wait_port(self.port)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class PyTlsServer(_ServerProcess):
    """A threaded TLS server (real OpenSSL via the ssl module) in its own process: HTTPS or SMTP+STARTTLS.

    Its own process, so the scanner in the test process does not share a GIL with the server it scans.
    """

    def __init__(self, cert: Path, key: Path, *, client_ca: Path | None = None, min_version: str = "1.3",
                 ciphers: str = HIGH_TLS12, smtp: bool = False, serial_delay: float | None = None) -> None:
        self.port = free_port()
        self.argv = [sys.executable, str(Path(__file__).resolve()), "pyserver", "--port", str(self.port), "--cert", str(cert),
                     "--key", str(key), "--min", min_version, "--ciphers", ciphers]
        if client_ca is not None:
            self.argv += ["--client-ca", str(client_ca)]
        if smtp:
            self.argv.append("--smtp")
        if serial_delay is not None:
            self.argv += ["--serial-delay", str(serial_delay)]
        self.proc: subprocess.Popen[bytes] | None = None

    def _popen(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class OpenSslServer(_ServerProcess):
    """`openssl s_server` with chosen TLS 1.3 suites: Python's ssl cannot restrict TLS 1.3 suites, and a
    server accepting only TLS_AES_128_CCM_8_SHA256 (embedded TLS stacks on devices) is what sslyze's hello
    never meets. `-www` answers an HTTP GET with a status page, one connection at a time."""

    def __init__(self, cert: Path, key: Path, *, ciphersuites: str = "TLS_AES_128_CCM_8_SHA256", extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-cert", str(cert), "-key", str(key),
                     "-tls1_3", "-ciphersuites", ciphersuites, "-www", "-quiet", *extra]
        self.proc: subprocess.Popen[bytes] | None = None

    def _popen(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class _Serial(socketserver.TCPServer):
    """One connection at a time, the rest wait in the listen backlog: a UPS card, a printer, a modality."""

    allow_reuse_address = True
    request_queue_size = 32


class _SlowHandler(_HttpsHandler):
    """Thinks `delay` seconds before each handshake (a small CPU doing the key exchange) and drops an idle
    session after one second, as embedded web servers do."""

    def handle(self) -> None:
        import time

        time.sleep(self.server.delay)  # type: ignore[attr-defined]
        ctx: ssl.SSLContext = self.server.tls_context  # type: ignore[attr-defined]
        self.request.settimeout(1.0)
        with contextlib.suppress(OSError, ssl.SSLError), ctx.wrap_socket(self.request, server_side=True) as tls:
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 16384:
                chunk = tls.recv(4096)
                if not chunk:
                    return
                data += chunk
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")


def _serve_forever(port: int, ctx: ssl.SSLContext, smtp: bool, serial_delay: float | None = None) -> None:
    if serial_delay is not None:
        slow = _Serial(("127.0.0.1", port), _SlowHandler)
        slow.tls_context = ctx  # type: ignore[attr-defined]
        slow.delay = serial_delay  # type: ignore[attr-defined]
        slow.serve_forever(poll_interval=0.2)
        return
    server = _Threaded(("127.0.0.1", port), _SmtpHandler if smtp else _HttpsHandler)
    server.tls_context = ctx  # type: ignore[attr-defined]
    server.serve_forever(poll_interval=0.2)


class PlainTcpServer:
    """A TCP port that accepts and answers, but speaks no TLS (e.g. a plain HTTP port)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with contextlib.suppress(OSError):
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                conn.close()

    def start(self) -> PlainTcpServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


@contextlib.contextmanager
def running(*servers) -> Iterator[None]:
    started = []
    try:
        for s in servers:
            s.start()
            started.append(s)
        yield
    finally:
        for s in reversed(started):
            with contextlib.suppress(Exception):
                s.stop()


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="test TLS servers")
    sub = ap.add_subparsers(dest="cmd", required=True)
    ps = sub.add_parser("pyserver")
    ps.add_argument("--port", type=int, required=True)
    ps.add_argument("--cert", type=Path, required=True)
    ps.add_argument("--key", type=Path, required=True)
    ps.add_argument("--client-ca", type=Path)
    ps.add_argument("--min", choices=["1.2", "1.3"], default="1.3")
    ps.add_argument("--ciphers", default=HIGH_TLS12)
    ps.add_argument("--smtp", action="store_true")
    ps.add_argument("--serial-delay", type=float, help="one connection at a time, each handshake after this many seconds")
    a = ap.parse_args(argv)
    minimum = ssl.TLSVersion.TLSv1_3 if a.min == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx = server_context(a.cert, a.key, client_ca=a.client_ca, min_version=minimum, ciphers=a.ciphers)
    _serve_forever(a.port, ctx, a.smtp, a.serial_delay)


if __name__ == "__main__":
    main()
