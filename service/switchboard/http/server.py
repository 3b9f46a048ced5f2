"""Running the service: uvicorn (uvloop, httptools) on a socket we bind ourselves, an optional metrics port,
one line when listening and one at shutdown, and a graceful stop.

On SIGTERM: stop accepting, `/readyz` says `draining` (503), requests and streams in flight get
`server.shutdown_grace_s` to finish, then the process exits. (Kubernetes: a preStop pause first, so the
load balancer stops sending, and terminationGracePeriodSeconds above both.)
"""

from __future__ import annotations

import asyncio
import errno
import socket
import sys
from types import FrameType
from typing import Any

import uvicorn
import uvloop

from switchboard.http.app import App, MetricsApp


class PortInUse(Exception):
    pass


def bind(host: str, port: int, option: str) -> socket.socket:
    """A listening-ready socket for `host:port`, or `PortInUse` naming the option to change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


class GatewayServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: App, banner: str, companions: list[uvicorn.Server]) -> None:
        super().__init__(config)
        self.app = app
        self.banner = banner
        self.companions = companions

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.app.draining = True  # /readyz answers 503 from now on
        for companion in self.companions:
            companion.should_exit = True
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            states = await self.app.runtime.readiness()
            usable = [target for target, state in states.items() if state == "ready"]
            others = sorted({state for state in states.values() if state != "ready"})
            embedded = "serving" if self.app.runtime.embedded_serving else "off"
            print(f"switchboard: listening on {self.banner} · usable targets: {len(usable)} of {len(states)} "
                  f"({', '.join(usable) or 'none'}{'; others: ' + ', '.join(others) if others else ''}) · "
                  f"embedded model: {embedded}", file=sys.stderr, flush=True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        in_flight = self.app.in_flight
        await super().shutdown(sockets)
        print(f"switchboard: stopped ({in_flight} requests were in flight at the signal; "
              f"grace {self.config.timeout_graceful_shutdown:g}s)", file=sys.stderr, flush=True)


def run(app: App, sock: socket.socket, banner: str, metrics_sock: socket.socket | None = None) -> None:
    grace = app.runtime.config.server.shutdown_grace_s
    settings: dict[str, Any] = dict(loop="uvloop", http="httptools", access_log=False, log_level="warning",
                                    proxy_headers=False)  # nothing here reads the client address
    companions: list[uvicorn.Server] = []
    if metrics_sock is not None:
        companions.append(uvicorn.Server(uvicorn.Config(MetricsApp(app), lifespan="off", **settings)))
    server = GatewayServer(uvicorn.Config(app, lifespan="on", timeout_graceful_shutdown=grace, **settings),
                           app, banner, companions)

    async def main() -> None:
        tasks = [server.serve(sockets=[sock])]
        if metrics_sock is not None:
            tasks.append(companions[0]._serve(sockets=[metrics_sock]))  # signals are the main server's
        await asyncio.gather(*tasks)

    uvloop.run(main())
