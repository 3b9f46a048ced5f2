"""This replica's recent requests, for the console's live tail and overview (`GET /admin/requests`,
`GET /admin/overview`): a flow recorder that keeps a bounded ring of compact per-request records and feeds the
per-minute aggregates of the last hour (`operations/overview.py`).

Appending is all it adds to the request path: a few field reads into a slotted object, a deque append and the
minute's counters (measured by `bench/console.py`). Everything else (filters, JSON, percentiles) happens when an
operator reads. In memory, per process, on purpose: no I/O on the request path; the console says which replica
it shows.

What a record keeps of what was asked is the last user message, cut to `PREVIEW_CHARS`, and the client's
metadata (already bounded by the front doors); never the whole prompt.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from switchboard.core.context import RequestContext
from switchboard.core.ending import Ended
from switchboard.core.request import EmbeddingRequest, Request, TextPart
from switchboard.core.response import Attempt, CompletionResponse
from switchboard.operations.overview import Overview

KEEP = 2000  # records in the ring (about 2 KB each at most)
PREVIEW_CHARS = 160


class RequestRecord:
    """One request as the console shows it. Built at the request's end; turned into JSON only when read."""

    __slots__ = (
        "at",
        "attempts",
        "cache",
        "cached_tokens",
        "chat",
        "cost_usd",
        "decision",
        "error",
        "finish_reason",
        "first_token_ms",
        "front_door",
        "id",
        "input_tokens",
        "key_id",
        "latency_ms",
        "metadata",
        "model",
        "output_tokens",
        "preview",
        "provider",
        "reason",
        "route",
        "saved_usd",
        "seq",
        "status",
        "task_type",
        "tenant",
        "tier",
    )

    seq: int
    at: float
    id: str
    tenant: str | None
    key_id: str | None
    tier: str | None
    status: int
    front_door: str
    route: str
    task_type: str | None
    decision: Any
    reason: str | None
    provider: str | None
    model: str | None
    attempts: tuple[Attempt, ...]
    cost_usd: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    latency_ms: float
    first_token_ms: float | None
    cache: str | None
    saved_usd: float
    error: str | None
    finish_reason: str | None
    preview: str | None
    metadata: dict[str, Any] | None
    chat: bool

    @property
    def failed(self) -> bool:
        """The gateway could not answer (5xx), or an answer broke mid-stream."""
        return self.status >= 500 or (self.error is not None and self.status < 400)

    def public(self, full: bool = False) -> dict[str, Any]:
        """As JSON: the tail's row; `full` adds the decision and every attempt's detail (the route)."""
        attempts = [_attempt(a, full) for a in self.attempts]
        row: dict[str, Any] = {
            "seq": self.seq, "id": self.id, "time": round(self.at, 3), "tenant": self.tenant,
            "key_id": self.key_id, "tier": self.tier, "status": self.status, "front_door": self.front_door,
            "route": self.route, "task_type": self.task_type, "provider": self.provider, "model": self.model,
            "attempts": attempts, "cost_usd": self.cost_usd, "latency_ms": self.latency_ms,
            "first_token_ms": self.first_token_ms, "cache": self.cache, "error": self.error,
            "preview": self.preview, "metadata": self.metadata,
        }
        if full:
            decision = self.decision
            row.update(reason=self.reason, finish_reason=self.finish_reason, saved_usd=self.saved_usd or None,
                       usage={"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                              "cached_tokens": self.cached_tokens},
                       decision=decision.model_dump(mode="json", exclude_none=True) if decision is not None
                       else None)
        return row


def _attempt(attempt: Attempt, full: bool) -> dict[str, Any]:
    step: dict[str, Any] = {"target": f"{attempt.provider}:{attempt.model}", "outcome": attempt.outcome.value,
                            "status": attempt.status, "latency_ms": attempt.latency_ms}
    if full:
        step["wait_ms"] = attempt.wait_ms
        for name in ("detail", "missing", "hedged", "cost_usd", "host"):
            value = getattr(attempt, name)
            if value:
                step[name] = value
    return step


def preview_of(request: Request | EmbeddingRequest | None) -> str | None:
    """The last user message (or the first embedding input), cut to `PREVIEW_CHARS`: reads no more of the
    prompt than it keeps."""
    if isinstance(request, EmbeddingRequest):
        return request.inputs[0][:PREVIEW_CHARS] if request.inputs else None
    if request is None:
        return None
    for message in reversed(request.messages):
        if message.role != "user":
            continue
        content = message.content
        if isinstance(content, str):
            return content[:PREVIEW_CHARS]
        if content is None:
            return None
        text = ""
        for part in content:
            if isinstance(part, TextPart):
                text += part.text[:PREVIEW_CHARS - len(text)]
                if len(text) >= PREVIEW_CHARS:
                    break
            else:
                text += "[image] "
        return text[:PREVIEW_CHARS]
    return None


class RecentRecords:
    """The flow's recorder for the console: the ring, and the last hour by minute."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._ring: deque[RequestRecord] = deque(maxlen=keep)
        self._seq = itertools.count(1)
        self.overview = Overview()

    # -- the flow's recorder (the request path) ------------------------------------------------------
    def started(self, ctx: RequestContext) -> None:
        pass

    def finished(self, ctx: RequestContext, ended: Ended) -> None:
        record = RequestRecord()
        record.seq = next(self._seq)
        record.at = time.time()
        record.id = ctx.id
        caller = ctx.caller
        record.tenant = caller.tenant
        record.key_id = caller.key_id
        record.tier = caller.tier
        record.status = ended.status
        record.front_door = ctx.front_door
        plan = ctx.plan
        if plan is not None:
            record.route = plan.label
            record.decision = plan.decision
            record.task_type = plan.decision.task_type
            record.reason = plan.reason
        else:
            record.route, record.decision, record.task_type, record.reason = "invalid", None, None, None
        attempts = record.attempts = tuple(ctx.attempts)
        response = ended.response
        extra = 0.0
        for attempt in attempts:
            if attempt.cost_usd is not None:
                extra += attempt.cost_usd
        if response is not None:
            usage = response.usage
            record.provider = response.provider
            record.model = response.model
            record.cost_usd = response.cost_usd + extra
            record.input_tokens = usage.input_tokens
            record.output_tokens = usage.output_tokens
            record.cached_tokens = usage.cached_tokens
            chat = record.chat = isinstance(response, CompletionResponse)
            cache_info = response.cache if chat else None  # type: ignore[union-attr]
            record.saved_usd = cache_info.saved_usd if cache_info is not None else 0.0
            record.finish_reason = response.finish_reason if chat else None  # type: ignore[union-attr]
        else:
            record.provider = record.model = record.finish_reason = None
            record.cost_usd = extra
            record.input_tokens = record.output_tokens = record.cached_tokens = 0
            record.saved_usd = 0.0
            record.chat = False
        record.latency_ms = round((time.perf_counter() - ctx.started) * 1000, 3)
        first = ended.first_token_s
        record.first_token_ms = round(first * 1000, 3) if first is not None else None
        record.cache = ended.cache
        error = ended.error
        record.error = error.code if error is not None else None
        record.preview = preview_of(ended.request)
        record.metadata = ctx.metadata
        self._ring.append(record)
        self.overview.add(record)

    def shed(self) -> None:
        """A request refused at admission (503 `overloaded`): it never reached the flow."""
        self.overview.shed(time.time())

    # -- what operators read ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ring)

    def newest(self) -> Iterator[RequestRecord]:
        return reversed(self._ring)

    def find(self, request_id: str) -> RequestRecord | None:
        for record in reversed(self._ring):
            if record.id == request_id:
                return record
        return None

    def select(self, tenant: str | None = None, status: str | None = None, provider: str | None = None,
               after: int = 0, limit: int = 100) -> list[RequestRecord]:
        """Newest first, at most `limit`, later than `after` (a `seq`). `status`: `ok` (2xx, answered whole),
        `error` (failed or refused), `4xx`, `5xx`, or one code. `provider`: the one that answered or any the
        request tried."""
        test = status_test(status)
        found: list[RequestRecord] = []
        for record in reversed(self._ring):
            if record.seq <= after or len(found) >= limit:
                break
            if tenant is not None and record.tenant != tenant:
                continue
            if test is not None and not test(record):
                continue
            if provider is not None and record.provider != provider and not any(
                    a.provider == provider for a in record.attempts):
                continue
            found.append(record)
        return found

    def rate(self, now: float, window_s: float = 10.0) -> float:
        """Requests per second over the last `window_s` (or over what the ring still holds, when it is full)."""
        since = now - window_s
        count, oldest = 0, now
        for record in reversed(self._ring):
            if record.at < since:
                return count / window_s
            count += 1
            oldest = record.at
        if len(self._ring) == self.keep and count:
            return count / max(now - oldest, 1e-3)
        return count / window_s


def status_test(status: str | None) -> Any:
    """The record filter a `status` value means; ValueError for one it does not."""
    if status is None or status == "":
        return None
    if status == "ok":
        return lambda r: r.status < 400 and r.error is None
    if status == "error":
        return lambda r: r.status >= 400 or r.error is not None
    if status in ("4xx", "5xx"):
        low = int(status[0]) * 100
        return lambda r: low <= r.status < low + 100
    if status.isdigit() and len(status) == 3:
        code = int(status)
        return lambda r: r.status == code
    raise ValueError("status: ok, error, 4xx, 5xx or an HTTP status such as 429")
