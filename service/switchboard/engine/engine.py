"""The engine owns every attempt: the chain walk, capability and breaker checks, retries with backoff, the
first-token and stall timers, hedging, the stream's commit point and its failure after that point.

Every attempt, and every target skipped without one, becomes an `Attempt` on the request's context, however
the request ends. The engine never picks an HTTP status (`errors.chain_error` does) and never builds spans
(telemetry subscribes to its hooks).

One attempt runner (`_attempts`) serves chat and embeddings alike: the attempt budget, the hooks, the record,
the breaker's verdict, the retry with backoff and the Retry-After floor. One chain walk (`_walk`) serves both.

Operators' holds (`core.hold`) come before the breakers: a drained target is skipped as `drained`, a breaker
forced open as `circuit_open`, and one forced closed lets every call through. Two breakers guard each target:
its endpoint's (`resilience.endpoints`: connection-level failures, such as refused, DNS, TLS or a reset before
any byte, count there, so a dead host stops every model behind it at once) and its own (the other failures).

Timers. Every chat call upstream streams. Until its first token a call has `first_token_s`, but never more
than half the time left while other targets follow (so a target that accepts the connection and sends
nothing cannot eat the deadline); a target that timed out is not retried while others follow. After the first
token, `stall_s` bounds each silence, so a long answer that keeps coming is never cut, streamed or not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp

from switchboard.core.context import RequestContext
from switchboard.core.errors import ChainFailed, StreamBroken
from switchboard.core.events import StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from switchboard.core.hold import Holds
from switchboard.core.outcome import RETRYABLE, Outcome
from switchboard.core.plan import Plan
from switchboard.core.request import EmbeddingRequest, Request
from switchboard.core.response import Attempt
from switchboard.core.target import TargetRef
from switchboard.engine.answer import Answer
from switchboard.engine.hooks import Hooks
from switchboard.engine.targets import Targets
from switchboard.providers.base import Adapter, EmbeddingCall, Embeddings, ProviderCall, ProviderError
from switchboard.resilience.breaker import Breakers
from switchboard.resilience.endpoints import EndpointBreakers
from switchboard.resilience.retry import RetryPolicy
from switchboard.tasks import background

T = TypeVar("T")

# The outcomes worth a retry say something about the target's health: they count towards opening its breaker.
BREAKER_FAILURES = RETRYABLE


@dataclass(slots=True)
class Success:
    """An attempt past its commit point (a stream's first token), or, collected, at its end."""

    target: TargetRef
    request: Request  # as sent to the target (parameters it may not take are dropped)
    answer: Answer
    first: list[StreamEvent]  # the events up to and including the commit point
    events: AsyncGenerator[StreamEvent, None]  # the rest, straight from the adapter
    attempt: int  # its index in the context's attempts
    started: float


@dataclass(slots=True)
class Embedded:
    target: TargetRef
    result: Embeddings


@dataclass(slots=True)
class _Hedge:
    lost: bool = False  # set before cancelling the slower attempt of a hedged pair


@dataclass(slots=True)
class _Skip:
    """Targets skipped without a call; the soonest a skipped breaker will let a probe through."""

    retry_in: list[float] = field(default_factory=list)


def _commits(event: StreamEvent) -> bool:
    return (isinstance(event, TextDelta) and bool(event.text)) or isinstance(event, ToolCallDelta | StreamEnd)


class Engine:
    def __init__(
        self,
        adapters: Mapping[str, Adapter],
        breakers: Breakers,
        policy: RetryPolicy,
        targets: Targets,
        session: Callable[[], aiohttp.ClientSession],
        hooks: Hooks,
        default_max_tokens: int,
        attempt_s: float,
        holds: Holds | None = None,
        endpoints: EndpointBreakers | None = None,
    ) -> None:
        self.adapters = adapters
        self.breakers = breakers
        self.targets = targets
        self.holds = holds
        self.endpoints = endpoints
        self._policy = policy
        self._session = session
        self._hooks = hooks
        self._default_max_tokens = default_max_tokens
        self._attempt_s = attempt_s

    # -- chat -------------------------------------------------------------------------------------
    async def complete(self, ctx: RequestContext, request: Request, plan: Plan) -> Success:
        """Walk the chain until one target's whole answer is in. A break mid-answer still fails over."""
        return await self._chat(ctx, request, plan, collect=True)

    async def open_stream(self, ctx: RequestContext, request: Request, plan: Plan) -> Success:
        """Walk the chain until one target's answer reaches its first token: the commit point."""
        return await self._chat(ctx, request, plan, collect=False)

    async def rest(self, ctx: RequestContext, plan: Plan, success: Success) -> AsyncGenerator[StreamEvent, None]:
        """The committed stream after its first events, under the stall timer. A failure here raises
        `StreamBroken` after recording how far the attempt got; it is never a clean end."""
        try:
            async for event in self._events(ctx, plan, success):
                yield event
        except ProviderError as failure:
            self._amend(ctx, success, failure.outcome, failure.detail)
            await self._after_failure(success.target, failure)
            raise StreamBroken(success.target.key, failure.detail) from None
        except (GeneratorExit, asyncio.CancelledError):
            self._amend(ctx, success, Outcome.CLIENT_CLOSED, "the client went away")
            raise

    async def _events(self, ctx: RequestContext, plan: Plan, success: Success) -> AsyncGenerator[StreamEvent, None]:
        """The rest of a committed attempt's events, each within `stall_s` (and the deadline); the upstream
        connection is closed however this ends. Raises `ProviderError` for a stall or a stream cut short."""
        events, answer = success.events, success.answer
        silence = _Silence(plan.stall_s, ctx.left())
        try:
            while not answer.ended:
                silence.waiting()
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    raise ProviderError(Outcome.CONNECT_ERROR, "stream ended without an end marker",
                                        status=200) from None
                except asyncio.CancelledError:
                    if not silence.expired():
                        raise
                    budget = silence.budget
                    raise ProviderError(Outcome.DEADLINE_EXCEEDED if silence.by_deadline else Outcome.TIMEOUT,
                                        f"stalled after {answer.chars} characters: no chunk within "
                                        f"{budget:.2f}s") from None
                silence.arrived()
                answer.add(event)
                if ctx.progress is not None:
                    ctx.progress(answer.pieces)
                yield event
        finally:
            silence.stop()
            await events.aclose()  # closes the upstream connection if it is still open

    async def _collect(self, ctx: RequestContext, plan: Plan, success: Success) -> None:
        """Read a committed attempt to its end (an unstreamed request)."""
        async for _ in self._events(ctx, plan, success):
            pass

    @staticmethod
    def _amend(ctx: RequestContext, success: Success, outcome: Outcome, detail: str) -> None:
        attempt = ctx.attempts[success.attempt]
        ctx.attempts[success.attempt] = attempt.model_copy(update={
            "outcome": outcome, "detail": f"after {success.answer.chars} characters: {detail}"})

    async def _chat(self, ctx: RequestContext, request: Request, plan: Plan, collect: bool) -> Success:
        needs = request.needs()

        async def prepare(target: TargetRef, skip: _Skip) -> ProviderCall | None:
            return await self._chat_call(ctx, target, request, needs, skip)

        async def run(target: TargetRef, call: ProviderCall, index: int, skip: _Skip) -> tuple[Success | None, int]:
            last = index == len(plan.targets)
            if plan.hedge_after_s is not None and not last:
                return await self._hedged(ctx, plan, target, call, index, needs, skip, collect)
            return await self._try_chat(ctx, plan, target, call, last, collect), index

        return await self._walk(ctx, plan, prepare, run)

    async def _walk(self, ctx: RequestContext, plan: Plan,
                    prepare: Callable[[TargetRef, _Skip], Awaitable[Any]],
                    run: Callable[[TargetRef, Any, int, _Skip], Awaitable[tuple[T | None, int]]]) -> T:
        """The chain walk: each target in turn is prepared (or skipped, recorded) and run, until one answers,
        the deadline passes, or the chain ends (`ChainFailed`)."""
        skip = _Skip()
        targets = plan.targets
        index = 0
        while index < len(targets):
            target = targets[index]
            if ctx.left() <= 0:
                self._skipped(ctx, target, Outcome.DEADLINE_EXCEEDED, "no time left")
                break
            call = await prepare(target, skip)
            index += 1
            if call is None:
                continue
            result, index = await run(target, call, index, skip)
            if result is not None:
                return result
            if ctx.attempts and ctx.attempts[-1].outcome is Outcome.DEADLINE_EXCEEDED:
                break
        raise ChainFailed(ctx.attempts, min(skip.retry_in) if skip.retry_in else None)

    async def _chat_call(self, ctx: RequestContext, target: TargetRef, request: Request, needs: frozenset[Any],
                         skip: _Skip) -> ProviderCall | None:
        """The call for one target, or None (recorded) when the target is skipped without one."""
        adapter = self.adapters[target.provider]
        spec = self.targets.spec(target)
        max_tokens = request.max_tokens or self._default_max_tokens
        if spec.max_output_tokens is not None:
            max_tokens = min(max_tokens, spec.max_output_tokens)
        fit = self.targets.fit(target, request, needs, max_tokens)
        missing = [*fit.missing, *adapter.cannot_serve(request)]
        if missing:
            self._skipped(ctx, target, Outcome.UNSUPPORTED, f"cannot serve {', '.join(missing)}", missing)
            return None
        if not await self._admit(ctx, target, adapter, skip):
            return None
        sent = request.without(fit.drop) if fit.drop else request
        return adapter.prepared(ProviderCall(target.model, sent, max_tokens))  # what it cannot say: dropped, listed

    async def _admit(self, ctx: RequestContext, target: TargetRef, adapter: Adapter, skip: _Skip) -> bool:
        if adapter.base_url is None:
            self._skipped(ctx, target, Outcome.UNAVAILABLE, "no base URL")
            return False
        if not adapter.usable:
            self._skipped(ctx, target, Outcome.SKIPPED_NO_KEY, "no API key configured")
            return False
        hold = self.holds.of(target) if self.holds is not None else None
        if hold is not None and hold.action == "drain":
            self._skipped(ctx, target, Outcome.DRAINED, hold.describe())
            return False
        if hold is not None and hold.action == "force_open":
            self._skipped(ctx, target, Outcome.CIRCUIT_OPEN, hold.describe())
            return False
        refused = await self._gate(target, adapter)
        if refused is not None:
            skip.retry_in.append(refused[0])
            self._skipped(ctx, target, Outcome.CIRCUIT_OPEN, refused[1])
            return False
        return True

    async def _gate(self, target: TargetRef, adapter: Adapter) -> tuple[float, str] | None:
        """The breakers' verdict, the endpoint's then the target's: None to go, else (seconds until a probe may
        go, why). An operator's force closed lets the call through whatever they say."""
        if self.holds is not None:
            hold = self.holds.of(target)
            if hold is not None and hold.action == "force_closed":
                return None
        if self.endpoints is not None:
            retry_in = await self.endpoints.admit(adapter.host)
            if retry_in is not None:
                return retry_in, (f"endpoint {adapter.host} unreachable: its breaker is open; a probe may go in "
                                  f"{retry_in:.1f}s")
        retry_in = await self.breakers.admit(target.key)
        if retry_in is not None:
            if self.endpoints is not None:
                await self.endpoints.release(adapter.host)  # a probe of the endpoint taken above goes unused
            return retry_in, f"breaker open; a probe may go in {retry_in:.1f}s"
        return None

    async def _hedged(
        self, ctx: RequestContext, plan: Plan, target: TargetRef, call: ProviderCall, index: int,
        needs: frozenset[Any], skip: _Skip, collect: bool,
    ) -> tuple[Success | None, int]:
        """Run `target`; if it has no first token after `hedge_after_s`, start the next usable target too.
        The first to produce a token wins; the other is cancelled and recorded as `hedge_lost`."""
        assert plan.hedge_after_s is not None
        flags = [_Hedge()]
        tasks = [asyncio.ensure_future(self._try_chat(ctx, plan, target, call, False, False, flags[0]))]
        try:
            done, _ = await asyncio.wait(tasks, timeout=plan.hedge_after_s)
            if not done:
                while index < len(plan.targets):
                    second = plan.targets[index]
                    index += 1
                    second_call = await self._chat_call(ctx, second, call.request, needs, skip)
                    if second_call is not None:
                        flags.append(_Hedge())
                        tasks.append(asyncio.ensure_future(self._try_chat(
                            ctx, plan, second, second_call, index == len(plan.targets), False, flags[1], True)))
                        break
            winner: Success | None = None
            pending = set(tasks)
            while pending and winner is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                winner = next((task.result() for task in done if task.result() is not None), None)
            for task, flag in zip(tasks, flags, strict=True):
                if not task.done():
                    flag.lost = True
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        if winner is not None and collect:
            try:
                await self._collect(ctx, plan, winner)
            except ProviderError as failure:
                self._amend(ctx, winner, failure.outcome, failure.detail)
                await self._after_failure(winner.target, failure)
                return None, index
        return winner, index

    async def _try_chat(
        self, ctx: RequestContext, plan: Plan, target: TargetRef, call: ProviderCall, last: bool, collect: bool,
        hedge: _Hedge | None = None, hedged: bool = False,
    ) -> Success | None:
        """Chat attempts on one target: each up to its first token (and, collected, to its end)."""
        adapter = self.adapters[target.provider]

        async def once(left: float) -> Success:
            budget = min(plan.first_token_s, max(left if last else left / 2, 0.0))
            success = await self._open(ctx, plan, target, adapter, call, budget, left)
            if collect:
                await self._collect(ctx, plan, success)
            return success

        done = await self._attempts(ctx, target, adapter, "chat", once, last, hedge, hedged)
        if done is None:
            return None
        success, index, started = done
        success.attempt, success.started = index, started
        return success

    async def _attempts(
        self, ctx: RequestContext, target: TargetRef, adapter: Adapter, operation: str,
        once: Callable[[float], Awaitable[T]], last: bool, hedge: _Hedge | None = None, hedged: bool = False,
    ) -> tuple[T, int, float] | None:
        """The one attempt runner: attempts on one target, with retries, until one succeeds (its result, the
        index of its attempt record, its start) or the target is given up (None). `once(left)` makes one
        attempt within the time left and raises `ProviderError` for a failure."""
        key = target.key
        wait_s = 0.0
        retries = 0
        while True:
            started = time.perf_counter()
            token = self._hooks.attempt_started(ctx, target, adapter.kind, operation)
            try:
                result = await once(ctx.left())
            except ProviderError as error:
                failure = error
            except BaseException:
                # Cancelled: the client went away, or the other attempt of a hedge answered first. This says
                # nothing of the target; released in the background, since this task may not await any more.
                background(self.breakers.release(key))
                if self.endpoints is not None:
                    background(self.endpoints.release(adapter.host))
                lost = hedge is not None and hedge.lost
                self._record(ctx, Attempt(provider=target.provider, model=target.model,
                                          outcome=Outcome.HEDGE_LOST if lost else Outcome.CLIENT_CLOSED,
                                          wait_ms=round(wait_s * 1000, 3), latency_ms=_ms(started),
                                          detail="cancelled: the hedged attempt answered first" if lost
                                          else "cancelled", hedged=hedged), token)
                raise
            else:
                await self.breakers.record_success(key)
                if self.endpoints is not None:
                    await self.endpoints.record_answer(adapter.host)
                index = self._record(ctx, Attempt(provider=target.provider, model=target.model,
                                                  outcome=Outcome.OK, status=200, wait_ms=round(wait_s * 1000, 3),
                                                  latency_ms=_ms(started), hedged=hedged), token)
                return result, index, started
            self._record(ctx, Attempt(provider=target.provider, model=target.model, outcome=failure.outcome,
                                      status=failure.status, wait_ms=round(wait_s * 1000, 3),
                                      latency_ms=_ms(started), detail=failure.detail, hedged=hedged,
                                      host=failure.host), token)
            if failure.outcome is Outcome.DEADLINE_EXCEEDED:
                await self.breakers.release(key)
                if self.endpoints is not None:
                    await self.endpoints.release(adapter.host)
                return None
            await self._after_failure(target, failure)
            if failure.outcome is Outcome.TIMEOUT and not last:
                return None  # it sent nothing in time: the next target is a better bet than another wait
            if not failure.retryable or retries >= self._policy.max_retries:
                return None
            if await self._gate(target, adapter) is not None:
                return None
            wait_s = self._policy.delay(retries, failure.retry_after_s)
            left = ctx.left()
            if wait_s >= left:
                self._amend_last(ctx, f"{failure.detail}; wait {wait_s:.2f}s exceeds {left:.2f}s left: failing over")
                await self.breakers.release(key)
                if self.endpoints is not None:
                    await self.endpoints.release(adapter.host)
                return None
            await asyncio.sleep(wait_s)
            retries += 1

    async def _after_failure(self, target: TargetRef, failure: ProviderError) -> None:
        """A failed attempt's verdicts: a connection-level failure is the endpoint's (the target's breaker is
        only released); any other counts for the target when it says something of its health, and an HTTP
        status shows the endpoint reachable."""
        host = self.adapters[target.provider].host
        if failure.host is not None:
            await self.breakers.release(target.key)
            if self.endpoints is not None:
                await self.endpoints.record_failure(failure.host)
            return
        if failure.outcome in BREAKER_FAILURES:
            await self.breakers.record_failure(target.key)
        else:
            await self.breakers.release(target.key)
        if self.endpoints is not None:
            await (self.endpoints.record_answer(host) if failure.status is not None else self.endpoints.release(host))

    async def _open(self, ctx: RequestContext, plan: Plan, target: TargetRef, adapter: Adapter,
                    call: ProviderCall, budget: float, left: float) -> Success:
        """One attempt up to its first token, within `budget`."""
        events = adapter.stream(self._session(), call)
        answer = Answer()
        first: list[StreamEvent] = []
        try:
            async with _within(budget, left, "no first token"):
                async for event in events:
                    answer.add(event)
                    first.append(event)
                    if _commits(event):
                        break
                else:
                    raise ProviderError(Outcome.CONNECT_ERROR, "stream ended without an end marker", status=200)
        except BaseException:
            await events.aclose()
            raise
        return Success(target, call.request, answer, first, events, -1, 0.0)

    # -- embeddings --------------------------------------------------------------------------------
    async def embed(self, ctx: RequestContext, request: EmbeddingRequest, plan: Plan) -> Embedded:
        """Walk an embedding route (every target serves the same model), each call within `attempt_s`."""

        async def prepare(target: TargetRef, skip: _Skip) -> EmbeddingCall | None:
            adapter = self.adapters[target.provider]
            return EmbeddingCall(target.model, request) if await self._admit(ctx, target, adapter, skip) else None

        async def run(target: TargetRef, call: EmbeddingCall, index: int,
                      skip: _Skip) -> tuple[Embedded | None, int]:
            adapter = self.adapters[target.provider]

            async def once(left: float) -> Embeddings:
                async with _within(min(self._attempt_s, max(left, 0.0)), left, "no answer"):
                    return await adapter.embed(self._session(), call)

            done = await self._attempts(ctx, target, adapter, "embeddings", once, index == len(plan.targets))
            return (Embedded(target, done[0]) if done is not None else None), index

        return await self._walk(ctx, plan, prepare, run)

    # -- records ----------------------------------------------------------------------------------
    def _record(self, ctx: RequestContext, attempt: Attempt, token: Any) -> int:
        """Record an attempt on the request; its index among the request's attempts."""
        ctx.attempts.append(attempt)
        self._hooks.attempt_ended(ctx, attempt, token)
        return len(ctx.attempts) - 1

    def _skipped(self, ctx: RequestContext, target: TargetRef, outcome: Outcome, detail: str,
                 missing: list[str] | None = None) -> None:
        self._record(ctx, Attempt(provider=target.provider, model=target.model, outcome=outcome, detail=detail,
                                  missing=missing), None)

    @staticmethod
    def _amend_last(ctx: RequestContext, detail: str) -> None:
        ctx.attempts[-1] = ctx.attempts[-1].model_copy(update={"detail": detail})


class _Silence:
    """The stall timer of a committed attempt: no silence longer than `stall_s` between two events while the
    engine waits for the next one, and none past the deadline. One timer per attempt, not one per event: an
    event only stamps the time, and the timer, when it fires before the silence is over, sets itself again for
    when it would be (rescheduling per event cost a timer handle each, about 2% of a request's CPU). It cancels
    the task only while the engine waits on the upstream, never while the stream's consumer runs."""

    __slots__ = ("_loop", "_task", "_stall", "_end", "_since", "_waiting", "_expired", "_handle", "budget",
                 "by_deadline")

    def __init__(self, stall_s: float, left: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        now = self._loop.time()
        self._stall = stall_s
        self._end = now + max(left, 0.0)  # the request's deadline, on the loop's clock
        self._since = now
        self._waiting = False
        self._expired = False
        self.budget = min(stall_s, max(left, 0.0))
        self.by_deadline = stall_s >= left
        self._handle: asyncio.TimerHandle | None = self._loop.call_at(min(now + stall_s, self._end), self._check)

    def waiting(self) -> None:
        if not self._waiting:
            self._waiting = True
            self._since = self._loop.time()

    def arrived(self) -> None:
        self._waiting = False

    def _check(self) -> None:
        now = self._loop.time()
        due = min(self._since + self._stall, self._end)
        if self._waiting and now >= due and self._task is not None:
            self._expired = True
            self.budget = round(max(min(self._stall, self._end - self._since), 0.0), 3)
            self.by_deadline = self._end <= self._since + self._stall
            self._handle = None
            self._task.cancel()
            return
        self._handle = self._loop.call_at(max(due, now + 0.001) if self._waiting else now + self._stall,
                                          self._check)

    def expired(self) -> bool:
        """The cancellation came from this timer (taken back: the task goes on to fail over)."""
        if self._expired and self._task is not None:
            self._task.uncancel()
            return True
        return False

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


@asynccontextmanager
async def _within(budget: float, left: float, what: str) -> AsyncIterator[None]:
    """`asyncio.timeout(budget)` whose expiry becomes a `ProviderError`: `deadline_exceeded` when the budget
    was all the request had left, else `timeout`."""
    try:
        async with asyncio.timeout(budget):
            yield
    except TimeoutError:
        cut = budget >= left
        raise ProviderError(Outcome.DEADLINE_EXCEEDED if cut else Outcome.TIMEOUT,
                            f"{what} within {budget:.2f}s" + (" (request deadline)" if cut else "")) from None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
