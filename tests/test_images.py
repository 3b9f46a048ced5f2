"""Images in user messages, as data URIs and as https URLs, reach each protocol in its own form: OpenAI's and
Cohere's `image_url` parts, Anthropic's `image` blocks with a base64 or url source (without `detail`).
A target that cannot see images is skipped as `unsupported` with `missing: ["vision"]`."""

from __future__ import annotations

import base64
import json
from typing import Any

import anthropic
import openai
import pytest

from tests.fakes import Reply
from tests.front_doors import PROVIDERS, answer_from, chat_bodies, fake_env, running_gateway, shared_config

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db40000000049454e44ae426082")).decode()
DATA_URI = f"data:image/png;base64,{PNG}"
HTTPS = "https://example.com/cat.jpg"
COHERE_WITH_VISION = ["tools", "vision", "json_schema", "logprobs", "seed", "penalties"]


@pytest.fixture(scope="module")
def url(fakes) -> Any:
    # Cohere's command-a is not a vision model; here it is declared one, so that every protocol can answer.
    config = shared_config(providers={"cohere": {"models": {"command-a-03-2025": {
        "capabilities": COHERE_WITH_VISION}}}})
    with running_gateway(config, fake_env(fakes)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url) -> openai.OpenAI:
    return openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)


def image_sent(fake, provider: str) -> Any:
    """The image part of the last user message the fake received."""
    assert fake.rejected == []
    content = chat_bodies(fake)[-1]["messages"][-1]["content"]
    assert isinstance(content, list)
    [text] = [p for p in content if p["type"] == "text"]
    assert text["text"] == "What is in this picture?"
    [image] = [p for p in content if p["type"] != "text"]
    return image


@pytest.mark.parametrize("image", [DATA_URI, HTTPS], ids=["data_uri", "https"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_client_images_per_protocol(client, fakes, provider, image) -> None:
    fake = answer_from(fakes, provider, Reply(text="A cat."))
    completion = client.chat.completions.create(model="chain", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": image, "detail": "low"}}]}])
    assert completion.choices[0].message.content == "A cat."
    sent = image_sent(fake, provider)
    if provider == "anthropic":
        source = ({"type": "base64", "media_type": "image/png", "data": PNG} if image == DATA_URI
                  else {"type": "url", "url": HTTPS})
        assert sent == {"type": "image", "source": source}
    else:
        assert sent == {"type": "image_url", "image_url": {"url": image, "detail": "low"}}


@pytest.mark.parametrize("image", ["base64", "url"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_anthropic_client_images_per_protocol(url, fakes, provider, image) -> None:
    fake = answer_from(fakes, provider, Reply(text="A cat."))
    client = anthropic.Anthropic(api_key="anything", base_url=url, max_retries=0)
    source = ({"type": "base64", "media_type": "image/png", "data": PNG} if image == "base64"
              else {"type": "url", "url": HTTPS})
    message = client.messages.create(model="chain", max_tokens=50, messages=[{"role": "user", "content": [
        {"type": "image", "source": source}, {"type": "text", "text": "What is in this picture?"}]}])
    assert message.content[0].text == "A cat."
    sent = image_sent(fake, provider)
    if provider == "anthropic":
        assert sent == {"type": "image", "source": source}
    else:
        assert sent == {"type": "image_url", "image_url": {"url": DATA_URI if image == "base64" else HTTPS}}


def test_openai_only_detail_is_not_sent_to_cohere(client, fakes) -> None:
    fake = answer_from(fakes, "cohere", Reply(text="A cat."))
    client.chat.completions.create(model="chain", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": HTTPS, "detail": "original"}}]}])
    assert image_sent(fake, "cohere") == {"type": "image_url", "image_url": {"url": HTTPS}}


def test_a_vision_request_skips_a_target_that_cannot_see(client, fakes) -> None:
    """`classification` starts at cohere:command-r7b, which declares no vision: skipped, never called."""
    fakes.openai.default = Reply(text="A cat.")
    raw = client.chat.completions.with_raw_response.create(model="classification", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"}, {"type": "image_url", "image_url": {"url": HTTPS}}]}])
    assert raw.parse().choices[0].message.content == "A cat."
    first, second = json.loads(raw.headers["x-switchboard-route"])["attempts"]
    assert (first["provider"], first["model"], first["outcome"], first["missing"]) == \
        ("cohere", "command-r7b-12-2024", "unsupported", ["vision"])
    assert (second["provider"], second["outcome"]) == ("openai", "ok")
    assert fakes.cohere.calls == 0
