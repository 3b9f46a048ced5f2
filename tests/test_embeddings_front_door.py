"""`POST /v1/embeddings` with the official `openai` SDK: OpenAI, Cohere embed and the local tier; a string or a list;
`dimensions`; `encoding_format` float and base64 (the SDK's default); failover only between targets that serve the
same model; usage and cost in the response and the log line."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from switchboard.config import ConfigError
from tests.conftest import make_config, request_logs
from tests.fakes import OpenAIFake, Reply, count_tokens, embedding_for
from tests.front_doors import attempts, fake_env, running_gateway, shared_config

SECOND_KEY = "sk-second-endpoint-0004dddd"


@pytest.fixture(scope="module")
def second() -> Any:
    """A second endpoint serving text-embedding-3-small (another region, another account)."""
    fake = OpenAIFake(SECOND_KEY)
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def url(fakes, second) -> Any:
    config = shared_config(
        providers={
            "openai_eu": {"kind": "openai", "base_url_env": "OPENAI_EU_BASE_URL", "api_key_env": "OPENAI_EU_KEY",
                          "models": {"text-embedding-3-small": {"embedding": True, "input": 0.02, "output": 0}}},
            "local": {"models": {"bge-m3": {"embedding": True, "input": 0, "output": 0}}},
        },
        embedding_routes={"text-embedding-3-small": ["openai:text-embedding-3-small",
                                                     "openai_eu:text-embedding-3-small"],
                          "bge-m3": ["local:bge-m3"]},
    )
    env = {**fake_env(fakes), "OPENAI_EU_BASE_URL": f"{second.url}/v1", "OPENAI_EU_KEY": SECOND_KEY}
    with running_gateway(config, env) as base:
        yield base


@pytest.fixture
def client(url, second) -> openai.OpenAI:
    second.reset()
    return openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)


def close_to(vector: Any, text: str, dim: int) -> bool:
    return np.allclose(np.asarray(vector, dtype=np.float32), np.asarray(embedding_for(text, dim), dtype=np.float32))


def embed_bodies(fake) -> list[Any]:
    return [r.json for r in fake.received if r.path == fake.embed_path]


def test_the_sdk_default_base64_and_a_single_string(client, fakes) -> None:
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hello world")
    result = raw.parse()
    assert [d.index for d in result.data] == [0]
    assert close_to(result.data[0].embedding, "hello world", 1536)
    assert result.model == "openai/text-embedding-3-small"
    assert result.usage.prompt_tokens == result.usage.total_tokens == count_tokens("hello world")
    assert attempts(raw.headers) == [("openai", "ok")]
    [sent] = embed_bodies(fakes.openai)
    assert sent["input"] == ["hello world"] and sent["model"] == "text-embedding-3-small"
    assert fakes.openai.rejected == []


def test_float_format_a_list_and_dimensions(client, fakes) -> None:
    texts = ["first text", "the second one", "third"]
    result = client.embeddings.create(model="openai/text-embedding-3-small", input=texts, dimensions=256,
                                      encoding_format="float")
    assert [d.index for d in result.data] == [0, 1, 2]
    assert all(len(d.embedding) == 256 and close_to(d.embedding, t, 256) for d, t in zip(result.data, texts))
    assert result.usage.prompt_tokens == sum(count_tokens(t) for t in texts)
    assert embed_bodies(fakes.openai)[-1]["dimensions"] == 256


def test_base64_on_the_wire_is_little_endian_float32(url, fakes) -> None:
    body = httpx.post(f"{url}/v1/embeddings", json={"model": "text-embedding-3-small", "input": ["a b", "c"],
                                                    "encoding_format": "base64", "dimensions": 8}).json()
    for item, text in zip(body["data"], ["a b", "c"]):
        raw = base64.b64decode(item["embedding"])
        assert len(raw) == 8 * 4 and close_to(struct.unpack("<8f", raw), text, 8)
    assert body["object"] == "list" and body["switchboard"]["cost_usd"] > 0


def test_cohere_embed_in_its_own_format(client, fakes) -> None:
    result = client.embeddings.create(model="embed-v4.0", input=["hello", "world"], dimensions=512)
    assert [len(d.embedding) for d in result.data] == [512, 512]
    assert close_to(result.data[1].embedding, "world", 512)
    assert result.model == "cohere/embed-v4.0" and result.usage.prompt_tokens == 2
    sent = embed_bodies(fakes.cohere)[-1]
    assert sent == {"model": "embed-v4.0", "texts": ["hello", "world"], "input_type": "search_document",
                    "embedding_types": ["float"], "output_dimension": 512}
    client.embeddings.create(model="cohere/embed-v4.0", input="a query", extra_body={"input_type": "search_query"})
    assert embed_bodies(fakes.cohere)[-1]["input_type"] == "search_query"
    assert fakes.cohere.rejected == []


def test_the_local_tier_embeds(client, fakes) -> None:
    result = client.embeddings.create(model="bge-m3", input="local text")
    assert result.model == "local/bge-m3" and close_to(result.data[0].embedding, "local text", 1024)
    assert embed_bodies(fakes.vllm)[-1]["model"] == "bge-m3"


def test_failover_between_two_endpoints_of_one_model(client, fakes, second) -> None:
    fakes.openai.default = Reply(status=500)
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="failover")
    assert attempts(raw.headers) == [("openai", "server_error")] * 3 + [("openai_eu", "ok")]
    result = raw.parse()
    assert result.model == "openai_eu/text-embedding-3-small"
    assert close_to(result.data[0].embedding, "failover", 1536)
    assert embed_bodies(second)[-1]["model"] == "text-embedding-3-small"
    assert second.received[-1].headers["Authorization"] == f"Bearer {SECOND_KEY}"


def test_never_fails_over_to_another_model(client, fakes) -> None:
    fakes.cohere.default = Reply(status=500)
    with pytest.raises(openai.InternalServerError) as raised:
        client.embeddings.create(model="embed-v4.0", input="x")
    assert raised.value.code == "all_targets_failed"
    route = json.loads(raised.value.response.headers["x-switchboard-route"])["attempts"]
    assert {(a["provider"], a["model"]) for a in route} == {("cohere", "embed-v4.0")}
    assert all(not embed_bodies(fake) for fake in (fakes.openai, fakes.vllm))


def test_usage_and_cost_in_the_log_line(client, fakes, capsys) -> None:
    capsys.readouterr()
    client.embeddings.create(model="text-embedding-3-small", input=["one two three", "four"])
    [line] = [line for line in request_logs(capsys.readouterr().out) if line["front_door"] == "openai"]
    assert (line["provider"], line["model"], line["status"]) == ("openai", "text-embedding-3-small", 200)
    assert line["input_tokens"] == 4
    assert line["cost_usd"] == pytest.approx(4 * 0.02 / 1_000_000)


def test_bad_embedding_requests_in_openai_shape(client, fakes) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.embeddings.create(model="no-such-embedder", input="x")
    assert raised.value.code == "model_not_found" and raised.value.param == "model"
    with pytest.raises(openai.NotFoundError):  # a chat model is not an embedding model
        client.embeddings.create(model="openai/gpt-5.4", input="x")
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model="text-embedding-3-small", input=[])
    assert raised.value.param == "input"
    with pytest.raises(openai.BadRequestError) as raised:  # token arrays, for a model that needs text
        client.embeddings.create(model="embed-v4.0", input=[[1, 2, 3]])
    assert "check_embedding_ctx_length=False" in raised.value.message
    assert all(not embed_bodies(fake) for fake in fakes.all())


def test_a_route_mixing_embedding_models_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match="same model"):
        make_config(embedding_routes={"mix": ["openai:text-embedding-3-small", "cohere:embed-v4.0"]})
