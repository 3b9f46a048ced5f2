"""The executor acts: it walks a Plan's targets with breaker checks, retries and backoff, under one deadline.

Every try, and every target skipped without a try, becomes an `Attempt` record.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from switchboard.config import TargetRef
from switchboard.providers import Adapter, ProviderCall, ProviderError, StreamEnd, StreamEvent
from switchboard.providers.base import RETRYABLE
from switchboard.resilience.breaker import Breakers
from switchboard.resilience.retry import RetryPolicy
from switchboard.router import Plan
from switchboard.schema import NOT_CALLED, Attempt, Outcome
from switchboard.telemetry import tracing

# The outcomes worth a retry are the ones that say something about the target's health: they count
# towards opening its breaker.
BREAKER_FAILURES = RETRYABLE

T = TypeVar("T")
# One try against one target: an adapter's `complete`, or a stream opened up to its first token.
AttemptFn = Callable[[Adapter, ProviderCall], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class Execution(Generic[T]):
    result: T
    target: TargetRef
    attempts: list[Attempt]


@dataclass(frozen=True, slots=True)
class OpenStream:
    """A stream past its commit point: `first` is the first content (or an immediate clean end)."""

    first: StreamEvent
    rest: AsyncGenerator[StreamEvent, None]


async def open_stream(events: AsyncGenerator[StreamEvent, None]) -> OpenStream:
    """Read a stream up to its first content token. Until then a failure may still be retried unseen."""
    try:
        async for event in events:
            if isinstance(event, StreamEnd) or event.text:
                return OpenStream(event, events)
    except BaseException:
        await events.aclose()
        raise
    raise ProviderError(Outcome.CONNECT_ERROR, "stream ended without an end marker", status=200)


class AllTargetsFailed(Exception):
    """No target answered. `status` is the truthful HTTP status: 504, 503 or 502."""

    def __init__(self, attempts: list[Attempt]) -> None:
        self.attempts = attempts
        outcomes = [a.outcome for a in attempts]
        if Outcome.DEADLINE_EXCEEDED in outcomes:
            self.status, self.code = 504, "deadline_exceeded"
            message = "the request's deadline passed before any target answered"
        elif all(outcome in NOT_CALLED for outcome in outcomes):
            self.status, self.code = 503, "no_target_available"
            message = "no target could be called (no key, open circuit or unavailable)"
        else:
            self.status, self.code = 502, "all_targets_failed"
            message = "every target in the route failed"
        super().__init__(f"{message}: " + ", ".join(f"{a.provider}:{a.model} {a.outcome}" for a in attempts))


class Executor:
    def __init__(self, adapters: Mapping[str, Adapter], breakers: Breakers, policy: RetryPolicy) -> None:
        self._adapters = adapters
        self._breakers = breakers
        self._policy = policy

    async def run(
        self,
        plan: Plan,
        call: ProviderCall,
        deadline: float,
        attempt: AttemptFn[T],
        attempt_timeout_s: float,
        trace: Context | None = None,
        record: list[Attempt] | None = None,
    ) -> Execution[T]:
        """Walk the plan until one attempt succeeds. `deadline` is on the `time.monotonic()` clock.

        `record`, when given, receives the attempts however the run ends, cancellation included."""
        attempts = _TracedAttempts(trace)
        try:
            return await self._walk(plan, call, deadline, attempt, attempt_timeout_s, attempts)
        finally:
            if record is not None:
                record.extend(attempts)

    async def _walk(
        self,
        plan: Plan,
        call: ProviderCall,
        deadline: float,
        attempt: AttemptFn[T],
        attempt_timeout_s: float,
        attempts: _TracedAttempts,
    ) -> Execution[T]:
        for target in plan.targets:
            if deadline - time.monotonic() <= 0:
                attempts.append(_skipped(target, Outcome.DEADLINE_EXCEEDED, "no time left"))
                break
            call_for_target = dataclasses.replace(call, model=target.model)
            result = await self._try_target(target, call_for_target, deadline, attempt, attempt_timeout_s, attempts)
            if result is not None:
                return Execution(result, target, list(attempts))
            if attempts[-1].outcome is Outcome.DEADLINE_EXCEEDED:
                break
        raise AllTargetsFailed(list(attempts))

    async def _try_target(
        self,
        target: TargetRef,
        call: ProviderCall,
        deadline: float,
        attempt: AttemptFn[T],
        attempt_timeout_s: float,
        attempts: _TracedAttempts,
    ) -> T | None:
        adapter = self._adapters[target.provider]
        if adapter.base_url is None:
            attempts.append(_skipped(target, Outcome.UNAVAILABLE, "no base URL"))
            return None
        if not adapter.usable:
            attempts.append(_skipped(target, Outcome.SKIPPED_NO_KEY, "no API key configured"))
            return None
        breakers, key = self._breakers, target.key
        if not await breakers.allow(key):
            attempts.append(_skipped(target, Outcome.CIRCUIT_OPEN, "breaker open"))
            return None

        wait_s = 0.0
        retries = 0
        while True:
            left = deadline - time.monotonic()
            budget = min(attempt_timeout_s, left)
            started = time.perf_counter()
            span = attempts.open(target, adapter, call)
            try:
                async with asyncio.timeout(budget):
                    result = await attempt(adapter, call)
            except ProviderError as error:
                failure = error
            except TimeoutError:
                cut_by_deadline = budget < attempt_timeout_s
                failure = ProviderError(
                    Outcome.DEADLINE_EXCEEDED if cut_by_deadline else Outcome.TIMEOUT,
                    f"no answer within {budget:.2f}s" + (" (request deadline)" if cut_by_deadline else ""),
                )
            except BaseException:
                # Cancelled (the client went away): this says nothing about the target. Released in the
                # background, since this task may not await any more.
                _background(breakers.release(key))
                attempts.append(_attempt(target, Outcome.CLIENT_CLOSED, None, wait_s, started, "cancelled"), span)
                raise
            else:
                await breakers.record_success(key)
                attempts.append(_attempt(target, Outcome.OK, 200, wait_s, started, None), span)
                return result

            attempts.append(_attempt(target, failure.outcome, failure.status, wait_s, started, failure.detail), span)
            if failure.outcome is Outcome.DEADLINE_EXCEEDED:
                await breakers.release(key)
                return None
            if failure.outcome in BREAKER_FAILURES:
                await breakers.record_failure(key)
            else:
                await breakers.release(key)
            if not failure.retryable or retries >= self._policy.max_retries or not await breakers.allow(key):
                return None
            wait_s = self._policy.delay(retries, failure.retry_after_s)
            left = deadline - time.monotonic()
            if wait_s >= left:
                attempts.amend_last(f"{failure.detail}; wait {wait_s:.2f}s exceeds {left:.2f}s left: failing over")
                await breakers.release(key)
                return None
            await asyncio.sleep(wait_s)
            retries += 1


_pending: set[asyncio.Task[None]] = set()


def _background(work: Coroutine[object, object, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _pending.add(task)  # keep a reference until it is done
    task.add_done_callback(_pending.discard)


class _TracedAttempts(list[Attempt]):
    """The attempt records, each also a `switchboard.attempt` span when tracing is on."""

    def __init__(self, trace: Context | None) -> None:
        super().__init__()
        self._trace = trace

    def open(self, target: TargetRef, adapter: Adapter, call: ProviderCall) -> object:
        """The provider call's client span."""
        return tracing.start("switchboard.attempt", self._trace, SpanKind.CLIENT, {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": tracing.GEN_AI_SYSTEM.get(adapter.kind, adapter.kind),
            "gen_ai.request.model": call.model,
            "switchboard.provider": target.provider,
        })

    def append(self, attempt: Attempt, span: object = None) -> None:  # type: ignore[override]
        super().append(attempt)
        if span is None and tracing.enabled():  # a target skipped without a call still shows in the trace
            span = tracing.start("switchboard.attempt", self._trace, attributes={
                "switchboard.provider": attempt.provider, "gen_ai.request.model": attempt.model})
        ok = attempt.outcome is Outcome.OK
        tracing.end(span, {  # type: ignore[arg-type]
            "switchboard.outcome": attempt.outcome.value,
            "http.response.status_code": attempt.status,
            "switchboard.wait_ms": attempt.wait_ms or None,
            "switchboard.detail": None if ok else attempt.detail,
        }, error=None if ok else attempt.outcome.value)

    def amend_last(self, detail: str) -> None:
        self[-1] = self[-1].model_copy(update={"detail": detail})


def _attempt(
    target: TargetRef, outcome: Outcome, status: int | None, wait_s: float, started: float, detail: str | None
) -> Attempt:
    return Attempt(
        provider=target.provider,
        model=target.model,
        outcome=outcome,
        status=status,
        wait_ms=round(wait_s * 1000, 3),
        latency_ms=round((time.perf_counter() - started) * 1000, 3),
        detail=detail,
    )


def _skipped(target: TargetRef, outcome: Outcome, detail: str) -> Attempt:
    return Attempt(provider=target.provider, model=target.model, outcome=outcome, detail=detail)
