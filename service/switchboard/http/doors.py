"""What a front door is: a parser (body → request) and an encoder (result or error → body) in its protocol's
shape. The shared sequence (`http/sequence.py`) does the rest: reading, deciding, executing, recording."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from switchboard.core.context import RequestContext
from switchboard.core.errors import ErrorResponse, GatewayError, invalid_request
from switchboard.core.events import StreamItem, StreamStarted
from switchboard.core.response import Route
from switchboard.wiring import Runtime

M = TypeVar("M", bound=BaseModel)
Encoded = tuple[int, dict[str, str], bytes]

ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                         404: "not_found_error", 413: "request_too_large", 422: "invalid_request_error",
                         429: "rate_limit_error", 503: "overloaded_error", 504: "timeout_error",
                         529: "overloaded_error"}


@dataclass(frozen=True, slots=True)
class Incoming:
    """What a parser may read besides the body."""

    path_params: dict[str, str]
    headers: dict[str, str]


class FrontDoor(Protocol):
    name: str

    def parse(self, body: bytes, incoming: Incoming) -> Any: ...

    def encode(self, ctx: RequestContext, request: Any, result: Any) -> Encoded: ...


class Call(Protocol):
    """What a non-model door parses into (list pipelines, submit a job, mint a key, ...): run by the sequence."""

    async def run(self, runtime: Runtime, ctx: RequestContext) -> Any: ...


class StreamingDoor(FrontDoor, Protocol):
    def stream(self, ctx: RequestContext, request: Any, first: StreamStarted,
               items: AsyncGenerator[StreamItem, None]) -> AsyncGenerator[bytes, None]: ...


class StatefulDoor(FrontDoor, Protocol):
    """A door whose requests read and write state of their own (the Responses API's stored conversations).
    The sequence awaits `prepare` after parsing (a GatewayError there is answered like a parse error) and
    `keep` after an unstreamed answer, before encoding it; a streamed answer is kept by the door's `stream`."""

    async def prepare(self, runtime: Runtime, ctx: RequestContext, parsed: Any) -> None: ...

    async def keep(self, ctx: RequestContext, parsed: Any, result: Any) -> None: ...


def parse_body(model: type[M], body: bytes, prefix: str = "") -> M:
    """`body` as `model`: 400 `invalid_json` for bytes that are not a JSON object, 422 naming the field else."""
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "json_invalid":
            raise GatewayError(400, "invalid_json", f"the body is not valid JSON: {first['msg']}") from None
        if first["type"] == "model_type" and not first["loc"]:
            raise GatewayError(400, "invalid_json", "the body must be a JSON object") from None
        raise invalid_request(error, prefix) from None


def route_header(route: Route) -> str:
    """The route as a header value: JSON, ASCII only (non-ASCII escaped, as headers need)."""
    data = route.model_dump(mode="json")
    text = orjson.dumps(data).decode()
    return text if text.isascii() else json.dumps(data, separators=(",", ":"), ensure_ascii=True)


def native_error(ctx: RequestContext, error: GatewayError) -> Encoded:
    error.body.error.request_id = ctx.echo_id
    return error.status, dict(error.headers), error.body.model_dump_json(exclude_none=True).encode()


def openai_error(ctx: RequestContext, error: GatewayError) -> Encoded:
    """OpenAI's error body, so the SDK raises the matching exception class."""
    detail = error.body.error
    status = 400 if error.status == 422 else error.status
    body: dict[str, Any] = {"error": {
        "message": detail.message,
        "type": "invalid_request_error" if status < 500 else "api_error",
        "param": detail.field,
        "code": detail.code,
    }}
    headers = dict(error.headers)
    if error.body.route is not None:
        body["switchboard"] = {"route": error.body.route.model_dump(mode="json")}
        headers["x-switchboard-route"] = route_header(error.body.route)
    if status >= 500:
        headers["x-should-retry"] = "false"  # every retry and failover has already happened here
    return status, headers, orjson.dumps(body)


def anthropic_error(ctx: RequestContext, error: GatewayError) -> Encoded:
    """Anthropic's error body and `request-id` header."""
    status = 400 if error.status == 422 else error.status
    kind = ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": error.body.error.message},
                            "request_id": ctx.echo_id}
    if error.body.route is not None:
        body["switchboard"] = {"route": error.body.route.model_dump(mode="json"), "code": error.body.error.code}
    headers = {**error.headers, "request-id": ctx.echo_id}
    if status >= 500:
        headers["x-should-retry"] = "false"
    return status, headers, orjson.dumps(body)


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    """Errors on /v1 (but /v1/messages): OpenAI's shape."""

    error: OpenAIErrorDetail


class AnthropicErrorDetail(BaseModel):
    type: str
    message: str


class AnthropicError(BaseModel):
    """Errors on /v1/messages: Anthropic's shape."""

    type: Literal["error"]
    error: AnthropicErrorDetail
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorShape:
    """How an endpoint's errors look: the encoder, and the model the OpenAPI document declares."""

    encode: Callable[[RequestContext, GatewayError], Encoded]
    model: type[BaseModel]


NATIVE = ErrorShape(native_error, ErrorResponse)
OPENAI = ErrorShape(openai_error, OpenAIError)
ANTHROPIC = ErrorShape(anthropic_error, AnthropicError)


def shape_of(path: str) -> ErrorShape:
    """The error shape clients of `path` expect: Anthropic's, OpenAI's (other /v1 paths) or Switchboard's."""
    if path.startswith("/v1/messages"):
        return ANTHROPIC
    if path.startswith("/v1/"):
        return OPENAI
    return NATIVE
