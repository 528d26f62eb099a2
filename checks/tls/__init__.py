"""TLS endpoint checks. Each module registers itself on import; add new modules to this list."""

from tenken.checks.tls import certificate, client_auth, protocol, weaknesses  # noqa: F401
