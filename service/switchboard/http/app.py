"""The HTTP service: one ASGI app in front of every front door.

In order, for each request: a request id of ours (the client's `x-request-id` is echoed and logged, never
used for accounting); health probes answered at once; the endpoint; authentication (a 401 in the shape the
path's clients expect); admission, before the body is read: the key's own cap on requests in flight (429),
then the worker's (`server.max_in_flight`: beyond it a 503 `overloaded` with Retry-After, at once); then the
front door, through the shared sequence, which reads the body within `server.body_timeout_s`. Every error response carries `x-request-id`, 500s included.

Raw ASGI rather than FastAPI: measured on the overhead bench, FastAPI's routing, dependency and middleware
layers cost about 0.15 ms a request, most of the budget the gateway has; a dict lookup does the routing
here. Every endpoint is declared once, in `http/endpoints.py`; the OpenAPI document is built from the same
table (`http/openapi.py`).
"""

from __future__ import annotations

import asyncio
import os
import re
import traceback
from typing import Any

import orjson

from switchboard.core.caller import Caller
from switchboard.core.context import RequestContext
from switchboard.core.errors import GatewayError
from switchboard.http import sequence
from switchboard.http.asgi import Receive, Scope, Send, encode_headers, header_map, send_body
from switchboard.http.console import CONSOLE_PATHS, session_caller
from switchboard.http.doors import ErrorShape, shape_of
from switchboard.http.endpoints import ENDPOINTS, Endpoint
from switchboard.logs import log
from switchboard.operations.status import USABLE, endpoints
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


def _query_flag(scope: Scope, name: str) -> bool:
    """`?name=1` (or true / yes) in the query string."""
    for pair in scope.get("query_string", b"").decode("latin-1").split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return value.lower() in ("1", "true", "yes", "")
    return False


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
        self.in_flight_by_key: dict[str, int] = {}  # keys with a `max_in_flight` cap (of their own or their tier's)
        workers = runtime.settings.workers
        self._process = {"pid": os.getpid(), "workers": workers}  # which of `serve --workers N` answered
        if workers > 1 and runtime.redis is None:
            self._process["shared_state"] = (f"none: each of the {workers} workers keeps its own breakers, limits "
                                             "and cache (set REDIS_URL to share them)")
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
        await self._handle(scope, receive, send, ctx, path)

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
            ctx.caller = await self._caller(headers, path, scope["method"], endpoint.public)
            ctx.id = self.runtime.auth.ids.new(ctx.caller.tenant)  # a request of this tenant's (POST /feedback)
            scope["path_params"] = params
            await self._admitted(endpoint, scope, receive, send, ctx, headers)
        except GatewayError as error:
            await self._error(send, ctx, path, error, shape)
        except Exception as error:  # a bug: one log line, a 500 in the usual shape, never a bare traceback page
            log.error("internal_error", request_id=ctx.id, path=path, error=f"{type(error).__name__}: {error}",
                      traceback=traceback.format_exc())
            await self._error(send, ctx, path, GatewayError(500, "internal_error",
                                                            f"unexpected {type(error).__name__}"), shape)

    async def _admitted(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send, ctx: RequestContext,
                        headers: dict[str, str]) -> None:
        """Serve a request once it is admitted: first the key's own cap on its requests in flight (429), then
        the worker's (503 `overloaded`, shedding at once). Both are counted before the body is read, and a key's
        refused requests never count against the worker's, so one key sending slow or half bodies holds at most
        its cap, never the capacity every other tenant needs."""
        caller = ctx.caller
        key = caller.key_id if caller.max_in_flight is not None else None
        if key is not None and self.in_flight_by_key.get(key, 0) >= caller.max_in_flight:  # type: ignore[operator]
            raise GatewayError(429, "too_many_in_flight", f"key {key}: {caller.max_in_flight} requests in flight "
                               "already (its max_in_flight); retry when one has ended", headers={"retry-after": "1"})
        if self.in_flight >= self.max_in_flight:
            metrics.SHED.inc()
            self.runtime.recent_records.shed()
            raise GatewayError(503, "overloaded", f"this worker has {self.max_in_flight} requests in flight "
                               "(server.max_in_flight); retry shortly", headers={"retry-after": "1"})
        self.in_flight += 1
        metrics.IN_FLIGHT.inc()
        if key is not None:
            self.in_flight_by_key[key] = self.in_flight_by_key.get(key, 0) + 1
        try:
            if endpoint.door:
                await sequence.serve(self.runtime, endpoint, scope, receive, send, ctx, headers)
            else:
                await endpoint.handler(self, scope, receive, send, ctx)
        finally:
            self.in_flight -= 1
            metrics.IN_FLIGHT.dec()
            if key is not None:
                left = self.in_flight_by_key[key] - 1
                if left:
                    self.in_flight_by_key[key] = left
                else:
                    del self.in_flight_by_key[key]

    async def _caller(self, headers: dict[str, str], path: str, method: str = "GET", public: bool = False) -> Caller:
        if public or (path == "/metrics" and not self.runtime.auth.required):
            return self.runtime.auth.anonymous  # public: the console's page, its assets and its sign-in
        signed_in = session_caller(self.runtime, method, path, headers)  # a console session for the admin key
        if signed_in is not None:
            return signed_in
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
        """About the process: 200 while it can serve (with every provider down it still answers, fast, with
        an explained 503 `no_target_available`), 503 once SIGTERM has set it draining. Every target's state
        (breaker, hold), every endpoint's and the shared state's are in the body. `?strict=1` also answers 503
        when no target is ready (readiness as upstream health, for those who want it)."""
        strict = _query_flag(scope, "strict")
        rows = await self.runtime.target_states()
        dependencies = await self.runtime.dependencies()
        usable = [row["target"] for row in rows if row["state"] in USABLE]
        upstream = "ok" if len(usable) == len(rows) else "degraded" if usable else "none_ready"
        status = "draining" if self.draining else "not_ready" if strict and not usable else "ready"
        body = {"status": status, "upstream": upstream, "usable": len(usable),
                "targets": {row["target"]: row["state"] for row in rows},
                "holds": [hold.public() for hold in self.runtime.holds.active()],
                "endpoints": endpoints(rows), "dependencies": dependencies, "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight, "saturated": self.in_flight >= self.max_in_flight,
                "config_generation": self.runtime.generation, **self._process}
        await send_body(send, 200 if status == "ready" else 503, orjson.dumps(body),
                        encode_headers({"x-request-id": ctx.echo_id}))

    async def metrics_text(self) -> tuple[bytes, str]:
        await self.runtime.scrape()  # the scrape-time gauges: breakers, drains, Redis, jobs, budgets
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
    """`--metrics-port`: /metrics without a key, on a port kept off the public surface; and the console (with
    the admin APIs it reads, authenticated as on the gateway), for deployments that expose only this port to
    operators."""

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
        if scope["path"].startswith(CONSOLE_PATHS):  # the console and the admin APIs it reads, as on the gateway
            await self.app(scope, receive, send)
            return
        if scope["path"] != "/metrics":
            await send_body(send, 404, b'{"error":{"code":"not_found","message":"only /metrics and /console here"}}',
                            [])
            return
        body, content_type = await self.app.metrics_text()
        await send_body(send, 200, body, [], (b"content-type", content_type.encode()))


def create_app(switchboard: Any) -> App:
    """The service for a `Switchboard` (or its `Runtime`)."""
    runtime = switchboard.runtime if hasattr(switchboard, "runtime") else switchboard
    return App(runtime)
