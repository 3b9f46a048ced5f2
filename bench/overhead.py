"""Gateway overhead by the shared side-by-side method (../shared/bench/README.md), in one run: the fake upstream
called directly, the floor (a bare FastAPI + aiohttp pass-through) and Switchboard's `/v1/chat/completions` with
`model: auto` (the classifier on the path) and with a task type, and `/complete`, with the exact cache off so
every request takes the routing path.

The upstream is ../shared/bench/upstream.py (bench/sse_upstream.py) under granian, answering a streamed request
with all of its SSE events in one write; it and wrk share CPU 1, the floor and the gateway (one worker) run
pinned to CPU 0, measured one at a time. Phases:
- a fast upstream: p50/p99 at 1 request in flight (the median of alternating rounds), and at 64 in flight
  requests per second; CPU per request at 1 and at 64 in flight, against the floor's;
- a 50 ms upstream with 16 in flight: throughput against direct, and p99 against the floor's;
- the classifier's share of a request's CPU: (auto - task type) / auto, at 64 in flight.

Options measure a feature against the same gateway without it, in the same run:
    --auth     API keys and limits on (Redis on this machine), a key with rpm/tpm/budget, against the same
               gateway on the same Redis with them off (Redis-backed breakers and cache in both)
    --tools    a tool-calling request against a plain one
    --cache    an exact-cache hit against a direct call
    --workers  `serve --workers 2` against one worker at 64 in flight, every process unpinned (the upstream on
               CPU 1, wrk unpinned): the throughput ratio

    .venv/bin/python bench/overhead.py [--duration 8] [--rounds 4] [--auth] [--tools] [--cache] [--workers]
    (make bench runs all)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    PYTHON,
    ROOT,
    Processes,
    clean_env,
    free_port,
    measured,
    median_run,
    save,
    table,
    wait_ready,
)

MESSAGES = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Say hello."}]
DIRECT = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 32, "temperature": 0}
AUTO = {"model": "auto", "messages": MESSAGES, "max_tokens": 32, "temperature": 0}
V1 = {"model": "creative_writing", "messages": MESSAGES, "max_tokens": 32, "temperature": 0}
COMPLETE = {"text": "Say hello.", "max_tokens": 32, "temperature": 0, "task_type": "creative_writing"}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
V1_TOOLS = {**V1, "tools": TOOLS, "tool_choice": "auto"}
CACHED = {**COMPLETE, "temperature": 0}
ADMIN = "sb-bench-admin-key-0000000000-0123456789"
BENCH_CONFIG: dict[str, Any] = {
    # Every chain ends at the bench upstream; no embedded model; the classifier on (model: auto); the exact cache
    # off, so every request takes the routing path (the bodies are deterministic: it would measure hits).
    "providers": {"local": {"embedded": False}},
    "cache": {"exact": {"enabled": False}},
}
CACHE_CONFIG: dict[str, Any] = {**BENCH_CONFIG, "cache": {"exact": {"enabled": True}}}


def gateway_env(upstream: str, **extra: str) -> dict[str, str]:
    return clean_env(OPENAI_API_KEY="sk-bench-not-a-real-key", OPENAI_BASE_URL=f"{upstream}/v1",
                     VLLM_BASE_URL=f"{upstream}/v1", **extra)


def start_redis(processes: Processes) -> str:
    port = free_port()
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is needed for --auth")
    processes.start(1, binary, "--port", str(port), "--save", "", "--appendonly", "no")
    time.sleep(0.5)
    return f"redis://127.0.0.1:{port}/0"


def mint_key(port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/admin/keys", method="POST",
        data=json.dumps({"tenant": "bench", "tier": "paid", "rpm": 10_000_000, "tpm": 2_000_000_000,
                         "budget_usd_day": 1_000_000}).encode(),
        headers={"authorization": f"Bearer {ADMIN}", "content-type": "application/json"})
    return str(json.loads(urllib.request.urlopen(request).read())["key"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds of the one-in-flight runs "
                                                                "(each duration/rounds seconds)")
    parser.add_argument("--auth", action="store_true")
    parser.add_argument("--tools", action="store_true")
    parser.add_argument("--cache", action="store_true")
    parser.add_argument("--workers", action="store_true")
    args = parser.parse_args()
    processes = Processes()
    fast_port, slow_port = free_port(), free_port()
    fast, slow = f"http://127.0.0.1:{fast_port}", f"http://127.0.0.1:{slow_port}"
    results: dict[str, dict[str, float]] = {}
    try:
        processes.sse_upstream(fast_port)
        processes.sse_upstream(slow_port, delay_ms=50)
        ports = {name: free_port() for name in ("pass", "gw", "gw_slow", "pass_slow", "gw_redis", "gw_auth",
                                                 "gw_cache", "gw_one", "gw_two")}
        passthrough = processes.start(0, PYTHON, str(ROOT / "bench" / "passthrough.py"), str(ports["pass"]),
                                      f"{fast}/v1/chat/completions")
        pass_slow = processes.start(0, PYTHON, str(ROOT / "bench" / "passthrough.py"), str(ports["pass_slow"]),
                                    f"{slow}/v1/chat/completions")
        for port in (ports["pass"], ports["pass_slow"]):
            wait_ready(f"http://127.0.0.1:{port}/health")
        gateway = processes.gateway(ports["gw"], gateway_env(fast), BENCH_CONFIG)
        gateway_slow = processes.gateway(ports["gw_slow"], gateway_env(slow), BENCH_CONFIG)
        auth: dict[str, str] = {}
        gateway_auth = gateway_redis = gateway_cache = None
        if args.auth:  # the same gateway on the same Redis, with and without keys and limits
            redis_url = start_redis(processes)
            gateway_redis = processes.gateway(ports["gw_redis"], gateway_env(fast, REDIS_URL=redis_url), BENCH_CONFIG)
            env = gateway_env(fast, SWITCHBOARD_ADMIN_KEY=ADMIN, REDIS_URL=redis_url)
            gateway_auth = processes.gateway(ports["gw_auth"], env, BENCH_CONFIG)
            auth = {"authorization": f"Bearer {mint_key(ports['gw_auth'])}"}
        if args.cache:
            gateway_cache = processes.gateway(ports["gw_cache"], gateway_env(fast), CACHE_CONFIG)

        gw = f"http://127.0.0.1:{ports['gw']}"
        runs: list[tuple[str, int | None, str, dict[str, Any], dict[str, str] | None]] = [
            ("direct", None, f"{fast}/v1/chat/completions", DIRECT, None),
            ("floor", passthrough.pid, f"http://127.0.0.1:{ports['pass']}/v1/chat/completions", DIRECT, None),
            ("gateway /v1 auto", gateway.pid, f"{gw}/v1/chat/completions", AUTO, None),
            ("gateway /v1 task", gateway.pid, f"{gw}/v1/chat/completions", V1, None),
            ("gateway /complete", gateway.pid, f"{gw}/complete", COMPLETE, None),
        ]
        if args.tools:
            runs.append(("gateway /v1 tools", gateway.pid, f"{gw}/v1/chat/completions", V1_TOOLS, None))
        if gateway_cache is not None:
            runs.append(("gateway /complete hit", gateway_cache.pid, f"http://127.0.0.1:{ports['gw_cache']}/complete",
                         CACHED, None))
        if gateway_auth is not None and gateway_redis is not None:
            runs += [("gateway /v1 redis", gateway_redis.pid,
                      f"http://127.0.0.1:{ports['gw_redis']}/v1/chat/completions", V1, None),
                     ("gateway /v1 auth", gateway_auth.pid,
                      f"http://127.0.0.1:{ports['gw_auth']}/v1/chat/completions", V1, auth)]
        for name, pid, url, body, headers in runs:  # warm-up, then measure
            measured(pid, url, body, 8, 2, headers)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in runs}
        for _ in range(args.rounds):  # one in flight: alternating rounds, each figure the median
            for name, pid, url, body, headers in runs:
                rounds[name].append(measured(pid, url, body, 1, max(args.duration // args.rounds, 2), headers))
        for name, samples in rounds.items():
            results[f"{name} c1"] = median_run(samples)
        for name, pid, url, body, headers in runs:
            results[f"{name} c64"] = measured(pid, url, body, 64, args.duration, headers)
        slow_runs = [
            ("direct 50ms", None, f"{slow}/v1/chat/completions", DIRECT),
            ("floor 50ms", pass_slow.pid, f"http://127.0.0.1:{ports['pass_slow']}/v1/chat/completions", DIRECT),
            ("gateway /v1 auto 50ms", gateway_slow.pid, f"http://127.0.0.1:{ports['gw_slow']}/v1/chat/completions",
             AUTO),
        ]
        for name, pid, url, body in slow_runs:
            measured(pid, url, body, 16, 2)
            results[f"{name} c16"] = measured(pid, url, body, 16, args.duration)
        if args.workers:  # every process unpinned but the upstream (CPU 1)
            one = processes.gateway(ports["gw_one"], gateway_env(fast), BENCH_CONFIG, workers=1, cpu=None)
            two = processes.gateway(ports["gw_two"], gateway_env(fast), BENCH_CONFIG, workers=2, cpu=None)
            for name, process, port in (("workers 1", one, ports["gw_one"]), ("workers 2", two, ports["gw_two"])):
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                measured(None, url, AUTO, 64, 2)
                results[f"{name} c64"] = measured(None, url, AUTO, 64, args.duration, unpinned=True)
    finally:
        processes.stop()

    direct1 = results["direct c1"]["p50_ms"]
    floor = {c: results[f"floor c{c}"]["cpu_ms_per_request"] for c in (1, 64)}
    summary: dict[str, float] = {"floor p50 added c1 (ms)": results["floor c1"]["p50_ms"] - direct1}
    for name in ("/v1 auto", "/v1 task", "/complete"):
        summary[f"{name} p50 added c1 (ms)"] = results[f"gateway {name} c1"]["p50_ms"] - direct1
        summary[f"{name} req/s c64"] = results[f"gateway {name} c64"]["rps"]
        for c in (1, 64):
            cpu = results[f"gateway {name} c{c}"]["cpu_ms_per_request"]
            summary[f"{name} cpu ms/request c{c}"] = cpu
            summary[f"{name} cpu / floor's c{c}"] = cpu / floor[c]
    summary["floor cpu ms/request c1"], summary["floor cpu ms/request c64"] = floor[1], floor[64]
    auto64, task64 = (results[f"gateway /v1 {kind} c64"]["cpu_ms_per_request"] for kind in ("auto", "task"))
    summary["classifier share of /v1 auto cpu c64"] = (auto64 - task64) / auto64
    slow_run = results["gateway /v1 auto 50ms c16"]
    summary["/v1 auto 50ms throughput / direct"] = slow_run["rps"] / results["direct 50ms c16"]["rps"]
    summary["/v1 auto 50ms p99 / floor p99"] = slow_run["p99_ms"] / results["floor 50ms c16"]["p99_ms"]
    summary["floor 50ms throughput / direct"] = results["floor 50ms c16"]["rps"] / results["direct 50ms c16"]["rps"]
    if args.tools:
        summary["tools p50 added over plain /v1 (ms)"] = (results["gateway /v1 tools c1"]["p50_ms"]
                                                          - results["gateway /v1 task c1"]["p50_ms"])
    if args.cache:
        summary["exact hit p50 added over direct (ms)"] = results["gateway /complete hit c1"]["p50_ms"] - direct1
    if args.auth:
        summary["auth+limits p50 added /v1 (ms)"] = (results["gateway /v1 auth c1"]["p50_ms"]
                                                     - results["gateway /v1 redis c1"]["p50_ms"])
        summary["redis-backed state p50 added /v1 (ms)"] = (results["gateway /v1 redis c1"]["p50_ms"]
                                                            - results["gateway /v1 task c1"]["p50_ms"])
    if args.workers:
        summary["workers 2 / workers 1 req/s c64"] = results["workers 2 c64"]["rps"] / results["workers 1 c64"]["rps"]
    save("overhead", {"runs": results, "summary": summary, "date": time.strftime("%Y-%m-%d")})
    print(table(results))
    print()
    for key, value in summary.items():
        print(f"{key:<44}{value:>10.3f}")
    checks = {
        "/v1 auto: p50 added at 1 in flight <= 1 ms": summary["/v1 auto p50 added c1 (ms)"] <= 1.0,
        "/v1 auto: cpu <= 2x the floor's at 1 in flight": summary["/v1 auto cpu / floor's c1"] <= 2.0,
        "/v1 auto: cpu <= 2x the floor's at 64 in flight": summary["/v1 auto cpu / floor's c64"] <= 2.0,
        "50 ms upstream: >= 0.95 of direct": summary["/v1 auto 50ms throughput / direct"] >= 0.95,
        "50 ms upstream: p99 <= 1.2x the floor's": summary["/v1 auto 50ms p99 / floor p99"] <= 1.2,
    }
    if args.tools:
        checks["tools add <= 0.2 ms"] = summary["tools p50 added over plain /v1 (ms)"] <= 0.2
    if args.cache:
        checks["exact hit adds <= 0.5 ms"] = summary["exact hit p50 added over direct (ms)"] <= 0.5
    if args.auth:
        checks["auth+limits add <= 0.3 ms"] = summary["auth+limits p50 added /v1 (ms)"] <= 0.3
    if args.workers:
        checks["workers 2 >= 1.8x one worker at 64 in flight"] = summary["workers 2 / workers 1 req/s c64"] >= 1.8
    print()
    for name, ok in checks.items():
        print(f"{'met' if ok else 'NOT met':<8} {name}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

