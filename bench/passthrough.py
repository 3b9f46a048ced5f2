"""A bare FastAPI + aiohttp pass-through: the floor a gateway is measured against (no routing, no retries,
no validation, no record). `python bench/passthrough.py PORT UPSTREAM_URL`"""

from __future__ import annotations

import sys

import aiohttp
import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()
session: aiohttp.ClientSession | None = None
UPSTREAM = sys.argv[2] if len(sys.argv) > 2 else ""


@app.on_event("startup")
async def start() -> None:
    global session
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


@app.get("/health")
async def health() -> Response:
    return Response(b"{}", media_type="application/json")


@app.post("/v1/chat/completions")
async def forward(request: Request) -> Response:
    assert session is not None
    body = orjson.loads(await request.body())
    async with session.post(UPSTREAM, data=orjson.dumps(body), headers={"content-type": "application/json"}) as up:
        return Response(await up.read(), status_code=up.status, media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools", access_log=False,
                log_level="warning")
