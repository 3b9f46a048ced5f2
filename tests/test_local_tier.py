"""The embedded local tier: no keys, no VLLM_BASE_URL, and a real model still answers."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import orjson
import pytest

from switchboard import Switchboard
from tests.conftest import free_port, outcomes, request_logs
from tests.waiting import wait_until

# The slow tier: the real embedded model, llama.cpp (`pytest -m 'not slow'` leaves it out).
pytestmark = pytest.mark.slow


async def test_the_library_answers_from_the_embedded_model_without_keys() -> None:
    async with Switchboard.from_config(env={}) as sb:
        response = await sb.complete("What is the capital of France?", task_type="summarization", max_tokens=16)
    assert response.provider == "local" and response.text.strip()
    assert response.usage.output_tokens > 0 and response.usage.input_tokens > 0
    assert outcomes([a.model_dump() for a in response.route.attempts]) == [
        ("cohere", "skipped_no_key"), ("anthropic", "skipped_no_key"), ("local", "ok")
    ]


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz").status_code == 200
    except httpx.TransportError:
        return False


def test_serve_on_the_defaults_answers_with_real_text_and_logs_the_path() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL", "_API_URL"))}
    env.pop("SWITCHBOARD_CONFIG", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "switchboard", "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: ready(url) or server.poll() is not None, timeout=60, interval=0.1,
                   message="the gateway on the embedded model to be ready")
        first = httpx.post(f"{url}/complete", json={"text": "Say hello.", "max_tokens": 16}, timeout=60)
        second = httpx.post(
            f"{url}/complete", json={"text": "Summarise: cats sleep a lot.", "task_type": "summarization",
                                     "max_tokens": 16}, timeout=60,
        )
    finally:
        server.terminate()
        out, _err = server.communicate(timeout=30)
    assert first.status_code == 200 and second.status_code == 200
    assert first.json()["provider"] == "local" and first.json()["text"].strip()
    lines = request_logs(out.decode())
    assert len(lines) == 2  # exactly one line per request, nothing else from llama.cpp on stdout
    assert all(line.startswith(b"{") for line in out.splitlines() if line.strip())
    skipped = {step["target"].split(":")[0] for line in lines for step in line["path"]
               if step["outcome"] == "skipped_no_key"}
    assert skipped == {"openai", "anthropic", "cohere"}
    assert [outcomes(line["path"])[-1] for line in lines] == [("local", "ok"), ("local", "ok")]
    assert orjson.loads(out.splitlines()[0])["request_id"] == first.headers["x-request-id"]
