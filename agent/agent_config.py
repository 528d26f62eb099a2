"""The agent's configuration file (YAML): what to scan, when, where to send it, and where its keys live.

Validated with pydantic through checks/configfile.py, so every mistake is reported as
`agent.yaml:12: jobs.0.schedule.daily_at: ...` — the file is edited by hand by hospital IT staff.
Relative paths are resolved against the directory of the configuration file, so a config and its keys can
be moved together.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from tenken.checks.configfile import ConfigError, load_model, read_yaml
from tenken.collectors.tls.spec import TlsEndpoint

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_DUR_UNITS = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_size(v: object) -> object:
    """`500MiB`, `2 GB`, `1048576` -> bytes. Anything else is left for pydantic to reject with the field name."""
    if isinstance(v, str):
        m = _SIZE.match(v)
        if m and (m.group(2) or "").lower() in _UNITS:
            return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])
    return v


def parse_duration(v: object) -> object:
    """`30s`, `10m`, `2h`, `1d`, `45` (seconds) -> seconds as float."""
    if isinstance(v, str):
        m = _DURATION.match(v)
        if m:
            return float(m.group(1)) * _DUR_UNITS[(m.group(2) or "").lower()]
    return v


Size = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Schedule(_M):
    """Exactly one of `daily_at` / `every_hours` / `every_minutes` / `every_seconds`, plus a random jitter.

    The jitter delays each run by a fresh random amount in [0, jitter] so a fleet configured with the same
    time does not hit the network and the hub at the same second.
    """

    daily_at: str | None = Field(None, description="Local time HH:MM")
    every_hours: int | None = Field(None, ge=1, le=24 * 31)
    every_minutes: int | None = Field(None, ge=1)
    every_seconds: int | None = Field(None, ge=1, description="Mostly for testing")
    jitter: Duration = Field(600.0, description="Random delay added to each run (e.g. 15m)")
    run_at_start: bool = Field(False, description="Also run once when the agent starts")

    @field_validator("daily_at", mode="before")
    @classmethod
    def _quoted(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool):
            # YAML 1.1 reads an unquoted 2:30 as the base-60 number 150.
            raise ValueError('write the time in quotes, e.g. daily_at: "02:30" (unquoted, YAML reads 2:30 as a number)')
        return v

    @field_validator("daily_at")
    @classmethod
    def _hhmm(cls, v: str | None) -> str | None:
        if v is None:
            return v
        m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", v.strip())
        if not m:
            raise ValueError("must be a local time HH:MM between 00:00 and 23:59")
        return f"{int(m.group(1)):02d}:{m.group(2)}"

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        given = [n for n in ("daily_at", "every_hours", "every_minutes", "every_seconds") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of daily_at, every_hours, every_minutes, every_seconds"
                + (f" (found {', '.join(given)})" if given else "")
            )
        return self

    def interval_seconds(self) -> float:
        """How often the job runs (a day for `daily_at`), jitter not included."""
        if self.daily_at:
            return 86400.0
        if self.every_hours:
            return self.every_hours * 3600.0
        if self.every_minutes:
            return self.every_minutes * 60.0
        return float(self.every_seconds or 0)

    def describe(self) -> str:
        if self.daily_at:
            base = f"daily at {self.daily_at}"
        elif self.every_hours:
            base = f"every {self.every_hours} h"
        elif self.every_minutes:
            base = f"every {self.every_minutes} min"
        else:
            base = f"every {self.every_seconds} s"
        return base + (f" + up to {self.jitter:g} s jitter" if self.jitter else "")


class JobKind(StrEnum):
    LOCAL = "local"
    INVENTORY = "inventory"
    TLS = "tls"


class Job(_M):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: JobKind
    schedule: Schedule
    # kind: local
    root: str | None = Field(None, description="local: audit an offline root instead of this machine")
    # kind: inventory
    inventory: str | None = None
    groups: list[str] = Field(default_factory=list, description="inventory: only these groups (empty = all)")
    concurrency: int = Field(10, ge=1, le=256, description="inventory: hosts scanned at once")
    known_hosts: str | None = Field(None, description="inventory: SSH known_hosts file (host keys are always verified)")
    # kind: tls
    endpoints: list[TlsEndpoint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Job:
        if self.kind is JobKind.INVENTORY and not self.inventory:
            raise ValueError("a job of kind `inventory` needs `inventory: <file>`")
        if self.kind is JobKind.TLS and not self.endpoints:
            raise ValueError("a job of kind `tls` needs a non-empty `endpoints` list")
        if self.kind is not JobKind.LOCAL and self.root:
            raise ValueError("`root` only applies to jobs of kind `local`")
        if self.kind is not JobKind.INVENTORY and (self.inventory or self.groups or self.known_hosts):
            raise ValueError("`inventory`/`groups`/`known_hosts` only apply to jobs of kind `inventory`")
        if self.kind is not JobKind.TLS and self.endpoints:
            raise ValueError("`endpoints` only applies to jobs of kind `tls`")
        return self


class HubConfig(_M):
    url: str = Field(pattern=r"^https://[^\s/]+(:\d+)?(/[^\s]*)?$", description="https://hub.example:8443")
    ca_file: str = Field(description="The hub's CA certificate (hub DATA/ca.pem)")
    client_cert: str = Field(description="The agent certificate the hub issued at enrolment")
    client_key: str = Field(description="The agent's TLS key (tls.key from `tenken agent init`)")
    timeout: Duration = Field(30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.rstrip("/")


class SpoolConfig(_M):
    """Limits are alarm thresholds, not deletion rules: see agent/spool.py for why."""

    dir: str
    max_reports: int = Field(1000, ge=1)
    max_bytes: Size = Field(512 * 2**20, ge=1)
    min_free_bytes: Size = Field(64 * 2**20, description="Stop writing (and alarm) below this much free disk")


class RetryConfig(_M):
    base: Duration = Field(5.0, gt=0, description="First retry delay ceiling")
    cap: Duration = Field(3600.0, gt=0, description="Largest retry delay ceiling")

    @model_validator(mode="after")
    def _order(self) -> RetryConfig:
        if self.cap < self.base:
            raise ValueError("cap must be >= base")
        return self


class AgentConfig(_M):
    signing_key: str = Field(description="agent.key from `tenken agent init` (mode 0600)")
    hub: HubConfig
    spool: SpoolConfig
    retry: RetryConfig = Field(default_factory=RetryConfig)
    policy: str | None = Field(None, description="Site policy file merged over the defaults")
    waivers: str | None = None
    shutdown_grace: Duration = Field(30.0, description="On SIGTERM, wait this long for a running scan")
    scan_timeout: Duration = Field(
        6 * 3600.0, gt=0,
        description="`agent run`: a scan process still running after this long is killed and an error report sent instead",
    )
    jobs: list[Job] = Field(min_length=1)

    def overdue_after(self) -> float:
        """Seconds after which an undelivered report means delivery is broken: two runs of the most frequent
        job (plus its jitter) should have replaced it by then."""
        return min(2 * j.schedule.interval_seconds() + j.schedule.jitter for j in self.jobs)

    @model_validator(mode="after")
    def _unique_names(self) -> AgentConfig:
        names = [j.name for j in self.jobs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"job names must be unique (repeated: {', '.join(dup)})")
        return self


def _resolve(base: Path, value: str | None) -> str | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p))


def _resolve_all(cfg: AgentConfig, base: Path) -> AgentConfig:
    r = lambda v: _resolve(base, v)  # noqa: E731
    hub = cfg.hub.model_copy(update={"ca_file": r(cfg.hub.ca_file), "client_cert": r(cfg.hub.client_cert), "client_key": r(cfg.hub.client_key)})
    spool = cfg.spool.model_copy(update={"dir": r(cfg.spool.dir)})
    jobs = [j.model_copy(update={"inventory": r(j.inventory), "known_hosts": r(j.known_hosts)}) for j in cfg.jobs]
    return cfg.model_copy(
        update={
            "signing_key": r(cfg.signing_key),
            "hub": hub,
            "spool": spool,
            "policy": r(cfg.policy),
            "waivers": r(cfg.waivers),
            "jobs": jobs,
        }
    )


def load_agent_config(path: Path | str) -> AgentConfig:
    """Parse and validate; ConfigError names file:line: field. Relative paths become relative to the file."""
    p = Path(path)
    data, node = read_yaml(p)
    cfg = load_model(p, AgentConfig, data=data, node=node)
    return _resolve_all(cfg, p.resolve().parent)


def require_files(cfg: AgentConfig) -> None:
    """Fail early (exit 2) when a file the agent needs to ship is missing, naming the config field."""
    for field, value in (
        ("signing_key", cfg.signing_key),
        ("hub.ca_file", cfg.hub.ca_file),
        ("hub.client_cert", cfg.hub.client_cert),
        ("hub.client_key", cfg.hub.client_key),
    ):
        if not Path(value).is_file():
            raise ConfigError(f"{field}: {value}: file not found")

