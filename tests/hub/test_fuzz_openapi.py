"""Fuzz every hub operation from its own OpenAPI description (schemathesis, in-process ASGI).

The app is wrapped exactly as `tenken.hub.server` wraps it for a TLS connection: reads arrive with the
operator's certificate (and token), uploads with an enrolled agent's certificate, so the fuzzer reaches
the real validation and storage code instead of bouncing off authentication. Bounded: 30 examples per
operation, no deadline (shared CI machine). Properties: never a 5xx, responses match the schema, and a
rejected request leaves the database exactly as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hub_harness import make_report
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from tenken.agent import dsse
from tenken.hub import ca as hubca
from tenken.hub.app import create_app
from tenken.hub.bootstrap import ensure_initialised
from tenken.hub.db import enroll_agent, row_counts
from tenken.hub.server import with_tls
from tenken.hub.settings import load_settings

CHECKS = [not_a_server_error, response_schema_conformance]


class Env:
    token: str
    engine: object


ENV = Env()


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory):
    from cryptography.hazmat.primitives import serialization
    from tenken.agent.identity import init_identity

    base: Path = tmp_path_factory.mktemp("fuzz")
    settings_ = load_settings(base / "data")
    res, engine = ensure_initialised(settings_)
    authority = hubca.load_ca(settings_.ca_key, settings_.ca_cert)
    ident = init_identity(base / "agent")
    pub = dsse.load_public_key((base / "agent" / "agent.pub").read_bytes())
    aid, cert = hubca.issue_agent_cert(authority, (base / "agent" / "tls.csr").read_bytes(), pub)
    assert aid == ident.agent_id
    enroll_agent(engine, agent_id=aid, signing_key_pem=(base / "agent" / "agent.pub").read_text(), key_id=dsse.key_id(pub), serial=hubca.serial_hex(cert), not_after=cert.not_valid_after_utc, targets=["*"])
    app = create_app(settings_, engine=engine)

    # One real report so the read routes have rows to return.
    key = serialization.load_pem_private_key((base / "agent" / "agent.key").read_bytes(), None)
    import json

    from tenken.hub.ingest import EnrolledAgent, store, verify_and_parse

    body = json.dumps(dsse.sign_payload(dsse.canonical(make_report(target="fuzz-host").model_dump(mode="json", by_alias=True)), key)).encode()
    report, payload = verify_and_parse(body, EnrolledAgent(aid, pub, patterns=("*",)), window=settings_.window)
    store(engine, report, agent_id=aid, envelope=body, payload=payload)

    agent_tls = {"client_cert_chain": [hubca.pem(cert).decode()]}
    operator_tls = {"client_cert_chain": [Path(res.admin_cert).read_text()]}
    as_agent, as_operator = with_tls(app, agent_tls), with_tls(app, operator_tls)

    async def by_role(scope, receive, send):  # type: ignore[no-untyped-def]
        target = as_agent if scope.get("type") == "http" and scope.get("method") == "POST" else as_operator
        await target(scope, receive, send)

    ENV.token = res.admin_token or ""
    ENV.engine = engine
    # the description itself needs operator auth (certificate + token), like the read API
    return schemathesis.openapi.from_asgi("/openapi.json", by_role, headers={"Authorization": f"Bearer {ENV.token}"})


def _operations(schema):  # type: ignore[no-untyped-def]
    return [r.ok() for r in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_fuzz(fuzz_app, mode: GenerationMode) -> None:  # type: ignore[no-untyped-def]
    operations = _operations(fuzz_app)
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /api/v1/reports", "GET /api/v1/hosts", "GET /api/v1/hosts/{host}/status", "GET /api/v1/findings",
        "GET /api/v1/reports/{report_id}", "GET /api/v1/reports/{report_id}/envelope", "GET /api/v1/reports/{report_id}/verify",
    }
    seen: dict[str, set[int]] = {}
    for op in operations:

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
        def run(case: schemathesis.Case) -> None:
            before = row_counts(ENV.engine)  # type: ignore[arg-type]
            response = case.call_and_validate(headers={"Authorization": f"Bearer {ENV.token}"}, checks=CHECKS)
            after = row_counts(ENV.engine)  # type: ignore[arg-type]
            seen.setdefault(f"{case.method.upper()} {op.path}", set()).add(response.status_code)
            if response.status_code >= 400 or case.method.upper() != "POST":
                assert after == before, f"{case.method} {case.path} -> {response.status_code} changed the database"

        run()
    # The fuzzer got past authentication into the real code: reads succeed, uploads fail validation, not auth.
    if mode is GenerationMode.POSITIVE:
        assert 200 in seen["GET /api/v1/findings"] and 200 in seen["GET /api/v1/hosts"], seen
    assert seen["POST /api/v1/reports"] & {400, 415, 422}, seen
    assert 403 not in seen["POST /api/v1/reports"], seen
