"""Windows collectors (over WinRM). Each module registers itself on import; add new modules to this list."""

from tenken.collectors.windows import (  # noqa: F401
    accounts,
    antimalware,
    auditpol,
    backups,
    bitlocker,
    eventlog,
    firewall,
    listeners,
    password_policy,
    pending_updates,
    rdp,
    screen_lock,
    services,
    smb,
    time,
    updates,
    usb,
)
