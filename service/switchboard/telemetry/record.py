"""The end of every request, in one place: its log line, its metrics, and the end of its span."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.trace import Span

from switchboard.errors import GatewayError
from switchboard.logs import log
from switchboard.schema import NOT_CALLED, Attempt, CompleteRequest, CompletionResponse, Outcome, Usage
from switchboard.telemetry import metrics, tracing

# SWITCHBOARD_TELEMETRY=off turns the log line, metrics and traces off: for measuring their cost only.
ENABLED = os.environ.get("SWITCHBOARD_TELEMETRY", "on").lower() != "off"


def record_request(
    request_id: str,
    request: CompleteRequest | None,
    status: int,
    started: float,
    *,
    route: str = "invalid",
    response: CompletionResponse | None = None,
    error: GatewayError | None = None,
    partial_text: Sequence[str] | None = None,
    first_token_s: float | None = None,
    span: Span | None = None,
) -> None:
    if not ENABLED:
        return
    elapsed_s = time.perf_counter() - started
    attempts = (error.body.route if error and error.body.route else response.route if response else None)
    path = attempts.attempts if attempts else []
    usage = response.usage if response else Usage()
    tenant = (request.metadata or {}).get("tenant") if request else None
    log.info(
        "request",
        request_id=request_id,
        trace_id=tracing.trace_id(span),
        status=status,
        route=route,
        task_type=request.task_type if request else None,
        tenant=tenant,
        metadata=request.metadata if request else None,
        provider=response.provider if response else None,
        model=response.model if response else None,
        latency_ms=round(elapsed_s * 1000, 3),
        first_token_ms=round(first_token_s * 1000, 3) if first_token_s is not None else None,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cost_usd=response.cost_usd if response else 0.0,
        cost_estimated=response.cost_estimated if response else False,
        finish_reason=response.finish_reason if response else "error",
        error=error.body.error.code if error else None,
        streamed_chars=sum(len(part) for part in partial_text) if partial_text is not None else None,
        reason=attempts.reason if attempts else None,
        path=[_path_step(a) for a in path],
    )
    _observe(route, status, elapsed_s, path, response, tenant, first_token_s)
    if span is not None:
        attributes: dict[str, Any] = {"http.response.status_code": status, "switchboard.route": route}
        if response is not None:
            attributes.update({
                "gen_ai.response.model": response.model,
                "gen_ai.usage.input_tokens": usage.input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
                "gen_ai.response.finish_reasons": [response.finish_reason],
                "switchboard.provider": response.provider,
                "switchboard.cost_usd": response.cost_usd,
            })
            if tracing.record_content:
                attributes["gen_ai.completion"] = response.text
        tracing.end(span, attributes, error=error.body.error.code if error else None)


def _observe(
    route: str,
    status: int,
    elapsed_s: float,
    path: Sequence[Attempt],
    response: CompletionResponse | None,
    tenant: object,
    first_token_s: float | None,
) -> None:
    metrics.child(metrics.REQUESTS, route, str(status)).inc()
    metrics.child(metrics.REQUEST_SECONDS, route).observe(elapsed_s)
    upstream_s = 0.0
    for index, attempt in enumerate(path):
        outcome = attempt.outcome.value
        metrics.child(metrics.ATTEMPTS, attempt.provider, attempt.model, outcome).inc()
        if attempt.outcome not in NOT_CALLED:
            metrics.child(metrics.ATTEMPT_SECONDS, attempt.provider, attempt.model, outcome).observe(attempt.latency_ms / 1000)
        upstream_s += (attempt.latency_ms + attempt.wait_ms) / 1000
        following = path[index + 1] if index + 1 < len(path) else None
        if following is None or attempt.outcome is Outcome.OK:
            continue
        if (following.provider, following.model) == (attempt.provider, attempt.model):
            metrics.child(metrics.RETRIES, attempt.provider, attempt.model, outcome).inc()
        else:
            metrics.child(metrics.FAILOVERS, attempt.provider, outcome).inc()
    if response is not None:
        labels = (response.provider, response.model)
        for kind, count in (("input", response.usage.input_tokens), ("output", response.usage.output_tokens),
                            ("cached", response.usage.cached_tokens),
                            ("cache_write", response.usage.cache_write_tokens)):
            if count:
                metrics.child(metrics.TOKENS, *labels, kind).inc(count)
        metrics.child(metrics.COST, *labels, route, metrics.tenant_label(tenant)).inc(response.cost_usd)
        if first_token_s is not None:
            metrics.child(metrics.FIRST_TOKEN_SECONDS, *labels).observe(first_token_s)
    # The gateway's own time: up to the first token for streams, the whole request otherwise.
    own = (first_token_s if first_token_s is not None else elapsed_s) - upstream_s
    if path and own >= 0:
        metrics.OVERHEAD_SECONDS.observe(own)


def _path_step(attempt: Attempt) -> dict[str, Any]:
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
