"""The data interface the pages read through (briefs/s3/web-contract.md): `tenken.hub.web_queries`.

Imported on first use, so the login and admin pages do not depend on the data module being importable.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _Queries:
    _module: ModuleType | None = None

    def __getattr__(self, name: str) -> Any:
        if _Queries._module is None:
            _Queries._module = importlib.import_module("tenken.hub.web_queries")
        return getattr(_Queries._module, name)


wq: Any = _Queries()
