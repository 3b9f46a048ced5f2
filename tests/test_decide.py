"""Routing as rules: their order, the dry run (`POST /decide`, `sb.decide`), and what the decision records."""

from __future__ import annotations

import httpx
import pytest

from switchboard.core.context import RequestContext
from switchboard.core.request import Message, Request
from switchboard.routing.router import Router
from tests.conftest import make_config, outcomes, request_logs
from tests.fakes import Reply


def decide(config, **fields) -> tuple[str, str, list[str]]:
    import asyncio

    request = Request(messages=[Message("user", fields.pop("text", "hi"))], **fields)
    plan = asyncio.run(Router(config).decide(RequestContext(), request))
    return plan.decision.rule, plan.reason, [t.key for t in plan.targets]


def test_rules_run_in_the_configured_order() -> None:
    config = make_config()
    assert decide(config, model="anthropic/claude-haiku-4-5")[0] == "pinned"
    assert decide(config, task_type="summarization")[0] == "task_type"
    assert decide(config)[0] == "default"
    # A model naming a task type is that task type.
    assert decide(config, model="coding")[2][0] == "anthropic:claude-sonnet-4-6"
    # Pinning comes first: a pinned model wins over a task type.
    rule, reason, chain = decide(config, model="cohere/command-r7b-12-2024", task_type="creative_writing")
    assert (rule, chain) == ("pinned", ["cohere:command-r7b-12-2024"]) and reason.startswith("pinned by model")


def test_a_rule_list_without_the_task_type_rule_routes_everything_by_default() -> None:
    config = make_config(routing={"rules": ["pinned", "default"]})
    rule, reason, chain = decide(config, task_type="summarization")
    assert rule == "default" and chain[0] == "openai:gpt-5.4-mini"


def test_decide_over_http_answers_the_chain_rule_and_reason_without_calling_anyone(gateway: httpx.Client,
                                                                                   fakes, capsys) -> None:
    response = gateway.post("/decide", json={"text": "Summarise this.", "task_type": "summarization"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["chain"] == ["cohere:command-a-03-2025", "anthropic:claude-haiku-4-5", "local:smollm2-135m-instruct"]
    assert body["rule"] == "task_type" and body["task_type"] == "summarization"
    assert body["reason"].startswith("task_type summarization: cohere:command-a-03-2025")
    assert body["decision"]["rule"] == "task_type"
    assert sum(fake.calls for fake in fakes.all()) == 0
    assert request_logs(capsys.readouterr().out) == []  # a dry run is not a request
    bad = gateway.post("/decide", json={"text": "hi", "task_type": "nope"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_task_type"


async def test_the_library_decides_too(switchboard, fakes) -> None:
    decided = await switchboard.decide("hi", model="openai/gpt-5.4")
    assert decided.chain == ["openai:gpt-5.4"] and decided.rule == "pinned"
    assert fakes.openai.calls == 0


def test_the_response_and_the_log_line_carry_the_decision(gateway: httpx.Client, fakes, capsys) -> None:
    body = gateway.post("/complete", json={"text": "hi", "task_type": "creative_writing"}).json()
    assert body["route"]["decision"]["rule"] == "task_type"
    assert body["route"]["decision"]["task_type"] == "creative_writing"
    (line,) = request_logs(capsys.readouterr().out)
    assert (line["rule"], line["task_type"], line["route"]) == ("task_type", "creative_writing", "creative_writing")


def test_v1_requests_log_the_task_type_their_model_picked(serve, fakes, capsys) -> None:
    with httpx.Client(base_url=serve()) as client:
        response = client.post("/v1/chat/completions", json={
            "model": "summarization", "messages": [{"role": "user", "content": "Summarise: a, b."}]})
    assert response.status_code == 200, response.text
    (line,) = request_logs(capsys.readouterr().out)
    assert line["task_type"] == "summarization" and line["front_door"] == "openai"
    assert outcomes(line["path"]) == [("cohere", "ok")]


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "anthropic/claude-haiku-4-5"])
def test_a_model_one_provider_lists_can_be_named_bare(gateway: httpx.Client, fakes, model) -> None:
    fakes.anthropic.default = Reply(text="pinned")
    body = gateway.post("/complete", json={"text": "hi", "model": model}).json()
    assert (body["provider"], body["model"], body["text"]) == ("anthropic", "claude-haiku-4-5", "pinned")
