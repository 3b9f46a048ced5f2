"""Operators' holds on targets (drain, force open, force closed), shared by every replica.

The engine reads the holds from a snapshot in process memory (`of`: no round trip on the request path). With
Redis the holds live in one hash, `sb:holds` (field: the scope, `openai` or `openai:gpt-5.4`; value: the
hold as JSON), and each replica refreshes its snapshot every `REFRESH_S` seconds, so a drain made on one
replica is obeyed by all within about half a second. Without Redis the holds are this process's own.

A hold with an expiry (`until`) stops applying at that time on every replica at once (each compares it with
its clock); the first replica to remove the expired entry writes the `expire` record. If Redis cannot be
reached, a replica keeps the last holds it read and a change is refused with 503 `storage_unavailable`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchboard.core.errors import GatewayError
from switchboard.core.hold import Hold
from switchboard.core.target import TargetRef
from switchboard.logs import log
from switchboard.operations.records import write_operation

KEY = "sb:holds"
REFRESH_S = 0.5


class HoldsUnavailable(GatewayError):
    def __init__(self, error: Exception) -> None:
        super().__init__(503, "storage_unavailable", f"holds are kept in Redis, which is unreachable "
                         f"({type(error).__name__}); nothing was changed", headers={"retry-after": "5"})


class TargetHolds:
    def __init__(self, client: aioredis.Redis | None, refresh_s: float = REFRESH_S) -> None:
        self._redis = client
        self._refresh_s = refresh_s
        self._held: dict[str, Hold] = {}
        self._task: asyncio.Task[None] | None = None
        self._degraded = False

    @property
    def shared(self) -> bool:
        return self._redis is not None

    # -- the request path: memory only ---------------------------------------------------------------
    def of(self, target: TargetRef) -> Hold | None:
        """The hold on `target`, its own or its provider's. A drain wins over a force; the target's own
        hold over its provider's."""
        held = self._held
        if not held:
            return None
        now = time.time()
        found = [hold for hold in (held.get(target.key), held.get(target.provider))
                 if hold is not None and hold.active(now)]
        return next((hold for hold in found if hold.action == "drain"), found[0] if found else None)

    def active(self) -> list[Hold]:
        now = time.time()
        return sorted((hold for hold in self._held.values() if hold.active(now)), key=lambda h: h.scope)

    # -- operators' changes ------------------------------------------------------------------------------
    async def put(self, hold: Hold) -> Hold | None:
        """Set `hold` on its scope (replacing the one there, returned); writes the operation record."""
        previous = self._held.get(hold.scope)
        if self._redis is not None:
            try:
                await self._redis.hset(KEY, hold.scope, orjson.dumps(asdict(hold)))
            except (RedisError, OSError) as error:
                raise HoldsUnavailable(error) from None
        self._held = {**self._held, hold.scope: hold}
        write_operation(hold.action, target=hold.scope, by=hold.by, reason=hold.reason,
                        until=hold.public()["until"], replaced=previous.action if previous else None)
        return previous

    async def remove(self, scopes: list[str], by: str, reason: str | None) -> list[Hold]:
        """Lift the holds on `scopes` (restore); the ones lifted. Writes one operation record."""
        present = [self._held[scope] for scope in scopes if scope in self._held]
        if self._redis is not None:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.hmget(KEY, scopes)
                    pipe.hdel(KEY, *scopes)
                    stored, _ = await pipe.execute()
            except (RedisError, OSError) as error:
                raise HoldsUnavailable(error) from None
            # What another replica set but this one has not read yet is lifted too.
            present = [_parse(raw) for raw in stored if raw is not None]
        self._held = {scope: hold for scope, hold in self._held.items() if scope not in scopes}
        lifted = [hold for hold in present if hold is not None]
        write_operation("restore", target=scopes[0], scopes=scopes, by=by, reason=reason,
                        lifted=[{"scope": h.scope, "action": h.action, "by": h.by, "reason": h.reason}
                                for h in lifted])
        return lifted

    # -- the snapshot ------------------------------------------------------------------------------
    async def refresh(self) -> None:
        """Read every hold (Redis) and remove the expired ones, writing an `expire` record for each this
        replica removed."""
        now = time.time()
        if self._redis is None:
            expired = [hold for hold in self._held.values() if not hold.active(now)]
            self._held = {scope: hold for scope, hold in self._held.items() if hold.active(now)}
            for hold in expired:
                _expired(hold)
            return
        try:
            raw = await self._redis.hgetall(KEY)
        except (RedisError, OSError) as error:
            if not self._degraded:
                log.warning("holds_unrefreshed", reason=f"Redis unreachable: {type(error).__name__}; "
                            "the last holds read stay in force")
            self._degraded = True
            return
        self._degraded = False
        held = {}
        for scope, value in raw.items():
            hold = _parse(value)
            if hold is None:
                continue
            if hold.active(now):
                held[hold.scope] = hold
                continue
            try:
                if await self._redis.hdel(KEY, scope):  # one replica wins the removal and records it
                    _expired(hold)
            except (RedisError, OSError):
                pass
        self._held = held

    async def start(self) -> None:
        if self._task is None:
            await self.refresh()
            self._task = asyncio.create_task(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.refresh()
            except Exception as error:  # noqa: BLE001 (never let the loop die: a hold must not stick because of a bug)
                log.error("holds_refresh_failed", error=f"{type(error).__name__}: {error}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


def _parse(raw: bytes) -> Hold | None:
    try:
        return Hold(**orjson.loads(raw))
    except (orjson.JSONDecodeError, TypeError):
        return None


def _expired(hold: Hold) -> None:
    write_operation("expire", target=hold.scope, by=hold.by, reason=hold.reason, expired=hold.action,
                    until=hold.public()["until"])
