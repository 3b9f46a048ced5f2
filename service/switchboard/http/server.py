"""Running the service: uvicorn (uvloop, httptools) on a socket we bind ourselves, an optional metrics port,
one line when listening and one at shutdown, and a graceful stop.

On SIGTERM: stop accepting, `/readyz` says `draining` (503), requests and streams in flight get
`server.shutdown_grace_s` to finish, then the process exits. (Kubernetes: a preStop pause first, so the
load balancer stops sending, and terminationGracePeriodSeconds above both.)

On SIGHUP: re-read the config file and swap it in (`Runtime.reload`); a bad file changes nothing, and says why
in its operation record.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import secrets
import signal
import socket
import sys
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from switchboard.core.errors import SwitchboardError
from switchboard.http.app import App, MetricsApp
from switchboard.tasks import background


class PortInUse(SwitchboardError):
    pass


def bind(host: str, port: int, option: str, reuse_port: bool = False) -> socket.socket:
    """A listening-ready socket for `host:port`, or `PortInUse` naming the option to change. `reuse_port`: one
    of several workers' sockets on the same port (SO_REUSEPORT: the kernel spreads connections across them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(f"{option} {port} is already in use on {host}: stop what listens there or pass "
                            f"another {option}") from None
        raise PortInUse(f"cannot listen on {host}:{port} ({option}): {error.strerror}") from None
    sock.set_inheritable(True)
    return sock


MAX_HEAD_BYTES = 64 * 1024  # request line and headers
HEAD_TIMEOUT_S = 10.0  # to send them, from the connection's start (or a kept-alive request's first byte)


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with limits on a request's head, which it buffers whole before the app sees
    anything: over 64 KiB is a 431, and a head still unfinished after 10 s (a slowloris client) closes the
    connection. Bodies have their own limit in the front doors (1 MiB)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._in_head, self._head_bytes = True, 0
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._too_slow)

    def _disarm(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        if self._in_head and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self._in_head:
            super().data_received(data)
            return
        self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            body = (b'{"error":{"code":"headers_too_large","message":"the request line and headers are over '
                    + str(MAX_HEAD_BYTES).encode() + b' bytes"}}')
            self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json"
                                 b"\r\nx-request-id: " + secrets.token_hex(12).encode() + b"\r\ncontent-length: "
                                 + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
            self._disarm()
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # the next request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class GatewayServer(uvicorn.Server):
    """uvicorn's server with the drain on SIGTERM, the reload on SIGHUP, and the start and stop lines (or, as one
    of several workers, its start details sent to the supervisor on `ready` and no lines of its own)."""

    def __init__(self, config: uvicorn.Config, app: App, banner: str, companions: list[uvicorn.Server],
                 ready: Connection | None = None) -> None:
        super().__init__(config)
        self.app = app
        self.banner = banner
        self.companions = companions
        self.ready = ready

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.app.draining = True  # /readyz answers 503 from now on
        for companion in self.companions:
            companion.should_exit = True
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            # Everything made so far lives as long as the process: keep it out of the collector's full passes,
            # which otherwise pause the loop for 150-200 ms under load (45 ms at most with this).
            gc.collect()
            gc.freeze()
            runtime = self.app.runtime
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGHUP, lambda: background(runtime.reload_quietly("signal")))
            states = await self.app.runtime.readiness()
            usable = [target for target, state in states.items() if state == "ready"]
            others = sorted({state for state in states.values() if state != "ready"})
            embedded = "serving" if self.app.runtime.embedded_serving else "off"
            details = (f"usable targets: {len(usable)} of {len(states)} ({', '.join(usable) or 'none'}"
                       f"{'; others: ' + ', '.join(others) if others else ''}) · embedded model: {embedded}")
            if self.ready is not None:
                self.ready.send(details)
                self.ready.close()
            else:
                print(f"switchboard: listening on {self.banner} · {details}", file=sys.stderr, flush=True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        in_flight = self.app.in_flight
        await super().shutdown(sockets)
        if self.ready is None:
            print(f"switchboard: stopped ({in_flight} requests were in flight at the signal; "
                  f"grace {self.config.timeout_graceful_shutdown:g}s)", file=sys.stderr, flush=True)


def run(app: App, sock: socket.socket, banner: str, metrics_sock: socket.socket | None = None,
        ready: Connection | None = None) -> None:
    grace = app.runtime.config.server.shutdown_grace_s
    settings: dict[str, Any] = dict(loop="uvloop", http=GuardedHttpTools, access_log=False, log_level="warning",
                                    proxy_headers=False)  # nothing here reads the client address
    companions: list[uvicorn.Server] = []
    if metrics_sock is not None:
        companions.append(uvicorn.Server(uvicorn.Config(MetricsApp(app), lifespan="off", **settings)))
    server = GatewayServer(uvicorn.Config(app, lifespan="on", timeout_graceful_shutdown=grace, **settings),
                           app, banner, companions, ready)

    async def main() -> None:
        tasks = [server.serve(sockets=[sock])]
        if metrics_sock is not None:
            tasks.append(companions[0]._serve(sockets=[metrics_sock]))  # signals are the main server's
        await asyncio.gather(*tasks)

    uvloop.run(main())
