"""A target that sends nothing must not consume the deadline; an answer that keeps coming is never cut.

These run with the shipped timers (first_token_s 15, stall_s 15, the default deadline), streamed and not:
every upstream call streams, so both kinds of request are protected alike."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from switchboard.config import parse_config
from tests.conftest import outcomes, sse_events
from tests.fakes import Reply

SHIPPED = {"routing": {"classifier": {"enabled": False}}}  # every timer and retry setting as shipped


def ask(base_url: str, stream: bool, **body) -> tuple[float, dict]:
    started = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=120) as client:
        if not stream:
            answer = client.post("/complete", json={"text": "hi", **body}).json()
        else:
            with client.stream("POST", "/complete", json={"text": "hi", "stream": True, **body}) as response:
                events = sse_events(response)
            answer = events[-1][1] if events[-1][0] == "end" else {"events": events}
            answer["text"] = "".join(data["text"] for name, data in events if name == "delta")
    return time.monotonic() - started, answer


@pytest.mark.slow
@pytest.mark.parametrize("stream", [False, True], ids=["unstreamed", "streamed"])
def test_a_primary_that_hangs_is_passed_over_before_an_8s_deadline(serve, fakes, stream) -> None:
    fakes.openai.default = Reply(hang=True)  # accepts the connection, then sends nothing
    fakes.anthropic.default = Reply(text="answered by the next target")
    base_url = serve(parse_config(SHIPPED))
    elapsed, body = ask(base_url, stream, task_type="creative_writing", timeout_s=8)
    assert elapsed < 8
    assert body["text"] == "answered by the next target"
    assert outcomes(body["route"]["attempts"]) == [("openai", "timeout"), ("anthropic", "ok")]


@pytest.mark.slow
def test_an_answer_that_streams_steadily_for_35_s_is_not_cut(serve, fakes) -> None:
    # 70 chunks, one every 0.5 s: past first_token_s, stall_s and attempt_s (30 s) of the shipped config.
    pieces = [f"w{i} " for i in range(70)]
    fakes.openai.default = Reply(chunks=pieces, chunk_delay_s=0.5)
    base_url = serve(parse_config(SHIPPED))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda stream: ask(base_url, stream, task_type="creative_writing"), [False, True]))
    for elapsed, body in results:
        assert elapsed >= 34
        assert body["text"] == "".join(pieces)
        assert body["finish_reason"] == "stop" and outcomes(body["route"]["attempts"]) == [("openai", "ok")]
