"""What the HTTP endpoints share: reading a bounded JSON body, writing JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.responses import Response

from switchboard.errors import GatewayError

MAX_BODY_BYTES = 1 << 20  # 1 MiB
T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, but cancel it the moment the client disconnects (so its upstream call stops too).

    uvicorn does not cancel a handler whose client has gone; without this a hung-up request would keep
    its provider call running, and billing, until it ended by itself."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    raise ClientGone


async def _disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


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
