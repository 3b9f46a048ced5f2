"""Overload, side by side in one run: one gateway worker with load shedding (`server.max_in_flight`) and the
same worker without it, offered four times the load it sustains, against a 50 ms upstream.

1. Capacity: a closed loop of 64 wrk connections against the worker (no shedding) gives its throughput; 3/4 of it
   is the sustainable load T (what it serves without falling behind, with room to spare).
2. A background load at a fixed rate (autocannon `--overallRate`, open loop: requests keep coming whether or not
   earlier ones finished), first at T, then at 4T, against each worker; meanwhile a probe sends 20 requests a
   second and records, for each one admitted, its latency. The probe's latency at T is the baseline; at 4T, with
   shedding, admitted requests should keep it, and without, they queue.
3. A request that arrives while every target's breaker is open: the latency of its 503 (wrk, one at a time).

Gateways on CPU 0 (one loaded at a time); the upstream and the load generators on CPU 1.

    .venv/bin/python bench/overload.py [--duration 10] [--max-in-flight 64]    (make bench installs autocannon)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, Processes, free_port, measured, save  # noqa: E402
from overhead import BENCH_CONFIG, COMPLETE, gateway_env  # noqa: E402

AUTOCANNON = ROOT / "bench" / ".node" / "node_modules" / ".bin" / "autocannon"
PROBE_RATE = 20


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else float("nan")


async def probe(url: str, seconds: float) -> dict[str, Any]:
    admitted: list[float] = []
    shed = failed = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async def one() -> None:
            nonlocal shed, failed
            started = time.perf_counter()
            try:
                async with session.post(url, json=COMPLETE) as response:
                    await response.read()
                    if response.status == 200:
                        admitted.append((time.perf_counter() - started) * 1000)
                    else:
                        shed += 1
            except (aiohttp.ClientError, asyncio.TimeoutError):
                failed += 1

        tasks = []
        begin = time.monotonic()
        while time.monotonic() - begin < seconds:
            tasks.append(asyncio.create_task(one()))
            await asyncio.sleep(1 / PROBE_RATE)
        await asyncio.gather(*tasks)
    return {"probe_admitted": len(admitted), "probe_shed": shed, "probe_failed": failed,
            "admitted_p50_ms": pct(admitted, 50), "admitted_p99_ms": pct(admitted, 99)}


PER_CONNECTION = 5  # requests a second from each background connection


def background(url: str, rate: float, seconds: float) -> subprocess.Popen[str]:
    # A fixed rate per connection (`-r`), so the load arrives spread out, not in a burst each second.
    connections = max(1, round(rate / PER_CONNECTION))
    return subprocess.Popen(
        ["taskset", "-c", "1", str(AUTOCANNON), "-c", str(connections), "-r", str(PER_CONNECTION),
         "-d", str(int(seconds)),
         "-m", "POST", "-H", "content-type=application/json", "-b", json.dumps(COMPLETE), "-t", "30", "-j", url],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def under_load(url: str, rate: float, seconds: float) -> dict[str, Any]:
    load = background(url, rate, seconds)
    time.sleep(1)  # let the load build up before probing
    result = asyncio.run(probe(url, seconds - 2))
    out, _ = load.communicate(timeout=seconds + 60)
    report = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    result["background_sent"] = report.get("requests", {}).get("sent", 0)
    result["background_2xx"] = report.get("2xx", 0)
    result["background_non2xx"] = report.get("non2xx", 0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10)
    # The bound to set is about what the worker holds at its sustainable load with room to spare: here ~20 in
    # flight (350 req/s x 55 ms), so 32.
    parser.add_argument("--max-in-flight", type=int, default=32)
    args = parser.parse_args()
    if not AUTOCANNON.exists():
        sys.exit("autocannon is needed: npm install --prefix bench/.node autocannon@8 (make bench does it)")
    processes = Processes()
    up = free_port()
    results: dict[str, Any] = {}
    try:
        # Long answers (80 chunks): the worker spends more per request, so four times its load stays within
        # what the load generator and the upstream, sharing the other core, can offer without slowing down.
        processes.upstream(up, delay_ms=50, words=80)
        upstream = f"http://127.0.0.1:{up}"
        shed_port, open_port, dead_port = free_port(), free_port(), free_port()
        shedding = processes.gateway(shed_port, gateway_env(upstream),
                                     {**BENCH_CONFIG, "server": {"max_in_flight": args.max_in_flight}})
        unbounded = processes.gateway(open_port, gateway_env(upstream),
                                      {**BENCH_CONFIG, "server": {"max_in_flight": 100_000}})
        nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: every call fails, breakers open
        dead = processes.gateway(dead_port, gateway_env(nowhere), {
            **BENCH_CONFIG, "retry": {"max_retries": 0}, "breaker": {"failure_threshold": 1, "cooldown_s": 600}})
        shed_url = f"http://127.0.0.1:{shed_port}/complete"
        open_url = f"http://127.0.0.1:{open_port}/complete"

        measured(shedding.pid, shed_url, COMPLETE, 16, 2)  # warm-up
        capacity = measured(unbounded.pid, open_url, COMPLETE, 64, int(args.duration))
        rate = 0.75 * capacity["rps"]  # sustainable: what it serves with room to spare
        results["capacity (wrk, 64 connections)"] = capacity
        results["1x, shedding"] = under_load(shed_url, rate, args.duration)
        results["4x, shedding"] = under_load(shed_url, 4 * rate, args.duration)
        time.sleep(2)
        results["1x, no shedding"] = under_load(open_url, rate, args.duration)
        results["4x, no shedding"] = under_load(open_url, 4 * rate, args.duration)

        try:  # one request opens every breaker
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{dead_port}/complete", data=json.dumps(COMPLETE).encode(),
                headers={"content-type": "application/json"}), timeout=10)
        except Exception:
            pass
        results["every breaker open (wrk, 1 at a time)"] = measured(
            dead.pid, f"http://127.0.0.1:{dead_port}/complete", COMPLETE, 1, 5)
    finally:
        processes.stop()
    save("overload", {"sustainable_rps": rate, **results})
    for name, run in results.items():
        print(f"{name}:")
        for key, value in run.items():
            print(f"    {key:<20}{value:>12.3f}" if isinstance(value, float) else f"    {key:<20}{value:>12}")
    base, hot = results["1x, shedding"], results["4x, shedding"]
    kept = hot["admitted_p99_ms"] <= 1.5 * base["admitted_p99_ms"]
    print(f"\nsustainable {rate:.0f} req/s; offered 4x: {4 * rate:.0f} req/s")
    print("with shedding, admitted requests keep their latency at 4x (p99 within 1.5x of 1x):",
          "met" if kept else "NOT met")
    print(f"a request with every breaker open is refused in {results['every breaker open (wrk, 1 at a time)']['p50_ms']:.3f}"
          " ms p50 (HTTP round trip included)")


if __name__ == "__main__":
    main()
