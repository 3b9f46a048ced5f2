"""`POST /v1/responses` with the official `openai` SDK and the openai-agents SDK, unmodified: answers from each
protocol (the targets before it failing), plain and streamed in the API's typed event order, a function tool
round trip, a JSON schema through `text.format`, what each provider received, stored conversations
(`store`, `previous_response_id`) per tenant, errors in OpenAI's shape, and every dropped parameter listed.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
import redis as redis_sync
from agents import Agent, OpenAIProvider, OpenAIResponsesModel, RunConfig, Runner, function_tool
from pydantic import BaseModel

from switchboard.cache.fingerprint import tenant_tag
from switchboard.http.conversations import TTL_S
from tests.conftest import outcomes, sse_events
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
from tests.test_structured_output import check_schema_sent
from tests.test_tools import QUESTION, WEATHER_SCHEMA, check_wire_round_trip

TOOL = {"type": "function", "name": "get_weather", "description": "Current weather", "parameters": WEATHER_SCHEMA,
        "strict": None}
SCRIPT = (Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]),
          Reply(text="It is 18 degrees in Paris."))
TEXT_EVENTS = ["response.output_item.added", "response.content_part.added"]
TEXT_DONE = ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
ADMIN = "sb-admin-responses-0123456789abcd"


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(scope="module")
def url(fakes) -> Any:
    with running_gateway(shared_config(), fake_env(fakes)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url) -> openai.OpenAI:
    return openai.OpenAI(api_key="anything", base_url=f"{url}/v1", max_retries=0)


def streamed(client: openai.OpenAI, **kwargs: Any) -> tuple[list[Any], Any]:
    """(every event, the final response) of one streamed response, through the SDK's stream helper."""
    with client.responses.stream(**kwargs) as stream:
        events = list(stream)
        return events, stream.get_final_response()


# -- plain and streamed ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_plain_response_from_each_provider(client, fakes, provider) -> None:
    fake = answer_from(fakes, provider, Reply(text="Hi there.", input_tokens=12, output_tokens=3))
    raw = client.responses.with_raw_response.create(model="chain", input="Hello?", instructions="Be brief.",
                                                    max_output_tokens=64, temperature=0.2,
                                                    metadata={"ticket": "T-1"})
    response = raw.parse()
    assert response.output_text == "Hi there." and response.status == "completed"
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.model.startswith(f"{provider}/")
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (12, 3, 15)
    assert response.instructions == "Be brief." and response.metadata == {"ticket": "T-1"}
    assert response.max_output_tokens == 64 and response.store is False  # stateless by default
    [message] = response.output
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    assert attempts(raw.headers) == failed_over_to(provider)
    assert response.model_extra["switchboard"]["cost_usd"] > 0
    sent = chat_bodies(fake)[-1]
    assert fake.rejected == [] and sent["temperature"] == 0.2
    if provider == "anthropic":
        assert sent["system"] == "Be brief." and sent["messages"] == [{"role": "user", "content": "Hello?"}]
        assert sent["max_tokens"] == 64
    else:
        assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]
        assert sent["max_completion_tokens" if provider == "openai" else "max_tokens"] == 64


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_streamed_response_in_the_apis_event_order(client, fakes, provider) -> None:
    fake = answer_from(fakes, provider, Reply(text="Streaming along nicely.", input_tokens=9, output_tokens=4))
    events, final = streamed(client, model="chain", input="Hello?", instructions="Be brief.")
    assert [e.type for e in events] == ["response.created", "response.in_progress", *TEXT_EVENTS,
                                        *["response.output_text.delta"] * 3, *TEXT_DONE, "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].response.status == "in_progress" and events[0].response.output == []
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Streaming along nicely."
    item_ids = {e.item_id for e in events if hasattr(e, "item_id")}
    assert item_ids == {final.output[0].id}  # one message item, named the same in every event
    assert final.output_text == "Streaming along nicely." and final.status == "completed"
    assert final.id == events[0].response.id and final.model.startswith(f"{provider}/")
    assert (final.usage.input_tokens, final.usage.output_tokens) == (9, 4)
    assert outcomes(final.model_extra["switchboard"]["route"]["attempts"]) == failed_over_to(provider)
    assert chat_bodies(fake)[-1]["stream"] is True and fake.rejected == []


def test_parts_stay_parts_and_developer_messages_are_system_messages(client, fakes) -> None:
    pixel = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kg=="
    fake = answer_from(fakes, "openai", Reply(text="A dot."))
    client.responses.create(model="chain", input=[
        {"role": "developer", "content": "Answer in one word."},
        {"role": "user", "content": [{"type": "input_text", "text": "Say"}, {"type": "input_text", "text": "again"},
                                     {"type": "input_image", "image_url": pixel, "detail": "low"}]}])
    assert chat_bodies(fake)[-1]["messages"] == [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": [{"type": "text", "text": "Say"}, {"type": "text", "text": "again"},
                                     {"type": "image_url", "image_url": {"url": pixel, "detail": "low"}}]}]


# -- a function tool round trip -------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_function_tool_round_trip(client, fakes, provider, stream) -> None:
    fake = answer_from(fakes, provider, *SCRIPT)
    if stream:
        events, first = streamed(client, model="chain", input=QUESTION, tools=[TOOL])
        kinds = [e.type for e in events]
        assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
        assert kinds[-3:] == ["response.function_call_arguments.done", "response.output_item.done",
                              "response.completed"]
        pieces = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
        assert len(pieces) >= 2 and json.loads("".join(pieces)) == {"city": "Paris"}  # arguments in pieces
        assert events[2].item.type == "function_call" and events[2].item.name == "get_weather"
    else:
        first = client.responses.create(model="chain", input=QUESTION, tools=[TOOL])
    [call] = first.output
    assert call.type == "function_call" and call.name == "get_weather" and call.status == "completed"
    assert json.loads(call.arguments) == {"city": "Paris"} and call.call_id
    assert first.tools[0].name == "get_weather" and first.tool_choice == "auto"
    follow_up: list[Any] = [{"role": "user", "content": QUESTION}, *first.output,
                            {"type": "function_call_output", "call_id": call.call_id, "output": "18C"}]
    if stream:
        _, second = streamed(client, model="chain", input=follow_up, tools=[TOOL])
    else:
        second = client.responses.create(model="chain", input=follow_up, tools=[TOOL])
    assert second.output_text == "It is 18 degrees in Paris."
    check_wire_round_trip(fake, provider, call.call_id, "18C")


def test_tool_choice_forms(client, fakes) -> None:
    fake = answer_from(fakes, "openai", Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Oslo"})]))
    time_tool = {**TOOL, "name": "get_time", "description": "Local time"}
    client.responses.create(model="chain", input=QUESTION, tools=[TOOL, time_tool],
                            tool_choice={"type": "function", "name": "get_weather"}, parallel_tool_calls=False)
    sent = chat_bodies(fake)[-1]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False
    client.responses.create(model="chain", input=QUESTION, tools=[TOOL, time_tool], tool_choice={
        "type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "get_time"}]})
    sent = chat_bodies(fake)[-1]
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_time"] and sent["tool_choice"] == "required"


# -- a JSON schema through text.format ---------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_json_schema_through_text_format(client, fakes, provider, stream) -> None:
    fake = answer_from(fakes, provider, Reply(text='{"name": "Ada", "age": 36}'))
    ask = "Who wrote the first program? Answer in JSON."
    if stream:
        _, response = streamed(client, model="chain", input=ask, text_format=Person)
    else:
        response = client.responses.parse(model="chain", input=ask, text_format=Person)
    assert response.output_parsed == Person(name="Ada", age=36)
    assert response.text.format.type == "json_schema" and response.text.format.name == "Person"
    check_schema_sent(fake, provider)


# -- the openai-agents SDK's default model (Responses) ---------------------------------------------------------
@function_tool
def get_weather(city: str) -> str:
    """Current weather."""
    return f"18C in {city}"


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_streamed"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_agents_sdk_default_model(url, fakes, provider, stream) -> None:
    fake = answer_from(fakes, provider, *SCRIPT)
    models = OpenAIProvider(openai_client=openai.AsyncOpenAI(api_key="anything", base_url=f"{url}/v1",
                                                             max_retries=0))
    assert isinstance(models.get_model("chain"), OpenAIResponsesModel)  # the provider's default: Responses
    agent = Agent(name="weather", instructions="Answer briefly.", model="chain", tools=[get_weather])
    config = RunConfig(model_provider=models, tracing_disabled=True)
    if stream:
        result: Any = Runner.run_streamed(agent, QUESTION, run_config=config)
        kinds = [event.data.type async for event in result.stream_events() if event.type == "raw_response_event"]
        assert "response.function_call_arguments.delta" in kinds and "response.output_text.delta" in kinds
    else:
        result = await Runner.run(agent, QUESTION, run_config=config)
    assert result.final_output == "It is 18 degrees in Paris."
    [call_id] = [item.raw_item.call_id for item in result.new_items if item.type == "tool_call_item"]
    first, second = chat_bodies(fake)[-2:]
    assert fake.rejected == []
    if provider == "anthropic":
        assert first["system"] == "Answer briefly." and first["tools"][0]["name"] == "get_weather"
        assert second["messages"][-1]["content"][0]["tool_use_id"] == call_id
        assert second["messages"][-1]["content"][0]["content"] in ("18C in Paris", [
            {"type": "text", "text": "18C in Paris"}])
    else:
        assert first["messages"][0] == {"role": "system", "content": "Answer briefly."}
        assert first["tools"][0]["function"]["name"] == "get_weather"
        assert second["messages"][-1] == {"role": "tool", "tool_call_id": call_id, "content": "18C in Paris"}


# -- stored conversations --------------------------------------------------------------------------------------------
def test_previous_response_id_continues_on_one_tenant_and_is_a_404_for_another(serve, env, redis_url,
                                                                                 fakes) -> None:
    redis_sync.Redis.from_url(redis_url).flushdb()
    base = serve(shared_config(), environment={**env, "SWITCHBOARD_ADMIN_KEY": ADMIN}, redis=redis_url)

    def client_of(tenant: str) -> openai.OpenAI:
        minted = httpx.post(f"{base}/admin/keys", json={"tenant": tenant, "tier": "paid"},
                            headers={"authorization": f"Bearer {ADMIN}"})
        assert minted.status_code == 201, minted.text
        return openai.OpenAI(api_key=minted.json()["key"], base_url=f"{base}/v1", max_retries=0)

    acme, globex = client_of("acme"), client_of("globex")
    fake = answer_from(fakes, "anthropic", Reply(text="Nice to meet you, Ada."), Reply(text="Your name is Ada."))
    first = acme.responses.create(model="chain", input="My name is Ada.", instructions="Be brief.", store=True)
    assert first.store is True
    second = acme.responses.create(model="chain", input="What is my name?", previous_response_id=first.id)
    assert second.output_text == "Your name is Ada." and second.previous_response_id == first.id
    assert chat_bodies(fake)[-1]["messages"] == [  # the instructions of the first response are not carried over
        {"role": "user", "content": "My name is Ada."}, {"role": "assistant", "content": "Nice to meet you, Ada."},
        {"role": "user", "content": "What is my name?"}]
    ttl = redis_sync.Redis.from_url(redis_url).ttl(f"sb:resp:{tenant_tag('acme')}:{first.id}")
    assert 0 < ttl <= TTL_S
    calls = fake.calls
    with pytest.raises(openai.NotFoundError) as raised:
        globex.responses.create(model="chain", input="What is my name?", previous_response_id=first.id)
    assert raised.value.code == "unknown_response" and raised.value.param == "previous_response_id"
    with pytest.raises(openai.NotFoundError):  # not stored (store was not asked for): nothing to continue
        acme.responses.create(model="chain", input="And now?", previous_response_id=second.id)
    assert fake.calls == calls  # no provider was asked
    # A streamed answer is kept too, and continued, with the function call and its output in between.
    fake.push(Reply(text="", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]), Reply(text="18 degrees."))
    _, asked = streamed(acme, model="chain", input=QUESTION, tools=[TOOL], store=True)
    [call] = asked.output
    answered = acme.responses.create(model="chain", tools=[TOOL], previous_response_id=asked.id, input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "18C"}])
    assert answered.output_text == "18 degrees."
    assistant, result = chat_bodies(fake)[-1]["messages"][-2:]
    assert assistant["content"][0]["id"] == call.call_id and result["content"][0]["tool_use_id"] == call.call_id


def test_without_redis_storing_is_a_clear_400(client, fakes) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="chain", input="Hi", store=True)
    assert raised.value.code == "storage_unavailable" and raised.value.param == "store"
    assert "REDIS_URL" in raised.value.message
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="chain", input="Hi", previous_response_id="resp_0123")
    assert raised.value.code == "storage_unavailable" and raised.value.param == "previous_response_id"
    assert fakes.openai.calls == 0


# -- refusals, breaks and what is dropped ------------------------------------------------------------------------
@pytest.mark.parametrize("tool", [{"type": "web_search"}, {"type": "file_search", "vector_store_ids": ["vs_1"]},
                                  {"type": "code_interpreter", "container": {"type": "auto"}}])
def test_built_in_tools_are_a_400_naming_the_tool(client, fakes, tool) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="chain", input="Search the web.", tools=[TOOL, tool])
    assert tool["type"] in raised.value.message and raised.value.param == "tools[1]"
    assert raised.value.code == "unsupported_parameter" and fakes.openai.calls == 0


@pytest.mark.parametrize(("body", "param"), [
    ({"input": []}, "input"),
    ({"input": [{"type": "function_call_output", "call_id": "call_9", "output": "18C"}]}, "input[0].call_id"),
    ({"input": [{"type": "computer_call_output", "call_id": "c", "output": {}}]}, "input[0]"),
    ({"input": "Hi", "tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
    ({"input": "Hi", "background": True}, "background"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file_1"}]}]}, "input[0].content[0]"),
])
def test_bad_input_is_a_400_naming_the_field(url, fakes, body, param) -> None:
    answer = httpx.post(f"{url}/v1/responses", json={"model": "chain", **body})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error", error
    assert fakes.openai.calls == 0


def test_a_stream_broken_after_its_first_token_ends_with_an_error_event(url, client, fakes) -> None:
    fakes.openai.default = Reply(text="one two three four", cut_after=2)
    with httpx.stream("POST", f"{url}/v1/responses", json={"model": "chain", "input": "Count.",
                                                           "stream": True}) as response:
        events = sse_events(response)
    assert all(name == data["type"] for name, data in events)  # each event named as its type
    assert [name for name, _ in events][-2:] == ["error", "response.failed"]
    error, failed = events[-2][1], events[-1][1]["response"]
    assert error["code"] == "stream_interrupted" and error["message"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    assert failed["output"][0]["content"][0]["text"] == "one two "  # what the client got, never completed
    assert "response.completed" not in [name for name, _ in events] and fakes.anthropic.calls == 0
    with client.responses.stream(model="chain", input="Count.") as stream:  # the SDK sees the same
        kinds = [event.type for event in stream]
        with pytest.raises(RuntimeError):
            stream.get_final_response()
    assert kinds[-2:] == ["error", "response.failed"]


def test_every_dropped_parameter_is_listed(client, fakes) -> None:
    fake = answer_from(fakes, "cohere", Reply(text="Ok."))
    response = client.responses.create(
        model="chain", input="Hi", text={"verbosity": "low"}, reasoning={"effort": "low", "summary": "auto"},
        truncation="auto", service_tier="flex", user="user-1", include=["reasoning.encrypted_content"],
        extra_body={"mystery": 1})
    assert response.model_extra["switchboard"]["dropped"] == [
        "mystery", "service_tier", "text.verbosity", "reasoning.summary", "truncation",
        "include.reasoning.encrypted_content",  # the door's own, then what Cohere cannot take:
        "reasoning_effort", "user"]
    assert not {"user", "thinking", "service_tier"} & set(chat_bodies(fake)[-1])
