"""One object per request, from its front door to its record: id, deadline, trace, caller, plan, attempts.

Each field has one writer: the app (id, caller), the front door's sequence (front door, trace), the flow
(deadline, plan, metadata), the engine (attempts), telemetry (span); the limits and the flow add response
headers and notes for the log line. What one layer hands another is a return value, not a field here.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import Span

from switchboard.core.caller import ANONYMOUS, Caller
from switchboard.core.plan import Plan
from switchboard.core.response import Attempt


def new_request_id() -> str:
    """24 hex digits. From `random` (seeded from the OS at start and again in each forked worker), not `secrets`:
    an id needs to be unique, not secret (what proves a request's owner is the keyed tag `RequestIds` adds), and
    `secrets` costs a getrandom system call per request."""
    return f"{random.getrandbits(96):024x}"


@dataclass(slots=True, eq=False)
class RequestContext:
    id: str = field(default_factory=new_request_id)
    front_door: str = "library"  # complete | openai | anthropic | pipeline | library
    started: float = field(default_factory=time.perf_counter)
    started_ns: int = field(default_factory=time.time_ns)  # the same moment on the wall clock (for spans)
    deadline: float = 0.0  # on the time.monotonic() clock; set when the request's timeout is known
    trace: Context | None = None  # the caller's trace context (an incoming traceparent)
    span: Span | None = None  # this request's span, when tracing is on
    caller: Caller = ANONYMOUS
    plan: Plan | None = None
    attempts: list[Attempt] = field(default_factory=list)
    progress: Callable[[int], None] | None = None  # called with the chunks (about tokens) received so far
    headers: dict[str, str] = field(default_factory=dict)  # response headers the layers add (limits, cache)
    notes: list[str] = field(default_factory=list)  # things the log line should say (a cache error, ...)
    metadata: dict[str, Any] | None = None
    client_id: str | None = None  # the client's own x-request-id: echoed and logged, never used for accounting
    client_gone: bool = False

    @property
    def echo_id(self) -> str:
        """The `x-request-id` a response carries: the client's own when it sent one, else ours."""
        return self.client_id or self.id

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started
