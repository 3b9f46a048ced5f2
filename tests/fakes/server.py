"""A scriptable fake provider over real HTTP: one per wire protocol, each in its own thread and loop.

Tests queue `Reply`s; each incoming request takes the next one (or the default) and the fake records
what it received. Protocol subclasses only shape bodies; this module does the serving and the faults.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Reply:
    """What the fake does with one request."""

    status: int = 200
    text: str = "Hello from the fake."
    headers: dict[str, str] = field(default_factory=dict)
    finish: str | None = None  # the protocol's own finish/stop reason; None means a natural end
    input_tokens: int = 11
    output_tokens: int = 7
    cached_tokens: int = 0
    cache_write_tokens: int = 0  # Anthropic's cache_creation_input_tokens
    no_usage: bool = False  # a reply without any usage (some OpenAI-compatible servers)
    delay_s: float = 0.0  # before answering
    hang: bool = False  # never answer
    drop: bool = False  # close the connection without an answer
    malformed: bool = False  # 200 with a body that is not JSON
    error_type: str | None = None  # protocol error type for non-200 replies
    error_code: str | None = None  # OpenAI's `code` beside the type
    error_message: str = "fake error"
    body: Any = None  # send exactly this JSON instead of the protocol's body
    # Streaming (when the request asks for `stream: true`). "after N" counts content chunks sent.
    chunks: list[str] | None = None  # default: `text` split into words
    chunk_delay_s: float = 0.0
    cut_after: int | None = None  # drop the connection
    stall_after: int | None = None  # go silent for `stall_s`, then carry on
    stall_s: float = 0.0
    malformed_after: int | None = None  # a data line that is not JSON
    error_after: int | None = None  # the protocol's in-band error

    def pieces(self) -> list[str]:
        return self.chunks if self.chunks is not None else re.findall(r"\S+\s*", self.text)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    json: Any


def frame(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    return (f"event: {event}\n".encode() if event else b"") + b"data: " + payload + b"\n\n"


class FakeProvider:
    """Subclasses set `path`, `auth_ok`, `success_body`, `error_body` and the `stream_*` frames."""

    path: str = "/"
    name: str = "fake"

    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = self._configured_key = api_key
        self.default = Reply()
        self.script: deque[Reply] = deque()
        self.received: list[Received] = []
        self.connections_closed = 0
        self.disconnected_at: list[float] = []  # monotonic times at which a client went away mid-reply
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._runner: web.AppRunner | None = None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        self._started.wait(10)

    # -- scripting ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def reset(self) -> None:
        self.script.clear()
        self.received.clear()
        self.default = Reply()
        self.api_key = self._configured_key

    @property
    def calls(self) -> int:
        return len(self.received)

    # -- protocol shapes, per subclass --------------------------------------------------------
    def auth_ok(self, request: web.Request) -> bool:
        raise NotImplementedError

    def success_body(self, reply: Reply, request_json: Any) -> Any:
        raise NotImplementedError

    def error_body(self, reply: Reply) -> Any:
        raise NotImplementedError

    def auth_error_reply(self) -> Reply:
        return Reply(status=401, error_message="invalid api key")

    def stream_prelude(self, reply: Reply, request_json: Any) -> list[bytes]:
        raise NotImplementedError

    def stream_content(self, piece: str, index: int) -> bytes:
        raise NotImplementedError

    def stream_ending(self, reply: Reply, request_json: Any) -> list[bytes]:
        raise NotImplementedError

    def stream_error(self, reply: Reply) -> list[bytes]:
        raise NotImplementedError

    # -- serving ------------------------------------------------------------------------------
    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=4 << 20)
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1, handler_cancellation=True)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._started.set()
        self._loop.run_forever()

    def close(self) -> None:
        async def stop() -> None:
            assert self._runner is not None
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        self.received.append(Received(request.path, dict(request.headers), body))
        reply = self.script.popleft() if self.script else self.default
        if not self.auth_ok(request):
            reply = self.auth_error_reply()
        try:
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            if reply.hang:
                await asyncio.sleep(3600)
            if reply.status == 200 and isinstance(body, dict) and body.get("stream") and reply.body is None:
                return await self._stream(request, reply, body)
        except (asyncio.CancelledError, ConnectionResetError):
            self.connections_closed += 1
            self.disconnected_at.append(time.monotonic())
            raise
        if reply.drop:
            assert request.transport is not None
            request.transport.abort()
            self.connections_closed += 1
            return web.Response()
        headers = {"content-type": "application/json", **reply.headers}
        if reply.malformed:
            return web.Response(status=reply.status, body=b'{"this is": not json', headers=headers)
        if reply.body is not None:
            payload = reply.body
        elif reply.status == 200:
            payload = self.success_body(reply, body)
        else:
            payload = self.error_body(reply)
        return web.Response(status=reply.status, body=orjson.dumps(payload), headers=headers)

    async def _stream(self, request: web.Request, reply: Reply, body: Any) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream", **reply.headers})
        await response.prepare(request)
        for data in self.stream_prelude(reply, body):
            await response.write(data)
        pieces = reply.pieces()
        for index in range(len(pieces) + 1):
            if reply.cut_after == index:
                assert request.transport is not None
                await asyncio.sleep(0.05)  # let what was written reach the socket: abort() drops the buffer
                request.transport.abort()
                return response
            if reply.stall_after == index:
                await asyncio.sleep(reply.stall_s)
            if reply.malformed_after == index:
                await response.write(b"data: {this is not json\n\n")
            if reply.error_after == index:
                for data in self.stream_error(reply):
                    await response.write(data)
                await response.write_eof()
                return response
            if index == len(pieces):
                break
            if reply.chunk_delay_s:
                await asyncio.sleep(reply.chunk_delay_s)
            await response.write(self.stream_content(pieces[index], index))
        for data in self.stream_ending(reply, body):
            await response.write(data)
        await response.write_eof()
        return response
