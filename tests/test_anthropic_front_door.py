"""`POST /v1/messages` with the official `anthropic` SDK, unmodified: answers from each protocol, streamed in
Anthropic's exact event order (text and tool_use blocks), errors in Anthropic's shape, `x-api-key` accepted."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import outcomes, sse_events
from tests.fakes import Reply, ToolCall
from tests.front_doors import (
    PROVIDERS,
    answer_from,
    attempts,
    chat_bodies,
    fake_env,
    running_gateway,
    shared_config,
)

ASK = [{"role": "user", "content": "Hello?"}]
WEATHER = {"name": "get_weather", "description": "Current weather",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture(scope="module")
def url(fakes) -> Any:
    with running_gateway(shared_config(), fake_env(fakes)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="anything", base_url=url, max_retries=0)


def attempts_of(route: dict[str, Any]) -> list[tuple[str, str]]:
    return outcomes(route["attempts"])


def check_event_order(events: list[tuple[str | None, Any]]) -> list[dict[str, Any]]:
    """Anthropic's order: one message_start, blocks start → delta* → stop at indexes 0, 1, ..., message_delta,
    message_stop; each event named as its JSON type. Returns the blocks as started."""
    assert all(name == data["type"] for name, data in events), "every event needs an `event:` line naming its type"
    kinds = [name for name, _ in events if name != "ping"]
    assert kinds[0] == "message_start" and kinds.count("message_start") == 1
    assert kinds[-2:] == ["message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and "usage" in start
    blocks: list[dict[str, Any]] = []
    open_index = None
    for name, data in events[1:-2]:
        if name == "content_block_start":
            assert open_index is None and data["index"] == len(blocks)
            open_index = data["index"]
            blocks.append(data["content_block"])
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
    assert open_index is None
    return blocks


@pytest.mark.parametrize("provider", PROVIDERS)
def test_messages_from_each_protocol(client, fakes, provider) -> None:
    fake = answer_from(fakes, provider, Reply(text="Hi there.", input_tokens=9, output_tokens=3))
    raw = client.messages.with_raw_response.create(model="chain", max_tokens=64, system="Be brief.", messages=ASK,
                                                   stop_sequences=["END"],
                                                   extra_body={"temperature": 0.5})  # SDK 2.x: untyped
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert [(b.type, b.text) for b in message.content] == [("text", "Hi there.")]
    assert message.stop_reason == "end_turn" and message.model.startswith(f"{provider}/")
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 3)
    assert raw.headers["request-id"] and message.id.startswith("msg_")
    assert attempts(raw.headers)[-1] == (provider, "ok")
    sent = chat_bodies(fake)[-1]
    assert fake.rejected == []
    if provider == "anthropic":
        assert sent["system"] == "Be brief." and sent["stop_sequences"] == ["END"] and sent["max_tokens"] == 64
    else:
        assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
        assert sent[{"openai": "stop", "cohere": "stop_sequences"}[provider]] == ["END"]
    assert sent["temperature"] == 0.5


@pytest.mark.parametrize("provider", PROVIDERS)
def test_streaming_text_with_the_sdk_helper(client, fakes, provider) -> None:
    answer_from(fakes, provider, Reply(text="Streaming along nicely.", input_tokens=12, output_tokens=4))
    with client.messages.stream(model="chain", max_tokens=64, messages=ASK) as stream:
        pieces = list(stream.text_stream)
        message = stream.get_final_message()
    assert "".join(pieces) == "Streaming along nicely." and len(pieces) > 1
    assert message.content[0].text == "Streaming along nicely."
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 4)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_streamed_text_then_tool_use_in_event_order(url, fakes, provider) -> None:
    answer_from(fakes, provider, Reply(text="Let me check.", tool_plan="Let me check.", tool_calls=[
        ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_weather", {"city": "Rome"})]))
    with httpx.stream("POST", f"{url}/v1/messages", json={
            "model": "chain", "max_tokens": 100, "stream": True, "tools": [WEATHER], "messages": ASK},
            headers={"anthropic-version": "2023-06-01"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    blocks = check_event_order(events)
    tools = [b for b in blocks if b["type"] == "tool_use"]
    assert [(b["name"], b["input"]) for b in tools] == [("get_weather", {}), ("get_weather", {})]
    assert all(b["id"] for b in tools) and len({b["id"] for b in tools}) == 2
    inputs: dict[int, str] = {}
    for name, data in events:
        if name == "content_block_delta" and data["delta"]["type"] == "input_json_delta":
            inputs[data["index"]] = inputs.get(data["index"], "") + data["delta"]["partial_json"]
    assert [json.loads(v) for _, v in sorted(inputs.items())] == [{"city": "Paris"}, {"city": "Rome"}]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"]["output_tokens"] > 0
    if provider != "cohere":  # Cohere's plan is not part of the answer
        assert blocks[0] == {"type": "text", "text": ""}


def test_stream_final_message_with_tool_use(client, fakes) -> None:
    answer_from(fakes, "cohere", Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    with client.messages.stream(model="chain", max_tokens=64, messages=ASK, tools=[WEATHER]) as stream:
        message = stream.get_final_message()
    [block] = message.content
    assert block.type == "tool_use" and block.input == {"city": "Paris"} and message.stop_reason == "tool_use"


def test_a_stream_that_breaks_ends_with_an_error_event(client, fakes) -> None:
    fakes.openai.default = Reply(text="one two three four", cut_after=2)
    received: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as raised, \
            client.messages.stream(model="openai/gpt-5.4", max_tokens=64, messages=ASK) as stream:
        received.extend(stream.text_stream)
    assert "".join(received) == "one two "
    assert raised.value.body["type"] == "error"


def test_errors_in_anthropic_shape(client, url, fakes) -> None:
    with pytest.raises(anthropic.NotFoundError) as raised:
        client.messages.create(model="claude-nonexistent", max_tokens=10, messages=ASK)
    assert raised.value.body["error"]["type"] == "not_found_error" and raised.value.body["type"] == "error"
    assert raised.value.response.headers["request-id"]
    bad = httpx.post(f"{url}/v1/messages", json={"model": "auto", "messages": ASK})  # no max_tokens
    assert bad.status_code == 400
    assert bad.json()["type"] == "error" and bad.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in bad.json()["error"]["message"]
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="auto", max_tokens=10, messages=[
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "bad id!", "name": "f", "input": {}}]}])
    for fake in fakes.all():
        fake.default = Reply(status=500)
    with pytest.raises(anthropic.InternalServerError) as raised:
        client.messages.create(model="summarization", max_tokens=10, messages=ASK)
    assert raised.value.body["error"]["type"] == "api_error"
    assert raised.value.response.headers["x-should-retry"] == "false"
    assert raised.value.body["switchboard"]["code"] == "all_targets_failed"


def test_x_api_key_and_bearer_are_both_accepted(serve, env, fakes) -> None:
    admin = "sb-admin-test-SECRET-7777yyyy-0123456789"
    base = serve(environment={**env, "SWITCHBOARD_ADMIN_KEY": admin})
    body = {"model": "auto", "max_tokens": 10, "messages": ASK}
    headers = {"anthropic-version": "2023-06-01"}
    assert httpx.post(f"{base}/v1/messages", json=body, headers={**headers, "x-api-key": admin}).status_code == 200
    wrong = httpx.post(f"{base}/v1/messages", json=body, headers={**headers, "x-api-key": "nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    assert httpx.post(f"{base}/v1/messages", json=body, headers=headers).status_code == 401
    client = anthropic.Anthropic(api_key=admin, base_url=base, max_retries=0)  # SDK 2.x: Authorization: Bearer
    assert client.messages.create(**body).content[0].text


def test_beta_query_and_unknown_headers_are_ignored(client, url, fakes) -> None:
    response = httpx.post(f"{url}/v1/messages?beta=true", json={"model": "auto", "max_tokens": 10, "messages": ASK},
                          headers={"anthropic-version": "2026-10-21", "anthropic-beta": "something-2099-01-01,other"})
    assert response.status_code == 200 and response.json()["content"][0]["type"] == "text"


def test_count_tokens(client) -> None:
    count = client.messages.count_tokens(model="auto", messages=[{"role": "user", "content": "x" * 400}],
                                         system="Be brief.", tools=[WEATHER])
    assert count.input_tokens >= 100


def test_thinking_history_is_accepted_and_dropped_for_other_protocols(client, fakes) -> None:
    fake = answer_from(fakes, "openai", Reply(text="Sure."))
    client.messages.create(model="chain", max_tokens=20, messages=[
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "sig"},
                                          {"type": "text", "text": "Hello."}]},
        {"role": "user", "content": "Again?"}])
    assert [m["role"] for m in chat_bodies(fake)[-1]["messages"]] == ["user", "assistant", "user"]
    assert chat_bodies(fake)[-1]["messages"][1]["content"] == "Hello."


@pytest.mark.parametrize(("thinking", "effort", "sent_thinking", "sent_effort"), [
    ({"type": "enabled", "budget_tokens": 2048}, "low", {"type": "enabled", "budget_tokens": 2048}, None),
    ({"type": "adaptive"}, "high", {"type": "adaptive"}, "high")])
def test_thinking_becomes_a_reasoning_effort_for_every_protocol(client, fakes, thinking, effort, sent_thinking,
                                                                  sent_effort) -> None:
    """OpenAI gets the nearest effort (a budget it cannot take is listed); Claude Sonnet 4.6 takes both forms,
    so an explicit budget stays a budget (tests/test_translations.py has the other models)."""
    fake = answer_from(fakes, "openai", Reply(text="Thought about it."))
    message = client.messages.create(model="chain", max_tokens=4096, messages=ASK, thinking=thinking)
    assert message.content[0].text == "Thought about it."
    assert chat_bodies(fake)[-1]["reasoning_effort"] == effort
    assert message.model_extra["switchboard"].get("dropped") == (["reasoning_budget"] if "budget_tokens" in thinking
                                                                 else None)
    fake = answer_from(fakes, "anthropic", Reply(text="Thought about it."))
    message = client.messages.create(model="anthropic/claude-sonnet-4-6", max_tokens=4096, messages=ASK,
                                     thinking=thinking, extra_body={"temperature": 0.5})
    sent = chat_bodies(fake)[-1]
    assert sent["thinking"] == sent_thinking and sent.get("output_config") == (
        {"effort": sent_effort} if sent_effort else None)
    assert "temperature" not in sent and fake.rejected == []
    assert message.model_extra["switchboard"]["dropped"] == ["temperature"]  # refused with thinking on: listed


def test_dropped_parameters_and_the_route_are_reported(client, url, fakes) -> None:
    fakes.anthropic.default = Reply(text="ok")
    message = client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=ASK,  # a bare model name
                                     extra_body={"top_k": 5, "mystery": 1})
    assert message.model == "anthropic/claude-haiku-4-5"
    assert message.model_extra["switchboard"]["dropped"] == ["mystery", "top_k"]
    assert "top_k" not in chat_bodies(fakes.anthropic)[-1]
    with httpx.stream("POST", f"{url}/v1/messages", json={"model": "claude-haiku-4-5", "max_tokens": 10,
                                                          "stream": True, "top_k": 5, "messages": ASK}) as response:
        events = sse_events(response)
    extra = events[-2][1]["switchboard"]
    assert extra["dropped"] == ["top_k"] and attempts_of(extra["route"]) == [("anthropic", "ok")]


def test_system_blocks_stay_parts(client, fakes) -> None:
    fake = answer_from(fakes, "openai", Reply(text="ok"))
    client.messages.create(model="chain", max_tokens=10, messages=ASK, system=[
        {"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in French."}])
    assert chat_bodies(fake)[-1]["messages"][0] == {"role": "system", "content": [
        {"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in French."}]}
