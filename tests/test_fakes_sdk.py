"""The official SDKs keep the fakes honest: if the SDK reads a fake's reply, the fake speaks the protocol."""

from __future__ import annotations

import anthropic
import cohere
import openai
import pytest

from tests.conftest import KEYS
from tests.fakes import Reply


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
