"""The OpenAI-compatible front door: `POST /v1/chat/completions` and `GET /v1/models`.

Point the official `openai` SDK at `http://host:port/v1` and get routing, retries and failover, streamed
or not. `model` picks the route: `auto` (the default route), a task type, or `provider/model` (pinned).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard import sse
from switchboard.api_common import ClientGone, json_response, read_json_object, unless_disconnected
from switchboard.gateway import (
    GatewayError,
    StreamDelta,
    StreamFailed,
    StreamFinished,
    StreamItem,
    StreamStarted,
    Switchboard,
    invalid_request,
)
from switchboard.router import UnknownModel
from switchboard.schema import CompleteRequest, CompletionResponse, Route, Usage
from switchboard.telemetry import tracing
from switchboard.telemetry.record import record_request

UNSUPPORTED = ("tools", "functions", "tool_choice", "function_call", "audio", "prediction")
ROLES = {"developer": "system"}  # OpenAI's newer name for the system role


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The subset of OpenAI's request that a router can honour; other sampling fields are ignored."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: Annotated[int, Field(gt=0)] | None = None
    max_completion_tokens: Annotated[int, Field(gt=0)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, Field(ge=1)] | None = None
    metadata: dict[str, str] | None = None

    def to_request(self) -> CompleteRequest:
        return CompleteRequest.model_validate(
            {
                "messages": [{"role": ROLES.get(m.role, m.role), "content": m.text()} for m in self.messages],
                "max_tokens": self.max_completion_tokens or self.max_tokens,
                "temperature": self.temperature,
                "stop": self.stop,
                "metadata": self.metadata,
            }
        )


def openai_error(error: GatewayError) -> Response:
    """OpenAI's error body, so the SDK raises the matching exception class."""
    detail = error.body.error
    status = 400 if error.status == 422 else error.status
    body: dict[str, Any] = {
        "error": {
            "message": detail.message,
            "type": "invalid_request_error" if status < 500 else "api_error",
            "param": detail.field,
            "code": detail.code,
        }
    }
    headers = {}
    if error.body.route is not None:
        body["switchboard"] = {"route": error.body.route.model_dump(mode="json")}
        headers["x-switchboard-route"] = route_header(error.body.route)
    if status >= 500:
        headers["x-should-retry"] = "false"  # every retry and failover has already happened here
    return json_response(body, status, headers)


def route_header(route: Route) -> str:
    return json.dumps(route.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=True)


def served_model(provider: str, model: str) -> str:
    return f"{provider}/{model}"


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


def completion_body(response: CompletionResponse, request_id: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": served_model(response.provider, response.model),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": response.text, "refusal": None},
                "logprobs": None,
                "finish_reason": response.finish_reason,
            }
        ],
        "usage": usage_body(response.usage),
        "switchboard": {"cost_usd": response.cost_usd, "latency_ms": response.latency_ms},
    }


class ChunkWriter:
    """`chat.completion.chunk` events for one stream."""

    def __init__(self, request_id: str, started: StreamStarted, include_usage: bool) -> None:
        self._base = {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": served_model(started.provider, started.model),
        }
        self._include_usage = include_usage

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
        body = {
            **self._base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            **extra,
        }
        if self._include_usage:
            body.setdefault("usage", None)
        return sse.event(None, body)

    def usage(self, usage: Usage, **extra: Any) -> bytes:
        return sse.event(None, {**self._base, "choices": [], "usage": usage_body(usage), **extra})


async def chunk_stream(
    first: StreamStarted, items: AsyncGenerator[StreamItem, None], request_id: str, include_usage: bool
) -> AsyncIterator[bytes]:
    writer = ChunkWriter(request_id, first, include_usage)
    try:
        yield writer.chunk({"role": "assistant", "content": ""})
        async for item in items:
            if isinstance(item, StreamDelta):
                yield writer.chunk({"content": item.text})
            elif isinstance(item, StreamFinished):
                response = item.response
                summary = {"switchboard": {"route": response.route.model_dump(mode="json"),
                                           "cost_usd": response.cost_usd}}
                if include_usage:
                    yield writer.chunk({}, response.finish_reason)
                    yield writer.usage(response.usage, **summary)
                else:
                    yield writer.chunk({}, response.finish_reason, **summary)
                yield b"data: [DONE]\n\n"
            elif isinstance(item, StreamFailed):
                # Never a clean end: a non-stop finish reason, then an in-band error the SDK raises on.
                detail = item.error.body
                yield writer.chunk({}, "error")
                yield sse.event(None, {
                    "error": {"message": detail.error.message, "type": "api_error", "param": None,
                              "code": detail.error.code},
                    "switchboard": {"route": detail.route.model_dump(mode="json") if detail.route else None},
                })
    finally:
        await items.aclose()


def openai_routes(switchboard: Switchboard) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        request_id = request.state.request_id
        started = time.perf_counter()
        try:
            try:
                body = ChatCompletionRequest.model_validate(await read_json_object(request))
                unsupported = [name for name in UNSUPPORTED if (body.model_extra or {}).get(name)]
                if unsupported:
                    raise GatewayError(400, "unsupported_parameter",
                                       f"{unsupported[0]}: not supported by this gateway", field=unsupported[0])
                if body.n not in (None, 1):
                    raise GatewayError(400, "unsupported_parameter", "n: only n=1 is supported", field="n")
                plan = switchboard.router.plan_for_model(body.model)
                complete_request = body.to_request()
            except ValidationError as error:
                raise invalid_request(error) from None
            except UnknownModel as error:
                raise GatewayError(404, "model_not_found", str(error), field="model") from None
        except GatewayError as error:
            record_request(request_id, None, error.status, started, error=error)
            return openai_error(error)

        if not body.stream:
            try:
                response = await unless_disconnected(request, switchboard.execute(
                    complete_request, request_id, plan, tracing.extract(request.headers), SpanKind.SERVER))
            except GatewayError as error:
                return openai_error(error)
            except ClientGone:
                return Response(status_code=499)
            return json_response(
                completion_body(response, request_id), headers={"x-switchboard-route": route_header(response.route)}
            )

        items = switchboard.execute_stream(complete_request, request_id, plan, tracing.extract(request.headers),
                                           SpanKind.SERVER)
        try:
            first = await unless_disconnected(request, anext(items))
        except GatewayError as error:
            return openai_error(error)
        except ClientGone:
            return Response(status_code=499)
        assert isinstance(first, StreamStarted)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return sse.EventStreamResponse(chunk_stream(first, items, request_id, include_usage))

    @router.get("/v1/models")
    async def models() -> Response:
        names = ["auto", *switchboard.router.task_types, *switchboard.router.pinnable]
        return json_response(
            {"object": "list",
             "data": [{"id": name, "object": "model", "created": 0, "owned_by": "switchboard"} for name in names]}
        )

    return router
