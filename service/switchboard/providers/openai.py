"""OpenAI Chat Completions, and any OpenAI-compatible server (vLLM, llama.cpp)."""

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

FINISH_REASONS: dict[str | None, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "stop",
    "function_call": "stop",
    "repetition": "stop",  # vLLM
    "abort": "error",  # vLLM
    "error": "error",  # vLLM
}


class OpenAIAdapter(Adapter):
    kind = "openai"
    honours_should_retry = True
    max_tokens_field = "max_completion_tokens"  # `max_tokens` is deprecated and refused by o-series models

    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def body(self, call: ProviderCall, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": call.model,
            "messages": [{"role": m.role, "content": m.content} for m in call.messages],
            self.max_tokens_field: call.max_tokens,
        }
        if call.temperature is not None:
            body["temperature"] = call.temperature
        if call.stop:
            body["stop"] = call.stop
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def parse(self, data: Any) -> Completion:
        if data.get("error"):
            raise ProviderError(Outcome.SERVER_ERROR, f"error in a 200 body: {self.error_detail(data)}", status=200)
        choice = data["choices"][0]
        return Completion(
            text=choice["message"].get("content") or "",
            finish_reason=FINISH_REASONS.get(choice.get("finish_reason"), "stop"),
            usage=parse_usage(data.get("usage")),
            model=data.get("model") or "",
        )

    def error_detail(self, data: Any) -> str:
        error = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(error, dict):  # OpenAI, vLLM >= 0.10.1 and the older flat vLLM body
            kinds = dict.fromkeys(str(error[k]) for k in ("type", "code") if error.get(k) is not None)
            message = error.get("message", "")
            return f"{'/'.join(kinds)}: {message}" if kinds else str(message)
        return str(error)  # vLLM's 401 body is {"error": "Unauthorized"}


    def stream_parser(self) -> StreamParser:
        return OpenAIStreamParser(self)


class OpenAIStreamParser(StreamParser):
    """`data:` chunks, a usage chunk with empty `choices` (we ask for it), then `data: [DONE]`."""

    def __init__(self, adapter: OpenAIAdapter) -> None:
        self._adapter = adapter
        self._finish: str | None = None
        self._usage: Usage | None = None

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        if data.strip() == "[DONE]":
            return [StreamEnd(FINISH_REASONS.get(self._finish, "stop"), self._usage)]
        chunk = load_event(data)
        if chunk.get("error"):
            raise ProviderError(
                Outcome.SERVER_ERROR, f"in-band error: {self._adapter.error_detail(chunk)}", status=200
            )
        if chunk.get("usage"):
            self._usage = parse_usage(chunk["usage"])
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            text = (choice.get("delta") or {}).get("content")
            if text:
                events.append(TextDelta(text))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return events


class OpenAICompatibleAdapter(OpenAIAdapter):
    """vLLM, llama.cpp and friends: the OpenAI protocol with `max_tokens` and no `x-should-retry`."""

    kind = "openai_compatible"
    honours_should_retry = False
    max_tokens_field = "max_tokens"


def parse_usage(usage: Any) -> Usage | None:
    if not usage:
        return None
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        input_tokens=token_count(usage.get("prompt_tokens")),
        output_tokens=token_count(usage.get("completion_tokens")),
        cached_tokens=token_count(details.get("cached_tokens")),
    )
