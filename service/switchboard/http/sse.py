"""Server-sent events out: a response that stops, and closes its source, the moment the client leaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import orjson

from switchboard.http.asgi import Receive, Send

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx and friends: do not buffer the stream
]


def event(name: str | None, data: Any) -> bytes:
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    return (b"event: " + name.encode() + b"\n" if name else b"") + b"data: " + payload + b"\n\n"


async def send_events(send: Send, receive: Receive, events: AsyncGenerator[bytes, None],
                      headers: list[tuple[bytes, bytes]]) -> None:
    """Send each chunk `events` yields. A client disconnect cancels the generator at once.

    Starlette's StreamingResponse only notices a disconnect on its next write (ASGI spec 2.4), so an upstream
    that is slow between chunks would keep running; here a watcher cancels the writer instead."""
    writer = asyncio.ensure_future(_write(send, events, headers))
    watcher = asyncio.ensure_future(_watch(receive))
    try:
        await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (writer, watcher):
            task.cancel()
        await asyncio.gather(writer, watcher, return_exceptions=True)
        await events.aclose()


async def _write(send: Send, events: AsyncGenerator[bytes, None], headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS + headers})
    async for chunk in events:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _watch(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
