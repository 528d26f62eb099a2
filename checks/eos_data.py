"""The shipped end-of-support table (config/eos.yaml), loaded like the policy: a bad row names file:line:field."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from pydantic import BaseModel, ConfigDict
from tenken.checks.configfile import load_model
from tenken.config import data_path


class EosRelease(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    os: str
    version: str
    name: str
    eos: date
    source: str


class EosTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    data_as_of: date
    releases: list[EosRelease]

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
