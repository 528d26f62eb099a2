"""Who a scanned machine is: its stable id (machine-id / MachineGuid), host name and FQDN.

The name a host was reached by (an inventory alias, an IP, `local`) is not an identity: two machines can
answer to one name over time, and one machine is renamed. The hub keys its host rows by what is read here,
and refuses a local-scan report whose machine is not the one its agent was enrolled on.

Nothing here judges; a machine whose id cannot be read (a golden image with an empty /etc/machine-id, a
minimal container) simply has no identity and is keyed by name.
"""

from __future__ import annotations

import json
import re
import socket
import threading

from tenken.collectors.evidence import HostIdentity, OsFamily
from tenken.collectors.transport.base import Transport, TransportError

MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
_MACHINE_ID = re.compile(r"^[0-9a-f]{32}$")
_GUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})$")

# One PowerShell call: registry MachineGuid, NetBIOS name, and the DNS domain of a domain member.
WINDOWS_SCRIPT = (
    "$ErrorActionPreference='SilentlyContinue';"
    "$g=(Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Cryptography' -Name MachineGuid).MachineGuid;"
    "$cs=Get-CimInstance Win32_ComputerSystem;"
    "[pscustomobject]@{guid=$g;name=$env:COMPUTERNAME;dns=$cs.DNSHostName;domain=$cs.Domain;member=$cs.PartOfDomain}"
    "|ConvertTo-Json -Compress"
)


def parse_machine_id(text: str) -> str | None:
    """The 32-hex machine id, or None for an empty/uninitialised one (`uninitialized`, blank, all zeros)."""
    value = text.strip().lower()
    if not _MACHINE_ID.fullmatch(value) or set(value) == {"0"}:
        return None
    return value


def clean_hostname(text: str) -> str | None:
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    return first if _HOSTNAME.fullmatch(first) else None


def parse_windows_identity(text: str) -> HostIdentity | None:
    try:
        data = json.loads(text.strip().lstrip("\ufeff") or "null")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    guid = str(data.get("guid") or "").strip()
    name = clean_hostname(str(data.get("dns") or data.get("name") or ""))
    if not _GUID.fullmatch(guid) or name is None:
        return None
    domain = str(data.get("domain") or "").strip()
    fqdn = f"{name}.{domain}".lower() if data.get("member") and domain and "." in domain else None
    return HostIdentity(host_id=f"machine-guid:{guid.lower()}", hostname=name, fqdn=fqdn)


def _local_fqdn(hostname: str, timeout: float = 2.0) -> str | None:
    """The canonical name of this host from the resolver (/etc/hosts first), bounded in time."""
    out: list[str] = []

    def look() -> None:
        try:
            infos = socket.getaddrinfo(hostname, None, 0, socket.SOCK_STREAM, 0, socket.AI_CANONNAME)
        except OSError:
            return
        for info in infos:
            if info[3]:
                out.append(info[3])
                return

    worker = threading.Thread(target=look, daemon=True, name="fqdn")
    worker.start()
    worker.join(timeout)
    name = out[0] if out else None
    return name if name and "." in name and not name.startswith("localhost") else None


def read_identity(transport: Transport) -> HostIdentity | None:
    """This target's identity, or None when it cannot be read (never raises for a missing fact)."""
    try:
        if transport.os is OsFamily.WINDOWS:
            res = transport.run_powershell(WINDOWS_SCRIPT, timeout=30.0)
            return parse_windows_identity(res.text()) if res.ok else None
        got = transport.read_many([*MACHINE_ID_FILES, "/etc/hostname"])
    except TransportError:
        return None
    machine_id = None
    for path in MACHINE_ID_FILES:
        data = got.get(path)
        if isinstance(data, bytes):
            machine_id = parse_machine_id(data.decode("ascii", "replace"))
            if machine_id:
                break
    if machine_id is None:
        return None
    hostname = None
    fqdn = None
    if getattr(transport, "is_local", False):
        hostname = clean_hostname(socket.gethostname())
        if hostname:
            fqdn = _local_fqdn(hostname)
    if hostname is None:
        raw = got.get("/etc/hostname")
        hostname = clean_hostname(raw.decode("utf-8", "replace")) if isinstance(raw, bytes) else None
    if hostname is None:
        return None
    if fqdn is None and "." in hostname:
        fqdn = hostname.lower()
    short = hostname.split(".")[0] if "." in hostname else hostname
    return HostIdentity(host_id=f"machine-id:{machine_id}", hostname=short, fqdn=fqdn)
