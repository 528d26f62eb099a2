"""Hub settings: where its data lives, which database it uses, and the ingest limits.

One data directory holds everything a hub needs (CA, its TLS certificate, the SQLite database and a
small `hub.json`), so `--data DIR` is the only thing an operator has to remember. Options given on the
command line are written back to `hub.json` on first start, so later `tenken-hub agent enroll --data DIR`
finds the same database as `serve`.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_DATA_DIR = Path(os.environ.get("TENKEN_HUB_DATA", "/var/lib/tenken-hub"))
DEFAULT_PORT = 8443
DEFAULT_MAX_BODY = 16 * 1024 * 1024
DEFAULT_WINDOW_DAYS = 7.0
DEFAULT_SKEW_SECONDS = 300.0
CONFIG_FILE = "hub.json"


class HubSettings(BaseModel):
    """Everything `create_app` and the CLI need; persisted (minus host/port) in DIR/hub.json."""

    model_config = ConfigDict(extra="ignore")

    data_dir: Path
    db_url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite:///DIR/hub.db")
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY, gt=0)
    window_days: float = Field(default=DEFAULT_WINDOW_DAYS, gt=0, description="Refuse reports that finished longer ago than this")
    max_clock_skew: float = Field(default=DEFAULT_SKEW_SECONDS, ge=0, description="Seconds a report may finish ahead of the hub's clock")
    extra_sans: list[str] = Field(default_factory=list)
    # Resource bounds (see tenken.hub.limits and tenken.hub.server).
    handshake_timeout: float = Field(default=5.0, gt=0, le=120, description="Seconds a client has to complete the TLS handshake")
    limit_concurrency: int = Field(default=512, ge=8, description="Connections + in-flight requests before the hub answers 503")
    agent_rate: float = Field(default=5.0, gt=0, description="Uploads per second per agent, after the burst")
    agent_burst: int = Field(default=300, ge=1, description="Uploads an agent may make at once (a spool backlog)")
    ingest_memory: int = Field(default=0, ge=0, description="Bytes of upload bodies processed at once (0: max_body_bytes)")
    # Retention (tenken.hub.retention): None keeps everything forever. Older data is exported to a verified
    # evidence bundle in retention_dir (default DIR/retention) before it is removed.
    retention_years: float | None = Field(default=None, gt=0, description="Remove reports observed more than this many years ago (whole months)")
    retention_dir: Path | None = Field(default=None, description="Where retention writes its evidence bundles (default DIR/retention)")

    @property
    def ingest_budget(self) -> int:
        """A report costs ~15x its envelope size in memory while it is validated and stored: one maximum-size
        upload at a time (many small ones together) keeps the hub's peak RSS bounded (bench/hub_ingest.py)."""
        return self.ingest_memory or self.max_body_bytes

    @property
    def skew(self) -> timedelta:
        return timedelta(seconds=self.max_clock_skew)

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.data_dir / 'hub.db').resolve()}"

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    # File layout inside the data directory.
    @property
    def ca_key(self) -> Path:
        return self.data_dir / "private" / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.data_dir / "ca.pem"

    @property
    def tls_key(self) -> Path:
        return self.data_dir / "private" / "hub.key"

    @property
    def tls_cert(self) -> Path:
        return self.data_dir / "hub.pem"

    @property
    def agents_dir(self) -> Path:
        return self.data_dir / "agents"

    @property
    def retention_export_dir(self) -> Path:
        return self.retention_dir or self.data_dir / "retention"

    @property
    def clients_dir(self) -> Path:
        return self.data_dir / "clients"


def load_settings(data_dir: Path, **overrides: object) -> HubSettings:
    """Read DIR/hub.json (if any) and apply the non-None command-line overrides on top."""
    data: dict[str, object] = {}
    cfg = data_dir / CONFIG_FILE
    if cfg.is_file():
        data = json.loads(cfg.read_text(encoding="utf-8"))
    env_db = os.environ.get("TENKEN_HUB_DB")
    if env_db and not data.get("db_url"):
        data["db_url"] = env_db
    data.update({k: v for k, v in overrides.items() if v is not None and v != []})
    data["data_dir"] = data_dir
    return HubSettings.model_validate(data)


def save_settings(settings: HubSettings) -> None:
    """Persist what later commands must agree on (database, limits). Mode 0600: a URL may hold a password."""
    keep = settings.model_dump(mode="json", include={"db_url", "max_body_bytes", "window_days", "max_clock_skew", "extra_sans", "handshake_timeout", "limit_concurrency",
                                                     "agent_rate", "agent_burst", "ingest_memory", "retention_years", "retention_dir"})
    path = settings.data_dir / CONFIG_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(keep, fh, indent=2)
        fh.write("\n")
