"""Advanced audit policy: `auditpol /get /category:* /r` (CSV).

Subcategory names and the "Inclusion Setting" values are translated on Japanese Windows, but the
subcategory GUIDs are not, so rows are keyed by GUID; the setting is read in English or Japanese.
"""

from __future__ import annotations

import csv
import io
import re

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import command_text


class AuditSetting(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    guid: str  # upper case, with braces
    name: str
    success: bool
    failure: bool
    setting: str  # as printed


class AuditPolicyFacts(Facts):
    subcategories: dict[str, AuditSetting] = Field(default_factory=dict)


_GUID = re.compile(r"^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$")


def parse_setting(text: str) -> tuple[bool, bool] | None:
    """(success, failure) from an inclusion setting in English or Japanese; None if unrecognised."""
    s = " ".join(text.strip().lower().split())
    if s in ("no auditing", "監査なし", "監査しない", ""):
        return False, False
    if s in ("success and failure", "成功および失敗", "成功と失敗", "成功及び失敗"):
        return True, True
    if s in ("success", "成功"):
        return True, False
    if s in ("failure", "失敗"):
        return False, True
    return None


def parse_auditpol_csv(text: str) -> dict[str, AuditSetting]:
    """Rows of `auditpol /r`: Machine Name, Policy Target, Subcategory, Subcategory GUID, Inclusion
    Setting, Exclusion Setting. Columns are taken by position (headers are translated). Pure, total."""
    out: dict[str, AuditSetting] = {}
    try:
        rows = list(csv.reader(io.StringIO(text.replace("\x00", ""))))
    except csv.Error:
        return out
    for row in rows:
        if len(row) < 5:
            continue
        guid = row[3].strip().upper()
        if not _GUID.match(guid):
            continue
        parsed = parse_setting(row[4])
        if parsed is None:
            continue
        out[guid] = AuditSetting(guid=guid, name=row[2].strip(), success=parsed[0], failure=parsed[1], setting=row[4].strip())
    return out


@collector("windows.auditpol", facts=AuditPolicyFacts, os=OsFamily.WINDOWS)
def collect_auditpol(p: Probe) -> AuditPolicyFacts:
    """Which advanced audit subcategories record success and failure."""
    facts = AuditPolicyFacts()
    text = command_text(p, ["auditpol", "/get", "/category:*", "/r"], fact="auditpol")
    if text is None:
        return facts
    facts.subcategories = parse_auditpol_csv(text)
    if not facts.subcategories:
        from tenken.collectors.evidence import Reason

        p.note("auditpol", Reason.FAILED, "auditpol printed no recognised subcategory")
    return facts
