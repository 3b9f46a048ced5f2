from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from switchboard import Switchboard, logs
from switchboard.config import GatewayConfig, default_config_data, merge, parse_config
from switchboard.http.app import create_app
from tests import servers as servers_
from tests.fakes import AnthropicFake, CohereFake, OpenAIFake, VLLMFake
from tests.waiting import wait_until

# Recognisable keys: the secrets tests search all captured output for them.
KEYS = {
    "OPENAI_API_KEY": "sk-test-openai-SECRET-0001aaaa",
    "ANTHROPIC_API_KEY": "sk-ant-test-SECRET-0002bbbb",
    "CO_API_KEY": "co-test-SECRET-0003cccc",
}

# Fast settings so that retries and breakers show up in milliseconds.
FAST = {
    "retry": {"max_retries": 2, "initial_backoff_s": 0.02, "max_backoff_s": 0.1, "jitter": 0.25},
    "breaker": {"failure_threshold": 3, "cooldown_s": 0.5},
    "timeouts": {"request_s": 10, "max_request_s": 60, "attempt_s": 2, "connect_s": 1,
                 "first_token_s": 1, "stall_s": 0.5},
    "routing": {"classifier": {"enabled": False}},
}

logs.configure("info")  # request lines on stdout, where the tests read them
# A `switchboard serve` a test starts runs one worker process unless the test asks for more (--workers N).
os.environ.setdefault("SWITCHBOARD_WORKERS", "1")


@dataclass
class Fakes:
    openai: OpenAIFake
    anthropic: AnthropicFake
    cohere: CohereFake
    vllm: VLLMFake

    def all(self) -> list[Any]:
        return [self.openai, self.anthropic, self.cohere, self.vllm]


@pytest.fixture(scope="session")
def fakes() -> Iterator[Fakes]:
    started = Fakes(
        OpenAIFake(KEYS["OPENAI_API_KEY"]),
        AnthropicFake(KEYS["ANTHROPIC_API_KEY"]),
        CohereFake(KEYS["CO_API_KEY"]),
        VLLMFake(),
    )
    yield started
    for fake in started.all():
        fake.close()


@pytest.fixture(autouse=True)
def _reset_fakes(request: pytest.FixtureRequest) -> None:
    if "fakes" in request.fixturenames:
        for fake in request.getfixturevalue("fakes").all():
            fake.reset()


@pytest.fixture
def env(fakes: Fakes) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": f"{fakes.openai.url}/v1",
        "ANTHROPIC_BASE_URL": fakes.anthropic.url,
        "CO_API_URL": fakes.cohere.url,
        "VLLM_BASE_URL": f"{fakes.vllm.url}/v1",
        "SWITCHBOARD_WORKERS": "1",  # a `switchboard serve` started with this env: one process, unless asked
        **KEYS,
    }


def config_data(**overrides: Any) -> dict[str, Any]:
    return merge(merge(default_config_data(), FAST), overrides)


def make_config(**overrides: Any) -> GatewayConfig:
    """The shipped defaults with fast retry/breaker/timeouts, plus any overrides (deep-merged)."""
    return parse_config(config_data(**overrides), "test config")


@pytest.fixture
async def switchboard(env: dict[str, str]) -> Any:
    async with Switchboard(make_config(), env) as sb:
        yield sb


# What a user's shell would not carry into `switchboard ...` here: the tests' own settings.
CLI_UNSET = ("REDIS_URL", "SWITCHBOARD_CONFIG", "SWITCHBOARD_ADMIN_KEY", "SWITCHBOARD_KEYS_FILE",
             "SWITCHBOARD_ADMIN_KEY_SECRET_ARN", *KEYS)


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    """`switchboard ARGS` run in this process by typer's runner: its exit code, stdout and stderr, without the
    second a new interpreter costs. (Tests of the process itself, its start line and signals, spawn one.)"""
    from typer.testing import CliRunner

    from switchboard.cli import app

    return CliRunner().invoke(app, list(args), input=stdin, catch_exceptions=False,
                              env={**dict.fromkeys(CLI_UNSET), **(env or {})})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def serve(env: dict[str, str]) -> Iterator[Callable[..., str]]:
    """Start the real HTTP service (uvicorn) in a thread; returns its base URL."""
    servers: list[tuple[servers_.TestServer, threading.Thread]] = []

    def start(
        config: GatewayConfig | None = None, environment: dict[str, str] | None = None, redis: str | None = None
    ) -> str:
        environment = dict(env if environment is None else environment)
        if redis is not None:
            environment["REDIS_URL"] = redis
        switchboard = Switchboard(config or make_config(), environment)
        port = free_port()
        app = create_app(switchboard)
        start.apps.append(app)  # type: ignore[attr-defined]
        servers.append(servers_.start(app, port))
        return f"http://127.0.0.1:{port}"

    start.apps = []  # type: ignore[attr-defined]  # the apps started, for tests that look inside
    yield start
    servers_.stop(*servers)


@pytest.fixture
def gateway(serve: Callable[..., str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=serve(), timeout=30) as client:
        yield client


def request_logs(output: str) -> list[dict[str, Any]]:
    """The one-per-request JSON lines in captured stdout."""
    lines = []
    for line in output.splitlines():
        if line.startswith("{"):
            record = orjson.loads(line)
            if record.get("event") == "request":
                lines.append(record)
    return lines


def wait_for_request_lines(capture: pytest.CaptureFixture[str], count: int = 1,
                           timeout: float = 5.0) -> list[dict[str, Any]]:
    """The request lines captured so far, once there are `count` or more (each written after its answer)."""
    seen: list[dict[str, Any]] = []

    def enough() -> bool:
        seen.extend(request_logs(capture.readouterr().out))
        return len(seen) >= count

    wait_until(enough, timeout=timeout, message=f"{count} request line(s) on stdout")
    return seen


def outcomes(route_or_path: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """[(provider, outcome)] from `route.attempts` or the log line's `path`."""
    return [
        (step["provider"] if "provider" in step else step["target"].split(":")[0], step["outcome"])
        for step in route_or_path
    ]


def sse_events(response: httpx.Response) -> list[tuple[str | None, object]]:
    """(event name, parsed data) for each server-sent event of a streamed response."""
    events, name, data = [], None, []
    for line in response.iter_lines():
        if not line:
            if data:
                text = "\n".join(data)
                events.append((name, text if text == "[DONE]" else orjson.loads(text)))
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    return events


def redis_answers(port: int) -> bool:
    """Whether a redis-server on this port answers PING (for waiting on one that is starting)."""
    import redis

    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
    except redis.ConnectionError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis: $REDIS_URL if set, else a private `redis-server` on a free port."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (make test installs it)")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    wait_until(lambda: redis_answers(port), timeout=10, message=f"redis-server on port {port}")
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(10)
