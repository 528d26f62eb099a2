"""Secrets by reference, never by value: the guideline forbids readable passwords in configuration files.

A reference is `env:VARNAME` or `keyring:SERVICE/USERNAME`. Config files hold only references; the value is
looked up at the moment of use and never logged or written to a report.
"""

from __future__ import annotations

import os
import re

from tenken.checks.configfile import ConfigError

REF = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|keyring:[^/\s]+/[^\s]+)$")


class SecretUnavailable(Exception):
    pass


def is_reference(value: str) -> bool:
    return bool(REF.match(value))


def check_reference(value: str, *, where: str) -> str:
    """Config-time validation: anything that is not a reference is treated as a password in a file."""
    if not is_reference(value):
        raise ConfigError(
            f"{where}: must be a reference like env:VARNAME or keyring:SERVICE/USER — "
            "passwords must not be written in configuration files (SO-14-6)"
        )
    return value


def resolve_secret(ref: str) -> str:
    if ref.startswith("env:"):
        name = ref[4:]
        val = os.environ.get(name)
        if val is None:
            raise SecretUnavailable(f"environment variable {name} is not set")
        return val
    if ref.startswith("keyring:"):
        service, _, user = ref[8:].partition("/")
        import keyring

        try:
            val = keyring.get_password(service, user)
        except Exception as exc:  # keyring backends raise their own types
            raise SecretUnavailable(f"keyring lookup {service}/{user} failed: {type(exc).__name__}") from exc
        if val is None:
            raise SecretUnavailable(f"no keyring entry for {service}/{user}")
        return val
    raise SecretUnavailable("not a secret reference (env:VAR or keyring:SERVICE/USER)")
