"""`Switchboard`: the library. Route, execute, price, explain and log one request; no HTTP server needed.

    async with Switchboard.from_config() as sb:
        response = await sb.complete("Write a haiku", task_type="creative_writing")
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind
from pydantic import ValidationError

from switchboard.config import GatewayConfig, TargetRef, load_config
from switchboard.errors import GatewayError, invalid_request
from switchboard.executor import (
    BREAKER_FAILURES,
    AllTargetsFailed,
    AttemptFn,
    Execution,
    Executor,
    OpenStream,
    T,
    open_stream,
)
from switchboard.local import EmbeddedModel, EmbeddedModelError
from switchboard.logs import log
from switchboard.pipelines.runner import PipelineRunner
from switchboard.pricing import cost_usd, estimate_usage
from switchboard.providers import (
    ADAPTERS,
    Adapter,
    Completion,
    ProviderCall,
    ProviderError,
    StreamEnd,
    StreamEvent,
    TextDelta,
)
from switchboard.redact import register_secret
from switchboard.resilience.breaker import Breakers, BreakerState, MemoryBreakers
from switchboard.resilience.redis_breakers import RedisBreakers
from switchboard.resilience.retry import RetryPolicy
from switchboard.router import Plan, Router, UnknownTaskType
from switchboard.schema import (
    Attempt,
    CompleteRequest,
    CompletionResponse,
    FinishReason,
    Outcome,
    PipelineResult,
    Route,
    Usage,
)
from switchboard.secrets_manager import SecretKeys, secret_arns
from switchboard.telemetry import tracing
from switchboard.telemetry.record import record_request


def new_request_id() -> str:
    return secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class StreamStarted:
    id: str
    provider: str
    model: str
    task_type: str | None


@dataclass(frozen=True, slots=True)
class StreamDelta:
    text: str


@dataclass(frozen=True, slots=True)
class StreamFinished:
    response: CompletionResponse


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """The stream broke after its first token: the client gets what came, then this, never a clean end."""

    error: GatewayError


StreamItem = StreamStarted | StreamDelta | StreamFinished | StreamFailed


@dataclass(slots=True)
class _InFlight:
    """One request between its start and its record."""

    request: CompleteRequest
    request_id: str
    started: float
    span: Span | None
    route: str = "invalid"
    first_token_s: float | None = None

    def record(self, status: int, **outcome: Any) -> None:
        record_request(self.request_id, self.request, status, self.started, route=self.route, span=self.span,
                       first_token_s=self.first_token_s, **outcome)


class Switchboard:
    def __init__(self, config: GatewayConfig, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.config = config
        self.router = Router(config)
        self.breakers: Breakers = MemoryBreakers(config.breaker)
        redis_url = env.get("REDIS_URL")
        if redis_url:  # replicas share their breakers through Redis
            targets = sorted({t.key for route in config.all_routes() for t in route.targets})
            client = aioredis.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)
            self.breakers = RedisBreakers(client, config.breaker, targets)
        self.adapters: dict[str, Adapter] = {}
        self._embedded: dict[str, EmbeddedModel] = {}
        for name, provider in config.providers.items():
            api_key = provider.resolved_api_key(env)
            register_secret(api_key)
            base_url = provider.resolved_base_url(env)
            self.adapters[name] = ADAPTERS[provider.kind](name, base_url, api_key, provider.api_key_required)
            if base_url is None and provider.embedded:
                self._embedded[name] = EmbeddedModel()
        self.executor = Executor(self.adapters, self.breakers, RetryPolicy.from_config(config.retry))
        self._session: aiohttp.ClientSession | None = None
        key_envs = [p.api_key_env for p in config.providers.values() if p.api_key_env]
        arns = secret_arns(env, key_envs)
        self._secret_keys = SecretKeys(arns) if arns else None
        self._secret_refresh_s = float(env.get("SWITCHBOARD_SECRET_REFRESH_S", 300))
        self._background: list[asyncio.Task[None]] = []
        self.pipelines = PipelineRunner(self)

    @classmethod
    def from_config(cls, path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Switchboard:
        return cls(load_config(path), env)

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self._session is not None:
            return
        if self._secret_keys is not None:
            self._use_keys(await asyncio.to_thread(self._secret_keys.fetch))
            self._background.append(asyncio.create_task(
                self._secret_keys.refresh_forever(self._secret_refresh_s, self._use_keys)))
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

    def _use_keys(self, keys: dict[str, str]) -> None:
        """Keys read from Secrets Manager replace the adapters' keys (rotation takes effect here)."""
        for name, provider in self.config.providers.items():
            if provider.api_key_env in keys:
                self.adapters[name].api_key = keys[provider.api_key_env]

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        self._background.clear()
        if isinstance(self.breakers, RedisBreakers):
            await self.breakers.aclose()
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
        return await self.execute(_library_request(text, fields), new_request_id())

    def stream(self, text: str | None = None, **fields: Any) -> AsyncIterator[StreamItem]:
        """The library call, streamed: `StreamStarted`, `StreamDelta`s, then `StreamFinished` or `StreamFailed`.

        A failure before the first token raises `GatewayError` from the first iteration.
        """
        return self.execute_stream(_library_request(text, fields), new_request_id())

    async def run_pipeline(self, name: str, *, timeout_s: float | None = None, **inputs: str) -> PipelineResult:
        """Run a declared pipeline and wait for it: `await sb.run_pipeline("blog_post", topic="...")`."""
        return await self.pipelines.run(name, inputs, run_id=new_request_id(), timeout_s=timeout_s)

    async def execute(
        self,
        request: CompleteRequest,
        request_id: str,
        plan: Plan | None = None,
        trace: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> CompletionResponse:
        """Run one validated request and record it (log line, metrics, span), whatever the result."""
        flight, plan, call, _deadline, execution = await self._begin(request, request_id, plan, trace, kind, False)
        completion = execution.result
        response = self._response(
            request_id, plan, execution.target, call, completion.text, completion.finish_reason, completion.usage,
            execution.attempts, flight.started,
        )
        flight.record(200, response=response)
        return response

    async def execute_stream(
        self,
        request: CompleteRequest,
        request_id: str,
        plan: Plan | None = None,
        trace: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> AsyncGenerator[StreamItem, None]:
        """Nothing is yielded before the first content token; after it, a failure ends with `StreamFailed`."""
        flight, plan, call, deadline, execution = await self._begin(request, request_id, plan, trace, kind, True)
        flight.first_token_s = time.perf_counter() - flight.started
        target, attempts, opened = execution.target, execution.attempts, execution.result
        yield StreamStarted(f"sb-{request_id}", target.provider, target.model, plan.task_type)
        parts: list[str] = []
        event: StreamEvent = opened.first
        failure: ProviderError | None = None
        try:
            while isinstance(event, TextDelta):
                parts.append(event.text)
                yield StreamDelta(event.text)
                left = deadline - time.monotonic()
                try:
                    async with asyncio.timeout(min(plan.stall_s, max(left, 0))):
                        event = await anext(opened.rest)
                except TimeoutError:
                    outcome = Outcome.TIMEOUT if plan.stall_s < left else Outcome.DEADLINE_EXCEEDED
                    failure = ProviderError(outcome, f"stream stalled: no chunk within {min(plan.stall_s, left):.2f}s")
                    break
                except ProviderError as error:
                    failure = error
                    break
                except StopAsyncIteration:
                    failure = ProviderError(Outcome.CONNECT_ERROR, "stream ended without an end marker")
                    break
        except (GeneratorExit, asyncio.CancelledError):
            self._interrupted(attempts, parts, Outcome.CLIENT_CLOSED, "the client went away")
            error = GatewayError(499, "client_closed", "the client closed the stream",
                                 route=Route(reason=plan.reason, attempts=attempts))
            flight.record(499, error=error, partial_text=parts)
            raise
        finally:
            await opened.rest.aclose()  # closes the upstream connection if it is still open

        if failure is not None:
            self._interrupted(attempts, parts, failure.outcome, failure.detail)
            if failure.outcome in BREAKER_FAILURES:
                await self.breakers.record_failure(target.key)
            error = GatewayError(
                502, "stream_interrupted", f"{target.key} failed mid-stream: {failure.detail}",
                route=Route(reason=plan.reason, attempts=attempts),
            )
            flight.record(200, error=error, partial_text=parts)
            yield StreamFailed(error)
            return
        assert isinstance(event, StreamEnd)
        response = self._response(
            request_id, plan, target, call, "".join(parts), event.finish_reason, event.usage, attempts, flight.started
        )
        flight.record(200, response=response)
        yield StreamFinished(response)

    async def _begin(
        self,
        request: CompleteRequest,
        request_id: str,
        plan: Plan | None,
        trace: Context | None,
        kind: SpanKind,
        stream: bool,
    ) -> tuple[_InFlight, Plan, ProviderCall, float, Execution[Any]]:
        """Open the request's span, plan it, and run it up to a result (or the first token of a stream)."""
        attributes: dict[str, Any] = {"switchboard.request_id": request_id, "switchboard.stream": stream}
        flight = _InFlight(request, request_id, time.perf_counter(),
                           tracing.start("switchboard.request", trace, kind, attributes))
        attempts: list[Attempt] = []
        try:
            plan, call, deadline = self._prepare(request, plan, flight.span, trace)
            flight.route = plan.label
            attempt: AttemptFn[Any] = self._stream_attempt if stream else self._complete_attempt
            timeout_s = plan.first_token_s if stream else self.config.timeouts.attempt_s
            execution = await self._run(plan, call, deadline, attempt, timeout_s,
                                        tracing.context_of(flight.span, trace), attempts)
        except GatewayError as error:
            flight.record(error.status, error=error)
            raise
        except asyncio.CancelledError:  # the client went away before the answer: the upstream call stops
            assert plan is not None
            route = Route(reason=plan.reason, attempts=attempts)
            flight.record(499, error=GatewayError(499, "client_closed", "the client went away", route=route))
            raise
        return flight, plan, call, deadline, execution

    async def _run(
        self,
        plan: Plan,
        call: ProviderCall,
        deadline: float,
        attempt: AttemptFn[T],
        timeout_s: float,
        trace: Context | None,
        record: list[Attempt] | None = None,
    ) -> Execution[T]:
        try:
            return await self.executor.run(plan, call, deadline, attempt, timeout_s, trace, record)
        except AllTargetsFailed as failure:
            route = Route(reason=plan.reason, attempts=failure.attempts)
            raise GatewayError(failure.status, failure.code, str(failure), route=route) from None

    def _complete_attempt(self, adapter: Adapter, call: ProviderCall) -> Awaitable[Completion]:
        return adapter.complete(self._live_session(), call)

    def _stream_attempt(self, adapter: Adapter, call: ProviderCall) -> Awaitable[OpenStream]:
        return open_stream(adapter.stream(self._live_session(), call))

    def _live_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Switchboard is not started: use `async with` or `await sb.start()`")
        return self._session

    def _prepare(
        self, request: CompleteRequest, plan: Plan | None, span: Span | None, trace: Context | None
    ) -> tuple[Plan, ProviderCall, float]:
        decision = tracing.start("switchboard.route", tracing.context_of(span, trace))
        if plan is None:
            try:
                plan = self.router.plan(request.task_type)
            except UnknownTaskType as error:
                tracing.end(decision, error="unknown_task_type")
                raise GatewayError(422, "unknown_task_type", str(error), field="task_type") from None
        tracing.end(decision, {"switchboard.route": plan.label, "switchboard.reason": plan.reason})
        if span is not None and tracing.record_content:
            span.set_attribute("gen_ai.prompt", "\n".join(m.content for m in request.conversation()))
        timeouts = self.config.timeouts
        if request.timeout_s is not None and request.timeout_s > timeouts.max_request_s:
            raise GatewayError(
                422, "invalid_request", f"timeout_s: at most {timeouts.max_request_s:g}", field="timeout_s"
            )
        self._live_session()
        deadline = time.monotonic() + (request.timeout_s or timeouts.request_s)
        call = ProviderCall(
            model="",
            messages=request.conversation(),
            max_tokens=request.max_tokens or self.config.default_max_tokens,
            temperature=request.temperature,
            stop=request.stop,
        )
        return plan, call, deadline

    def _response(
        self,
        request_id: str,
        plan: Plan,
        target: TargetRef,
        call: ProviderCall,
        text: str,
        finish_reason: FinishReason,
        usage: Usage | None,
        attempts: list[Attempt],
        started: float,
    ) -> CompletionResponse:
        estimated = usage is None
        if usage is None:
            usage = estimate_usage(call.messages, text)
        return CompletionResponse(
            id=f"sb-{request_id}",
            text=text,
            provider=target.provider,
            model=target.model,
            task_type=plan.task_type,
            finish_reason=finish_reason,
            usage=usage,
            cost_usd=cost_usd(self.config.price(target.provider, target.model), usage),
            cost_estimated=estimated,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            route=Route(reason=plan.reason, attempts=attempts),
        )

    @staticmethod
    def _interrupted(attempts: list[Attempt], parts: list[str], outcome: Outcome, detail: str) -> None:
        """The committed attempt did not finish: record how, and how far it got."""
        sent = sum(len(part) for part in parts)
        attempts[-1] = attempts[-1].model_copy(
            update={"outcome": outcome, "detail": f"after {sent} characters: {detail}"}
        )

    # -- health -------------------------------------------------------------------------------
    async def readiness(self) -> dict[str, str]:
        """Each target's state: `ready`, `no_key`, `unavailable` or the breaker's state."""
        states: dict[str, str] = {}
        breaker_states = await self.breakers.states()
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


def _library_request(text: str | None, fields: dict[str, Any]) -> CompleteRequest:
    try:
        return CompleteRequest.model_validate({"text": text, **fields} if text is not None else fields)
    except ValidationError as error:
        raise invalid_request(error) from None
