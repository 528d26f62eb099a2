"""RFC 3161 timestamps for a bundle manifest: ask a TSA, and verify a token offline.

asn1crypto (pure Python, no C deps, widely used by certvalidator/oscrypto/pyHanko) parses the TimeStampReq/Resp and
CMS structures; `cryptography` checks the signatures. Verification needs no network: the TSA certificates come
from the token itself or from the bundle (`tsa_certs`), and the signer must chain to one of `tsa_certs`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


class TimestampError(Exception):
    """A TSA answer or token that cannot be used; the message says why."""


@dataclass(frozen=True)
class TimestampInfo:
    gen_time: datetime
    tsa_name: str
    hash_algorithm: str
    policy: str
    serial_number: int
    certificates: list[bytes]  # DER certs carried in the token: store them in the bundle for offline checks


def request_timestamp(data: bytes, tsa_url: str, *, ca_file: Path | None = None, timeout: float = 10.0) -> bytes:
    """POST a SHA-256 TimeStampReq (certReq=true, random nonce); return the DER TimeStampResp if granted."""
    nonce = int.from_bytes(os.urandom(8), "big")
    req = tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(data).digest()},
        "nonce": nonce, "cert_req": True,
    })
    try:
        r = httpx.post(tsa_url, content=req.dump(), headers={"Content-Type": "application/timestamp-query"},
                       timeout=timeout, verify=str(ca_file) if ca_file else True)
    except httpx.TimeoutException as e:
        raise TimestampError(f"TSA {tsa_url}: no answer within {timeout}s") from e
    except httpx.HTTPError as e:
        raise TimestampError(f"TSA {tsa_url}: {e}") from e
    if r.status_code != 200:
        raise TimestampError(f"TSA {tsa_url}: HTTP {r.status_code}")
    resp = _parse_resp(r.content, tsa_url)
    tst = resp["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    if tst["nonce"].native != nonce:
        raise TimestampError(f"TSA {tsa_url}: nonce in the answer does not match the request")
    return r.content


def _parse_resp(der: bytes, where: str) -> tsp.TimeStampResp:
    try:
        resp = tsp.TimeStampResp.load(der)
        status = resp["status"]["status"].native
        token = resp["time_stamp_token"]
        if status not in ("granted", "granted_with_mods"):
            raise TimestampError(f"{where}: TSA refused the request (status {status})")
        if token.native is None or token["content_type"].native != "signed_data":
            raise TimestampError(f"{where}: answer carries no signed timestamp token")
        _ = token["content"]["encap_content_info"]["content"].parsed.native  # force a full parse
    except TimestampError:
        raise
    except Exception as e:  # asn1crypto raises ValueError/TypeError on malformed DER
        raise TimestampError(f"{where}: not a DER TimeStampResp ({e})") from e
    return resp


def _verify_sig(cert: x509.Certificate, sig: bytes, signed: bytes, h: hashes.HashAlgorithm) -> None:
    pub = cert.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        pub.verify(sig, signed, padding.PKCS1v15(), h)
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(sig, signed, ec.ECDSA(h))
    else:
        raise TimestampError(f"unsupported TSA key type {type(pub).__name__}")


def verify_timestamp(tsr: bytes, data: bytes, *, tsa_certs: list[bytes]) -> TimestampInfo:
    """Check that `tsr` (DER TimeStampResp) timestamps exactly `data`, signed by a timeStamping certificate that
    is one of, or issued by one of, `tsa_certs` (DER). Raises TimestampError with the reason otherwise."""
    resp = _parse_resp(tsr, "timestamp token")
    sd: cms.SignedData = resp["time_stamp_token"]["content"]
    tst = sd["encap_content_info"]["content"].parsed
    alg = tst["message_imprint"]["hash_algorithm"]["algorithm"].native
    if alg not in _HASHES:
        raise TimestampError(f"timestamp token: unsupported imprint hash {alg}")
    if hashlib.new(alg, data).digest() != tst["message_imprint"]["hashed_message"].native:
        raise TimestampError("timestamp token: the message imprint does not cover this data")
    (si,) = sd["signer_infos"]
    token_certs = [c.chosen.dump() for c in sd["certificates"]] if sd["certificates"].native else []
    pool = [x509.load_der_x509_certificate(c) for c in [*token_certs, *tsa_certs]]
    sid = si["sid"].chosen
    signer = next((c for c in pool if isinstance(sid, cms.IssuerAndSerialNumber)
                   and c.serial_number == sid["serial_number"].native
                   and c.issuer.public_bytes() == sid["issuer"].dump()), None)
    if signer is None:
        raise TimestampError("timestamp token: the signing certificate is neither in the token nor in tsa_certs")
    dalg = si["digest_algorithm"]["algorithm"].native
    if dalg not in _HASHES:
        raise TimestampError(f"timestamp token: unsupported digest {dalg}")
    content = sd["encap_content_info"]["content"].contents
    attrs = {a["type"].native: a["values"][0] for a in si["signed_attrs"]}
    if attrs.get("message_digest") is None or attrs["message_digest"].native != hashlib.new(dalg, content).digest():
        raise TimestampError("timestamp token: signed digest does not match the TSTInfo (token altered)")
    signed = si["signed_attrs"].untag().dump()
    try:
        _verify_sig(signer, si["signature"].native, signed, _HASHES[dalg]())
    except Exception as e:
        raise TimestampError(f"timestamp token: signature does not verify ({type(e).__name__})") from e
    try:
        eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as e:
        raise TimestampError("timestamp token: signer certificate has no extendedKeyUsage") from e
    if not eku.critical or x509.oid.ExtendedKeyUsageOID.TIME_STAMPING not in eku.value:
        raise TimestampError("timestamp token: signer certificate is not a critical timeStamping certificate")
    anchors = [x509.load_der_x509_certificate(c) for c in tsa_certs]
    if not any(signer == a for a in anchors):
        issuer = next((a for a in anchors if a.subject == signer.issuer), None)
        if issuer is None:
            raise TimestampError("timestamp token: signer is not issued by any of the given TSA certificates")
        try:
            signer.verify_directly_issued_by(issuer)
        except Exception as e:
            raise TimestampError(f"timestamp token: signer certificate not validly issued by {issuer.subject.rfc4514_string()}") from e
    name = tst["tsa"].native if tst["tsa"].native else None
    return TimestampInfo(
        gen_time=tst["gen_time"].native, tsa_name=str(name) if name else signer.subject.rfc4514_string(),
        hash_algorithm=alg, policy=tst["policy"].native, serial_number=tst["serial_number"].native,
        certificates=token_certs,
    )


def pem_certs_to_der(pem: bytes) -> list[bytes]:
    try:
        return [c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(pem)]
    except ValueError as e:
        raise TimestampError(f"TSA certificates: not PEM certificates ({e})") from e


def describe(info: TimestampInfo, anchored: bool) -> str:
    how = "anchored in the TSA certificates of keys/tsa-ca.pem" if anchored else "NOT anchored: no TSA certificate in the bundle; the token's own certificate was used"
    return f"RFC 3161 by {info.tsa_name} at {info.gen_time.isoformat()} ({info.hash_algorithm}, serial {info.serial_number}); {how}"


def make_timestamper(tsa_url: str, *, ca_file: Path | None = None, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """The bundle builder's timestamp step: request a token over the manifest and check it before the bundle is
    written, against `ca_file` (the TSA's CA certificates, PEM) when given."""
    anchors = pem_certs_to_der(ca_file.read_bytes()) if ca_file else []

    def stamp(data: bytes) -> bytes:
        tsr = request_timestamp(data, tsa_url, timeout=timeout)
        verify_timestamp(tsr, data, tsa_certs=anchors or _token_certs(tsr))
        return tsr

    return stamp


def _token_certs(tsr: bytes) -> list[bytes]:
    sd = _parse_resp(tsr, "timestamp token")["time_stamp_token"]["content"]
    return [c.chosen.dump() for c in sd["certificates"]] if sd["certificates"].native else []


def check_in_bundle(tsr: bytes, data: bytes, anchors_pem: bytes | None) -> str:
    """What `tenken verify` runs: the token must cover `data`; with the bundle's TSA certificates it must chain to them."""
    anchors = pem_certs_to_der(anchors_pem) if anchors_pem else []
    info = verify_timestamp(tsr, data, tsa_certs=anchors or _token_certs(tsr))
    return describe(info, bool(anchors))


__all__ = ["TimestampError", "TimestampInfo", "check_in_bundle", "make_timestamper", "request_timestamp", "verify_timestamp"]
