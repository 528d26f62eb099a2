"""Sending spooled reports to the hub over mutual TLS, oldest first, until the hub acknowledges each one.

The wire contract (fixed with the hub): `POST {hub}/api/v1/reports`, body = the DSSE envelope,
`Content-Type: application/vnd.dsse.envelope.v1+json`, client certificate CN = agent id.
`201 {"report_id", "status": "stored"}` and `200 {..., "status": "duplicate"}` are acknowledgements;
a resend after a lost response is therefore harmless (exactly-once effect, at-least-once delivery).

What happens to an entry, by response:

    200/201 with our report id        -> acknowledged: removed from the spool
    400, 409, 413, 415, 422, other 4xx -> this report is refused: moved to spool/rejected/ with the reason
    401/403/404/405/407/421           -> the AGENT is refused (certificate unknown or revoked, wrong URL):
                                         no report is at fault, so the queue is kept and retried with backoff
                                         while an ERROR tells the operator to enrol/renew/fix the URL
    408, 429, 5xx, network/TLS errors  -> transient: retried with backoff
    anything else (2xx without our id) -> retried: the hub did not say it has the report

Order is preserved: when the head of the queue cannot be sent, nothing behind it is sent either.
Retries use exponential backoff with "full jitter" (delay uniform in [0, min(cap, base * 2**n)]) so a fleet
that lost its hub at the same moment does not come back in lockstep; a `Retry-After` is honoured.
"""

from __future__ import annotations

import email.utils
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import httpx
from tenken.agent.agent_config import HubConfig
from tenken.agent.signing import EnvelopeError, PayloadError, envelope_report_id
from tenken.agent.spool import Spool
from tenken.checks.configfile import ConfigError

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.dsse.envelope.v1+json"
REPORTS_PATH = "/api/v1/reports"
#: 4xx that mean "you, the agent, may not post here", not "this report is bad".
AGENT_REFUSED = {401, 403, 404, 405, 407, 421}
TRANSIENT_4XX = {408, 425, 429}


class Outcome(StrEnum):
    ACKED = "acked"
    REJECTED = "rejected"  # this report: move to rejected/
    REFUSED = "refused"  # this agent: keep, back off, alarm
    RETRY = "retry"  # transient


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    status: int | None
    reason: str
    retry_after: float | None = None
    duplicate: bool = False
    clock_skew: float | None = None  # hub's Date minus our clock, seconds (None without a Date header)


#: Beyond this the agent says loudly that its clock and the hub's disagree (the hub refuses reports more
#: than 5 minutes ahead of its clock by default; a late clock makes "latest" wrong for an auditor).
CLOCK_WARN_SECONDS = 60.0

_TLS_HINTS = (
    "certificate", "alert", "handshake", "wrong version number", "unknown ca", "bad certificate", "ssl", "tls",
)


def tls_failure(exc: BaseException) -> str | None:
    """The TLS reason behind a transport error, or None for an ordinary network failure (refused, timeout).

    A hub that does not accept our certificate (revoked, another CA after the hub was re-initialised) or a
    hub certificate we cannot verify shows up as an SSL error or a TLS alert, never as an HTTP status: it
    is the agent's problem and must be loud, not retried quietly forever.
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLError):
            return f"{type(cur).__name__}: {cur.reason or cur}"
        text = str(cur).lower()
        if any(h in text for h in _TLS_HINTS) and "timed out" not in text:
            return str(cur)
        cur = cur.__cause__ or cur.__context__
    return None


def clock_skew(date_header: str | None, sent_at: float, received_at: float) -> float | None:
    """Hub clock minus ours, from the response's Date header (1 s resolution; midpoint of the request)."""
    if not date_header:
        return None
    try:
        when = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp() - (sent_at + received_at) / 2


def make_ssl_context(hub: HubConfig) -> ssl.SSLContext:
    """TLS 1.3 only, the hub's own CA only (no system roots), our client certificate."""
    for field, path in (("hub.ca_file", hub.ca_file), ("hub.client_cert", hub.client_cert), ("hub.client_key", hub.client_key)):
        if not Path(path).is_file():
            raise ConfigError(f"{field}: {path}: file not found")
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=hub.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(hub.client_cert, hub.client_key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"hub TLS files (ca_file/client_cert/client_key) unusable: {exc}") from exc
    return ctx


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300].strip() or resp.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:1000]
    return str(body)[:300]


class HubClient:
    """One persistent HTTPS connection pool to the hub."""

    def __init__(self, hub: HubConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.url = hub.url + REPORTS_PATH
        # A black-holed hub must not hold the agent for the full read timeout on every attempt.
        timeout = httpx.Timeout(hub.timeout, connect=min(10.0, hub.timeout))
        kwargs: dict[str, object] = {"timeout": timeout, "follow_redirects": False}
        if transport is not None:
            kwargs["transport"] = transport
        else:
            kwargs["verify"] = make_ssl_context(hub)
        self._client = httpx.Client(**kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        self._client.close()

    def send(self, body: bytes, report_id: str) -> SendResult:
        sent = time.time()
        try:
            resp = self._client.post(self.url, content=body, headers={"Content-Type": CONTENT_TYPE, "Accept": "application/json"})
        except httpx.HTTPError as exc:
            tls = tls_failure(exc) or self._closed_after_handshake(exc)
            if tls is not None:
                return SendResult(Outcome.REFUSED, None, f"TLS failure with the hub: {tls} (is this agent's certificate revoked, "
                                  "or was the hub re-initialised with a new CA? check hub.ca_file/client_cert)")
            return SendResult(Outcome.RETRY, None, f"{type(exc).__name__}: {exc or 'connection failed'}")
        skew = clock_skew(resp.headers.get("date"), sent, time.time())
        if skew is not None and abs(skew) > CLOCK_WARN_SECONDS:
            log.error("this machine's clock differs from the hub's by %+.0f s: fix time synchronisation (NTP); the hub "
                      "refuses reports that finish more than 5 minutes ahead of its clock", -skew)
        result = self._classify(resp, report_id)
        return SendResult(result.outcome, result.status, result.reason, result.retry_after, result.duplicate, skew)

    def _closed_after_handshake(self, exc: httpx.HTTPError) -> str | None:
        """A TLS 1.3 server that rejects our certificate may just close the connection once the handshake is
        done (asyncio does: no alert). Tell that from a hub restarting mid-request by asking once more with a
        trivial request: a hub that accepts us answers it (any status); one that rejects us closes again."""
        if not isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
            return None
        try:
            self._client.get(self.url.removesuffix(REPORTS_PATH) + "/", headers={"Accept": "application/json"})
        except (httpx.RemoteProtocolError, httpx.ReadError):
            return ("the hub closes every connection right after the TLS handshake: it does not accept this agent's "
                    "client certificate")
        except httpx.HTTPError:
            return None
        return None

    def _classify(self, resp: httpx.Response, report_id: str) -> SendResult:
        code = resp.status_code
        if code in (200, 201):
            try:
                body_json = resp.json()
            except ValueError:
                return SendResult(Outcome.RETRY, code, "hub answered without a JSON acknowledgement")
            got = body_json.get("report_id") if isinstance(body_json, dict) else None
            if got != report_id:
                return SendResult(Outcome.RETRY, code, f"hub acknowledged report id {got!r}, not {report_id!r}")
            return SendResult(Outcome.ACKED, code, str(body_json.get("status", "")), duplicate=body_json.get("status") == "duplicate")
        ra = _retry_after(resp.headers.get("retry-after"))
        if code in TRANSIENT_4XX or code >= 500:
            return SendResult(Outcome.RETRY, code, _detail(resp), ra)
        if code in AGENT_REFUSED or 300 <= code < 400:
            return SendResult(Outcome.REFUSED, code, _detail(resp), ra)
        if 400 <= code < 500:
            return SendResult(Outcome.REJECTED, code, _detail(resp))
        return SendResult(Outcome.RETRY, code, f"unexpected HTTP {code}: {_detail(resp)}")


class Backoff:
    """Exponential backoff with full jitter: delay n is uniform in [0, min(cap, base * 2**n)]."""

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        self.base, self.cap = base, cap
        self.rng = rng or random.SystemRandom()
        self.attempt = 0

    def ceiling(self, attempt: int | None = None) -> float:
        n = self.attempt if attempt is None else attempt
        return min(self.cap, self.base * (2 ** min(n, 62)))

    def next_delay(self) -> float:
        delay = self.rng.uniform(0, self.ceiling())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class DrainResult:
    acked: int = 0
    duplicates: int = 0
    rejected: int = 0
    remaining: int = 0
    stopped_by: SendResult | None = None
    retry_in: float | None = None
    clock_skew: float | None = None

    @property
    def refused(self) -> bool:
        """The hub refused the agent itself (401/403, certificate or TLS failure): a person must act."""
        return self.stopped_by is not None and self.stopped_by.outcome is Outcome.REFUSED


def delivery_state(res: DrainResult) -> dict[str, object]:
    """What the last delivery attempt found, for `agent status` (written to the spool as JSON)."""
    now = time.time()
    state: dict[str, object] = {"at": now, "acked": res.acked, "rejected": res.rejected, "remaining": res.remaining, "clock_skew": res.clock_skew}
    if res.stopped_by is None:
        state.update(outcome="ok", status=None, reason=None)
    else:
        state.update(outcome=res.stopped_by.outcome.value, status=res.stopped_by.status, reason=res.stopped_by.reason)
    return state


class Sender:
    """Drains the spool into the hub; remembers when the next attempt is due after a failure."""

    def __init__(self, spool: Spool, client: HubClient, backoff: Backoff, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.spool, self.client, self.backoff, self.clock = spool, client, backoff, clock
        self.next_attempt = 0.0

    def due(self) -> bool:
        return self.clock() >= self.next_attempt

    def drain(self, stop: threading.Event | None = None) -> DrainResult:
        """Send every complete entry oldest first; on the first failure schedule a retry and stop.

        What happened is written to the spool's delivery state, which `tenken agent status` reads.
        """
        res = self._drain(stop)
        self.spool.write_state(delivery_state(res))
        return res

    def _drain(self, stop: threading.Event | None) -> DrainResult:
        res = DrainResult()
        entries = self.spool.entries()
        for i, entry in enumerate(entries):
            if stop is not None and stop.is_set():
                res.remaining = len(entries) - i
                return res
            try:
                body = entry.read_bytes()
            except FileNotFoundError:
                continue  # handled by a concurrent `agent once`
            try:
                rid = envelope_report_id(body)
            except (EnvelopeError, PayloadError) as exc:
                # Cannot happen with atomic writes unless the disk or a person damaged it: never send it.
                self.spool.reject(entry, None, f"corrupt spool entry, not sent: {exc}")
                res.rejected += 1
                continue
            result = self.client.send(body, rid)
            if result.clock_skew is not None:
                res.clock_skew = result.clock_skew
            if result.outcome is Outcome.ACKED:
                self.spool.ack(entry)
                res.acked += 1
                res.duplicates += result.duplicate
                self.backoff.reset()
                log.info("report %s delivered to the hub (%s)", rid, result.reason or result.status)
                continue
            if result.outcome is Outcome.REJECTED:
                self.spool.reject(entry, result.status, result.reason)
                res.rejected += 1
                self.backoff.reset()
                continue
            delay = self.backoff.next_delay()
            if result.retry_after is not None:
                delay = max(delay, min(result.retry_after, self.backoff.cap))
            self.next_attempt = self.clock() + delay
            res.stopped_by, res.retry_in, res.remaining = result, delay, len(entries) - i
            if result.outcome is Outcome.REFUSED:
                log.error(
                    "the hub refused this agent (HTTP %s: %s): enrol or renew its certificate, or check hub.url. "
                    "%d report(s) kept in the spool; retrying in %.0f s",
                    result.status, result.reason, res.remaining, delay,
                )
            else:
                log.warning("hub unavailable (%s%s); %d report(s) queued; retrying in %.1f s",
                            f"HTTP {result.status}: " if result.status else "", result.reason, res.remaining, delay)
            return res
        self.next_attempt = 0.0
        return res

