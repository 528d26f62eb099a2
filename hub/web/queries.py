"""The data interface the pages read through (briefs/s3/web-contract.md): `tenken.hub.web_queries`."""

from __future__ import annotations

from tenken.hub import web_queries as wq

__all__ = ["wq"]
