"""The outcome vocabulary: what one attempt ended in, and how an answer finished. The same words appear in
responses, logs, metrics and traces."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Outcome(StrEnum):
    """What one attempt ended in. The same words appear in responses, logs, metrics and traces."""

    OK = "ok"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"
    INVALID_RESPONSE = "invalid_response"
    AUTH_ERROR = "auth_error"
    BAD_REQUEST = "bad_request"
    CIRCUIT_OPEN = "circuit_open"
    SKIPPED_NO_KEY = "skipped_no_key"
    UNAVAILABLE = "unavailable"
    UNSUPPORTED = "unsupported"  # the target cannot serve what the request needs (`missing` says what)
    DEADLINE_EXCEEDED = "deadline_exceeded"
    CLIENT_CLOSED = "client_closed"
    HEDGE_LOST = "hedge_lost"  # a hedged attempt cancelled because the other one answered first
    DRAINED = "drained"  # an operator took the target (or its provider) out of rotation; `detail` says who and why


# Outcomes of targets skipped without any call upstream.
NOT_CALLED = frozenset({Outcome.SKIPPED_NO_KEY, Outcome.CIRCUIT_OPEN, Outcome.UNAVAILABLE, Outcome.UNSUPPORTED,
                        Outcome.DRAINED})

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]
# Outcomes worth a retry: they say something about the target's health (they also count towards its breaker).
RETRYABLE = frozenset(
    {
        Outcome.RATE_LIMITED,
        Outcome.OVERLOADED,
        Outcome.SERVER_ERROR,
        Outcome.TIMEOUT,
        Outcome.CONNECT_ERROR,
        Outcome.INVALID_RESPONSE,
    }
)
