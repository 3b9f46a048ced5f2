"""OpenTelemetry tracing, configured by the standard OTEL_* variables. Off unless an OTLP endpoint is set;
when off, no span object is made at all.

Spans: `switchboard.request` (server; continues an incoming `traceparent`), `switchboard.route` (the
routing decision), `switchboard.attempt` (a client span per provider call, with outcome, status and retry
wait), and `switchboard.pipeline` / `switchboard.step` / `switchboard.job`. GenAI semantic-convention
attributes where they exist. Prompt and completion text are recorded only with
SWITCHBOARD_TRACE_CONTENT=true.

Both ends are made here rather than by the ASGI and aiohttp-client instrumentations (measured in
bench/telemetry.py): the aiohttp one alone cost about 0.2 ms per provider call, most of the 0.3 ms budget
for all telemetry, to make a second client span beside the attempt span that already is one; the ASGI one
makes a span per send (one per streamed chunk). The flow starts and ends the request span (through
`telemetry.record`), whichever front door the request came through.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

from switchboard.redact import redact

_tracer: trace.Tracer | None = None
record_content = False


def enabled() -> bool:
    return _tracer is not None


def _otlp_configured(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or env.get("OTEL_TRACES_EXPORTER") == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def configure(exporter: SpanExporter | None = None, env: Mapping[str, str] | None = None) -> None:
    """Turn tracing on with `exporter` (tests), or with OTLP when the OTEL_* variables ask for it."""
    global _tracer, record_content
    env = os.environ if env is None else env
    record_content = env.get("SWITCHBOARD_TRACE_CONTENT", "").lower() == "true"
    if exporter is None:
        if not _otlp_configured(env):
            _tracer = None
            return
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor: Any = BatchSpanProcessor(OTLPSpanExporter())
    else:
        processor = SimpleSpanProcessor(exporter)
    provider = TracerProvider(resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "switchboard")}))
    provider.add_span_processor(processor)
    _tracer = provider.get_tracer("switchboard")


def extract(headers: Mapping[str, str]) -> Context | None:
    """The caller's trace context (`traceparent`), when tracing is on."""
    return propagate.extract(headers) if _tracer is not None else None


def start(name: str, parent: Context | None = None, kind: trace.SpanKind = trace.SpanKind.INTERNAL,
          attributes: Mapping[str, Any] | None = None, start_time: int | None = None) -> trace.Span | None:
    """A span that the caller ends; None when tracing is off."""
    if _tracer is None:
        return None
    if attributes:
        attributes = {k: redact(v) if isinstance(v, str) else v for k, v in attributes.items()}
    return _tracer.start_span(name, context=parent, kind=kind, attributes=attributes, start_time=start_time)


def context_of(span: trace.Span | None, parent: Context | None = None) -> Context | None:
    return trace.set_span_in_context(span, parent) if span is not None else parent


def trace_id(span: trace.Span | None) -> str | None:
    if span is None:
        return None
    return format(span.get_span_context().trace_id, "032x")


def end(span: trace.Span | None, attributes: Mapping[str, Any] | None = None, error: str | None = None,
        end_time: int | None = None) -> None:
    if span is None:
        return
    if attributes:
        span.set_attributes({k: redact(v) if isinstance(v, str) else v for k, v in attributes.items()
                             if v is not None})
    if error:
        span.set_status(trace.Status(trace.StatusCode.ERROR, error))
    span.end(end_time=end_time)
