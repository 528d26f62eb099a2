"""Central secret scrubber: every evidence payload passes here, whatever collector read it.

Why a second line of defence: any file a collector reads may be a symlink to, or a copy of, /etc/shadow or
a private key (a vendor "backup" of the shadow file as /etc/chrony/chrony.conf, a key pasted into a
configuration file). The per-format redactors in collectors/linux/secrets.py know configuration syntax; this
module knows the *shapes* of secrets instead - crypt(5) hashes, LDAP password schemes, PEM and PuTTY private
keys and a few well-known token formats - and replaces them wherever they occur, in raw excerpts, in facts
and in source references. It is pure and total (a bad pattern never raises past `scrub_text`).

Kept to formats that are unambiguous, so an auditor's excerpt does not turn into a wall of <redacted>.
"""

from __future__ import annotations

import re
from typing import Any

HASH_MARK = "<redacted hash>"
KEY_MARK = "<redacted private key>"
TOKEN_MARK = "<redacted token>"  # noqa: S105 - a marker, not a secret

# crypt(5): $id$[params$]salt$digest for MD5-crypt, bcrypt, SHA-crypt, yescrypt, gost-yescrypt, scrypt, argon2,
# Sun MD5, sha1crypt, passlib's pbkdf2. Locked accounts prefix "!" or "*": the digest is still a digest.
_CRYPT = re.compile(
    r"\$(?:1|2[abxy]?|5|6|y|gy|7|md5|sha1|argon2(?:id|i|d)|scrypt|pbkdf2(?:-sha\d+)?)\$[A-Za-z0-9./+=,$-]{8,}"
)
# LDAP userPassword schemes (RFC 2307 / OpenLDAP slappasswd) and their {CRYPT} wrapper.
_LDAP = re.compile(
    r"\{(?:SSHA|SHA|SMD5|MD5|CRYPT|SSHA256|SSHA384|SSHA512|SHA256|SHA384|SHA512|PBKDF2(?:-SHA\d+)?|ARGON2|"
    r"CLEARTEXT|NS-MTA-MD5|BSDMD5)\}[A-Za-z0-9+/=.$,-]+",
    re.IGNORECASE,
)
# shadow(5): name:password:lastchg:min:max:warn:inactive:expire:reserved (digits or empty). Any password field
# that is not a lock marker is a secret there, including 13-character DES and "!"-locked DES.
_SHADOW_LINE = re.compile(r"^([A-Za-z0-9_.][A-Za-z0-9_.@-]*\$?):([^:\n]*)((?::\d*){6}:[^:\n]*)$", re.MULTILINE)
# passwd(5) of old systems without shadow: name:password:uid:gid:gecos:home:shell.
_PASSWD_LINE = re.compile(r"^([A-Za-z0-9_.][A-Za-z0-9_.@-]*\$?):([^:\n]*)(:\d+:\d+:[^:\n]*:[^:\n]*:[^:\n]*)$", re.MULTILINE)
# gshadow(5): group:password:admins:members, the password field again.
_DES = re.compile(r"^[!*]*[A-Za-z0-9./]{13}$")
_LOCK_MARKERS = {"", "x", "*", "!", "!!", "!*", "*LK*", "LK", "NP", "*NP*", "!x", "!!x"}

_PEM = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY((?: BLOCK)?)-----.*?(?:-----END \1PRIVATE KEY\2-----|\Z)", re.DOTALL
)
_SSH2 = re.compile(r"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----.*?(?:---- END SSH2 ENCRYPTED PRIVATE KEY ----|\Z)", re.DOTALL)
_PUTTY_PRIVATE = re.compile(r"^(Private-Lines:[ \t]*)(\d+)[ \t]*$", re.MULTILINE)
_PUTTY_MAC = re.compile(r"^(Private-(?:MAC|Hash):[ \t]*)\S+", re.MULTILINE)

_TOKENS = (
    re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"(?i)(?<=aws_secret_access_key)(\s*[=:]\s*[\"']?)[A-Za-z0-9/+=]{40}\b"),
    re.compile(r"(?i)(?<=aws_session_token)(\s*[=:]\s*[\"']?)[A-Za-z0-9/+=]{40,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b"),
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"),  # GitLab personal access token
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),  # Slack
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API key
    re.compile(r"\b[rs]k_live_[0-9A-Za-z]{24,}\b"),  # Stripe live keys
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"),  # JSON Web Tokens
)


# Literal hints, one cheap test each, that every match of the patterns above contains: most evidence strings
# (paths, versions, setting names) have none, and the full pattern set was ~22 % of a remote scan's CPU in the
# fleet simulation. A hint is only a prefilter: when it is present the full patterns decide.
_TOKEN_HINT = re.compile(
    r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|ROA|NPA|NVA|IPA|Iza)|(?i:aws_s)|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|"
    r"[rs]k_live_|eyJ"
)


def _pw_field(m: re.Match[str]) -> str:
    pw = m.group(2)
    if pw in _LOCK_MARKERS or pw == HASH_MARK:
        return m.group(0)
    return f"{m.group(1)}:{HASH_MARK}{m.group(3)}"


def _putty(text: str) -> str:
    """PuTTY-User-Key-File-2/3: `Private-Lines: N` is followed by N base64 lines of the private key."""
    if "PuTTY-User-Key-File-" not in text:
        return text
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = _PUTTY_PRIVATE.match(lines[i])
        if m:
            n = int(m.group(2))
            for k in range(i + 1, min(len(lines), i + 1 + n)):
                lines[k] = KEY_MARK
            i += n
        i += 1
    return _PUTTY_MAC.sub(lambda m: m.group(1) + KEY_MARK, "\n".join(lines))


def _token(m: re.Match[str]) -> str:
    return (m.group(1) if m.groups() and m.group(1) else "") + TOKEN_MARK


def scrub_text(text: str) -> str:
    """`text` with every secret-shaped value replaced. On an internal error the text is withheld, not leaked."""
    if not text:
        return text
    try:
        out = text
        if "PRIVATE KEY" in out:
            out = _PEM.sub(KEY_MARK, out)
            out = _SSH2.sub(KEY_MARK, out)
        out = _putty(out)
        if "$" in out:
            out = _CRYPT.sub(HASH_MARK, out)
        if "{" in out:
            out = _LDAP.sub(HASH_MARK, out)
        if out.count(":") >= 6:  # a passwd line has 6 colons, a shadow line 8
            out = _SHADOW_LINE.sub(_pw_field, out)
            out = _PASSWD_LINE.sub(_pw_field, out)
        if _TOKEN_HINT.search(out):
            for rx in _TOKENS:
                out = rx.sub(_token, out)
        return out
    except Exception:  # a scrubber bug must not leak the text
        return "[content withheld: could not be scrubbed]"


def is_des_hash(value: str) -> bool:
    """A traditional DES crypt string (13 characters of [./0-9A-Za-z]), possibly locked with ! or *."""
    return bool(_DES.match(value))


def scrub_value(value: Any) -> Any:
    """Scrub every string inside a JSON-like value (dict keys included), keeping its shape."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub_text(k) if isinstance(k, str) else k: scrub_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub_value(v) for v in value)
    return value
