"""One request from its decision to its record, whichever front door (or the library) it came through:

    limits → decide → cache → engine → response (priced) → cache store → settle limits → record

The front doors (http/) parse and encode around this; the library facade calls it directly. Every request
that enters ends here in exactly one record (log line, metrics, span), however it ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from switchboard.config import GatewayConfig
from switchboard.engine.context import RequestContext
from switchboard.engine.engine import Engine, Success
from switchboard.errors import (
    ChainFailed,
    GatewayError,
    RouteRefused,
    StreamBroken,
    broken_stream_error,
    chain_error,
    client_closed,
    route_error,
)
from switchboard.pricing import cost_usd, estimate_usage
from switchboard.providers.base import StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from switchboard.request import EmbeddingRequest, Request
from switchboard.routing.plan import Plan
from switchboard.routing.router import Router
from switchboard.schema import (
    CompletionResponse,
    DecideResponse,
    EmbeddingResponse,
    Outcome,
    Route,
    Usage,
)
from switchboard.tasks import background


@dataclass(frozen=True, slots=True)
class StreamStarted:
    id: str
    provider: str
    model: str
    task_type: str | None
    created: int


@dataclass(frozen=True, slots=True)
class StreamFinished:
    response: CompletionResponse


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """The stream broke after its first token: the client gets what came, then this, never a clean end."""

    error: GatewayError


StreamItem = StreamStarted | StreamEvent | StreamFinished | StreamFailed


@dataclass(frozen=True, slots=True)
class Decide:
    """A request to decide only (`POST /decide`): the dry run."""

    request: Request


class Recorder(Protocol):
    """The end of every request: its log line, metrics and span (telemetry.record)."""

    def finish(self, ctx: RequestContext, status: int, *, response: Any = None, error: GatewayError | None = None,
               streamed_chars: int | None = None) -> None: ...


class Limiter(Protocol):
    """Rate limits and budgets (callers.limits): reserve before the call, settle after it."""

    def applies(self, ctx: RequestContext) -> bool: ...

    async def reserve(self, ctx: RequestContext, tokens: int, max_cost_usd: float) -> Any: ...

    async def settle(self, ctx: RequestContext, reservation: Any, tokens: int, cost_usd: float) -> None: ...


class ResponseCache(Protocol):
    """The response cache (cache/): a hit is a finished response, marked cached."""

    async def lookup(self, ctx: RequestContext, request: Request, plan: Plan) -> CompletionResponse | None: ...

    async def store(self, ctx: RequestContext, request: Request, plan: Plan, response: CompletionResponse) -> None: ...


@dataclass(slots=True)
class _Held:
    reservation: Any = None


class Flow:
    def __init__(self, config: GatewayConfig, router: Router, engine: Engine, recorder: Recorder,
                 cache: ResponseCache | None = None, limiter: Limiter | None = None) -> None:
        self.config = config
        self.router = router
        self.engine = engine
        self.recorder = recorder
        self.cache = cache
        self.limiter = limiter

    def begin(self, ctx: RequestContext, timeout_s: float | None, default_s: float | None = None) -> None:
        """Set the request's deadline (a caller's timeout is capped by `timeouts.max_request_s`)."""
        timeouts = self.config.timeouts
        if timeout_s is not None and timeout_s > timeouts.max_request_s:
            raise GatewayError(422, "invalid_request", f"timeout_s: at most {timeouts.max_request_s:g}",
                               field="timeout_s")
        ctx.deadline = time.monotonic() + (timeout_s or default_s or timeouts.request_s)

    # -- decide ------------------------------------------------------------------------------------
    async def plan(self, ctx: RequestContext, request: Request) -> Plan:
        try:
            return await self.router.decide(ctx, request)
        except RouteRefused as refused:
            raise route_error(refused) from None

    async def decide(self, ctx: RequestContext, request: Request) -> DecideResponse:
        """The dry run: the decision, without calling any provider (and without a record)."""
        plan = await self.plan(ctx, request)
        return DecideResponse(task_type=plan.task_type, rule=plan.decision.rule, reason=plan.reason,
                              chain=[t.key for t in plan.targets], decision=plan.decision)

    # -- complete ----------------------------------------------------------------------------------
    async def complete(self, ctx: RequestContext, request: Request) -> CompletionResponse:
        """Run one request to its whole answer, and record it, whatever the result."""
        async with self._unanswered(ctx) as held:
            self.begin(ctx, request.timeout_s)
            plan = await self.plan(ctx, request)
            held.reservation = await self._reserve(ctx, request, plan)
            cached = await self._lookup(ctx, request, plan)
            if cached is not None:
                response = cached
            else:
                try:
                    success = await self.engine.complete(ctx, request, plan)
                except ChainFailed as failure:
                    raise chain_error(failure, self._route(ctx)) from None
                response = self.response(ctx, plan, success)
                await self._store(ctx, request, plan, response)
        self._settle_later(ctx, held.reservation, response)
        self.recorder.finish(ctx, 200, response=response)
        return response

    # -- stream ------------------------------------------------------------------------------------
    async def stream(self, ctx: RequestContext, request: Request) -> AsyncGenerator[StreamItem, None]:
        """Nothing is yielded before the first content token; a failure before it raises `GatewayError` from
        the first iteration. After it, a failure ends the stream with `StreamFailed`."""
        async with self._unanswered(ctx) as held:
            self.begin(ctx, request.timeout_s)
            plan = await self.plan(ctx, request)
            held.reservation = await self._reserve(ctx, request, plan)
            cached = await self._lookup(ctx, request, plan)
            if cached is None:
                try:
                    success = await self.engine.open_stream(ctx, request, plan)
                except ChainFailed as failure:
                    raise chain_error(failure, self._route(ctx)) from None
        reservation = held.reservation
        ctx.first_token_s = ctx.elapsed_s()
        if cached is not None:
            async for item in self._replay(ctx, cached, reservation):
                yield item
            return
        yield StreamStarted(f"sb-{ctx.id}", success.target.provider, success.target.model, plan.task_type,
                            int(time.time()))
        try:
            for event in success.first:
                if not isinstance(event, StreamEnd):
                    yield event
            async for event in self.engine.rest(ctx, plan, success):
                if not isinstance(event, StreamEnd):
                    yield event
        except StreamBroken as broken:
            error = broken_stream_error(broken, self._route(ctx))
            await self._settle(ctx, reservation, None, success.answer.chars)
            self.recorder.finish(ctx, 200, error=error, streamed_chars=success.answer.chars)
            yield StreamFailed(error)
            return
        except (GeneratorExit, asyncio.CancelledError):
            background(self._settle(ctx, reservation, None, success.answer.chars))
            self.recorder.finish(ctx, 499, error=GatewayError(499, "client_closed", "the client closed the stream",
                                                              route=self._route(ctx)),
                                 streamed_chars=success.answer.chars)
            raise
        response = self.response(ctx, plan, success)
        await self._store(ctx, request, plan, response)
        self._settle_later(ctx, reservation, response)
        self.recorder.finish(ctx, 200, response=response)
        yield StreamFinished(response)

    async def _replay(self, ctx: RequestContext, response: CompletionResponse,
                      reservation: Any) -> AsyncGenerator[StreamItem, None]:
        """A cache hit, streamed: the usual events, from the stored answer."""
        self._settle_later(ctx, reservation, response)
        self.recorder.finish(ctx, 200, response=response)
        yield StreamStarted(response.id, response.provider, response.model, response.task_type, int(time.time()))
        for piece in _pieces(response.text):
            yield TextDelta(piece)
        for index, call in enumerate(response.tool_calls or ()):
            yield ToolCallDelta(index, call.function.arguments, call.id, call.function.name)
        yield StreamFinished(response)

    # -- embeddings --------------------------------------------------------------------------------
    async def embed(self, ctx: RequestContext, request: EmbeddingRequest) -> EmbeddingResponse:
        async with self._unanswered(ctx) as held:
            self.begin(ctx, request.timeout_s)
            try:
                plan = self.router.embedding_plan(ctx, request)
            except RouteRefused as refused:
                raise route_error(refused) from None
            tokens = request.estimated_input_tokens()
            held.reservation = await self._reserve_tokens(ctx, plan, tokens, 0)
            try:
                embedded = await self.engine.embed(ctx, request, plan)
            except ChainFailed as failure:
                raise chain_error(failure, self._route(ctx)) from None
            target = embedded.target
            usage = embedded.result.usage or Usage(input_tokens=tokens)
            response = EmbeddingResponse(
                id=f"sb-{ctx.id}", provider=target.provider, model=target.model, vectors=embedded.result.vectors,
                usage=usage, cost_usd=cost_usd(self.config.price(target.provider, target.model), usage),
                latency_ms=round(ctx.elapsed_s() * 1000, 3), route=self._route(ctx))
        self._settle_later(ctx, held.reservation, response)
        self.recorder.finish(ctx, 200, response=response)
        return response

    # -- pieces --------------------------------------------------------------------------------------
    @asynccontextmanager
    async def _unanswered(self, ctx: RequestContext) -> AsyncIterator[_Held]:
        """The end of a request that ends without an answer: its reservation settled, and its record written
        (`client_closed` when the client went away first: the upstream call has stopped)."""
        held = _Held()
        try:
            yield held
        except GatewayError as error:
            await self._settle(ctx, held.reservation, None)
            self.recorder.finish(ctx, error.status, error=error)
            raise
        except asyncio.CancelledError:
            background(self._settle(ctx, held.reservation, None))
            self.recorder.finish(ctx, 499, error=client_closed(self._route(ctx)))
            raise

    def response(self, ctx: RequestContext, plan: Plan, success: Success) -> CompletionResponse:
        """The standard response for an answer: usage as reported (or estimated), priced, with its route."""
        answer, target, sent = success.answer, success.target, success.request
        usage = answer.usage
        estimated = usage is None
        if usage is None:
            usage = estimate_usage(sent.estimated_input_tokens(), answer.output_text())
        price = self.config.price(target.provider, target.model)
        self._price_hedges(ctx, sent)
        choices = answer.all_choices() if sent.n > 1 else None
        return CompletionResponse(
            id=f"sb-{ctx.id}",
            text=answer.text(),
            tool_calls=answer.tool_calls(),
            provider=target.provider,
            model=target.model,
            task_type=plan.task_type,
            finish_reason=answer.finish_reason(),
            usage=usage,
            cost_usd=cost_usd(price, usage),
            cost_estimated=estimated,
            latency_ms=round(ctx.elapsed_s() * 1000, 3),
            logprobs=answer.logprobs(),
            choices=choices,
            dropped=sent.dropped or None,
            route=self._route(ctx),
        )

    def _price_hedges(self, ctx: RequestContext, request: Request) -> None:
        """A hedge that lost still read the prompt: its estimated cost goes on its attempt record."""
        for index, attempt in enumerate(ctx.attempts):
            if attempt.outcome is Outcome.HEDGE_LOST and attempt.cost_usd is None:
                price = self.config.price(attempt.provider, attempt.model)
                cost = cost_usd(price, Usage(input_tokens=request.estimated_input_tokens()))
                ctx.attempts[index] = attempt.model_copy(update={"cost_usd": cost})

    @staticmethod
    def _route(ctx: RequestContext) -> Route:
        plan = ctx.plan
        return Route(reason=plan.reason if plan else "not routed", decision=plan.decision if plan else None,
                     attempts=list(ctx.attempts))

    async def _reserve(self, ctx: RequestContext, request: Request, plan: Plan) -> Any:
        if self.limiter is None or not self.limiter.applies(ctx):
            return None
        max_tokens = request.max_tokens or self.config.default_max_tokens
        return await self._reserve_tokens(ctx, plan, request.estimated_input_tokens(), max_tokens * request.n)

    async def _reserve_tokens(self, ctx: RequestContext, plan: Plan, input_tokens: int, output_tokens: int) -> Any:
        if self.limiter is None or not self.limiter.applies(ctx):
            return None
        usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
        most = max((cost_usd(self.config.price(t.provider, t.model), usage) for t in plan.targets), default=0.0)
        return await self.limiter.reserve(ctx, input_tokens + output_tokens, most)

    def _settle_later(self, ctx: RequestContext, reservation: Any, response: Any) -> None:
        """Settling an answered request's limits is off its latency path."""
        if reservation is not None:
            background(self._settle(ctx, reservation, response))

    async def _settle(self, ctx: RequestContext, reservation: Any, response: Any, streamed_chars: int = 0) -> None:
        if self.limiter is None or reservation is None:
            return
        if response is not None:
            tokens = response.usage.input_tokens + response.usage.output_tokens
            cost = response.cost_usd + sum(a.cost_usd or 0.0 for a in response.route.attempts)
        else:  # no answer: what a broken stream used is estimated from what it sent
            tokens = -(-streamed_chars // 4)
            cost = 0.0
        await self.limiter.settle(ctx, reservation, tokens, cost)

    async def _lookup(self, ctx: RequestContext, request: Request, plan: Plan) -> CompletionResponse | None:
        if self.cache is None:
            return None
        return await self.cache.lookup(ctx, request, plan)

    async def _store(self, ctx: RequestContext, request: Request, plan: Plan, response: CompletionResponse) -> None:
        if self.cache is not None:
            await self.cache.store(ctx, request, plan, response)


def _pieces(text: str, size: int = 24) -> list[str]:
    """A stored answer cut into stream-sized pieces for its replay."""
    return [text[i:i + size] for i in range(0, len(text), size)] or []

