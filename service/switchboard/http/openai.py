"""The OpenAI-compatible front door: `/v1/chat/completions`, the legacy `/v1/completions`, `/v1/embeddings`.

Point the official `openai` SDK (or LangChain, LlamaIndex, instructor, pydantic-ai...) at `http://host:port/v1`
and get routing, retries and failover, streamed or not, with tools, structured output, images, n and
logprobs. `model` picks the route: `auto`, a task type, or `provider/model` (pinned).
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import AsyncGenerator
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.core.events import (
    Finish,
    LogprobsDelta,
    StreamFailed,
    StreamFinished,
    StreamItem,
    StreamStarted,
    TextDelta,
    ToolCallDelta,
)
from switchboard.core.request import EmbeddingRequest, Message, Request
from switchboard.core.response import CompletionResponse, EmbeddingResponse, Usage
from switchboard.http import sse
from switchboard.http.doors import Encoded, Incoming, parse_body, route_header
from switchboard.schema import (
    MAX_STOP_SEQUENCES,
    MessageIn,
    NamedToolChoice,
    ResponseFormatIn,
    ToolIn,
    bounded_metadata,
    check_conversation,
    to_tool,
    tool_choice,
)

# Sent by the SDKs and harmless to ignore; anything else unknown is listed back in `switchboard.ignored`.
IGNORED = ("store", "service_tier", "prompt_cache_key", "safety_identifier", "verbosity", "stream_options")
# Would change what the client gets, and cannot be honoured here: refused with a 400 naming them.
REFUSED = ("functions", "function_call", "audio", "modalities", "prediction", "web_search_options")
def served_model(provider: str, model: str) -> str:
    return f"{provider}/{model}"


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class _OpenAIBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _refused(self) -> _OpenAIBody:
        for name in REFUSED:
            if (self.model_extra or {}).get(name) is not None:
                raise ValueError(f"{name}: not supported by this gateway")
        return self

    def ignored(self) -> list[str]:
        return sorted(name for name in (self.model_extra or {}) if name not in IGNORED)


class _Sampling(_OpenAIBody):
    model: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    max_tokens: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    n: Annotated[int, Field(ge=1, le=16)] = 1
    stop: str | Annotated[list[str], Field(max_length=MAX_STOP_SEQUENCES)] | None = None
    seed: int | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None
    user: Annotated[str, StringConstraints(max_length=256)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    metadata: Annotated[dict[str, str] | None, AfterValidator(bounded_metadata)] = None
    timeout_s: Annotated[float, Field(gt=0, le=3600)] | None = None  # Switchboard: this request's deadline

    def stops(self) -> list[str] | None:
        return [self.stop] if isinstance(self.stop, str) else self.stop


class ChatCompletionRequest(_Sampling):
    messages: Annotated[list[MessageIn], Field(min_length=1)]
    max_completion_tokens: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    logprobs: bool = False
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    tools: Annotated[list[ToolIn], Field(min_length=1, max_length=128)] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormatIn | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ChatCompletionRequest:
        check_conversation(self.messages, self.tools, self.tool_choice)
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs: needs logprobs true")
        return self

    def to_request(self) -> Request:
        return Request(
            messages=[m.to_message() for m in self.messages],
            max_tokens=self.max_completion_tokens or self.max_tokens,
            temperature=self.temperature, top_p=self.top_p, stop=self.stops(), seed=self.seed, n=self.n,
            logprobs=self.logprobs, top_logprobs=self.top_logprobs, frequency_penalty=self.frequency_penalty,
            presence_penalty=self.presence_penalty, logit_bias=self.logit_bias, user=self.user,
            reasoning_effort=self.reasoning_effort,
            tools=[to_tool(t) for t in self.tools] if self.tools else None,
            tool_choice=tool_choice(self.tool_choice), parallel_tool_calls=self.parallel_tool_calls,
            response_format=self.response_format.to_format() if self.response_format else None,
            model=None if self.model == "auto" else self.model, metadata=self.metadata, timeout_s=self.timeout_s,
            stream=self.stream, dropped=self.ignored(),
            stream_usage=bool(self.stream_options and self.stream_options.include_usage),
        )


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


def _summary(response: CompletionResponse) -> dict[str, Any]:
    summary: dict[str, Any] = {"cost_usd": response.cost_usd, "latency_ms": response.latency_ms,
                               "cached": response.cached}
    if response.cache is not None:
        summary["cache"] = response.cache.model_dump(mode="json")
    if response.dropped:
        summary["dropped"] = response.dropped
    return summary


def _message(text: str, calls: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None, "refusal": None}
    if calls:
        message["tool_calls"] = [call.model_dump(mode="json") for call in calls]
    return message


class ChatDoor:
    name = "openai"

    def parse(self, body: bytes, incoming: Incoming) -> Request:
        return parse_body(ChatCompletionRequest, body).to_request()

    def encode(self, ctx: RequestContext, request: Any, result: CompletionResponse) -> Encoded:
        choices = result.choices or [None]
        body = {
            "id": f"chatcmpl-{ctx.id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": served_model(result.provider, result.model),
            "choices": [
                {"index": 0, "message": _message(result.text, result.tool_calls),
                 "logprobs": {"content": result.logprobs} if result.logprobs is not None else None,
                 "finish_reason": result.finish_reason} if choice is None else
                {"index": choice.index, "message": _message(choice.text, choice.tool_calls),
                 "logprobs": {"content": choice.logprobs} if choice.logprobs is not None else None,
                 "finish_reason": choice.finish_reason}
                for choice in choices
            ],
            "usage": usage_body(result.usage),
            "system_fingerprint": None,
            "switchboard": _summary(result),
        }
        return 200, {"x-switchboard-route": route_header(result.route)}, orjson.dumps(body)


    async def stream(self, ctx: RequestContext, request: Request, first: StreamStarted,
                     items: AsyncGenerator[StreamItem, None]) -> AsyncGenerator[bytes, None]:
        writer = _Chunks(f"chatcmpl-{ctx.id}", "chat.completion.chunk", served_model(first.provider, first.model))
        started: set[int] = set()
        finishes: dict[int, str] = {}
        yield writer.chunk(0, {"role": "assistant", "content": ""})
        started.add(0)
        async for item in items:
            if isinstance(item, TextDelta | ToolCallDelta | LogprobsDelta) and item.choice not in started:
                started.add(item.choice)
                yield writer.chunk(item.choice, {"role": "assistant", "content": ""})
            if isinstance(item, TextDelta):
                yield writer.chunk(item.choice, {"content": item.text})
            elif isinstance(item, ToolCallDelta):
                call: dict[str, Any] = {"index": item.index, "function": {"arguments": item.arguments}}
                if item.id is not None:
                    call.update(id=item.id, type="function", function={"name": item.name, "arguments": item.arguments})
                yield writer.chunk(item.choice, {"tool_calls": [call]})
            elif isinstance(item, LogprobsDelta):
                yield writer.chunk(item.choice, {}, logprobs={"content": item.entries})
            elif isinstance(item, Finish):
                finishes[item.choice] = item.reason
            elif isinstance(item, StreamFinished):
                response = item.response
                reasons = {c.index: c.finish_reason for c in response.choices} if response.choices else \
                    {0: response.finish_reason}
                extra = {"switchboard": {**_summary(response), "route": response.route.model_dump(mode="json")}}
                indexes = sorted(started | set(reasons))
                for index in indexes:
                    last = index == indexes[-1] and not request.stream_usage
                    reason = reasons.get(index, finishes.get(index, "stop"))
                    yield writer.chunk(index, {}, finish_reason=reason, **(extra if last else {}))
                if request.stream_usage:
                    yield writer.usage(usage_body(response.usage), **extra)
                yield b"data: [DONE]\n\n"
            elif isinstance(item, StreamFailed):
                # Never a clean end: a non-stop finish reason, then an in-band error the SDK raises on.
                detail = item.error.body
                yield writer.chunk(0, {}, finish_reason="error")
                yield sse.event(None, {
                    "error": {"message": detail.error.message, "type": "api_error", "param": None,
                              "code": detail.error.code},
                    "switchboard": {"route": detail.route.model_dump(mode="json") if detail.route else None},
                })


class _Chunks:
    """OpenAI's streamed objects (`chat.completion.chunk`, `text_completion`) for one stream."""

    def __init__(self, id_: str, kind: str, model: str) -> None:
        self._base = {"id": id_, "object": kind, "created": int(time.time()), "model": model}
        self._text = kind == "text_completion"

    def chunk(self, index: int, delta: dict[str, Any], finish_reason: str | None = None,
              logprobs: Any = None, **extra: Any) -> bytes:
        if self._text:
            choice: dict[str, Any] = {"text": delta.get("content", ""), "index": index, "logprobs": None,
                                      "finish_reason": finish_reason}
        else:
            choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
        return sse.event(None, {**self._base, "choices": [choice], **extra})

    def usage(self, usage: dict[str, Any], **extra: Any) -> bytes:
        return sse.event(None, {**self._base, "choices": [], "usage": usage, **extra})


# -- /v1/completions: the legacy text endpoint (LlamaIndex OpenAILike, LangChain OpenAI) ----------------------
class CompletionRequest(_Sampling):
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)]
    max_tokens: Annotated[int, Field(gt=0, le=1_000_000)] | None = 16  # the legacy endpoint's own default
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = None
    logprobs: int | None = None

    @field_validator("prompt", mode="before")
    @classmethod
    def _text_prompts(cls, value: Any) -> Any:
        if isinstance(value, list) and value and not isinstance(value[0], str):
            raise ValueError("token arrays are not supported: send the prompt as text")
        if isinstance(value, list) and len(value) > 1:
            raise ValueError("one prompt per request")
        return value

    @model_validator(mode="after")
    def _unsupported(self) -> CompletionRequest:
        for name in ("echo", "suffix", "best_of", "logprobs"):
            value = getattr(self, name)
            if value not in (None, False):
                raise ValueError(f"{name}: not supported by this gateway")
        return self

    def to_request(self) -> Request:
        prompt = self.prompt if isinstance(self.prompt, str) else self.prompt[0]
        if not prompt.strip():
            raise GatewayError(422, "invalid_request", "prompt: must not be blank", field="prompt")
        return Request(
            messages=[Message("user", prompt)], max_tokens=self.max_tokens, temperature=self.temperature,
            top_p=self.top_p, stop=self.stops(), seed=self.seed, n=self.n, frequency_penalty=self.frequency_penalty,
            presence_penalty=self.presence_penalty, logit_bias=self.logit_bias, user=self.user,
            model=None if self.model == "auto" else self.model, metadata=self.metadata, timeout_s=self.timeout_s,
            stream=self.stream, dropped=self.ignored(),
            stream_usage=bool(self.stream_options and self.stream_options.include_usage),
        )


class CompletionsDoor:
    name = "openai"

    def parse(self, body: bytes, incoming: Incoming) -> Request:
        return parse_body(CompletionRequest, body).to_request()

    def encode(self, ctx: RequestContext, request: Any, result: CompletionResponse) -> Encoded:
        choices = result.choices or None
        body = {
            "id": f"cmpl-{ctx.id}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": served_model(result.provider, result.model),
            "choices": [{"text": c.text, "index": c.index, "logprobs": None, "finish_reason": c.finish_reason}
                        for c in choices] if choices else
                       [{"text": result.text, "index": 0, "logprobs": None, "finish_reason": result.finish_reason}],
            "usage": usage_body(result.usage),
            "switchboard": _summary(result),
        }
        return 200, {"x-switchboard-route": route_header(result.route)}, orjson.dumps(body)


    async def stream(self, ctx: RequestContext, request: Request, first: StreamStarted,
                     items: AsyncGenerator[StreamItem, None]) -> AsyncGenerator[bytes, None]:
        writer = _Chunks(f"cmpl-{ctx.id}", "text_completion", served_model(first.provider, first.model))
        async for item in items:
            if isinstance(item, TextDelta):
                yield writer.chunk(item.choice, {"content": item.text})
            elif isinstance(item, StreamFinished):
                response = item.response
                reasons = {c.index: c.finish_reason for c in response.choices} if response.choices else \
                    {0: response.finish_reason}
                for index, reason in sorted(reasons.items()):
                    yield writer.chunk(index, {}, finish_reason=reason)
                if request.stream_usage:
                    yield writer.usage(usage_body(response.usage), switchboard=_summary(response))
                yield b"data: [DONE]\n\n"
            elif isinstance(item, StreamFailed):
                detail = item.error.body
                yield writer.chunk(0, {}, finish_reason="error")
                yield sse.event(None, {"error": {"message": detail.error.message, "type": "api_error",
                                                 "param": None, "code": detail.error.code}})


# -- /v1/embeddings --------------------------------------------------------------------------------------
MAX_EMBEDDING_INPUTS = 2048  # OpenAI's limit per request


class EmbeddingsBody(_OpenAIBody):
    model: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    input: str | list[str] | list[list[int]]
    dimensions: Annotated[int, Field(ge=1, le=16384)] | None = None
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None
    input_type: Literal["search_document", "search_query", "classification", "clustering"] | None = None
    timeout_s: Annotated[float, Field(gt=0, le=3600)] | None = None

    @field_validator("input", mode="plain")
    @classmethod
    def _text_inputs(cls, value: Any) -> str | list[str] | list[list[int]]:
        """Validated by hand, so that every problem is reported as `input` (a union would add its branches).
        Token arrays (one, or a list of them: LangChain's OpenAIEmbeddings sends tiktoken ids by default) go to
        the models that read them as they are; a model that needs text refuses them, saying what to send."""
        if isinstance(value, list) and value and isinstance(value[0], int | list):
            arrays = [value] if isinstance(value[0], int) else value
            if not all(isinstance(ids, list) and ids and all(isinstance(i, int) and not isinstance(i, bool)
                                                             and 0 <= i < 2**32 for i in ids) for ids in arrays):
                raise ValueError("a token array is a non-empty list of token ids (integers)")
            if len(arrays) > MAX_EMBEDDING_INPUTS:
                raise ValueError(f"must hold 1 to {MAX_EMBEDDING_INPUTS} token arrays")
            return arrays
        if isinstance(value, str):
            if not value:
                raise ValueError("must not be empty")
            return value
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError("must be a string or a list of strings")
        if not value or len(value) > MAX_EMBEDDING_INPUTS:
            raise ValueError(f"must hold 1 to {MAX_EMBEDDING_INPUTS} strings")
        if not all(value):
            raise ValueError("an input must not be empty")
        return value


class EmbeddingsDoor:
    name = "openai"

    def parse(self, body: bytes, incoming: Incoming) -> EmbeddingRequest:
        parsed = parse_body(EmbeddingsBody, body)
        tokens = parsed.input if parsed.input and isinstance(parsed.input[0], list) else None
        inputs = [parsed.input] if isinstance(parsed.input, str) else [] if tokens is not None else parsed.input
        return EmbeddingRequest(inputs, parsed.model, parsed.dimensions, parsed.encoding_format,  # type: ignore[arg-type]
                                parsed.input_type, parsed.user, timeout_s=parsed.timeout_s, dropped=parsed.ignored(),
                                tokens=tokens)  # type: ignore[arg-type]

    def encode(self, ctx: RequestContext, request: Any, result: EmbeddingResponse) -> Encoded:
        as_base64 = request.encoding_format == "base64"
        data = [{"object": "embedding", "index": index,
                 "embedding": base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if as_base64
                 else vector}
                for index, vector in enumerate(result.vectors)]
        body = {"object": "list", "data": data, "model": served_model(result.provider, result.model),
                "usage": {"prompt_tokens": result.usage.input_tokens, "total_tokens": result.usage.input_tokens},
                "switchboard": {"cost_usd": result.cost_usd, "latency_ms": result.latency_ms,
                                **({"dropped": request.dropped} if request.dropped else {})}}
        return 200, {"x-switchboard-route": route_header(result.route)}, orjson.dumps(body)

