"""A circuit breaker per target: closed -> open after N consecutive failures -> half-open, one probe.

`MemoryBreakers` keeps them in the process; `redis_breakers.RedisBreakers` keeps the same state machine in
Redis, so that every replica skips a failing provider and only one of them probes it.

Hand-written rather than purgatory: the executor asks "may I call?" and records a skipped target as a
`circuit_open` attempt without any HTTP call, and /readyz reads the states; purgatory wraps the call in a
context manager that raises instead, and lets every caller through while half-open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

from switchboard.config import BreakerConfig


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic):
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._probing or self._clock() - self._opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """May a call go through now? While half-open, only the first caller gets the probe."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def retry_in(self) -> float:
        """Seconds until a call may be let through again (0 while closed or ready to probe)."""
        if self._opened_at is None:
            return 0.0
        return max(self.cooldown_s - (self._clock() - self._opened_at), 0.0)

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.threshold:
            self._opened_at = self._clock()
        self._probing = False

    def release(self) -> None:
        """The call ended without a verdict (cancelled, or a failure that says nothing of the target)."""
        self._probing = False


class Breakers(Protocol):
    """The breakers of every `provider:model` target. In memory, or in Redis so that replicas agree."""

    async def admit(self, key: str) -> float | None:
        """None: call it now. A number: the breaker is open; seconds until a probe may go."""

    async def record_success(self, key: str) -> None: ...

    async def record_failure(self, key: str) -> None: ...

    async def release(self, key: str) -> None: ...

    async def states(self) -> dict[str, BreakerState]: ...

    def reconfigure(self, config: BreakerConfig, targets: list[str]) -> None:
        """A reloaded config's threshold and cooldown, and the targets whose states are reported."""


class MemoryBreakers:
    """One process's breakers (no REDIS_URL)."""

    def __init__(self, config: BreakerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def __getitem__(self, key: str) -> CircuitBreaker:
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = CircuitBreaker(
                self._config.failure_threshold, self._config.cooldown_s, self._clock
            )
        return breaker

    async def admit(self, key: str) -> float | None:
        breaker = self[key]
        return None if breaker.allow() else breaker.retry_in()

    async def record_success(self, key: str) -> None:
        self[key].record_success()

    async def record_failure(self, key: str) -> None:
        self[key].record_failure()

    async def release(self, key: str) -> None:
        self[key].release()

    async def states(self) -> dict[str, BreakerState]:
        return {key: breaker.state for key, breaker in self._breakers.items()}

    def reconfigure(self, config: BreakerConfig, targets: list[str]) -> None:
        """A reloaded config: its threshold and cooldown apply from now on, to existing breakers too."""
        self._config = config
        for breaker in self._breakers.values():
            breaker.threshold, breaker.cooldown_s = config.failure_threshold, config.cooldown_s
