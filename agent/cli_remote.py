"""Command family registered into the `tenken` CLI (filled in by its feature)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, scan_app: typer.Typer) -> None:
    """Add this family's commands to the CLI."""
