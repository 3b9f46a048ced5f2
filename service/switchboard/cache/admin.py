"""`switchboard cache clear [--tenant T]` and `switchboard cache stats`, on the cache in Redis."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from switchboard.cache.fingerprint import tenant_tag

PREFIX = "sb:cache:"


async def clear(client: aioredis.Redis, tenant: str | None = None) -> int:
    """Delete cached answers: every one, or one tenant's (exact and semantic). Returns how many."""
    pattern = f"{PREFIX}*:{tenant_tag(tenant)}:*" if tenant is not None else f"{PREFIX}*"
    removed = 0
    batch: list[bytes] = []
    async for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 500:
            removed += await client.unlink(*batch)
            batch.clear()
    if batch:
        removed += await client.unlink(*batch)
    return removed


async def stats(client: aioredis.Redis) -> dict[str, Any]:
    counts: dict[str, int] = {}
    sizes: dict[str, int] = {}
    async for key in client.scan_iter(match=f"{PREFIX}*", count=1000):
        kind = key.decode().split(":")[2]
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "x":
            sizes[kind] = sizes.get(kind, 0) + int(await client.strlen(key))
    names = {"x": "exact", "s": "semantic", "v": "semantic vectors", "log": "semantic log"}
    out: dict[str, Any] = {}
    for kind, count in sorted(counts.items()):
        out[f"{names.get(kind, kind)} entries"] = count
    if "x" in sizes:
        out["exact bytes"] = sizes["x"]
    return out or {"entries": 0}
