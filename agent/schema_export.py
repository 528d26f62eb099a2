"""Regenerate config/schema/tenken.report.v1.json from the report models: `python -m tenken.agent.schema_export`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tenken.agent.report import report_json_schema


def main(path: str | None = None) -> None:
    target = Path(path) if path else Path(__file__).resolve().parents[1] / "config" / "schema" / "tenken.report.v1.json"
    target.write_text(json.dumps(report_json_schema(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(target)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
