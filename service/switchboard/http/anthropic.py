"""The Anthropic-compatible front door: `POST /v1/messages` (streaming included, in Anthropic's event order)
and `POST /v1/messages/count_tokens`, so the `anthropic` SDK and tools built on it can use Switchboard.

Routed like any other request: `model` is `auto`, a task type, or `provider/model` (a bare model name that
one provider lists works too). Keys arrive as `x-api-key` or `Authorization: Bearer`; any
`anthropic-version` and `anthropic-beta` are accepted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.core.events import (
    StreamFailed,
    StreamFinished,
    StreamItem,
    StreamStarted,
    TextDelta,
    ToolCallDelta,
)
from switchboard.core.outcome import FinishReason
from switchboard.core.request import (
    ImagePart,
    Message,
    Part,
    Request,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from switchboard.core.response import CompletionResponse, Usage
from switchboard.http import sse
from switchboard.http.doors import Encoded, Incoming, parse_body, route_header
from switchboard.providers.anthropic import safe_id
from switchboard.schema import METADATA_VALUE_CHARS, bounded_metadata

STOP_REASONS: dict[FinishReason, str] = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                                         "content_filter": "refusal", "error": "end_turn"}


class _Block(BaseModel):
    model_config = ConfigDict(extra="allow")  # cache_control, citations: accepted, not needed here


class TextBlock(_Block):
    type: Literal["text"]
    text: str


class ImageSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["base64", "url"]
    media_type: Literal["image/jpeg", "image/png", "image/gif", "image/webp"] | None = None
    data: str | None = None
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None

    @model_validator(mode="after")
    def _complete(self) -> ImageSource:
        if self.type == "base64" and (self.media_type is None or not self.data):
            raise ValueError("a base64 image needs media_type and data")
        if self.type == "url" and not self.url:
            raise ValueError("a url image needs url")
        return self

    def as_url(self) -> str:
        return self.url if self.type == "url" else f"data:{self.media_type};base64,{self.data}"  # type: ignore[return-value]


class ImageBlock(_Block):
    type: Literal["image"]
    source: ImageSource


class ToolUseBlock(_Block):
    type: Literal["tool_use"]
    id: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_\-]+$")]
    name: str
    input: dict[str, Any]


class ToolResultBlock(_Block):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[TextBlock | ImageBlock] | None = None
    is_error: bool = False

    def parts(self) -> str | list[Part]:
        """The result as the neutral content: a string, or its blocks as parts (text and images, in order)."""
        if self.content is None or isinstance(self.content, str):
            text = self.content or ""
            return f"Error: {text}" if self.is_error else text
        parts: list[Part] = [TextPart(block.text) if isinstance(block, TextBlock) else ImagePart(block.source.as_url())
                             for block in self.content if not isinstance(block, TextBlock) or block.text]
        return ([TextPart("Error:"), *parts] if self.is_error else parts) or ""


class ThinkingBlock(_Block):
    type: Literal["thinking", "redacted_thinking"]  # history from a thinking model: accepted and dropped


Block = Annotated[TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock,
                  Field(discriminator="type")]


class MessageParam(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: Annotated[str, StringConstraints(min_length=1)] | Annotated[list[Block], Field(min_length=1)]


class ToolParam(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_\-]{1,128}$")]
    description: str | None = None
    input_schema: dict[str, Any]
    strict: bool | None = None

    @model_validator(mode="after")
    def _object(self) -> ToolParam:
        if self.input_schema.get("type") != "object":
            raise ValueError("input_schema.type: must be 'object'")
        return self


class ToolChoiceParam(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class OutputFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    format: OutputFormat | None = None
    effort: Literal["low", "medium", "high", "max"] | None = None


class ThinkingParam(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["enabled", "adaptive", "disabled"]
    budget_tokens: Annotated[int, Field(ge=0)] | None = None

    def effort(self) -> str | None:
        """The neutral reasoning effort this asks for (a budget, read as the nearest effort; adaptive thinking
        without an effort is the model's default, high)."""
        if self.type == "disabled":
            return None
        if self.type == "adaptive" or self.budget_tokens is None:
            return "high"
        return "low" if self.budget_tokens < 4096 else "medium" if self.budget_tokens < 16384 else "high"

    def budget(self) -> int | None:
        """An explicit budget, kept as such for the models that take one."""
        return self.budget_tokens if self.type == "enabled" else None


class Metadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    user_id: Annotated[str, StringConstraints(max_length=METADATA_VALUE_CHARS)] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Metadata:
        bounded_metadata(self.model_dump(exclude_none=True))
        return self


class MessagesRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    max_tokens: Annotated[int, Field(gt=0, le=1_000_000)]
    messages: Annotated[list[MessageParam], Field(min_length=1)]
    system: str | list[TextBlock] | None = None
    stop_sequences: Annotated[list[str], Field(max_length=8)] | None = None
    stream: bool = False
    temperature: Annotated[float, Field(ge=0, le=1)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=0)] | None = None
    tools: list[ToolParam] | None = None
    tool_choice: ToolChoiceParam | None = None
    metadata: Metadata | None = None
    output_config: OutputConfig | None = None
    output_format: OutputFormat | None = None  # the structured-outputs beta's name for output_config.format
    thinking: ThinkingParam | None = None
    timeout_s: Annotated[float, Field(gt=0, le=3600)] | None = None  # Switchboard: this request's deadline

    @model_validator(mode="after")
    def _consistent(self) -> MessagesRequest:
        names = {tool.name for tool in self.tools or ()}
        choice = self.tool_choice
        if choice is not None and choice.type == "tool" and choice.name not in names:
            raise ValueError(f"tool_choice.name: '{choice.name}' is not among the tools")
        if choice is not None and choice.type in ("any", "tool") and not self.tools:
            raise ValueError("tool_choice: needs tools")
        given = self.output_config.format if self.output_config is not None else None
        if self.output_format is not None and given is not None and given.schema_ != self.output_format.schema_:
            raise ValueError("output_format: differs from output_config.format; send one")
        return self

    def schema(self) -> dict[str, Any] | None:
        """The JSON schema the answer must follow: `output_config.format`, or the beta's `output_format`."""
        given = self.output_config.format if self.output_config is not None else None
        given = given or self.output_format
        return given.schema_ if given is not None else None

    def to_request(self) -> Request:
        messages: list[Message] = []
        if isinstance(self.system, str):
            if self.system.strip():
                messages.append(Message("system", self.system))
        elif self.system:  # blocks stay parts
            blocks = [TextPart(block.text) for block in self.system if block.text.strip()]
            if blocks:
                messages.append(Message("system", blocks[0].text if len(blocks) == 1 else blocks))  # type: ignore[arg-type]
        for param in self.messages:
            messages.extend(_messages(param))
        if not any(m.role in ("user", "assistant") for m in messages):
            raise GatewayError(422, "invalid_request", "messages: no content to answer", field="messages")
        tools = [Tool(t.name, t.description, t.input_schema, t.strict) for t in self.tools or ()] or None
        choice = self.tool_choice
        ignored = sorted(name for name in self.model_extra or {} if name not in ("service_tier", "cache_control"))
        if self.top_k is not None:
            ignored.append("top_k")
        output = self.output_config
        schema = self.schema()
        return Request(
            messages=messages, max_tokens=self.max_tokens, temperature=self.temperature,
            top_p=self.top_p, stop=self.stop_sequences or None,
            user=self.metadata.user_id if self.metadata else None,
            reasoning_effort=(output.effort if output else None) or (self.thinking.effort() if self.thinking else None),
            reasoning_budget=self.thinking.budget() if self.thinking else None,
            tools=tools,
            tool_choice=None if choice is None else ToolChoice(
                {"auto": "auto", "any": "required", "tool": "function", "none": "none"}[choice.type],  # type: ignore[arg-type]
                choice.name),
            parallel_tool_calls=False if choice is not None and choice.disable_parallel_tool_use else None,
            response_format=ResponseFormat("json_schema", schema, "response") if schema is not None else None,
            model=None if self.model == "auto" else self.model, timeout_s=self.timeout_s, stream=self.stream,
            dropped=ignored,
        )


def _messages(param: MessageParam) -> list[Message]:
    """One Anthropic turn as neutral messages: tool results become tool messages, first, as OpenAI has them."""
    if isinstance(param.content, str):
        return [Message(param.role, param.content)]
    out: list[Message] = []
    parts: list[Part] = []
    calls: list[ToolCall] = []
    for block in param.content:
        if isinstance(block, ToolResultBlock):
            if param.role != "user":
                raise GatewayError(422, "invalid_request", "messages: tool_result blocks belong in user turns",
                                   field="messages")
            out.append(Message("tool", block.parts(), tool_call_id=block.tool_use_id))
        elif isinstance(block, ToolUseBlock):
            if param.role != "assistant":
                raise GatewayError(422, "invalid_request", "messages: tool_use blocks belong in assistant turns",
                                   field="messages")
            calls.append(ToolCall(block.id, block.name, json.dumps(block.input)))
        elif isinstance(block, TextBlock):
            if block.text:
                parts.append(TextPart(block.text))
        elif isinstance(block, ImageBlock):
            if param.role != "user":
                raise GatewayError(422, "invalid_request", "messages: images belong in user turns", field="messages")
            parts.append(ImagePart(block.source.as_url()))
    if parts or calls:  # parts stay parts ("Say" and "again" are two); one text block is a string
        content: str | list[Part] | None = parts
        if not parts:
            content = None
        elif len(parts) == 1 and isinstance(parts[0], TextPart):
            content = parts[0].text
        if param.role == "user" and content is None:
            return out
        out.append(Message(param.role, content, calls or None))
    return out


def _usage(usage: Usage) -> dict[str, int]:
    """Anthropic's `input_tokens` leaves out cache reads and writes; ours counts them."""
    return {"input_tokens": max(usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens, 0),
            "output_tokens": usage.output_tokens, "cache_read_input_tokens": usage.cached_tokens,
            "cache_creation_input_tokens": usage.cache_write_tokens}


def _tool_input(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def _summary(response: CompletionResponse) -> dict[str, Any]:
    """Switchboard's own fields beside the message (the SDK keeps unknown fields, and ignores them)."""
    summary: dict[str, Any] = {"cost_usd": response.cost_usd, "latency_ms": response.latency_ms,
                               "cached": response.cached}
    if response.dropped:
        summary["dropped"] = response.dropped
    return summary


class MessagesDoor:
    name = "anthropic"

    def parse(self, body: bytes, incoming: Incoming) -> Request:
        return parse_body(MessagesRequest, body).to_request()

    def encode(self, ctx: RequestContext, request: Any, result: CompletionResponse) -> Encoded:
        content: list[dict[str, Any]] = []
        if result.text:
            content.append({"type": "text", "text": result.text})
        for call in result.tool_calls or ():
            # Ids as Anthropic clients accept them (and send back in tool_use blocks); any provider's ids.
            content.append({"type": "tool_use", "id": safe_id(call.id), "name": call.function.name,
                            "input": _tool_input(call.function.arguments)})
        body = {
            "id": f"msg_{ctx.id}",
            "type": "message",
            "role": "assistant",
            "model": f"{result.provider}/{result.model}",
            "content": content,
            "stop_reason": STOP_REASONS[result.finish_reason],
            "stop_sequence": None,
            "usage": _usage(result.usage),
            "switchboard": _summary(result),
        }
        return 200, {"request-id": ctx.echo_id, "x-switchboard-route": route_header(result.route)}, orjson.dumps(body)


    async def stream(self, ctx: RequestContext, request: Request, first: StreamStarted,
                     items: AsyncGenerator[StreamItem, None]) -> AsyncGenerator[bytes, None]:
        """Anthropic's event order: message_start, then per block start → deltas → stop, message_delta,
        message_stop. Tool calls of any provider become tool_use blocks with input_json_delta pieces."""
        yield sse.event("message_start", {"type": "message_start", "message": {
            "id": f"msg_{ctx.id}", "type": "message", "role": "assistant",
            "model": f"{first.provider}/{first.model}", "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0}}})
        blocks = _Blocks()
        async for item in items:
            if isinstance(item, TextDelta) and item.choice == 0:
                for chunk in blocks.text(item.text):
                    yield chunk
            elif isinstance(item, ToolCallDelta) and item.choice == 0:
                for chunk in blocks.tool(item):
                    yield chunk
            elif isinstance(item, StreamFinished):
                for chunk in blocks.close():
                    yield chunk
                response = item.response
                yield sse.event("message_delta", {
                    "type": "message_delta",
                    "delta": {"stop_reason": STOP_REASONS[response.finish_reason], "stop_sequence": None},
                    "usage": _usage(response.usage),
                    "switchboard": {**_summary(response), "route": response.route.model_dump(mode="json")}})
                yield sse.event("message_stop", {"type": "message_stop"})
            elif isinstance(item, StreamFailed):
                yield sse.event("error", {"type": "error", "error": {
                    "type": "api_error", "message": item.error.body.error.message}})


@dataclass
class _Blocks:
    """Content blocks of one streamed message, opened and closed in order."""

    index: int = -1
    kind: str | None = None
    tool_index: int | None = None

    def close(self) -> list[bytes]:
        if self.kind is None:
            return []
        self.kind = None
        return [sse.event("content_block_stop", {"type": "content_block_stop", "index": self.index})]

    def text(self, text: str) -> list[bytes]:
        chunks = []
        if self.kind != "text":
            chunks = self.close()
            self.index += 1
            self.kind = "text"
            chunks.append(sse.event("content_block_start", {"type": "content_block_start", "index": self.index,
                                                            "content_block": {"type": "text", "text": ""}}))
        chunks.append(sse.event("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                                        "delta": {"type": "text_delta", "text": text}}))
        return chunks

    def tool(self, delta: ToolCallDelta) -> list[bytes]:
        chunks = []
        if delta.id is not None or self.kind != "tool_use" or self.tool_index != delta.index:
            chunks = self.close()
            self.index += 1
            self.kind, self.tool_index = "tool_use", delta.index
            chunks.append(sse.event("content_block_start", {
                "type": "content_block_start", "index": self.index,
                "content_block": {"type": "tool_use", "id": safe_id(delta.id or f"toolu_{delta.index}"),
                                  "name": delta.name or "", "input": {}}}))
        if delta.arguments:
            chunks.append(sse.event("content_block_delta", {
                "type": "content_block_delta", "index": self.index,
                "delta": {"type": "input_json_delta", "partial_json": delta.arguments}}))
        return chunks


@dataclass(frozen=True, slots=True)
class CountTokens:
    """`POST /v1/messages/count_tokens`: an estimate (4 characters a token), as no provider is asked."""

    request: Request

    async def run(self, runtime: Any, ctx: RequestContext) -> dict[str, int]:
        return {"input_tokens": self.request.estimated_input_tokens()}


class CountTokensDoor:
    name = "anthropic"

    def parse(self, body: bytes, incoming: Incoming) -> CountTokens:
        data = _with_max_tokens(body)
        return CountTokens(parse_body(MessagesRequest, data).to_request())

    def encode(self, ctx: RequestContext, request: Any, result: dict[str, int]) -> Encoded:
        return 200, {"request-id": ctx.echo_id}, orjson.dumps(result)



def _with_max_tokens(body: bytes) -> bytes:
    """count_tokens bodies carry no max_tokens; the messages model wants one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if isinstance(data, dict):
        data.setdefault("max_tokens", 1)
        return orjson.dumps(data)
    return body

