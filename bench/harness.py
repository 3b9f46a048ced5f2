"""What the benchmarks share: free ports, processes pinned to a CPU, wrk runs, CPU time from /proc."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(url: str, timeout: float = 60, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without provider keys, base URLs or OTEL settings, plus `extra`."""
    base = {k: v for k, v in os.environ.items()
            if not k.endswith(("_API_KEY", "_BASE_URL", "_API_URL")) and not k.startswith(("OTEL_", "SWITCHBOARD_"))
            and k != "REDIS_URL"}
    return {**base, **extra}


class Processes:
    """Started processes, stopped together."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, cpu: int, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(["taskset", "-c", str(cpu), *args], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        self.started.append(process)
        return process

    def upstream(self, port: int, delay_ms: float = 0, words: int = 5) -> None:
        self.start(1, PYTHON, str(ROOT / "bench" / "upstream.py"), str(port), str(delay_ms), str(words))
        wait_ready(f"http://127.0.0.1:{port}/health")

    def sse_upstream(self, port: int, delay_ms: float = 0) -> None:
        """The shared method's upstream (bench/sse_upstream.py under granian, one thread, uvloop): a fixed answer,
        or for `"stream": true` all of its SSE events in one write after the delay."""
        granian = shutil.which("granian", path=str(Path(PYTHON).parent)) or shutil.which("granian")
        if granian is None:
            sys.exit("granian is needed for the shared method's upstream (make bench installs it)")
        env = {**os.environ, "UPSTREAM_DELAY_MS": str(delay_ms)}
        process = subprocess.Popen(
            ["taskset", "-c", "1", granian, "--interface", "rsgi", "sse_upstream:rsgi_app", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1", "--runtime-threads", "1", "--runtime-mode", "st", "--loop",
             "uvloop", "--no-access-log"], cwd=ROOT / "bench", env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.started.append(process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions",
                                                              data=b"{}"), timeout=1)
                return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("the SSE upstream did not come up")

    def gateway(self, port: int, env: dict[str, str], config: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, workers: int = 1,
                cpu: int | None = 0) -> subprocess.Popen[bytes]:
        args = [PYTHON, "-m", "switchboard", "serve", "--port", str(port), "--workers", str(workers)]
        if config is not None:
            path = Path(tempfile.mkstemp(suffix=".yaml")[1])
            path.write_text(json.dumps(config))
            args += ["--config", str(path)]
        if cpu is None:  # every core (several workers)
            process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.started.append(process)
        else:
            process = self.start(cpu, *args, env=env)  # the request log line is part of the cost; its sink is not
        wait_ready(f"http://127.0.0.1:{port}/readyz", headers=headers)
        return process

    def stop(self) -> None:
        for process in self.started:
            process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    # taskset execs the real process: same pid. Children (none here) are not counted.
    return total


def wrk(url: str, body: dict[str, Any], connections: int, duration: int,
        headers: dict[str, str] | None = None, unpinned: bool = False) -> dict[str, float]:
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk (make bench does it)")
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(body))}",
                 'wrk.headers["Content-Type"] = "application/json"']
        lines += [f'wrk.headers["{k}"] = {json.dumps(v)}' for k, v in (headers or {}).items()]
        script.write_text("\n".join(lines) + "\n")
        out = subprocess.run(
            [*([] if unpinned else ["taskset", "-c", "1"]), "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
             str(script), url], capture_output=True, text=True, check=True).stdout
    percentiles = {int(p): float(v) * UNITS[u]
                   for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "p50_ms": percentiles[50],
        "p99_ms": percentiles[99],
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def measured(pid: int | None, url: str, body: dict[str, Any], connections: int, duration: int,
             headers: dict[str, str] | None = None, unpinned: bool = False) -> dict[str, float]:
    """A wrk run, with the CPU time per request of process `pid` over it."""
    before = cpu_seconds(pid) if pid else 0.0
    run = wrk(url, body, connections, duration, headers, unpinned)
    if pid:
        run["cpu_ms_per_request"] = (cpu_seconds(pid) - before) * 1000 / max(run["requests"], 1)
    return run


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over rounds of the same run (rounds alternate between the runs compared, so a
    machine that slows down for a while slows every one of them alike)."""
    return {field: statistics.median(run[field] for run in runs) for field in runs[0]}


def save(name: str, data: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2))


def table(results: dict[str, dict[str, float]]) -> str:
    lines = [f"{'run':<28}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'non-2xx':>9}{'cpu ms/req':>12}"]
    for name, run in results.items():
        cpu = f"{run['cpu_ms_per_request']:.3f}" if "cpu_ms_per_request" in run else "-"
        lines.append(f"{name:<28}{run['p50_ms']:>9.3f}{run['p99_ms']:>9.3f}{run['rps']:>9.0f}"
                     f"{run['non_2xx']:>9}{cpu:>12}")
    return "\n".join(lines)
