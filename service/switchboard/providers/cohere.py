"""Cohere Chat v2 and Embed v2."""

from __future__ import annotations

from typing import Any

from switchboard.core.events import Finish, LogprobsDelta, StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from switchboard.core.outcome import FinishReason, Outcome
from switchboard.core.request import ImagePart, Message, Part, Request, TextPart
from switchboard.core.response import Usage
from switchboard.providers.base import (
    Adapter,
    EmbeddingCall,
    Embeddings,
    ProviderCall,
    ProviderError,
    StreamParser,
    ToolIndexes,
    load_event,
    token_count,
)
from switchboard.providers.openai import token_arrays_refused
from switchboard.providers.schemas import SchemaRules, lower_schema

MAX_TEMPERATURE = 1.0
TOP_P = (0.01, 0.99)  # Cohere's `p`
PENALTY = (0.0, 1.0)  # Cohere's penalties; OpenAI's run -2..2
DETAILS = ("auto", "low", "high")  # an image's `detail`; OpenAI's "original" has no equivalent: left out

# Cohere's JSON Schema subset (no allOf/oneOf/not, no numeric or length limits, four formats); a `pattern` is
# kept unless it uses the regex features Cohere refuses (anchors, lookaheads).
COHERE_SCHEMA = SchemaRules(formats=frozenset({"date-time", "uuid", "date", "time"}), close_objects=False,
                            keep=frozenset({"pattern"}), all_of=False, pattern_refuses=("^", "$", "?=", "?!"))

FINISH_REASONS: dict[str | None, FinishReason] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "TOOL_CALL": "tool_calls",
    "MAX_TOKENS": "length",
    "ERROR": "error",
    "TIMEOUT": "error",
}


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


def _parts(parts: list[Part], role: str) -> list[dict[str, Any]]:
    """Parts as Cohere's content list (images only in user messages: elsewhere left out, and listed)."""
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            out.append({"type": "text", "text": part.text})
        elif role == "user":
            out.append({"type": "image_url", "image_url": {
                "url": part.url, **({"detail": part.detail} if part.detail in DETAILS else {})}})
    return out


def message_body(message: Message) -> dict[str, Any]:
    body: dict[str, Any] = {"role": message.role}
    if message.role == "tool":
        body["tool_call_id"] = message.tool_call_id
        body["content"] = message.content if isinstance(message.content, str) else \
            _parts(message.parts(), "tool")  # parts stay parts: "sunny" and "21C" are two
        return body
    if isinstance(message.content, list) and not (message.tool_calls and message.role == "assistant"):
        body["content"] = _parts(message.content, message.role)
    elif message.content and message.tool_calls and message.role == "assistant":
        body["tool_plan"] = message.text()  # what a turn says before its calls is Cohere's tool plan (a string)
    elif message.content:  # omitted rather than null or "" beside tool calls
        body["content"] = message.content
    if message.tool_calls:
        body["tool_calls"] = [{"id": call.id, "type": "function",
                               "function": {"name": call.name, "arguments": call.arguments}}
                              for call in message.tool_calls]
    return body


def strict_tools(request: Request) -> bool | None:
    """Cohere's `strict_tools` covers every tool: sent when every tool is strict and has a required parameter
    (its rule); None when no tool asked for strictness."""
    tools = request.tools or []
    if not any(tool.strict for tool in tools):
        return None
    return all(tool.strict and (tool.parameters or {}).get("required") for tool in tools)


def thinking_body(request: Request) -> dict[str, Any] | None:
    """`thinking`: enabled (with the client's budget, if any) for an effort that thinks, disabled for none."""
    if request.reasoning_budget is not None:
        return {"type": "enabled", "token_budget": request.reasoning_budget}
    if request.reasoning_effort is None:
        return None
    return {"type": "disabled" if request.reasoning_effort in ("none", "minimal") else "enabled"}


class CohereAdapter(Adapter):
    kind = "cohere"

    def url(self, call: ProviderCall) -> str:
        return f"{self.base_url}/v2/chat"

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def body(self, call: ProviderCall) -> dict[str, Any]:
        request = call.request
        body: dict[str, Any] = {
            "model": call.model,
            "messages": [message_body(m) for m in request.messages],
            "max_tokens": call.max_tokens,
            "stream": True,
        }
        if request.temperature is not None:
            body["temperature"] = min(request.temperature, MAX_TEMPERATURE)
        if request.top_p is not None:
            body["p"] = _clamp(request.top_p, TOP_P)
        if request.stop:
            body["stop_sequences"] = request.stop
        if request.seed is not None:
            body["seed"] = request.seed
        for name in ("frequency_penalty", "presence_penalty"):
            value = getattr(request, name)
            if value is not None:
                body[name] = _clamp(value, PENALTY)
        if request.logprobs:
            body["logprobs"] = True
        tools = list(request.tools or ())
        choice = request.tool_choice
        if choice is not None and choice.mode == "function":  # Cohere cannot name a tool: offer only that one
            tools = [tool for tool in tools if tool.name == choice.name]
        if tools:
            body["tools"] = [{"type": "function", "function": {
                "name": tool.name, "description": tool.description or "",
                "parameters": tool.parameters or {"type": "object", "properties": {}},
            }} for tool in tools]
            if strict_tools(request):
                body["strict_tools"] = True
            if choice is not None and choice.mode in ("required", "function"):
                body["tool_choice"] = "REQUIRED"
            elif choice is not None and choice.mode == "none":
                body["tool_choice"] = "NONE"
        form = request.response_format
        if form is not None and form.type != "text":
            schema = lower_schema(form.schema, COHERE_SCHEMA) if form.schema else None
            body["response_format"] = {"type": "json_object", **({"json_schema": schema} if schema else {})}
        thinking = thinking_body(request)
        if thinking is not None:
            body["thinking"] = thinking
        return body

    def unsent(self, call: ProviderCall) -> list[str]:
        """What Chat v2 has no field for: the end user, top logprobs (its logprobs have no alternatives),
        turning parallel calls off, strictness for only some tools, an image's `original` detail, images
        outside user messages."""
        request = call.request
        unsent = []
        if request.user is not None:
            unsent.append("user")
        if request.logprobs and request.top_logprobs:
            unsent.append("top_logprobs")
        if request.parallel_tool_calls is False and request.tools:
            unsent.append("parallel_tool_calls")
        if strict_tools(request) is False:
            unsent.append("tools.strict")
        images = [(message.role, part) for message in request.messages for part in message.parts()
                  if isinstance(part, ImagePart)]
        if any(part.detail not in (None, *DETAILS) for _, part in images):
            unsent.append("image_url.detail")
        if any(role != "user" for role, _ in images):
            unsent.append("tool result images")
        return unsent

    def cannot_serve(self, request: Request) -> list[str]:
        form = request.response_format
        if request.tools and form is not None and form.type != "text":
            return ["response_format with tools"]  # Cohere refuses the pair
        return []

    def error_detail(self, data: Any) -> str:
        return str(data["message"])

    def stream_parser(self, call: ProviderCall) -> StreamParser:
        return CohereStreamParser()

    def embeddings_url(self, call: EmbeddingCall) -> str:
        return f"{self.base_url}/v2/embed"

    def embeddings_body(self, call: EmbeddingCall) -> dict[str, Any]:
        request = call.request
        if request.tokens is not None:
            raise token_arrays_refused(self.kind)
        body: dict[str, Any] = {"model": call.model, "texts": request.inputs,
                                "input_type": request.input_type or "search_document",
                                "embedding_types": ["float"]}
        if request.dimensions is not None:
            body["output_dimension"] = request.dimensions
        return body

    def parse_embeddings(self, data: Any, call: EmbeddingCall) -> Embeddings:
        vectors = data["embeddings"]["float"]
        if len(vectors) != call.request.count():
            raise ProviderError(Outcome.INVALID_RESPONSE, f"{len(vectors)} vectors for {call.request.count()} "
                                "inputs", status=200)
        billed = (data.get("meta") or {}).get("billed_units") or {}
        usage = Usage(input_tokens=token_count(billed.get("input_tokens"))) if billed else None
        return Embeddings(vectors, usage, call.model)


class CohereStreamParser(StreamParser):
    """Typed events; `message-end` carries the finish reason, usage, or an in-band error."""

    def __init__(self) -> None:
        self._tools = ToolIndexes()

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        if data.strip() == "[DONE]":
            raise ProviderError(Outcome.INVALID_RESPONSE, "[DONE] before message-end", status=200)
        payload = load_event(data)
        kind = payload.get("type")
        if kind == "content-delta":
            message = (payload.get("delta") or {}).get("message") or {}
            text = (message.get("content") or {}).get("text")
            events: list[StreamEvent] = [TextDelta(text)] if text else []
            logprobs = payload.get("logprobs")
            if logprobs:
                events.append(LogprobsDelta(cohere_logprobs(logprobs)))
            return events
        if kind in ("tool-call-start", "tool-call-delta"):
            call = (((payload.get("delta") or {}).get("message") or {}).get("tool_calls")) or {}
            function = call.get("function") or {}
            dense, first = self._tools.index(payload.get("index", 0))
            arguments = function.get("arguments") or ""
            if first:
                return [ToolCallDelta(dense, arguments, call.get("id") or f"call_{dense}", function.get("name") or "")]
            return [ToolCallDelta(dense, arguments)] if arguments else []
        if kind == "message-end":
            delta = payload.get("delta") or {}
            finish = delta.get("finish_reason")
            if delta.get("error") or finish in ("ERROR", "TIMEOUT"):
                outcome = Outcome.TIMEOUT if finish == "TIMEOUT" else Outcome.SERVER_ERROR
                raise ProviderError(outcome, f"in-band error: {finish}: {delta.get('error', '')}", status=200)
            return [Finish(FINISH_REASONS.get(finish, "stop")), StreamEnd(parse_usage(delta.get("usage")))]
        return []  # message-start, content-start/end, tool-plan-delta, tool-call-end, citations


def cohere_logprobs(items: Any) -> list[dict[str, Any]]:
    """Cohere's [{text, token_ids, logprobs}] as OpenAI-shaped entries (no alternatives)."""
    entries: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else [items]:
        for token, logprob in zip(item.get("token_ids") or (), item.get("logprobs") or (), strict=False):
            entries.append({"token": str(token), "logprob": logprob, "bytes": None, "top_logprobs": []})
        if not item.get("token_ids") and item.get("text") is not None:
            values = item.get("logprobs") or [0.0]
            entries.append({"token": item["text"], "logprob": values[0], "bytes": None, "top_logprobs": []})
    return entries


def parse_usage(usage: Any) -> Usage | None:
    """Bill from `billed_units`; `tokens` also counts the prompt template."""
    if not usage:
        return None
    billed = usage.get("billed_units") or usage.get("tokens") or {}
    return Usage(
        input_tokens=token_count(billed.get("input_tokens")),
        output_tokens=token_count(billed.get("output_tokens")),
        cached_tokens=token_count(usage.get("cached_tokens")),
    )
