"""The HTTP service: a thin FastAPI layer over `Switchboard`."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard import sse
from switchboard.api_common import (
    ClientGone,
    error_response,
    json_response,
    read_json_object,
    unless_disconnected,
)
from switchboard.gateway import (
    GatewayError,
    StreamDelta,
    StreamFailed,
    StreamFinished,
    StreamItem,
    StreamStarted,
    Switchboard,
    invalid_request,
    new_request_id,
)
from switchboard.openai_compat import openai_routes
from switchboard.pipelines import jobs
from switchboard.pipelines.http import pipeline_routes
from switchboard.schema import CompleteRequest
from switchboard.telemetry import metrics, tracing
from switchboard.telemetry.record import record_request

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIdMiddleware:
    """Every response carries `x-request-id`: the client's (when sane) or a new one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), ""
        )
        if not _CLIENT_REQUEST_ID.match(request_id):
            request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)


async def complete_events(first: StreamStarted, items: AsyncGenerator[StreamItem, None]) -> AsyncIterator[bytes]:
    """`/complete` streamed: `start`, `delta`s, then `end` or `error`."""
    try:
        yield sse.event("start", {"id": first.id, "provider": first.provider, "model": first.model,
                                  "task_type": first.task_type})
        async for item in items:
            if isinstance(item, StreamDelta):
                yield sse.event("delta", {"text": item.text})
            elif isinstance(item, StreamFinished):
                yield sse.event("end", item.response.model_dump(mode="json", exclude={"text"}))
            elif isinstance(item, StreamFailed):
                body = item.error.body
                yield sse.event("error", {"code": body.error.code, "message": body.error.message,
                                          "finish_reason": "error",
                                          "route": body.route.model_dump(mode="json") if body.route else None})
    finally:
        await items.aclose()


def create_app(switchboard: Switchboard, redis_url: str | None = None) -> FastAPI:
    """The service. `redis_url` (default: $REDIS_URL) enables durable pipeline jobs."""
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with switchboard:
            yield

    app = FastAPI(title="Switchboard", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(RequestIdMiddleware)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        error = GatewayError(exc.status_code, code, f"{request.method} {request.url.path}: {exc.detail}")
        return error_response(error, request.state.request_id)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        error = GatewayError(500, "internal_error", f"unexpected {type(exc).__name__}")
        return error_response(error, request.state.request_id)

    @app.post("/complete")
    async def complete(request: Request) -> Response:
        request_id = request.state.request_id
        started = time.perf_counter()
        try:
            try:
                body = CompleteRequest.model_validate(await read_json_object(request))
            except ValidationError as error:
                raise invalid_request(error) from None
        except GatewayError as error:
            record_request(request_id, None, error.status, started, error=error)
            return error_response(error, request_id)
        if body.stream:
            trace = tracing.extract(request.headers)
            items = switchboard.execute_stream(body, request_id, trace=trace, kind=SpanKind.SERVER)
            try:
                # Nothing is sent before the first token: errors keep their status.
                first = await unless_disconnected(request, anext(items))
            except GatewayError as error:
                return error_response(error, request_id)
            except ClientGone:
                return Response(status_code=499)
            assert isinstance(first, StreamStarted)
            return sse.EventStreamResponse(complete_events(first, items))
        try:
            response = await unless_disconnected(request, switchboard.execute(
                body, request_id, trace=tracing.extract(request.headers), kind=SpanKind.SERVER))
        except GatewayError as error:
            return error_response(error, request_id)
        except ClientGone:
            return Response(status_code=499)
        return Response(response.model_dump_json(), media_type="application/json")

    app.include_router(openai_routes(switchboard))
    app.include_router(pipeline_routes(switchboard, redis_url or jobs.redis_url()))

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        for target, state in (await switchboard.breakers.states()).items():
            metrics.BREAKER_STATE.labels(target).set(metrics.BREAKER_VALUES[state.value])
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response({"status": "alive"})

    @app.get("/readyz")
    async def readyz() -> Response:
        targets = await switchboard.readiness()
        ready = any(state == "ready" for state in targets.values())
        return json_response({"status": "ready" if ready else "not_ready", "targets": targets}, 200 if ready else 503)

    return app
