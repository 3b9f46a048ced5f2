"""The tier rule decides on a confident complexity whatever the task-type confidence (issue 25).

Over real HTTP (`POST /decide`, `/complete`) with real API keys: a paid caller's confidently complex prompt
takes the tier's strong chain even when the task type is unsure, a free caller's the free chain, a request
unsure of both its tier's default chain; the decision carries both confidences and the signal the rule used.
"""

from __future__ import annotations

import httpx
import pytest
import redis as redis_sync

from switchboard.routing.classifier import Classifier
from tests.conftest import make_config

ADMIN = "sb-admin-issue25-SECRET-7777xxxx"
RAFT = ("Explain how the Raft consensus algorithm handles a network partition where the old leader is isolated "
        "with a minority of nodes, including what happens to uncommitted log entries on both sides when the "
        "partition heals")
PRIMES = "Prove the infinitude of primes"
STRONG = ["openai:gpt-5.4", "anthropic:claude-sonnet-4-6", "local:smollm2-135m-instruct"]
FREE = ["cohere:command-r7b-12-2024", "local:smollm2-135m-instruct"]
# A task-type confidence no answer reaches: the task type is always unsure, the complexity decides alone.
TASK_UNSURE = {"min_confidence": 0.999999}


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load()


def test_prove_the_infinitude_of_primes_is_complex(classifier: Classifier) -> None:
    result = classifier.classify(PRIMES)
    assert result.complexity == "complex", result
    assert result.complexity_confidence >= 0.6, result


def test_the_raft_question_is_confidently_complex(classifier: Classifier) -> None:
    result = classifier.classify(RAFT)
    assert result.complexity == "complex" and result.complexity_confidence >= 0.6, result


def gateway(serve, env, redis_url, **classifier_settings) -> str:
    redis_sync.Redis.from_url(redis_url).flushdb()
    config = make_config(routing={"classifier": {"enabled": True, **classifier_settings}},
                         tiers={"paid": {"default_route": ["anthropic:claude-haiku-4-5"]}})
    return serve(config, environment={**env, "SWITCHBOARD_ADMIN_KEY": ADMIN, "REDIS_URL": redis_url})


def key(base_url: str, tier: str) -> dict[str, str]:
    response = httpx.post(f"{base_url}/admin/keys", json={"tenant": "t25", "tier": tier},
                          headers={"authorization": f"Bearer {ADMIN}"})
    assert response.status_code in (200, 201), response.text
    return {"authorization": f"Bearer {response.json()['key']}"}


def decide(base_url: str, text: str, headers: dict[str, str]) -> dict:
    response = httpx.post(f"{base_url}/decide", json={"text": text}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("text", [RAFT, PRIMES])
def test_a_paid_callers_complex_prompt_with_an_unsure_task_type_takes_the_strong_chain(
        serve, env, redis_url, fakes, text: str) -> None:
    base = gateway(serve, env, redis_url, **TASK_UNSURE)
    body = decide(base, text, key(base, "paid"))
    decision = body["decision"]
    assert decision["confidence"] < 0.999999 and decision["task_type"] is None  # the task type: unsure
    assert decision["complexity"] == "complex" and decision["complexity_confidence"] >= 0.6
    assert (body["rule"], decision["signal"], decision["tier"]) == ("tier", "complexity", "paid")
    assert body["chain"] == STRONG
    assert "classifier unsure" in body["reason"]


def test_the_issue_example_as_it_comes(serve, env, redis_url, fakes) -> None:
    """The Raft question with the shipped settings: whatever its task-type confidence, a paid caller's
    request goes to the strong chain and is answered there."""
    base = gateway(serve, env, redis_url)
    paid = key(base, "paid")
    body = decide(base, RAFT, paid)
    assert (body["rule"], body["decision"]["signal"], body["chain"]) == ("tier", "complexity", STRONG)
    answered = httpx.post(f"{base}/complete", json={"text": RAFT}, headers=paid).json()
    assert (answered["provider"], answered["model"]) == ("openai", "gpt-5.4")
    assert answered["route"]["decision"]["complexity_confidence"] >= 0.6


def test_a_free_callers_complex_prompt_takes_the_free_chain(serve, env, redis_url, fakes) -> None:
    base = gateway(serve, env, redis_url, **TASK_UNSURE)
    body = decide(base, RAFT, key(base, "free"))
    assert body["decision"]["complexity"] == "complex" and body["decision"]["task_type"] is None
    assert (body["rule"], body["decision"]["tier"]) == ("tier", "free")
    assert body["chain"] == FREE  # the free tier has no complex chain: its default, never the strong one


def test_unsure_of_both_takes_the_tiers_default_chain_not_the_global_one(serve, env, redis_url, fakes) -> None:
    base = gateway(serve, env, redis_url, min_confidence=0.999999, min_complexity_confidence=1.0)
    body = decide(base, "Tell me about tulips and when to plant them in a small garden.", key(base, "paid"))
    decision = body["decision"]
    assert decision["complexity_confidence"] < 1.0 and decision["confidence"] < 0.999999  # unsure of both
    assert decision["complexity"] is None and decision["task_type"] is None
    assert (body["rule"], decision["signal"]) == ("tier", "default")
    assert body["chain"] == ["anthropic:claude-haiku-4-5"]  # the paid tier's default, not openai:gpt-5.4-mini
    assert "classifier unsure" in body["reason"] and "complexity unsure" in body["reason"]


def test_without_a_tier_both_unsure_falls_to_the_global_default(serve, fakes) -> None:
    base = serve(make_config(routing={"classifier": {"enabled": True, "min_confidence": 0.999999,
                                                     "min_complexity_confidence": 1.0}}))
    body = decide(base, "Tell me about tulips and when to plant them in a small garden.", {})
    assert (body["rule"], body["decision"]["signal"]) == ("default", "default")
    assert body["chain"][0] == "openai:gpt-5.4-mini"


def test_a_given_task_type_is_the_signal(serve, fakes) -> None:
    base = serve(make_config(routing={"classifier": {"enabled": True}}))
    body = httpx.post(f"{base}/decide", json={"text": PRIMES, "task_type": "math"}).json()
    assert (body["rule"], body["decision"]["signal"]) == ("task_type", "task_type")
    assert body["decision"]["complexity_confidence"] is None  # the classifier was not asked
