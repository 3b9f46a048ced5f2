"""`Switchboard`: the library. Route, execute, price, explain and log one request; no HTTP server needed.

    async with Switchboard.from_config() as sb:
        response = await sb.complete("Write a haiku", task_type="creative_writing")
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from pydantic import ValidationError

from switchboard.config import GatewayConfig, load_config
from switchboard.executor import AllTargetsFailed, Executor
from switchboard.local import EmbeddedModel, EmbeddedModelError
from switchboard.logs import log
from switchboard.pricing import cost_usd
from switchboard.providers import ADAPTERS, Adapter, ProviderCall
from switchboard.redact import register_secret
from switchboard.resilience.breaker import BreakerBoard, BreakerState
from switchboard.resilience.retry import RetryPolicy
from switchboard.router import Router, UnknownTaskType
from switchboard.schema import (
    CompleteRequest,
    CompletionResponse,
    ErrorDetail,
    ErrorResponse,
    Route,
    Usage,
)


class GatewayError(Exception):
    """A request that ends without an answer: an HTTP status and the structured body to send."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None, route: Route | None = None):
        super().__init__(message)
        self.status = status
        self.body = ErrorResponse(error=ErrorDetail(code=code, message=message, field=field), route=route)


def invalid_request(error: ValidationError) -> GatewayError:
    """The first validation problem, with the field it is about."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    message = first["msg"].removeprefix("Value error, ")
    return GatewayError(422, "invalid_request", f"{field}: {message}" if field else message, field=field)


def new_request_id() -> str:
    return secrets.token_hex(12)


class Switchboard:
    def __init__(self, config: GatewayConfig, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.config = config
        self.router = Router(config)
        self.breakers = BreakerBoard(config.breaker)
        self.adapters: dict[str, Adapter] = {}
        self._embedded: dict[str, EmbeddedModel] = {}
        for name, provider in config.providers.items():
            api_key = provider.resolved_api_key(env)
            register_secret(api_key)
            base_url = provider.resolved_base_url(env)
            self.adapters[name] = ADAPTERS[provider.kind](name, base_url, api_key, provider.api_key_required)
            if base_url is None and provider.embedded:
                self._embedded[name] = EmbeddedModel()
        self.executor = Executor(
            self.adapters, self.breakers, RetryPolicy.from_config(config.retry), config.timeouts.attempt_s
        )
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_config(cls, path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Switchboard:
        return cls(load_config(path), env)

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self._session is not None:
            return
        for name, model in self._embedded.items():
            try:
                self.adapters[name].base_url = await asyncio.to_thread(model.start)
            except EmbeddedModelError as error:
                log.warning("embedded_model_unavailable", provider=name, error=str(error))
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=60)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.config.timeouts.connect_s),
            json_serialize=lambda obj: orjson.dumps(obj).decode(),
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        for model in self._embedded.values():
            model.stop()

    async def __aenter__(self) -> Switchboard:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests -----------------------------------------------------------------------------
    async def complete(self, text: str | None = None, **fields: Any) -> CompletionResponse:
        """The library call. Raises `GatewayError` (with `.status` and `.body`) when no answer comes."""
        try:
            request = CompleteRequest.model_validate({"text": text, **fields} if text is not None else fields)
        except ValidationError as error:
            raise invalid_request(error) from None
        return await self.execute(request, new_request_id())

    async def execute(self, request: CompleteRequest, request_id: str) -> CompletionResponse:
        """Run one validated request and write its one log line, whatever the result."""
        started = time.perf_counter()
        try:
            response = await self._execute(request, request_id, started)
        except GatewayError as error:
            log_request(request_id, request, error.status, started, error=error)
            raise
        log_request(request_id, request, 200, started, response=response)
        return response

    async def _execute(self, request: CompleteRequest, request_id: str, started: float) -> CompletionResponse:
        if self._session is None:
            raise RuntimeError("Switchboard is not started: use `async with` or `await sb.start()`")
        try:
            plan = self.router.plan(request.task_type)
        except UnknownTaskType as error:
            raise GatewayError(422, "unknown_task_type", str(error), field="task_type") from None
        timeouts = self.config.timeouts
        if request.timeout_s is not None and request.timeout_s > timeouts.max_request_s:
            raise GatewayError(
                422, "invalid_request", f"timeout_s: at most {timeouts.max_request_s:g}", field="timeout_s"
            )
        deadline = time.monotonic() + (request.timeout_s or timeouts.request_s)
        call = ProviderCall(
            model="",
            messages=request.conversation(),
            max_tokens=request.max_tokens or self.config.default_max_tokens,
            temperature=request.temperature,
            stop=request.stop,
        )
        try:
            execution = await self.executor.run(self._session, plan, call, deadline)
        except AllTargetsFailed as failure:
            route = Route(reason=plan.reason, attempts=failure.attempts)
            raise GatewayError(failure.status, failure.code, str(failure), route=route) from None
        target, completion = execution.target, execution.completion
        return CompletionResponse(
            id=f"sb-{request_id}",
            text=completion.text,
            provider=target.provider,
            model=target.model,
            task_type=plan.task_type,
            finish_reason=completion.finish_reason,
            usage=completion.usage,
            cost_usd=cost_usd(self.config.price(target.provider, target.model), completion.usage),
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            route=Route(reason=plan.reason, attempts=execution.attempts),
        )

    # -- health -------------------------------------------------------------------------------
    def readiness(self) -> dict[str, str]:
        """Each target's state: `ready`, `no_key`, `unavailable` or the breaker's state."""
        states: dict[str, str] = {}
        breaker_states = self.breakers.states()
        chains = [route.targets for route in self.config.all_routes()]
        for target in {t.key: t for chain in chains for t in chain}.values():
            adapter = self.adapters[target.provider]
            if adapter.base_url is None:
                states[target.key] = "unavailable"
            elif not adapter.usable:
                states[target.key] = "no_key"
            else:
                breaker = breaker_states.get(target.key, BreakerState.CLOSED)
                states[target.key] = "ready" if breaker is not BreakerState.OPEN else f"breaker_{breaker}"
        return states


def log_request(
    request_id: str,
    request: CompleteRequest | None,
    status: int,
    started: float,
    *,
    response: CompletionResponse | None = None,
    error: GatewayError | None = None,
) -> None:
    """The one log line a request gets."""
    route = response.route if response else (error.body.route if error else None)
    usage = response.usage if response else Usage()
    log.info(
        "request",
        request_id=request_id,
        status=status,
        task_type=request.task_type if request else None,
        provider=response.provider if response else None,
        model=response.model if response else None,
        latency_ms=round((time.perf_counter() - started) * 1000, 3),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_tokens,
        cost_usd=response.cost_usd if response else 0.0,
        finish_reason=response.finish_reason if response else "error",
        error=error.body.error.code if error else None,
        reason=route.reason if route else None,
        path=[_path_step(a) for a in route.attempts] if route else [],
    )


def _path_step(attempt: Any) -> dict[str, Any]:
    step = {
        "target": f"{attempt.provider}:{attempt.model}",
        "outcome": attempt.outcome.value,
        "status": attempt.status,
        "wait_ms": attempt.wait_ms,
        "latency_ms": attempt.latency_ms,
    }
    if attempt.detail:
        step["detail"] = attempt.detail
    return step
