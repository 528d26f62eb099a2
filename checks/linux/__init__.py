"""Linux checks. Each module registers itself on import; add new modules to this list."""

from tenken.checks.linux import (
    accounts,  # noqa: F401
    antimalware,  # noqa: F401
    backups,  # noqa: F401
    eos,  # noqa: F401
    logs,  # noqa: F401
    passwords,  # noqa: F401
    patches,  # noqa: F401
    protections,  # noqa: F401
    remote_access,  # noqa: F401
    secrets,  # noqa: F401
    services,  # noqa: F401
    timesync,  # noqa: F401
    two_factor,  # noqa: F401
)
