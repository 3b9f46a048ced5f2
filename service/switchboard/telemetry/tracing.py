"""OpenTelemetry tracing, configured by the standard OTEL_* variables. Off unless an OTLP endpoint is set;
when off, no span object is made at all.

Spans: `switchboard.request` (server; continues an incoming `traceparent`), `switchboard.route` (the
routing decision), `switchboard.attempt` (one per try, with outcome and retry wait), the aiohttp client
span of each provider call under its attempt, and `switchboard.pipeline` / `switchboard.step` /
`switchboard.job`. GenAI semantic-convention attributes where they exist. Prompt and completion text
are recorded only with SWITCHBOARD_TRACE_CONTENT=true.

The server span is made here rather than by opentelemetry-instrumentation-fastapi: that middleware also
makes a span per ASGI send (one per streamed chunk) and costs more than the whole gateway's overhead budget.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

GEN_AI_SYSTEM = {"openai": "openai", "anthropic": "anthropic", "cohere": "cohere", "openai_compatible": "vllm"}

_tracer: trace.Tracer | None = None
_instrumented = False
record_content = False


def enabled() -> bool:
    return _tracer is not None


def _otlp_configured(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or env.get("OTEL_TRACES_EXPORTER") == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def configure(exporter: SpanExporter | None = None, env: Mapping[str, str] | None = None) -> None:
    """Turn tracing on with `exporter` (tests), or with OTLP when the OTEL_* variables ask for it."""
    global _tracer, _instrumented, record_content
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
    if not _instrumented:
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

        # Client spans for provider calls, parented by whatever span is current (the attempt).
        AioHttpClientInstrumentor().instrument(tracer_provider=_ProviderProxy())
        _instrumented = True


class _ProviderProxy(trace.TracerProvider):
    """Lets the aiohttp instrumentation (installed once) follow `configure` (called again by tests)."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _LiveTracer()


class _LiveTracer(trace.Tracer):
    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return (_tracer or trace.NoOpTracer()).start_span(*args, **kwargs)

    @contextmanager
    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Iterator[trace.Span]:
        with (_tracer or trace.NoOpTracer()).start_as_current_span(*args, **kwargs) as span:
            yield span


def extract(headers: Mapping[str, str]) -> Context | None:
    """The caller's trace context (`traceparent`), when tracing is on."""
    return propagate.extract(headers) if _tracer is not None else None


def start(name: str, parent: Context | None = None, kind: trace.SpanKind = trace.SpanKind.INTERNAL,
          attributes: Mapping[str, Any] | None = None) -> trace.Span | None:
    """A span that the caller ends; None when tracing is off."""
    if _tracer is None:
        return None
    return _tracer.start_span(name, context=parent, kind=kind, attributes=attributes)


def context_of(span: trace.Span | None, parent: Context | None = None) -> Context | None:
    return trace.set_span_in_context(span, parent) if span is not None else parent


@contextmanager
def current(span: trace.Span | None) -> Iterator[None]:
    """Make `span` current for the block (so the aiohttp client span hangs under it)."""
    if span is None:
        yield
        return
    with trace.use_span(span, end_on_exit=False):
        yield


def trace_id(span: trace.Span | None) -> str | None:
    if span is None:
        return None
    return format(span.get_span_context().trace_id, "032x")


def end(span: trace.Span | None, attributes: Mapping[str, Any] | None = None, error: str | None = None) -> None:
    if span is None:
        return
    if attributes:
        span.set_attributes({k: v for k, v in attributes.items() if v is not None})
    if error:
        span.set_status(trace.Status(trace.StatusCode.ERROR, error))
    span.end()
