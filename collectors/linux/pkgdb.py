"""Is a package installed? dpkg's status file (readable offline too) or `rpm -q` (live hosts only).

A helper for collectors that need to know whether a handful of named packages are installed
(unattended-upgrades, clamav-daemon, mdatp ...). It never lists every package into evidence: only the
stanzas for the names asked about are kept as the excerpt, so a report stays readable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tenken.collectors.probe import Probe

DPKG_STATUS = "/var/lib/dpkg/status"
_RPM_QF = "%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n"


def parse_dpkg_status(text: str) -> dict[str, str]:
    """Installed packages (name -> version) from /var/lib/dpkg/status. Pure and total.

    A package counts as installed when the third word of `Status:` is `installed` (so `hold ok installed`
    counts, `deinstall ok config-files` — removed with config left behind — does not).
    """
    out: dict[str, str] = {}
    for stanza in text.split("\n\n"):
        name = status = version = None
        for line in stanza.splitlines():
            if line.startswith("Package:"):
                name = line[8:].strip()
            elif line.startswith("Status:"):
                status = line[7:].split()
            elif line.startswith("Version:"):
                version = line[8:].strip()
        if name and status and len(status) == 3 and status[2] == "installed":
            out[name] = version or ""
    return out


def installed_dpkg(data: bytes) -> dict[str, str]:
    """parse_dpkg_status of the file's bytes (decoded inside the parse, so under the collectors' CPU gate)."""
    return parse_dpkg_status(data.decode("utf-8", "replace"))


def dpkg_stanzas_of(data: bytes, names: Iterable[str]) -> str:
    return dpkg_stanzas(data.decode("utf-8", "replace"), names)


def dpkg_stanzas(text: str, names: Iterable[str]) -> str:
    """Only the stanzas for `names`: the evidence excerpt of a multi-megabyte status file."""
    wanted = set(names)
    keep = []
    for stanza in text.split("\n\n"):
        first = stanza.lstrip("\n").split("\n", 1)[0]
        if first.startswith("Package:") and first[8:].strip() in wanted:
            keep.append("\n".join(ln for ln in stanza.splitlines() if ln.split(":", 1)[0] in ("Package", "Status", "Version")))
    return "\n\n".join(keep) or "(none of the packages asked about is listed)"


def parse_rpm_query(text: str) -> dict[str, str]:
    """`rpm -q --qf 'NAME\\tEPOCH:VERSION-RELEASE\\n' names...` output; `package x is not installed` lines skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "\t" not in line:
            continue
        name, _, version = line.partition("\t")
        name = name.strip()
        if name and " " not in name:
            out[name] = version.strip()
    return out


@dataclass(frozen=True)
class PackageLookup:
    """Which of the asked-about packages are installed, and how that was found out."""

    installed: dict[str, str]
    method: str  # "dpkg" | "rpm"


def query_packages(p: Probe, names: Iterable[str], *, family: str) -> PackageLookup | None:
    """Look `names` up in the host's package database; None when there is no database we can read."""
    names = sorted(set(names))
    if family in ("debian", "unknown"):
        data = p.file(DPKG_STATUS, keep_raw=False)
        if data is not None:
            p.excerpt(f"{DPKG_STATUS} (stanzas asked about)", p.compute(dpkg_stanzas_of, data, names))
            every = p.parsed(installed_dpkg, data)
            return PackageLookup({n: v for n, v in every.items() if n in names}, "dpkg")
        if family == "debian":
            return None
    if not p.t.can_run:
        return None  # the rpm database is binary (BDB/sqlite); without rpm itself we cannot read it
    res = p.command(["rpm", "-q", "--qf", _RPM_QF, *names])
    # rpm -q exits with the number of packages not installed: any exit is an answer, unless the db failed
    if res is None or b"rpmdb" in res.stderr or (res.exit_code != 0 and not res.stdout and b"not installed" not in res.stdout + res.stderr):
        return None
    return PackageLookup(parse_rpm_query(res.text()), "rpm")
