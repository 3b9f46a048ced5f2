"""A fast fake OpenAI-compatible upstream for benchmarks: a fixed reply, no scripting, one process."""

from __future__ import annotations

import asyncio
import sys

import orjson
from aiohttp import web

REPLY = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the bench upstream."},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19,
                  "prompt_tokens_details": {"cached_tokens": 0}},
    }
)


def _chunk(delta: dict, finish: str | None = None) -> bytes:
    body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + orjson.dumps(body) + b"\n\n"


# argv[3]: words in a streamed answer (5 by default; the overload bench asks for longer answers).
WORDS = int(sys.argv[3]) if len(sys.argv) > 3 else 5
STREAM = [
    _chunk({"role": "assistant", "content": ""}),
    *(_chunk({"content": word}) for word in ("Hello ", "from ", "the ", "bench ", "upstream.", *["word "] * (WORDS - 5))),
    _chunk({}, "stop"),
    b"data: " + orjson.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
                              "model": "bench", "choices": [], "usage": orjson.loads(REPLY)["usage"]}) + b"\n\n",
    b"data: [DONE]\n\n",
]


DELAY_S = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0  # e.g. 50: a 50 ms upstream


async def complete(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    if DELAY_S:
        await asyncio.sleep(DELAY_S)
    if not body.get("stream"):
        return web.Response(body=REPLY, content_type="application/json")
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"".join(STREAM[:1]))
    for frame in STREAM[1:]:
        await response.write(frame)
    await response.write_eof()
    return response


async def traces(request: web.Request) -> web.Response:
    """An OTLP/HTTP trace sink, so the telemetry benchmark exports spans somewhere real."""
    await request.read()
    return web.Response(body=b"", content_type="application/x-protobuf")


async def health(request: web.Request) -> web.Response:
    return web.Response(body=b"{}", content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/v1/chat/completions", complete)
    app.router.add_post("/v1/traces", traces)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
