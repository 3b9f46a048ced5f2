"""The mechanisms that keep answers coming under pressure: hedged requests, load shedding, a 503 that says when
to come back, and graceful restarts that lose nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import config_data, free_port, make_config, outcomes
from tests.fakes import Reply
from tests.waiting import wait_until, wait_until_async


@pytest.mark.slow  # real time: waits, timers or deployments
def test_a_slow_but_healthy_primary_is_hedged_and_its_tail_cut(serve, fakes) -> None:
    config = make_config(timeouts={"first_token_s": 5}, routes={"creative_writing": {
        "targets": ["openai:gpt-5.4", "anthropic:claude-sonnet-4-6", "local:smollm2-135m-instruct"],
        "hedge_after_s": 0.2}})
    fakes.openai.default = Reply(text="slow primary", delay_s=1.5)
    fakes.anthropic.default = Reply(text="the hedge", input_tokens=30)
    with httpx.Client(base_url=serve(config), timeout=10) as client:
        started = time.monotonic()
        body = client.post("/complete", json={"text": "hi", "task_type": "creative_writing"}).json()
        hedged_s = time.monotonic() - started
        fakes.anthropic.default = Reply(status=500)  # without the hedge, the slow primary is the answer
        started = time.monotonic()
        plain = client.post("/complete", json={"text": "hi", "task_type": "creative_writing"}).json()
        plain_s = time.monotonic() - started
    assert body["text"] == "the hedge" and hedged_s < 0.9
    attempts = {a["provider"]: a for a in body["route"]["attempts"]}
    assert attempts["openai"]["outcome"] == "hedge_lost" and attempts["openai"]["cost_usd"] > 0
    assert attempts["anthropic"]["outcome"] == "ok" and attempts["anthropic"]["hedged"] is True
    assert plain["text"] == "slow primary" and plain_s >= 1.5  # the hedge lost: the primary still answered
    assert outcomes(plain["route"]["attempts"])[-1] == ("openai", "ok")


def test_a_hedge_is_not_started_when_the_primary_is_quick(serve, fakes) -> None:
    config = make_config(routes={"creative_writing": {
        "targets": ["openai:gpt-5.4", "anthropic:claude-sonnet-4-6"], "hedge_after_s": 0.5}})
    with httpx.Client(base_url=serve(config)) as client:
        body = client.post("/complete", json={"text": "hi", "task_type": "creative_writing"}).json()
    assert outcomes(body["route"]["attempts"]) == [("openai", "ok")] and fakes.anthropic.calls == 0


@pytest.mark.slow  # real time: waits, timers or deployments
def test_beyond_max_in_flight_requests_are_shed_at_once_with_retry_after(serve, fakes) -> None:
    fakes.openai.default = Reply(delay_s=1.0)
    base_url = serve(make_config(server={"max_in_flight": 2}))
    app = serve.apps[-1]

    async def full() -> bool:
        return app.in_flight >= 2

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            slow = [asyncio.create_task(client.post("/complete", json={"text": "hi"})) for _ in range(2)]
            await wait_until_async(full, timeout=5, message="the two slow requests to be admitted")
            started = time.monotonic()
            shed = await client.post("/v1/chat/completions", json={
                "model": "auto", "messages": [{"role": "user", "content": "hi"}]})
            assert time.monotonic() - started < 0.5  # refused at once, not queued
            return [shed, *await asyncio.gather(*slow)]

    shed, *admitted = asyncio.run(burst())
    assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
    assert shed.json()["error"]["code"] == "overloaded"  # in the OpenAI shape on /v1
    assert [r.status_code for r in admitted] == [200, 200]
    assert httpx.get(f"{base_url}/healthz").status_code == 200  # probes are never shed


def test_when_every_breaker_is_open_the_503_says_when_to_come_back(serve, fakes) -> None:
    config = make_config(retry={"max_retries": 0}, breaker={"failure_threshold": 1, "cooldown_s": 30})
    for fake in fakes.all():
        fake.default = Reply(status=500)
    with httpx.Client(base_url=serve(config)) as client:
        client.post("/complete", json={"text": "hi"})  # opens all three breakers
        calls = sum(fake.calls for fake in fakes.all())
        response = client.post("/complete", json={"text": "hi"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "no_target_available"
    assert 28 <= int(response.headers["retry-after"]) <= 30
    assert outcomes(response.json()["route"]["attempts"]) == [
        ("openai", "circuit_open"), ("anthropic", "circuit_open"), ("local", "circuit_open")]
    assert sum(fake.calls for fake in fakes.all()) == calls  # refused without a single upstream call


def test_readiness_reports_draining(serve) -> None:
    base_url = serve()
    assert httpx.get(f"{base_url}/readyz").json()["status"] == "ready"
    app = serve.apps[-1]
    app.draining = True  # what SIGTERM sets (the restart test below sends the real signal)
    response = httpx.get(f"{base_url}/readyz")
    assert response.status_code == 503 and response.json()["status"] == "draining"


def _gateway(port: int, config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-m", "switchboard", "serve", "--port", str(port), "--config",
                                str(config)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "listening on" in line, line
    return process


@pytest.mark.slow
def test_a_gateway_restarted_under_load_behind_two_instances_fails_no_request(tmp_path, env, fakes) -> None:
    """Two gateways behind a client-side balancer that, like a load balancer, retries a refused connection on
    the other instance. One gateway gets SIGTERM mid-load: its requests and streams in flight finish, new ones
    go to the other; then it comes back. Nothing fails."""
    fakes.openai.default = Reply(text="one two three four five six", chunk_delay_s=0.05)
    config = tmp_path / "switchboard.yaml"
    config.write_text(yaml.safe_dump({**config_data(), "server": {"shutdown_grace_s": 10}}))
    environment = {"PATH": os.environ["PATH"], **env}
    ports = [free_port(), free_port()]
    gateways = [_gateway(port, config, environment) for port in ports]
    results: Counter[str] = Counter()
    served: Counter[int] = Counter()  # answers by port
    stop = threading.Event()

    def one(client: httpx.Client, index: int) -> str:
        for attempt in range(2):
            port = ports[(index + attempt) % 2]
            try:
                if index % 2:
                    with client.stream("POST", f"http://127.0.0.1:{port}/complete",
                                       json={"text": "hi", "stream": True}) as response:
                        body = "".join(response.iter_text())
                    served[port] += 1
                    return "ok" if response.status_code == 200 and "event: end" in body else f"bad {body[-200:]}"
                response = client.post(f"http://127.0.0.1:{port}/complete", json={"text": "hi"})
                served[port] += 1
                return "ok" if response.status_code == 200 else f"status {response.status_code}"
            except httpx.ConnectError:
                continue  # refused: the balancer sends it to the other instance
        return "unreachable"

    def load(worker: int) -> None:
        index = worker
        with httpx.Client(timeout=20, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while not stop.is_set():
                results[one(client, index)] += 1
                index += 8

    threads = [threading.Thread(target=load, args=(n,)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        wait_until(lambda: min(served[port] for port in ports) >= 10, timeout=30, message="both to serve")
        gateways[0].send_signal(signal.SIGTERM)  # with requests and streams in flight
        assert gateways[0].wait(20) is not None
        stopped = gateways[0].stderr.read() if gateways[0].stderr else ""
        down = served[ports[1]]
        wait_until(lambda: served[ports[1]] >= down + 20, timeout=30, message="the other to serve meanwhile")
        gateways[0] = _gateway(ports[0], config, environment)
        back = served[ports[0]]
        wait_until(lambda: served[ports[0]] >= back + 10, timeout=30, message="the restarted one to serve")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        for gateway in gateways:
            gateway.terminate()
            gateway.wait(20)
    assert "stopped" in stopped
    assert results["ok"] > 50 and set(results) == {"ok"}, results


@pytest.mark.parametrize("path", ["/complete", "/v1/chat/completions"])
def test_shed_requests_are_structured_errors_in_the_path_shape(serve, path) -> None:
    base_url = serve(make_config(server={"max_in_flight": 1}))
    app = serve.apps[-1]
    app.in_flight = 1  # as if one request were in flight
    try:
        response = httpx.post(f"{base_url}{path}", json={})
    finally:
        app.in_flight = 0
    assert response.status_code == 503 and response.headers["x-request-id"]
    error = response.json()["error"]
    assert error["code"] == "overloaded" and error["message"]
