"""Tool calling through every front door and every protocol, with the official SDKs, unmodified.

A round trip: the model asks for a tool, the client sends the result, the model answers. The answer comes from
each of the three protocols in turn (the targets before it failing), streamed and not; each fake records the
request in its own protocol's format (OpenAI `tools`/`tool_calls`/`tool` role, Anthropic `tool_use`/
`tool_result` blocks and `input_schema`, Cohere `tool_calls`/`tool` role).
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from tests.fakes import Reply, ToolCall
from tests.front_doors import (
    PROVIDERS,
    answer_from,
    attempts,
    chat_bodies,
    failed_over_to,
    fake_env,
    running_gateway,
    shared_config,
)

WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                                            "parameters": WEATHER_SCHEMA}}
TIME = {"type": "function", "function": {"name": "get_time", "description": "Local time",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                        "required": ["city"]}}}
WEATHER_ANTHROPIC = {"name": "get_weather", "description": "Current weather", "input_schema": WEATHER_SCHEMA}
QUESTION = "What is the weather in Paris?"


@pytest.fixture(scope="module")
def url(fakes) -> Any:
    with running_gateway(shared_config(), fake_env(fakes)) as base:
        yield base


def parsed_calls(calls: list[dict[str, Any]]) -> list[tuple[str, str, str, Any]]:
    """(id, type, name, parsed arguments) of OpenAI- or Cohere-shaped tool calls; arguments must be a string."""
    assert all(isinstance(c["function"]["arguments"], str) for c in calls)
    return [(c["id"], c["type"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]


def check_wire_round_trip(fake, provider: str, call_id: str, result: str) -> None:
    """The fake's two requests, each in its own protocol's format."""
    assert fake.rejected == []
    first, second = chat_bodies(fake)[-2:]
    if provider == "openai":
        assert first["tools"] == [WEATHER]
        assistant, tool = second["messages"][-2:]
        assert assistant["role"] == "assistant"
        assert parsed_calls(assistant["tool_calls"]) == [(call_id, "function", "get_weather", {"city": "Paris"})]
        assert tool == {"role": "tool", "tool_call_id": call_id, "content": result}
    elif provider == "anthropic":
        assert first["tools"] == [WEATHER_ANTHROPIC]
        assert "tool_choice" not in first or first["tool_choice"] == {"type": "auto"}
        assistant, user = second["messages"][-2:]
        assert assistant == {"role": "assistant", "content": [
            {"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": "Paris"}}]}
        assert user["role"] == "user"
        [block] = user["content"]
        assert block["type"] == "tool_result" and block["tool_use_id"] == call_id
        assert block["content"] in (result, [{"type": "text", "text": result}])
        assert second["tools"] == [WEATHER_ANTHROPIC]  # kept while the history has tool_use
    else:
        assert first["tools"] == [{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather", "parameters": WEATHER_SCHEMA}}]
        assert "tool_choice" not in first
        assistant, tool = second["messages"][-2:]
        assert assistant["role"] == "assistant" and "content" not in assistant
        assert parsed_calls(assistant["tool_calls"]) == [(call_id, "function", "get_weather", {"city": "Paris"})]
        assert tool["role"] == "tool" and tool["tool_call_id"] == call_id
        assert tool["content"] in (result, [{"type": "text", "text": result}])


SCRIPT = (Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]),
          Reply(text="It is 18 degrees in Paris."))


# -- the openai SDK ------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_sdk_tool_round_trip(url, fakes, provider, stream) -> None:
    fake = answer_from(fakes, provider, *SCRIPT)
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    if stream:
        with client.chat.completions.stream(model="chain", messages=messages, tools=[WEATHER]) as events:
            completion = events.get_final_completion()
    else:
        completion = client.chat.completions.create(model="chain", messages=messages, tools=[WEATHER])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert completion.model.startswith(f"{provider}/")
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id
    messages += [choice.message, {"role": "tool", "tool_call_id": call.id, "content": "18C"}]
    raw = client.chat.completions.with_raw_response.create(model="chain", messages=messages, tools=[WEATHER],
                                                           stream=stream)
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    else:
        answer = raw.parse()
        text = answer.choices[0].message.content
        assert answer.choices[0].finish_reason == "stop"
        assert attempts(raw.headers) == failed_over_to(provider)
    assert text == "It is 18 degrees in Paris."
    check_wire_round_trip(fake, provider, call.id, "18C")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_sdk_streams_tool_calls_as_incremental_deltas(url, fakes, provider) -> None:
    """id, type and name once per call, dense indexes, arguments in fragments, whatever the provider."""
    answer_from(fakes, provider, Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"}),
                                                            ToolCall("get_time", {"city": "Tokyo"})]))
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    chunks = list(client.chat.completions.create(model="chain", messages=[{"role": "user", "content": QUESTION}],
                                                 tools=[WEATHER, TIME], stream=True))
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or ()]
    firsts = [d for d in deltas if d.id is not None]
    assert [(d.index, d.function.name, d.type) for d in firsts] == [(0, "get_weather", "function"),
                                                                    (1, "get_time", "function")]
    assert all(d.function.name is None for d in deltas if d.id is None)
    arguments = {0: "", 1: ""}
    for delta in deltas:
        arguments[delta.index] += delta.function.arguments or ""
    assert json.loads(arguments[0]) == {"city": "Paris"} and json.loads(arguments[1]) == {"city": "Tokyo"}
    assert len([d for d in deltas if d.function.arguments]) >= 3  # arguments arrive in pieces
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_parallel_tool_calls_round_trip(url, fakes, provider) -> None:
    fake = answer_from(fakes, provider,
                       Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"}),
                                                  ToolCall("get_time", {"city": "Paris"})]),
                       Reply(text="18C at noon."))
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "Weather and time in Paris?"}]
    completion = client.chat.completions.create(model="chain", messages=messages, tools=[WEATHER, TIME])
    calls = completion.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert len({c.id for c in calls}) == 2
    messages += [completion.choices[0].message,
                 *({"role": "tool", "tool_call_id": c.id, "content": f"result {i}"} for i, c in enumerate(calls))]
    answer = client.chat.completions.create(model="chain", messages=messages, tools=[WEATHER, TIME])
    assert answer.choices[0].message.content == "18C at noon."
    assert fake.rejected == []
    sent = chat_bodies(fake)[-1]["messages"]
    if provider == "anthropic":  # both results in one user turn, tool_result blocks only
        assert [b["type"] for b in sent[-2]["content"]] == ["tool_use", "tool_use"]
        assert [(b["type"], b["tool_use_id"]) for b in sent[-1]["content"]] == [("tool_result", c.id) for c in calls]
    else:  # one tool message per call
        assert [(m["role"], m["tool_call_id"]) for m in sent[-2:]] == [("tool", c.id) for c in calls]
        assert [c["id"] for c in sent[-3]["tool_calls"]] == [c.id for c in calls]


def test_parallel_tool_calls_false_reaches_each_protocol(url, fakes) -> None:
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    for provider in ("openai", "anthropic"):
        for fake in fakes.all():
            fake.reset()
        fake = answer_from(fakes, provider, Reply(text="ok"))
        client.chat.completions.create(model="chain", messages=[{"role": "user", "content": QUESTION}],
                                       tools=[WEATHER], parallel_tool_calls=False)
        sent = chat_bodies(fake)[-1]
        if provider == "openai":
            assert sent["parallel_tool_calls"] is False
        else:
            assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
        assert fake.rejected == []


# tool_choice, as the OpenAI client writes it -> what each protocol receives (PROTOCOLS-TOOLS.md §1).
NAMED = {"type": "function", "function": {"name": "get_time"}}
CHOICES = {
    "auto": {"openai": "auto", "anthropic": {"type": "auto"}, "cohere": None},
    "none": {"openai": "none", "anthropic": {"type": "none"}, "cohere": "NONE"},
    "required": {"openai": "required", "anthropic": {"type": "any"}, "cohere": "REQUIRED"},
    "named": {"openai": NAMED, "anthropic": {"type": "tool", "name": "get_time"}, "cohere": "REQUIRED"},
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("form", CHOICES)
def test_tool_choice_forms_per_protocol(url, fakes, provider, form) -> None:
    calls = [] if form == "none" else [ToolCall("get_time", {"city": "Paris"})]
    fake = answer_from(fakes, provider, Reply(text="" if calls else "no tools", tool_calls=calls or None))
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    choice = NAMED if form == "named" else form
    completion = client.chat.completions.create(model="chain", messages=[{"role": "user", "content": QUESTION}],
                                                tools=[WEATHER, TIME], tool_choice=choice)
    sent = chat_bodies(fake)[-1]
    assert fake.rejected == []
    expected = CHOICES[form][provider]
    assert sent.get("tool_choice") == expected
    if provider == "cohere" and form == "named":  # Cohere cannot name a tool: only that tool is offered
        assert [t["function"]["name"] for t in sent["tools"]] == ["get_time"]
    else:
        assert len(sent["tools"]) == 2
    if calls:  # a named choice makes OpenAI say `stop`; the gateway says tool_calls whenever there are calls
        assert completion.choices[0].finish_reason == "tool_calls"
        assert completion.choices[0].message.tool_calls[0].function.name == "get_time"
    else:
        assert completion.choices[0].message.content == "no tools"


def test_tool_call_arguments_that_are_not_json_are_refused_before_any_call(url, fakes) -> None:
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    history = [{"role": "user", "content": QUESTION},
               {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                                                     "function": {"name": "get_weather", "arguments": "{oops"}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": "18C"}]
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="chain", messages=history, tools=[WEATHER])
    assert "arguments" in raised.value.param
    assert all(fake.calls == 0 for fake in fakes.all())


def test_a_tool_request_skips_a_target_without_tools(url, fakes) -> None:
    """The local model declares no tools: the default chain skips it as `unsupported`, never silently dropping
    the tools; with every tool-capable target down, the client gets a 502 that lists the skip."""
    for fake in (fakes.openai, fakes.anthropic):
        fake.default = Reply(status=500)
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": QUESTION}],
                                       tools=[WEATHER])
    route = json.loads(raised.value.response.headers["x-switchboard-route"])
    last = route["attempts"][-1]
    assert (last["provider"], last["outcome"], last["missing"]) == ("local", "unsupported", ["tools"])
    assert fakes.vllm.calls == 0


# -- the anthropic SDK ---------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_anthropic_sdk_tool_round_trip(url, fakes, provider, stream) -> None:
    fake = answer_from(fakes, provider, *SCRIPT)
    client = anthropic.Anthropic(api_key="anything", base_url=url, max_retries=0)
    messages: list[Any] = [{"role": "user", "content": QUESTION}]

    def ask() -> Any:
        if stream:
            with client.messages.stream(model="chain", max_tokens=200, tools=[WEATHER_ANTHROPIC],
                                        messages=messages) as events:
                return events.get_final_message()
        return client.messages.create(model="chain", max_tokens=200, tools=[WEATHER_ANTHROPIC],
                                      messages=messages)

    message = ask()
    assert message.stop_reason == "tool_use"
    assert message.model.startswith(f"{provider}/")
    [use] = [block for block in message.content if block.type == "tool_use"]
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    messages += [{"role": "assistant", "content": message.content},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C"}]}]
    answer = ask()
    assert answer.stop_reason == "end_turn"
    assert [(b.type, b.text) for b in answer.content] == [("text", "It is 18 degrees in Paris.")]
    assert answer.usage.output_tokens > 0
    check_wire_round_trip(fake, provider, use.id, "18C")


def test_anthropic_sdk_tool_choice_and_error_results_reach_openai(url, fakes) -> None:
    fake = answer_from(fakes, "openai", Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Oslo"})]),
                       Reply(text="Could not tell."))
    client = anthropic.Anthropic(api_key="anything", base_url=url, max_retries=0)
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    message = client.messages.create(model="chain", max_tokens=50, tools=[WEATHER_ANTHROPIC], messages=messages,
                                     tool_choice={"type": "tool", "name": "get_weather",
                                                  "disable_parallel_tool_use": True})
    [use] = message.content
    assert message.stop_reason == "tool_use" and use.input == {"city": "Oslo"}
    sent = chat_bodies(fake)[-1]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False
    messages += [{"role": "assistant", "content": message.content},
                 {"role": "user", "content": [
                     {"type": "tool_result", "tool_use_id": use.id, "content": "timeout", "is_error": True},
                     {"type": "text", "text": "Try your best."}]}]
    client.messages.create(model="chain", max_tokens=50, tools=[WEATHER_ANTHROPIC], messages=messages)
    sent = chat_bodies(fake)[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert "timeout" in sent[2]["content"] and sent[2]["tool_call_id"] == use.id
    assert sent[3]["content"] == "Try your best."
    assert fake.rejected == []


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_upstream_tool_ids_anthropic_clients_would_refuse_are_rewritten(url, fakes, stream) -> None:
    """Some OpenAI-compatible servers name calls `functions.get_weather:0`; an Anthropic client must get an id it
    can send back (`^[a-zA-Z0-9_-]+$`), and the provider its call and result under one id."""
    fake = answer_from(fakes, "openai", Reply(text="", tool_calls=[
        ToolCall("get_weather", {"city": "Paris"}, id="functions.get_weather:0")]), Reply(text="Sunny."))
    client = anthropic.Anthropic(api_key="anything", base_url=url, max_retries=0)
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    if stream:
        with client.messages.stream(model="chain", max_tokens=50, tools=[WEATHER_ANTHROPIC],
                                    messages=messages) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(model="chain", max_tokens=50, tools=[WEATHER_ANTHROPIC], messages=messages)
    [use] = message.content
    assert use.id == "functions_get_weather_0"
    messages += [{"role": "assistant", "content": message.content},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sun"}]}]
    assert client.messages.create(model="chain", max_tokens=50, tools=[WEATHER_ANTHROPIC],
                                  messages=messages).content[0].text == "Sunny."
    sent = chat_bodies(fake)[-1]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == sent[2]["tool_call_id"] == "functions_get_weather_0"
    assert fake.rejected == []


def test_tool_choice_and_parallel_flag_without_tools_are_not_sent_to_openai(url, fakes) -> None:
    fake = answer_from(fakes, "openai", Reply(text="fine"))
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    client.chat.completions.create(model="chain", messages=[{"role": "user", "content": QUESTION}],
                                   tool_choice="none", parallel_tool_calls=False)
    sent = chat_bodies(fake)[-1]
    assert "tool_choice" not in sent and "parallel_tool_calls" not in sent and fake.rejected == []


def test_text_before_tool_calls_reaches_cohere_as_its_tool_plan(url, fakes) -> None:
    fake = answer_from(fakes, "cohere", Reply(text="Sunny."))
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    client.chat.completions.create(model="chain", tools=[WEATHER], messages=[
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sun"}])
    assistant = chat_bodies(fake)[-1]["messages"][1]
    assert assistant["tool_plan"] == "Let me check." and "content" not in assistant
    assert fake.rejected == []


def test_cohere_is_not_asked_for_tools_and_a_response_format_together(url, fakes) -> None:
    """Cohere refuses the pair: no call is made, and the next target answers."""
    fakes.anthropic.default = Reply(text='{"ok": true}')
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="summarization", messages=[{"role": "user", "content": "Summarise as JSON."}], tools=[WEATHER],
        response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}})
    assert attempts(raw.headers) == [("cohere", "unsupported"), ("anthropic", "ok")]
    route = json.loads(raw.headers["x-switchboard-route"])
    assert route["attempts"][0]["missing"] == ["response_format with tools"]
    assert fakes.cohere.calls == 0


def test_a_forced_tool_wins_over_thinking_on_anthropic(url, fakes) -> None:
    fake = answer_from(fakes, "anthropic", Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    completion = client.chat.completions.create(model="chain", messages=[{"role": "user", "content": QUESTION}],
                                                tools=[WEATHER], tool_choice="required", reasoning_effort="high",
                                                temperature=0.3)
    assert completion.choices[0].message.tool_calls[0].function.name == "get_weather"
    sent = chat_bodies(fake)[-1]
    assert sent["tool_choice"] == {"type": "any"} and "thinking" not in sent and sent["temperature"] == 0.3
    assert fake.rejected == []


def test_long_tool_call_ids_are_shortened_for_openai(url, fakes) -> None:
    """vLLM names calls `chatcmpl-tool-<32 hex>` (46 characters); OpenAI refuses ids over 40. A history from the
    local tier that fails over to OpenAI keeps each call paired with its result under one shorter id."""
    fake = answer_from(fakes, "openai", Reply(text="Sunny."))
    long_id = "chatcmpl-tool-" + "ab" * 16
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    client.chat.completions.create(model="chain", tools=[WEATHER], messages=[
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "tool_calls": [{"id": long_id, "type": "function",
                                              "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": long_id, "content": "sun"}])
    sent = chat_bodies(fake)[-1]["messages"]
    sent_id = sent[1]["tool_calls"][0]["id"]
    assert len(sent_id) <= 40 and sent_id == sent[2]["tool_call_id"] and sent_id.startswith("chatcmpl-tool-")


def test_a_strict_tool_schema_is_lowered_for_anthropic(url, fakes) -> None:
    fake = answer_from(fakes, "anthropic", Reply(text="ok"))
    strict = {"type": "function", "function": {"name": "set_age", "strict": True, "parameters": {
        "type": "object", "properties": {"age": {"type": "integer", "minimum": 0}}, "required": ["age"],
        "additionalProperties": False}}}
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    client.chat.completions.create(model="chain", messages=[{"role": "user", "content": "I am 36."}],
                                   tools=[strict, WEATHER])
    first, second = chat_bodies(fake)[-1]["tools"]
    assert first["strict"] is True and first["input_schema"]["properties"]["age"] == {
        "type": "integer", "description": "{minimum: 0}"}
    assert second["input_schema"] == WEATHER_SCHEMA  # not strict: as given
