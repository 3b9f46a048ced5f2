"""The one sequence every front door runs: read → parse → decide → execute (streamed or not) → encode → record.

A front door supplies only its parser and encoder (`http/doors.py`); this module calls the flow, watches for a
client that hangs up, answers errors in the door's shape, and makes sure every request is recorded once.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator
from typing import Any

from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.core.events import StreamItem, StreamStarted
from switchboard.core.request import EmbeddingRequest, Request
from switchboard.flow import Decide
from switchboard.http import sse
from switchboard.http.asgi import (
    ClientGone,
    Receive,
    Scope,
    Send,
    encode_headers,
    guarded,
    read_body,
    send_body,
)
from switchboard.http.doors import Call, ErrorShape, FrontDoor, Incoming, StreamingDoor
from switchboard.http.endpoints import Endpoint
from switchboard.telemetry import tracing
from switchboard.wiring import Runtime

TIMEOUT_HEADER = "x-switchboard-timeout"


def request_controls(request: Request | EmbeddingRequest, headers: dict[str, str]) -> None:
    """What headers ask of any request: its deadline (`x-switchboard-timeout`) and cache use (Cache-Control)."""
    raw = headers.get(TIMEOUT_HEADER)
    if raw is not None:
        try:
            timeout = float(raw)
        except ValueError:
            timeout = math.nan
        if not math.isfinite(timeout) or timeout <= 0:
            raise GatewayError(422, "invalid_request", f"{TIMEOUT_HEADER}: a positive number of seconds",
                               field=TIMEOUT_HEADER)
        request.timeout_s = timeout
    control = headers.get("cache-control", "").lower()
    if isinstance(request, Request):
        request.cache_read = "no-cache" not in control
        request.cache_write = "no-store" not in control


async def serve(runtime: Runtime, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send,
                ctx: RequestContext, headers: dict[str, str]) -> None:
    """`ctx` comes with its id and caller (the app authenticated the request); `headers` are the request's."""
    door: FrontDoor = endpoint.handler
    errors = endpoint.errors
    ctx.front_door = door.name
    ctx.trace = tracing.extract(headers)
    try:
        try:
            body = await read_body(receive, headers, runtime.config.server.body_timeout_s)
            parsed = door.parse(body, Incoming(scope.get("path_params") or {}, headers))
            if isinstance(parsed, Request | EmbeddingRequest):
                request_controls(parsed, headers)
            if hasattr(door, "keep"):  # a StatefulDoor: state of its own (stored conversations), read ...
                await door.prepare(runtime, ctx, parsed)
        except GatewayError as error:
            runtime.flow.refused(ctx, error)  # a request that could not be read: still one record
            await _send(send, ctx, errors.encode(ctx, error))
            return
        try:
            if isinstance(parsed, Request) and parsed.stream:
                await _stream(runtime, door, errors, ctx, parsed, receive, send)  # type: ignore[arg-type]
                return
            result = await guarded(receive, ctx, _execute(runtime, ctx, parsed))
            if hasattr(door, "keep"):  # ... and written (a streamed answer: by the door's `stream`)
                await door.keep(ctx, parsed, result)
        except GatewayError as error:  # the flow has recorded it
            await _send(send, ctx, errors.encode(ctx, error))
            return
    except ClientGone:
        return  # nobody to answer; the flow recorded client_closed
    await _send(send, ctx, door.encode(ctx, parsed, result))


async def _execute(runtime: Runtime, ctx: RequestContext, parsed: Any) -> Any:
    if isinstance(parsed, Request):
        return await runtime.flow.complete(ctx, parsed)
    if isinstance(parsed, EmbeddingRequest):
        return await runtime.flow.embed(ctx, parsed)
    if isinstance(parsed, Decide):
        return await runtime.flow.decide(ctx, parsed.request)  # a decision without a call: no request record
    # Pipelines, jobs and admin calls: each step of a run is a request of its own, recorded by the flow.
    call: Call = parsed
    return await call.run(runtime, ctx)


async def _stream(runtime: Runtime, door: StreamingDoor, errors: ErrorShape, ctx: RequestContext, request: Request,
                  receive: Receive, send: Send) -> None:
    items = runtime.flow.stream(ctx, request)
    try:
        first = await guarded(receive, ctx, anext(items))  # nothing is sent before the first token
    except GatewayError as error:
        await _send(send, ctx, errors.encode(ctx, error))
        return
    assert isinstance(first, StreamStarted)
    headers = {**ctx.headers, "x-request-id": ctx.echo_id}
    await sse.send_events(send, receive, _chunks(door, ctx, request, first, items), encode_headers(headers))


async def _chunks(door: StreamingDoor, ctx: RequestContext, request: Request, first: StreamStarted,
                  items: AsyncGenerator[StreamItem, None]) -> AsyncGenerator[bytes, None]:
    encoded = door.stream(ctx, request, first, items)
    try:
        async for chunk in encoded:
            yield chunk
    finally:
        await encoded.aclose()
        await items.aclose()


async def _send(send: Send, ctx: RequestContext, encoded: tuple[int, dict[str, str], bytes]) -> None:
    status, headers, body = encoded
    headers = {**ctx.headers, **headers, "x-request-id": ctx.echo_id}
    await send_body(send, status, body, encode_headers(headers))
