"""`GET /api/v1/bundle/reports`: the stored original envelopes an evidence bundle is built from.

Each item carries the envelope byte for byte (base64) and the enrolled key of the agent that signed it, so
`tenken bundle --hub` re-verifies every report on the operator's machine instead of trusting the hub.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from tenken.checks.finding import CLAUSE_ID
from tenken.hub.api import NO_NUL, _utc_bound, operator
from tenken.hub.bundle_query import BundleFilter, load_envelopes, matching_report_ids

#: Envelopes per answer are bounded in bytes as well as count (an envelope may be up to the hub's body limit).
PAGE_BYTES = 32 * 1024 * 1024

router = APIRouter(prefix="/api/v1", dependencies=[Depends(operator)], responses={401: {"description": "No or bad token"}, 403: {"description": "Certificate not allowed"}})


@router.get("/bundle/signer", summary="The hub's bundle-signing public key (PEM), for `tenken verify --key`",
            response_class=Response, responses={200: {"content": {"application/x-pem-file": {"schema": {"type": "string"}}}}})
def bundle_signer(request: Request) -> Response:
    from tenken.hub.bundle_export import bundle_public_pem

    return Response(content=bundle_public_pem(request.app.state.settings), media_type="application/x-pem-file")


class BundleItem(BaseModel):
    report_id: str
    agent_id: str
    signing_key: str
    received_at: datetime
    observed_at: datetime
    envelope_b64: str


class BundlePage(BaseModel):
    total: int
    offset: int
    limit: int
    next_offset: int | None
    items: list[BundleItem]


@router.get("/bundle/reports", response_model=BundlePage, summary="Original signed envelopes for an evidence bundle")
def bundle_reports(
    request: Request,
    group: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    clause: Annotated[str | None, Query(pattern=CLAUSE_ID.pattern, description="e.g. SO-13-6")] = None,
    since: Annotated[datetime | None, Query(description="observed_at >= since; with neither since nor until, the latest report per host")] = None,
    until: Annotated[datetime | None, Query(description="observed_at < until")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> BundlePage:
    engine = request.app.state.engine
    f = BundleFilter(group=group, clause=clause, since=_utc_bound(since, "since"), until=_utc_bound(until, "until"))
    ids = matching_report_ids(engine, f)
    items: list[BundleItem] = []
    size = 0
    for e in load_envelopes(engine, ids[offset:offset + limit]):
        if items and size + len(e.envelope) > PAGE_BYTES:
            break  # the rest comes with the next page: one answer never holds more than PAGE_BYTES of envelopes
        size += len(e.envelope)
        items.append(BundleItem(report_id=e.report_id, agent_id=e.agent_id, signing_key=e.signing_key, received_at=e.received_at,
                                observed_at=e.observed_at, envelope_b64=base64.b64encode(e.envelope).decode()))
    nxt = offset + len(items)
    return BundlePage(total=len(ids), offset=offset, limit=limit, next_offset=nxt if nxt < len(ids) else None, items=items)
