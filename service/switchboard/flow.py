"""One request from its decision to its record, whichever front door (or the library) it came through:

    limits → decide → cache → engine → response (priced) → cache store → settle limits → record

The front doors (http/) parse and encode around this; the library facade and the pipeline runner call it
directly. The flow owns the records: it starts every request's recorders and ends them exactly once, however
the request ends (an answer, an error, a stream cut short, a client gone); recorders fan out, so a second one
adds to the first. A request that ends early is still charged for what it consumed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from switchboard.cache.response_cache import Lookup, replay
from switchboard.config import GatewayConfig
from switchboard.core.context import RequestContext
from switchboard.core.ending import Ended
from switchboard.core.errors import (
    ChainFailed,
    GatewayError,
    RouteRefused,
    StreamBroken,
    broken_stream_error,
    chain_error,
    client_closed,
    route_error,
)
from switchboard.core.events import StreamEnd, StreamFailed, StreamFinished, StreamItem, StreamStarted
from switchboard.core.outcome import Outcome
from switchboard.core.plan import Plan
from switchboard.core.request import EmbeddingRequest, Request
from switchboard.core.response import (
    CompletionResponse,
    DecideResponse,
    EmbeddingResponse,
    Route,
    Usage,
)
from switchboard.engine.engine import Engine, Success
from switchboard.pricing import cost_usd, estimate_usage
from switchboard.routing.router import Router
from switchboard.tasks import background

CACHE_HEADER = "x-switchboard-cache"


@dataclass(frozen=True, slots=True)
class Decide:
    """A request to decide only (`POST /decide`): the dry run."""

    request: Request


class Recorder(Protocol):
    """A subscriber to every request's start and end (telemetry.record: the log line, metrics and span)."""

    def started(self, ctx: RequestContext) -> None: ...

    def finished(self, ctx: RequestContext, ended: Ended) -> None: ...


class Limiter(Protocol):
    """Rate limits and budgets (callers.limits): reserve before the call, settle after it."""

    def applies(self, ctx: RequestContext) -> bool: ...

    async def reserve(self, ctx: RequestContext, tokens: int, max_cost_usd: float) -> Any: ...

    async def settle(self, ctx: RequestContext, reservation: Any, tokens: int, cost_usd: float) -> None: ...

    def held(self, ctx: RequestContext, tokens: int, cost_usd: float) -> Any: ...


class ResponseCache(Protocol):
    """The response cache (cache/): a hit is a finished response, marked cached."""

    async def lookup(self, ctx: RequestContext, request: Request, plan: Plan) -> Lookup: ...

    async def store(self, ctx: RequestContext, request: Request, plan: Plan, lookup: Lookup,
                    response: CompletionResponse) -> None: ...


@dataclass(slots=True)
class _Held:
    """What a request holds while it runs: its limits reservation and its cache lookup."""

    reservation: Any = None
    cache: str | None = None


class Flow:
    def __init__(self, config: GatewayConfig, router: Router, engine: Engine, recorders: Sequence[Recorder],
                 cache: ResponseCache | None = None, limiter: Limiter | None = None) -> None:
        self.config = config
        self.router = router
        self.engine = engine
        self.recorders = list(recorders)
        self.cache = cache
        self.limiter = limiter

    def subscribe(self, recorder: Recorder) -> None:
        """Add a recorder (the console's ring buffer, say): every later request reaches it too."""
        self.recorders.append(recorder)

    # -- records ---------------------------------------------------------------------------------------
    def _started(self, ctx: RequestContext, metadata: dict[str, Any] | None) -> None:
        ctx.metadata = metadata
        for recorder in self.recorders:
            recorder.started(ctx)

    def _finished(self, ctx: RequestContext, ended: Ended) -> None:
        for recorder in self.recorders:
            recorder.finished(ctx, ended)

    def refused(self, ctx: RequestContext, error: GatewayError) -> None:
        """A request refused before it could run (an unreadable body, a field out of range): one record."""
        self._started(ctx, None)
        self._finished(ctx, Ended(error.status, error=error))

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
            plan = await self.router.decide(ctx, request)
        except RouteRefused as refused:
            raise route_error(refused) from None
        ctx.plan = plan
        return plan

    async def decide(self, ctx: RequestContext, request: Request) -> DecideResponse:
        """The dry run: the decision, without calling any provider (and without a record)."""
        plan = await self.plan(ctx, request)
        return DecideResponse(task_type=plan.task_type, rule=plan.decision.rule, reason=plan.reason,
                              chain=[t.key for t in plan.targets], decision=plan.decision)

    # -- complete ----------------------------------------------------------------------------------
    async def complete(self, ctx: RequestContext, request: Request) -> CompletionResponse:
        """Run one request to its whole answer, and record it, whatever the result."""
        self._started(ctx, request.metadata)
        async with self._unanswered(ctx, request) as held:
            self.begin(ctx, request.timeout_s)
            plan = await self.plan(ctx, request)
            held.reservation = await self._reserve(ctx, request, plan)
            lookup = await self._lookup(ctx, request, plan, held)
            if lookup is not None and lookup.response is not None:
                response = lookup.response
            else:
                try:
                    success = await self.engine.complete(ctx, request, plan)
                except ChainFailed as failure:
                    raise chain_error(failure, self._route(ctx)) from None
                response = self.response(ctx, plan, success)
                await self._store(ctx, request, plan, lookup, response)
        self._settle_later(ctx, held.reservation, response)
        self._finished(ctx, Ended(200, response, cache=held.cache, request=request))
        return response

    # -- stream ------------------------------------------------------------------------------------
    async def stream(self, ctx: RequestContext, request: Request) -> AsyncGenerator[StreamItem, None]:
        """Nothing is yielded before the first content token; a failure before it raises `GatewayError` from
        the first iteration. After it, a failure ends the stream with `StreamFailed`."""
        self._started(ctx, request.metadata)
        async with self._unanswered(ctx, request) as held:
            self.begin(ctx, request.timeout_s)
            plan = await self.plan(ctx, request)
            held.reservation = await self._reserve(ctx, request, plan)
            lookup = await self._lookup(ctx, request, plan, held)
            if lookup is None or lookup.response is None:
                try:
                    success = await self.engine.open_stream(ctx, request, plan)
                except ChainFailed as failure:
                    raise chain_error(failure, self._route(ctx)) from None
        first_token_s = ctx.elapsed_s()
        if lookup is not None and lookup.response is not None:
            async for item in self._replay(ctx, request, lookup.response, held):
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
            partial = self.response(ctx, plan, success, finish_reason="error")
            await self._settle(ctx, held.reservation, partial)
            self._finished(ctx, Ended(200, partial, error, held.cache, first_token_s, success.answer.chars, request))
            yield StreamFailed(error)
            return
        except (GeneratorExit, asyncio.CancelledError):
            partial = self.response(ctx, plan, success, finish_reason="error")
            background(self._settle(ctx, held.reservation, partial))
            error = GatewayError(499, "client_closed", "the client closed the stream", route=partial.route)
            self._finished(ctx, Ended(499, partial, error, held.cache, first_token_s, success.answer.chars, request))
            raise
        response = self.response(ctx, plan, success)
        await self._store(ctx, request, plan, lookup, response)
        self._settle_later(ctx, held.reservation, response)
        self._finished(ctx, Ended(200, response, cache=held.cache, first_token_s=first_token_s, request=request))
        yield StreamFinished(response)

    async def _replay(self, ctx: RequestContext, request: Request, response: CompletionResponse,
                      held: _Held) -> AsyncGenerator[StreamItem, None]:
        """A cache hit, streamed: the usual events, from the stored answer."""
        self._settle_later(ctx, held.reservation, response)
        self._finished(ctx, Ended(200, response, cache=held.cache, first_token_s=ctx.elapsed_s(), request=request))
        yield StreamStarted(response.id, response.provider, response.model, response.task_type, int(time.time()))
        for event in replay(response):
            yield event
        yield StreamFinished(response)

    # -- embeddings --------------------------------------------------------------------------------
    async def embed(self, ctx: RequestContext, request: EmbeddingRequest) -> EmbeddingResponse:
        self._started(ctx, None)
        async with self._unanswered(ctx, request) as held:
            self.begin(ctx, request.timeout_s)
            try:
                plan = self.router.embedding_plan(ctx, request)
            except RouteRefused as refused:
                raise route_error(refused) from None
            ctx.plan = plan
            tokens = request.estimated_input_tokens()
            held.reservation = await self._reserve_tokens(ctx, plan, request.input_token_bound(), 0)
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
        self._finished(ctx, Ended(200, response, request=request))
        return response

    # -- pieces --------------------------------------------------------------------------------------
    @asynccontextmanager
    async def _unanswered(self, ctx: RequestContext, request: Request | EmbeddingRequest) -> AsyncIterator[_Held]:
        """The end of a request that ends without an answer: its reservation settled (calls that went out
        and were cut are charged for the prompt they read), and its record written (`client_closed` when the
        client went away first: the upstream call has stopped)."""
        held = _Held()
        try:
            yield held
        except GatewayError as error:
            await self._settle(ctx, held.reservation, None, self._abandoned_cost(ctx, request))
            self._finished(ctx, Ended(error.status, error=error, cache=held.cache, request=request))
            raise
        except asyncio.CancelledError:
            background(self._settle(ctx, held.reservation, None, self._abandoned_cost(ctx, request)))
            self._finished(ctx, Ended(499, error=client_closed(self._route(ctx)), cache=held.cache, request=request))
            raise

    def response(self, ctx: RequestContext, plan: Plan, success: Success,
                 finish_reason: str | None = None) -> CompletionResponse:
        """The standard response for an answer (or, with `finish_reason` "error", for the part of one a stream
        delivered before it was cut): usage as reported (or estimated from the text), priced, with its route."""
        answer, target, sent = success.answer, success.target, success.request
        usage = answer.usage
        estimated = usage is None
        if usage is None:
            usage = estimate_usage(sent.estimated_input_tokens(), answer.output_text())
        price = self.config.price(target.provider, target.model)
        self._price_abandoned(ctx, sent)
        choices = answer.all_choices() if sent.n > 1 else None
        return CompletionResponse(
            id=f"sb-{ctx.id}",
            text=answer.text(),
            tool_calls=answer.tool_calls(),
            provider=target.provider,
            model=target.model,
            task_type=plan.task_type,
            finish_reason=finish_reason or answer.finish_reason(),  # type: ignore[arg-type]
            usage=usage,
            cost_usd=cost_usd(price, usage),
            cost_estimated=estimated,
            latency_ms=round(ctx.elapsed_s() * 1000, 3),
            logprobs=answer.logprobs(),
            choices=choices,
            dropped=sent.dropped or None,
            route=self._route(ctx),
        )

    def _price_abandoned(self, ctx: RequestContext, request: Request | EmbeddingRequest) -> None:
        """An attempt that went out and was cancelled (a hedge that lost, a client that left) still read the
        prompt: its estimated input cost goes on its attempt record."""
        for index, attempt in enumerate(ctx.attempts):
            if attempt.outcome in (Outcome.HEDGE_LOST, Outcome.CLIENT_CLOSED) and attempt.cost_usd is None:
                price = self.config.price(attempt.provider, attempt.model)
                cost = cost_usd(price, Usage(input_tokens=request.estimated_input_tokens()))
                ctx.attempts[index] = attempt.model_copy(update={"cost_usd": cost})

    def _abandoned_cost(self, ctx: RequestContext, request: Request | EmbeddingRequest) -> float:
        self._price_abandoned(ctx, request)
        return sum(a.cost_usd or 0.0 for a in ctx.attempts)

    @staticmethod
    def _route(ctx: RequestContext) -> Route:
        plan = ctx.plan
        return Route(reason=plan.reason if plan else "not routed", decision=plan.decision if plan else None,
                     attempts=list(ctx.attempts))

    async def _reserve(self, ctx: RequestContext, request: Request, plan: Plan) -> Any:
        if self.limiter is None or not self.limiter.applies(ctx):
            return None
        max_tokens = request.max_tokens or self.config.default_max_tokens
        return await self._reserve_tokens(ctx, plan, request.input_token_bound(), max_tokens * request.n)

    async def _reserve_tokens(self, ctx: RequestContext, plan: Plan, input_tokens: int, output_tokens: int) -> Any:
        if self.limiter is None or not self.limiter.applies(ctx):
            return None
        return await self.limiter.reserve(ctx, input_tokens + output_tokens,
                                          self.most_cost(plan, input_tokens, output_tokens))

    def most_cost(self, plan: Plan, input_tokens: int, output_tokens: int) -> float:
        """The most `input_tokens` in and `output_tokens` out can cost on any target of the plan."""
        usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
        return max((cost_usd(self.config.price(t.provider, t.model), usage) for t in plan.targets), default=0.0)

    async def hold(self, ctx: RequestContext, tokens: int, cost_usd: float) -> Any:
        """A reservation made outside a request (a durable job, when it is queued): counted as a request against
        the caller's rpm, holding `tokens` and `cost_usd` until `release`. Refusals raise, as for a request."""
        if self.limiter is None or not self.limiter.applies(ctx):
            return None
        return await self.limiter.reserve(ctx, tokens, cost_usd)

    async def release(self, ctx: RequestContext, reservation: Any) -> None:
        """Give back a hold (the job's steps then reserve and settle as requests of their own)."""
        if self.limiter is not None and reservation is not None:
            await self.limiter.settle(ctx, reservation, 0, 0.0)

    async def release_held(self, ctx: RequestContext, tokens: int, cost_usd: float) -> None:
        """Give back a hold another process made (a job's, held when it was queued)."""
        if self.limiter is not None and self.limiter.applies(ctx):
            await self.release(ctx, self.limiter.held(ctx, tokens, cost_usd))

    def _settle_later(self, ctx: RequestContext, reservation: Any, response: Any) -> None:
        """Settling an answered request's limits is off its latency path."""
        if reservation is not None:
            background(self._settle(ctx, reservation, response))

    async def _settle(self, ctx: RequestContext, reservation: Any, response: Any, extra_usd: float = 0.0) -> None:
        if self.limiter is None or reservation is None:
            return
        if response is not None:
            tokens = response.usage.input_tokens + response.usage.output_tokens
            cost = response.cost_usd + sum(a.cost_usd or 0.0 for a in response.route.attempts)
        else:
            tokens, cost = 0, extra_usd
        await self.limiter.settle(ctx, reservation, tokens, cost)

    async def _lookup(self, ctx: RequestContext, request: Request, plan: Plan, held: _Held) -> Lookup | None:
        if self.cache is None:
            return None
        lookup = await self.cache.lookup(ctx, request, plan)
        held.cache = lookup.status
        ctx.headers[CACHE_HEADER] = lookup.status
        return lookup

    async def _store(self, ctx: RequestContext, request: Request, plan: Plan, lookup: Lookup | None,
                     response: CompletionResponse) -> None:
        if self.cache is not None and lookup is not None:
            await self.cache.store(ctx, request, plan, lookup, response)
