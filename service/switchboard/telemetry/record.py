"""The telemetry of a request, in one place: its span from start to end, a client span per attempt (a
subscriber to the engine's hooks), and at its end one log line and its metrics.

The log line is one JSON object per request with `"record": "request"` and a checksum `sum` over its key
figures, so `switchboard costs` counts real records and not text that merely looks like one.
"""

from __future__ import annotations

import os
import socket
import time
import zlib
from typing import Any

from opentelemetry.trace import SpanKind

from switchboard.core.context import RequestContext
from switchboard.core.ending import Ended
from switchboard.core.errors import GatewayError
from switchboard.core.outcome import NOT_CALLED, Outcome
from switchboard.core.response import Attempt, CompletionResponse, EmbeddingResponse, Usage
from switchboard.core.target import TargetRef
from switchboard.logs import now_iso, write_record
from switchboard.providers.registry import KINDS
from switchboard.telemetry import metrics, tracing

RECORD = "request"
INTERNAL_DOORS = ("library", "pipeline")  # called in process: their spans are not server spans


def checksum(request_id: str, timestamp: str, cost_usd: float, input_tokens: int, output_tokens: int) -> str:
    """What `switchboard costs` checks a line against: it ties the figures to this request."""
    return format(zlib.crc32(f"{request_id}|{timestamp}|{cost_usd!r}|{input_tokens}|{output_tokens}".encode()),
                  "08x")


class Telemetry:
    """The engine's hooks (attempt spans and metrics) and the flow's recorder (the request's end)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled  # SWITCHBOARD_TELEMETRY=off: nothing at all (for measuring its cost)
        self.replica = f"{socket.gethostname()}:{os.getpid()}"  # made in the process that serves (after a fork)

    # -- the request's start: its span (a server span for the HTTP front doors) ------------------------
    def started(self, ctx: RequestContext) -> None:
        if self.enabled and tracing.enabled():
            kind = SpanKind.INTERNAL if ctx.front_door in INTERNAL_DOORS else SpanKind.SERVER
            ctx.span = tracing.start("switchboard.request", ctx.trace, kind,
                                     {"switchboard.request_id": ctx.id, "switchboard.front_door": ctx.front_door},
                                     start_time=ctx.started_ns)

    # -- engine hooks ------------------------------------------------------------------------------
    def attempt_started(self, ctx: RequestContext, target: TargetRef, kind: str, operation: str) -> Any:
        if not tracing.enabled():
            return None
        return tracing.start("switchboard.attempt", tracing.context_of(ctx.span, ctx.trace), SpanKind.CLIENT, {
            "gen_ai.operation.name": operation,
            "gen_ai.system": KINDS[kind].gen_ai_system,
            "gen_ai.request.model": target.model,
            "switchboard.provider": target.provider,
        })

    def attempt_ended(self, ctx: RequestContext, attempt: Attempt, token: Any) -> None:
        if not self.enabled:
            return
        outcome = attempt.outcome.value
        metrics.child(metrics.ATTEMPTS, attempt.provider, attempt.model, outcome).inc()
        if attempt.outcome not in NOT_CALLED:
            metrics.child(metrics.ATTEMPT_SECONDS, attempt.provider, attempt.model, outcome).observe(
                attempt.latency_ms / 1000)
        if attempt.hedged:
            metrics.child(metrics.HEDGES, attempt.provider).inc()
        if attempt.host is not None:
            metrics.child(metrics.ENDPOINT_FAILURES, attempt.provider, attempt.host, outcome).inc()
        if len(ctx.attempts) >= 2 and not attempt.hedged:
            previous = ctx.attempts[-2]
            if previous.outcome is not Outcome.OK:
                if (previous.provider, previous.model) == (attempt.provider, attempt.model):
                    metrics.child(metrics.RETRIES, attempt.provider, attempt.model, previous.outcome.value).inc()
                else:
                    metrics.child(metrics.FAILOVERS, previous.provider, previous.outcome.value).inc()
        if token is None and tracing.enabled():  # a target skipped without a call still shows in the trace
            token = tracing.start("switchboard.attempt", tracing.context_of(ctx.span, ctx.trace), attributes={
                "switchboard.provider": attempt.provider, "gen_ai.request.model": attempt.model})
        ok = attempt.outcome is Outcome.OK
        tracing.end(token, {
            "switchboard.outcome": outcome,
            "http.response.status_code": attempt.status,
            "switchboard.wait_ms": attempt.wait_ms or None,
            "switchboard.detail": None if ok else attempt.detail,
        }, error=None if ok else outcome)

    # -- the request's end -------------------------------------------------------------------------
    def finished(self, ctx: RequestContext, ended: Ended) -> None:
        if not self.enabled:
            return
        status, response, error = ended.status, ended.response, ended.error
        elapsed_s = time.perf_counter() - ctx.started
        plan = ctx.plan
        route = plan.label if plan is not None else "invalid"
        decision = plan.decision if plan is not None else None
        usage: Usage = response.usage if response is not None else Usage()
        chat = response if isinstance(response, CompletionResponse) else None
        cost = response.cost_usd if response is not None else 0.0
        hedge_cost = sum(a.cost_usd or 0.0 for a in ctx.attempts)
        tenant = ctx.caller.tenant
        timestamp = now_iso()
        write_record("request", dict(
            record=RECORD,
            request_id=ctx.id,
            client_request_id=ctx.client_id,
            replica=self.replica,
            trace_id=tracing.trace_id(ctx.span),
            status=status,
            front_door=ctx.front_door,
            route=route,
            task_type=plan.task_type if plan is not None else None,
            rule=decision.rule if decision else None,
            complexity=decision.complexity if decision else None,
            score=decision.score if decision else None,
            confidence=decision.confidence if decision else None,
            complexity_confidence=decision.complexity_confidence if decision else None,
            threshold=decision.threshold if decision else None,
            classifier_ms=decision.classifier_ms if decision else None,
            tier=ctx.caller.tier,
            tenant=tenant,
            key_id=ctx.caller.key_id,
            metadata=ctx.metadata,
            provider=response.provider if response is not None else None,
            model=response.model if response is not None else None,
            latency_ms=round(elapsed_s * 1000, 3),
            first_token_ms=round(ended.first_token_s * 1000, 3) if ended.first_token_s is not None else None,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cost_usd=cost,
            hedge_cost_usd=hedge_cost or None,
            cost_estimated=bool(chat and chat.cost_estimated),
            cache=ended.cache,
            saved_usd=chat.cache.saved_usd if chat and chat.cache else None,
            finish_reason=chat.finish_reason if chat else ("stop" if response is not None else "error"),
            error=error.code if error else None,
            streamed_chars=ended.streamed_chars,
            dropped=chat.dropped if chat else None,
            notes=ctx.notes or None,
            reason=plan.reason if plan is not None else None,
            path=[_path_step(a) for a in ctx.attempts],
            sum=checksum(ctx.id, timestamp, cost, usage.input_tokens, usage.output_tokens),
            timestamp=timestamp,
        ))
        self._observe(ctx, ended, route, elapsed_s, cost + hedge_cost, tenant)
        if ctx.span is not None:
            self._end_span(ctx, status, route, response, error)

    def _observe(self, ctx: RequestContext, ended: Ended, route: str, elapsed_s: float, cost: float,
                 tenant: str | None) -> None:
        response, first_token_s = ended.response, ended.first_token_s
        metrics.child(metrics.REQUESTS, route, str(ended.status)).inc()
        metrics.child(metrics.REQUEST_SECONDS, route).observe(elapsed_s)
        plan = ctx.plan
        if plan is not None and plan.decide_ms is not None:
            metrics.DECISION_SECONDS.observe(plan.decide_ms / 1000)
        if plan is not None and plan.decision.classifier_ms is not None:
            metrics.child(metrics.INFERRED, plan.decision.task_type or "none",
                          plan.decision.complexity or "unsure").inc()
        tenant_label = metrics.tenant_label(tenant)
        if ended.cache is not None:
            metrics.child(metrics.CACHE, route, tenant_label, ended.cache).inc()
            if isinstance(response, CompletionResponse) and response.cache is not None:
                metrics.child(metrics.CACHE_SAVED, route, tenant_label).inc(response.cache.saved_usd)
        if response is not None:
            labels = (response.provider, response.model)
            usage = response.usage
            for kind, count in (("input", usage.input_tokens), ("output", usage.output_tokens),
                                ("cached", usage.cached_tokens), ("cache_write", usage.cache_write_tokens)):
                if count:
                    metrics.child(metrics.TOKENS, *labels, kind).inc(count)
            metrics.child(metrics.COST, *labels, route, tenant_label).inc(cost)
            if first_token_s is not None and isinstance(response, CompletionResponse) and not response.cached:
                metrics.child(metrics.FIRST_TOKEN_SECONDS, *labels).observe(first_token_s)
        upstream_s = sum((a.latency_ms + a.wait_ms) / 1000 for a in ctx.attempts)
        own = (first_token_s if first_token_s is not None else elapsed_s) - upstream_s
        if ctx.attempts and own >= 0:
            metrics.OVERHEAD_SECONDS.observe(own)

    def _end_span(self, ctx: RequestContext, status: int, route: str, response: Any,
                  error: GatewayError | None) -> None:
        plan = ctx.plan
        if plan is not None and plan.decide_ms is not None:
            decision = tracing.start("switchboard.route", tracing.context_of(ctx.span, ctx.trace),
                                     start_time=plan.decided_at_ns)
            tracing.end(decision, {"switchboard.route": route, "switchboard.reason": plan.reason,
                                   "switchboard.rule": plan.decision.rule,
                                   "switchboard.task_type": plan.task_type,
                                   "switchboard.complexity": plan.decision.complexity},
                        end_time=plan.decided_at_ns + int(plan.decide_ms * 1e6))
        attributes: dict[str, Any] = {"http.response.status_code": status, "switchboard.route": route}
        if isinstance(response, CompletionResponse | EmbeddingResponse):
            attributes.update({
                "gen_ai.response.model": response.model,
                "gen_ai.usage.input_tokens": response.usage.input_tokens,
                "gen_ai.usage.output_tokens": response.usage.output_tokens,
                "switchboard.provider": response.provider,
                "switchboard.cost_usd": response.cost_usd,
            })
            if isinstance(response, CompletionResponse):
                attributes["gen_ai.response.finish_reasons"] = [response.finish_reason]
                attributes["switchboard.cached"] = response.cached
                if tracing.record_content:
                    attributes["gen_ai.completion"] = response.text
        tracing.end(ctx.span, attributes, error=error.code if error else None)


def _path_step(attempt: Attempt) -> dict[str, Any]:
    step: dict[str, Any] = {
        "target": f"{attempt.provider}:{attempt.model}",
        "outcome": attempt.outcome.value,
        "status": attempt.status,
        "wait_ms": attempt.wait_ms,
        "latency_ms": attempt.latency_ms,
    }
    if attempt.detail:
        step["detail"] = attempt.detail
    if attempt.host:
        step["host"] = attempt.host
    if attempt.missing:
        step["missing"] = attempt.missing
    if attempt.hedged:
        step["hedged"] = True
    if attempt.cost_usd is not None:
        step["cost_usd"] = attempt.cost_usd
    return step

