"""What routing and the cache saved, read back from the request log: `switchboard costs LOG... --savings`.

For each request record the gateway wrote (checksum verified), with its own tokens and the price table:

- actual: what it cost (`cost_usd`, plus `hedge_cost_usd`, the prompt a losing hedge read);
- baseline: the same tokens at the baseline target's prices (by default the strongest target of the default
  routes: the dearest by output price). A cache hit called nothing, so its tokens and baseline are 0;
- saved by routing: baseline − the answering target's cost (negative when a request went somewhere dearer);
- saved by the cache: each hit's `saved_usd` (what the stored answer had cost);
- extra by failover: the answering target's cost − what the plan's first target would have cost for the same
  tokens, for requests another target answered (negative when the failover was to a cheaper target);
- extra by hedging: the losing hedges' cost;
- strong or cheap: whether the answering target is strong — priced at half the baseline's output price or
  more — the share the cost–quality dial moves;
- feedback: the ratings (`POST /feedback`) of answers from strong and from cheap targets, count and mean.

So, per group: baseline = actual + saved by routing − hedge extra, and every figure is a plain sum over records
that anyone can recompute from the same log. Figures from estimated usage (`cost_estimated`) are counted in
`estimated`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from switchboard.config import GatewayConfig
from switchboard.core.response import Usage
from switchboard.operations.logfiles import record_time
from switchboard.pricing import ModelPrice, cost_usd

GROUPS = ("provider", "model", "route", "tenant", "tier", "task_type", "front_door")
STRONG_FRACTION = 0.5  # of the baseline's output price: a target priced at this or more is "strong"
CACHE_HITS = ("hit", "semantic-hit")


@dataclass
class Rating:
    count: int = 0
    total: float = 0.0

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value

    @property
    def mean(self) -> float | None:
        return round(self.total / self.count, 4) if self.count else None


@dataclass
class SavingsRow:
    key: tuple[str, ...]
    requests: int = 0  # every request record, answered or not
    answered: int = 0  # records with an answer (or the part of one a cut stream delivered)
    actual_usd: float = 0.0
    baseline_usd: float = 0.0
    saved_by_routing_usd: float = 0.0
    saved_by_cache_usd: float = 0.0
    failover_extra_usd: float = 0.0
    hedge_extra_usd: float = 0.0
    cache_hits: int = 0
    failovers: int = 0
    strong: int = 0
    cheap: int = 0
    estimated: int = 0
    strong_rating: Rating = field(default_factory=Rating)
    cheap_rating: Rating = field(default_factory=Rating)

    @property
    def strong_share(self) -> float | None:
        called = self.strong + self.cheap
        return round(self.strong / called, 4) if called else None

    def as_dict(self, by: tuple[str, ...]) -> dict[str, Any]:
        return {
            **dict(zip(by, self.key, strict=True)),
            "requests": self.requests, "answered": self.answered,
            "actual_usd": round(self.actual_usd, 10), "baseline_usd": round(self.baseline_usd, 10),
            "saved_by_routing_usd": round(self.saved_by_routing_usd, 10),
            "saved_by_cache_usd": round(self.saved_by_cache_usd, 10),
            "failover_extra_usd": round(self.failover_extra_usd, 10),
            "hedge_extra_usd": round(self.hedge_extra_usd, 10),
            "cache_hits": self.cache_hits, "failovers": self.failovers,
            "strong": self.strong, "cheap": self.cheap, "strong_share": self.strong_share,
            "estimated": self.estimated,
            "feedback": {"strong": {"count": self.strong_rating.count, "mean": self.strong_rating.mean},
                         "cheap": {"count": self.cheap_rating.count, "mean": self.cheap_rating.mean}},
        }


class Pricer:
    """Prices of the config's targets, and which are strong against the baseline."""

    def __init__(self, config: GatewayConfig, baseline: str | None = None) -> None:
        self._config = config
        self.baseline = baseline or default_baseline(config)
        provider, _, model = self.baseline.partition("/")
        if provider not in config.providers or model not in config.providers[provider].models:
            raise ValueError(f"--baseline: unknown target '{self.baseline}' (provider/model from the config)")
        self._baseline_price = config.price(provider, model)
        cheap = config.default_route.targets[0]  # what an unclassified request gets first: the cheap reference
        self.cheap = f"{cheap.provider}/{cheap.model}"
        self._cheap_price = config.price(cheap.provider, cheap.model)
        self._prices: dict[str, ModelPrice | None] = {}

    def price(self, target: str) -> ModelPrice | None:
        """`provider/model` or `provider:model`; None for a target the config no longer has."""
        if target not in self._prices:
            provider, _, model = target.replace(":", "/", 1).partition("/")
            known = provider in self._config.providers and model in self._config.providers[provider].models
            self._prices[target] = self._config.price(provider, model) if known else None
        return self._prices[target]

    def baseline_cost(self, usage: Usage) -> float:
        return cost_usd(self._baseline_price, usage)

    def cheap_cost(self, usage: Usage) -> float:
        return cost_usd(self._cheap_price, usage)

    def strong(self, target: str) -> bool:
        price = self.price(target)
        return price is not None and price.output >= STRONG_FRACTION * self._baseline_price.output


def default_baseline(config: GatewayConfig) -> str:
    """The strongest target of the default routes: the dearest by output price (then input price)."""
    chains = [config.default_route.targets, *(route.targets for route in config.routes.values())]
    targets = {t.key: t for chain in chains for t in chain}.values()
    best = max(targets, key=lambda t: (config.price(t.provider, t.model).output,
                                       config.price(t.provider, t.model).input, t.key))
    return f"{best.provider}/{best.model}"


def _usage(record: dict[str, Any]) -> Usage:
    return Usage(input_tokens=int(record.get("input_tokens") or 0), output_tokens=int(record.get("output_tokens") or 0),
                 cached_tokens=int(record.get("cached_tokens") or 0),
                 cache_write_tokens=int(record.get("cache_write_tokens") or 0))


def answering_target(record: dict[str, Any]) -> str | None:
    provider, model = record.get("provider"), record.get("model")
    return f"{provider}/{model}" if provider and model else None


def savings(records: Iterable[dict[str, Any]], pricer: Pricer, by: tuple[str, ...],
            ratings: dict[str, float] | None = None) -> list[SavingsRow]:
    """One row per group (most spent first). `ratings`: request id -> its feedback value (the last given)."""
    rows: dict[tuple[str, ...], SavingsRow] = {}
    ratings = ratings or {}
    for record in records:
        key = tuple(str(record.get(name) or "-") for name in by)
        row = rows.setdefault(key, SavingsRow(key))
        row.requests += 1
        target = answering_target(record)
        if target is None:
            continue
        row.answered += 1
        usage = _usage(record)
        cost = float(record.get("cost_usd") or 0.0)
        hedges = float(record.get("hedge_cost_usd") or 0.0)
        row.actual_usd += cost + hedges
        row.hedge_extra_usd += hedges
        row.estimated += bool(record.get("cost_estimated"))
        if record.get("cache") in CACHE_HITS:
            row.cache_hits += 1
            row.saved_by_cache_usd += float(record.get("saved_usd") or 0.0)
            continue
        baseline = pricer.baseline_cost(usage)
        row.baseline_usd += baseline
        row.saved_by_routing_usd += baseline - cost
        first = (record.get("path") or [{}])[0].get("target")
        if first and first.replace(":", "/", 1) != target and (price := pricer.price(first)) is not None:
            row.failovers += 1
            row.failover_extra_usd += cost - cost_usd(price, usage)
        strong = pricer.strong(target)
        row.strong += strong
        row.cheap += not strong
        rating = ratings.get(str(record.get("request_id")))
        if rating is not None:
            (row.strong_rating if strong else row.cheap_rating).add(rating)
    return sorted(rows.values(), key=lambda r: (-r.actual_usd, r.key))


def total(rows: list[SavingsRow], width: int) -> SavingsRow:
    whole = SavingsRow(("TOTAL", *[""] * (width - 1)))
    for row in rows:
        for name in ("requests", "answered", "actual_usd", "baseline_usd", "saved_by_routing_usd",
                     "saved_by_cache_usd", "failover_extra_usd", "hedge_extra_usd", "cache_hits", "failovers",
                     "strong", "cheap", "estimated"):
            setattr(whole, name, getattr(whole, name) + getattr(row, name))
        for mine, theirs in ((whole.strong_rating, row.strong_rating), (whole.cheap_rating, row.cheap_rating)):
            mine.count += theirs.count
            mine.total += theirs.total
    return whole


# -- over time and along the dial, for the HTML page -----------------------------------------------------------
def by_minute(records: list[dict[str, Any]], pricer: Pricer, bucket_s: int) -> dict[str, Any]:
    """Spend per provider, and the strong share, per time bucket."""
    spend: dict[str, dict[int, float]] = {}
    strong: dict[int, list[int]] = {}
    for record in records:
        target = answering_target(record)
        if target is None:
            continue
        at = int(_epoch(record) // bucket_s * bucket_s)
        provider = str(record["provider"])
        spend.setdefault(provider, {})
        spend[provider][at] = spend[provider].get(at, 0.0) + float(record.get("cost_usd") or 0.0)
        if record.get("cache") not in CACHE_HITS:
            counts = strong.setdefault(at, [0, 0])
            counts[0 if pricer.strong(target) else 1] += 1
    times = sorted({t for series in spend.values() for t in series} | set(strong))
    return {
        "times": times,
        "spend": {provider: [round(series.get(t, 0.0), 10) for t in times] for provider, series in sorted(spend.items())},
        "strong_share": [round(strong[t][0] / sum(strong[t]), 4) if sum(strong.get(t, [0, 0])) else None
                         for t in times],
    }


def dial_curve(records: list[dict[str, Any]], pricer: Pricer, ratings: dict[str, float],
               steps: int = 20) -> list[dict[str, float | None]]:
    """Along the dial (strong share 0 → 1) for the classified requests in the log, the highest scores sent strong
    first: their cost relative to all of them on the baseline (each sent strong priced at the baseline, each sent
    cheap at the cheap reference, the default route's first target, with its own tokens), and the mean rating the
    mix would get from the feedback given to strong and cheap answers (None without feedback on both)."""
    scored = [r for r in records if isinstance(r.get("score"), int | float) and answering_target(r)
              and r.get("cache") not in CACHE_HITS]
    if not scored:
        return []
    strong_rating, cheap_rating = Rating(), Rating()
    for record in scored:
        value = ratings.get(str(record.get("request_id")))
        if value is not None:
            (strong_rating if pricer.strong(answering_target(record) or "") else cheap_rating).add(value)
    everything_strong = sum(pricer.baseline_cost(_usage(r)) for r in scored) or 1.0
    ordered = sorted(scored, key=lambda r: float(r["score"]), reverse=True)
    curve = []
    for step in range(steps + 1):
        share = step / steps
        sent_strong = math.floor(share * len(ordered) + 1e-9)
        cost = sum(pricer.baseline_cost(_usage(r)) for r in ordered[:sent_strong]) + \
            sum(pricer.cheap_cost(_usage(r)) for r in ordered[sent_strong:])
        quality = None
        if strong_rating.mean is not None and cheap_rating.mean is not None:
            quality = round(share * strong_rating.mean + (1 - share) * cheap_rating.mean, 4)
        curve.append({"strong_share": share, "cost_vs_all_strong": round(cost / everything_strong, 4),
                      "mean_rating": quality})
    return curve


def _epoch(record: dict[str, Any]) -> float:
    return record_time(record).timestamp()


# -- the report ------------------------------------------------------------------------------------------------
def ratings_of(feedback: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Request id -> its rating (the last one given wins)."""
    return {str(record["request_id"]): float(record["value"]) for record in feedback}


def report(records: list[dict[str, Any]], feedback: list[dict[str, Any]], config: GatewayConfig,
           by: tuple[str, ...], baseline: str | None = None, window: str = "the whole log",
           bucket_s: int | None = None) -> dict[str, Any]:
    """The savings report: what --json prints, and what --html draws."""
    pricer = Pricer(config, baseline)
    ratings = ratings_of(feedback)
    rows = savings(records, pricer, by, ratings)
    whole = total(rows, len(by)).as_dict(by)
    for name in by:
        whole.pop(name)
    if bucket_s is None:
        stamps = [_epoch(r) for r in records]
        span = (max(stamps) - min(stamps)) if stamps else 0
        bucket_s = 10 if span <= 600 else 60 if span <= 6 * 3600 else 3600
    share = whole["strong_share"]
    saved = whole["saved_by_routing_usd"]
    summary = (f"{whole['answered']} answered requests cost ${whole['actual_usd']:.6f}. On {pricer.baseline} "
               f"the same tokens would have cost ${whole['baseline_usd']:.6f}: routing saved ${saved:.6f}"
               + (f" ({saved / whole['baseline_usd']:.0%})" if whole["baseline_usd"] else "")
               + f", the cache ${whole['saved_by_cache_usd']:.6f} more; failover cost "
               f"${whole['failover_extra_usd']:.6f} extra and hedging ${whole['hedge_extra_usd']:.6f}."
               + (f" {share:.0%} of the answers came from strong targets." if share is not None else ""))
    return {
        "baseline": pricer.baseline,
        "cheap_reference": pricer.cheap,
        "by": list(by),
        "window": window,
        "bucket_s": bucket_s,
        "summary": summary,
        "groups": [row.as_dict(by) for row in rows],
        "total": whole,
        "timeline": by_minute(records, pricer, bucket_s),
        "dial": dial_curve(records, pricer, ratings),
    }


COLUMNS = ("requests", "answered", "actual_usd", "baseline_usd", "saved_by_routing_usd", "saved_by_cache_usd",
           "failover_extra_usd", "hedge_extra_usd", "strong_share", "estimated")


def table(report_: dict[str, Any], as_csv: bool = False) -> str:
    """The groups as a text table (with a total row) or as CSV (without)."""
    import csv
    import io

    by = report_["by"]
    header = [*by, *COLUMNS, "feedback_strong", "feedback_cheap"]

    def cells(group: dict[str, Any]) -> list[str]:
        out = [str(group.get(name, "")) for name in by]
        for name in COLUMNS:
            value = group.get(name)
            out.append("-" if value is None else f"{value:.6f}" if isinstance(value, float) and name.endswith("usd")
                       else str(value))
        for kind in ("strong", "cheap"):
            rated = group["feedback"][kind]
            out.append(f"{rated['mean']} ({rated['count']})" if rated["count"] else "-")
        return out

    body = [cells(group) for group in report_["groups"]]
    if as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)
        return buffer.getvalue()
    body.append(cells({**report_["total"], **{name: ("TOTAL" if i == 0 else "") for i, name in enumerate(by)}}))
    grid = [header, *body]
    widths = [max(len(row[i]) for row in grid) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i < len(by) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                             strict=True)))
             for row in grid]
    return "\n".join(lines) + "\n\n" + report_["summary"] + "\n"
