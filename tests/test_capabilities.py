"""Capabilities: a target that cannot serve what a request needs is skipped (`unsupported`, with `missing`); when
none can, a 400 names the capability; parameters are dropped only where the config says `drop`, and the response
lists them. n > 1 and logprobs on OpenAI, streamed and not."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes import Reply
from tests.front_doors import attempts, chat_bodies, fake_env, running_gateway, shared_config

ASK = [{"role": "user", "content": "Say something nice."}]
IMAGE = {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(scope="module")
def url(fakes) -> Any:
    with running_gateway(shared_config(), fake_env(fakes)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url) -> openai.OpenAI:
    return openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)


# -- skipping and the 400 ------------------------------------------------------------------------------
def test_logprobs_skip_a_target_without_them(client, fakes) -> None:
    """technical_explanation starts at Anthropic, which has no logprobs and may not drop them."""
    raw = client.chat.completions.with_raw_response.create(model="technical_explanation", messages=ASK,
                                                           logprobs=True)
    route = json.loads(raw.headers["x-switchboard-route"])["attempts"]
    assert [(a["provider"], a["outcome"], a.get("missing")) for a in route] == [
        ("anthropic", "unsupported", ["logprobs"]), ("openai", "ok", None)]
    assert fakes.anthropic.calls == 0
    assert raw.parse().choices[0].logprobs.content


@pytest.mark.parametrize(("model", "extra", "capability"), [
    ("cohere/command-r7b-12-2024", {"messages": [IMAGE]}, "vision"),
    ("local/smollm2-135m-instruct", {"tools": [TOOL]}, "tools"),
    ("summarization", {"n": 2}, "n"),
], ids=["vision", "tools", "n"])
def test_the_400_names_the_capability_no_target_has(client, fakes, model, extra, capability) -> None:
    body = {"messages": ASK, **extra}
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=model, **body)
    assert raised.value.code == "unsupported_capability" and raised.value.param == capability
    assert capability in raised.value.message
    route = json.loads(raised.value.response.headers["x-switchboard-route"])["attempts"]
    assert all(a["outcome"] == "unsupported" and capability in a["missing"] for a in route)
    assert all(fake.calls == 0 for fake in fakes.all())


def test_the_400_in_anthropic_shape(url, fakes) -> None:
    client = anthropic.Anthropic(api_key="anything", base_url=url, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(model="local/smollm2-135m-instruct", max_tokens=20, messages=[
            {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x.io/a.png"}},
                                         {"type": "text", "text": "What is this?"}]}])
    assert raised.value.body["type"] == "error"
    assert raised.value.body["error"]["type"] == "invalid_request_error"
    assert "vision" in raised.value.body["error"]["message"]
    assert fakes.vllm.calls == 0


# -- drop ------------------------------------------------------------------------------------------------
def test_parameters_are_dropped_only_where_config_says(client, fakes) -> None:
    """Anthropic's config drops seed and penalties: sent without them, and the response lists them."""
    raw = client.chat.completions.with_raw_response.create(
        model="anthropic/claude-haiku-4-5", messages=ASK, seed=7, frequency_penalty=0.5, temperature=0.2)
    completion = raw.parse()
    assert completion.model_extra["switchboard"]["dropped"] == ["seed", "frequency_penalty"]
    sent = chat_bodies(fakes.anthropic)[-1]
    assert "seed" not in sent and "frequency_penalty" not in sent and sent["temperature"] == 0.2
    assert fakes.anthropic.rejected == []


def test_a_streamed_answer_lists_what_was_dropped(client, fakes) -> None:
    chunks = list(client.chat.completions.create(model="anthropic/claude-haiku-4-5", messages=ASK, seed=7,
                                                 stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].model_extra["switchboard"]["dropped"] == ["seed"]


def test_complete_lists_what_was_dropped(url, fakes) -> None:
    response = httpx.post(f"{url}/complete", json={"text": "Hello", "model": "local/smollm2-135m-instruct",
                                                  "seed": 3, "temperature": 0.1})
    assert response.status_code == 200 and "dropped" not in response.json()  # the local model takes seeds
    response = httpx.post(f"{url}/complete", json={"text": "Hello", "model": "anthropic/claude-haiku-4-5", "seed": 3})
    assert response.status_code == 200 and response.json()["dropped"] == ["seed"]


def test_the_local_tier_drops_logprobs_as_configured(client, fakes) -> None:
    raw = client.chat.completions.with_raw_response.create(model="local/smollm2-135m-instruct", messages=ASK,
                                                           logprobs=True, top_logprobs=2)
    assert raw.parse().model_extra["switchboard"]["dropped"] == ["logprobs"]
    assert raw.parse().choices[0].logprobs is None
    sent = chat_bodies(fakes.vllm)[-1]
    assert "logprobs" not in sent and "top_logprobs" not in sent


def test_unknown_fields_are_listed_and_not_sent(client, fakes) -> None:
    completion = client.chat.completions.create(model="openai/gpt-5.4", messages=ASK,
                                                extra_body={"mystery_knob": 1, "store": True})
    assert completion.model_extra["switchboard"]["dropped"] == ["mystery_knob"]
    sent = chat_bodies(fakes.openai)[-1]
    assert "mystery_knob" not in sent and fakes.openai.rejected == []


# -- n and logprobs on OpenAI -----------------------------------------------------------------------------
def test_n_choices_on_openai(client, fakes) -> None:
    fakes.openai.default = Reply(choices=["First answer.", "Second answer."])
    completion = client.chat.completions.create(model="openai/gpt-5.4", messages=ASK, n=2)
    assert [(c.index, c.message.content, c.finish_reason) for c in completion.choices] == [
        (0, "First answer.", "stop"), (1, "Second answer.", "stop")]
    assert chat_bodies(fakes.openai)[-1]["n"] == 2


def test_n_choices_streamed(client, fakes) -> None:
    fakes.openai.default = Reply(choices=["First answer.", "Second answer."])
    chunks = list(client.chat.completions.create(model="openai/gpt-5.4", messages=ASK, n=2, stream=True))
    texts: dict[int, str] = {0: "", 1: ""}
    finishes: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts == {0: "First answer.", 1: "Second answer."}
    assert finishes == {0: "stop", 1: "stop"}


def test_logprobs_on_openai(client, fakes) -> None:
    fakes.openai.default = Reply(text="Nice day.")
    completion = client.chat.completions.create(model="openai/gpt-5.4", messages=ASK, logprobs=True, top_logprobs=2)
    entries = completion.choices[0].logprobs.content
    assert "".join(e.token for e in entries) == "Nice day."
    assert all(len(e.top_logprobs) == 2 and e.logprob <= 0 for e in entries)
    sent = chat_bodies(fakes.openai)[-1]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 2
    streamed = list(client.chat.completions.create(model="openai/gpt-5.4", messages=ASK, logprobs=True,
                                                   top_logprobs=1, stream=True))
    tokens = [e.token for c in streamed if c.choices and c.choices[0].logprobs
              for e in c.choices[0].logprobs.content or ()]
    assert "".join(tokens) == "Nice day."


def test_logprobs_from_cohere_come_in_openai_shape(client, fakes) -> None:
    fakes.cohere.default = Reply(text="Short summary.")
    raw = client.chat.completions.with_raw_response.create(model="summarization", messages=ASK, logprobs=True)
    assert attempts(raw.headers) == [("cohere", "ok")]
    entries = raw.parse().choices[0].logprobs.content
    assert entries and all(e.logprob <= 0 and e.top_logprobs == [] for e in entries)
    assert chat_bodies(fakes.cohere)[-1]["logprobs"] is True
