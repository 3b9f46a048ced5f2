"""The rest of the OpenAI surface, with the official `openai` SDK: the legacy `/v1/completions` (streamed and not),
`GET /v1/models/{id}`, OpenAI's 404 for unknown /v1 paths; and a request's deadline on every front door
(`x-switchboard-timeout` in seconds, or `timeout_s` in the body)."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes import Reply
from tests.front_doors import (
    PROVIDERS,
    answer_from,
    attempts,
    chat_bodies,
    fake_env,
    running_gateway,
    shared_config,
)

TIMEOUT = "x-switchboard-timeout"


@pytest.fixture(scope="module")
def url(fakes) -> Any:
    with running_gateway(shared_config(), fake_env(fakes)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url) -> openai.OpenAI:
    return openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)


# -- /v1/completions -------------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
def test_legacy_completions_from_each_protocol(client, fakes, provider) -> None:
    fake = answer_from(fakes, provider, Reply(text="This is a test.", input_tokens=5, output_tokens=4))
    raw = client.completions.with_raw_response.create(model="chain", prompt="Say this is a test", temperature=0)
    completion = raw.parse()
    assert completion.object == "text_completion" and completion.id.startswith("cmpl-")
    assert [(c.index, c.text, c.finish_reason) for c in completion.choices] == [(0, "This is a test.", "stop")]
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (5, 4)
    assert completion.model.startswith(f"{provider}/")
    assert attempts(raw.headers)[-1] == (provider, "ok")
    sent = chat_bodies(fake)[-1]
    assert fake.rejected == []
    assert sent["messages"][-1] == {"role": "user", "content": "Say this is a test"}
    assert sent[{"openai": "max_completion_tokens"}.get(provider, "max_tokens")] == 16  # the legacy default


def test_legacy_completions_streamed(client, fakes) -> None:
    fakes.openai.default = Reply(text="one two three", input_tokens=3, output_tokens=3)
    chunks = list(client.completions.create(model="openai/gpt-5.4", prompt="Count", max_tokens=5, stream=True,
                                            stream_options={"include_usage": True}))
    assert all(c.object == "text_completion" for c in chunks)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3
    assert chat_bodies(fakes.openai)[-1]["max_completion_tokens"] == 5


def test_legacy_completions_stream_from_anthropic(client, fakes) -> None:
    fakes.anthropic.default = Reply(text="Claude says hi.")
    chunks = list(client.completions.create(model="anthropic/claude-haiku-4-5", prompt="Hi", stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Claude says hi."
    assert fakes.anthropic.rejected == []


def test_legacy_completions_refuse_what_they_cannot_honour(client, fakes) -> None:
    for extra in ({"echo": True}, {"suffix": "end"}, {"logprobs": 2}, {"best_of": 3}):
        with pytest.raises(openai.BadRequestError) as raised:
            client.completions.create(model="auto", prompt="Hi", **extra)
        assert raised.value.param == next(iter(extra))
    with pytest.raises(openai.BadRequestError) as raised:
        client.completions.create(model="auto", prompt=[1, 2, 3])
    assert raised.value.param == "prompt"
    assert all(fake.calls == 0 for fake in fakes.all())


# -- /v1/models --------------------------------------------------------------------------------------------
def test_models_by_id(client) -> None:
    for name in ("chain", "auto", "summarization", "text-embedding-3-small"):
        model = client.models.retrieve(name)
        assert (model.id, model.object, model.owned_by) == (name, "model", "switchboard")
    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("gpt-nonexistent")
    assert raised.value.code == "model_not_found" and raised.value.param == "model"


@pytest.mark.parametrize("name", ["openai/gpt-5.4", "cohere/embed-v4.0"])
def test_models_by_provider_and_model_id(client, name) -> None:
    model = client.models.retrieve(name)
    assert (model.id, model.owned_by) == (name, name.split("/")[0])


def test_a_bare_model_name_is_found_as_chat_accepts_it(client) -> None:
    model = client.models.retrieve("claude-haiku-4-5")  # only Anthropic lists it
    assert (model.id, model.owned_by) == ("claude-haiku-4-5", "anthropic")


def test_unknown_v1_paths_answer_openai_404(url) -> None:
    response = httpx.post(f"{url}/v1/assistants", json={"model": "auto", "name": "hi"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "not_found"
    assert response.headers["x-request-id"]
    assert httpx.get(f"{url}/v1/chat/completions").status_code == 405


# -- deadlines ---------------------------------------------------------------------------------------------
def test_the_timeout_header_bounds_a_chat_request(client, fakes) -> None:
    fakes.openai.default = Reply(hang=True, hang_s=2)
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="openai/gpt-5.4", messages=[{"role": "user", "content": "Hi"}],
                                       extra_headers={TIMEOUT: "0.3"})
    assert raised.value.status_code == 504 and raised.value.code == "deadline_exceeded"
    assert raised.value.response.elapsed.total_seconds() < 1.5


def test_timeout_s_in_the_body_on_completions_and_embeddings(client, fakes) -> None:
    fakes.openai.default = Reply(hang=True, hang_s=2)
    with pytest.raises(openai.InternalServerError) as raised:
        client.completions.create(model="openai/gpt-5.4", prompt="Hi", extra_body={"timeout_s": 0.3})
    assert raised.value.code == "deadline_exceeded"
    with pytest.raises(openai.InternalServerError) as raised:
        client.embeddings.create(model="text-embedding-3-small", input="x", extra_headers={TIMEOUT: "0.3"})
    assert raised.value.code == "deadline_exceeded"


def test_the_timeout_header_on_messages_and_complete(url, fakes) -> None:
    fakes.anthropic.default = Reply(hang=True, hang_s=2)
    client = anthropic.Anthropic(api_key="anything", base_url=url, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as raised:
        client.messages.create(model="anthropic/claude-haiku-4-5", max_tokens=10,
                               messages=[{"role": "user", "content": "Hi"}], extra_headers={TIMEOUT: "0.3"})
    assert raised.value.status_code == 504 and raised.value.body["error"]["type"] == "timeout_error"
    response = httpx.post(f"{url}/complete", json={"text": "Hi", "model": "anthropic/claude-haiku-4-5"},
                          headers={TIMEOUT: "0.3"})
    assert response.status_code == 504 and response.json()["error"]["code"] == "deadline_exceeded"


def test_a_bad_timeout_is_refused_by_every_door(client, url) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Hi"}],
                                       extra_headers={TIMEOUT: "soon"})
    assert raised.value.param == TIMEOUT
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Hi"}],
                                       extra_body={"timeout_s": 3600})
    assert raised.value.param == "timeout_s"
    messages = httpx.post(f"{url}/v1/messages", headers={TIMEOUT: "-1"},
                          json={"model": "auto", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]})
    assert messages.status_code == 400 and messages.json()["error"]["type"] == "invalid_request_error"
