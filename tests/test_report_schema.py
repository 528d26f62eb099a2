"""The published JSON Schema is generated from the models and must not drift from them."""

from __future__ import annotations

import json
from pathlib import Path

from tenken.agent.report import report_json_schema

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "config" / "schema" / "tenken.report.v1.json"


def test_published_schema_matches_models() -> None:
    published = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert published == json.loads(json.dumps(report_json_schema())), (
        "config/schema/tenken.report.v1.json is stale: run `python -m tenken.agent.schema_export`"
    )


def test_schema_names_the_contract_fields() -> None:
    s = report_json_schema()
    assert set(s["required"]) >= {"started_at", "finished_at", "targets", "findings", "evidence"}
    finding = s["$defs"]["Finding"]
    assert set(finding["properties"]) >= {"id", "check_id", "target", "status", "clauses", "severity", "title", "detail", "remediation", "evidence"}
    assert set(s["$defs"]["Status"]["enum"]) == {"pass", "fail", "warn", "error", "not_applicable", "manual"}
