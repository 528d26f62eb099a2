"""Linux collectors. Each module registers itself on import; add new modules to this list."""

from tenken.collectors.linux import (
    accounts,  # noqa: F401
    backups,  # noqa: F401
)
