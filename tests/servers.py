"""The real HTTP service in a thread of the test process, started and stopped without uvicorn's fixed pauses.

uvicorn's `Server` looks for a stop request every 100 ms and, once stopping, pauses 100 ms more before it
looks at the open connections: 150 ms on average for each of the ~180 servers the fast tier starts.
`TestServer` checks every 5 ms and polls the connections instead (with uvicorn's own grace period as the
deadline); everything else (startup, lifespan, the protocol) is uvicorn's.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.waiting import wait_until

TICK_S = 0.005


class TestServer(uvicorn.Server):
    __test__ = False  # not a test class, whatever its name

    async def main_loop(self) -> None:
        ticks = 0
        should_exit = await self.on_tick(0)
        while not should_exit:
            await asyncio.sleep(TICK_S)
            ticks += 1
            # uvicorn's own bookkeeping (its Date header, its request limit) keeps its 100 ms rhythm.
            should_exit = await self.on_tick(ticks // 20) if ticks % 20 == 0 else self.should_exit

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        deadline = time.monotonic() + (self.config.timeout_graceful_shutdown or 10)
        while (self.server_state.connections or self.server_state.tasks) and time.monotonic() < deadline:
            await asyncio.sleep(TICK_S)
        for task in self.server_state.tasks:
            task.cancel()
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


def start(app: Any, port: int) -> tuple[TestServer, threading.Thread]:
    """`app` served on 127.0.0.1:`port` from a daemon thread, once it listens."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                            lifespan="on")
    server = TestServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), timeout=10,
               message=f"the gateway to listen on port {port}")
    assert server.started, "the gateway's thread ended without listening (its error is in the output above)"
    return server, thread


def stop(*servers: tuple[TestServer, threading.Thread]) -> None:
    """Ask every server to stop at once, then wait for each."""
    for server, _ in servers:
        server.should_exit = True
    for _, thread in servers:
        thread.join(10)


@contextmanager
def serving(app: Any, port: int) -> Iterator[str]:
    running = start(app, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(running)
