"""Headless Chromium, started the way this machine's closed network needs (no background connections)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def run_chromium(args: list[str], user_data_dir: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    exe = chromium_binary()
    assert exe, "chromium is not installed (tests/run-all.sh installs it)"
    return subprocess.run(
        [exe, *FLAGS, f"--user-data-dir={user_data_dir}", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
