"""The standard response: the same shape whichever provider answered, with the route it took (the decision and
every attempt, recorded as data). Front doors translate it into their protocol's shape."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from switchboard.core.outcome import FinishReason, Outcome


class Usage(BaseModel):
    """`input_tokens` counts every prompt token; `cached_tokens` and `cache_write_tokens` are parts of it."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0


def _absent(value: Any) -> bool:
    return value is None or value is False


class Attempt(BaseModel):
    """One try against one target, recorded as data."""

    provider: str
    model: str
    outcome: Outcome
    status: int | None = None
    wait_ms: float = 0.0
    latency_ms: float = 0.0
    detail: str | None = None
    # Shown only when they say something:
    missing: list[str] | None = Field(None, exclude_if=_absent)  # unsupported: the capabilities the target lacks
    hedged: bool = Field(False, exclude_if=_absent)  # started by a hedge beside a slow attempt
    cost_usd: float | None = Field(None, exclude_if=_absent)  # used tokens without answering (a hedge that lost)
    host: str | None = Field(None, exclude_if=_absent)  # a connection-level failure: the endpoint that failed


class Decision(BaseModel):
    """How the route was chosen: the rule, and what the classifier inferred when it ran."""

    rule: str
    task_type: str | None = None
    complexity: Literal["simple", "complex"] | None = None
    score: float | None = None  # complexity score, 0-1
    confidence: float | None = None  # the classifier's confidence in its task type
    complexity_confidence: float | None = None  # ... and in its complexity label (0.5 at the threshold, 1 sure)
    threshold: float | None = None  # the complexity threshold in use (the strong-share dial's, when on)
    classifier_ms: float | None = None
    tier: str | None = None
    # What the deciding rule matched on: "model" (pinned), "pipeline_step", "task_type", "complexity" or
    # "default" (a tier's default chain or the global one).
    signal: str | None = None


class Route(BaseModel):
    reason: str
    decision: Decision | None = None
    attempts: list[Attempt] = []


class FunctionCall(BaseModel):
    name: str
    arguments: str  # a JSON object as a string


class ToolCallOut(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Choice(BaseModel):
    index: int
    text: str
    tool_calls: list[ToolCallOut] | None = None
    finish_reason: FinishReason
    logprobs: list[dict[str, Any]] | None = None


class CacheInfo(BaseModel):
    kind: Literal["exact", "semantic"]
    similarity: float | None = None
    age_s: float
    saved_usd: float = 0.0


class CompletionResponse(BaseModel):
    id: str
    text: str
    tool_calls: list[ToolCallOut] | None = Field(None, exclude_if=_absent)
    provider: str
    model: str
    task_type: str | None
    finish_reason: FinishReason
    usage: Usage
    cost_usd: float
    cost_estimated: bool = False  # the provider reported no usage: tokens were estimated from the text
    latency_ms: float
    cached: bool = False
    # Present only when they apply:
    cache: CacheInfo | None = Field(None, exclude_if=_absent)
    logprobs: list[dict[str, Any]] | None = Field(None, exclude_if=_absent)  # the first choice's logprobs.content
    choices: list[Choice] | None = Field(None, exclude_if=_absent)  # every choice, when n > 1 was asked
    dropped: list[str] | None = Field(None, exclude_if=_absent)  # parameters dropped for the answering target
    route: Route


class EmbeddingResponse(BaseModel):
    id: str
    provider: str
    model: str
    vectors: list[list[float]]
    usage: Usage
    cost_usd: float
    latency_ms: float
    route: Route


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


class DecideResponse(BaseModel):
    """`POST /decide`: the route a request would take, without calling any provider."""

    task_type: str | None
    rule: str
    reason: str
    chain: list[str]
    decision: Decision
