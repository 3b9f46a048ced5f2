"""The one sequence every front door runs: read → parse → decide → execute (streamed or not) → encode → record.

A front door supplies only its parser and encoder (`http/doors.py`); this module calls the flow, watches for a
client that hangs up, answers errors in the door's shape, and makes sure every request is recorded once.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator
from typing import Any

from opentelemetry.trace import SpanKind

from switchboard.engine.context import RequestContext
from switchboard.errors import GatewayError
from switchboard.flow import Decide, StreamItem, StreamStarted
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
from switchboard.http.doors import FrontDoor, Incoming, StreamingDoor
from switchboard.pipelines.calls import PipelineCall
from switchboard.request import EmbeddingRequest, Request
from switchboard.telemetry import tracing
from switchboard.wiring import Runtime

TIMEOUT_HEADER = "x-switchboard-timeout"
CACHE_HEADER = "x-switchboard-cache"


def request_controls(ctx: RequestContext, request: Request | EmbeddingRequest, headers: dict[str, str]) -> None:
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
    if "no-cache" in control:
        ctx.cache_read = False
    if "no-store" in control:
        ctx.cache_write = False


async def serve(runtime: Runtime, door: FrontDoor, scope: Scope, receive: Receive, send: Send,
                ctx: RequestContext, headers: dict[str, str]) -> None:
    """`ctx` comes with its id and caller (the app authenticated the request); `headers` are the request's."""
    ctx.front_door = door.name
    try:
        try:
            body = await read_body(receive, headers)
            parsed = door.parse(body, Incoming(scope.get("path_params") or {}, headers))
            if isinstance(parsed, Request | EmbeddingRequest):
                request_controls(ctx, parsed, headers)
                ctx.metadata = parsed.metadata
            ctx.trace = tracing.extract(headers)
            runtime.telemetry.start(ctx, SpanKind.SERVER)
            if isinstance(parsed, Request) and parsed.stream:
                await _stream(runtime, door, ctx, parsed, receive, send)  # type: ignore[arg-type]
                return
            result = await guarded(receive, ctx, _execute(runtime, ctx, parsed))
        except GatewayError as error:
            runtime.telemetry.finish(ctx, error.status, error=error)  # only if the flow has not recorded it
            await _send(send, ctx, door.error(ctx, error))
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
        ctx.recorded = True  # a decision without a call is not a request record
        return await runtime.flow.decide(ctx, parsed.request)
    # Pipelines and jobs: each step of a run records itself.
    ctx.recorded = True
    call: PipelineCall = parsed
    return await call.run(runtime, ctx)


async def _stream(runtime: Runtime, door: StreamingDoor, ctx: RequestContext, request: Request, receive: Receive,
                  send: Send) -> None:
    items = runtime.flow.stream(ctx, request)
    try:
        first = await guarded(receive, ctx, anext(items))  # nothing is sent before the first token
    except GatewayError as error:
        await _send(send, ctx, door.error(ctx, error))
        return
    assert isinstance(first, StreamStarted)
    headers = dict(ctx.headers)
    headers["x-request-id"] = ctx.id
    if ctx.cache is not None:
        headers[CACHE_HEADER] = ctx.cache
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
    headers = {**ctx.headers, **headers, "x-request-id": ctx.id}
    if ctx.cache is not None:
        headers[CACHE_HEADER] = ctx.cache
    await send_body(send, status, body, encode_headers(headers))
