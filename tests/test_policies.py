"""The retry, breaker, Retry-After and pricing rules on their own."""

from __future__ import annotations

import email.utils

import pytest

from switchboard.config import BreakerConfig
from switchboard.core.response import Usage
from switchboard.pricing import ModelPrice, cost_usd
from switchboard.providers.base import parse_retry_after
from switchboard.resilience.breaker import BreakerState, CircuitBreaker, MemoryBreakers
from switchboard.resilience.retry import RetryPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_backoff_grows_exponentially_with_jitter_under_a_cap() -> None:
    policy = RetryPolicy(max_retries=5, initial_backoff_s=0.5, max_backoff_s=8.0, jitter=0.25)
    for retries, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (5, 8.0), (50, 8.0)]:
        delays = [policy.delay(retries) for _ in range(200)]
        assert all(ceiling * 0.75 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_retry_after_is_a_floor_not_a_ceiling() -> None:
    policy = RetryPolicy(max_retries=2, initial_backoff_s=0.5, max_backoff_s=8.0, jitter=0.25)
    assert policy.delay(0, retry_after_s=3.0) == 3.0
    assert 0.375 <= policy.delay(0, retry_after_s=0.01) <= 0.5


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "0"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_headers(headers, expected) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_as_an_http_date() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after({"retry-after": email.utils.formatdate(now + 30, usegmt=True)}, now=now) == 30


def test_breaker_opens_after_threshold_and_lets_one_probe_through_after_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now += 10
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()


def test_a_success_resets_the_count_and_a_failed_probe_reopens() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, cooldown_s=5, clock=clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.9
    assert not breaker.allow()


def test_a_released_probe_lets_the_next_caller_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown_s=1, clock=clock)
    breaker.record_failure()
    clock.now += 1
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()


async def test_one_breaker_per_target() -> None:
    board = MemoryBreakers(BreakerConfig(failure_threshold=1, cooldown_s=1))
    await board.record_failure("openai:a")
    assert await board.states() == {"openai:a": BreakerState.OPEN}
    assert await board.admit("openai:b") is None  # go
    assert 0 < await board.admit("openai:a") <= 1  # open: a probe may go within the cooldown


def test_cost_bills_cached_tokens_at_the_cached_price() -> None:
    price = ModelPrice(input=3.0, output=15.0, cached_input=0.3)
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cached_tokens=400_000)
    assert cost_usd(price, usage) == pytest.approx(0.6 * 3.0 + 0.4 * 0.3 + 0.1 * 15.0)
    assert cost_usd(ModelPrice(input=2.0, output=4.0), Usage(input_tokens=10, cached_tokens=10)) == pytest.approx(2e-5)
