"""The official `openai` SDK, unmodified, pointed at Switchboard: routing, retries and failover, streamed or not."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.conftest import outcomes
from tests.fakes import Reply

# model (a task type) -> the provider whose protocol serves it
ROUTES = {"creative_writing": "openai", "technical_explanation": "anthropic", "summarization": "cohere"}
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]


@pytest.fixture
def base_url(serve) -> str:
    return f"{serve()}/v1"


@pytest.fixture
def client(base_url) -> openai.OpenAI:
    return openai.OpenAI(api_key="anything", base_url=base_url, max_retries=0)


@pytest.mark.parametrize("model", ROUTES)
def test_sync_sdk_non_streaming(client, fakes, model) -> None:
    provider = ROUTES[model]
    getattr(fakes, provider).default = Reply(text="Hi!", input_tokens=10, output_tokens=2)
    raw = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES, max_tokens=20)
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hi!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model.startswith(f"{provider}/")
    assert completion.usage.prompt_tokens == 10 and completion.usage.completion_tokens == 2
    route = json.loads(raw.headers["x-switchboard-route"])
    assert outcomes(route["attempts"]) == [(provider, "ok")]
    assert raw.headers["x-request-id"]
    sent = getattr(fakes, provider).received[0].json
    assert sent["model"] == completion.model.split("/", 1)[1]


@pytest.mark.parametrize("model", ROUTES)
def test_sync_sdk_streaming(client, fakes, model) -> None:
    provider = ROUTES[model]
    getattr(fakes, provider).default = Reply(text="Streaming along nicely.", input_tokens=12, output_tokens=4)
    chunks = list(client.chat.completions.create(
        model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Streaming along nicely."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.prompt_tokens == 12 and chunks[-1].usage.completion_tokens == 4
    extra = chunks[-1].model_extra["switchboard"]
    assert outcomes(extra["route"]["attempts"]) == [(provider, "ok")] and extra["cost_usd"] > 0


@pytest.mark.parametrize("model", ROUTES)
async def test_async_sdk_streaming_and_not(base_url, fakes, model) -> None:
    provider = ROUTES[model]
    getattr(fakes, provider).default = Reply(text="Async works.")
    client = openai.AsyncOpenAI(api_key="anything", base_url=base_url, max_retries=0)
    completion = await client.chat.completions.create(model=model, messages=MESSAGES)
    assert completion.choices[0].message.content == "Async works."
    stream = await client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Async works."
    await client.close()


def test_the_sdk_sees_failover_it_did_not_ask_for(client, fakes) -> None:
    fakes.openai.default = Reply(status=503)
    fakes.anthropic.default = Reply(text="from the fallback")
    raw = client.chat.completions.with_raw_response.create(model="creative_writing", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "from the fallback"
    assert raw.parse().model.startswith("anthropic/")
    route = json.loads(raw.headers["x-switchboard-route"])
    assert outcomes(route["attempts"]) == [("openai", "overloaded")] * 3 + [("anthropic", "ok")]


def test_a_stream_cut_after_tokens_raises_in_the_sdk_after_the_tokens(client, fakes) -> None:
    fakes.openai.default = Reply(text="one two three four", cut_after=2)
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in client.chat.completions.create(model="creative_writing", messages=MESSAGES, stream=True):
            if chunk.choices:
                received.append((chunk.choices[0].delta.content or "", chunk.choices[0].finish_reason))
    assert "".join(text for text, _ in received) == "one two "
    assert received[-1][1] == "error"  # never a clean `stop`
    assert raised.value.body["code"] == "stream_interrupted"
    assert fakes.anthropic.calls == 0


def test_auto_and_pinned_models(client, fakes) -> None:
    assert client.chat.completions.create(model="auto", messages=MESSAGES).model == "openai/gpt-5.4-mini"
    fakes.anthropic.push(Reply(status=429, headers={"retry-after-ms": "50"}), Reply(text="pinned"))
    raw = client.chat.completions.with_raw_response.create(model="anthropic/claude-haiku-4-5", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "pinned"
    assert outcomes(json.loads(raw.headers["x-switchboard-route"])["attempts"]) == [
        ("anthropic", "rate_limited"), ("anthropic", "ok")
    ]


def test_models_lists_routes_and_pinnable_models(client) -> None:
    ids = {model.id for model in client.models.list()}
    assert {"auto", "creative_writing", "summarization", "openai/gpt-5.4", "local/smollm2-135m-instruct"} <= ids


def test_bad_input_gets_openai_shaped_4xx(client, base_url) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-nonexistent", messages=MESSAGES)
    assert raised.value.code == "model_not_found" and raised.value.param == "model"
    with pytest.raises(openai.BadRequestError) as raised:  # no target of the route can give two choices
        client.chat.completions.create(model="summarization", messages=MESSAGES, n=2)
    assert raised.value.param == "n" and raised.value.code == "unsupported_capability"
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="auto", messages=MESSAGES, tool_choice="required")
    assert raised.value.param == "tool_choice"
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="auto", messages=[], max_tokens=5)
    assert raised.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="auto", messages=MESSAGES, max_tokens=0)
    assert raised.value.param == "max_tokens"
    missing = httpx.post(f"{base_url}/chat/completions", json={"model": "auto"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "messages"
    garbage = httpx.post(f"{base_url}/chat/completions", content=b"{oops")
    assert garbage.status_code == 400 and garbage.json()["error"]["type"] == "invalid_request_error"


def test_everything_down_is_a_5xx_the_sdk_does_not_retry(base_url, fakes) -> None:
    for fake in fakes.all():
        fake.default = Reply(status=500)
    client = openai.OpenAI(api_key="anything", base_url=base_url)  # the SDK's default: 2 retries
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="summarization", messages=MESSAGES)
    assert raised.value.status_code == 502 and raised.value.code == "all_targets_failed"
    assert fakes.cohere.calls == 3  # our retries only: `x-should-retry: false` stopped the SDK's own
    route = raised.value.body  # the SDK unwraps `error`; the route travels in the header
    assert route["code"] == "all_targets_failed"
    assert json.loads(raised.value.response.headers["x-switchboard-route"])["attempts"][-1]["provider"] == "local"
