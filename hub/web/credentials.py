"""What a person proves at login: a password (argon2id) and, for admins, a TOTP code (RFC 6238).

- Hashing: argon2-cffi's PasswordHasher (argon2id, its RFC 9106 "low memory" profile: 64 MiB, 3 passes): memory-hard,
  so a stolen database is expensive to guess at on GPUs; maintained; PHC strings carry their own parameters, so
  `needs_rehash` lets stronger settings roll out at the next login.
- The password rule is the guideline's own (Q&A シQ-54), judged by the same function that judges hosts
  (tenken.checks.rules.passwords.judge_password_rule) with the same policy values: 13+ characters of 3 classes,
  or 8+ characters of 3 classes with two-factor authentication.
- TOTP is RFC 6238 with the RFC's defaults (HMAC-SHA1, 6 digits, 30 s), written on the standard library's hmac:
  thirty lines against a dependency (pyotp is not available here), and the RFC's own test vectors check it
  (tests/web/test_credentials.py). One step of clock drift either way is accepted; a step is never accepted twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import urllib.parse
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from tenken.checks.finding import Status, Text
from tenken.checks.policy import PasswordPolicy
from tenken.checks.rules.passwords import judge_password_rule

HASHER = PasswordHasher()  # argon2id; RFC 9106 low-memory parameters (argon2-cffi's default profile)
#: Verified against when the account does not exist, so an unknown name costs as long as a wrong password.
_DUMMY_HASH = HASHER.hash(secrets.token_hex(16))

TOTP_STEP = 30
TOTP_DIGITS = 6
TOTP_DRIFT_STEPS = 1


class PasswordRejected(ValueError):
    """The password does not meet the rule; the message says which part (never the password)."""


def char_classes(password: str) -> int:
    """Classes of Q&A シQ-54's "英数字記号混在": ASCII lower-case, ASCII upper-case, digits, and everything else
    (symbols, and kana/kanji, which an ASCII-only guesser does not try)."""
    lower = any("a" <= c <= "z" for c in password)
    upper = any("A" <= c <= "Z" for c in password)
    digit = any("0" <= c <= "9" for c in password)
    other = any(not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9") for c in password)
    return lower + upper + digit + other


def check_password_rule(password: str, *, two_factor: bool, policy: PasswordPolicy | None = None) -> None:
    """Raise PasswordRejected unless the password meets Q&A シQ-54 (with two-factor: the 8+ branch)."""
    pol = (policy or PasswordPolicy()).model_copy(update={"mfa_in_place": two_factor})
    if not password.strip():
        raise PasswordRejected("the password is empty")
    verdict = judge_password_rule(len(password), char_classes(password), None, pol, where="password",
                                  fix=Text(ja="", en=""))
    if verdict.status is not Status.PASS:
        need = pol.min_length_with_mfa_or_rotation if two_factor else pol.min_length
        raise PasswordRejected(
            f"パスワードは {need} 文字以上で、英小文字・英大文字・数字・記号のうち {pol.min_classes} 種以上を含めてください"
            f" / the password needs {need}+ characters with {pol.min_classes} of lower, upper, digits, symbols"
            f" (Q&A シQ-54{', with two-factor' if two_factor else ''})")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when the password matches; an unknown account (stored None) still costs one verification."""
    try:
        return HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


# --- TOTP (RFC 6238) ------------------------------------------------------------------------------------


def new_totp_secret() -> str:
    """160 random bits (RFC 4226's recommended seed length), base32 without padding as authenticator apps take it."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    s = secret.strip().replace(" ", "").upper()
    return base64.b32decode(s + "=" * (-len(s) % 8))


def hotp(key: bytes, counter: int, digits: int = TOTP_DIGITS, digest: str = "sha1") -> str:
    """RFC 4226 HOTP: HMAC, dynamic truncation, modulo 10^digits."""
    mac = hmac.new(key, struct.pack(">Q", counter), getattr(hashlib, digest)).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % (10**digits)
    return str(code).zfill(digits)


def totp_at(secret: str, unix_time: float) -> str:
    return hotp(_key(secret), int(unix_time // TOTP_STEP))


@dataclass(frozen=True)
class TotpResult:
    ok: bool
    step: int | None  # the accepted time step (store it: the same code is refused next time)


def verify_totp(secret: str, code: str, unix_time: float, last_step: int | None) -> TotpResult:
    """Accept the code of the current step or one step either side, never a step at or before `last_step`."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == TOTP_DIGITS):
        return TotpResult(False, None)
    key = _key(secret)
    now = int(unix_time // TOTP_STEP)
    for step in range(now - TOTP_DRIFT_STEPS, now + TOTP_DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(hotp(key, step), code):
            return TotpResult(True, step)
    return TotpResult(False, None)


def otpauth_uri(secret: str, account: str, issuer: str = "tenken-hub") -> str:
    """The Key URI authenticator apps read (Google Authenticator's format)."""
    label = urllib.parse.quote(f"{issuer}:{account}")
    query = urllib.parse.urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": TOTP_DIGITS, "period": TOTP_STEP})
    return f"otpauth://totp/{label}?{query}"
