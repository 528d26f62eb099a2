"""The views a bundle carries, in the order they are made. Each is a `View` (see build.py)."""

from __future__ import annotations

from tenken.agent.bundle.build import View


def default_views(*, chromium: str | None = None) -> list[View]:
    return []
