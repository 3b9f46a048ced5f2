"""The standard request and response: the same shape whichever provider answers."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

MAX_STOP_SEQUENCES = 4  # the smallest limit among the providers (OpenAI)


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
    DEADLINE_EXCEEDED = "deadline_exceeded"
    CLIENT_CLOSED = "client_closed"


# Outcomes of targets skipped without any call upstream.
NOT_CALLED = frozenset({Outcome.SKIPPED_NO_KEY, Outcome.CIRCUIT_OPEN, Outcome.UNAVAILABLE})

FinishReason = Literal["stop", "length", "content_filter", "error"]
NonBlank = Annotated[str, StringConstraints(min_length=1), Field(pattern=r"\S")]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["system", "user", "assistant"]
    content: NonBlank


class CompleteRequest(BaseModel):
    """Body of `POST /complete`, and the input of `Switchboard.complete`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: NonBlank | None = None
    messages: Annotated[list[Message], Field(min_length=1)] | None = None
    task_type: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    max_tokens: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    stop: list[NonBlank] | NonBlank | None = None
    timeout_s: Annotated[float, Field(gt=0, le=3600)] | None = None
    metadata: dict[str, str | int | float | bool] | None = None
    stream: bool = False

    @model_validator(mode="after")
    def _one_prompt(self) -> CompleteRequest:
        if (self.text is None) == (self.messages is None):
            raise ValueError("give exactly one of 'text' or 'messages'")
        if self.messages is not None and all(m.role == "system" for m in self.messages):
            raise ValueError("'messages' needs at least one user or assistant message")
        return self

    @field_validator("stop")
    @classmethod
    def _stop_as_list(cls, value: list[str] | str | None) -> list[str] | None:
        if isinstance(value, str):
            value = [value]
        if value is not None and len(value) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        return value

    def conversation(self) -> list[Message]:
        if self.messages is not None:
            return self.messages
        return [Message(role="user", content=self.text or "")]


class Usage(BaseModel):
    """`input_tokens` counts every prompt token; `cached_tokens` and `cache_write_tokens` are parts of it."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class Attempt(BaseModel):
    """One try against one target, recorded as data."""

    provider: str
    model: str
    outcome: Outcome
    status: int | None = None
    wait_ms: float = 0.0
    latency_ms: float = 0.0
    detail: str | None = None


class Route(BaseModel):
    reason: str
    attempts: list[Attempt] = []


class CompletionResponse(BaseModel):
    id: str
    text: str
    provider: str
    model: str
    task_type: str | None
    finish_reason: FinishReason
    usage: Usage
    cost_usd: float
    cost_estimated: bool = False  # the provider reported no usage: tokens were estimated from the text
    latency_ms: float
    cached: bool = False
    route: Route


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    step: str | None = None  # the pipeline step that failed
    request_id: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail
    route: Route | None = None


class PipelineTotals(BaseModel):
    cost_usd: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    latency_ms: float


class PipelineResult(BaseModel):
    """A pipeline run: the final text, every step's standard response, and the totals."""

    id: str
    pipeline: str
    output: str
    steps: dict[str, CompletionResponse]
    totals: PipelineTotals
