"""The HTTP service: one ASGI app in front of every front door.

In order, for each request: a request id (ours; the client's `x-request-id` is echoed, never trusted); health endpoints answered at once; load
shedding (`server.max_in_flight`: beyond it a 503 `overloaded` with Retry-After, at once); the route;
authentication (a 401 in the shape the path's clients expect); then the front door, through the shared
sequence. Every error response carries `x-request-id`, 500s included.

Raw ASGI rather than FastAPI: measured on the overhead bench, FastAPI's routing, dependency and middleware
layers cost about 0.15 ms a request, most of the budget the gateway has; a dict lookup does the routing
here. Every endpoint is declared once, in `http/endpoints.py`; the OpenAPI document is built from the same
table (`http/openapi.py`).
"""

from __future__ import annotations

import asyncio
import re
import traceback
from typing import Any

import orjson

from switchboard.core.caller import Caller
from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.http import sequence
from switchboard.http.asgi import Receive, Scope, Send, encode_headers, header_map, send_body
from switchboard.http.doors import ErrorShape, shape_of
from switchboard.http.endpoints import ENDPOINTS, Endpoint
from switchboard.logs import log
from switchboard.telemetry import metrics
from switchboard.wiring import Runtime

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
PROBES = {endpoint.path: endpoint for endpoint in ENDPOINTS if endpoint.probe}  # no key, no shedding


def client_request_id(scope: Scope) -> str | None:
    """The client's own `x-request-id`, when sane: echoed back and logged, never used as our id (limits count
    our ids, so a client cannot make many requests count as one)."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _CLIENT_REQUEST_ID.match(candidate) else None
    return None


class Routes:
    """Exact paths in a dict; the few paths with a parameter as patterns."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.exact: dict[tuple[str, str], Endpoint] = {}
        self.patterns: list[tuple[str, re.Pattern[str], Endpoint]] = []
        for endpoint in endpoints:
            method, path = endpoint.method, endpoint.path
            if "{" in path:  # {name} is one path segment; {name:path} the rest of the path (provider/model)
                pattern = re.compile("^" + re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)",
                                                  re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)) + "$")
                self.patterns.append((method, pattern, endpoint))
            else:
                self.exact[(method, path)] = endpoint

    def match(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]] | str:
        """(endpoint, path parameters), or 'method_not_allowed' / 'not_found'."""
        found = self.exact.get((method, path))
        if found is not None:
            return found, {}
        known_path = any(p == path for (_, p) in self.exact)
        for route_method, pattern, target in self.patterns:
            match = pattern.match(path)
            if match:
                if route_method == method:
                    return target, match.groupdict()
                known_path = True
        return "method_not_allowed" if known_path else "not_found"


class App:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.routes = Routes(ENDPOINTS)
        self.max_in_flight = runtime.config.server.max_in_flight
        self.in_flight = 0
        self.draining = False  # set on SIGTERM: /readyz says so, while requests in flight finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        ctx = RequestContext(client_id=client_request_id(scope))
        probe = PROBES.get(path)
        if probe is not None and scope["method"] == probe.method:
            await probe.handler(self, scope, receive, send, ctx)
            return
        if self.in_flight >= self.max_in_flight:
            metrics.SHED.inc()
            await self._error(send, ctx, path, GatewayError(
                503, "overloaded", f"this worker has {self.max_in_flight} requests in flight "
                "(server.max_in_flight); retry shortly", headers={"retry-after": "1"}))
            return
        self.in_flight += 1
        metrics.IN_FLIGHT.inc()
        try:
            await self._handle(scope, receive, send, ctx, path)
        finally:
            self.in_flight -= 1
            metrics.IN_FLIGHT.dec()

    async def _handle(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext, path: str) -> None:
        shape: ErrorShape | None = None
        try:
            found = self.routes.match(scope["method"], path)
            if found == "not_found":
                raise GatewayError(404, "not_found", f"{scope['method']} {path}: Not Found")
            if found == "method_not_allowed":
                raise GatewayError(405, "method_not_allowed", f"{scope['method']} {path}: Method Not Allowed")
            endpoint, params = found  # type: ignore[misc]
            shape = endpoint.errors
            headers = header_map(scope)
            ctx.caller = await self._caller(headers, path)
            scope["path_params"] = params
            if endpoint.door:
                await sequence.serve(self.runtime, endpoint, scope, receive, send, ctx, headers)
            else:
                await endpoint.handler(self, scope, receive, send, ctx)
        except GatewayError as error:
            await self._error(send, ctx, path, error, shape)
        except Exception as error:  # a bug: one log line, a 500 in the usual shape, never a bare traceback page
            log.error("internal_error", request_id=ctx.id, path=path, error=f"{type(error).__name__}: {error}",
                      traceback=traceback.format_exc())
            await self._error(send, ctx, path, GatewayError(500, "internal_error",
                                                            f"unexpected {type(error).__name__}"), shape)

    async def _caller(self, headers: dict[str, str], path: str) -> Caller:
        if path == "/metrics" and not self.runtime.auth.required:
            return self.runtime.auth.anonymous
        caller = await self.runtime.auth.authenticate(headers)
        if path == "/metrics" and not caller.admin:
            raise GatewayError(403, "forbidden", "/metrics needs the admin key (or use --metrics-port)")
        return caller

    async def _error(self, send: Send, ctx: RequestContext, path: str, error: GatewayError,
                     shape: ErrorShape | None = None) -> None:
        status, headers, body = (shape or shape_of(path)).encode(ctx, error)
        await send_body(send, status, body, encode_headers({**headers, "x-request-id": ctx.echo_id}))

    async def healthz(self, send: Send, ctx: RequestContext) -> None:
        await send_body(send, 200, b'{"status":"alive"}', encode_headers({"x-request-id": ctx.echo_id}))

    async def readyz(self, scope: Scope, send: Send, ctx: RequestContext) -> None:
        targets = await self.runtime.readiness()
        dependencies = await self.runtime.dependencies()
        ready = any(state == "ready" for state in targets.values())
        status = "draining" if self.draining else "ready" if ready else "not_ready"
        body = {"status": status, "targets": targets, "dependencies": dependencies, "in_flight": self.in_flight}
        await send_body(send, 200 if status == "ready" else 503, orjson.dumps(body),
                        encode_headers({"x-request-id": ctx.echo_id}))

    async def metrics_text(self) -> tuple[bytes, str]:
        for target, state in (await self.runtime.breakers.states()).items():
            metrics.BREAKER_STATE.labels(target).set(metrics.BREAKER_VALUES[state.value])
        # Rendering a thousand series takes 15-25 ms: off the event loop, so requests are not held up.
        return await asyncio.to_thread(metrics.exposition, self.runtime.settings.prometheus_multiprocess)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime.start()
                except Exception as error:
                    await send({"type": "lifespan.startup.failed", "message": f"{type(error).__name__}: {error}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.runtime.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


class MetricsApp:
    """`--metrics-port`: only /metrics, without a key, on a port kept off the public surface."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        if scope["path"] != "/metrics":
            await send_body(send, 404, b'{"error":{"code":"not_found","message":"only /metrics here"}}', [])
            return
        body, content_type = await self.app.metrics_text()
        await send_body(send, 200, body, [], (b"content-type", content_type.encode()))


def create_app(switchboard: Any) -> App:
    """The service for a `Switchboard` (or its `Runtime`)."""
    runtime = switchboard.runtime if hasattr(switchboard, "runtime") else switchboard
    return App(runtime)
