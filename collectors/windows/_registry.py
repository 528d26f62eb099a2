"""Reading a few registry values in one PowerShell round trip, with "value absent" kept distinct."""

from __future__ import annotations

from typing import Any

from tenken.collectors.probe import Probe
from tenken.collectors.windows._ps import ParseError, as_dict, as_int, ps_json


def _ps_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def registry_script(values: dict[str, tuple[str, str]]) -> str:
    """A script printing {name: value-or-null} for each (key, value name); keys are HKLM:\\ paths."""
    lines = ["function R($k,$n){ try { (Get-ItemProperty -LiteralPath $k -Name $n -ErrorAction Stop).$n } catch { $null } }", "$o=[ordered]@{}"]
    for name, (key, value) in values.items():
        lines.append(f"$o[{_ps_quote(name)}]=R {_ps_quote(key)} {_ps_quote(value)}")
    lines.append("[pscustomobject]$o | ConvertTo-Json -Compress")
    return "\n".join(lines) + "\n"


def parse_registry_ints(data: Any, names: list[str]) -> dict[str, int | None]:
    """DWORD values by name (None when absent). Raises ParseError for a non-integer value."""
    d = as_dict(data)
    return {n: as_int(d.get(n)) for n in names}


def read_registry(p: Probe, values: dict[str, tuple[str, str]], *, fact: str, ref: str) -> dict[str, int | None] | None:
    ok, data = ps_json(p, registry_script(values), fact=fact, ref=ref)
    if not ok:
        return None
    try:
        return parse_registry_ints(data, list(values))
    except ParseError as exc:
        from tenken.collectors.evidence import Reason

        p.note(fact, Reason.FAILED, f"unexpected registry output: {exc}")
        return None
