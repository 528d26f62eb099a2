"""OS identity from os-release(5): which distribution family a host is, so collectors pick apt or dnf.

A helper, not a collector: any Linux collector may call `read_os_release(p)`. Parsing follows the
os-release(5) shell-like rules (optional single or double quotes, backslash escapes in double quotes).
"""

from __future__ import annotations

import shlex

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.evidence import Reason
from tenken.collectors.probe import Probe

OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")

_DEBIAN_IDS = {"debian", "ubuntu", "linuxmint", "raspbian", "kali", "pop", "devuan"}
_RHEL_IDS = {"rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn", "euleros", "openeuler", "miraclelinux", "circle"}
_SUSE_IDS = {"suse", "opensuse", "sles", "sled", "opensuse-leap", "opensuse-tumbleweed"}


class OsRelease(BaseModel):
    """The fields of os-release that tell collectors which tools and paths to expect."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = "linux"  # os-release(5) default when ID is unset
    id_like: list[str] = Field(default_factory=list)
    version_id: str | None = None
    version_codename: str | None = None
    pretty_name: str | None = None
    name: str | None = None

    @property
    def family(self) -> str:
        """`debian`, `rhel`, `suse` or `unknown`, from ID then ID_LIKE (MIRACLE LINUX says rhel there)."""
        for ident in (self.id, *self.id_like):
            if ident in _DEBIAN_IDS:
                return "debian"
            if ident in _RHEL_IDS:
                return "rhel"
            if ident in _SUSE_IDS or ident.startswith("opensuse"):
                return "suse"
        return "unknown"

    @property
    def label(self) -> str:
        return self.pretty_name or " ".join(x for x in (self.name or self.id, self.version_id) if x)


def _unquote(value: str) -> str:
    value = value.strip()
    try:
        parts = shlex.split(value, comments=False, posix=True)
    except ValueError:  # an unbalanced quote: keep what is there rather than lose the line
        return value.strip("\"'")
    return " ".join(parts)


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines of os-release into a dict. Pure and total: any text gives a (maybe empty) dict."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if not key.replace("_", "").isalnum() or not key.isascii():
            continue
        out[key] = _unquote(value)
    return out


def os_release_from(text: str) -> OsRelease:
    kv = parse_os_release(text)
    return OsRelease(
        id=(kv.get("ID") or "linux").lower(),
        id_like=[x.lower() for x in kv.get("ID_LIKE", "").split() if x],
        version_id=kv.get("VERSION_ID") or None,
        version_codename=kv.get("VERSION_CODENAME") or None,
        pretty_name=kv.get("PRETTY_NAME") or None,
        name=kv.get("NAME") or None,
    )


def read_os_release(p: Probe, *, fact: str = "os_release") -> OsRelease | None:
    """/etc/os-release, else /usr/lib/os-release (os-release(5)); None, with the reason noted, when neither."""
    for path in OS_RELEASE_PATHS:
        data = p.file(path)
        if data is not None:
            return os_release_from(data.decode("utf-8", "replace"))
    p.note(fact, Reason.ABSENT, "neither /etc/os-release nor /usr/lib/os-release could be read")
    return None
