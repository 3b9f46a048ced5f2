"""Time to first token: a streamed request through Switchboard versus straight to the fake upstream.

Same run, same client, requests alternated one at a time. The gateway is pinned to CPU 0, the upstream
and this client to CPU 1. Reports p50/p99 of each and the overhead the gateway adds.

    .venv/bin/python bench/ttft.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, ROOT, free_port, wait_ready  # noqa: E402
from overhead import BENCH_CONFIG  # noqa: E402


def bench_config() -> str:
    import tempfile

    path = Path(tempfile.mkstemp(suffix=".yaml")[1])
    path.write_text(json.dumps(BENCH_CONFIG))  # JSON is YAML
    return str(path)


async def first_token_ms(session: aiohttp.ClientSession, url: str, body: dict, marker: bytes) -> float:
    started = time.perf_counter()
    async with session.post(url, json=body) as response:
        async for line in response.content:
            if marker in line:
                elapsed = (time.perf_counter() - started) * 1000
                await response.read()  # drain, so the connection is reused
                return elapsed
    raise RuntimeError(f"no token from {url}")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def measure(upstream: str, gateway: str, requests: int) -> dict[str, list[float]]:
    direct_body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True,
                   "stream_options": {"include_usage": True}}
    gateway_body = {"text": "hi", "stream": True, "task_type": "creative_writing"}
    samples: dict[str, list[float]] = {"direct": [], "gateway": []}
    async with aiohttp.ClientSession() as session:
        for index in range(requests + 50):
            direct = await first_token_ms(session, upstream, direct_body, b'"content":"Hello')
            through = await first_token_ms(session, gateway, gateway_body, b"event: delta")
            if index >= 50:  # warm-up
                samples["direct"].append(direct)
                samples["gateway"].append(through)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    up_port, gw_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL", "_API_URL"))},
        "OPENAI_API_KEY": "sk-bench-not-a-real-key",
        "OPENAI_BASE_URL": f"{upstream}/v1",
        "VLLM_BASE_URL": f"{upstream}/v1",
    }
    processes = [
        subprocess.Popen(["taskset", "-c", "1", sys.executable, str(ROOT / "bench" / "upstream.py"), str(up_port)]),
        subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "switchboard", "serve", "--port", str(gw_port),
                          "--config", bench_config()],
                         env=env, stdout=subprocess.DEVNULL),
    ]
    try:
        wait_ready(f"http://127.0.0.1:{gw_port}/readyz")
        samples = asyncio.run(
            measure(f"{upstream}/v1/chat/completions", f"http://127.0.0.1:{gw_port}/complete", args.requests)
        )
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
    summary = {
        f"{name}_{stat}_ms": percentile(values, q)
        for name, values in samples.items()
        for stat, q in (("p50", 50), ("p99", 99))
    }
    summary["added_p50_ms"] = summary["gateway_p50_ms"] - summary["direct_p50_ms"]
    summary["added_p99_ms"] = summary["gateway_p99_ms"] - summary["direct_p99_ms"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ttft.json").write_text(json.dumps(summary, indent=2))
    for key, value in summary.items():
        print(f"{key:<20}{value:>10.3f}")
    print("target (<= 2 ms p50 added):", "met" if summary["added_p50_ms"] <= 2 else "NOT met")


if __name__ == "__main__":
    main()
