"""No silent translation faults: for each fault issue 26 found, what the client sent against what each provider
received (in its own protocol's form), and every parameter a provider could not take listed in
`switchboard.dropped`.

- text parts stay parts ("Say" + "again" is never "Sayagain"), in user turns, system prompts and tool results;
- Anthropic's structured-outputs beta `output_format` on /v1/messages reaches every provider as a schema;
- what Cohere cannot express (parallel_tool_calls off, strictness for some tools, user, top_logprobs) and what
  Claude refuses (top_p beside temperature, sampling with thinking or on Opus 4.7) is listed;
- reasoning is mapped per Claude model as each documents it (a budget kept where the model takes one);
- a 429 from the gateway's own limits carries x-ratelimit-* headers, as its 200s do.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest
import redis as redis_sync

from tests.fakes import Reply, ToolCall
from tests.front_doors import PROVIDERS, answer_from, chat_bodies, fake_env, running_gateway, shared_config

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
PRICE = {"input": 5.0, "output": 25.0}
# Claude models of each generation, beside the shipped claude-sonnet-4-6 (4.6) and claude-haiku-4-5 (4.5).
MODELS = {"claude-opus-4-7": PRICE, "claude-opus-4-5": PRICE, "claude-3-7-sonnet-20250219": PRICE}
# Cohere models that reason, and that see images and call tools.
COHERE = {"command-a-reasoning-08-2025": {**PRICE, "capabilities": ["tools", "json_schema", "reasoning"]},
          "command-a-plus-05-2026": {**PRICE, "capabilities": ["tools", "vision", "json_schema"]}}
PINNED = {"openai": "openai/gpt-5.4", "anthropic": "anthropic/claude-sonnet-4-6",
          "cohere": "cohere/command-a-plus-05-2026"}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time", "description": "Local time", "strict": True,
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                        "required": ["city"], "additionalProperties": False}}}
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
          "additionalProperties": False}


@pytest.fixture(scope="module")
def url(fakes) -> Any:
    config = shared_config(providers={"anthropic": {"models": MODELS}, "cohere": {"models": COHERE}})
    with running_gateway(config, fake_env(fakes)) as base:
        yield base


@pytest.fixture(scope="module")
def oai(url) -> openai.OpenAI:
    return openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)


@pytest.fixture(scope="module")
def claude(url) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="anything", base_url=url, max_retries=0)


def text_parts(*texts: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": text} for text in texts]


def last_sent(fake: Any) -> dict[str, Any]:
    assert fake.rejected == []
    return chat_bodies(fake)[-1]


# -- parts stay parts -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
def test_user_text_blocks_reach_every_provider_as_parts(claude, fakes, provider) -> None:
    fake = answer_from(fakes, provider, Reply(text="Again."))
    claude.messages.create(model="chain", max_tokens=20, messages=[
        {"role": "user", "content": [{"type": "text", "text": "Say"}, {"type": "text", "text": "again"}]}])
    assert last_sent(fake)["messages"][-1]["content"] == text_parts("Say", "again")  # never "Sayagain"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_system_message_in_parts_stays_in_parts(oai, fakes, provider) -> None:
    fake = answer_from(fakes, provider, Reply(text="Ok."))
    oai.chat.completions.create(model="chain", messages=[
        {"role": "system", "content": text_parts("Be terse.", "Use English.")}, {"role": "user", "content": "Hi"}])
    sent = last_sent(fake)
    if provider == "anthropic":
        assert sent["system"] == text_parts("Be terse.", "Use English.")  # blocks, not "Be terse.Use English."
    else:
        assert sent["messages"][0] == {"role": "system", "content": text_parts("Be terse.", "Use English.")}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_tool_result_in_parts_stays_in_parts(oai, fakes, provider) -> None:
    fake = answer_from(fakes, provider, Reply(text="Sunny, 21C."))
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Nice"}'}}
    oai.chat.completions.create(model="chain", tools=[WEATHER], messages=[
        {"role": "user", "content": "Weather in Nice?"},
        {"role": "assistant", "content": text_parts("Let me look.", "One moment."), "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": text_parts("sunny", "21C")}])
    sent = last_sent(fake)["messages"]
    if provider == "anthropic":
        assistant, user = sent[-2:]
        assert assistant["content"][:2] == text_parts("Let me look.", "One moment.")
        assert user["content"][0]["content"] == text_parts("sunny", "21C")
    elif provider == "cohere":
        assistant, tool = sent[-2:]
        assert assistant["tool_plan"] == "Let me look.\nOne moment."  # a string field: joined, with a separator
        assert tool == {"role": "tool", "tool_call_id": "call_1", "content": text_parts("sunny", "21C")}
    else:
        assert sent[-2]["content"] == text_parts("Let me look.", "One moment.")
        assert sent[-1] == {"role": "tool", "tool_call_id": "call_1", "content": text_parts("sunny", "21C")}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_image_in_a_tool_result_reaches_anthropic_and_is_listed_elsewhere(claude, fakes, provider) -> None:
    fake = getattr(fakes, provider)
    fake.default = Reply(text="A red dot.")
    tool = {"name": "get_photo", "description": "A photo", "input_schema": {"type": "object", "properties": {}}}
    message = claude.messages.create(model=PINNED[provider], max_tokens=20, tools=[tool], messages=[
        {"role": "user", "content": "What is in the photo?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_photo", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
            {"type": "text", "text": "the photo:"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}]}]}])
    sent = last_sent(fake)["messages"][-1]
    dropped = message.model_extra["switchboard"].get("dropped")
    if provider == "anthropic":
        assert sent["content"][0]["content"] == [
            {"type": "text", "text": "the photo:"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}]
        assert dropped is None
    else:
        assert sent["content"] == text_parts("the photo:")  # a tool result takes text only there ...
        assert dropped == ["tool result images"]  # ... and the client is told


# -- structured output --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_output_format_beta_reaches_every_provider_as_a_schema(url, fakes, provider) -> None:
    fake = answer_from(fakes, provider, Reply(text='{"name": "Ada"}'))
    answer = httpx.post(f"{url}/v1/messages", headers={"anthropic-beta": "structured-outputs-2025-11-13"}, json={
        "model": "chain", "max_tokens": 50, "messages": [{"role": "user", "content": "Who?"}],
        "output_format": {"type": "json_schema", "schema": SCHEMA}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"][0]["text"] == '{"name": "Ada"}'
    assert "dropped" not in answer.json()["switchboard"]  # accepted and honoured, not ignored
    sent = last_sent(fake)
    if provider == "openai":
        assert sent["response_format"]["json_schema"]["schema"] == SCHEMA
    elif provider == "anthropic":
        assert sent["output_config"]["format"] == {"type": "json_schema", "schema": SCHEMA}
    else:
        assert sent["response_format"] == {"type": "json_object", "json_schema": {
            "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
            "additionalProperties": False}}


def test_two_different_output_formats_are_refused(url, fakes) -> None:
    other = {**SCHEMA, "required": []}
    answer = httpx.post(f"{url}/v1/messages", json={
        "model": "chain", "max_tokens": 50, "messages": [{"role": "user", "content": "Who?"}],
        "output_format": {"type": "json_schema", "schema": SCHEMA},
        "output_config": {"format": {"type": "json_schema", "schema": other}}})
    assert answer.status_code == 400 and "output_format" in answer.json()["error"]["message"]
    assert fakes.openai.calls == 0


# -- what a provider cannot take is listed --------------------------------------------------------------------------
def test_what_cohere_cannot_express_is_listed(oai, fakes) -> None:
    fakes.cohere.default = Reply(text="Sunny.")
    raw = oai.chat.completions.with_raw_response.create(
        model="cohere/command-a-03-2025", messages=[{"role": "user", "content": "Weather in Nice?"}],
        tools=[WEATHER, TIME], parallel_tool_calls=False, user="user-1234", logprobs=True, top_logprobs=3)
    completion = raw.parse()
    assert completion.model_extra["switchboard"]["dropped"] == ["user", "top_logprobs", "parallel_tool_calls",
                                                                "tools.strict"]
    sent = last_sent(fakes.cohere)
    assert sent["logprobs"] is True and "strict_tools" not in sent  # one tool strict, one not: not expressible
    assert not {"user", "top_logprobs", "parallel_tool_calls"} & set(sent)


def test_cohere_takes_strictness_when_every_tool_asks_for_it(oai, fakes) -> None:
    fakes.cohere.default = Reply(text="Noon.")
    completion = oai.chat.completions.create(model="cohere/command-a-03-2025", tools=[TIME],
                                             messages=[{"role": "user", "content": "Time in Nice?"}])
    assert last_sent(fakes.cohere)["strict_tools"] is True
    assert "dropped" not in completion.model_extra["switchboard"]


@pytest.mark.parametrize(("model", "sent", "dropped"), [
    ("claude-sonnet-4-6", {"temperature": 0.5}, ["top_p"]),  # refused together from 4.1 on
    ("claude-3-7-sonnet-20250219", {"temperature": 0.5, "top_p": 0.9}, None),  # older models take both
    ("claude-opus-4-7", {}, ["temperature", "top_p"]),  # sampling parameters removed
])
def test_claude_sampling_parameters_per_model(oai, fakes, model, sent, dropped) -> None:
    fakes.anthropic.default = Reply(text="Ok.")
    completion = oai.chat.completions.create(model=f"anthropic/{model}", temperature=0.5, top_p=0.9,
                                             messages=[{"role": "user", "content": "Hi"}])
    body = last_sent(fakes.anthropic)
    assert {name: body[name] for name in ("temperature", "top_p") if name in body} == sent
    assert completion.model_extra["switchboard"].get("dropped") == dropped


def test_an_email_is_never_sent_to_anthropic_as_the_user_and_is_listed(oai, fakes) -> None:
    fakes.anthropic.default = Reply(text="Ok.")
    completion = oai.chat.completions.create(model="anthropic/claude-haiku-4-5", user="ada@example.com",
                                             messages=[{"role": "user", "content": "Hi"}])
    assert "metadata" not in last_sent(fakes.anthropic)
    assert completion.model_extra["switchboard"]["dropped"] == ["user"]


# -- reasoning, per Claude model ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "effort", "thinking", "sent_effort"), [
    ("claude-haiku-4-5", "high", {"type": "enabled", "budget_tokens": 16384}, None),  # budgets only, no effort
    ("claude-opus-4-5", "high", {"type": "enabled", "budget_tokens": 16384}, "high"),  # budgets, and effort
    ("claude-opus-4-5", "max", {"type": "enabled", "budget_tokens": 31999}, "high"),  # no max there
    ("claude-sonnet-4-6", "high", {"type": "adaptive"}, "high"),
    ("claude-sonnet-4-6", "xhigh", {"type": "adaptive"}, "max"),  # no xhigh before 4.7
    ("claude-opus-4-7", "xhigh", {"type": "adaptive"}, "xhigh"),
])
def test_a_reasoning_effort_per_claude_model(oai, fakes, model, effort, thinking, sent_effort) -> None:
    fakes.anthropic.default = Reply(text="Thought.")
    completion = oai.chat.completions.create(model=f"anthropic/{model}", reasoning_effort=effort, max_tokens=32000,
                                             messages=[{"role": "user", "content": "Why?"}])
    body = last_sent(fakes.anthropic)
    assert body["thinking"] == thinking
    assert body.get("output_config") == ({"effort": sent_effort} if sent_effort else None)
    assert "dropped" not in completion.model_extra["switchboard"]


@pytest.mark.parametrize(("model", "thinking", "sent_effort", "dropped"), [
    ("claude-haiku-4-5", {"type": "enabled", "budget_tokens": 5000}, None, None),
    ("claude-opus-4-5", {"type": "enabled", "budget_tokens": 5000}, None, None),
    ("claude-sonnet-4-6", {"type": "enabled", "budget_tokens": 5000}, None, None),  # deprecated there, still taken
    ("claude-opus-4-7", {"type": "adaptive"}, "medium", ["reasoning_budget"]),  # adaptive only: the nearest effort
])
def test_an_explicit_thinking_budget_per_claude_model(claude, fakes, model, thinking, sent_effort, dropped) -> None:
    fakes.anthropic.default = Reply(text="Thought.")
    message = claude.messages.create(model=f"anthropic/{model}", max_tokens=8000,
                                     thinking={"type": "enabled", "budget_tokens": 5000},
                                     messages=[{"role": "user", "content": "Why?"}])
    body = last_sent(fakes.anthropic)
    assert body["thinking"] == thinking
    assert body.get("output_config") == ({"effort": sent_effort} if sent_effort else None)
    assert message.model_extra["switchboard"].get("dropped") == dropped


def test_a_budget_that_does_not_fit_below_max_tokens_is_listed(claude, fakes) -> None:
    fakes.anthropic.default = Reply(text="Quick.")
    message = claude.messages.create(model="anthropic/claude-haiku-4-5", max_tokens=1000,
                                     thinking={"type": "enabled", "budget_tokens": 2048},
                                     messages=[{"role": "user", "content": "Why?"}])
    assert "thinking" not in last_sent(fakes.anthropic)
    assert message.model_extra["switchboard"]["dropped"] == ["reasoning_budget", "reasoning_effort"]


def test_without_a_cap_from_the_client_max_tokens_makes_room_for_the_budget(oai, fakes) -> None:
    fakes.anthropic.default = Reply(text="Thought.")
    completion = oai.chat.completions.create(model="anthropic/claude-haiku-4-5", reasoning_effort="low",
                                             messages=[{"role": "user", "content": "Why?"}])
    body = last_sent(fakes.anthropic)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 2048 + 1024  # the budget above the default answer length
    assert "dropped" not in completion.model_extra["switchboard"]


def test_thinking_gives_way_to_a_forced_tool_and_says_so(oai, fakes) -> None:
    fakes.anthropic.default = Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Nice"})])
    completion = oai.chat.completions.create(model="anthropic/claude-sonnet-4-6", reasoning_effort="high",
                                             tools=[WEATHER], tool_choice="required",
                                             messages=[{"role": "user", "content": "Weather in Nice?"}])
    assert "thinking" not in last_sent(fakes.anthropic)
    assert completion.model_extra["switchboard"]["dropped"] == ["reasoning_effort"]


@pytest.mark.parametrize(("ask", "thinking"), [
    ({"reasoning_effort": "high"}, {"type": "enabled"}),
    ({"reasoning_effort": "none"}, {"type": "disabled"}),
])
def test_cohere_gets_thinking(oai, fakes, ask, thinking) -> None:
    fakes.cohere.default = Reply(text="Thought.")
    oai.chat.completions.create(model="cohere/command-a-reasoning-08-2025",
                                messages=[{"role": "user", "content": "Why?"}], **ask)
    assert last_sent(fakes.cohere)["thinking"] == thinking


def test_a_cohere_model_that_does_not_reason_drops_the_effort_and_lists_it(oai, fakes) -> None:
    fakes.cohere.default = Reply(text="Quick.")
    completion = oai.chat.completions.create(model="cohere/command-a-03-2025", reasoning_effort="high",
                                             messages=[{"role": "user", "content": "Why?"}])
    assert "thinking" not in last_sent(fakes.cohere)
    assert completion.model_extra["switchboard"]["dropped"] == ["reasoning_effort"]  # by config: drop [reasoning]


def test_cohere_gets_an_explicit_budget(claude, fakes) -> None:
    fakes.cohere.default = Reply(text="Thought.")
    claude.messages.create(model="cohere/command-a-reasoning-08-2025", max_tokens=8000,
                           messages=[{"role": "user", "content": "Why?"}],
                           thinking={"type": "enabled", "budget_tokens": 5000})
    assert last_sent(fakes.cohere)["thinking"] == {"type": "enabled", "token_budget": 5000}


# -- the gateway's own 429 ----------------------------------------------------------------------------------------
def test_a_429_from_the_gateways_limits_carries_rate_limit_headers(serve, env, redis_url, fakes) -> None:
    redis_sync.Redis.from_url(redis_url).flushdb()
    admin = "sb-admin-translations-0123456789"
    base = serve(environment={**env, "SWITCHBOARD_ADMIN_KEY": admin, "REDIS_URL": redis_url})
    minted = httpx.post(f"{base}/admin/keys", json={"tenant": "acme", "tier": "paid", "rpm": 1},
                        headers={"authorization": f"Bearer {admin}"})
    assert minted.status_code == 201, minted.text
    client = openai.OpenAI(api_key=minted.json()["key"], base_url=f"{base}/v1", max_retries=0)
    ok = client.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": "Hi"}])
    assert ok.headers["x-ratelimit-limit-requests"] == "1" and ok.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Hi"}])
    headers = raised.value.response.headers
    assert headers["x-ratelimit-limit-requests"] == "1" and headers["x-ratelimit-remaining-requests"] == "0"
    reset = headers["x-ratelimit-reset-requests"]
    assert reset.endswith("s") and int(headers["retry-after"]) >= 1


# -- embeddings of token arrays (LangChain's OpenAIEmbeddings sends tiktoken ids by default) ----------------------
def test_token_arrays_reach_openai_as_they_are(oai, fakes) -> None:
    embedded = oai.embeddings.create(model="text-embedding-3-small", input=[[9906, 1917], [15339]])
    assert len(embedded.data) == 2 and embedded.usage.prompt_tokens == 3
    assert fakes.openai.received[-1].json["input"] == [[9906, 1917], [15339]]
    single = oai.embeddings.create(model="text-embedding-3-small", input=[9906, 1917])  # one array
    assert len(single.data) == 1 and fakes.openai.received[-1].json["input"] == [[9906, 1917]]


def test_token_arrays_for_a_model_that_needs_text_are_a_400_saying_what_to_send(oai, fakes) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        oai.embeddings.create(model="embed-v4.0", input=[[9906, 1917]])
    assert "check_embedding_ctx_length=False" in raised.value.message
    assert fakes.cohere.calls == 0  # refused before any call: no tokenizer here can give the text back


def test_a_bad_token_array_is_a_400_naming_input(url) -> None:
    answer = httpx.post(f"{url}/v1/embeddings", json={"model": "text-embedding-3-small", "input": [[1, "a"]]})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "input"
