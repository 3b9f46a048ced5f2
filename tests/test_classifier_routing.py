"""Without a task type, the classifier infers one and a complexity, and the rules route on them."""

from __future__ import annotations

import httpx
import pytest
import redis as redis_sync

from tests.conftest import make_config, request_logs

ADMIN = "sb-admin-classify-SECRET-5555xxxx-0123456789"
CLASSIFY = {"routing": {"classifier": {"enabled": True}}}
HAIKU = "Write a haiku about autumn leaves falling on a quiet pond."
HARD = ("Prove that there are infinitely many primes, then derive an upper bound on the gap between consecutive "
        "primes using sieve methods, and explain rigorously why the twin prime conjecture is still open.")
HELLO = "hi there, how are you today?"


@pytest.fixture
def classified(serve) -> str:
    return serve(make_config(**CLASSIFY))


def test_a_request_without_a_task_type_is_classified_and_routed(classified, fakes, capsys) -> None:
    body = httpx.post(f"{classified}/complete", json={"text": HAIKU}).json()
    decision = body["route"]["decision"]
    assert decision["rule"] == "task_type" and decision["task_type"] == "creative_writing"
    assert body["task_type"] == "creative_writing" and (body["provider"], body["model"]) == ("openai", "gpt-5.4")
    assert decision["complexity"] in ("simple", "complex") and 0 <= decision["score"] <= 1
    assert 0.5 <= decision["confidence"] <= 1 and decision["classifier_ms"] >= 0
    assert "inferred" in body["route"]["reason"]
    (line,) = request_logs(capsys.readouterr().out)
    assert (line["task_type"], line["rule"]) == ("creative_writing", "task_type")
    assert line["confidence"] == decision["confidence"] and line["classifier_ms"] is not None


def test_a_task_type_the_caller_gives_always_wins(classified, fakes) -> None:
    body = httpx.post(f"{classified}/complete", json={"text": HAIKU, "task_type": "summarization"}).json()
    assert body["task_type"] == "summarization" and body["provider"] == "cohere"
    assert body["route"]["decision"]["classifier_ms"] is None  # not even asked


def test_v1_auto_is_classified(classified, fakes) -> None:
    response = httpx.post(f"{classified}/v1/chat/completions", json={
        "model": "auto", "messages": [{"role": "user", "content": "Fix this Python bug: my function returns None "
                                                                  "instead of the sorted list."}]})
    assert response.status_code == 200
    assert response.json()["model"] == "anthropic/claude-sonnet-4-6"  # the coding route


def test_below_the_minimum_confidence_the_default_chain_is_taken_and_the_reason_says_so(serve, fakes) -> None:
    base = serve(make_config(routing={"classifier": {"enabled": True, "min_confidence": 0.999999}}))
    body = httpx.post(f"{base}/decide", json={"text": "whats the weather like"}).json()
    assert body["rule"] == "default" and body["chain"][0] == "openai:gpt-5.4-mini"
    assert "classifier unsure" in body["reason"] and body["decision"]["confidence"] < 0.999999


def test_decide_answers_the_classifiers_view(classified) -> None:
    body = httpx.post(f"{classified}/decide", json={"text": HARD}).json()
    assert body["task_type"] == "math" and body["decision"]["complexity"] == "complex"
    assert {"rule", "task_type", "complexity", "score", "confidence", "classifier_ms"} <= set(body["decision"])


@pytest.fixture
def keyed(serve, env, redis_url) -> str:
    redis_sync.Redis.from_url(redis_url).flushdb()
    return serve(make_config(**CLASSIFY), environment={**env, "SWITCHBOARD_ADMIN_KEY": ADMIN, "REDIS_URL": redis_url})


def key(base_url: str, tier: str) -> dict[str, str]:
    created = httpx.post(f"{base_url}/admin/keys", json={"tenant": "t", "tier": tier},
                         headers={"authorization": f"Bearer {ADMIN}"}).json()
    return {"authorization": f"Bearer {created['key']}"}


def test_the_missions_example_free_simple_to_cohere_paid_complex_to_gpt(keyed, fakes) -> None:
    free, paid = key(keyed, "free"), key(keyed, "paid")
    cheap = httpx.post(f"{keyed}/decide", json={"text": HELLO}, headers=free).json()
    assert cheap["rule"] == "tier" and cheap["decision"]["complexity"] == "simple"
    assert cheap["chain"] == ["cohere:command-r7b-12-2024", "local:smollm2-135m-instruct"]
    strong = httpx.post(f"{keyed}/decide", json={"text": HARD}, headers=paid).json()
    assert strong["rule"] == "tier" and strong["decision"]["complexity"] == "complex"
    assert strong["chain"] == ["openai:gpt-5.4", "anthropic:claude-sonnet-4-6", "local:smollm2-135m-instruct"]
    answered = httpx.post(f"{keyed}/complete", json={"text": HARD}, headers=paid).json()
    assert answered["provider"] == "openai" and answered["route"]["decision"]["tier"] == "paid"


def test_metrics_count_decisions_and_inferred_labels(keyed, fakes) -> None:
    httpx.post(f"{keyed}/complete", json={"text": HAIKU}, headers=key(keyed, "paid"))
    exposition = httpx.get(f"{keyed}/metrics", headers={"authorization": f"Bearer {ADMIN}"}).text
    assert "switchboard_decision_duration_seconds_bucket" in exposition
    assert 'switchboard_inferred_total{complexity="simple",task_type="creative_writing"}' in exposition
