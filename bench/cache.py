"""The response cache's own costs, in process (no HTTP), side by side in one run:

- a semantic lookup over 10,000 entries of one context (the worst case: every entry is a candidate), p50/p99;
- an exact lookup (fingerprint + store read), p50/p99;
- the in-memory exact store under 100,000 requests with distinct prompts: its bytes never pass `max_bytes`,
  and the process RSS it costs.

    .venv/bin/python bench/cache.py [--entries 10000] [--requests 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import save  # noqa: E402

from switchboard.cache.fingerprint import fingerprint  # noqa: E402
from switchboard.cache.response_cache import ResponseCache  # noqa: E402
from switchboard.cache.semantic import SemanticIndex  # noqa: E402
from switchboard.cache.store import MemoryStore  # noqa: E402
from switchboard.config import parse_config  # noqa: E402
from switchboard.core.context import RequestContext
from switchboard.core.request import Message, Request
from switchboard.core.response import CompletionResponse, Route, Usage
from switchboard.routing.router import Router  # noqa: E402

TOPICS = ["the capital of", "the population of", "the history of", "the climate of", "the main exports of",
          "the cuisine of", "the official language of", "the currency of", "famous landmarks in", "the economy of"]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def answer(text: str) -> bytes:
    import orjson

    response = CompletionResponse(id="sb-x", text=text, provider="openai", model="gpt-5.4", task_type=None,
                                  finish_reason="stop", usage=Usage(input_tokens=20, output_tokens=40),
                                  cost_usd=0.0004, latency_ms=800.0, route=Route(reason="r"))
    return orjson.dumps({"response": response.model_dump(mode="json"), "stored_at": time.time()})


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    config = parse_config({"routing": {"classifier": {"enabled": False}},
                           "cache": {"semantic": {"enabled": True, "max_entries": args.entries * 2},
                                     "exact": {"max_bytes": 16 << 20}}})
    router = Router(config)
    ctx = RequestContext(deadline=time.monotonic() + 60)

    def request(text: str) -> Request:
        return Request(messages=[Message("system", "Be brief."), Message("user", text)], temperature=0)

    plan = await router.decide(ctx, request("warm"))
    index = SemanticIndex(config, None, MemoryStore(64 << 20))
    value = answer("An answer of a paragraph or so, " * 8)
    started = time.perf_counter()
    for n in range(args.entries):  # one context, 10,000 different questions
        print_ = fingerprint(request(f"What is {TOPICS[n % 10]} country number {n} in the list?"), plan, "t", 1024)
        await index.add(ctx, print_, value, 3600)
    fill_s = time.perf_counter() - started
    lookups: list[float] = []
    hits = 0
    for n in range(2000):
        print_ = fingerprint(request(f"what's {TOPICS[n % 10]} country number {n * 5} in that list"), plan, "t", 1024)
        started = time.perf_counter()
        found = await index.find(ctx, print_, None)
        lookups.append((time.perf_counter() - started) * 1000)
        hits += found is not None

    cache = ResponseCache(config, None, semantic=False)
    exact: list[float] = []
    for n in range(2000):
        req = request(f"Exact question {n % 200}")
        started = time.perf_counter()
        lookup = await cache.lookup(ctx, req, plan)
        assert lookup.key is not None
        exact.append((time.perf_counter() - started) * 1000)
        if n < 200:
            await cache.store(ctx, req, plan, lookup, CompletionResponse.model_validate_json(
                value.split(b'"response":', 1)[1].rsplit(b',"stored_at"', 1)[0]))

    bound = ResponseCache(config, None, semantic=False)
    gc.collect()
    rss_before = rss_mb()
    peak = 0
    for n in range(args.requests):
        req = request(f"A distinct prompt, number {n}, about {TOPICS[n % 10]} something.")
        await bound.lookup(ctx, req, plan)
        await bound.entries.put(f"k{n}", value, 3600)
        peak = max(peak, bound.entries.bytes)
    gc.collect()
    summary = {
        "semantic entries": args.entries,
        "semantic fill s": round(fill_s, 3),
        "semantic lookup p50 ms": round(percentile(lookups, 50), 3),
        "semantic lookup p99 ms": round(percentile(lookups, 99), 3),
        "semantic hits of 2000 paraphrased lookups": hits,
        "exact lookup p50 ms": round(percentile(exact, 50), 4),
        "exact lookup p99 ms": round(percentile(exact, 99), 4),
        "exact store max_bytes": bound.entries.max_bytes,
        "exact store peak bytes": peak,
        "exact store entries kept": len(bound.entries),
        "requests": args.requests,
        "rss growth MB": round(rss_mb() - rss_before, 1),
    }
    save("cache", summary)
    for key, value_ in summary.items():
        print(f"{key:<44}{value_}")
    print("semantic lookup p50 <= 3 ms:", "met" if summary["semantic lookup p50 ms"] <= 3 else "NOT met")
    print("store within its byte bound:", "met" if peak <= bound.entries.max_bytes else "NOT met")


if __name__ == "__main__":
    asyncio.run(main())
