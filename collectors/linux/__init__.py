"""Linux collectors. Each module registers itself on import; add new modules to this list."""

from tenken.collectors.linux import (
    accounts,  # noqa: F401
    antimalware,  # noqa: F401
    backups,  # noqa: F401
    logs,  # noqa: F401
    password_policy,  # noqa: F401
    patches,  # noqa: F401
    protections,  # noqa: F401
    secrets,  # noqa: F401
    services,  # noqa: F401
    sshd,  # noqa: F401
    timesync,  # noqa: F401
)
