"""Gateway overhead, side by side in one run: the fake upstream called directly, a bare FastAPI + aiohttp
pass-through, and Switchboard's `/complete` and `/v1/chat/completions` (one worker each).

Gateways and the pass-through run pinned to CPU 0, one measured at a time; the upstream and wrk share CPU 1.
Two phases:
- a fast upstream: p50/p99 at 1 request in flight (the median of alternating rounds), requests per second and CPU per request at 64 in flight;
- a 50 ms upstream with 16 in flight: throughput against direct, and p99 against the bare pass-through.

Options measure a feature against the same gateway without it, in the same run:
    --auth     API keys and limits on (Redis on this machine), a key with rpm/tpm/budget, against the same
               gateway on the same Redis with them off (Redis-backed breakers and cache in both)
    --tools    a tool-calling request against a plain one
    --cache    an exact-cache hit against a direct call

    .venv/bin/python bench/overhead.py [--duration 8] [--rounds 4] [--auth] [--tools] [--cache]
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

MESSAGES = [{"role": "user", "content": "Say hello."}]
DIRECT = {"model": "gpt-5.4", "messages": MESSAGES, "max_tokens": 16}
COMPLETE = {"text": "Say hello.", "max_tokens": 16, "task_type": "creative_writing"}
V1 = {"model": "creative_writing", "messages": MESSAGES, "max_tokens": 16}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
V1_TOOLS = {**V1, "tools": TOOLS, "tool_choice": "auto"}
CACHED = {**COMPLETE, "temperature": 0}
ADMIN = "sb-bench-admin-key-0000000000-0123456789"
BENCH_CONFIG: dict[str, Any] = {
    # Every chain ends at the bench upstream; no embedded model, no classifier (task types are given).
    "providers": {"local": {"embedded": False}},
    "routing": {"classifier": {"enabled": False}},
}


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
    args = parser.parse_args()
    processes = Processes()
    fast_port, slow_port = free_port(), free_port()
    fast, slow = f"http://127.0.0.1:{fast_port}", f"http://127.0.0.1:{slow_port}"
    results: dict[str, dict[str, float]] = {}
    try:
        processes.upstream(fast_port)
        processes.upstream(slow_port, delay_ms=50)
        ports = {name: free_port() for name in ("pass", "gw", "gw_slow", "pass_slow", "gw_redis", "gw_auth")}
        passthrough = processes.start(0, PYTHON, str(ROOT / "bench" / "passthrough.py"), str(ports["pass"]),
                                      f"{fast}/v1/chat/completions")
        pass_slow = processes.start(0, PYTHON, str(ROOT / "bench" / "passthrough.py"), str(ports["pass_slow"]),
                                    f"{slow}/v1/chat/completions")
        for port in (ports["pass"], ports["pass_slow"]):
            wait_ready(f"http://127.0.0.1:{port}/health")
        gateway = processes.gateway(ports["gw"], gateway_env(fast), BENCH_CONFIG)
        gateway_slow = processes.gateway(ports["gw_slow"], gateway_env(slow), BENCH_CONFIG)
        auth: dict[str, str] = {}
        gateway_auth = gateway_redis = None
        if args.auth:  # the same gateway on the same Redis, with and without keys and limits
            redis_url = start_redis(processes)
            gateway_redis = processes.gateway(ports["gw_redis"], gateway_env(fast, REDIS_URL=redis_url), BENCH_CONFIG)
            env = gateway_env(fast, SWITCHBOARD_ADMIN_KEY=ADMIN, REDIS_URL=redis_url)
            gateway_auth = processes.gateway(ports["gw_auth"], env, BENCH_CONFIG)
            auth = {"authorization": f"Bearer {mint_key(ports['gw_auth'])}"}

        direct_url = f"{fast}/v1/chat/completions"
        runs: list[tuple[str, int | None, str, dict[str, Any], dict[str, str] | None]] = [
            ("direct", None, direct_url, DIRECT, None),
            ("passthrough", passthrough.pid, f"http://127.0.0.1:{ports['pass']}/v1/chat/completions", DIRECT, None),
            ("gateway /complete", gateway.pid, f"http://127.0.0.1:{ports['gw']}/complete", COMPLETE, None),
            ("gateway /v1", gateway.pid, f"http://127.0.0.1:{ports['gw']}/v1/chat/completions", V1, None),
        ]
        if args.tools:
            runs.append(("gateway /v1 tools", gateway.pid, f"http://127.0.0.1:{ports['gw']}/v1/chat/completions",
                         V1_TOOLS, None))
        if args.cache:
            runs.append(("gateway /complete hit", gateway.pid, f"http://127.0.0.1:{ports['gw']}/complete",
                         CACHED, None))
        if gateway_auth is not None and gateway_redis is not None:
            runs += [("gateway /complete redis", gateway_redis.pid, f"http://127.0.0.1:{ports['gw_redis']}/complete",
                      COMPLETE, None),
                     ("gateway /v1 redis", gateway_redis.pid,
                      f"http://127.0.0.1:{ports['gw_redis']}/v1/chat/completions", V1, None),("gateway /complete auth", gateway_auth.pid, f"http://127.0.0.1:{ports['gw_auth']}/complete",
                      COMPLETE, auth),
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
            ("passthrough 50ms", pass_slow.pid, f"http://127.0.0.1:{ports['pass_slow']}/v1/chat/completions",
             DIRECT),
            ("gateway /complete 50ms", gateway_slow.pid, f"http://127.0.0.1:{ports['gw_slow']}/complete", COMPLETE),
            ("gateway /v1 50ms", gateway_slow.pid, f"http://127.0.0.1:{ports['gw_slow']}/v1/chat/completions", V1),
        ]
        for name, pid, url, body in slow_runs:
            measured(pid, url, body, 16, 2)
            results[f"{name} c16"] = measured(pid, url, body, 16, args.duration)
    finally:
        processes.stop()

    direct1, direct64 = results["direct c1"]["p50_ms"], results["direct c64"]
    summary: dict[str, float] = {}
    for path in ("/complete", "/v1"):
        summary[f"{path} p50 added c1 (ms)"] = results[f"gateway {path} c1"]["p50_ms"] - direct1
        summary[f"{path} req/s c64"] = results[f"gateway {path} c64"]["rps"]
        summary[f"{path} cpu ms/request c64"] = results[f"gateway {path} c64"]["cpu_ms_per_request"]
        slow_run = results[f"gateway {path} 50ms c16"]
        summary[f"{path} 50ms throughput / direct"] = slow_run["rps"] / results["direct 50ms c16"]["rps"]
        summary[f"{path} 50ms p99 / passthrough p99"] = slow_run["p99_ms"] / results["passthrough 50ms c16"]["p99_ms"]
    summary["passthrough p50 added c1 (ms)"] = results["passthrough c1"]["p50_ms"] - direct1
    summary["passthrough cpu ms/request c64"] = results["passthrough c64"]["cpu_ms_per_request"]
    if args.tools:
        summary["tools p50 added over plain /v1 (ms)"] = (results["gateway /v1 tools c1"]["p50_ms"]
                                                          - results["gateway /v1 c1"]["p50_ms"])
    if args.cache:
        summary["exact hit p50 added over direct (ms)"] = results["gateway /complete hit c1"]["p50_ms"] - direct1
    if args.auth:
        for path in ("/complete", "/v1"):
            summary[f"auth+limits p50 added {path} (ms)"] = (results[f"gateway {path} auth c1"]["p50_ms"]
                                                             - results[f"gateway {path} redis c1"]["p50_ms"])
            summary[f"redis-backed state p50 added {path} (ms)"] = (results[f"gateway {path} redis c1"]["p50_ms"]
                                                                    - results[f"gateway {path} c1"]["p50_ms"])
    save("overhead", {"runs": results, "summary": summary, "direct_c64_rps": direct64["rps"]})
    print(table(results))
    print()
    for key, value in summary.items():
        print(f"{key:<44}{value:>10.3f}")
    checks = {
        "p50 added <= 1 ms (both paths)": all(summary[f"{p} p50 added c1 (ms)"] <= 1.0 for p in ("/complete", "/v1")),
        ">= 1000 req/s at 64 (both)": all(summary[f"{p} req/s c64"] >= 1000 for p in ("/complete", "/v1")),
        "<= 1 ms CPU per request (both)": all(summary[f"{p} cpu ms/request c64"] <= 1.0 for p in ("/complete", "/v1")),
        "50 ms upstream: >= 0.95 of direct": all(summary[f"{p} 50ms throughput / direct"] >= 0.95
                                                 for p in ("/complete", "/v1")),
        "50 ms upstream: p99 <= 1.2x pass-through": all(summary[f"{p} 50ms p99 / passthrough p99"] <= 1.2
                                                        for p in ("/complete", "/v1")),
    }
    if args.tools:
        checks["tools add <= 0.2 ms"] = summary["tools p50 added over plain /v1 (ms)"] <= 0.2
    if args.cache:
        checks["exact hit adds <= 0.5 ms"] = summary["exact hit p50 added over direct (ms)"] <= 0.5
    if args.auth:
        checks["auth+limits add <= 0.3 ms"] = all(summary[f"auth+limits p50 added {p} (ms)"] <= 0.3
                                                  for p in ("/complete", "/v1"))
    print()
    for name, ok in checks.items():
        print(f"{'met' if ok else 'NOT met':<8} {name}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

