"""Anthropic Messages: system apart, content blocks, tool_use / tool_result, image sources, output_config."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from switchboard.core.events import Finish, StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from switchboard.core.outcome import FinishReason, Outcome
from switchboard.core.request import ImagePart, Message, Request, TextPart
from switchboard.core.response import Usage
from switchboard.providers.base import (
    Adapter,
    ProviderCall,
    ProviderError,
    StreamParser,
    ToolIndexes,
    load_event,
    token_count,
)
from switchboard.providers.schemas import SchemaRules, lower_schema

API_VERSION = "2023-06-01"
MAX_TEMPERATURE = 1.0  # Anthropic accepts 0-1; the standard request allows up to 2
JSON_TOOL = "json_output"  # the forced tool that carries a `json_object` answer
_UNSAFE_ID = re.compile(r"[^a-zA-Z0-9_-]")

STOP_REASONS: dict[str | None, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


def safe_id(value: str) -> str:
    """Tool-call ids as Anthropic accepts them; the same rewrite for a call and its result."""
    return _UNSAFE_ID.sub("_", value) or "call"


def content_blocks(parts: list[TextPart | ImagePart]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            if part.text:  # empty text blocks are refused
                blocks.append({"type": "text", "text": part.text})
            continue
        data_uri = part.data_uri
        source = ({"type": "base64", "media_type": data_uri[0], "data": data_uri[1]} if data_uri
                  else {"type": "url", "url": part.url})
        blocks.append({"type": "image", "source": source})  # no `detail` here: listed as dropped (unsent)
    return blocks


def messages_body(messages: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, messages): consecutive turns of one role merged, tool results first in their user turn.
    Parts stay parts: every system message and text part is a block of its own."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            system.extend(content_blocks(message.parts()))
            continue
        if message.role == "tool":
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": safe_id(message.tool_call_id or "")}
            blocks = content_blocks(message.parts())
            if blocks:
                result["content"] = blocks
            if out and out[-1]["role"] == "user" and out[-1]["content"] and \
                    all(b["type"] == "tool_result" for b in out[-1]["content"]):
                out[-1]["content"].append(result)
            else:
                out.append({"role": "user", "content": [result]})
            continue
        blocks = content_blocks(message.parts())
        for call in message.tool_calls or ():
            try:
                arguments = json.loads(call.arguments) if call.arguments.strip() else {}
            except ValueError:
                arguments = {}
            blocks.append({"type": "tool_use", "id": safe_id(call.id), "name": call.name, "input": arguments})
        if out and out[-1]["role"] == message.role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message.role, "content": blocks})
    for turn in out:  # a lone text block is sent as plain text, as clients write it
        if len(turn["content"]) == 1 and turn["content"][0]["type"] == "text":
            turn["content"] = turn["content"][0]["text"]
    return system, out


# -- what each Claude model takes (thinking, effort, sampling), by its version --------------------------------
@dataclass(frozen=True, slots=True)
class Claude:
    """What one Claude model documents, read from its id (`claude-sonnet-4-6`, `claude-3-7-sonnet-20250219`,
    `claude-haiku-4-5-20251001`): adaptive thinking from 4.6 on (4.6 also takes a budget, deprecated); only
    adaptive from 4.7 on and in the Mythos and Fable families, which also refuse sampling parameters; the
    effort parameter on Opus 4.5 (low to high) and on 4.6 and later (max too; xhigh from 4.7); temperature and
    top_p together are refused from 4.1 on. An id without a version is read as the oldest behaviour."""

    version: tuple[int, int] | None
    family: str

    @classmethod
    def of(cls, model: str) -> Claude:
        words = model.lower().split("-")
        numbers = [int(word) for word in words if word.isdigit() and len(word) < 8]  # not a trailing date
        family = next((word for word in words[1:] if word.isalpha() and word != "preview"), "")
        version = (numbers[0], numbers[1] if len(numbers) > 1 else 0) if numbers else None
        return cls(version, family)

    def _at_least(self, version: tuple[int, int]) -> bool:
        return self.version is not None and self.version >= version

    @property
    def adaptive_only(self) -> bool:
        return self._at_least((4, 7)) or self.family in ("mythos", "fable")

    @property
    def adaptive(self) -> bool:
        return self.adaptive_only or self._at_least((4, 6))

    @property
    def efforts(self) -> tuple[str, ...]:
        if self.adaptive_only:
            return ("low", "medium", "high", "xhigh", "max") if self.family != "mythos" or self._at_least((5, 0)) \
                else ("low", "medium", "high", "max")
        if self._at_least((4, 6)):
            return ("low", "medium", "high", "max")
        if self.family == "opus" and self._at_least((4, 5)):
            return ("low", "medium", "high")
        return ()

    @property
    def sampling(self) -> bool:
        return not self.adaptive_only

    @property
    def one_sampler(self) -> bool:
        """temperature and top_p are refused together (Sonnet 4.5, Opus 4.1 and later)."""
        return self.version is None or self._at_least((4, 1))

    def effort(self, wanted: str) -> str | None:
        """The nearest effort this model takes to `wanted` (none above it: xhigh → max → high)."""
        for candidate in {"xhigh": ("xhigh", "max", "high"), "max": ("max", "high")}.get(wanted, (wanted,)):
            if candidate in self.efforts:
                return candidate
        return None


THINKS = ("low", "medium", "high", "xhigh", "max")  # efforts that turn thinking on ("none", "minimal" do not)
BUDGETS = {"low": 2048, "medium": 8192, "high": 16384, "xhigh": 32768, "max": 32768}  # an effort as a budget
MIN_BUDGET = 1024  # Anthropic's floor; the budget must also stay below max_tokens


@dataclass(slots=True)
class Thinking:
    """How one request's reasoning reaches one model: the `thinking` object, the effort, what is left out."""

    thinking: dict[str, Any] | None = None
    effort: str | None = None
    unsent: list[str] = field(default_factory=list)
    max_tokens: int | None = None  # grown to make room for the budget when the client set no cap


def thinking_for(request: Request, model: str, max_tokens: int) -> Thinking:
    claude = Claude.of(model)
    wanted, budget = request.reasoning_effort, request.reasoning_budget
    if wanted not in THINKS and budget is None:
        return Thinking()
    choice = request.tool_choice
    if request.tools and choice is not None and choice.mode in ("required", "function"):
        # Thinking cannot go with a forced tool (400 "Thinking may not be enabled when tool_choice forces tool
        # use"): the tool the client forces is a requirement, the effort a preference, so thinking gives way.
        return Thinking(unsent=["reasoning_effort"] + (["reasoning_budget"] if budget is not None else []))
    effort = claude.effort(wanted) if wanted in THINKS else None
    if claude.adaptive and (budget is None or claude.adaptive_only):
        return Thinking({"type": "adaptive"}, effort, ["reasoning_budget"] if budget is not None else [])
    tokens = max(budget if budget is not None else BUDGETS[wanted or "medium"], MIN_BUDGET)
    if request.max_tokens is None:  # no cap from the client: room for the thinking above the answer's default
        return Thinking({"type": "enabled", "budget_tokens": tokens}, effort if budget is None else None,
                        max_tokens=max_tokens + tokens)
    tokens = min(tokens, max_tokens - 1)  # the client's cap covers thinking and answer alike
    if tokens < MIN_BUDGET:  # no room to think below max_tokens
        return Thinking(None, effort, (["reasoning_budget"] if budget is not None else []) +
                        ([] if effort else ["reasoning_effort"]))
    return Thinking({"type": "enabled", "budget_tokens": tokens}, effort if budget is None else None)


def sampling_for(request: Request, model: str, thinking: bool) -> tuple[dict[str, Any], list[str]]:
    """(temperature / top_p to send, the ones left out)."""
    claude = Claude.of(model)
    given = {name: getattr(request, name) for name in ("temperature", "top_p") if getattr(request, name) is not None}
    if not claude.sampling or thinking:  # refused by the model, or with thinking on
        return {}, list(given)
    if "temperature" in given:
        given["temperature"] = min(given["temperature"], MAX_TEMPERATURE)
    if claude.one_sampler and len(given) == 2:
        return {"temperature": given["temperature"]}, ["top_p"]
    return given, []


ANTHROPIC_SCHEMA = SchemaRules(
    formats=frozenset({"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}),
    close_objects=True, min_items=frozenset({0, 1}))



class AnthropicAdapter(Adapter):
    kind = "anthropic"
    honours_should_retry = True

    def url(self, call: ProviderCall) -> str:
        return f"{self.base_url}/v1/messages"

    def headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers

    def body(self, call: ProviderCall) -> dict[str, Any]:
        request = call.request
        system, messages = messages_body(request.messages)
        body: dict[str, Any] = {"model": call.model, "max_tokens": call.max_tokens, "messages": messages,
                                "stream": True}
        if system:  # one block is sent as plain text, as clients write it
            body["system"] = system[0]["text"] if len(system) == 1 else system
        thinking = thinking_for(request, call.model, call.max_tokens)
        if thinking.max_tokens is not None:
            body["max_tokens"] = thinking.max_tokens
        body.update(sampling_for(request, call.model, thinking.thinking is not None)[0])
        if request.stop:
            body["stop_sequences"] = request.stop
        if request.user and "@" not in request.user:  # an opaque id only, never an email
            body["metadata"] = {"user_id": request.user}
        output_config: dict[str, Any] = {}
        if thinking.thinking is not None:
            body["thinking"] = thinking.thinking
        if thinking.effort is not None:
            output_config["effort"] = thinking.effort
        tools = [{"name": tool.name, "description": tool.description or "",
                  # a strict tool's schema has the structured-output subset
                  "input_schema": lower_schema(tool.parameters, ANTHROPIC_SCHEMA) if tool.strict and tool.parameters
                  else tool.parameters or {"type": "object", "properties": {}},
                  **({"strict": tool.strict} if tool.strict is not None else {})}
                 for tool in request.tools or ()]
        choice = request.tool_choice
        tool_choice: dict[str, Any] | None = None
        if choice is not None and tools:
            tool_choice = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"},
                           "function": {"type": "tool", "name": choice.name}}[choice.mode]
        if request.parallel_tool_calls is False and tools and (tool_choice or {}).get("type") != "none":
            tool_choice = {**(tool_choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        form = request.response_format
        if form is not None and form.type == "json_schema":
            output_config["format"] = {"type": "json_schema", "schema": lower_schema(form.schema or {},
                                                                                     ANTHROPIC_SCHEMA)}
        elif form is not None and form.type == "json_object":
            if tools or thinking.thinking is not None:  # a forced tool would override theirs: ask in words
                system.append({"type": "text", "text": "Answer with one JSON object and nothing else."})
                body["system"] = system[0]["text"] if len(system) == 1 else system
            else:
                tools = [{"name": JSON_TOOL, "description": "Give the answer as a JSON object.",
                          "input_schema": {"type": "object", "additionalProperties": True}}]
                tool_choice = {"type": "tool", "name": JSON_TOOL}
        if tools:
            body["tools"] = tools
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
        if output_config:
            body["output_config"] = output_config
        return body

    def unsent(self, call: ProviderCall) -> list[str]:
        request = call.request
        thinking = thinking_for(request, call.model, call.max_tokens)
        unsent = [*thinking.unsent, *sampling_for(request, call.model, thinking.thinking is not None)[1]]
        if request.user and "@" in request.user:
            unsent.append("user")
        if any(isinstance(part, ImagePart) and part.detail not in (None, "auto")
               for message in request.messages for part in message.parts()):
            unsent.append("image_url.detail")
        return unsent

    def error_detail(self, data: Any) -> str:
        error = data["error"]
        return f"{error.get('type')}: {error.get('message', '')}"

    def stream_parser(self, call: ProviderCall) -> StreamParser:
        form = call.request.response_format
        forced_json = (form is not None and form.type == "json_object" and not call.request.tools  # as in body()
                       and thinking_for(call.request, call.model, call.max_tokens).thinking is None)
        return AnthropicStreamParser(JSON_TOOL if forced_json else None)


IN_BAND_ERRORS = {"overloaded_error": Outcome.OVERLOADED, "rate_limit_error": Outcome.RATE_LIMITED}


class AnthropicStreamParser(StreamParser):
    """Named events: message_start, content blocks, message_delta (cumulative usage), message_stop."""

    def __init__(self, json_tool: str | None = None) -> None:
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self._json_tool = json_tool  # the forced tool whose input is the answer's text
        self._blocks: dict[int, tuple[str, int]] = {}  # block index -> (kind, tool index)
        self._tools = ToolIndexes()

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        if event == "ping":
            return []
        payload = load_event(data)
        kind = event or payload.get("type")
        if kind == "content_block_delta":
            delta = payload["delta"]
            block, tool = self._blocks.get(payload.get("index", 0), ("text", 0))
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [TextDelta(delta["text"])]
            if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                if block == "json":
                    return [TextDelta(delta["partial_json"])]
                if block == "tool_use":
                    return [ToolCallDelta(tool, delta["partial_json"])]
            return []  # thinking, signatures, citations: not part of the answer
        if kind == "content_block_start":
            content = payload.get("content_block") or {}
            index = payload.get("index", 0)
            if content.get("type") == "tool_use":
                if content.get("name") == self._json_tool:
                    self._blocks[index] = ("json", 0)
                    return []
                tool, _ = self._tools.index(index)
                self._blocks[index] = ("tool_use", tool)
                return [ToolCallDelta(tool, "", content.get("id") or f"toolu_{tool}", content.get("name") or "")]
            self._blocks[index] = (content.get("type") or "text", 0)
            return []
        if kind == "message_start":
            self._usage.update(payload["message"].get("usage") or {})
        elif kind == "message_delta":
            self._usage.update(payload.get("usage") or {})  # cumulative: later values replace earlier ones
            self._stop_reason = payload.get("delta", {}).get("stop_reason") or self._stop_reason
        elif kind == "message_stop":
            reason = STOP_REASONS.get(self._stop_reason, "stop")
            if self._json_tool and reason == "tool_calls":
                reason = "stop"
            return [Finish(reason), StreamEnd(parse_usage(self._usage))]
        elif kind == "error":
            error = payload.get("error") or {}
            raise ProviderError(
                IN_BAND_ERRORS.get(error.get("type"), Outcome.SERVER_ERROR),
                f"in-band error: {error.get('type')}: {error.get('message', '')}",
                status=200,
            )
        return []


def parse_usage(usage: Any) -> Usage | None:
    """Anthropic's `input_tokens` excludes cache reads and writes; the standard count includes them."""
    if not usage:
        return None
    cache_read = token_count(usage.get("cache_read_input_tokens"))
    cache_write = token_count(usage.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=token_count(usage.get("input_tokens")) + cache_read + cache_write,
        output_tokens=token_count(usage.get("output_tokens")),
        cached_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
