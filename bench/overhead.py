"""Gateway overhead: Switchboard's /complete versus calling the fake upstream directly, in one run.

The gateway runs as one worker pinned to CPU 0; the upstream and wrk share CPU 1. Reported: p50/p99
latency at 1 and 64 requests in flight for both paths, the latency the gateway adds, its requests per
second at 64 in flight, and its CPU time per request (from /proc, over the 64-in-flight run).

    make bench        (or: .venv/bin/python bench/overhead.py [--duration 10])
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BODY = {"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}
GATEWAY_BODY = {"text": "Say hello.", "max_tokens": 16}
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, body: dict, connections: int, duration: int, lua_dir: Path) -> dict[str, float]:
    script = lua_dir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout
    percentiles = {
        int(p): float(v) * UNITS[u] for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "p50_ms": percentiles[50],
        "p99_ms": percentiles[99],
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk (make bench does it)")

    up_port, gw_port = free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{up_port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL", "_API_URL"))},
        "OPENAI_API_KEY": "sk-bench-not-a-real-key",
        "OPENAI_BASE_URL": f"{upstream_url}/v1",
        "VLLM_BASE_URL": f"{upstream_url}/v1",  # the local tier too, so the embedded model is not started
    }
    processes = [
        subprocess.Popen(["taskset", "-c", "1", sys.executable, str(ROOT / "bench" / "upstream.py"), str(up_port)]),
        subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "switchboard", "serve", "--port", str(gw_port)],
            env=env, stdout=subprocess.DEVNULL,  # the request log line is part of the cost; its sink is not
        ),
    ]
    gateway_pid = processes[1].pid
    try:
        wait_ready(f"http://127.0.0.1:{gw_port}/readyz")
        results: dict[str, dict] = {}
        with tempfile.TemporaryDirectory() as lua_dir:
            for name, url, body in (
                ("direct", f"{upstream_url}/v1/chat/completions", BODY),
                ("gateway", f"http://127.0.0.1:{gw_port}/complete", GATEWAY_BODY),
            ):
                wrk(url, body, 8, 2, Path(lua_dir))  # warm-up
                for connections in (1, 64):
                    cpu_before = cpu_seconds(gateway_pid)
                    run = wrk(url, body, connections, args.duration, Path(lua_dir))
                    if name == "gateway":
                        run["cpu_ms_per_request"] = (cpu_seconds(gateway_pid) - cpu_before) * 1000 / run["requests"]
                    results[f"{name}_c{connections}"] = run
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(10)

    summary = {
        "added_p50_ms_c1": results["gateway_c1"]["p50_ms"] - results["direct_c1"]["p50_ms"],
        "added_p99_ms_c1": results["gateway_c1"]["p99_ms"] - results["direct_c1"]["p99_ms"],
        "added_p50_ms_c64": results["gateway_c64"]["p50_ms"] - results["direct_c64"]["p50_ms"],
        "added_p99_ms_c64": results["gateway_c64"]["p99_ms"] - results["direct_c64"]["p99_ms"],
        "gateway_rps_c64": results["gateway_c64"]["rps"],
        "gateway_cpu_ms_per_request_c64": results["gateway_c64"]["cpu_ms_per_request"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "overhead.json").write_text(json.dumps({"runs": results, "summary": summary}, indent=2))
    print(f"{'run':<14}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}{'non-2xx':>9}{'cpu ms/req':>12}")
    for name, run in results.items():
        cpu = f"{run['cpu_ms_per_request']:.3f}" if "cpu_ms_per_request" in run else "-"
        print(f"{name:<14}{run['p50_ms']:>10.3f}{run['p99_ms']:>10.3f}{run['rps']:>10.0f}{run['non_2xx']:>9}{cpu:>12}")
    print()
    for key, value in summary.items():
        print(f"{key:<34}{value:>10.3f}")
    targets_met = (
        summary["added_p50_ms_c1"] <= 1.0
        and summary["gateway_rps_c64"] >= 1000
        and summary["gateway_cpu_ms_per_request_c64"] <= 1.0
    )
    print("targets (p50 added <= 1 ms at 1 in flight; >= 1000 req/s at 64; <= 1 ms CPU/request):",
          "met" if targets_met else "NOT met")


if __name__ == "__main__":
    main()
