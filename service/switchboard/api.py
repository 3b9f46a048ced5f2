"""The HTTP service: a thin FastAPI layer over `Switchboard`."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.gateway import GatewayError, Switchboard, invalid_request, log_request, new_request_id
from switchboard.schema import CompleteRequest

MAX_BODY_BYTES = 1 << 20  # 1 MiB
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


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def error_response(error: GatewayError, request_id: str) -> Response:
    error.body.error.request_id = request_id
    return Response(
        error.body.model_dump_json(exclude_none=True), status_code=error.status, media_type="application/json"
    )


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, at most 1 MiB, or a `GatewayError` that says what is wrong."""
    declared = request.headers.get("content-length")
    too_large = GatewayError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    try:
        data = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as error:
        raise GatewayError(400, "invalid_json", f"the body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise GatewayError(400, "invalid_json", "the body must be a JSON object")
    return data


def create_app(switchboard: Switchboard) -> FastAPI:
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
            log_request(request_id, None, error.status, started, error=error)
            return error_response(error, request_id)
        try:
            response = await switchboard.execute(body, request_id)
        except GatewayError as error:
            return error_response(error, request_id)
        return Response(response.model_dump_json(), media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response({"status": "alive"})

    @app.get("/readyz")
    async def readyz() -> Response:
        targets = switchboard.readiness()
        ready = any(state == "ready" for state in targets.values())
        return json_response({"status": "ready" if ready else "not_ready", "targets": targets}, 200 if ready else 503)

    return app
