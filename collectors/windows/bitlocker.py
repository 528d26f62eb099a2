"""BitLocker volumes (Get-BitLockerVolume): protection and encryption state per volume.

The script casts enums to their names; numbers are still understood, because an older module or a
hand-run `ConvertTo-Json` gives them. Windows Server without the BitLocker feature has no cmdlet: that
is recorded as absent, and the check decides what absence means for the policy.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Facts, Reason
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._ps import ParseError, as_dict, as_int, as_list, as_str, ps_json

SCRIPT = r"""
if (-not (Get-Command Get-BitLockerVolume -ErrorAction SilentlyContinue)) { [Console]::Error.WriteLine('BitLocker is not installed (Get-BitLockerVolume missing)'); exit 127 }
Get-BitLockerVolume | Select-Object MountPoint,@{n='VolumeType';e={[string]$_.VolumeType}},@{n='ProtectionStatus';e={[string]$_.ProtectionStatus}},@{n='VolumeStatus';e={[string]$_.VolumeStatus}},@{n='EncryptionMethod';e={[string]$_.EncryptionMethod}},EncryptionPercentage | ConvertTo-Json -Depth 3 -Compress
"""

_VOLUME_TYPE = {0: "OperatingSystem", 1: "FixedData", 2: "Removable"}
_PROTECTION = {0: "Off", 1: "On", 2: "Unknown"}
_VOLUME_STATUS = {0: "FullyDecrypted", 1: "FullyEncrypted", 2: "EncryptionInProgress", 3: "DecryptionInProgress",
                  4: "EncryptionPaused", 5: "DecryptionPaused"}
_METHOD = {0: "None", 1: "Aes128Diffuser", 2: "Aes256Diffuser", 3: "Aes128", 4: "Aes256", 5: "Hardware",
           6: "XtsAes128", 7: "XtsAes256"}


class BitLockerVolume(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    mount_point: str
    volume_type: str | None = None
    protection: str | None = None
    volume_status: str | None = None
    encryption_method: str | None = None
    percentage: float | None = None

    @property
    def protected(self) -> bool:
        return self.protection == "On" and self.volume_status == "FullyEncrypted"


class BitLockerFacts(Facts):
    volumes: list[BitLockerVolume] = Field(default_factory=list)


def _enum(v: Any, names: dict[int, str]) -> str | None:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return names.get(int(v), str(int(v)))
    s = as_str(v)
    if s is not None and s.strip().lstrip("-").isdigit():
        return names.get(int(s), s.strip())
    return s


def _pct(v: Any) -> float | None:
    if isinstance(v, float) and v == v:
        return v
    n = as_int(v)
    return float(n) if n is not None else None


def parse_bitlocker(data: Any) -> list[BitLockerVolume]:
    out = []
    for raw in as_list(data):
        r = as_dict(raw)
        mp = as_str(r.get("MountPoint"))
        if not mp:
            raise ParseError("volume without a mount point")
        pct = r.get("EncryptionPercentage")
        out.append(BitLockerVolume(
            mount_point=mp,
            volume_type=_enum(r.get("VolumeType"), _VOLUME_TYPE),
            protection=_enum(r.get("ProtectionStatus"), _PROTECTION),
            volume_status=_enum(r.get("VolumeStatus"), _VOLUME_STATUS),
            encryption_method=_enum(r.get("EncryptionMethod"), _METHOD),
            percentage=_pct(pct),
        ))
    return out


@collector("windows.bitlocker", facts=BitLockerFacts, os=OsFamily.WINDOWS)
def collect_bitlocker(p: Probe) -> BitLockerFacts:
    """BitLocker protection of each volume."""
    ok, data = ps_json(p, SCRIPT, fact="volumes", ref="Get-BitLockerVolume")
    if not ok:
        return BitLockerFacts()
    try:
        return BitLockerFacts(volumes=parse_bitlocker(data))
    except ParseError as exc:
        p.note("volumes", Reason.FAILED, f"unexpected Get-BitLockerVolume output: {exc}")
        return BitLockerFacts()
