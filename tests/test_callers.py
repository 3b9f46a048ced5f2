"""Callers: API keys (hashed), tenants and tiers, limits and budgets shared by every replica through Redis."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest
import redis as redis_sync
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from switchboard.telemetry import tracing
from tests.conftest import cli, free_port, make_config, redis_answers, request_logs
from tests.fakes import Reply
from tests.waiting import wait_until

ADMIN = "sb-admin-test-SECRET-9999zzzz-0123456789"


@pytest.fixture
def shared(env, redis_url) -> dict[str, str]:
    redis_sync.Redis.from_url(redis_url).flushdb()
    return {**env, "SWITCHBOARD_ADMIN_KEY": ADMIN, "REDIS_URL": redis_url}


def mint(base_url: str, **spec) -> dict:
    response = httpx.post(f"{base_url}/admin/keys", json={"tenant": "acme", "tier": "paid", **spec},
                          headers={"authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 201, response.text
    return response.json()


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def key_parts(key: str) -> tuple[str, str]:
    """(id, secret) of `sbk_<id>_<secret>`. Split at the first two underscores only: the id never holds one,
    but the secret's alphabet (URL-safe base64) does."""
    prefix, key_id, secret = key.split("_", 2)
    assert prefix == "sbk" and len(key_id) == 12 and len(secret) == 43, key
    return key_id, secret


def test_key_parts_keep_underscores_in_the_secret() -> None:
    assert key_parts("sbk_abcdefghijkl_" + "a_b-" * 10 + "xyz") == ("abcdefghijkl", "a_b-" * 10 + "xyz")


def test_every_endpoint_but_health_needs_a_key_and_wrong_keys_are_401(serve, shared, fakes) -> None:
    base = serve(environment=shared)
    key = mint(base)["key"]
    assert httpx.get(f"{base}/healthz").status_code == 200
    assert httpx.get(f"{base}/readyz").status_code == 200
    missing = httpx.post(f"{base}/complete", json={"text": "hi"})
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    assert missing.headers["x-request-id"]
    unknown = httpx.post(f"{base}/complete", json={"text": "hi"}, headers=bearer(key[:-4] + "abcd"))
    assert unknown.status_code == 401
    v1 = httpx.post(f"{base}/v1/chat/completions", json={"model": "auto", "messages": []}, headers=bearer("nope"))
    assert v1.status_code == 401 and v1.json()["error"]["type"] == "invalid_request_error"  # OpenAI's shape
    messages = httpx.post(f"{base}/v1/messages", json={}, headers={"x-api-key": "nope"})
    assert messages.status_code == 401 and messages.json()["error"]["type"] == "authentication_error"
    for path in ("/pipelines", "/v1/models", "/metrics", "/admin/keys"):
        assert httpx.get(f"{base}{path}").status_code == 401, path
    assert fakes.openai.calls == 0
    ok = httpx.post(f"{base}/complete", json={"text": "hi"}, headers=bearer(key))
    assert ok.status_code == 200
    # x-api-key works too (Anthropic-style clients), and the official SDKs send their key as usual.
    assert httpx.post(f"{base}/complete", json={"text": "hi"}, headers={"x-api-key": key}).status_code == 200
    client = openai.OpenAI(api_key=key, base_url=f"{base}/v1", max_retries=0)
    assert client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}]).choices
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="wrong", base_url=f"{base}/v1", max_retries=0).models.list()
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(api_key="wrong", base_url=base, max_retries=0).messages.create(
            model="auto", max_tokens=10, messages=[{"role": "user", "content": "hi"}])


def test_the_admin_api_mints_lists_shows_and_revokes(serve, shared, fakes) -> None:
    base = serve(environment=shared)
    admin = bearer(ADMIN)
    created = mint(base, rpm=5, models=["openai/gpt-5.4"], expires="30d")
    assert created["key"].startswith("sbk_") and created["id"] in created["key"]
    assert created["rpm"] == 5 and created["status"] == "active" and "hash" not in created
    listed = httpx.get(f"{base}/admin/keys", headers=admin).json()["keys"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    # (its chain reaches openai/gpt-5.4, the one model the key may use)
    httpx.post(f"{base}/complete", json={"text": "hi", "task_type": "creative_writing"}, headers=bearer(created["key"]))

    def settled() -> dict | None:  # usage is counted after the answer has gone out
        body = httpx.get(f"{base}/admin/keys/{created['id']}", headers=admin).json()
        return body if body["today"]["cost_usd"] > 0 else None

    shown = wait_until(settled, timeout=5, message="the usage to be counted")
    assert shown["today"]["requests"] == 1 and shown["today"]["cost_usd"] > 0
    user = httpx.get(f"{base}/admin/keys", headers=bearer(created["key"]))
    assert user.status_code == 403  # a user key is not the admin key
    assert httpx.delete(f"{base}/admin/keys/{created['id']}", headers=admin).json()["status"] == "revoked"
    assert httpx.post(f"{base}/complete", json={"text": "hi"}, headers=bearer(created["key"])).status_code == 401
    bad = httpx.post(f"{base}/admin/keys", json={"tenant": "acme", "tier": "platinum"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "tier"


@pytest.mark.slow  # real time: waits, timers or deployments
def test_expired_keys_are_refused(serve, shared) -> None:
    base = serve(environment=shared)
    key = mint(base, expires="1s")["key"]
    minted_at = time.monotonic()
    assert httpx.post(f"{base}/complete", json={"text": "hi"}, headers=bearer(key)).status_code == 200

    def refusal() -> httpx.Response | None:
        answer = httpx.post(f"{base}/complete", json={"text": "hi"}, headers=bearer(key))
        return answer if answer.status_code != 200 else None

    refused = wait_until(refusal, timeout=5, interval=0.1, message="the key to expire")
    assert refused.status_code == 401 and "expired" in refused.json()["error"]["message"]
    assert time.monotonic() - minted_at >= 0.9  # not refused before its second was up


def test_only_a_keyed_hash_is_stored_and_no_key_leaks(serve, shared, redis_url, fakes, capfd) -> None:
    exporter = InMemorySpanExporter()
    tracing.configure(exporter, env={})
    try:
        base = serve(environment=shared)
        key = mint(base)["key"]
        key_id, secret = key_parts(key)
        httpx.post(f"{base}/complete", json={"text": "hi"}, headers=bearer(key))
        refused = httpx.post(f"{base}/complete", json={"text": "hi"}, headers=bearer(key + "x"))
        client = redis_sync.Redis.from_url(redis_url)
        dump = b"".join(
            repr(client.hgetall(k) if client.type(k) == b"hash" else client.dump(k)).encode() for k in client.keys())
        spans = "".join(s.to_json() for s in exporter.get_finished_spans())
        out = capfd.readouterr()
        for place in (dump.decode("latin-1"), spans, out.out + out.err, refused.text):
            assert secret not in place and ADMIN not in place and secret[:12] not in place
        lines = request_logs(out.out)
        assert lines and lines[0]["key_id"] == key_id  # the short public id only
    finally:
        tracing.configure(env={})


@pytest.mark.slow  # real time: waits, timers or deployments
def test_revocation_reaches_another_replica_within_two_seconds(serve, shared, fakes) -> None:
    first, second = serve(environment=shared), serve(environment=shared)
    created = mint(first)
    assert httpx.post(f"{second}/complete", json={"text": "hi"}, headers=bearer(created["key"])).status_code == 200
    httpx.delete(f"{first}/admin/keys/{created['id']}", headers=bearer(ADMIN))
    wait_until(lambda: httpx.post(f"{second}/complete", json={"text": "hi"},
                                  headers=bearer(created["key"])).status_code == 401,
               timeout=2, message="the other replica to refuse the revoked key")


def test_100_concurrent_requests_against_10_per_minute_let_exactly_10_through(serve, shared, fakes) -> None:
    replicas = [serve(environment=shared), serve(environment=shared)]
    key = mint(replicas[0], rpm=10)["key"]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(*(client.post(f"{replicas[i % 2]}/complete", json={"text": "hi"},
                                                      headers=bearer(key)) for i in range(100)))

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 10 and statuses.count(429) == 90
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited.headers["retry-after"]) >= 1
    passed = next(r for r in responses if r.status_code == 200)
    assert passed.headers["x-ratelimit-limit-requests"] == "10"
    assert int(passed.headers["x-ratelimit-remaining-requests"]) in range(10)
    assert passed.headers["x-ratelimit-reset-requests"].endswith("s")


def test_tokens_and_budget_are_reserved_then_settled_with_a_streamed_answer(serve, shared, redis_url, fakes) -> None:
    base = serve(environment=shared)
    fakes.openai.default = Reply(text="a streamed answer", input_tokens=40, output_tokens=10)
    created = mint(base, tpm=10_000, budget_usd_day=1.0)
    with httpx.stream("POST", f"{base}/complete", headers=bearer(created["key"]),
                      json={"text": "hi", "stream": True, "max_tokens": 2000, "task_type": "creative_writing"}) as r:
        assert r.status_code == 200
        # While it streams, its reservation (max_tokens plus the prompt's estimate) is held.
        assert int(r.headers["x-ratelimit-remaining-tokens"]) <= 10_000 - 2000
        end = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")][-1]
    client = redis_sync.Redis.from_url(redis_url)

    def spent() -> float | None:
        spent_keys = client.keys(f"sb:rl:usd:key:{created['id']}:*")
        return float(client.get(spent_keys[0])) if spent_keys else None

    # Settled once the stream has ended: the reservation comes back down to the real cost.
    wait_until(lambda: spent() == pytest.approx(end["cost_usd"], rel=1e-6), timeout=5,
               message=f"the budget to settle to {end['cost_usd']}")
    bucket = float(client.hget(f"sb:rl:tok:key:{created['id']}", "tokens"))
    assert bucket >= 10_000 - 50 - 100  # settled: 50 tokens used, the rest back (plus a little refill)
    budget = mint(base, budget_usd_day=0.00001)["key"]
    alone = httpx.post(f"{base}/complete", json={"text": "hi", "max_tokens": 2000}, headers=bearer(budget))
    assert alone.status_code == 429 and alone.json()["error"]["code"] == "request_too_large"  # over it alone
    small = mint(base, budget_usd_day=0.01)["key"]
    fakes.openai.default = Reply(text="a costly answer", input_tokens=40, output_tokens=5000)  # $0.05 > $0.01
    assert httpx.post(f"{base}/complete", json={"text": "hi", "max_tokens": 20, "task_type": "creative_writing"},
                      headers=bearer(small)).status_code == 200
    time.sleep(0.3)  # settled after the answer
    first = httpx.post(f"{base}/complete", json={"text": "hi", "max_tokens": 20}, headers=bearer(small))
    assert first.status_code == 429 and first.json()["error"]["code"] == "budget_exceeded"
    assert "resets at" in first.json()["error"]["message"] and first.headers["retry-after"]


def test_tier_routes_free_to_cheap_chains_and_paid_to_strong_ones(serve, shared, fakes) -> None:
    base = serve(environment=shared)
    free, paid = mint(base, tier="free")["key"], mint(base, tier="paid")["key"]
    cheap = httpx.post(f"{base}/complete", json={"text": "hi", "task_type": "creative_writing"},
                       headers=bearer(free)).json()
    assert cheap["provider"] == "cohere" and cheap["model"] == "command-r7b-12-2024"
    assert cheap["route"]["decision"]["rule"] == "tier" and cheap["route"]["decision"]["tier"] == "free"
    strong = httpx.post(f"{base}/complete", json={"text": "hi", "task_type": "creative_writing"},
                        headers=bearer(paid)).json()
    assert (strong["provider"], strong["model"]) == ("openai", "gpt-5.4")


def test_pinning_needs_the_model_on_the_key(serve, shared, fakes) -> None:
    base = serve(environment=shared)
    allowed = mint(base, models=["anthropic/claude-haiku-4-5"])["key"]
    ok = httpx.post(f"{base}/complete", json={"text": "hi", "model": "anthropic/claude-haiku-4-5"},
                    headers=bearer(allowed))
    assert ok.status_code == 200 and ok.json()["model"] == "claude-haiku-4-5"
    refused = httpx.post(f"{base}/v1/chat/completions", headers=bearer(allowed), json={
        "model": "openai/gpt-5.4", "messages": [{"role": "user", "content": "hi"}]})
    assert refused.status_code == 403 and "openai/gpt-5.4" in refused.json()["error"]["message"]


def test_the_key_is_the_attribution_not_the_metadata(serve, shared, fakes, capsys) -> None:
    base = serve(environment=shared)
    key = mint(base, tenant="globex")["key"]
    httpx.post(f"{base}/complete", json={"text": "hi", "metadata": {"tenant": "acme"}}, headers=bearer(key))
    line = next(line for line in request_logs(capsys.readouterr().out) if line["status"] == 200)
    assert line["tenant"] == "globex"


@pytest.fixture
def doomed_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own, to stop mid-run."""
    port = free_port()
    process = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL)
    wait_until(lambda: redis_answers(port), timeout=10, message=f"redis-server on port {port}")
    yield f"redis://127.0.0.1:{port}/0", process
    process.kill()
    process.wait(5)


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_redis_going_down_mid_run(serve, env, fakes, doomed_redis, mode) -> None:
    url, process = doomed_redis
    environment = {**env, "SWITCHBOARD_ADMIN_KEY": ADMIN, "REDIS_URL": url}
    base = serve(make_config(limits={"on_redis_error": mode}), environment=environment)
    key = mint(base, rpm=100)["key"]
    assert httpx.post(f"{base}/complete", json={"text": "hi"}, headers=bearer(key)).status_code == 200
    process.kill()
    process.wait(5)
    response = httpx.post(f"{base}/complete", json={"text": "hi"}, headers=bearer(key), timeout=10)
    if mode == "open":  # the cached key still answers; limits are not enforced, and the response says so
        assert response.status_code == 200 and response.headers["x-switchboard-limits"] == "unenforced"
    else:
        assert response.status_code == 503 and response.json()["error"]["code"] == "limits_unavailable"
    ready = httpx.get(f"{base}/readyz").json()
    assert ready["dependencies"]["redis"].startswith("unreachable") and ready["dependencies"]["limits"] == f"fail {mode}"


def test_metrics_need_the_admin_key_or_the_metrics_port(serve, shared) -> None:
    base = serve(environment=shared)
    assert httpx.get(f"{base}/metrics").status_code == 401
    assert httpx.get(f"{base}/metrics", headers=bearer(mint(base)["key"])).status_code == 403
    exposition = httpx.get(f"{base}/metrics", headers=bearer(ADMIN))
    assert exposition.status_code == 200 and "switchboard_breaker_state" in exposition.text


@pytest.mark.slow
def test_serve_with_a_metrics_port_serves_metrics_there_without_a_key(tmp_path) -> None:
    port, metrics_port = free_port(), free_port()
    env = {"PATH": "/usr/bin:/bin", "SWITCHBOARD_ADMIN_KEY": ADMIN, "VLLM_BASE_URL": "http://127.0.0.1:9/v1"}
    process = subprocess.Popen([sys.executable, "-m", "switchboard", "serve", "--port", str(port),
                                "--metrics-port", str(metrics_port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()
        assert "listening on" in line and f":{metrics_port}/metrics" in line
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 401
    finally:
        process.terminate()
        process.wait(20)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`switchboard ARGS` in this process (the CLI runner), with only `env` of the tests' settings."""
    result = cli(*args, env=env)
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def test_serve_refuses_a_public_address_without_an_admin_key() -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode == 2
    assert "SWITCHBOARD_ADMIN_KEY" in result.stderr and "--insecure-no-auth" in result.stderr


def test_keys_cli_against_redis(redis_url, serve, env, fakes) -> None:
    redis_sync.Redis.from_url(redis_url).flushdb()
    cli_env = {"REDIS_URL": redis_url, "SWITCHBOARD_ADMIN_KEY": ADMIN}
    created = run_cli("keys", "create", "--tenant", "acme", "--tier", "free", "--rpm", "60", "--json", env=cli_env)
    assert created.returncode == 0, created.stderr
    record = json.loads(created.stdout)
    assert record["key"].startswith("sbk_") and record["id"] and record["tier"] == "free"
    base = serve(environment={**env, **cli_env})
    assert httpx.post(f"{base}/complete", json={"text": "hi"}, headers=bearer(record["key"])).status_code == 200
    listed = run_cli("keys", "list", env=cli_env)
    assert listed.stdout.splitlines()[0].split() == ["ID", "TENANT", "TIER", "STATUS", "LIMITS"]
    assert record["id"] in listed.stdout and record["key"] not in listed.stdout
    shown = json.loads(run_cli("keys", "show", record["id"], env=cli_env).stdout)
    assert shown["rpm"] == 60 and "today" in shown
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown["created_at"]), shown  # ISO 8601, UTC
    assert shown["expires_at"] is None and record["created_at"] == shown["created_at"]
    assert run_cli("keys", "revoke", record["id"], env=cli_env).returncode == 0
    bad = run_cli("keys", "create", "--tenant", "acme", "--tier", "free", "--expires", "soon", env=cli_env)
    assert bad.returncode == 2 and "--expires" in bad.stderr


def test_keys_file_for_a_single_node_without_redis(tmp_path, serve, env, fakes) -> None:
    keys_file = tmp_path / "keys.jsonl"
    cli_env = {"SWITCHBOARD_ADMIN_KEY": ADMIN}
    created = run_cli("keys", "create", "--tenant", "solo", "--tier", "paid", "--rpm", "2", "--json",
                      "--keys-file", str(keys_file), env=cli_env)
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    assert key_parts(key)[1] not in keys_file.read_text()  # the whole secret (it may hold "_"), never stored
    base = serve(environment={**env, **cli_env, "SWITCHBOARD_KEYS_FILE": str(keys_file)})
    statuses = [httpx.post(f"{base}/complete", json={"text": "hi"}, headers=bearer(key)).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]  # limits in memory
    body = httpx.post(f"{base}/complete", json={"text": "hi"}, headers=bearer("sbk_" + "a" * 12 + "_" + "b" * 43))
    assert body.status_code == 401
