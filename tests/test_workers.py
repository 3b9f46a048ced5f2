"""`switchboard serve --workers N` (issue 27): processes sharing one port, metrics summed across them, and a
SIGTERM that drains every worker's requests in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from switchboard.http.workers import available_cpus, cgroup_cpu_limit
from tests.conftest import free_port, request_logs
from tests.fakes import Reply

pytestmark = pytest.mark.slow


def fresh(url: str, **kwargs) -> httpx.Response:
    """One request on a connection of its own (so the kernel may hand it to either worker)."""
    with httpx.Client(timeout=30, headers={"connection": "close"}) as client:
        return client.request(kwargs.pop("method", "GET"), url, **kwargs)


def metric_sum(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{")
               or line.startswith(name + " "))


def test_two_workers_share_the_port_sum_their_metrics_and_both_drain_on_sigterm(env, fakes, tmp_path) -> None:
    port, metrics_port = free_port(), free_port()
    log = (tmp_path / "requests.log").open("w")  # a file, not a pipe nobody reads while it runs
    process = subprocess.Popen(
        [sys.executable, "-m", "switchboard", "serve", "--port", str(port), "--metrics-port", str(metrics_port),
         "--workers", "2"],
        env={**{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}, **env,
             "SWITCHBOARD_WORKERS": "2"},
        stdout=log, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        started = process.stderr.readline()
        assert "listening on" in started and "workers: 2" in started, started

        # Requests on fresh connections spread over both workers; /metrics on either counts them all.
        pids = set()
        for n in range(40):
            assert fresh(f"{base}/complete", method="POST", json={"text": f"hi {n}"}).status_code == 200
            pids.add(fresh(f"{base}/readyz").json()["pid"])
        assert len(pids) == 2, pids
        for _ in range(3):  # whichever worker answers the scrape
            scraped = fresh(f"http://127.0.0.1:{metrics_port}/metrics").text
            assert metric_sum(scraped, "switchboard_requests_total") == 40

        # Slow answers in flight on both workers, then SIGTERM: every one completes.
        fakes.openai.default = Reply(text="slow but sure", delay_s=1.5)
        results: list[int] = []
        threads: list[threading.Thread] = []
        busy: dict[int, int] = {}
        deadline = time.monotonic() + 30
        while not (len(busy) == 2 and all(busy.values())) and time.monotonic() < deadline and len(threads) < 30:
            thread = threading.Thread(target=lambda: results.append(
                fresh(f"{base}/complete", method="POST", json={"text": "slow", "model": "openai/gpt-5.4"}).status_code))
            thread.start()
            threads.append(thread)
            for _ in range(6):
                ready = fresh(f"{base}/readyz").json()
                busy[ready["pid"]] = ready["in_flight"]
        assert len(busy) == 2 and all(busy.values()), (busy, len(threads), results)  # both have one in flight
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(30)
        assert results == [200] * len(threads)
        assert process.wait(30) == 0
        rest = process.stderr.read()
        assert rest.count("stopped") == 1 and "2 workers drained" in rest
        log.close()
        lines = request_logs((tmp_path / "requests.log").read_text())
        assert len(lines) == 40 + len(threads) and len({line["replica"] for line in lines}) == 2
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_the_default_is_one_worker_per_available_core(tmp_path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None
    assert 1 <= available_cpus() <= (os.cpu_count() or 1)


def test_workers_end_with_their_supervisor_even_when_it_is_killed(env, fakes, tmp_path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "switchboard", "serve", "--port", str(port), "--workers", "2"],
        env={**{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}, **env,
             "SWITCHBOARD_WORKERS": "2"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert "workers: 2" in process.stderr.readline()
        pids: set[int] = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:
            pids.add(fresh(f"http://127.0.0.1:{port}/readyz").json()["pid"])
        assert len(pids) == 2
        process.kill()  # SIGKILL: no chance to stop its workers itself
        process.wait(10)

        def alive(pid: int) -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            with open(f"/proc/{pid}/stat") as stat:  # a zombie (exited, not yet reaped) is not serving
                return stat.read().rsplit(")", 1)[1].split()[0] != "Z"

        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for the workers' exit, with a deadline
        assert not any(alive(pid) for pid in pids)
    finally:
        if process.poll() is None:
            process.kill()
