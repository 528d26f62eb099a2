"""What every Windows collector shares: running PowerShell through a Probe, and coercing its JSON.

Windows PowerShell 5.1's `ConvertTo-Json` is loose: one object instead of a one-element array, enums as
numbers or names, dates as `/Date(ms)/` (or `{"value": "/Date(ms)/", "DateTime": "..."}` when the object
carries extended properties) and ISO strings from PowerShell 7 or a script's own `.ToString('o')`. The
coercions here accept all of those and raise ParseError on anything else, so a collector either yields
typed facts or records why it could not.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tenken.collectors.evidence import Reason, Source, SourceKind, sha256_hex
from tenken.collectors.probe import FATAL, Probe, reason_of
from tenken.collectors.transport.base import CommandResult, TransportError

#: A script exits with this when the cmdlet or feature it needs is not installed (see the scripts).
EXIT_ABSENT = 127
#: The WinRM transport's prelude exits with this in Constrained Language Mode (see transport/winrm.py).
EXIT_CONSTRAINED = 126
CONSTRAINED_MARKER = b"TENKEN-LANGUAGE-MODE:"

# Windows' "never" is DateTime.MinValue (year 1) or FILETIME 0 (1601); both mean "no date".
_NO_DATE_BEFORE = datetime(1970, 1, 2, tzinfo=UTC)


class ParseError(ValueError):
    """Output was not in any shape we know; the fact becomes `failed`, never a guess."""


# -- text ----------------------------------------------------------------------------------------
def decode_text(data: bytes) -> str:
    """Console output: UTF-16LE when it says so (a BOM, or the NUL every other byte that tools writing
    Unicode to a pipe produce: secedit/auditpol files, `wmic`, `cmd /u`), else UTF-8 (code page 65001,
    what the WinRM shell asks for), else Shift_JIS (cp932: tools that ignore the shell's code page)."""
    if data.startswith(b"\xff\xfe") or _looks_utf16le(data):
        try:
            return data.decode("utf-16-le").lstrip("\ufeff")
        except UnicodeDecodeError:
            pass
    for enc in ("utf-8-sig", "cp932"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _looks_utf16le(data: bytes) -> bool:
    """ASCII-heavy UTF-16LE: most odd bytes are NUL (never true of UTF-8 or cp932 text)."""
    sample = data[:512]
    if len(sample) < 4 or len(sample) % 2:
        return False
    odd = sample[1::2]
    return odd.count(0) >= 0.6 * len(odd)


# -- JSON coercions --------------------------------------------------------------------------------
def as_list(v: Any) -> list[Any]:
    """ConvertTo-Json gives an object for one item and nothing for none: always a list here."""
    if v is None:
        return []
    if isinstance(v, list):
        return v
    if isinstance(v, dict):
        return [v]
    raise ParseError(f"expected an object or a list, got {type(v).__name__}")


def as_dict(v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        return v
    raise ParseError(f"expected an object, got {type(v).__name__}")


_TRUE = {"true", "1", "yes", "on", "enabled"}
_FALSE = {"false", "0", "no", "off", "disabled"}


def as_bool(v: Any) -> bool | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        if s in ("", "notconfigured"):
            return None
    raise ParseError(f"not a boolean: {str(v)[:40]!r}")


def as_int(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None if v is None else int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ParseError("not a finite number")
        return int(v)
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return None
        try:
            return int(s, 0) if s.lower().startswith("0x") else int(s)
        except ValueError:
            raise ParseError(f"not an integer: {s[:40]!r}") from None
    raise ParseError(f"not an integer: {type(v).__name__}")


def as_str(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool | int | float):
        return str(v)
    raise ParseError(f"not a string: {type(v).__name__}")


_MS_DATE = re.compile(r"^\\?/Date\((-?\d{1,15})([+-]\d{4})?\)\\?/$")


def parse_ps_date(v: Any) -> datetime | None:
    """A date from ConvertTo-Json in any of its shapes; None for null and Windows' "never" dates."""
    if v is None:
        return None
    if isinstance(v, dict):
        if "value" in v:
            return parse_ps_date(v["value"])
        if "DateTime" in v:
            return parse_ps_date(v["DateTime"])
        raise ParseError("date object without value")
    if not isinstance(v, str):
        raise ParseError(f"not a date: {type(v).__name__}")
    s = v.strip()
    if s == "":
        return None
    m = _MS_DATE.match(s)
    if m:
        # the milliseconds are UTC; the optional offset only says which zone the value was shown in
        try:
            dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(m.group(1)))
        except OverflowError:
            raise ParseError(f"date out of range: {s[:40]!r}") from None
        return None if dt < _NO_DATE_BEFORE else dt
    return _iso(s)


_ISO_FRACTION = re.compile(r"(\.\d{6})\d+")


def _iso(s: str) -> datetime | None:
    t = _ISO_FRACTION.sub(r"\1", s.replace("Z", "+00:00"))  # .NET writes 7 fractional digits
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise ParseError(f"not a date: {s[:40]!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # an unzoned date: taken as UTC (at most hours off, immaterial for days)
    try:
        dt = dt.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ParseError(f"date out of range: {s[:40]!r}") from None
    return None if dt < _NO_DATE_BEFORE else dt


_YMD = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:[ T]+(午前|午後)?\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(AM|PM|午前|午後)?)?$", re.I)
_MDY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(AM|PM)?)?$", re.I)


def parse_local_datetime(text: str) -> datetime | None:
    """A date printed by a console tool in the host's locale: ja-JP `2024/05/01 9:30:15`, en-US
    `5/1/2024 9:30:15 AM`, or ISO. Returned as UTC-labelled wall time: the host's zone is unknown, so
    ages computed from it may be off by the zone offset (hours), which no threshold here is near.
    Unrecognised text raises ParseError; "unspecified"/"指定されていません" and the like give None."""
    s = " ".join(text.strip().split())
    if not s:
        return None
    m = _YMD.match(s)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        hh, mm, ss = int(m.group(5) or 0), int(m.group(6) or 0), int(m.group(7) or 0)
        ampm = (m.group(4) or m.group(8) or "").upper()
        hh = _ampm(hh, ampm)
        return _mk(y, mo, d, hh, mm, ss, s)
    m = _MDY.match(s)
    if m:
        mo, d, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        hh, mm, ss = int(m.group(4) or 0), int(m.group(5) or 0), int(m.group(6) or 0)
        hh = _ampm(hh, (m.group(7) or "").upper())
        return _mk(y, mo, d, hh, mm, ss, s)
    if re.match(r"^\d{4}-\d{2}-\d{2}", s):
        return _iso(s)
    raise ParseError(f"unrecognised date: {s[:40]!r}")


def _ampm(hh: int, marker: str) -> int:
    if marker in ("PM", "午後") and hh < 12:
        return hh + 12
    if marker in ("AM", "午前") and hh == 12:
        return 0
    return hh


def _mk(y: int, mo: int, d: int, hh: int, mm: int, ss: int, s: str) -> datetime | None:
    try:
        dt = datetime(y, mo, d, hh, mm, ss, tzinfo=UTC)
    except ValueError:
        raise ParseError(f"impossible date: {s[:40]!r}") from None
    return None if dt < _NO_DATE_BEFORE else dt


# -- running PowerShell through a Probe ------------------------------------------------------------
_DENIED = ("access is denied", "アクセスが拒否されました", "unauthorizedaccess", "permissiondenied", "requires elevation")


def powershell(p: Probe, script: str, *, fact: str, ref: str, timeout: float | None = None) -> CommandResult | None:
    """Run a script, recording it as a source the way Probe.command records a command."""
    label = f"powershell: {ref}"
    if not p.t.can_run:
        p.sources.append(Source(kind=SourceKind.COMMAND, ref=label, error="offline root: not run"))
        p.note(fact, Reason.OFFLINE, f"`{ref}` cannot run against an offline root")
        return None
    try:
        res = p.t.run_powershell(script, timeout=timeout or p.settings.command_timeout)
    except FATAL:
        raise
    except TransportError as exc:
        p.sources.append(Source(kind=SourceKind.COMMAND, ref=label, error=str(exc)))
        p.note(fact, reason_of(exc, p.t), str(exc))
        return None
    p.sources.append(Source(kind=SourceKind.COMMAND, ref=label, sha256=sha256_hex(res.stdout), exit_code=res.exit_code))
    text = decode_text(res.stdout)
    if res.stderr:
        text += "\n[stderr]\n" + decode_text(res.stderr)
    p.excerpt(f"PS> {ref} (exit {res.exit_code})", text)
    return res


def failure_reason(res: CommandResult) -> Reason:
    """Why a script or console tool failed, from its exit code and (locale-tolerant) stderr."""
    if res.exit_code == EXIT_ABSENT:
        return Reason.ABSENT
    if is_constrained(res):
        return Reason.UNSUPPORTED
    blob = (decode_text(res.stdout) + decode_text(res.stderr)).lower()
    if any(d in blob for d in _DENIED) or "0x00000005" in blob or "0x80070005" in blob:
        return Reason.DENIED
    return Reason.FAILED


def is_constrained(res: CommandResult) -> bool:
    """PowerShell refused the script because the host enforces Constrained Language Mode."""
    return res.exit_code == EXIT_CONSTRAINED and CONSTRAINED_MARKER in res.stdout


def constrained_detail(res: CommandResult, ref: str) -> str:
    mode = res.stdout.split(CONSTRAINED_MARKER, 1)[1].split(b"\n", 1)[0].decode("utf-8", "replace").strip() or "ConstrainedLanguage"
    return (f"{ref}: PowerShell runs in {mode} mode on this host (application control such as AppLocker or WDAC); "
            "the collection scripts need FullLanguage. Allow the audit account's remote sessions FullLanguage "
            "(a JEA endpoint or a signed-script rule), or collect locally")


def ps_json(p: Probe, script: str, *, fact: str, ref: str, timeout: float | None = None) -> tuple[bool, Any]:
    """Run a script that ends in ConvertTo-Json; (True, value) or (False, None) with the reason noted."""
    res = powershell(p, script, fact=fact, ref=ref, timeout=timeout)
    if res is None:
        return False, None
    if is_constrained(res):
        p.note(fact, Reason.UNSUPPORTED, constrained_detail(res, ref))
        return False, None
    if res.exit_code != 0:
        msg = decode_text(res.stderr).strip() or f"exit code {res.exit_code}"
        p.note(fact, failure_reason(res), f"{ref}: {msg[:300]}")
        return False, None
    try:
        return True, loads(res.stdout)
    except ParseError as exc:
        p.note(fact, Reason.FAILED, f"{ref}: {exc}")
        return False, None


def loads(data: bytes | str) -> Any:
    """JSON from ConvertTo-Json; empty output (a null result) is None."""
    text = decode_text(data) if isinstance(data, bytes) else data
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"output is not JSON ({type(exc).__name__})") from None


def command_text(p: Probe, argv: list[str], *, fact: str, timeout: float | None = None) -> str | None:
    """Run a console tool (cmd.exe) and return its decoded output, or None with the reason noted."""
    res = p.command(argv, fact=fact, timeout=timeout)
    if res is None:
        return None
    if res.exit_code != 0:
        msg = (decode_text(res.stderr) or decode_text(res.stdout)).strip() or f"exit code {res.exit_code}"
        p.note(fact, failure_reason(res), f"{' '.join(argv)}: {msg[:300]}")
        return None
    return decode_text(res.stdout)
