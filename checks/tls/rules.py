"""The 高セキュリティ型 rule behind the suite lists, as pure functions of IANA suite names.

The guideline's lists are what a site's servers are checked against (set membership); this rule says
*why* a suite outside them is weak, and catches a site list that was edited to include a weak suite:
forward-secret key exchange (ECDHE/DHE, or any TLS 1.3 suite) and AEAD encryption only.
"""

from __future__ import annotations

import re

_TLS13 = re.compile(r"^TLS_(AES_(128|256)_(GCM|CCM|CCM_8)|CHACHA20_POLY1305)_SHA(256|384)$")
_AEAD = re.compile(r"(^|_)(GCM|CCM|CCM_8|CHACHA20_POLY1305)(_SHA\d+)?$")


def suite_rule_violations(name: str, *, tls13: bool) -> list[str]:
    """Reasons (English keywords) a suite breaks the rule; empty when it has forward secrecy and AEAD."""
    n = name.strip().upper()
    if tls13:
        return [] if _TLS13.match(n) else ["not-aead"]
    if not n.startswith("TLS_") or "_WITH_" not in n:
        return ["unknown-suite"]
    kx, _, enc = n[4:].partition("_WITH_")
    out: list[str] = []
    if "ANON" in kx:
        out.append("anonymous")
    elif not (kx.startswith("ECDHE_") or kx.startswith("DHE_")):
        out.append("no-forward-secrecy")
    if "NULL" in enc or "EXPORT" in n:
        out.append("no-encryption")
    elif not _AEAD.search(enc):
        out.append("not-aead")
    return out


REASON_TEXT = {
    "no-forward-secrecy": ("前方秘匿性なし（静的 RSA/DH 鍵交換）", "no forward secrecy (static RSA/DH key exchange)"),
    "not-aead": ("AEAD ではない（CBC・RC4・3DES 等）", "not AEAD (CBC, RC4, 3DES, ...)"),
    "anonymous": ("サーバ認証なし（anon）", "no server authentication (anonymous)"),
    "no-encryption": ("暗号化なし・輸出グレード", "no or export-grade encryption"),
    "unknown-suite": ("不明なスイート", "unknown suite"),
    "not-listed": ("高セキュリティ型のリスト外", "not in the 高セキュリティ型 list"),
}
