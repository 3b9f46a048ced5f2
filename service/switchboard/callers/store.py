"""Where key records live: Redis (shared by every replica), or a keys file for a single node without Redis.

Redis: `sb:key:{id}` is a hash of the record's fields, `sb:keys` the set of ids, and
`sb:usage:{id}:{YYYYMMDD}` today's requests, tokens and cost (written when a request settles its limits).
The keys file holds one JSON record per line (hashes only); the service re-reads it when it changes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchboard.callers.keys import KeyRecord
from switchboard.core.errors import SwitchboardError
from switchboard.settings import Settings

PREFIX = "sb:key:"
INDEX = "sb:keys"


class StoreUnavailable(SwitchboardError):
    """The store could not be read (Redis unreachable)."""


def day(now: float | None = None) -> str:
    return time.strftime("%Y%m%d", time.gmtime(time.time() if now is None else now))


def usage_key(key_id: str, when: float | None = None) -> str:
    return f"sb:usage:{key_id}:{day(when)}"


class KeyStore(Protocol):
    async def get(self, key_id: str) -> KeyRecord | None: ...

    async def put(self, record: KeyRecord) -> None: ...

    async def all(self) -> list[KeyRecord]: ...

    async def revoke(self, key_id: str) -> KeyRecord | None: ...

    async def usage(self, key_id: str) -> dict[str, float]: ...


def _encode(record: KeyRecord) -> dict[str, bytes]:
    return {name: orjson.dumps(value) for name, value in record.to_dict().items()}


def _decode(raw: dict[bytes, bytes]) -> KeyRecord:
    return KeyRecord.from_dict({name.decode(): orjson.loads(value) for name, value in raw.items()})


class RedisKeyStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def get(self, key_id: str) -> KeyRecord | None:
        try:
            raw = await self.redis.hgetall(PREFIX + key_id)
        except (RedisError, OSError) as error:
            raise StoreUnavailable(type(error).__name__) from None
        return _decode(raw) if raw else None

    async def put(self, record: KeyRecord) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(PREFIX + record.id, mapping=_encode(record))  # type: ignore[arg-type]
            pipe.sadd(INDEX, record.id)
            await pipe.execute()

    async def all(self) -> list[KeyRecord]:
        ids = sorted(member.decode() for member in await self.redis.smembers(INDEX))
        records = [await self.get(key_id) for key_id in ids]
        return [record for record in records if record is not None]

    async def revoke(self, key_id: str) -> KeyRecord | None:
        record = await self.get(key_id)
        if record is None:
            return None
        if record.revoked_at is None:
            record.revoked_at = time.time()
            await self.redis.hset(PREFIX + key_id, "revoked_at", orjson.dumps(record.revoked_at))
        return record

    async def usage(self, key_id: str) -> dict[str, float]:
        raw = await self.redis.hgetall(usage_key(key_id))
        return {name.decode(): float(value) for name, value in raw.items()}


class FileKeyStore:
    """Records in a file, one JSON object per line; the last line for an id wins (a revocation appends)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._records: dict[str, KeyRecord] = {}
        self._stamp: tuple[float, int] | None = None
        self._usage: dict[str, dict[str, float]] = {}  # this process's usage today (no Redis: no sharing)

    def _load(self) -> dict[str, KeyRecord]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._records, self._stamp = {}, None
            return self._records
        stamp = (stat.st_mtime, stat.st_size)
        if stamp != self._stamp:
            records: dict[str, KeyRecord] = {}
            for line in self.path.read_text().splitlines():
                if line.strip():
                    record = KeyRecord.from_dict(orjson.loads(line))
                    records[record.id] = record
            self._records, self._stamp = records, stamp
        return self._records

    async def get(self, key_id: str) -> KeyRecord | None:
        return self._load().get(key_id)

    async def put(self, record: KeyRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # hashes, but still private
        with os.fdopen(fd, "ab") as out:
            out.write(orjson.dumps(record.to_dict()) + b"\n")

    async def all(self) -> list[KeyRecord]:
        return sorted(self._load().values(), key=lambda r: r.id)

    async def revoke(self, key_id: str) -> KeyRecord | None:
        record = self._load().get(key_id)
        if record is None:
            return None
        if record.revoked_at is None:
            record.revoked_at = time.time()
            await self.put(record)
        return record

    async def usage(self, key_id: str) -> dict[str, float]:
        return dict(self._usage.get(f"{key_id}:{day()}", {}))

    def add_usage(self, key_id: str, tokens: int, cost_usd: float) -> None:
        usage = self._usage.setdefault(f"{key_id}:{day()}", {"requests": 0, "tokens": 0, "cost_usd": 0.0})
        usage["requests"] += 1
        usage["tokens"] += tokens
        usage["cost_usd"] += cost_usd


class NoKeys:
    """Authentication off, or on with only the admin key: no API keys to look up."""

    async def get(self, key_id: str) -> KeyRecord | None:
        return None

    async def put(self, record: KeyRecord) -> None:
        raise StoreUnavailable("no key store: set REDIS_URL, or SWITCHBOARD_KEYS_FILE for a single node")

    async def all(self) -> list[KeyRecord]:
        return []

    async def revoke(self, key_id: str) -> KeyRecord | None:
        return None

    async def usage(self, key_id: str) -> dict[str, float]:
        return {}


def build_key_store(client: aioredis.Redis | None, settings: Settings) -> Any:
    if client is not None:
        return RedisKeyStore(client)
    if settings.keys_file:
        return FileKeyStore(settings.keys_file)
    return NoKeys()

