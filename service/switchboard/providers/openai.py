"""OpenAI Chat Completions and Embeddings, and any OpenAI-compatible server (vLLM, llama.cpp)."""

from __future__ import annotations

import hashlib
from typing import Any

from switchboard.core.events import Finish, LogprobsDelta, StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from switchboard.core.outcome import FinishReason, Outcome
from switchboard.core.request import ImagePart, Message, Request
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

FINISH_REASONS: dict[str | None, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "repetition": "stop",  # vLLM
    "abort": "error",  # vLLM
    "error": "error",  # vLLM
}


def short_id(value: str, limit: int | None) -> str:
    """A tool-call id within `limit` characters (OpenAI refuses ids over 40: `string_above_max_length`; vLLM
    makes 46), rewritten the same way for a call and its result: a prefix and a hash of the whole."""
    if limit is None or len(value) <= limit:
        return value
    digest = hashlib.blake2b(value.encode(), digest_size=5).hexdigest()
    return f"{value[:limit - len(digest) - 1]}_{digest}"


def message_body(message: Message, id_limit: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"role": message.role}
    if isinstance(message.content, list):  # parts stay parts (a tool result takes text parts only)
        body["content"] = [
            {"type": "image_url", "image_url": {"url": part.url, **({"detail": part.detail} if part.detail else {})}}
            if isinstance(part, ImagePart) else {"type": "text", "text": part.text}
            for part in message.content if message.role != "tool" or not isinstance(part, ImagePart)
        ]
    else:
        body["content"] = message.content
    if message.tool_calls:
        body["tool_calls"] = [{"id": short_id(call.id, id_limit), "type": "function",
                               "function": {"name": call.name, "arguments": call.arguments}}
                              for call in message.tool_calls]
    if message.tool_call_id is not None:
        body["tool_call_id"] = short_id(message.tool_call_id, id_limit)
    if message.name is not None and message.role != "tool":
        body["name"] = message.name
    return body


def request_body(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """The sampling parameters, tools and response format in OpenAI's form (shared with the front door)."""
    for name in ("temperature", "top_p", "seed", "frequency_penalty", "presence_penalty", "logit_bias", "user",
                 "reasoning_effort"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.stop:
        body["stop"] = request.stop
    if request.n > 1:
        body["n"] = request.n
    if request.logprobs:
        body["logprobs"] = True
        if request.top_logprobs is not None:
            body["top_logprobs"] = request.top_logprobs
    if request.tools:
        body["tools"] = [{"type": "function", "function": {
            "name": tool.name,
            **({"description": tool.description} if tool.description is not None else {}),
            **({"parameters": tool.parameters} if tool.parameters is not None else {}),
            **({"strict": tool.strict} if tool.strict is not None else {}),
        }} for tool in request.tools]
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    choice = request.tool_choice
    if choice is not None and request.tools:  # refused without tools ("only allowed when tools are specified")
        body["tool_choice"] = ({"type": "function", "function": {"name": choice.name}} if choice.mode == "function"
                               else choice.mode)
    form = request.response_format
    if form is not None:
        if form.type == "json_schema":
            spec: dict[str, Any] = {"name": form.name or "response", "schema": form.schema}
            if form.strict is not None:
                spec["strict"] = form.strict
            body["response_format"] = {"type": "json_schema", "json_schema": spec}
        else:
            body["response_format"] = {"type": form.type}
    return body


class OpenAIAdapter(Adapter):
    kind = "openai"
    honours_should_retry = True
    max_tokens_field = "max_completion_tokens"  # `max_tokens` is deprecated and refused by o-series models
    # OpenAI refuses `json_object` unless a message says "json"; clients of other providers need not say it.
    json_word_required = True
    tool_id_limit: int | None = 40  # characters in a tool call's id
    takes_token_ids = True  # embeddings of token arrays: OpenAI's models read tiktoken's ids

    def url(self, call: ProviderCall) -> str:
        return f"{self.base_url}/chat/completions"

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def body(self, call: ProviderCall) -> dict[str, Any]:
        messages = [message_body(m, self.tool_id_limit) for m in call.request.messages]
        form = call.request.response_format
        if self.json_word_required and form is not None and form.type == "json_object" and \
                not any("json" in m.text().lower() for m in call.request.messages):
            messages.insert(0, {"role": "system", "content": "Answer in JSON."})
        body: dict[str, Any] = {
            "model": call.model,
            "messages": messages,
            self.max_tokens_field: call.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        return request_body(call.request, body)

    def unsent(self, call: ProviderCall) -> list[str]:
        """A thinking budget has no field here (its effort goes instead); nor has an image in a tool result."""
        request = call.request
        unsent = ["reasoning_budget"] if request.reasoning_budget is not None else []
        if any(isinstance(part, ImagePart) for message in request.messages if message.role == "tool"
               for part in message.parts()):
            unsent.append("tool result images")
        return unsent

    def error_detail(self, data: Any) -> str:
        error = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(error, dict):  # OpenAI, vLLM >= 0.10.1 and the older flat vLLM body
            kinds = dict.fromkeys(str(error[k]) for k in ("type", "code") if error.get(k) is not None)
            message = error.get("message", "")
            return f"{'/'.join(kinds)}: {message}" if kinds else str(message)
        return str(error)  # vLLM's 401 body is {"error": "Unauthorized"}

    def stream_parser(self, call: ProviderCall) -> StreamParser:
        return OpenAIStreamParser(self)

    def embeddings_url(self, call: EmbeddingCall) -> str:
        return f"{self.base_url}/embeddings"

    def embeddings_body(self, call: EmbeddingCall) -> dict[str, Any]:
        request = call.request
        if request.tokens is not None and not self.takes_token_ids:
            raise token_arrays_refused(self.kind)
        body: dict[str, Any] = {"model": call.model, "input": request.tokens if request.tokens is not None
                                else request.inputs, "encoding_format": "float"}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        if request.user is not None:
            body["user"] = request.user
        return body

    def parse_embeddings(self, data: Any, call: EmbeddingCall) -> Embeddings:
        items = sorted(data["data"], key=lambda item: item["index"])
        if len(items) != call.request.count():
            raise ProviderError(Outcome.INVALID_RESPONSE, f"{len(items)} vectors for {call.request.count()} "
                                "inputs", status=200)
        usage = data.get("usage") or {}
        tokens = token_count(usage.get("prompt_tokens"))
        return Embeddings([item["embedding"] for item in items],
                          Usage(input_tokens=tokens) if usage else None, data.get("model") or "")


class OpenAIStreamParser(StreamParser):
    """`data:` chunks, a usage chunk with empty `choices` (we ask for it), then `data: [DONE]`."""

    def __init__(self, adapter: OpenAIAdapter) -> None:
        self._adapter = adapter
        self._usage: Usage | None = None
        self._tools = ToolIndexes()

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        if data.strip() == "[DONE]":
            return [StreamEnd(self._usage)]
        chunk = load_event(data)
        if chunk.get("error"):
            raise ProviderError(
                Outcome.SERVER_ERROR, f"in-band error: {self._adapter.error_detail(chunk)}", status=200
            )
        if chunk.get("usage"):
            self._usage = parse_usage(chunk["usage"])
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                events.append(TextDelta(text, index))
            for call in delta.get("tool_calls") or ():
                dense, first = self._tools.index(call.get("index", 0), index)
                function = call.get("function") or {}
                arguments = function.get("arguments") or ""
                if first:
                    events.append(ToolCallDelta(dense, arguments, call.get("id") or f"call_{dense}",
                                                function.get("name") or "", index))
                elif arguments:
                    events.append(ToolCallDelta(dense, arguments, choice=index))
            logprobs = choice.get("logprobs")
            if logprobs and logprobs.get("content"):
                events.append(LogprobsDelta(logprobs["content"], index))
            if choice.get("finish_reason"):
                events.append(Finish(FINISH_REASONS.get(choice["finish_reason"], "stop"), index))
        return events


class OpenAICompatibleAdapter(OpenAIAdapter):
    """vLLM, llama.cpp and friends: the OpenAI protocol with `max_tokens` and no `x-should-retry`."""

    kind = "openai_compatible"
    honours_should_retry = False
    max_tokens_field = "max_tokens"
    json_word_required = False
    tool_id_limit = None
    takes_token_ids = False  # its model has a tokenizer of its own: tiktoken's ids mean nothing to it


def token_arrays_refused(kind: str) -> ProviderError:
    """Token arrays (tiktoken ids, as LangChain's OpenAIEmbeddings sends by default) for a model that needs
    text: no tokenizer here can turn them back into text, so the client is told what to send instead."""
    return ProviderError(Outcome.BAD_REQUEST, f"{kind} embeds text, not token arrays: send the inputs as text "
                         "(LangChain: OpenAIEmbeddings(check_embedding_ctx_length=False))", retryable=False)


def parse_usage(usage: Any) -> Usage | None:
    if not usage:
        return None
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        input_tokens=token_count(usage.get("prompt_tokens")),
        output_tokens=token_count(usage.get("completion_tokens")),
        cached_tokens=token_count(details.get("cached_tokens")),
    )
