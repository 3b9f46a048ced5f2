"""Streaming on /complete: nothing is sent before the first token; after it, a failure is an explicit error."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import make_config, outcomes, request_logs, sse_events, wait_for_request_lines
from tests.fakes import Reply
from tests.waiting import wait_until

# One route per upstream protocol: (task_type, primary fake, the provider that serves when it fails).
PROTOCOLS = {
    "openai": ("creative_writing", "anthropic"),
    "anthropic": ("technical_explanation", "openai"),
    "cohere": ("summarization", "anthropic"),
}


def stream(client: httpx.Client, **body) -> tuple[httpx.Response, list]:
    with client.stream("POST", "/complete", json={"text": "hi", "stream": True, **body}) as response:
        return response, sse_events(response) if response.status_code == 200 else response.read()


def text_of(events: list) -> str:
    return "".join(data["text"] for name, data in events if name == "delta")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_stream_is_start_deltas_end_and_costs_what_the_unstreamed_answer_costs(
    gateway: httpx.Client, fakes, protocol, capsys
) -> None:
    task_type, _ = PROTOCOLS[protocol]
    fake = getattr(fakes, protocol)
    fake.default = Reply(text="The quick brown fox jumps.", input_tokens=21, output_tokens=6, cached_tokens=5)
    response, events = stream(gateway, task_type=task_type)
    assert response.headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "end" and set(names[1:-1]) == {"delta"}
    assert events[0][1]["provider"] == protocol
    assert text_of(events) == "The quick brown fox jumps."
    end = events[-1][1]
    unstreamed = gateway.post("/complete", json={"text": "hi", "task_type": task_type}).json()
    assert end["usage"] == unstreamed["usage"] and end["cost_usd"] == unstreamed["cost_usd"]
    assert end["finish_reason"] == "stop" and outcomes(end["route"]["attempts"]) == [(protocol, "ok")]
    assert fake.received[0].json["stream"] is True
    streamed_line = request_logs(capsys.readouterr().out)[0]
    assert streamed_line["cost_usd"] == unstreamed["cost_usd"] and streamed_line["output_tokens"] == 6


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (Reply(cut_after=0), "connect_error"),
        (Reply(stall_after=0, stall_s=2), "timeout"),
        (Reply(malformed_after=0), "invalid_response"),
        (Reply(error_after=0), None),  # the protocol's own in-band error
    ],
    ids=["cut", "stall", "malformed", "in-band-error"],
)
@pytest.mark.slow  # real time: waits, timers or deployments
def test_before_the_first_token_a_failure_fails_over_invisibly(
    gateway: httpx.Client, fakes, protocol, fault, outcome, capsys
) -> None:
    task_type, fallback = PROTOCOLS[protocol]
    getattr(fakes, protocol).default = fault
    getattr(fakes, fallback).default = Reply(text="the whole answer from the fallback")
    response, events = stream(gateway, task_type=task_type, timeout_s=8)
    assert [name for name, _ in events][0] == "start" and events[0][1]["provider"] == fallback
    assert [name for name, _ in events][-1] == "end"
    assert text_of(events) == "the whole answer from the fallback"
    attempts = outcomes(events[-1][1]["route"]["attempts"])
    assert attempts[-1] == (fallback, "ok")
    assert all(provider == protocol for provider, _ in attempts[:-1]) and len(attempts) >= 2
    if outcome:
        assert {o for _, o in attempts[:-1]} == {outcome}
    (line,) = request_logs(capsys.readouterr().out)
    assert outcomes(line["path"]) == attempts and line["provider"] == fallback


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (Reply(text="one two three four", cut_after=2), "connect_error"),
        (Reply(text="one two three four", stall_after=2, stall_s=2), "timeout"),
        (Reply(text="one two three four", malformed_after=2), "invalid_response"),
        (Reply(text="one two three four", error_after=2), None),
    ],
    ids=["cut", "stall", "malformed", "in-band-error"],
)
def test_after_the_first_token_a_failure_is_an_explicit_error_never_a_clean_end(
    gateway: httpx.Client, fakes, protocol, fault, outcome, capsys
) -> None:
    task_type, fallback = PROTOCOLS[protocol]
    getattr(fakes, protocol).default = fault
    response, events = stream(gateway, task_type=task_type)
    names = [name for name, _ in events]
    assert names == ["start", "delta", "delta", "error"]
    assert text_of(events) == "one two "
    error = events[-1][1]
    assert error["code"] == "stream_interrupted" and error["finish_reason"] == "error"
    (attempt,) = error["route"]["attempts"]
    assert attempt["provider"] == protocol and attempt["outcome"] != "ok"
    assert attempt["detail"].startswith("after 8 characters")
    if outcome:
        assert attempt["outcome"] == outcome
    assert getattr(fakes, fallback).calls == 0  # committed: no failover after the first token
    (line,) = request_logs(capsys.readouterr().out)
    assert line["error"] == "stream_interrupted" and line["finish_reason"] == "error"
    assert line["streamed_chars"] == 8 and outcomes(line["path"]) == [(protocol, attempt["outcome"])]


def test_a_stream_that_fails_everywhere_before_the_first_token_keeps_its_http_status(gateway: httpx.Client, fakes) -> None:
    for fake in fakes.all():
        fake.default = Reply(status=500)
    response, body = stream(gateway)
    assert response.status_code == 502
    assert b"all_targets_failed" in body


@pytest.mark.slow  # real time: waits, timers or deployments
def test_per_route_streaming_timeouts(serve, fakes) -> None:
    config = make_config(routes={"creative_writing": {
        "targets": ["openai:gpt-5.4", "anthropic:claude-sonnet-4-6", "local:smollm2-135m-instruct"],
        "first_token_s": 0.2, "stall_s": 5}}, breaker={"failure_threshold": 10})
    fakes.openai.default = Reply(stall_after=0, stall_s=0.5)  # slower than this route's first-token budget
    with httpx.Client(base_url=serve(config), timeout=30) as client:
        _, events = stream(client, task_type="creative_writing")
        assert events[0][1]["provider"] == "anthropic"
        fakes.openai.default = Reply(text="a b c", stall_after=1, stall_s=0.5)  # within this route's stall budget
        _, events = stream(client, task_type="creative_writing")
        assert events[0][1]["provider"] == "openai" and events[-1][0] == "end"


def test_a_client_that_disconnects_closes_the_upstream_within_a_second(gateway: httpx.Client, fakes, capsys) -> None:
    fakes.openai.default = Reply(chunks=[f"w{i} " for i in range(100)], chunk_delay_s=0.1)
    with gateway.stream("POST", "/complete", json={"text": "hi", "stream": True, "task_type": "creative_writing"}) as r:
        lines = r.iter_lines()
        while "delta" not in next(lines):
            pass
        closed_at = time.monotonic()
    wait_until(lambda: fakes.openai.disconnected_at, timeout=2, message="the upstream to see its end")
    assert fakes.openai.disconnected_at[0] - closed_at < 1.0
    (line,) = wait_for_request_lines(capsys)
    assert line["error"] == "client_closed" and outcomes(line["path"]) == [("openai", "client_closed")]


async def test_the_library_streams_too(switchboard, fakes) -> None:
    from switchboard import StreamFinished, StreamStarted, TextDelta

    fakes.anthropic.default = Reply(text="streamed by the library")
    items = [item async for item in switchboard.stream("hi", task_type="technical_explanation")]
    assert isinstance(items[0], StreamStarted) and isinstance(items[-1], StreamFinished)
    assert "".join(i.text for i in items if isinstance(i, TextDelta)) == "streamed by the library"
    assert items[-1].response.text == "streamed by the library"


@pytest.mark.parametrize("stream", [False, True], ids=["unstreamed", "before-first-token"])
def test_a_client_that_gives_up_before_the_answer_cancels_the_upstream(serve, fakes, capsys, stream) -> None:
    fakes.openai.default = Reply(delay_s=5)  # the provider is slow to answer at all
    base_url = serve(make_config(timeouts={"first_token_s": 10}))
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout), httpx.Client(base_url=base_url, timeout=0.5) as client:
        client.post("/complete", json={"text": "hi", "task_type": "creative_writing", "stream": stream})
    wait_until(lambda: fakes.openai.disconnected_at, timeout=2, message="the upstream to see its end")
    assert fakes.openai.disconnected_at[0] - started < 1.5
    (line,) = wait_for_request_lines(capsys)
    assert line["status"] == 499 and line["error"] == "client_closed"
    assert outcomes(line["path"]) == [("openai", "client_closed")]
    assert fakes.anthropic.calls == 0  # no failover for a client that is gone
