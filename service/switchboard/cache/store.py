"""Where cached answers live, behind one `Store` protocol: Redis (every replica sees them), or a bounded
in-memory LRU. Every key is `<kind>:<tenant tag>:<digest>` (`entry_key`), so clearing one tenant and counting
entries by kind work the same on both; Redis keys carry the `sb:cache:` prefix.

The in-memory store is bounded in bytes (the stored answers' sizes plus a per-entry overhead), not only in
entries, so a run of long answers cannot grow the process without limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

import redis.asyncio as aioredis

from switchboard.cache.fingerprint import tenant_tag

PREFIX = "sb:cache:"
ENTRY_OVERHEAD = 200  # bytes per entry beyond its value: key, bookkeeping
KINDS = {"x": "exact", "s": "semantic"}


def entry_key(kind: str, tenant: str, digest: str) -> str:
    """`kind` is `x` (exact) or `s` (semantic)."""
    return f"{kind}:{tenant_tag(tenant)}:{digest}"


@dataclass(slots=True)
class StoreStats:
    store: str  # memory | redis
    entries: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS.values(), 0))
    bytes: int = 0  # the stored answers' bytes (exact and semantic)


class Store(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def clear(self, tenant: str | None = None) -> int:
        """Delete entries, every one or one tenant's; how many."""
        ...

    async def stats(self) -> StoreStats: ...


def _tenant_part(tenant: str | None) -> str | None:
    return None if tenant is None else f":{tenant_tag(tenant)}:"


class MemoryStore:
    name = "memory"

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[0]

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        size = len(value) + len(key) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (value, time.monotonic() + ttl_s)
        self.bytes += size
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        value, _ = self._entries.pop(key)
        self.bytes -= len(value) + len(key) + ENTRY_OVERHEAD

    async def clear(self, tenant: str | None = None) -> int:
        part = _tenant_part(tenant)
        doomed = [key for key in self._entries if part is None or part in key]
        for key in doomed:
            self._drop(key)
        return len(doomed)

    async def stats(self) -> StoreStats:
        stats = StoreStats(self.name)
        for key, (value, _) in self._entries.items():
            kind = KINDS.get(key.split(":", 1)[0])
            if kind is not None:
                stats.entries[kind] += 1
                stats.bytes += len(value)
        return stats

    def __len__(self) -> int:
        return len(self._entries)


class RedisStore:
    name = "redis"

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self.redis.get(PREFIX + key)
        return value

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        await self.redis.set(PREFIX + key, value, px=int(ttl_s * 1000))

    async def clear(self, tenant: str | None = None) -> int:
        part = _tenant_part(tenant)
        pattern = f"{PREFIX}*" if part is None else f"{PREFIX}*{part}*"
        removed = 0
        batch: list[bytes] = []
        async for key in self.redis.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 500:
                removed += await self.redis.unlink(*batch)
                batch.clear()
        if batch:
            removed += await self.redis.unlink(*batch)
        return removed

    async def stats(self) -> StoreStats:
        stats = StoreStats(self.name)
        async for key in self.redis.scan_iter(match=f"{PREFIX}*", count=1000):
            kind = KINDS.get(key.decode()[len(PREFIX):].split(":", 1)[0])
            if kind is not None:
                stats.entries[kind] += 1
                stats.bytes += int(await self.redis.strlen(key))
        return stats
