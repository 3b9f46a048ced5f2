"""The official SDKs keep the fakes honest: if the SDK reads a fake's reply, the fake speaks the protocol."""

from __future__ import annotations

import base64
import json
import re
import struct
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import anthropic
import cohere
import httpx
import openai
import pytest

from tests.conftest import KEYS
from tests.fakes import Reply, ToolCall, VLLMFake, embedding_for


def test_openai_sdk_reads_the_openai_fake(fakes) -> None:
    fakes.openai.push(Reply(text="hi there", input_tokens=5, output_tokens=2, cached_tokens=1))
    client = openai.OpenAI(api_key=KEYS["OPENAI_API_KEY"], base_url=f"{fakes.openai.url}/v1", max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-5.4", messages=[{"role": "user", "content": "hello"}], max_completion_tokens=10
    )
    assert completion.choices[0].message.content == "hi there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 5 and completion.usage.prompt_tokens_details.cached_tokens == 1


def test_openai_sdk_retries_the_fakes_429_and_raises_its_errors(fakes) -> None:
    fakes.openai.push(Reply(status=429, headers={"retry-after-ms": "10"}), Reply(text="ok"))
    client = openai.OpenAI(api_key=KEYS["OPENAI_API_KEY"], base_url=f"{fakes.openai.url}/v1", max_retries=1)
    assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}]).choices[0]
    assert fakes.openai.received[1].headers["x-stainless-retry-count"] == "1"
    fakes.openai.push(Reply(status=500))
    with pytest.raises(openai.InternalServerError):
        client.with_options(max_retries=0).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    bad = openai.OpenAI(api_key="wrong", base_url=f"{fakes.openai.url}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        bad.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert raised.value.code == "invalid_api_key"


def test_openai_sdk_reads_the_vllm_fake(fakes) -> None:
    client = openai.OpenAI(api_key="unused", base_url=f"{fakes.vllm.url}/v1", max_retries=0)
    assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}]).choices[0].message.content


def test_anthropic_sdk_reads_the_anthropic_fake(fakes) -> None:
    fakes.anthropic.push(Reply(text="Bonjour", finish="stop_sequence", input_tokens=4, output_tokens=1, cached_tokens=2))
    client = anthropic.Anthropic(api_key=KEYS["ANTHROPIC_API_KEY"], base_url=fakes.anthropic.url, max_retries=0)
    message = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=10, system="be French", messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].text == "Bonjour" and message.stop_reason == "stop_sequence"
    assert message.usage.input_tokens == 4 and message.usage.cache_read_input_tokens == 2


def test_anthropic_sdk_raises_the_right_classes(fakes) -> None:
    client = anthropic.Anthropic(api_key=KEYS["ANTHROPIC_API_KEY"], base_url=fakes.anthropic.url, max_retries=0)
    fakes.anthropic.push(Reply(status=529, error_message="Overloaded"))
    with pytest.raises(anthropic.APIStatusError) as raised:
        client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 529 and raised.value.body["error"]["type"] == "overloaded_error"
    fakes.anthropic.push(Reply(status=429))
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    bad = anthropic.Anthropic(api_key="wrong", base_url=fakes.anthropic.url, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}])


def test_cohere_sdk_reads_the_cohere_fake(fakes) -> None:
    fakes.cohere.push(Reply(text="Summary.", finish="MAX_TOKENS", input_tokens=8, output_tokens=3))
    client = cohere.ClientV2(api_key=KEYS["CO_API_KEY"], base_url=fakes.cohere.url)
    response = client.chat(model="command-a-03-2025", messages=[{"role": "user", "content": "sum"}])
    assert response.message.content[0].text == "Summary."
    assert response.finish_reason == "MAX_TOKENS"
    assert response.usage.billed_units.input_tokens == 8


def test_cohere_sdk_raises_the_right_classes(fakes) -> None:
    client = cohere.ClientV2(api_key=KEYS["CO_API_KEY"], base_url=fakes.cohere.url)
    fakes.cohere.push(Reply(status=429, error_message="slow down"))
    with pytest.raises(cohere.TooManyRequestsError):
        client.chat(model="m", messages=[{"role": "user", "content": "x"}], request_options={"max_retries": 0})
    bad = cohere.ClientV2(api_key="wrong", base_url=fakes.cohere.url)
    with pytest.raises(cohere.UnauthorizedError):
        bad.chat(model="m", messages=[{"role": "user", "content": "x"}], request_options={"max_retries": 0})


def test_openai_sdk_streams_from_the_fake_with_usage(fakes) -> None:
    fakes.openai.push(Reply(text="one two three", input_tokens=6, output_tokens=3))
    client = openai.OpenAI(api_key=KEYS["OPENAI_API_KEY"], base_url=f"{fakes.openai.url}/v1", max_retries=0)
    chunks = list(client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True, stream_options={"include_usage": True}
    ))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.prompt_tokens == 6 and chunks[-1].usage.completion_tokens == 3


def test_openai_sdk_raises_on_the_fakes_in_band_error(fakes) -> None:
    fakes.openai.push(Reply(text="a b c", error_after=1, error_message="engine died"))
    client = openai.OpenAI(api_key=KEYS["OPENAI_API_KEY"], base_url=f"{fakes.openai.url}/v1", max_retries=0)
    with pytest.raises(openai.APIError, match="engine died"):
        list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], stream=True))


def test_anthropic_sdk_streams_from_the_fake(fakes) -> None:
    fakes.anthropic.push(Reply(text="Hello there friend", input_tokens=5, output_tokens=4))
    client = anthropic.Anthropic(api_key=KEYS["ANTHROPIC_API_KEY"], base_url=fakes.anthropic.url, max_retries=0)
    with client.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello there friend" and final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 5 and final.usage.output_tokens == 4


def test_anthropic_sdk_raises_on_the_fakes_in_band_error(fakes) -> None:
    fakes.anthropic.push(Reply(text="a b c", error_after=1, error_message="Overloaded"))
    client = anthropic.Anthropic(api_key=KEYS["ANTHROPIC_API_KEY"], base_url=fakes.anthropic.url, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as raised:
        with client.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as s:
            list(s.text_stream)
    assert raised.value.body["error"]["type"] == "overloaded_error"


def test_cohere_sdk_streams_from_the_fake(fakes) -> None:
    fakes.cohere.push(Reply(text="Short summary here", input_tokens=9, output_tokens=3))
    client = cohere.ClientV2(api_key=KEYS["CO_API_KEY"], base_url=fakes.cohere.url)
    events = list(client.chat_stream(model="m", messages=[{"role": "user", "content": "x"}]))
    text = "".join(e.delta.message.content.text for e in events if e.type == "content-delta")
    end = [e for e in events if e.type == "message-end"][0]
    assert text == "Short summary here" and end.delta.finish_reason == "COMPLETE"
    assert end.delta.usage.billed_units.output_tokens == 3


def test_cohere_sdk_sees_the_fakes_in_band_error(fakes) -> None:
    fakes.cohere.push(Reply(text="a b c", error_after=1, error_message="generation failed"))
    client = cohere.ClientV2(api_key=KEYS["CO_API_KEY"], base_url=fakes.cohere.url)
    end = [e for e in client.chat_stream(model="m", messages=[{"role": "user", "content": "x"}])
           if e.type == "message-end"][0]
    assert end.delta.finish_reason == "ERROR" and end.delta.error == "generation failed"


# -- tools, structured output, n, logprobs, embeddings, request checks, chaos ------------------------------------
WEATHER_PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                  "additionalProperties": False}
OPENAI_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather", "strict": True,
                                      "parameters": WEATHER_PARAMS}},
    {"type": "function", "function": {"name": "get_time", "strict": True, "parameters": {
        "type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"],
        "additionalProperties": False}}},
]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "Current weather", "input_schema": WEATHER_PARAMS}]
COHERE_TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                                                  "parameters": WEATHER_PARAMS}}]
PARIS = [{"role": "user", "content": "Weather in Paris?"}]


def two_calls() -> list[ToolCall]:
    return [ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_time", {"tz": "CET"}, id="call_fixed")]


def openai_client(fake, **options) -> openai.OpenAI:
    return openai.OpenAI(api_key=KEYS["OPENAI_API_KEY"] if fake.api_key else "unused", base_url=f"{fake.url}/v1",
                         max_retries=0, **options)


def anthropic_client(fake, **options) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=KEYS["ANTHROPIC_API_KEY"], base_url=fake.url, max_retries=0, **options)


def cohere_client(fake) -> cohere.ClientV2:
    return cohere.ClientV2(api_key=KEYS["CO_API_KEY"], base_url=fake.url)


def test_openai_sdk_tool_call_round_trip(fakes) -> None:
    fakes.openai.push(Reply(text="", tool_calls=two_calls()), Reply(text="18°C and 14:00 in Paris."))
    client = openai_client(fakes.openai)
    first = client.chat.completions.create(model="gpt-5.4", messages=PARIS, tools=OPENAI_TOOLS)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls" and message.content is None
    assert [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]
    assert message.tool_calls[0].id.startswith("call_") and message.tool_calls[1].id == "call_fixed"
    results = [{"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in message.tool_calls]
    second = client.chat.completions.create(model="gpt-5.4", messages=[*PARIS, message, *results], tools=OPENAI_TOOLS)
    assert second.choices[0].message.content == "18°C and 14:00 in Paris." and not fakes.openai.rejected
    sent = fakes.openai.received[1].json["messages"]
    assert sent[1]["tool_calls"][1]["function"]["arguments"] == '{"tz":"CET"}'
    assert sent[3]["tool_call_id"] == "call_fixed"


def test_openai_sdk_streams_tool_calls_in_openai_deltas(fakes) -> None:
    fakes.openai.push(Reply(text="", tool_calls=two_calls()))
    client = openai_client(fakes.openai)
    deltas = [c.choices[0] for c in client.chat.completions.create(
        model="m", messages=PARIS, tools=OPENAI_TOOLS, stream=True)]
    calls = [call for d in deltas for call in d.delta.tool_calls or ()]
    assert [c.index for c in calls if c.id] == [0, 1]  # id and name once per call, indexes dense from 0
    assert [c.function.name for c in calls if c.function.name] == ["get_weather", "get_time"]
    fragments = [c.function.arguments for c in calls if c.index == 0 and c.function.arguments]
    assert len(fragments) >= 2 and "".join(fragments) == '{"city":"Paris"}'
    assert deltas[-1].finish_reason == "tool_calls"

    fakes.openai.push(Reply(text="Let me check.", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    with client.chat.completions.stream(model="m", messages=PARIS, tools=OPENAI_TOOLS) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Let me check." and message.tool_calls[0].function.parsed_arguments == {"city": "Paris"}
    assert "tool_calls.function.arguments.delta" in events and final.choices[0].finish_reason == "tool_calls"


def test_a_named_tool_choice_finishes_with_stop_like_openai(fakes) -> None:
    fakes.openai.push(Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    completion = openai_client(fakes.openai).chat.completions.create(
        model="m", messages=PARIS, tools=OPENAI_TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert completion.choices[0].finish_reason == "stop" and completion.choices[0].message.tool_calls


def test_anthropic_sdk_tool_use_round_trip(fakes) -> None:
    fakes.anthropic.push(Reply(text="I'll check.", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]),
                         Reply(text="18°C in Paris."))
    client = anthropic_client(fakes.anthropic)
    first = client.messages.create(model="claude-sonnet-4-6", max_tokens=100, messages=PARIS, tools=ANTHROPIC_TOOLS)
    assert first.stop_reason == "tool_use" and [b.type for b in first.content] == ["text", "tool_use"]
    use = first.content[1]
    assert use.id.startswith("toolu_") and use.name == "get_weather" and use.input == {"city": "Paris"}
    second = client.messages.create(model="claude-sonnet-4-6", max_tokens=100, tools=ANTHROPIC_TOOLS, messages=[
        *PARIS, {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18°C"}]}])
    assert second.content[0].text == "18°C in Paris." and not fakes.anthropic.rejected


def test_anthropic_sdk_streams_parallel_tool_use(fakes) -> None:
    fakes.anthropic.push(Reply(text="Checking both.", tool_calls=[
        ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_weather", {"city": "Oslo"}, id="toolu_oslo")]))
    client = anthropic_client(fakes.anthropic)
    with client.messages.stream(model="m", max_tokens=100, messages=PARIS, tools=ANTHROPIC_TOOLS) as stream:
        partials = [e.partial_json for e in stream if e.type == "input_json"]
        final = stream.get_final_message()
    text, *uses = final.content
    assert final.stop_reason == "tool_use" and text.text == "Checking both."
    assert [b.input for b in uses] == [{"city": "Paris"}, {"city": "Oslo"}] and uses[0].id.startswith("toolu_01")
    assert uses[1].id == "toolu_oslo" and len([p for p in partials if p]) >= 4


def test_cohere_sdk_tool_calls_plain_and_streamed(fakes) -> None:
    fakes.cohere.push(Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]), Reply(text="18°C."))
    client = cohere_client(fakes.cohere)
    first = client.chat(model="command-a-03-2025", messages=PARIS, tools=COHERE_TOOLS)
    call = first.message.tool_calls[0]
    assert first.finish_reason == "TOOL_CALL" and first.message.tool_plan == "I will use get_weather."
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    second = client.chat(model="command-a-03-2025", tools=COHERE_TOOLS, messages=[
        *PARIS, {"role": "assistant", "tool_plan": first.message.tool_plan, "tool_calls": first.message.tool_calls},
        {"role": "tool", "tool_call_id": call.id, "content": [{"type": "text", "text": "18°C"}]}])
    assert second.message.content[0].text == "18°C." and fakes.cohere.received[1].json["messages"][2]["tool_call_id"]

    fakes.cohere.push(Reply(text="", tool_plan="I will look it up.", tool_calls=two_calls()))
    events = list(client.chat_stream(model="m", messages=PARIS, tools=COHERE_TOOLS))
    types = [e.type for e in events]
    assert types[0] == "message-start" and types[-1] == "message-end" and types.count("tool-call-start") == 2
    assert "".join(e.delta.message.tool_plan for e in events if e.type == "tool-plan-delta") == "I will look it up."
    starts = [e for e in events if e.type == "tool-call-start"]
    assert [s.index for s in starts] == [0, 1] and starts[1].delta.message.tool_calls.id == "call_fixed"
    arguments = "".join(e.delta.message.tool_calls.function.arguments for e in events
                        if e.type == "tool-call-delta" and e.index == 0)
    assert json.loads(arguments) == {"city": "Paris"} and events[-1].delta.finish_reason == "TOOL_CALL"


def test_openai_sdk_embeddings_base64_by_default_and_float(fakes) -> None:
    client = openai_client(fakes.openai)
    default = client.embeddings.create(model="text-embedding-3-small", input=["hello world", "bye"])
    assert fakes.openai.received[0].json["encoding_format"] == "base64"  # what the SDK sends unless told
    assert fakes.openai.received[0].path == "/v1/embeddings"
    assert len(default.data[0].embedding) == 1536 and default.usage.prompt_tokens == 3
    assert default.data[0].embedding == pytest.approx(embedding_for("hello world", 1536))
    small = client.embeddings.create(model="text-embedding-3-small", input="hello world", dimensions=256,
                                     encoding_format="float")
    assert small.data[0].embedding == embedding_for("hello world", 256)
    assert sum(x * x for x in small.data[0].embedding) == pytest.approx(1.0, abs=1e-5)
    assert vllm_embedding_dimensions(fakes) == 1024
    fakes.openai.push(Reply(status=429))
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="text-embedding-3-small", input="x")


def vllm_embedding_dimensions(fakes) -> int:
    response = openai_client(fakes.vllm).embeddings.create(model="BAAI/bge-m3", input="hello")
    assert fakes.vllm.received[-1].path == "/v1/embeddings"
    return len(response.data[0].embedding)


def test_cohere_sdk_embed_by_type(fakes) -> None:
    client = cohere_client(fakes.cohere)
    response = client.embed(model="embed-v4.0", input_type="search_document", texts=["hello world", "bye"],
                            embedding_types=["float", "base64", "int8"], output_dimension=512)
    floats = response.embeddings.float_
    assert len(floats) == 2 and floats[0] == embedding_for("hello world", 512)
    decoded = struct.unpack("<512f", base64.b64decode(response.embeddings.base64[0]))
    assert list(decoded) == floats[0] and len(response.embeddings.int8[1]) == 512
    assert response.meta.billed_units.input_tokens == 3
    with pytest.raises(cohere.BadRequestError, match="input_type"):
        client.embed(model="embed-v4.0", input_type=None, texts=["x"], request_options={"max_retries": 0})


def test_openai_sdk_reads_n_choices_and_logprobs(fakes) -> None:
    client = openai_client(fakes.openai)
    fakes.openai.push(Reply(choices=["Paris is sunny.", "Sunny in Paris."]))
    completion = client.chat.completions.create(model="m", messages=PARIS, n=2, logprobs=True, top_logprobs=2)
    assert [c.index for c in completion.choices] == [0, 1]
    assert [c.message.content for c in completion.choices] == ["Paris is sunny.", "Sunny in Paris."]
    entries = completion.choices[0].logprobs.content
    assert "".join(e.token for e in entries) == "Paris is sunny." and all(e.logprob <= 0 for e in entries)
    assert len(entries[0].top_logprobs) == 2 and entries[0].top_logprobs[0].token == entries[0].token

    fakes.openai.push(Reply(choices=["one two", "three four five"]))
    texts, tokens = {0: "", 1: ""}, []
    for chunk in client.chat.completions.create(model="m", messages=PARIS, n=2, logprobs=True, stream=True):
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            tokens += [e.token for e in (choice.logprobs.content if choice.logprobs else None) or ()]
    assert texts == {0: "one two", 1: "three four five"} and len(tokens) == 5


def test_cohere_sdk_reads_logprobs(fakes) -> None:
    fakes.cohere.push(Reply(text="Short answer."))
    response = cohere_client(fakes.cohere).chat(model="m", messages=PARIS, logprobs=True)
    assert [item.text for item in response.logprobs] == ["Short ", "answer."]
    assert all(len(item.token_ids) == len(item.logprobs) == 1 for item in response.logprobs)


def test_vllm_tools_need_the_auto_tool_choice_flag(fakes) -> None:
    with pytest.raises(openai.BadRequestError, match="--enable-auto-tool-choice") as raised:
        openai_client(fakes.vllm).chat.completions.create(model="m", messages=PARIS, tools=OPENAI_TOOLS)
    assert raised.value.body["type"] == "BadRequestError" and raised.value.body["code"] == 400
    named = openai_client(fakes.vllm).chat.completions.create(
        model="m", messages=PARIS, tools=OPENAI_TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert named.choices[0].message.content
    served = VLLMFake(auto_tool_choice=True)
    try:
        served.push(Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
        completion = openai_client(served).chat.completions.create(model="m", messages=PARIS, tools=OPENAI_TOOLS)
        assert completion.choices[0].message.tool_calls[0].id.startswith("chatcmpl-tool-")
    finally:
        served.close()


ASSISTANT_CALL = {"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]}
USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C"}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def image(source: dict) -> dict:
    return {"role": "user", "content": [{"type": "image", "source": source}, {"type": "text", "text": "What?"}]}


OPENAI_REFUSALS = {
    "tool message without tool_call_id": ({"messages": [*PARIS, ASSISTANT_CALL, {"role": "tool", "content": "x"}]},
                                           "tool_call_id"),
    "tool message answering nothing": ({"messages": [*PARIS, {"role": "tool", "tool_call_id": "c9", "content": "x"}]},
                                       "preceeding message with 'tool_calls'"),
    "unanswered tool call": ({"messages": [*PARIS, ASSISTANT_CALL, {"role": "user", "content": "and?"}]},
                             "did not have response messages: call_1"),
    "empty tools": ({"messages": PARIS, "tools": []}, "empty array"),
    "json_object without json": ({"messages": PARIS, "response_format": {"type": "json_object"}}, "the word 'json'"),
    "unknown field": ({"messages": PARIS, "extra_body": {"top_k": 3}}, "Unrecognized request argument supplied: top_k"),
}
ANTHROPIC_REFUSALS = {
    "empty text block": ({"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
                         "text content blocks must be non-empty"),
    "tool_use without tool_result": ({"tools": ANTHROPIC_TOOLS, "messages": [
        *PARIS, {"role": "assistant", "content": [USE]}, {"role": "user", "content": "well?"}]},
        "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1"),
    "tool_result after text": ({"tools": ANTHROPIC_TOOLS, "messages": [
        *PARIS, {"role": "assistant", "content": [USE]},
        {"role": "user", "content": [{"type": "text", "text": "here"}, RESULT]}]}, "immediately after"),
    "data URI as image data": ({"messages": [image({"type": "base64", "media_type": "image/png",
                                                     "data": f"data:image/png;base64,{PNG}"})]}, "base64"),
    "OpenAI image part": ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}]}, "Input tag 'image_url'"),
    "input_schema not an object": ({"messages": PARIS, "tools": [{"name": "f", "input_schema": {"type": "array"}}]},
                                   "input_schema.type: Input should be 'object'"),
    "system role in messages": ({"messages": [{"role": "system", "content": "be brief"}, *PARIS]},
                                'Unexpected role "system"'),
    "temperature above 1": ({"messages": PARIS, "extra_body": {"temperature": 1.5}}, "less than or equal to 1"),
    "tool name pattern": ({"messages": PARIS, "tools": [{"name": "weather.get", "input_schema": WEATHER_PARAMS}]},
                          "String should match pattern"),
    "tool_use id pattern": ({"tools": ANTHROPIC_TOOLS, "messages": [
        *PARIS, {"role": "assistant", "content": [{**USE, "id": "call:1"}]},
        {"role": "user", "content": [{**RESULT, "tool_use_id": "call:1"}]}]}, "tool_use.id: String should match"),
    "an OpenAI-only field": ({"messages": PARIS, "extra_body": {"n": 2}}, "n: Extra inputs are not permitted"),
}


@pytest.mark.parametrize("case", list(OPENAI_REFUSALS))
def test_openai_fake_refuses_what_openai_refuses(fakes, case: str) -> None:
    kwargs, message = OPENAI_REFUSALS[case]
    with pytest.raises(openai.BadRequestError, match=re.escape(message)):
        openai_client(fakes.openai).chat.completions.create(model="m", **kwargs)
    assert fakes.openai.rejected and message in fakes.openai.rejected[0]


@pytest.mark.parametrize("case", list(ANTHROPIC_REFUSALS))
def test_anthropic_fake_refuses_what_anthropic_refuses(fakes, case: str) -> None:
    kwargs, message = ANTHROPIC_REFUSALS[case]
    with pytest.raises(anthropic.BadRequestError, match=re.escape(message)) as raised:
        anthropic_client(fakes.anthropic).messages.create(model="m", max_tokens=10, **kwargs)
    assert raised.value.body["error"]["type"] == "invalid_request_error" and fakes.anthropic.rejected


def test_anthropic_fake_accepts_images_and_structured_output(fakes) -> None:
    client = anthropic_client(fakes.anthropic)
    client.messages.create(model="m", max_tokens=10, messages=[
        image({"type": "base64", "media_type": "image/png", "data": PNG}),
        {"role": "assistant", "content": "A dot."}, image({"type": "url", "url": "https://x/a.png"})])
    client.messages.create(model="m", max_tokens=10, messages=PARIS, output_config={
        "format": {"type": "json_schema", "schema": WEATHER_PARAMS}})
    client.messages.create(model="m", max_tokens=10, messages=PARIS, tools=ANTHROPIC_TOOLS,
                           tool_choice={"type": "tool", "name": "get_weather"})
    assert not fakes.anthropic.rejected and fakes.anthropic.received[2].json["tool_choice"]["name"] == "get_weather"


def test_cohere_fake_refuses_what_cohere_refuses(fakes) -> None:
    client = cohere_client(fakes.cohere)
    no_retry = {"max_retries": 0}
    with pytest.raises(cohere.BadRequestError, match="response_format"):
        client.chat(model="m", messages=PARIS, tools=COHERE_TOOLS, response_format={"type": "json_object"},
                    request_options=no_retry)
    with pytest.raises(cohere.BadRequestError, match="tool_call_id"):
        client.chat(model="m", messages=[*PARIS, {"role": "tool", "content": "18°C"}], request_options=no_retry)
    with pytest.raises(cohere.UnprocessableEntityError, match="'top_p' is not a valid field"):
        client.chat(model="m", messages=PARIS, request_options={**no_retry, "additional_body_parameters": {"top_p": 1}})
    client.chat(model="m", response_format={"type": "json_object", "json_schema": WEATHER_PARAMS}, messages=[
        {"role": "user", "content": [{"type": "text", "text": "JSON please"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}])
    assert len(fakes.cohere.rejected) == 3


def test_openai_fake_accepts_images_and_json_modes(fakes) -> None:
    client = openai_client(fakes.openai)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": [
        {"type": "text", "text": "Describe, as JSON."},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"}}]}],
        response_format={"type": "json_object"})
    client.chat.completions.create(model="m", messages=PARIS, response_format={
        "type": "json_schema", "json_schema": {"name": "weather", "strict": True, "schema": WEATHER_PARAMS}})
    assert not fakes.openai.rejected and fakes.openai.received[1].json["response_format"]["type"] == "json_schema"


def classify(call) -> str:
    try:
        call()
        return "ok"
    except Exception as error:  # noqa: BLE001 - the class is the answer
        return type(error).__name__


@pytest.mark.slow
def test_chaos_faults_reach_the_openai_sdk_as_its_errors(fakes) -> None:
    fakes.openai.chaos(rate=0.6, seed=3, hang_s=0.5)
    client = openai_client(fakes.openai, timeout=httpx.Timeout(0.25, connect=1))
    seen = Counter(classify(lambda: client.chat.completions.create(model="m", messages=PARIS)) for _ in range(60))
    injected = fakes.openai.injected
    assert set(injected) == {"429_retry_after", "429", "500", "503", "hang", "reset", "malformed"}
    assert seen["RateLimitError"] == injected["429"] + injected["429_retry_after"]
    assert seen["InternalServerError"] == injected["500"] + injected["503"]
    assert seen["APITimeoutError"] == injected["hang"] and seen["APIConnectionError"] == injected["reset"]
    assert seen["JSONDecodeError"] == injected["malformed"] and seen["ok"] == 60 - sum(injected.values())
    fakes.openai.chaos(rate=0)
    assert classify(lambda: client.chat.completions.create(model="m", messages=PARIS)) == "ok"


def test_chaos_stream_faults_reach_the_sdks(fakes) -> None:
    fakes.anthropic.chaos(rate=1, seed=1, faults=["529"])
    with pytest.raises(anthropic.OverloadedError):
        anthropic_client(fakes.anthropic).messages.create(model="m", max_tokens=5, messages=PARIS)
    fakes.openai.default = Reply(text="one two three four five")
    client = openai_client(fakes.openai, timeout=httpx.Timeout(0.2, connect=1))

    def stream() -> str:
        return "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="m", messages=PARIS, stream=True) if c.choices)

    fakes.openai.chaos(rate=1, seed=2, faults=["cut_after_some"])
    with pytest.raises(openai.APIConnectionError):
        stream()
    fakes.openai.chaos(rate=1, seed=2, faults=["stall_after_first"], stall_s=0.5)
    with pytest.raises(openai.APITimeoutError):
        stream()
    fakes.openai.chaos(rate=1, seed=2, faults=["malformed_after_first"])
    with pytest.raises(json.JSONDecodeError):
        stream()
    assert fakes.openai.injected == Counter(cut_after_some=1, stall_after_first=1, malformed_after_first=1)
    fakes.openai.reset()
    assert stream() == "Hello from the fake."


def test_chaos_is_safe_under_64_concurrent_requests(fakes) -> None:
    fakes.cohere.chaos(rate=0.5, seed=11, faults=["429", "500", "503", "reset"])
    client = cohere_client(fakes.cohere)
    no_retry = {"max_retries": 0}
    with ThreadPoolExecutor(64) as pool:
        seen = Counter(pool.map(lambda _: classify(lambda: client.chat(
            model="m", messages=PARIS, request_options=no_retry)), range(64)))
    injected = fakes.cohere.injected
    assert fakes.cohere.calls == 64 and seen["ok"] == 64 - sum(injected.values()) and 0 < seen["ok"] < 64
    assert seen["TooManyRequestsError"] == injected["429"]
    assert seen["InternalServerError"] + seen["ServiceUnavailableError"] == injected["500"] + injected["503"]


# What each Claude generation refuses (the fake checks by the model id, as the API does).
CLAUDE_MODEL_REFUSALS = {
    "sampling on 4.7": ("claude-opus-4-7", {"extra_body": {"temperature": 0.5}}, "`temperature` is deprecated"),
    "temperature with top_p on 4.5": ("claude-haiku-4-5", {"extra_body": {"temperature": 0.5, "top_p": 0.9}},
                                      "cannot both be specified"),
    "a budget on 4.7": ("claude-opus-4-7", {"thinking": {"type": "enabled", "budget_tokens": 2048}},
                        '"thinking.type.enabled" is not supported'),
    "adaptive before 4.6": ("claude-haiku-4-5", {"thinking": {"type": "adaptive"}},
                            '"thinking.type.adaptive" is not supported'),
    "a budget below 1024": ("claude-sonnet-4-6", {"thinking": {"type": "enabled", "budget_tokens": 512}},
                            "greater than or equal to 1024"),
    "a budget at max_tokens": ("claude-haiku-4-5", {"thinking": {"type": "enabled", "budget_tokens": 4096}},
                               "`max_tokens` must be greater than `thinking.budget_tokens`"),
    "temperature with thinking": ("claude-sonnet-4-6", {"thinking": {"type": "adaptive"},
                                                        "extra_body": {"temperature": 0.5}}, "only be set to 1"),
    "effort on Haiku 4.5": ("claude-haiku-4-5", {"output_config": {"effort": "low"}}, "output_config.effort"),
    "xhigh on 4.6": ("claude-sonnet-4-6", {"output_config": {"effort": "xhigh"}}, "output_config.effort"),
}


@pytest.mark.parametrize("case", list(CLAUDE_MODEL_REFUSALS))
def test_anthropic_fake_refuses_what_each_claude_model_refuses(fakes, case: str) -> None:
    model, kwargs, message = CLAUDE_MODEL_REFUSALS[case]
    with pytest.raises(anthropic.BadRequestError, match=re.escape(message)):
        anthropic_client(fakes.anthropic).messages.create(model=model, max_tokens=4096, messages=PARIS, **kwargs)
    accepted = anthropic_client(fakes.anthropic).messages.create(  # and the same model's own form passes
        model="claude-3-7-sonnet-20250219", max_tokens=4096, messages=PARIS,
        thinking={"type": "enabled", "budget_tokens": 2048})
    assert accepted.content[0].text


def test_cohere_fake_checks_thinking_and_strict_tools(fakes) -> None:
    client = cohere_client(fakes.cohere)
    with pytest.raises(cohere.BadRequestError, match="thinking.type"):
        client.chat(model="m", messages=PARIS, thinking={"type": "adaptive"})
    loose = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    with pytest.raises(cohere.BadRequestError, match="strict_tools"):
        client.chat(model="m", messages=PARIS, tools=[loose], strict_tools=True)
    assert client.chat(model="m", messages=PARIS, thinking={"type": "enabled", "token_budget": 100}).message
