"""SMB server protocol settings (Get-SmbServerConfiguration): above all, whether SMBv1 is on.

SMBv1 is the protocol WannaCry and NotPetya spread through; Microsoft has disabled it by default since
Windows 10 1709 / Server 2019, but upgraded hosts and old medical devices' file shares keep it alive.
"""

from __future__ import annotations

from typing import Any

from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import ParseError, as_bool, as_dict, ps_json

SCRIPT = r"""
if (-not (Get-Command Get-SmbServerConfiguration -ErrorAction SilentlyContinue)) { [Console]::Error.WriteLine('SMB server cmdlets not available'); exit 127 }
Get-SmbServerConfiguration | Select-Object EnableSMB1Protocol,EnableSMB2Protocol,RequireSecuritySignature,EncryptData | ConvertTo-Json -Compress
"""


class SmbFacts(Facts):
    smb1_enabled: bool | None = None
    smb2_enabled: bool | None = None
    signing_required: bool | None = None
    encrypt_data: bool | None = None


def parse_smb(data: Any) -> SmbFacts:
    d = as_dict(data)
    if "EnableSMB1Protocol" not in d:
        raise ParseError("EnableSMB1Protocol missing")
    return SmbFacts(
        smb1_enabled=as_bool(d.get("EnableSMB1Protocol")),
        smb2_enabled=as_bool(d.get("EnableSMB2Protocol")),
        signing_required=as_bool(d.get("RequireSecuritySignature")),
        encrypt_data=as_bool(d.get("EncryptData")),
    )


@collector("windows.smb", facts=SmbFacts, os=OsFamily.WINDOWS)
def collect_smb(p: Probe) -> SmbFacts:
    """Whether the SMB server accepts SMBv1, and its signing/encryption settings."""
    ok, data = ps_json(p, SCRIPT, fact="smb", ref="Get-SmbServerConfiguration")
    if not ok:
        return SmbFacts()
    try:
        return parse_smb(data)
    except ParseError as exc:
        p.note("smb", Reason.FAILED, f"unexpected Get-SmbServerConfiguration output: {exc}")
        return SmbFacts()
