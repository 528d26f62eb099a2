"""Removable storage policy: the USBSTOR driver's start type and the RemovableStorageDevices policies.

Either the driver is disabled (Start=4) or Group Policy denies removable disks ("All Removable Storage
classes: Deny all access", or read+write denied for the removable-disk class GUID).
"""

from __future__ import annotations

from tenken.collectors.evidence import Facts
from tenken.collectors.probe import Probe
from tenken.collectors.registry import collector
from tenken.collectors.transport.base import OsFamily
from tenken.collectors.windows._registry import read_registry

RS = r"HKLM:\SOFTWARE\Policies\Microsoft\Windows\RemovableStorageDevices"
DISK = RS + r"\{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}"
VALUES = {
    "UsbStorStart": (r"HKLM:\SYSTEM\CurrentControlSet\Services\USBSTOR", "Start"),
    "DenyAll": (RS, "Deny_All"),
    "DiskDenyRead": (DISK, "Deny_Read"),
    "DiskDenyWrite": (DISK, "Deny_Write"),
    "DiskDenyExecute": (DISK, "Deny_Execute"),
}


class UsbFacts(Facts):
    usbstor_start: int | None = None  # 3 manual (usable), 4 disabled; None: driver not present
    deny_all: bool = False
    disk_deny_read: bool = False
    disk_deny_write: bool = False

    @property
    def blocked(self) -> bool:
        return self.usbstor_start == 4 or self.deny_all or (self.disk_deny_read and self.disk_deny_write)

    @property
    def write_blocked(self) -> bool:
        return self.blocked or self.disk_deny_write


def resolve_usb(v: dict[str, int | None]) -> UsbFacts:
    return UsbFacts(
        usbstor_start=v.get("UsbStorStart"),
        deny_all=v.get("DenyAll") == 1,
        disk_deny_read=v.get("DiskDenyRead") == 1,
        disk_deny_write=v.get("DiskDenyWrite") == 1,
    )


@collector("windows.usb", facts=UsbFacts, os=OsFamily.WINDOWS)
def collect_usb(p: Probe) -> UsbFacts:
    """Whether USB mass storage is blocked by driver start type or by policy."""
    vals = read_registry(p, VALUES, fact="usb", ref=r"registry: USBSTOR Start, RemovableStorageDevices")
    return resolve_usb(vals) if vals is not None else UsbFacts()
