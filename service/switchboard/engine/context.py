"""One object per request, from its front door to its record: id, deadline, trace, caller, decision, attempts."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import Span

from switchboard.callers.model import ANONYMOUS, Caller
from switchboard.routing.plan import Plan
from switchboard.schema import Attempt


def new_request_id() -> str:
    return secrets.token_hex(12)


@dataclass(slots=True, eq=False)
class RequestContext:
    id: str = field(default_factory=new_request_id)
    front_door: str = "library"  # complete | openai | anthropic | pipeline | library
    started: float = field(default_factory=time.perf_counter)
    deadline: float = 0.0  # on the time.monotonic() clock; set when the request's timeout is known
    trace: Context | None = None  # the caller's trace context (an incoming traceparent)
    span: Span | None = None  # this request's span, when tracing is on
    caller: Caller = ANONYMOUS
    plan: Plan | None = None
    attempts: list[Attempt] = field(default_factory=list)
    decided_at_ns: int | None = None  # when the routing decision started (time.time_ns, for its span)
    decide_ms: float | None = None  # the routing decision's time
    first_token_s: float | None = None  # streamed requests: from the start to the first content token
    cache: str | None = None  # hit | semantic-hit | miss | bypass
    cache_read: bool = True  # Cache-Control: no-cache turns reading off ...
    cache_write: bool = True  # ... and no-store writing
    fingerprint: Any = None  # the cache's key for this request, between lookup and store
    progress: Callable[[int], None] | None = None  # called with the chunks (about tokens) received so far
    headers: dict[str, str] = field(default_factory=dict)  # response headers the layers add (limits, cache)
    notes: list[str] = field(default_factory=list)  # things the log line should say (a cache error, ...)
    metadata: dict[str, Any] | None = None
    client_gone: bool = False
    recorded: bool = False  # its record (log line, metrics, span end) is written

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started
