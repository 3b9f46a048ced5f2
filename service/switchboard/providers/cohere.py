"""Cohere Chat v2."""

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

MAX_TEMPERATURE = 1.0  # Cohere accepts 0-1

FINISH_REASONS: dict[str | None, FinishReason] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "TOOL_CALL": "stop",
    "MAX_TOKENS": "length",
    "ERROR": "error",
    "TIMEOUT": "error",
}


class CohereAdapter(Adapter):
    kind = "cohere"

    def url(self) -> str:
        return f"{self.base_url}/v2/chat"

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def body(self, call: ProviderCall, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": call.model,
            "messages": [{"role": m.role, "content": m.content} for m in call.messages],
            "max_tokens": call.max_tokens,
            "stream": stream,
        }
        if call.temperature is not None:
            body["temperature"] = min(call.temperature, MAX_TEMPERATURE)
        if call.stop:
            body["stop_sequences"] = call.stop
        return body

    def parse(self, data: Any) -> Completion:
        finish = data.get("finish_reason")
        if finish in ("ERROR", "TIMEOUT"):
            # A 200 that says the generation failed: the text is not an answer.
            raise ProviderError(Outcome.SERVER_ERROR, f"finish_reason {finish}", status=200)
        content = data["message"].get("content") or []
        return Completion(
            text="".join(block["text"] for block in content if block.get("type") == "text"),
            finish_reason=FINISH_REASONS.get(finish, "stop"),
            usage=parse_usage(data.get("usage")),
            model="",
        )

    def error_detail(self, data: Any) -> str:
        return str(data["message"])

    def stream_parser(self) -> StreamParser:
        return CohereStreamParser()


class CohereStreamParser(StreamParser):
    """Typed events; `message-end` carries the finish reason, usage, or an in-band error."""

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        if data.strip() == "[DONE]":
            raise ProviderError(Outcome.INVALID_RESPONSE, "[DONE] before message-end", status=200)
        payload = load_event(data)
        kind = payload.get("type")
        if kind == "content-delta":
            text = payload["delta"]["message"]["content"].get("text")
            return [TextDelta(text)] if text else []
        if kind == "message-end":
            delta = payload.get("delta") or {}
            finish = delta.get("finish_reason")
            if delta.get("error") or finish in ("ERROR", "TIMEOUT"):
                outcome = Outcome.TIMEOUT if finish == "TIMEOUT" else Outcome.SERVER_ERROR
                raise ProviderError(outcome, f"in-band error: {finish}: {delta.get('error', '')}", status=200)
            return [StreamEnd(FINISH_REASONS.get(finish, "stop"), parse_usage(delta.get("usage")))]
        return []


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
