"""The cost of telemetry: the same gateway with metrics + tracing + the log line on, and with all three
off (SWITCHBOARD_TELEMETRY=off, no OTEL endpoint), side by side in one run. Also measured: tracing with
10% sampling (OTEL_TRACES_SAMPLER=parentbased_traceidratio), and logs + metrics without tracing.

Both gateways run pinned to CPU 0 (one measured at a time, in alternating rounds); the upstream, the OTLP
sink and wrk share CPU 1. Spans are exported over OTLP/HTTP to the sink, log lines go to /dev/null.

    .venv/bin/python bench/telemetry.py [--duration 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, ROOT, cpu_seconds, free_port, wait_ready, wrk  # noqa: E402
from overhead import COMPLETE as GATEWAY_BODY  # noqa: E402
from ttft import bench_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    base_env = {
        **{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL", "_API_URL"))
           and not k.startswith("OTEL_")},
        "OPENAI_API_KEY": "sk-bench-not-a-real-key",
        "OPENAI_BASE_URL": f"{upstream}/v1",
        "VLLM_BASE_URL": f"{upstream}/v1",
    }
    variants = {
        "off": {**base_env, "SWITCHBOARD_TELEMETRY": "off"},
        "on": {**base_env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{upstream}/v1/traces"},
        "on_sampled": {**base_env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{upstream}/v1/traces",
                       "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
        "no_tracing": base_env,
    }
    processes = [subprocess.Popen(["taskset", "-c", "1", sys.executable, str(ROOT / "bench" / "upstream.py"),
                                   str(up_port)])]
    config_file = bench_config()
    ports = {}
    for name, env in variants.items():
        ports[name] = free_port()
        processes.append(subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "switchboard", "serve", "--port", str(ports[name]),
             "--config", config_file],
            env=env, stdout=subprocess.DEVNULL))
    pids = {name: processes[i + 1].pid for i, name in enumerate(variants)}
    samples: dict[str, list[dict]] = {name: [] for name in variants}
    try:
        for name in variants:
            wait_ready(f"http://127.0.0.1:{ports[name]}/readyz")
        for name in variants:
            wrk(f"http://127.0.0.1:{ports[name]}/complete", GATEWAY_BODY, 4, 2)  # warm-up
        for _ in range(args.rounds):
            for name in variants:
                cpu = cpu_seconds(pids[name])
                run = wrk(f"http://127.0.0.1:{ports[name]}/complete", GATEWAY_BODY, 1, args.duration)
                run["cpu_ms_per_request"] = (cpu_seconds(pids[name]) - cpu) * 1000 / run["requests"]
                samples[name].append(run)
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
    summary = {
        f"{name}_{field}": statistics.median(s[field] for s in runs)
        for name, runs in samples.items()
        for field in ("p50_ms", "p99_ms", "cpu_ms_per_request")
    }
    for name in variants:
        if name != "off":
            summary[f"{name}_added_p50_ms"] = summary[f"{name}_p50_ms"] - summary["off_p50_ms"]
            summary[f"{name}_added_cpu_ms"] = summary[f"{name}_cpu_ms_per_request"] - summary["off_cpu_ms_per_request"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "telemetry.json").write_text(json.dumps({"runs": samples, "summary": summary}, indent=2))
    for key, value in summary.items():
        print(f"{key:<30}{value:>10.3f}")
    for name in ("on", "on_sampled", "no_tracing"):
        verdict = "met" if summary[f"{name}_added_p50_ms"] <= 0.3 else "NOT met"
        print(f"target (<= 0.3 ms p50 added) with {name}: {verdict}")


if __name__ == "__main__":
    main()
