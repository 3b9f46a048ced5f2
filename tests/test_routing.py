"""Each task type reaches the provider its route names, over that provider's real wire protocol."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import KEYS, make_config, outcomes, request_logs
from tests.fakes import Reply


def test_creative_writing_is_served_by_openai(gateway: httpx.Client, fakes, capsys) -> None:
    fakes.openai.push(Reply(text="Once upon a time.", input_tokens=20, output_tokens=5, cached_tokens=4))
    response = gateway.post(
        "/complete",
        json={
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "A story"}],
            "task_type": "creative_writing",
            "max_tokens": 50,
            "temperature": 0.9,
            "stop": ["THE END"],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["provider"], body["model"], body["text"]) == ("openai", "gpt-5.4", "Once upon a time.")
    assert body["finish_reason"] == "stop"
    assert body["usage"] == {"input_tokens": 20, "output_tokens": 5, "cached_tokens": 4, "cache_write_tokens": 0}
    # gpt-5.4: $1.25 / $10.00 / $0.125 cached, per million tokens
    assert body["cost_usd"] == pytest.approx((16 * 1.25 + 4 * 0.125 + 5 * 10.0) / 1e6)
    assert response.headers["x-request-id"] and body["id"].endswith(response.headers["x-request-id"])
    assert outcomes(body["route"]["attempts"]) == [("openai", "ok")]

    sent = fakes.openai.received[0]
    assert sent.headers["Authorization"] == f"Bearer {KEYS['OPENAI_API_KEY']}"
    assert sent.json["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent.json["max_completion_tokens"] == 50
    assert sent.json["stop"] == ["THE END"] and sent.json["temperature"] == 0.9

    (line,) = request_logs(capsys.readouterr().out)
    assert line["request_id"] == response.headers["x-request-id"]
    assert (line["provider"], line["model"], line["task_type"]) == ("openai", "gpt-5.4", "creative_writing")
    assert (line["input_tokens"], line["output_tokens"]) == (20, 5)
    assert outcomes(line["path"]) == [("openai", "ok")]


def test_technical_explanation_is_served_by_anthropic(gateway: httpx.Client, fakes) -> None:
    fakes.anthropic.push(Reply(text="A mutex is a lock.", finish="max_tokens", input_tokens=9, cached_tokens=3))
    response = gateway.post(
        "/complete",
        json={
            "messages": [{"role": "system", "content": "You teach."}, {"role": "user", "content": "Mutex?"}],
            "task_type": "technical_explanation",
            "stop": "END",
            "temperature": 1.5,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["provider"], body["model"]) == ("anthropic", "claude-sonnet-4-6")
    assert body["text"] == "A mutex is a lock." and body["finish_reason"] == "length"
    # Anthropic counts cache reads apart from input_tokens; the standard usage includes them.
    assert body["usage"] == {"input_tokens": 12, "output_tokens": 7, "cached_tokens": 3, "cache_write_tokens": 0}

    sent = fakes.anthropic.received[0]
    assert sent.headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"]
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json["system"] == "You teach."
    assert sent.json["messages"] == [{"role": "user", "content": "Mutex?"}]
    assert sent.json["max_tokens"] == 1024  # the config's default: Anthropic requires one
    assert sent.json["stop_sequences"] == ["END"]
    assert sent.json["temperature"] == 1.0  # clamped to Anthropic's range


def test_summarization_is_served_by_cohere(gateway: httpx.Client, fakes) -> None:
    fakes.cohere.push(Reply(text="Short.", finish="STOP_SEQUENCE", input_tokens=30, output_tokens=2))
    response = gateway.post("/complete", json={"text": "Summarise this.", "task_type": "summarization", "stop": ["."]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["provider"], body["model"], body["text"]) == ("cohere", "command-a-03-2025", "Short.")
    assert body["finish_reason"] == "stop"
    assert body["usage"] == {"input_tokens": 30, "output_tokens": 2, "cached_tokens": 0, "cache_write_tokens": 0}  # billed units
    assert body["cost_usd"] == pytest.approx((30 * 2.5 + 2 * 10.0) / 1e6)
    sent = fakes.cohere.received[0]
    assert sent.headers["Authorization"] == f"Bearer {KEYS['CO_API_KEY']}"
    assert sent.json["messages"] == [{"role": "user", "content": "Summarise this."}]
    assert sent.json["stop_sequences"] == ["."]
    assert sent.json["stream"] is True  # every upstream call streams: the timers protect it, the answer is collected


def test_no_task_type_takes_the_default_route(gateway: httpx.Client, fakes) -> None:
    body = gateway.post("/complete", json={"text": "hi"}).json()
    assert (body["provider"], body["model"], body["task_type"]) == ("openai", "gpt-5.4-mini", None)
    assert body["route"]["reason"].startswith("no task_type")


def test_finish_reasons_are_normalised(gateway: httpx.Client, fakes) -> None:
    fakes.openai.push(Reply(finish="content_filter"), Reply(finish="length"))
    assert gateway.post("/complete", json={"text": "x"}).json()["finish_reason"] == "content_filter"
    assert gateway.post("/complete", json={"text": "x"}).json()["finish_reason"] == "length"


def test_local_tier_speaks_the_openai_protocol_with_max_tokens(gateway: httpx.Client, fakes, env) -> None:
    for fake in (fakes.openai, fakes.anthropic):
        fake.default = Reply(status=401, error_message="no")
    body = gateway.post("/complete", json={"text": "hi", "max_tokens": 12}).json()
    assert (body["provider"], body["cost_usd"]) == ("local", 0.0)
    assert outcomes(body["route"]["attempts"]) == [("openai", "auth_error"), ("anthropic", "auth_error"), ("local", "ok")]
    sent = fakes.vllm.received[0]
    assert sent.json["max_tokens"] == 12 and "max_completion_tokens" not in sent.json
    assert "Authorization" not in sent.headers  # no VLLM_API_KEY set


def test_health_and_readiness(gateway: httpx.Client) -> None:
    assert gateway.get("/healthz").json() == {"status": "alive"}
    ready = gateway.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["targets"]["openai:gpt-5.4"] == "ready"


def test_strictly_not_ready_when_no_target_is_usable(serve) -> None:
    # No keys, no VLLM_BASE_URL, and the embedded model turned off.
    config = make_config(providers={"local": {"embedded": False, "base_url_env": "VLLM_BASE_URL"}})
    with httpx.Client(base_url=serve(config, environment={})) as client:
        response = client.get("/readyz?strict=1")
        assert response.status_code == 503 and response.json()["status"] == "not_ready"
        assert set(response.json()["targets"].values()) <= {"no_key", "unavailable"}
        pod = client.get("/readyz")  # the process itself can serve: fast, explained 503s
        assert pod.status_code == 200 and pod.json()["upstream"] == "none_ready"
