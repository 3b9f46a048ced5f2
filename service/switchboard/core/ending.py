"""How a request ended: what the flow hands every recorder (log line, metrics, span, the recent-records buffer)."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.core.errors import GatewayError
from switchboard.core.request import EmbeddingRequest, Request
from switchboard.core.response import CompletionResponse, EmbeddingResponse


@dataclass(frozen=True, slots=True)
class Ended:
    """How a request ended, as its recorders see it. `response` is set whenever something was answered or
    consumed (a stream cut short has its partial, priced response and its `error`)."""

    status: int
    response: CompletionResponse | EmbeddingResponse | None = None
    error: GatewayError | None = None
    cache: str | None = None  # hit | semantic-hit | miss | bypass; None: no cache
    first_token_s: float | None = None  # streamed: from the start to the first content token
    streamed_chars: int | None = None  # a stream cut short: the characters the client got
    request: Request | EmbeddingRequest | None = None  # what was asked (None: a body that could not be read)
