"""What the console adds to the request path: one call of `RecentRecords.finished` per request (the ring append
and the minute's counters). Issue 24's bar: at most 0.02 ms per request.

Real requests first: the library (`Switchboard`) sends a mix of requests (answered, streamed, with metadata,
refused, cache hits) to the bench upstream, and a capturing recorder keeps every request's context and `Ended`
as the flow hands them over. Then, side by side in one process, in alternating rounds over the same captured
requests: a recorder that does nothing (the cost of the call itself) and `RecentRecords`. The figure is the
median per-call time of each and their difference. For scale, the same for `Telemetry` (the log line and the
metrics, lines written to /dev/null) — the recorder every request already pays for.

    .venv/bin/python bench/console.py [--requests 400] [--rounds 7] [--repeat 20]
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, free_port, wait_ready
from overhead import BENCH_CONFIG

from switchboard import Switchboard
from switchboard.config import default_config_data, merge, parse_config
from switchboard.core.errors import GatewayError
from switchboard.operations.recent_records import RecentRecords


class Capture:
    def __init__(self) -> None:
        self.seen: list[tuple[Any, Any]] = []

    def started(self, ctx: Any) -> None:
        pass

    def finished(self, ctx: Any, ended: Any) -> None:
        self.seen.append((ctx, ended))


class Nothing:
    def started(self, ctx: Any) -> None:
        pass

    def finished(self, ctx: Any, ended: Any) -> None:
        pass


async def capture(upstream: str, count: int) -> list[tuple[Any, Any]]:
    config = parse_config(merge(default_config_data(), BENCH_CONFIG), "bench config")
    env = {"OPENAI_API_KEY": "sk-bench-not-a-real-key", "OPENAI_BASE_URL": f"{upstream}/v1",
           "VLLM_BASE_URL": f"{upstream}/v1"}
    captured = Capture()
    async with Switchboard(config, env) as sb:
        sb.runtime.flow.subscribe(captured)
        for n in range(count):
            metadata = {"team": "search", "ticket": f"T-{n}"} if n % 2 else None
            prompt = f"Summarise the following report, request {n % 50}: " + "lorem ipsum " * (n % 40)
            try:
                if n % 5 == 4:
                    async for _ in sb.stream(prompt, task_type="creative_writing", metadata=metadata):
                        pass
                elif n % 13 == 12:
                    await sb.complete(prompt, task_type="no_such_task")  # refused: a record without an answer
                else:
                    await sb.complete(prompt, task_type="math", temperature=0, metadata=metadata)  # cache hits too
            except GatewayError:
                pass
    return captured.seen


def per_call_us(recorder: Any, seen: list[tuple[Any, Any]], repeat: int) -> float:
    finished = recorder.finished
    started = time.perf_counter()
    for _ in range(repeat):
        for ctx, ended in seen:
            finished(ctx, ended)
    return (time.perf_counter() - started) * 1e6 / (repeat * len(seen))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    port = free_port()
    upstream = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parent / "upstream.py"), str(port)])
    try:
        wait_ready(f"http://127.0.0.1:{port}/health")
        seen = asyncio.run(capture(f"http://127.0.0.1:{port}", args.requests))
    finally:
        upstream.terminate()
        upstream.wait(10)
    answered = sum(1 for _, ended in seen if ended.response is not None)
    from switchboard import logs
    from switchboard.telemetry.record import Telemetry

    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # the log lines Telemetry writes go nowhere
    try:
        logs.configure("info")
        candidates = {"nothing": Nothing, "recent_records": RecentRecords, "telemetry": Telemetry}
        samples: dict[str, list[float]] = {name: [] for name in candidates}
        for _ in range(args.rounds):
            for name, make in candidates.items():
                samples[name].append(per_call_us(make(), seen, args.repeat))
    finally:
        os.dup2(saved, 1)
        os.close(null)
    median = {name: statistics.median(values) for name, values in samples.items()}
    summary = {
        "requests_captured": len(seen), "answered": answered,
        "per_call_us": {name: round(value, 3) for name, value in median.items()},
        "ring_append_us": round(median["recent_records"] - median["nothing"], 3),
        "telemetry_us": round(median["telemetry"] - median["nothing"], 3),
        "bar_us": 20.0,
    }
    summary["within_bar"] = summary["ring_append_us"] <= summary["bar_us"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "console.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
