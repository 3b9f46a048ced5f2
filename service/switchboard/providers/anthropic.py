"""Anthropic Messages."""

from __future__ import annotations

from typing import Any

from switchboard.providers.base import (
    Adapter,
    Completion,
    ProviderCall,
    ProviderError,
    StreamEnd,
    StreamEvent,
    StreamParser,
    TextDelta,
    load_event,
    token_count,
)
from switchboard.schema import FinishReason, Outcome, Usage

API_VERSION = "2023-06-01"
MAX_TEMPERATURE = 1.0  # Anthropic accepts 0-1; the standard request allows up to 2

STOP_REASONS: dict[str | None, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


class AnthropicAdapter(Adapter):
    kind = "anthropic"
    honours_should_retry = True

    def url(self) -> str:
        return f"{self.base_url}/v1/messages"

    def headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers

    def body(self, call: ProviderCall, stream: bool) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in call.messages if m.role == "system")
        body: dict[str, Any] = {
            "model": call.model,
            "max_tokens": call.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in call.messages if m.role != "system"],
        }
        if system:
            body["system"] = system
        if call.temperature is not None:
            body["temperature"] = min(call.temperature, MAX_TEMPERATURE)
        if call.stop:
            body["stop_sequences"] = call.stop
        if stream:
            body["stream"] = True
        return body

    def parse(self, data: Any) -> Completion:
        text = "".join(block["text"] for block in data["content"] if block.get("type") == "text")
        return Completion(
            text=text,
            finish_reason=STOP_REASONS.get(data.get("stop_reason"), "stop"),
            usage=parse_usage(data.get("usage")),
            model=data.get("model") or "",
        )

    def error_detail(self, data: Any) -> str:
        error = data["error"]
        return f"{error.get('type')}: {error.get('message', '')}"

    def stream_parser(self) -> StreamParser:
        return AnthropicStreamParser()


IN_BAND_ERRORS = {"overloaded_error": Outcome.OVERLOADED, "rate_limit_error": Outcome.RATE_LIMITED}


class AnthropicStreamParser(StreamParser):
    """Named events: message_start, content blocks, message_delta (cumulative usage), message_stop."""

    def __init__(self) -> None:
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        if event == "ping":
            return []
        payload = load_event(data)
        kind = event or payload.get("type")
        if kind == "content_block_delta":
            delta = payload["delta"]
            return [TextDelta(delta["text"])] if delta.get("type") == "text_delta" and delta.get("text") else []
        if kind == "message_start":
            self._usage.update(payload["message"].get("usage") or {})
        elif kind == "message_delta":
            self._usage.update(payload.get("usage") or {})  # cumulative: later values replace earlier ones
            self._stop_reason = payload.get("delta", {}).get("stop_reason") or self._stop_reason
        elif kind == "message_stop":
            return [StreamEnd(STOP_REASONS.get(self._stop_reason, "stop"), parse_usage(self._usage))]
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
