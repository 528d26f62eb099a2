"""Windows checks. Each module registers itself on import; add new modules to this list."""

from tenken.checks.windows import accounts, audit, backups, eos, logs, network, patches, protection, time  # noqa: F401
