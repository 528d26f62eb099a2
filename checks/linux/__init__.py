"""Linux checks. Each module registers itself on import; add new modules to this list."""

from tenken.checks.linux import (
    accounts,  # noqa: F401
    backups,  # noqa: F401
)
