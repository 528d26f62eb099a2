"""The JSON report: a stable, versioned contract (`tenken.report/v1`) read by other tools and the hub.

Its JSON Schema is generated from these models and published at config/schema/tenken.report.v1.json;
tests/test_report_schema.py fails if the two drift apart.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from tenken.checks.finding import Finding, Status
from tenken.collectors.evidence import Evidence, HostIdentity

from tenken import TOOL_NAME, __version__

SCHEMA_ID = "tenken.report/v1"


class ToolInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = TOOL_NAME
    version: str = __version__


class TargetKind(StrEnum):
    LOCAL = "local"
    ROOT = "root"
    SSH = "ssh"
    WINRM = "winrm"
    TLS = "tls"
    SITE = "site"


class TargetState(StrEnum):
    SCANNED = "scanned"  # every collector ran (some facts may still be unavailable)
    ERROR = "error"  # the target could not be scanned (unreachable, auth, host key, deadline)


class TargetInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    target: str
    kind: TargetKind
    identity: HostIdentity | None = Field(None, description="The host's stable identity, when the scan could read it")
    groups: list[str] = Field(default_factory=list, description="Inventory groups the target belongs to")
    os: str | None = None
    state: TargetState
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    collection: str | None = Field(None, description="How the evidence was fetched (remote transports: one batch or on demand)")
    round_trips: int | None = Field(None, description="Requests sent to the target during the scan (remote transports)")


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: Literal["tenken.report/v1"] = Field(default=SCHEMA_ID, alias="schema")
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), description="Unique per scan; the hub's replay key")
    tool: ToolInfo = Field(default_factory=ToolInfo)
    started_at: datetime
    finished_at: datetime
    policy: str = "default"
    targets: list[TargetInfo]
    findings: list[Finding]
    evidence: list[Evidence]

    def summary(self) -> dict[str, int]:
        counts = Counter(f.status.value for f in self.findings)
        return {s.value: counts.get(s.value, 0) for s in Status}

    def to_json(self, *, indent: int | None = 2) -> str:
        return self.model_dump_json(by_alias=True, indent=indent)


def report_json_schema() -> dict[str, object]:
    schema = Report.model_json_schema(by_alias=True, mode="serialization")
    schema["$id"] = "https://tenken.invalid/schema/tenken.report.v1.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
