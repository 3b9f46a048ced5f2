"""Operators' verbs against real gateways on one real Redis: drain, restore and force reach every replica within
2 s and requests obey them; connection-level failures open every target of their endpoint and name the host;
`/readyz` is about the process; the scrape-time gauges."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from switchboard.config import parse_config
from tests.conftest import config_data, make_config, outcomes, request_logs
from tests.fakes import Reply

pytestmark = pytest.mark.slow  # two gateways on one Redis, real timings

ADMIN = "sb-admin-test-SECRET-ops-0123456789abcdef"
ADMIN_HEADERS = {"authorization": f"Bearer {ADMIN}"}
CREATIVE = {"text": "hi", "task_type": "creative_writing"}  # openai:gpt-5.4 > anthropic:claude-sonnet-4-6 > local


@pytest.fixture
def shared(env: dict[str, str], redis_url: str) -> Iterator[dict[str, str]]:
    """Gateways on the session's Redis, empty at the start and at the end: no hold, queued job or breaker outlives
    the test (other modules share this Redis)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield {**env, "SWITCHBOARD_ADMIN_KEY": ADMIN, "REDIS_URL": redis_url}
    client.flushdb()


def until(check: Callable[[], Any], within_s: float, every_s: float = 0.05) -> tuple[Any, float]:
    """Poll `check` until it returns something truthy; (that value, seconds it took). Fails after `within_s`."""
    started = time.monotonic()
    while True:
        value = check()
        if value:
            return value, time.monotonic() - started
        if time.monotonic() - started > within_s:
            pytest.fail(f"not within {within_s}s")
        time.sleep(every_s)


def ask(base: str, body: dict[str, Any] = CREATIVE) -> httpx.Response:
    return httpx.post(f"{base}/complete", json=body, headers=ADMIN_HEADERS, timeout=10)


def test_a_drain_reaches_every_replica_within_2s_and_requests_skip_it_with_the_reason(serve, shared, fakes,
                                                                                         capfd) -> None:
    first, second = serve(environment=shared), serve(environment=shared)
    assert ask(second).json()["provider"] == "openai"
    drained = httpx.post(f"{first}/admin/targets/drain", headers=ADMIN_HEADERS, json={
        "provider": "openai", "model": None, "reason": "INC-7 refused connections", "for_s": 1800, "by": "alice"})
    assert drained.status_code == 200, drained.text
    assert drained.json()["hold"]["until"] is not None and "openai:gpt-5.4-mini" in drained.json()["targets"]

    def skipped_on_second() -> dict[str, Any] | None:
        body = ask(second).json()
        return body if body["provider"] == "anthropic" else None

    body, took = until(skipped_on_second, 2.0)
    assert took < 2.0
    attempt = body["route"]["attempts"][0]
    assert attempt["outcome"] == "drained" and attempt["status"] is None
    assert "drained by alice" in attempt["detail"] and "INC-7 refused connections" in attempt["detail"]
    calls = fakes.openai.calls
    assert ask(first).json()["provider"] == "anthropic" and ask(second).json()["provider"] == "anthropic"
    assert fakes.openai.calls == calls  # no call to a drained target

    ready = httpx.get(f"{second}/readyz").json()
    assert ready["targets"]["openai:gpt-5.4"] == "drained" and ready["holds"][0]["scope"] == "openai"
    listed = httpx.get(f"{second}/admin/targets", headers=ADMIN_HEADERS).json()
    row = next(r for r in listed["targets"] if r["target"] == "openai:gpt-5.4")
    assert row["hold"]["by"] == "alice" and row["hold"]["reason"] == "INC-7 refused connections"
    assert row["recent"]["attempts"] >= 1 and row["recent"]["p50_ms"] is not None
    exposition = httpx.get(f"{second}/metrics", headers=ADMIN_HEADERS).text
    assert 'switchboard_target_drained{provider="openai",target="openai:gpt-5.4"} 1.0' in exposition
    assert 'switchboard_target_drained{provider="anthropic",target="anthropic:claude-sonnet-4-6"} 0.0' in exposition

    restored = httpx.post(f"{second}/admin/targets/restore", headers=ADMIN_HEADERS,
                          json={"provider": "openai", "reason": "back"})
    assert [hold["scope"] for hold in restored.json()["restored"]] == ["openai"]
    until(lambda: ask(first).json()["provider"] == "openai", 2.0)
    records = [line for line in capfd.readouterr().out.splitlines() if '"record":"operation"' in line]
    assert any('"action":"drain"' in line and '"by":"alice"' in line for line in records)
    assert any('"action":"restore"' in line for line in records)


def test_every_target_drained_or_open_is_a_fast_explained_503(serve, shared, fakes) -> None:
    base = serve(environment=shared)
    for provider in ("openai", "anthropic"):
        httpx.post(f"{base}/admin/targets/drain", headers=ADMIN_HEADERS,
                   json={"provider": provider, "reason": "drill"}).raise_for_status()
    httpx.post(f"{base}/admin/targets/force", headers=ADMIN_HEADERS,
               json={"provider": "local", "model": "smollm2-135m-instruct", "state": "open",
                     "reason": "drill"}).raise_for_status()
    started = time.monotonic()
    response = ask(base)
    assert time.monotonic() - started < 1.0
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "no_target_available" and "drained" in error["message"]
    assert outcomes(response.json()["route"]["attempts"]) == [
        ("openai", "drained"), ("anthropic", "drained"), ("local", "circuit_open")]
    assert "breaker forced open" in response.json()["route"]["attempts"][2]["detail"]


def test_a_drain_with_an_expiry_lifts_itself_on_every_replica(serve, shared, fakes, capfd) -> None:
    first, second = serve(environment=shared), serve(environment=shared)
    httpx.post(f"{first}/admin/targets/drain", headers=ADMIN_HEADERS,
               json={"provider": "openai", "model": "gpt-5.4", "reason": "short", "for_s": 1}).raise_for_status()
    until(lambda: ask(second).json()["provider"] == "anthropic", 2.0)
    until(lambda: ask(second).json()["provider"] == "openai", 3.0)
    until(lambda: ask(first).json()["provider"] == "openai", 1.0)
    seen: list[str] = []

    def expired() -> list[str]:
        seen.extend(line for line in capfd.readouterr().out.splitlines() if '"action":"expire"' in line)
        return seen

    until(expired, 2.0)  # removed from Redis at the next refresh (0.5 s)
    time.sleep(1.0)  # two more refreshes on each replica: neither may record it again
    assert len(expired()) == 1  # one replica removed it and wrote the record


def test_a_breaker_forced_closed_lets_calls_through(serve, shared, fakes) -> None:
    config = make_config(retry={"max_retries": 0}, breaker={"failure_threshold": 1, "cooldown_s": 30})
    base = serve(config, environment=shared)
    fakes.openai.push(Reply(status=500))
    assert outcomes(ask(base).json()["route"]["attempts"])[0] == ("openai", "server_error")
    assert outcomes(ask(base).json()["route"]["attempts"])[0] == ("openai", "circuit_open")
    httpx.post(f"{base}/admin/targets/force", headers=ADMIN_HEADERS, json={
        "provider": "openai", "model": "gpt-5.4", "state": "closed", "reason": "flapping"}).raise_for_status()
    assert ask(base).json()["provider"] == "openai"
    assert httpx.get(f"{base}/readyz").json()["targets"]["openai:gpt-5.4"] == "forced_closed"


def test_only_the_admin_key_operates_targets_and_bad_names_are_named(serve, shared, env) -> None:
    base = serve(environment=shared)
    key = httpx.post(f"{base}/admin/keys", headers=ADMIN_HEADERS, json={"tenant": "acme", "tier": "paid"}).json()["key"]
    body = {"provider": "openai", "reason": "x"}
    assert httpx.post(f"{base}/admin/targets/drain", json=body).status_code == 401
    refused = httpx.post(f"{base}/admin/targets/drain", json=body, headers={"authorization": f"Bearer {key}"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert httpx.get(f"{base}/admin/targets", headers={"authorization": f"Bearer {key}"}).status_code == 403
    unknown = httpx.post(f"{base}/admin/targets/drain", headers=ADMIN_HEADERS,
                         json={"provider": "openai", "model": "gpt-9", "reason": "x"})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "model"
    no_reason = httpx.post(f"{base}/admin/targets/drain", headers=ADMIN_HEADERS, json={"provider": "openai"})
    assert no_reason.status_code == 422 and no_reason.json()["error"]["field"] == "reason"
    open_door = serve(environment=env)  # authentication off: nobody may
    assert httpx.post(f"{open_door}/admin/targets/drain", json=body).status_code == 403


def test_refused_connections_open_the_endpoint_for_every_target_behind_it_and_name_the_host(serve, fakes,
                                                                                            capfd) -> None:
    config = make_config(retry={"max_retries": 0}, breaker={"failure_threshold": 3, "cooldown_s": 30})
    base = serve(config)
    host = fakes.openai.url.removeprefix("http://")
    fakes.openai.refuse()
    for _ in range(3):
        attempt = ask(base).json()["route"]["attempts"][0]
        assert attempt["outcome"] == "connect_error" and attempt["status"] is None
        assert attempt["host"] == host and f"connection refused ({host})" in attempt["detail"]
    # gpt-5.4-mini (the default route's first target) was never called, yet it is skipped: its endpoint is open
    other = ask(base, {"text": "hi"}).json()["route"]["attempts"][0]
    assert (other["model"], other["outcome"]) == ("gpt-5.4-mini", "circuit_open")
    assert other["detail"].startswith(f"endpoint {host} unreachable: its breaker is open")
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200
    targets = ready.json()["targets"]
    assert targets["openai:gpt-5.4"] == targets["openai:gpt-5.4-mini"] == "endpoint_open"
    assert targets["anthropic:claude-sonnet-4-6"] == "ready"
    endpoint = next(e for e in ready.json()["endpoints"] if e["host"] == host)
    assert endpoint["breaker"] == "open" and endpoint["providers"] == ["openai"] and endpoint["targets"] == 3
    lines = [r for r in request_logs(capfd.readouterr().out) if r["path"] and r["path"][0]["outcome"] == "connect_error"]
    step = lines[0]["path"][0]
    assert step["status"] is None and step["host"] == host
    exposition = httpx.get(f"{base}/metrics").text
    assert f'switchboard_endpoint_failures_total{{host="{host}",outcome="connect_error",provider="openai"}} 3.0' in exposition
    assert 'switchboard_breaker_state{target="openai:gpt-5.4-mini"} 2.0' in exposition  # its endpoint's state


def test_one_answer_from_the_endpoint_closes_it_for_every_target_behind_it(serve, shared, fakes) -> None:
    """With Redis: two replicas, one probe after the cooldown, and every model back at once."""
    config = make_config(retry={"max_retries": 0}, breaker={"failure_threshold": 2, "cooldown_s": 0.5})
    first, second = serve(config, environment=shared), serve(config, environment=shared)
    fakes.openai.refuse()
    ask(first)
    ask(first)
    skipped = until(lambda: (a := ask(second, {"text": "hi"}).json()["route"]["attempts"][0])["outcome"]
                    == "circuit_open" and a, 2.0)[0]
    assert skipped["model"] == "gpt-5.4-mini"  # the other replica, the other model: the endpoint is open
    fakes.openai.accept()
    calls = fakes.openai.calls
    until(lambda: ask(first).json()["provider"] == "openai", 3.0)  # the probe, after the cooldown
    assert fakes.openai.calls == calls + 1
    until(lambda: ask(second, {"text": "hi"}).json()["provider"] == "openai", 2.0)
    ready = httpx.get(f"{second}/readyz").json()
    assert ready["targets"]["openai:gpt-5.4-mini"] == "ready"


def test_readyz_is_200_with_every_breaker_open_and_strict_says_503(serve, fakes) -> None:
    data = config_data(retry={"max_retries": 0}, breaker={"failure_threshold": 1, "cooldown_s": 30})
    data["embedding_routes"] = {name: None for name in data["embedding_routes"]}  # removed: chat targets only
    config = parse_config(data, "test config")
    assert config.embedding_routes == {}
    base = serve(config)
    for fake in fakes.all():
        fake.default = Reply(status=500)
    for task_type in ("creative_writing", "summarization", "classification", None):  # every chain's targets
        ask(base, {"text": "hi", "task_type": task_type} if task_type else {"text": "hi"})
    ready = httpx.get(f"{base}/readyz")
    assert set(ready.json()["targets"].values()) == {"breaker_open"}, ready.json()["targets"]
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["upstream"] == "none_ready" and ready.json()["usable"] == 0
    started = time.monotonic()
    refused = ask(base)  # the pod answers, fast and explained
    assert time.monotonic() - started < 1.0
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "no_target_available"
    assert int(refused.headers["retry-after"]) >= 1
    strict = httpx.get(f"{base}/readyz?strict=1")
    assert strict.status_code == 503 and strict.json()["status"] == "not_ready"


def test_scrape_time_gauges_redis_jobs_and_budgets(serve, shared, redis_url) -> None:
    import redis

    config = make_config(limits={"tenants": {"acme": {"budget_usd_day": 25}}})
    base = serve(config, environment=shared)
    client = redis.Redis.from_url(redis_url)
    client.rpush("switchboard.pipelines", "a", "b")
    client.zadd("sb:jobs:running", {"job-1": time.time()})
    exposition = httpx.get(f"{base}/metrics", headers=ADMIN_HEADERS).text
    assert "switchboard_redis_up 1.0" in exposition
    assert "switchboard_jobs_queued 2.0" in exposition and "switchboard_jobs_running 1.0" in exposition
    assert 'switchboard_tenant_budget_usd_day{tenant="acme"} 25.0' in exposition
    assert 'switchboard_config_reloads_total{result="error"}' in exposition  # both series from the start
    assert 'switchboard_config_reloads_total{result="ok"}' in exposition


def test_the_targets_cli_drains_lists_forces_and_restores(serve, shared, fakes, monkeypatch) -> None:
    from typer.testing import CliRunner

    from switchboard.cli import app

    base = serve(environment=shared)
    runner = CliRunner()

    def said(*args: str) -> tuple[int, str]:
        """The command's exit code and output (the in-process gateway's log lines, captured too, left out)."""
        result = runner.invoke(app, list(args))
        return result.exit_code, "\n".join(line for line in result.output.splitlines() if not line.startswith("{"))

    monkeypatch.setenv("SWITCHBOARD_URL", base)
    monkeypatch.delenv("SWITCHBOARD_ADMIN_KEY", raising=False)
    code, out = said("targets", "list")
    assert code == 2 and "SWITCHBOARD_ADMIN_KEY" in out
    monkeypatch.setenv("SWITCHBOARD_ADMIN_KEY", ADMIN)
    code, out = said("targets", "drain", "openai:gpt-5.4", "--reason", "INC-3", "--for", "30m")
    assert code == 0 and out.startswith("drained openai:gpt-5.4 until 20") and "every replica" in out, out
    code, out = said("targets", "force", "anthropic", "--state", "open", "--reason", "flaky")
    assert code == 0 and out.startswith("forced open anthropic until restored"), out
    ask(base)
    _, listed = said("targets", "list")
    assert re.search(r"openai:gpt-5\.4\s+drained\s+closed\s+.*drain by \S+ until 20\S+: INC-3", listed), listed
    assert re.search(r"anthropic:claude-haiku-4-5\s+forced_open", listed), listed
    code, out = said("targets", "drain", "nope", "--reason", "x")
    assert code == 1 and "422 invalid_request: provider: unknown provider 'nope'" in out, out
    code, out = said("targets", "drain", "openai", "--reason", "x", "--for", "soon")
    assert code == 2 and "--for" in out
    code, out = said("targets", "restore", "openai")
    assert code == 0 and "restored openai:gpt-5.4 (was drain" in out, out
    code, out = said("targets", "restore", "openai")
    assert "nothing was held on openai" in out
    assert ask(base).json()["provider"] == "openai"
    code, out = said("targets", "list", "--url", "http://127.0.0.1:9")
    assert code == 1 and "cannot reach the gateway" in out
