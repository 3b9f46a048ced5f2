"""Prometheus metrics. Label values are bounded: routes, providers, models and outcomes come from the
config and the outcome vocabulary; tenants are capped. No prompt text, no request ids.

With several worker processes set PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode)."""

from __future__ import annotations

from typing import Any, ClassVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
MAX_TENANTS = 200

REQUESTS = Counter("switchboard_requests", "Requests, by route and HTTP status.", ["route", "status"])
ATTEMPTS = Counter("switchboard_attempts", "Upstream attempts, by target and outcome.", ["provider", "model", "outcome"])
RETRIES = Counter("switchboard_retries", "Retries of the same target, by the outcome that caused them.",
                  ["provider", "model", "reason"])
FAILOVERS = Counter("switchboard_failovers", "Moves to the next target, by the outcome that caused them.",
                    ["from_provider", "reason"])
REQUEST_SECONDS = Histogram("switchboard_request_duration_seconds", "Whole requests.", ["route"],
                            buckets=LATENCY_BUCKETS)
ATTEMPT_SECONDS = Histogram("switchboard_attempt_duration_seconds", "Upstream attempts.",
                            ["provider", "model", "outcome"], buckets=LATENCY_BUCKETS)
FIRST_TOKEN_SECONDS = Histogram("switchboard_time_to_first_token_seconds", "Streamed requests: time to the "
                                "first content token.", ["provider", "model"], buckets=LATENCY_BUCKETS)
OVERHEAD_SECONDS = Histogram("switchboard_gateway_overhead_seconds", "The gateway's own time: the request "
                             "minus upstream time and retry waits.", buckets=OVERHEAD_BUCKETS)
TOKENS = Counter("switchboard_tokens", "Tokens, by target and kind (input, output, cached, cache_write).",
                 ["provider", "model", "kind"])
COST = Counter("switchboard_cost_usd", "Cost in USD, by target, route and tenant.",
               ["provider", "model", "route", "tenant"])
DECISION_SECONDS = Histogram("switchboard_decision_duration_seconds", "Routing decisions (rules and classifier).",
                             buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1))
INFERRED = Counter("switchboard_inferred", "Requests the classifier labelled, by inferred task type and complexity.",
                   ["task_type", "complexity"])
CACHE = Counter("switchboard_cache", "Cache lookups, by route, tenant and result (hit, semantic-hit, miss, bypass).",
                ["route", "tenant", "result"])
CACHE_SAVED = Counter("switchboard_cache_saved_usd", "USD not spent thanks to cache hits, by route and tenant.",
                      ["route", "tenant"])
LIMITED = Counter("switchboard_limited", "Requests refused by a caller limit, by tenant and code.", ["tenant", "code"])
SHED = Counter("switchboard_shed", "Requests refused at once because the worker was at server.max_in_flight.")
IN_FLIGHT = Gauge("switchboard_in_flight", "Requests in flight in this worker.", multiprocess_mode="livesum")
HEDGES = Counter("switchboard_hedges", "Hedged attempts started, by the provider they hedged.", ["provider"])
BREAKER_STATE = Gauge("switchboard_breaker_state", "Circuit breaker per target: 0 closed, 1 half-open, 2 open.",
                      ["target"], multiprocess_mode="max")
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
COMPLEXITY_THRESHOLD = Gauge("switchboard_complexity_threshold", "The complexity threshold in use (the strong-share "
                             "dial's, or the configured one): a score at or above it is complex.",
                             multiprocess_mode="max")
FEEDBACK = Counter("switchboard_feedback", "Feedback on answers, by kind (up, down, score) and tenant.",
                   ["kind", "tenant"])
FEEDBACK_SCORE = Histogram("switchboard_feedback_score", "Feedback ratings, 0 to 1 (thumbs: 0 or 1).",
                           buckets=(0.1, 0.25, 0.5, 0.75, 0.9, 1.0))
ENDPOINT_FAILURES = Counter("switchboard_endpoint_failures", "Connection-level failures (refused, DNS, TLS, reset "
                            "before any byte), once per attempt, by the endpoint's provider and host.",
                            ["provider", "host", "outcome"])
CONFIG_RELOADS = Counter("switchboard_config_reloads", "Config reloads (SIGHUP or POST /admin/config/reload), "
                         "by result (ok, error).", ["result"])
for _result in ("ok", "error"):
    CONFIG_RELOADS.labels(_result)  # both series from the start: the first failure is an increase



class ScrapeGauges:
    """Gauges read from shared state at scrape time (`operations.gauges` sets them just before each exposition),
    never on the request path. A gauge without a value is absent, not 0: without Redis there is no
    `switchboard_redis_up` and no job gauges, rather than a false alarm."""

    SPECS: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        "switchboard_target_drained": ("1 while an operator's drain holds the target (or its provider), else 0.",
                                       ("target", "provider")),
        "switchboard_redis_up": ("1 when this replica reached Redis at the scrape, else 0 (absent without Redis).",
                                 ()),
        "switchboard_jobs_queued": ("Pipeline jobs waiting in the queue (the same on every replica).", ()),
        "switchboard_jobs_running": ("Pipeline jobs with status running (the same on every replica).", ()),
        "switchboard_tenant_budget_usd_day": ("A tenant's daily budget in USD (limits.tenants).", ("tenant",)),
    }

    def __init__(self) -> None:
        self._values: dict[str, dict[tuple[str, ...], float]] = {}

    def set(self, name: str, values: dict[tuple[str, ...], float]) -> None:
        if name not in self.SPECS:
            raise KeyError(name)
        self._values[name] = values  # replaced whole: a scrape rendering in another thread sees old or new

    def collect(self) -> Any:
        for name, (documentation, labels) in self.SPECS.items():
            family = GaugeMetricFamily(name, documentation, labels=list(labels))
            for label_values, value in self._values.get(name, {}).items():
                family.add_metric(list(label_values), value)
            yield family


SCRAPED = ScrapeGauges()
REGISTRY.register(SCRAPED)

_tenants: set[str] = set()
_children: dict[tuple[object, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, remembered: prometheus-client validates and locks on every call."""
    key = (metric, labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def tenant_label(value: object) -> str:
    """A bounded tenant label: the first MAX_TENANTS tenants seen by name, the rest as `other`."""
    if value is None:
        return "none"
    tenant = str(value)[:64]
    if tenant in _tenants:
        return tenant
    if len(_tenants) < MAX_TENANTS:
        _tenants.add(tenant)
        return tenant
    return "other"


def exposition(multiprocess: bool = False) -> tuple[bytes, str]:
    """The metrics text; `multiprocess`: gathered from every worker (PROMETHEUS_MULTIPROC_DIR is set)."""
    if multiprocess:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(SCRAPED)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
