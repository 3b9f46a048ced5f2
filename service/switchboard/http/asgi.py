"""Small ASGI pieces the front doors share: the headers, a bounded body, a JSON answer, and watching for a
client that hangs up.

The front doors are served as raw ASGI (see `http/app.py` for why); these helpers are all they need of HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, TypeVar

from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError, SwitchboardError

# The ASGI types (as the spec and starlette name them).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 1 << 20  # 1 MiB
WATCH_AFTER_S = 0.05  # a request that takes longer starts watching for its client's disconnect
JSON = (b"content-type", b"application/json")
T = TypeVar("T")


class ClientGone(SwitchboardError):
    """The client disconnected before its answer was ready."""


def header_map(scope: Scope) -> dict[str, str]:
    """The request headers, names lower-cased (ASGI gives them so), the first value of each."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        if key not in headers:
            headers[key] = value.decode("latin-1")
    return headers


async def read_body(receive: Receive, headers: dict[str, str], timeout_s: float) -> bytes:
    """The whole body, at most 1 MiB, within `timeout_s`; else a 413 or 408 `GatewayError` (a slow or half-sent
    body must not hold the worker's capacity)."""
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise GatewayError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        async with asyncio.timeout(timeout_s):
            return await _read(receive)
    except TimeoutError:
        raise GatewayError(408, "body_timeout", f"the body did not arrive within {timeout_s:g}s "
                           "(server.body_timeout_s)", headers={"connection": "close"}) from None


async def _read(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise GatewayError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def encode_headers(headers: dict[str, str] | Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    items = headers.items() if isinstance(headers, dict) else headers
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in items]


async def send_body(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]],
                    content_type: tuple[bytes, bytes] = JSON) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [content_type, (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


async def guarded(receive: Receive, ctx: RequestContext, work: Awaitable[T]) -> T:
    """Await `work`; if the client disconnects meanwhile, cancel it (so its upstream call stops) and raise
    `ClientGone`. uvicorn does not cancel a handler whose client has gone.

    The watcher starts only after `WATCH_AFTER_S`: a quick request never pays for a watcher task, and a slow
    one (every real provider call) is watched from then on."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    watcher: asyncio.Task[None] | None = None

    def watch() -> None:
        nonlocal watcher
        watcher = loop.create_task(_disconnect(receive, ctx, task))

    handle = loop.call_later(WATCH_AFTER_S, watch)
    try:
        return await work
    except asyncio.CancelledError:
        if ctx.client_gone:
            task.uncancel()
            raise ClientGone from None
        raise
    finally:
        handle.cancel()
        if watcher is not None:
            watcher.cancel()


async def _disconnect(receive: Receive, ctx: RequestContext, task: asyncio.Task[Any]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    ctx.client_gone = True
    task.cancel()
