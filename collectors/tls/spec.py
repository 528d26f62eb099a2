"""What to probe on a TLS endpoint. Shared by `tenken scan tls`, the inventory and the agent config."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field
from tenken.collectors.tls.kinds import StartTls, Zone

__all__ = ["StartTls", "TlsEndpoint", "Zone"]


class Tls12Exception(BaseModel):
    """SO-13-6's proviso, declared for one endpoint in the inventory or on the command line: TLS 1.3 is hard
    here (e.g. a modality whose vendor has no TLS 1.3 firmware), so TLS 1.2 with 高セキュリティ型 settings is
    accepted until `expires`. Like a waiver (checks/waivers.py) it names who approved it and runs out: an
    expired exception is ignored, never silently renewed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    reason: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    expires: date


class TlsEndpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    host: str
    port: int = Field(443, ge=1, le=65535)
    server_name: str | None = None  # SNI / hostname to validate; defaults to host
    starttls: StartTls | None = None
    zone: Zone = Zone.OPEN
    ca_file: str | None = None  # trust store for the chain (hospital private CAs)
    client_cert: str | None = None
    client_key: str | None = None
    # Probe the HTTP layer for client-certificate enforcement when the handshake only asks for one (nginx
    # `ssl_verify_client on` refuses with HTTP 400). None: every plain-TLS endpoint (no STARTTLS); a non-HTTP
    # service then reads "could not tell", never "required".
    http: bool | None = None
    tls12_exception: Tls12Exception | None = None
    timeout: float = Field(10.0, gt=0)  # seconds for this endpoint's whole scan (sslyze socket timeouts derive from it)

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"
