"""Helpers for the front-door tests: one real gateway per test module (starting one per test costs more than
most of these tests), the environment that points it at the fakes, and the route's attempts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from switchboard import Switchboard
from switchboard.config import GatewayConfig
from switchboard.http.app import create_app
from tests.conftest import KEYS, free_port, make_config, outcomes
from tests.servers import serving

# The three protocols in one chain: whichever answers, the ones before it fail.
CHAIN = ["openai:gpt-5.4", "anthropic:claude-sonnet-4-6", "cohere:command-a-03-2025"]
PROVIDERS = ["openai", "anthropic", "cohere"]
# A module's tests share one gateway: breakers must not open between them, and nothing is served from cache.
SHARED = {"breaker": {"failure_threshold": 1_000_000}, "cache": {"exact": {"enabled": False}},
          "retry": {"initial_backoff_s": 0.002, "max_backoff_s": 0.01}}


def fake_env(fakes: Any) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": f"{fakes.openai.url}/v1",
        "ANTHROPIC_BASE_URL": fakes.anthropic.url,
        "CO_API_URL": fakes.cohere.url,
        "VLLM_BASE_URL": f"{fakes.vllm.url}/v1",
        **KEYS,
    }


def shared_config(**overrides: Any) -> GatewayConfig:
    """The test defaults, a `chain` route through the three protocols, and the settings a shared gateway needs."""
    routes = {"chain": CHAIN, **overrides.pop("routes", {})}
    return make_config(routes=routes, **{**SHARED, **overrides})


@contextmanager
def running_gateway(config: GatewayConfig, env: dict[str, str]) -> Iterator[str]:
    """The real HTTP service (uvicorn) in a thread, for as long as the block runs; yields its base URL."""
    with serving(create_app(Switchboard(config, env)), free_port()) as url:
        yield url


def answer_from(fakes: Any, provider: str, *replies: Any) -> Any:
    """`provider` answers with `replies` (or its default); every provider before it in CHAIN fails with a 503."""
    from tests.fakes import Reply

    for name in PROVIDERS[: PROVIDERS.index(provider)]:
        getattr(fakes, name).default = Reply(status=503)
    fake = getattr(fakes, provider)
    fake.push(*replies)
    return fake


def failed_over_to(provider: str) -> list[tuple[str, str]]:
    """The attempts of a request on `chain` that `provider` answered (503s are retried twice)."""
    failed = PROVIDERS[: PROVIDERS.index(provider)]
    return [(name, "overloaded") for name in failed for _ in range(3)] + [(provider, "ok")]


def attempts(headers: Any) -> list[tuple[str, str]]:
    return outcomes(json.loads(headers["x-switchboard-route"])["attempts"])


def chat_bodies(fake: Any) -> list[Any]:
    """The JSON bodies of the chat requests `fake` received, in order."""
    return [r.json for r in fake.received if r.path == fake.path]
