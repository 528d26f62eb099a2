"""The shipped end-of-support table (config/eos.yaml), loaded like the policy: a bad row names file:line:field."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from tenken.checks.configfile import load_model
from tenken.config import data_path


class EosRelease(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    os: str
    version: str
    name: str
    eos: date
    source: str


#: client = Home/Pro (and any EditionID not listed: the shortest support); enterprise = Enterprise/Education
#: (general availability channel); ltsc / iot_ltsc = Long-Term Servicing; server = Windows Server
WinClass = Literal["client", "enterprise", "ltsc", "iot_ltsc", "server"]
#: a class a build has no row for is judged by the next one (e.g. Windows 10 22H2 has no LTSC edition)
WIN_FALLBACK: dict[str, tuple[str, ...]] = {"iot_ltsc": ("iot_ltsc", "ltsc", "client"), "ltsc": ("ltsc", "client"),
                                            "enterprise": ("enterprise", "client"), "client": ("client",), "server": ("server",)}
#: InstallationType values of Windows Server (CurrentVersion); "Client" is every desktop edition
SERVER_INSTALLS = frozenset({"server", "server core", "nano server"})


class WindowsRelease(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    build: str
    cls: WinClass = Field(alias="class")
    name: str
    eos: date
    source: str

    def as_release(self) -> EosRelease:
        return EosRelease(os="windows", version=f"{self.build}/{self.cls}", name=self.name, eos=self.eos, source=self.source)


class WindowsLookup(BaseModel):
    """What the table says for one host, and how its edition class was decided (shown in the verdict)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    release: EosRelease | None
    cls: str
    basis: str  # e.g. "InstallationType=Server", "EditionID=EnterpriseS", "EditionID=Foo not listed: judged as client"


class EosTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    data_as_of: date
    releases: list[EosRelease]
    windows_data_as_of: date | None = None
    windows_editions: dict[str, WinClass] = Field(default_factory=dict)
    windows: list[WindowsRelease] = Field(default_factory=list)

    def windows_class(self, installation_type: str | None, edition_id: str | None) -> tuple[str, str]:
        """(class, basis): Server by InstallationType (or a Server* EditionID when that is missing), else by EditionID."""
        if installation_type and installation_type.strip().lower() in SERVER_INSTALLS:
            return "server", f"InstallationType={installation_type}"
        if not installation_type and edition_id and edition_id.startswith("Server"):
            return "server", f"EditionID={edition_id}"
        if edition_id and edition_id in self.windows_editions:
            return self.windows_editions[edition_id], f"EditionID={edition_id}"
        return "client", (f"EditionID={edition_id} not listed: judged as Home/Pro" if edition_id else "EditionID unknown: judged as Home/Pro")

    def find_windows(self, build: str | None, installation_type: str | None, edition_id: str | None) -> WindowsLookup:
        cls, basis = self.windows_class(installation_type, edition_id)
        rows = [r for r in self.windows if r.build == (build or "").strip()]
        for c in WIN_FALLBACK[cls]:
            hit = next((r for r in rows if r.cls == c), None)
            if hit is not None:
                if c != cls:
                    basis += f"; no {cls} row for build {build}: judged as {c}"
                return WindowsLookup(release=hit.as_release(), cls=c, basis=basis)
        return WindowsLookup(release=None, cls=cls, basis=basis)

    def find(self, os: str, version: str | None) -> EosRelease | None:
        """Exact version, else its major version (os-release VERSION_ID 12.5 -> Debian 12; 8.10 -> RHEL 8)."""
        if not version:
            return None
        rows = [r for r in self.releases if r.os == os]
        exact = next((r for r in rows if r.version == version), None)
        return exact or next((r for r in rows if r.version == version.split(".")[0]), None)


@lru_cache(maxsize=1)
def load_eos_table() -> EosTable:
    path = data_path("eos.yaml")
    return load_model(path, EosTable)
