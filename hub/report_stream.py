"""A verified report payload split into its header and its findings, validated chunk by chunk.

A near-maximum upload holds ~45,000 findings. Validating the whole `Report` at once built ~150 MB of
pydantic objects for one request, and that set the hub's peak memory. Here the payload is first cut into
raw JSON slices (msgspec's `Raw`: zero-copy views into the payload, no Python objects per value), the
header (everything but the findings) is validated with the same `Report` model, and the findings are
validated `chunk` at a time as they are stored, so only one chunk of models is alive at once.

The result is the same as validating the whole report: `Report` has no validator that looks across
findings, and the checks that do (target names declared, id lengths, status counts) run per chunk here.
An invalid finding anywhere makes the upload a 422 naming its index, inside the transaction that is then
rolled back, so nothing of it is stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec
from pydantic import TypeAdapter, ValidationError
from tenken.agent.report import Report
from tenken.checks.finding import Finding, Status

_TOP = msgspec.json.Decoder(dict[str, msgspec.Raw])
_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_FINDINGS: TypeAdapter[list[Finding]] = TypeAdapter(list[Finding])
_key = msgspec.json.encode

#: Findings validated and stored per step: large enough that per-chunk overhead vanishes, small enough
#: that a chunk's models (~3 KB each) stay a few MB.
CHUNK = 2000


class PayloadInvalid(Exception):
    """The payload is not a valid tenken.report/v1 report; the message says where."""


def _reason(exc: ValidationError, offset: int | None = 0, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = list(err["loc"])
        if offset is not None and loc and isinstance(loc[0], int):
            loc = ["findings", loc[0] + offset, *loc[1:]]
        parts.append(f"{'.'.join(str(p) for p in loc) or '(top level)'}: {err['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


@dataclass
class StreamedReport:
    """The validated header and the not-yet-validated raw findings of one payload."""

    header: Report  # `findings` is empty: they are in `raw_findings`
    raw_findings: list[msgspec.Raw]
    counts: Counter[str] = field(default_factory=Counter)  # statuses of the findings validated so far
    # Set by the hub's ingest: the first chunk, validated before any database work, and the checked rest.
    first: tuple[int, list[Finding]] | None = None
    rest: Iterator[tuple[int, list[Finding]]] | None = None

    @property
    def n_findings(self) -> int:
        return len(self.raw_findings)

    def chunks(self, size: int = CHUNK) -> Iterator[tuple[int, list[Finding]]]:
        """(offset, validated findings) per chunk; raises PayloadInvalid naming the bad finding's index.

        Consumes `raw_findings` as it goes, so a stored chunk's slices are dropped with its models."""
        offset = 0
        while self.raw_findings:
            part = self.raw_findings[:size]
            del self.raw_findings[:size]
            doc = b"".join((b"[", b",".join(part), b"]"))  # Raw slices join without a copy each
            del part
            try:
                findings = _FINDINGS.validate_json(doc)
            except ValidationError as exc:
                raise PayloadInvalid(_reason(exc, offset)) from exc
            del doc
            self.counts.update(f.status.value for f in findings)
            yield offset, findings
            offset += len(findings)

    def summary(self) -> dict[str, int]:
        """Status counts, as `Report.summary`, once every chunk was validated."""
        return {s.value: self.counts.get(s.value, 0) for s in Status}


def split_payload(payload: bytes) -> StreamedReport:
    """Cut the payload into header and raw findings and validate the header. Raises PayloadInvalid.

    Deep nesting cannot exhaust the stack: msgspec raises RecursionError, pydantic-core bounds its depth."""
    try:
        top = _TOP.decode(payload)
        raw_findings = _LIST.decode(top["findings"]) if "findings" in top else None
    except RecursionError as exc:
        raise PayloadInvalid("nested too deeply") from exc
    except msgspec.DecodeError as exc:
        raise PayloadInvalid(f"not a JSON object of the report's shape ({exc})") from exc
    # One copy of the header's bytes: the Raw slices are views into the payload, joined once.
    parts: list[bytes | msgspec.Raw] = [b"{"]
    for i, (k, v) in enumerate(top.items()):
        parts += [b"," if i else b"", _key(k), b":", b"[]" if k == "findings" else v]
    parts.append(b"}")
    del top
    try:
        header = Report.model_validate_json(b"".join(parts))
    except ValidationError as exc:
        raise PayloadInvalid(_reason(exc, offset=None)) from exc
    return StreamedReport(header, raw_findings or [])
