"""A real RFC 3161 TSA for tests: `openssl ts -reply` behind a small HTTP handler on 127.0.0.1.

The CA and TSA certificates (extendedKeyUsage critical,timeStamping) are made here with `cryptography`.
`mode` switches the answer to garbage / HTTP 500 / a stall, to test the client's errors.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_tsa_pki(d: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, tsa.pem, tsa.key) under d."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("tenken test CA")).issuer_name(_name("tenken test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("tenken test TSA")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + timedelta(days=2))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .sign(ca_key, hashes.SHA256()))
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "tsa.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "tsa.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return d / "ca.pem", d / "tsa.pem", d / "tsa.key"


CONF = """[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {d}
serial = {d}/serial
signer_cert = {d}/tsa.pem
certs = {d}/tsa.pem
signer_key = {d}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass
class TSA:
    url: str
    dir: Path
    ca_pem: Path
    tsa_pem: Path
    mode: dict[str, str] = field(default_factory=lambda: {"mode": "ok"})

    def der_certs(self) -> list[bytes]:
        return [x509.load_pem_x509_certificate(p.read_bytes()).public_bytes(serialization.Encoding.DER)
                for p in (self.ca_pem, self.tsa_pem)]


@contextmanager
def start_tsa() -> Iterator[TSA]:
    with tempfile.TemporaryDirectory() as td:
        d = Path(td)
        ca, cert, _ = make_tsa_pki(d)
        (d / "serial").write_text("01\n")
        (d / "tsa.cnf").write_text(CONF.format(d=d))
        state = {"mode": "ok"}

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                m = state["mode"]
                if m == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                if m == "stall":
                    time.sleep(3)
                if m == "garbage":
                    out = b"this is not DER"
                else:
                    q = d / f"q{threading.get_ident()}.tsq"
                    q.write_bytes(body)
                    out = subprocess.run(["openssl", "ts", "-reply", "-config", str(d / "tsa.cnf"), "-queryfile", str(q)],
                                         capture_output=True, check=True).stdout
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            yield TSA(f"http://127.0.0.1:{srv.server_address[1]}/tsa", d, ca, cert, state)
        finally:
            srv.shutdown()
            srv.server_close()
