"""A breaker per endpoint (a provider's base URL host), beside the per-target ones.

A connection-level failure (refused, DNS, TLS, a reset before any byte) says the host is unreachable, for every
model behind it: it counts against the endpoint's breaker, not the model's, and an open endpoint breaker skips
every target behind the host at once (one probe, when its cooldown ends, decides for all of them). Any answer
from the host, an HTTP error included, shows it reachable and closes it.

The state machine is the targets' (`Breakers`, under the key `endpoint:<host>`). With Redis, a healthy endpoint
costs no round trip: each replica keeps a snapshot of every endpoint's breaker, read every half second (and at
once after a failure it saw), and asks Redis only about an endpoint that snapshot shows failing or open.
"""

from __future__ import annotations

import asyncio
import time

from redis.exceptions import RedisError

from switchboard.logs import log
from switchboard.resilience.breaker import Breakers, BreakerState

PREFIX = "endpoint:"
REFRESH_S = 0.5


class EndpointBreakers:
    def __init__(self, breakers: Breakers, refresh_s: float = REFRESH_S) -> None:
        self._breakers = breakers
        self._shared = hasattr(breakers, "peek")  # Redis: a snapshot spares healthy endpoints any round trip
        self._refresh_s = refresh_s
        self._hosts: list[str] = []
        self._seen: dict[str, tuple[BreakerState, int, float]] = {}  # host: (state, failures, open until)
        self._task: asyncio.Task[None] | None = None

    def track(self, hosts: list[str | None]) -> None:
        """The endpoints in use (set again by a reload)."""
        self._hosts = sorted({host for host in hosts if host})

    def _clean(self, host: str) -> bool:
        seen = self._seen.get(host)
        return seen is None or (seen[0] is BreakerState.CLOSED and seen[1] == 0)

    # -- the request path ------------------------------------------------------------------------------
    async def admit(self, host: str | None) -> float | None:
        """None: go. A number: the endpoint's breaker is open; seconds until a probe may go."""
        if host is None:
            return None
        if self._shared:
            if self._clean(host):
                return None
            state, _, until = self._seen[host]
            if state is BreakerState.OPEN and until > time.monotonic():
                return until - time.monotonic()
        return await self._breakers.admit(PREFIX + host)

    async def record_failure(self, host: str) -> None:
        await self._breakers.record_failure(PREFIX + host)
        if self._shared and not await self._read([host]):
            state, failures, until = self._seen.get(host, (BreakerState.CLOSED, 0, 0.0))
            self._seen[host] = (state, failures + 1, until)  # Redis unreachable: ask the breakers from now on

    async def record_answer(self, host: str | None) -> None:
        """The host answered (an HTTP status came): it is reachable."""
        if host is None or (self._shared and self._clean(host)):
            return
        await self._breakers.record_success(PREFIX + host)
        if self._shared:
            self._seen[host] = (BreakerState.CLOSED, 0, 0.0)

    async def release(self, host: str | None) -> None:
        """The attempt ended without a word on the host (a timeout, cancelled): a probe it held is free again."""
        if host is None or (self._shared and self._clean(host)):
            return
        await self._breakers.release(PREFIX + host)

    # -- what operators and metrics read --------------------------------------------------------------
    async def states(self) -> dict[str, BreakerState]:
        """Every tracked endpoint's state."""
        if self._shared:
            await self._read(self._hosts)
            return {host: self._seen[host][0] if host in self._seen else BreakerState.CLOSED
                    for host in self._hosts}
        states = await self._breakers.states()
        return {host: states.get(PREFIX + host, BreakerState.CLOSED) for host in self._hosts}

    # -- the snapshot ------------------------------------------------------------------------------
    async def _read(self, hosts: list[str]) -> bool:
        if not hosts:
            return True
        try:
            peeked = await self._breakers.peek([PREFIX + host for host in hosts])  # type: ignore[attr-defined]
        except (RedisError, OSError):
            return False  # the last snapshot stays (the breakers fall back to this replica's own meanwhile)
        now = time.monotonic()
        for host in hosts:
            state, failures, left = peeked[PREFIX + host]
            self._seen[host] = (state, failures, now + left)
        return True

    async def start(self) -> None:
        if self._shared and self._task is None:
            await self._read(self._hosts)
            self._task = asyncio.create_task(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self._read(self._hosts)
            except Exception as error:  # noqa: BLE001 (the loop must not die)
                log.error("endpoint_refresh_failed", error=f"{type(error).__name__}: {error}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
