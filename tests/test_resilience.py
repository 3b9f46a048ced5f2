"""Retries, backoff, Retry-After, deadlines, circuit breakers and failover, seen from the outside."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import make_config, outcomes, request_logs
from tests.fakes import Reply


@pytest.mark.slow  # real time: waits, timers or deployments
def test_429_with_retry_after_is_retried_after_at_least_that_long(gateway: httpx.Client, fakes) -> None:
    fakes.openai.push(Reply(status=429, headers={"retry-after": "1"}), Reply(text="second time lucky"))
    started = time.monotonic()
    body = gateway.post("/complete", json={"text": "hi", "task_type": "creative_writing"}).json()
    elapsed = time.monotonic() - started
    assert (body["provider"], body["text"]) == ("openai", "second time lucky")
    first, second = body["route"]["attempts"]
    assert (first["outcome"], first["status"]) == ("rate_limited", 429)
    assert (second["outcome"], second["status"]) == ("ok", 200)
    assert second["wait_ms"] >= 1000 and elapsed >= 1.0
    assert fakes.openai.calls == 2


def test_retry_after_ms_is_honoured_as_a_floor(gateway: httpx.Client, fakes) -> None:
    fakes.openai.push(Reply(status=503, headers={"retry-after-ms": "300"}), Reply())
    body = gateway.post("/complete", json={"text": "hi", "task_type": "creative_writing"}).json()
    assert outcomes(body["route"]["attempts"]) == [("openai", "overloaded"), ("openai", "ok")]
    assert body["route"]["attempts"][1]["wait_ms"] >= 300


def test_500s_retry_then_fail_over_to_anthropic_then_529s_to_local(gateway: httpx.Client, fakes, capsys) -> None:
    fakes.openai.default = Reply(status=500, error_message="boom")
    fakes.anthropic.default = Reply(status=529, error_message="Overloaded")
    fakes.vllm.push(Reply(text="the local model answers"))
    response = gateway.post("/complete", json={"text": "hi", "task_type": "creative_writing"})
    assert response.status_code == 200
    body = response.json()
    assert (body["provider"], body["text"]) == ("local", "the local model answers")
    assert outcomes(body["route"]["attempts"]) == [
        ("openai", "server_error"), ("openai", "server_error"), ("openai", "server_error"),
        ("anthropic", "overloaded"), ("anthropic", "overloaded"), ("anthropic", "overloaded"),
        ("local", "ok"),
    ]
    waits = [a["wait_ms"] for a in body["route"]["attempts"]]
    assert waits[0] == 0 and waits[1] > 0 and waits[2] > 0  # backoff before each retry
    assert fakes.openai.calls == 3 and fakes.anthropic.calls == 3

    (line,) = request_logs(capsys.readouterr().out)
    assert outcomes(line["path"]) == outcomes(body["route"]["attempts"])
    assert [step["status"] for step in line["path"]] == [500, 500, 500, 529, 529, 529, 200]
    assert "boom" in line["path"][0]["detail"] and "overloaded_error" in line["path"][3]["detail"]
    assert line["provider"] == "local"


def test_retry_after_longer_than_time_left_fails_over_at_once(gateway: httpx.Client, fakes) -> None:
    fakes.openai.push(Reply(status=429, headers={"retry-after": "30"}))
    started = time.monotonic()
    body = gateway.post("/complete", json={"text": "hi", "task_type": "creative_writing", "timeout_s": 3}).json()
    assert time.monotonic() - started < 3
    assert outcomes(body["route"]["attempts"]) == [("openai", "rate_limited"), ("anthropic", "ok")]
    assert "exceeds" in body["route"]["attempts"][0]["detail"]
    assert fakes.openai.calls == 1


def test_a_hanging_primary_times_out_and_fails_over_within_the_deadline(serve, fakes) -> None:
    config = make_config(timeouts={"first_token_s": 0.3}, retry={"max_retries": 1})
    fakes.openai.default = Reply(hang=True)
    with httpx.Client(base_url=serve(config)) as client:
        started = time.monotonic()
        body = client.post("/complete", json={"text": "hi", "task_type": "creative_writing", "timeout_s": 2}).json()
        elapsed = time.monotonic() - started
    assert elapsed < 1
    # It sent nothing in time: failing over beats waiting on it again while other targets remain.
    assert outcomes(body["route"]["attempts"]) == [("openai", "timeout"), ("anthropic", "ok")]


def test_deadline_ends_the_request_with_504_listing_every_attempt(serve, fakes) -> None:
    for fake in fakes.all():
        fake.default = Reply(hang=True)
    with httpx.Client(base_url=serve()) as client:
        started = time.monotonic()
        response = client.post("/complete", json={"text": "hi", "task_type": "creative_writing", "timeout_s": 0.5})
        elapsed = time.monotonic() - started
    assert response.status_code == 504 and elapsed < 1.0
    body = response.json()
    assert body["error"]["code"] == "deadline_exceeded"
    # Each target but the last may use at most half the time left, so every one got its chance.
    assert outcomes(body["route"]["attempts"]) == [
        ("openai", "timeout"), ("anthropic", "timeout"), ("local", "deadline_exceeded")]


def test_dropped_connections_and_malformed_bodies_are_retried(gateway: httpx.Client, fakes) -> None:
    fakes.openai.push(Reply(drop=True), Reply(malformed=True), Reply(text="fine"))
    body = gateway.post("/complete", json={"text": "hi", "task_type": "creative_writing"}).json()
    assert outcomes(body["route"]["attempts"]) == [
        ("openai", "connect_error"), ("openai", "invalid_response"), ("openai", "ok")
    ]
    assert body["text"] == "fine"


def test_auth_errors_and_bad_requests_fail_over_without_retrying(gateway: httpx.Client, fakes) -> None:
    fakes.openai.api_key = "a-different-key"
    fakes.anthropic.push(Reply(status=400, error_message="bad"))
    body = gateway.post("/complete", json={"text": "hi", "task_type": "creative_writing"}).json()
    assert outcomes(body["route"]["attempts"]) == [
        ("openai", "auth_error"), ("anthropic", "bad_request"), ("local", "ok")
    ]
    assert fakes.openai.calls == 1 and fakes.anthropic.calls == 1


def test_x_should_retry_false_stops_retries(gateway: httpx.Client, fakes) -> None:
    fakes.openai.push(Reply(status=500, headers={"x-should-retry": "false"}))
    body = gateway.post("/complete", json={"text": "hi", "task_type": "creative_writing"}).json()
    assert outcomes(body["route"]["attempts"]) == [("openai", "server_error"), ("anthropic", "ok")]


def test_insufficient_quota_is_not_retried(gateway: httpx.Client, fakes) -> None:
    fakes.openai.push(Reply(status=429, error_type="insufficient_quota", error_code="insufficient_quota", error_message="You exceeded your quota"))
    body = gateway.post("/complete", json={"text": "hi", "task_type": "creative_writing"}).json()
    assert outcomes(body["route"]["attempts"]) == [("openai", "quota_exceeded"), ("anthropic", "ok")]


def test_breaker_opens_skips_without_calls_then_one_probe_closes_it(serve, fakes) -> None:
    config = make_config(retry={"max_retries": 0}, breaker={"failure_threshold": 2, "cooldown_s": 0.5})
    fakes.openai.default = Reply(status=500)
    with httpx.Client(base_url=serve(config)) as client:
        ask = lambda: client.post("/complete", json={"text": "hi", "task_type": "creative_writing"}).json()  # noqa: E731
        assert outcomes(ask()["route"]["attempts"])[0] == ("openai", "server_error")
        assert outcomes(ask()["route"]["attempts"])[0] == ("openai", "server_error")  # second failure opens it
        assert fakes.openai.calls == 2
        skipped = ask()
        assert outcomes(skipped["route"]["attempts"]) == [("openai", "circuit_open"), ("anthropic", "ok")]
        assert fakes.openai.calls == 2  # no HTTP call to an open target
        assert client.get("/readyz").json()["targets"]["openai:gpt-5.4"] == "breaker_open"

        time.sleep(0.6)  # the behaviour under test: the 0.5 s cooldown, waited out, lets one probe through
        fakes.openai.default = Reply(text="recovered")
        probe = ask()
        assert (probe["provider"], probe["text"]) == ("openai", "recovered")
        assert fakes.openai.calls == 3
        assert ask()["provider"] == "openai"  # closed again
        assert client.get("/readyz").json()["targets"]["openai:gpt-5.4"] == "ready"


def test_a_failed_probe_reopens_the_breaker(serve, fakes) -> None:
    config = make_config(retry={"max_retries": 0}, breaker={"failure_threshold": 1, "cooldown_s": 0.3})
    fakes.openai.default = Reply(status=502)
    with httpx.Client(base_url=serve(config)) as client:
        ask = lambda: client.post("/complete", json={"text": "hi", "task_type": "creative_writing"}).json()  # noqa: E731
        ask()
        time.sleep(0.35)  # the behaviour under test: the 0.3 s cooldown, waited out, lets one probe through
        assert outcomes(ask()["route"]["attempts"])[0] == ("openai", "server_error")  # the probe
        assert outcomes(ask()["route"]["attempts"])[0] == ("openai", "circuit_open")
        assert fakes.openai.calls == 2


def test_no_key_is_skipped(serve, fakes, env) -> None:
    environment = {k: v for k, v in env.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    with httpx.Client(base_url=serve(environment=environment)) as client:
        body = client.post("/complete", json={"text": "hi", "task_type": "creative_writing"}).json()
    assert outcomes(body["route"]["attempts"]) == [
        ("openai", "skipped_no_key"), ("anthropic", "skipped_no_key"), ("local", "ok")
    ]
    assert fakes.openai.calls == 0


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (Reply(status=500), 502, "all_targets_failed"),
        (Reply(status=401), 502, "all_targets_failed"),
    ],
)
def test_everything_down_is_a_structured_error_listing_every_attempt(serve, fakes, reply, status, code) -> None:
    for fake in fakes.all():
        fake.default = reply
    with httpx.Client(base_url=serve(make_config(retry={"max_retries": 1}))) as client:
        response = client.post("/complete", json={"text": "hi", "task_type": "summarization"})
    assert response.status_code == status
    body = response.json()
    assert body["error"]["code"] == code and body["error"]["request_id"] == response.headers["x-request-id"]
    providers = [a["provider"] for a in body["route"]["attempts"]]
    assert providers[0] == "cohere" and providers[-1] == "local" and "anthropic" in providers


def test_no_usable_target_is_503(serve) -> None:
    config = make_config(providers={"local": {"embedded": False}})
    with httpx.Client(base_url=serve(config, environment={})) as client:
        response = client.post("/complete", json={"text": "hi"})
    assert response.status_code == 503
    body = response.json()
    assert body["error"]["code"] == "no_target_available"
    assert outcomes(body["route"]["attempts"]) == [
        ("openai", "skipped_no_key"), ("anthropic", "skipped_no_key"), ("local", "unavailable")
    ]
