"""Where exact entries live: Redis (every replica sees them), or a bounded in-memory LRU.

The in-memory store is bounded in bytes (the stored answers' sizes plus a per-entry overhead), not only in
entries, so a run of long answers cannot grow the process without limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import redis.asyncio as aioredis

ENTRY_OVERHEAD = 200  # bytes per entry beyond its value: key, bookkeeping


class MemoryStore:
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

    async def clear(self, prefix: str = "") -> int:
        doomed = [key for key in self._entries if key.startswith(prefix)]
        for key in doomed:
            self._drop(key)
        return len(doomed)

    def __len__(self) -> int:
        return len(self._entries)


class RedisStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self.redis.get(key)
        return value

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        await self.redis.set(key, value, px=int(ttl_s * 1000))
