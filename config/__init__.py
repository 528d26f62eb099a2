"""Data files: the clause catalogue, the default policy, examples and the published report schema."""

from importlib.resources import files
from pathlib import Path


def data_path(name: str) -> Path:
    """Path of a data file shipped in this package (works from a checkout and from a wheel)."""
    return Path(str(files(__name__).joinpath(name)))
