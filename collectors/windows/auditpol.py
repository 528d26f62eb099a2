"""Advanced audit policy: `auditpol /backup` (CSV with a numeric "Setting Value"), else
`auditpol /get /category:* /r`.

Subcategory names and the "Inclusion Setting" text are translated on Japanese Windows (成功および失敗),
but the subcategory GUIDs and the backup's Setting Value (0 none, 1 success, 2 failure, 3 both) are not,
so rows are keyed by GUID and judged from the number. Only when the backup cannot be made (it needs
SeSecurityPrivilege) are the display strings of `/get /r` read, in English or Japanese.
The backup's shape (`Machine Name,Policy Target,Subcategory,Subcategory GUID,Inclusion Setting,
Exclusion Setting,Setting Value`, option rows like `,,Option:CrashOnAuditFail,,Disabled,,0`) is the one
Microsoft's AuditPolicyDsc module reads and writes in its unit tests.
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
from tenken.collectors.windows._ps import command_text, decode_text, powershell


class AuditSetting(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    guid: str  # upper case, with braces
    name: str
    success: bool
    failure: bool
    setting: str  # as printed


class AuditPolicyFacts(Facts):
    subcategories: dict[str, AuditSetting] = Field(default_factory=dict)
    source: str | None = None  # "auditpol /backup (Setting Value)" | "auditpol /get /r (display text)"


BACKUP_SCRIPT = r"""
$f = [System.IO.Path]::GetTempFileName()
try {
  $ErrorActionPreference = 'Continue'
  $o = & auditpol.exe /backup "/file:$f"
  $rc = $LASTEXITCODE
  $ErrorActionPreference = 'Stop'
  if ($rc -ne 0) { [Console]::Error.WriteLine([string]($o -join ' ')); exit $rc }
  Get-Content -LiteralPath $f -Raw
} finally { Remove-Item -LiteralPath $f -Force -ErrorAction SilentlyContinue }
"""


def parse_auditpol_backup(text: str) -> dict[str, AuditSetting]:
    """Subcategory rows of an `auditpol /backup` CSV, judged from the numeric Setting Value (column 7).
    Option and global-SACL rows (no GUID) are skipped; a row whose value is not 0-3 is left out. Pure, total."""
    out: dict[str, AuditSetting] = {}
    try:
        rows = list(csv.reader(io.StringIO(text.replace("\x00", "").lstrip("\ufeff"))))
    except csv.Error:
        return out
    for row in rows:
        if len(row) < 7:
            continue
        guid = row[3].strip().upper()
        value = row[6].strip()
        if not _GUID.match(guid) or value not in ("0", "1", "2", "3"):
            continue
        n = int(value)
        out[guid] = AuditSetting(guid=guid, name=row[2].strip(), success=bool(n & 1), failure=bool(n & 2), setting=row[4].strip())
    return out


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
    res = powershell(p, BACKUP_SCRIPT, fact="auditpol", ref="auditpol /backup")
    if res is not None and res.exit_code == 0:
        facts.subcategories = parse_auditpol_backup(decode_text(res.stdout))
        if facts.subcategories:
            facts.source = "auditpol /backup (Setting Value)"
            return facts
    text = command_text(p, ["auditpol", "/get", "/category:*", "/r"], fact="auditpol")
    if text is None:
        return facts
    facts.subcategories = parse_auditpol_csv(text)
    facts.source = "auditpol /get /r (display text)" if facts.subcategories else None
    if not facts.subcategories:
        from tenken.collectors.evidence import Reason

        p.note("auditpol", Reason.FAILED, "auditpol printed no recognised subcategory")
    return facts
