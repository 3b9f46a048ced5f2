"""The last hour of this replica, by minute: what the console's overview and `GET /admin/overview` show
(requests, failures, latency and time-to-first-token percentiles, spend per provider and per tenant, cache hits,
shedding, the strong share and what routing and the cache saved).

Counters per minute, filled as each request ends (`RecentRecords` calls `add`); latencies go into a fixed
log-scale histogram per minute (one bisect), so percentiles over any window are a sum of histograms, accurate to
a bucket (about 12%). Prices are applied when an operator reads, with the config in force: per target the
minute keeps tokens and cost, and cost is linear in tokens.

Strong and cheap, and the savings, as the savings report (`operations/savings.py`) counts them, with its
`Pricer`: the baseline is the strongest target of the default routes, a target is "strong" when its output price
is at least half the baseline's, and "saved by routing" is what the same tokens would have cost on the baseline
minus what they cost (estimated; cache hits count under "saved by the cache" instead).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from typing import Any, Protocol

from switchboard.config import GatewayConfig
from switchboard.core.response import Usage
from switchboard.operations.savings import STRONG_FRACTION, Pricer

MINUTES = 60
# Latency bucket bounds in ms: 1 ms to about 10 minutes, each 1.25 times the last.
BOUNDS: tuple[float, ...] = tuple(round(1.25 ** i, 3) for i in range(int(math.log(600_000, 1.25)) + 2))
TOP_TENANTS = 8
HITS = ("hit", "semantic-hit")


class Ended(Protocol):
    """What a minute counts of a request (`operations.recent_records.RequestRecord`)."""

    at: float
    status: int
    error: str | None
    latency_ms: float
    first_token_ms: float | None
    cache: str | None
    saved_usd: float
    provider: str | None
    model: str | None
    cost_usd: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    tenant: str | None
    chat: bool


class Minute:
    __slots__ = (
        "failed",
        "hits",
        "latency",
        "lookups",
        "refused",
        "requests",
        "saved_usd",
        "shed",
        "start",
        "targets",
        "tenants",
        "ttft",
    )

    def __init__(self, start: int) -> None:
        self.start = start  # epoch seconds, a multiple of 60
        self.requests = self.failed = self.refused = self.shed = self.lookups = self.hits = 0
        self.saved_usd = 0.0
        self.latency = [0] * (len(BOUNDS) + 1)
        self.ttft = [0] * (len(BOUNDS) + 1)
        # "provider:model" -> [answered (not from the cache), cost, input, output, cached tokens, chat (0/1)]
        self.targets: dict[str, list[float]] = {}
        self.tenants: dict[str, float] = {}  # tenant -> cost


class Overview:
    def __init__(self) -> None:
        self._minutes: deque[Minute] = deque(maxlen=MINUTES + 1)

    def _minute(self, at: float) -> Minute:
        start = int(at) // 60 * 60
        minutes = self._minutes
        if minutes and minutes[-1].start == start:
            return minutes[-1]
        minute = Minute(start)
        minutes.append(minute)
        return minute

    def add(self, record: Ended) -> None:
        minute = self._minute(record.at)
        minute.requests += 1
        status = record.status
        if status >= 500 or (record.error is not None and status < 400):
            minute.failed += 1
        elif status >= 400:
            minute.refused += 1
        minute.latency[bisect_left(BOUNDS, record.latency_ms)] += 1
        if record.first_token_ms is not None:
            minute.ttft[bisect_left(BOUNDS, record.first_token_ms)] += 1
        cache = record.cache
        hit = cache in HITS
        if cache is not None and cache != "bypass":
            minute.lookups += 1
            if hit:
                minute.hits += 1
                minute.saved_usd += record.saved_usd
        if record.provider is not None and not hit:
            key = f"{record.provider}:{record.model}"
            seen = minute.targets.get(key)
            if seen is None:
                seen = minute.targets[key] = [0, 0.0, 0, 0, 0, 1 if record.chat else 0]
            seen[0] += 1
            seen[1] += record.cost_usd
            seen[2] += record.input_tokens
            seen[3] += record.output_tokens
            seen[4] += record.cached_tokens
        if record.cost_usd:
            tenant = record.tenant or "(none)"
            minute.tenants[tenant] = minute.tenants.get(tenant, 0.0) + record.cost_usd

    def shed(self, at: float) -> None:
        self._minute(at).shed += 1

    # -- reading --------------------------------------------------------------------------------------
    def summary(self, config: GatewayConfig, now: float, window_s: int = 3600) -> dict[str, Any]:
        """Totals over the window and over its last five minutes, and a series per minute for the charts."""
        window_s = max(60, min(window_s, MINUTES * 60))
        first = int(now) // 60 * 60 - window_s + 60
        by_start = {m.start: m for m in self._minutes if m.start >= first}
        starts = list(range(first, first + window_s, 60))
        minutes = [by_start.get(start) or Minute(start) for start in starts]
        pricing = Pricer(config)
        tenants = _top_tenants(minutes)
        providers = sorted({key.split(":", 1)[0] for m in minutes for key in m.targets})
        series: dict[str, Any] = {"time": starts, "requests": [], "failed": [], "refused": [], "shed": [],
                                  "p50_ms": [], "p99_ms": [], "ttft_p50_ms": [], "ttft_p99_ms": [],
                                  "cache_hit_rate": [], "strong_share": [],
                                  "spend_by_provider": {p: [] for p in providers},
                                  "spend_by_tenant": {t: [] for t in tenants}}
        for minute in minutes:
            totals = _totals([minute], pricing)
            for name in ("requests", "failed", "refused", "shed", "p50_ms", "p99_ms", "ttft_p50_ms",
                         "ttft_p99_ms", "cache_hit_rate", "strong_share"):
                series[name].append(totals[name])
            for provider in providers:
                series["spend_by_provider"][provider].append(round(sum(
                    seen[1] for key, seen in minute.targets.items() if key.split(":", 1)[0] == provider), 10))
            for tenant in tenants:
                spent = (sum(v for t, v in minute.tenants.items() if t not in tenants) if tenant == "(others)"
                         else minute.tenants.get(tenant, 0.0))
                series["spend_by_tenant"][tenant].append(round(spent, 10))
        return {"window_s": window_s, "totals": _totals(minutes, pricing), "last_5m": _totals(minutes[-5:], pricing),
                "series": series, "strong": _describe(pricing)}


def _describe(pricing: Pricer) -> dict[str, Any]:
    return {"baseline": pricing.baseline,
            "rule": f"strong: a chat target whose output price is at least {STRONG_FRACTION:g} of the baseline's "
                    "(the strongest target of the default routes), as in the savings report",
            "estimated": True}


def _percentile(histogram: list[int], total: int, share: float) -> float | None:
    if not total:
        return None
    rank = share * total
    running = 0
    for index, count in enumerate(histogram):
        running += count
        if running >= rank:
            return BOUNDS[index] if index < len(BOUNDS) else BOUNDS[-1]
    return BOUNDS[-1]


def _totals(minutes: list[Minute], pricing: Pricer) -> dict[str, Any]:
    requests = sum(m.requests for m in minutes)
    failed = sum(m.failed for m in minutes)
    lookups = sum(m.lookups for m in minutes)
    hits = sum(m.hits for m in minutes)
    latency = [sum(column) for column in zip(*(m.latency for m in minutes), strict=True)]
    ttft = [sum(column) for column in zip(*(m.ttft for m in minutes), strict=True)]
    timed = sum(ttft)
    spend = strong = chat = 0.0
    baseline = actual = 0.0
    by_provider: dict[str, float] = {}
    for minute in minutes:
        for key, seen in minute.targets.items():
            spend += seen[1]
            provider = key.split(":", 1)[0]
            by_provider[provider] = by_provider.get(provider, 0.0) + seen[1]
            if seen[5]:
                chat += seen[0]
                strong += seen[0] if pricing.strong(key) else 0
                baseline += pricing.baseline_cost(Usage(input_tokens=int(seen[2]), output_tokens=int(seen[3]),
                                                        cached_tokens=int(seen[4])))
                actual += seen[1]
    tenant_spend: dict[str, float] = {}
    for minute in minutes:
        for tenant, cost in minute.tenants.items():
            tenant_spend[tenant] = tenant_spend.get(tenant, 0.0) + cost
    saved_cache = sum(m.saved_usd for m in minutes)
    return {
        "requests": requests, "failed": failed, "refused": sum(m.refused for m in minutes),
        "shed": sum(m.shed for m in minutes),
        "error_rate": round(failed / requests, 4) if requests else None,
        "p50_ms": _percentile(latency, requests, 0.5), "p99_ms": _percentile(latency, requests, 0.99),
        "ttft_p50_ms": _percentile(ttft, timed, 0.5), "ttft_p99_ms": _percentile(ttft, timed, 0.99),
        "cache_lookups": lookups, "cache_hits": hits,
        "cache_hit_rate": round(hits / lookups, 4) if lookups else None,
        "spend_usd": round(spend, 8),
        "spend_by_provider": {p: round(v, 8) for p, v in sorted(by_provider.items())},
        "spend_by_tenant": {t: round(v, 8) for t, v in sorted(tenant_spend.items(), key=lambda kv: -kv[1])},
        "strong_share": round(strong / chat, 4) if chat else None,
        "saved_by_routing_usd": round(baseline - actual, 8),
        "saved_by_cache_usd": round(saved_cache, 8),
        "baseline_usd": round(baseline, 8),
    }


def _top_tenants(minutes: list[Minute]) -> list[str]:
    spend: dict[str, float] = {}
    for minute in minutes:
        for tenant, cost in minute.tenants.items():
            spend[tenant] = spend.get(tenant, 0.0) + cost
    ranked = sorted(spend, key=lambda t: -spend[t])
    return ranked[:TOP_TENANTS] + (["(others)"] if len(ranked) > TOP_TENANTS else [])
