"""With REDIS_URL, replicas share their circuit breakers: one replica's failures open them for all."""

from __future__ import annotations

import asyncio

import pytest
import redis

from switchboard import Switchboard
from tests.conftest import free_port, make_config, outcomes
from tests.fakes import Reply

CONFIG = dict(retry={"max_retries": 0}, breaker={"failure_threshold": 2, "cooldown_s": 0.5})


@pytest.fixture
def shared_env(env, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    return {**env, "REDIS_URL": redis_url}


def attempts_of(response) -> list[tuple[str, str]]:
    return outcomes([a.model_dump() for a in response.route.attempts])


@pytest.mark.slow  # real time: waits, timers or deployments
async def test_failures_on_one_replica_open_the_breaker_on_another(shared_env, fakes) -> None:
    fakes.openai.default = Reply(status=500)
    async with Switchboard(make_config(**CONFIG), shared_env) as a, Switchboard(make_config(**CONFIG), shared_env) as b:
        for _ in range(2):
            assert attempts_of(await a.complete("hi", task_type="creative_writing"))[0] == ("openai", "server_error")
        assert fakes.openai.calls == 2
        skipped = await b.complete("hi", task_type="creative_writing")  # b never saw a failure itself
        assert attempts_of(skipped) == [("openai", "circuit_open"), ("anthropic", "ok")]
        assert fakes.openai.calls == 2
        assert (await b.readiness())["openai:gpt-5.4"] == "breaker_open"

        await asyncio.sleep(0.6)  # the behaviour under test: the 0.5 s cooldown, waited out, lets a probe in
        fakes.openai.default = Reply(text="back", delay_s=0.3)
        first, second = await asyncio.gather(a.complete("hi", task_type="creative_writing"),
                                             b.complete("hi", task_type="creative_writing"))
        verdicts = sorted([attempts_of(first)[0][1], attempts_of(second)[0][1]])
        assert verdicts == ["circuit_open", "ok"]  # one probe across both replicas
        assert fakes.openai.calls == 3
        assert attempts_of(await b.complete("hi", task_type="creative_writing")) == [("openai", "ok")]


async def test_a_replica_that_cannot_reach_redis_keeps_serving(env, fakes, capsys) -> None:
    environment = {**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}  # nothing listens there
    fakes.openai.default = Reply(status=500)
    async with Switchboard(make_config(**CONFIG), environment) as sb:
        for _ in range(2):
            assert (await sb.complete("hi", task_type="creative_writing")).provider == "anthropic"
        skipped = await sb.complete("hi", task_type="creative_writing")
        assert attempts_of(skipped)[0] == ("openai", "circuit_open")  # its own in-memory breakers took over
    assert "breakers_in_memory" in capsys.readouterr().out
