"""The events of an answer, whatever the protocol: what an adapter's stream parser yields (`StreamEvent`),
and what the flow's stream yields to a front door (`StreamItem`: started, the events, then finished or failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchboard.core.errors import GatewayError
from switchboard.core.outcome import FinishReason
from switchboard.core.response import CompletionResponse, Usage


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call. `index` counts tool calls only, densely from 0; `id` and `name` come once."""

    index: int
    arguments: str
    id: str | None = None
    name: str | None = None
    choice: int = 0


@dataclass(frozen=True, slots=True)
class LogprobsDelta:
    entries: list[dict[str, Any]]  # OpenAI's `logprobs.content` entries
    choice: int = 0


@dataclass(frozen=True, slots=True)
class Finish:
    reason: FinishReason
    choice: int = 0


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """A clean end: it arrived with the protocol's own terminator."""

    usage: Usage | None


StreamEvent = TextDelta | ToolCallDelta | LogprobsDelta | Finish | StreamEnd


@dataclass(frozen=True, slots=True)
class StreamStarted:
    id: str
    provider: str
    model: str
    task_type: str | None
    created: int


@dataclass(frozen=True, slots=True)
class StreamFinished:
    response: CompletionResponse


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """The stream broke after its first token: the client gets what came, then this, never a clean end."""

    error: GatewayError


StreamItem = StreamStarted | StreamEvent | StreamFinished | StreamFailed
