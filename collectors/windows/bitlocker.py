"""BitLocker volumes (Get-BitLockerVolume): protection and encryption state per volume.

The script casts enums to their names; numbers are still understood, because an older module or a
hand-run `ConvertTo-Json` gives them. Windows Server without the BitLocker feature has no cmdlet: that
is recorded (`available=False`), and the check decides what it means for the policy. The chassis type
tells a laptop from a server, because SO-7-3 is about devices taken off-site.
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
$abs = -not (Get-Command Get-BitLockerVolume -ErrorAction SilentlyContinue)
$v = $null
if (-not $abs) { $v = Get-BitLockerVolume | Select-Object MountPoint,@{n='VolumeType';e={[string]$_.VolumeType}},@{n='ProtectionStatus';e={[string]$_.ProtectionStatus}},@{n='VolumeStatus';e={[string]$_.VolumeStatus}},@{n='EncryptionMethod';e={[string]$_.EncryptionMethod}},EncryptionPercentage }
$cs = $null; $ch = $null
try { $cs = (Get-CimInstance Win32_ComputerSystem).PCSystemType; $ch = @((Get-CimInstance Win32_SystemEnclosure).ChassisTypes) } catch {}
[pscustomobject]@{BitLockerAvailable=(-not $abs);Volumes=$v;PCSystemType=$cs;ChassisTypes=$ch} | ConvertTo-Json -Depth 4 -Compress
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


# SMBIOS chassis types of machines that are carried around: portable, laptop, notebook, hand held,
# sub notebook, tablet, convertible, detachable (SMBIOS 3.x, DSP0134 7.4.1)
PORTABLE_CHASSIS = (8, 9, 10, 11, 14, 30, 31, 32)
# Win32_ComputerSystem.PCSystemType: 2 Mobile, 8 Slate
PORTABLE_PC_TYPES = (2, 8)


class BitLockerFacts(Facts):
    available: bool = True  # False: the BitLocker feature (and its cmdlets) is not installed
    volumes: list[BitLockerVolume] = Field(default_factory=list)
    pc_system_type: int | None = None
    chassis_types: list[int] = Field(default_factory=list)

    @property
    def portable(self) -> bool | None:
        """Whether this machine is a laptop/tablet by its firmware's own description; None when unknown."""
        if self.pc_system_type is None and not self.chassis_types:
            return None
        return self.pc_system_type in PORTABLE_PC_TYPES or any(c in PORTABLE_CHASSIS for c in self.chassis_types)


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


def parse_bitlocker_report(data: Any) -> BitLockerFacts:
    """The script's JSON: feature availability, volumes (one object or a list) and chassis."""
    d = as_dict(data)
    chassis = [c for c in (as_int(x) for x in as_list_or_scalar(d.get("ChassisTypes"))) if c is not None]
    return BitLockerFacts(
        available=d.get("BitLockerAvailable") is not False,
        volumes=parse_bitlocker(d.get("Volumes")),
        pc_system_type=as_int(d.get("PCSystemType")),
        chassis_types=chassis,
    )


def as_list_or_scalar(v: Any) -> list[Any]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


@collector("windows.bitlocker", facts=BitLockerFacts, os=OsFamily.WINDOWS)
def collect_bitlocker(p: Probe) -> BitLockerFacts:
    """BitLocker protection of each volume, and whether the machine is portable."""
    ok, data = ps_json(p, SCRIPT, fact="volumes", ref="Get-BitLockerVolume; Win32_SystemEnclosure ChassisTypes")
    if not ok:
        return BitLockerFacts()
    try:
        return parse_bitlocker_report(data)
    except ParseError as exc:
        p.note("volumes", Reason.FAILED, f"unexpected Get-BitLockerVolume output: {exc}")
        return BitLockerFacts()
