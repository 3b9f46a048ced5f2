"""Structured output: `response_format` (OpenAI clients) and `output_config.format` (Anthropic clients) reach each
provider in its own form, and the answer parses, streamed or not, whichever protocol answers.

OpenAI gets `response_format.json_schema`; Anthropic `output_config.format` (a JSON schema) or, for `json_object`,
a forced tool whose input is the answer; Cohere `response_format: {type: json_object, json_schema}`.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from pydantic import BaseModel, Field

from tests.fakes import Reply, ToolCall
from tests.front_doors import PROVIDERS, answer_from, chat_bodies, fake_env, running_gateway, shared_config


class Person(BaseModel):
    name: str
    age: int


ANSWER = '{"name": "Ada", "age": 36}'
ASK = [{"role": "user", "content": "Who wrote the first program? Answer in JSON."}]


@pytest.fixture(scope="module")
def url(fakes) -> Any:
    with running_gateway(shared_config(), fake_env(fakes)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url) -> openai.OpenAI:
    return openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)


def check_schema_sent(fake, provider: str) -> None:
    """The JSON schema in the provider's own form."""
    assert fake.rejected == []
    sent = chat_bodies(fake)[-1]
    if provider == "openai":
        form = sent["response_format"]
        assert form["type"] == "json_schema"
        assert form["json_schema"]["name"] == "Person" and form["json_schema"]["strict"] is True
        assert form["json_schema"]["schema"]["properties"].keys() == {"name", "age"}
    elif provider == "anthropic":
        fmt = sent["output_config"]["format"]
        assert fmt["type"] == "json_schema"
        assert fmt["schema"]["properties"].keys() == {"name", "age"}
        assert fmt["schema"]["additionalProperties"] is False
        assert "response_format" not in sent and "tools" not in sent
    else:
        form = sent["response_format"]
        assert form["type"] == "json_object"
        assert form["json_schema"]["properties"].keys() == {"name", "age"}
        assert form["json_schema"]["required"] == ["name", "age"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_sdk_parse_with_a_json_schema(client, fakes, provider, stream) -> None:
    fake = answer_from(fakes, provider, Reply(text=ANSWER))
    if stream:
        with client.chat.completions.stream(model="chain", messages=ASK, response_format=Person) as events:
            completion = events.get_final_completion()
    else:
        completion = client.chat.completions.parse(model="chain", messages=ASK, response_format=Person)
    assert completion.choices[0].message.parsed == Person(name="Ada", age=36)
    assert completion.model.startswith(f"{provider}/")
    check_schema_sent(fake, provider)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_json_object_per_protocol(client, fakes, provider, stream) -> None:
    # Anthropic has no JSON mode without a schema: a forced tool carries the object, returned as the text.
    reply = Reply(text="", tool_calls=[ToolCall("json_output", {"name": "Ada", "age": 36})]) \
        if provider == "anthropic" else Reply(text=ANSWER)
    fake = answer_from(fakes, provider, reply)
    response = client.chat.completions.create(model="chain", messages=ASK, response_format={"type": "json_object"},
                                              stream=stream)
    if stream:
        chunks = list(response)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        text, finish = response.choices[0].message.content, response.choices[0].finish_reason
        assert response.choices[0].message.tool_calls is None
    assert json.loads(text) == {"name": "Ada", "age": 36}
    assert finish == "stop"
    assert fake.rejected == []
    sent = chat_bodies(fake)[-1]
    if provider == "openai":
        assert sent["response_format"] == {"type": "json_object"}
    elif provider == "anthropic":
        assert [t["name"] for t in sent["tools"]] == ["json_output"]
        assert sent["tool_choice"] == {"type": "tool", "name": "json_output"}
        assert "output_config" not in sent
    else:
        assert sent["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_anthropic_sdk_parse_with_an_output_format(url, fakes, provider, stream) -> None:
    fake = answer_from(fakes, provider, Reply(text=ANSWER))
    client = anthropic.Anthropic(api_key="anything", base_url=url, max_retries=0)
    if stream:
        with client.messages.stream(model="chain", max_tokens=100, messages=ASK, output_format=Person) as events:
            message = events.get_final_message()
    else:
        message = client.messages.parse(model="chain", max_tokens=100, messages=ASK, output_format=Person)
    assert message.parsed_output == Person(name="Ada", age=36)
    assert fake.rejected == []
    sent = chat_bodies(fake)[-1]
    schema = {"openai": lambda: sent["response_format"]["json_schema"]["schema"],
              "anthropic": lambda: sent["output_config"]["format"]["schema"],
              "cohere": lambda: sent["response_format"]["json_schema"]}[provider]()
    assert schema["properties"].keys() == {"name", "age"}
    if provider == "openai":
        assert sent["response_format"]["type"] == "json_schema"


def test_a_schema_is_lowered_to_what_anthropic_takes(client, fakes) -> None:
    fake = answer_from(fakes, "anthropic", Reply(text='{"pet": {"kind": "cat"}}'))
    schema = {"type": "object", "properties": {"pet": {"oneOf": [
        {"type": "object", "properties": {"kind": {"type": "string"}}, "required": ["kind"]},
        {"type": "string"}]}}, "required": ["pet"]}
    completion = client.chat.completions.create(
        model="chain", messages=ASK,
        response_format={"type": "json_schema", "json_schema": {"name": "pet", "schema": schema}})
    assert json.loads(completion.choices[0].message.content) == {"pet": {"kind": "cat"}}
    sent = chat_bodies(fake)[-1]["output_config"]["format"]["schema"]
    assert sent["additionalProperties"] is False
    assert "oneOf" not in sent["properties"]["pet"]
    assert sent["properties"]["pet"]["anyOf"][0]["additionalProperties"] is False


def test_json_output_alongside_tools_on_anthropic_asks_in_words(client, fakes) -> None:
    """A forced JSON tool would override the client's own tools: the system prompt asks for JSON instead."""
    fake = answer_from(fakes, "anthropic", Reply(text=ANSWER))
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    completion = client.chat.completions.create(model="chain", messages=ASK, tools=[tool],
                                                response_format={"type": "json_object"})
    assert json.loads(completion.choices[0].message.content)["name"] == "Ada"
    sent = chat_bodies(fake)[-1]
    assert [t["name"] for t in sent["tools"]] == ["lookup"]
    assert "JSON" in sent["system"]
    assert fake.rejected == []


def test_a_response_format_is_never_dropped(serve, fakes) -> None:
    """No target of the route can honour a JSON schema: a 400 naming it, and no call upstream."""
    url = serve(shared_config(providers={"cohere": {"models": {"command-a-03-2025": {"capabilities": ["tools"]}}}},
                              routes={"cohere_only": ["cohere:command-a-03-2025"]}))
    client = openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.parse(model="cohere_only", messages=ASK, response_format=Person)
    assert raised.value.code == "unsupported_capability" and raised.value.param == "json_schema"
    assert fakes.cohere.calls == 0


def test_openai_json_mode_gets_the_word_json_it_requires(client, fakes) -> None:
    """OpenAI refuses json_object unless a message says "json"; clients of other providers need not say it."""
    fake = answer_from(fakes, "openai", Reply(text=ANSWER))
    completion = client.chat.completions.create(model="chain", messages=[{"role": "user", "content": "Who?"}],
                                                response_format={"type": "json_object"})
    assert json.loads(completion.choices[0].message.content)["name"] == "Ada"
    assert fake.rejected == [] and fake.calls == 1
    assert "json" in chat_bodies(fake)[-1]["messages"][0]["content"].lower()


class Constrained(BaseModel):
    name: str = Field(min_length=1, pattern="^[A-Z][a-z]+$")
    age: int = Field(ge=0, le=150)
    email: str = Field(json_schema_extra={"format": "email"})
    tags: list[str] = Field(min_length=1, max_length=3)


def keywords(schema: Any) -> set[str]:
    """Every JSON Schema keyword used anywhere in `schema` (property names left out)."""
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in ("properties", "$defs"):
                for item in value.values():
                    found |= keywords(item)
            else:
                found |= keywords(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= keywords(item)
    return found


@pytest.mark.parametrize("provider", ["anthropic", "cohere"])
def test_constraints_a_provider_refuses_are_told_in_words(client, fakes, provider) -> None:
    """Anthropic and Cohere refuse numeric and length limits (and Cohere anchored patterns, most formats): they
    are moved into the description, as the Anthropic SDK's transform_schema does, rather than failing."""
    fake = answer_from(fakes, provider, Reply(text='{"name": "Ada", "age": 36, "email": "a@b.c", "tags": ["x"]}'))
    completion = client.chat.completions.parse(model="chain", messages=ASK, response_format=Constrained)
    assert completion.choices[0].message.parsed.age == 36
    sent = chat_bodies(fake)[-1]
    schema = sent["output_config"]["format"]["schema"] if provider == "anthropic" else \
        sent["response_format"]["json_schema"]
    assert not keywords(schema) & {"minimum", "maximum", "minLength", "maxLength", "maxItems", "pattern", "oneOf"}
    properties = schema["properties"]
    assert "minimum: 0" in properties["age"]["description"] and "maximum: 150" in properties["age"]["description"]
    assert "maxItems: 3" in properties["tags"]["description"]
    if provider == "anthropic":  # takes email formats and minItems of 0 or 1
        assert properties["email"]["format"] == "email" and properties["tags"]["minItems"] == 1
    else:
        assert "format: email" in properties["email"]["description"] and "minItems" not in properties["tags"]
    assert fake.rejected == []
